import type { TeamsEmulator } from './emulator';

/**
 * Point the bot (in this process) at the connector emulator — configuration only, the same settings
 * a deployment uses for real Teams plus the three that name the local token issuer:
 *
 * - `BOT_APP_ID`, `BOT_APP_SECRET`, `BOT_TENANT_ID`   the bot's identity (the emulator's made-up app)
 * - `BOT_SERVICE_URL`                                 the emulator's connector (`<url>/teams/`)
 * - `BOT_OPENID_METADATA_URL`, `BOT_TOKEN_ISSUER`     where inbound tokens are checked against
 * - `BOT_TOKEN_ENDPOINT`                              where the bot gets its outbound tokens
 * - `BOT_INSTRUCTORS`                                 the directory's instructors may start runs
 */
export function exposeTeamsEmulator(teams: TeamsEmulator, env: NodeJS.ProcessEnv = process.env): void {
  env.BOT_APP_ID = teams.appId;
  env.BOT_APP_SECRET = teams.appSecret;
  env.BOT_TENANT_ID = teams.tenantId;
  env.BOT_SERVICE_URL = teams.serviceUrl;
  env.BOT_OPENID_METADATA_URL = teams.openIdMetadataUrl;
  env.BOT_TOKEN_ISSUER = teams.tokenIssuer;
  env.BOT_TOKEN_ENDPOINT = teams.tokenEndpoint;
  env.BOT_INSTRUCTORS ??= teams
    .users()
    .filter((u) => u.kind === 'instructor')
    .map((u) => u.upn)
    .join(',');
}
