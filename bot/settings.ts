import { appSettings, type AppSettings } from '../config';

/**
 * The bot's configuration, read from the app settings (config.ts). Against real Teams only the
 * app id, tenant and a secret (or a managed identity) are needed; the local stack adds the
 * connector emulator's token issuer, metadata URL and token endpoint (local/teams/localEnv.ts).
 */
export interface BotSettings {
  appId: string;
  appSecret?: string;
  tenantId?: string;
  managedIdentityClientId?: string;
  serviceUrl: string;
  cloud: NonNullable<AppSettings['BOT_CLOUD']>;
  openIdMetadataUrl?: string;
  tokenIssuer?: string;
  tokenEndpoint?: string;
  /** Who may start runs: lower-cased AAD object ids and UPNs. */
  instructors: string[];
  appSendsPerSecond: number;
}

export const DEFAULT_SERVICE_URL = 'https://smba.trafficmanager.net/teams/';

/** The settings, or undefined when BOT_APP_ID is not set (the bot is off). */
export function botSettings(env: NodeJS.ProcessEnv = process.env): BotSettings | undefined {
  const s = appSettings(env);
  if (!s.BOT_APP_ID) return undefined;
  const local = [s.BOT_OPENID_METADATA_URL, s.BOT_TOKEN_ISSUER, s.BOT_TOKEN_ENDPOINT].filter(Boolean).length;
  if (local !== 0 && local !== 3) {
    throw new Error('App settings: BOT_OPENID_METADATA_URL, BOT_TOKEN_ISSUER and BOT_TOKEN_ENDPOINT go together (a local connector emulator); set all three or none.');
  }
  if (s.BOT_TOKEN_ENDPOINT && !s.BOT_APP_SECRET) throw new Error('App settings: BOT_TOKEN_ENDPOINT needs BOT_APP_SECRET (the emulator issues tokens for a client secret).');
  return {
    appId: s.BOT_APP_ID,
    appSecret: s.BOT_APP_SECRET,
    tenantId: s.BOT_TENANT_ID,
    managedIdentityClientId: s.BOT_MANAGED_IDENTITY_CLIENT_ID,
    serviceUrl: s.BOT_SERVICE_URL ?? DEFAULT_SERVICE_URL,
    cloud: s.BOT_CLOUD ?? 'Public',
    openIdMetadataUrl: s.BOT_OPENID_METADATA_URL,
    tokenIssuer: s.BOT_TOKEN_ISSUER,
    tokenEndpoint: s.BOT_TOKEN_ENDPOINT,
    instructors: (s.BOT_INSTRUCTORS ?? '')
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean),
    appSendsPerSecond: s.BOT_APP_SENDS_PER_SECOND,
  };
}
