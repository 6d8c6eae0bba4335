import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential } from '@azure/identity';
import { z } from 'zod';

/**
 * Every app setting the code reads, in one schema. Locally `npm start` fills them; in Azure the
 * Bicep sets them (identity-based storage: AzureWebJobsStorage__accountName, no keys).
 */
export const AppSettingsSchema = z
  .object({
    AzureWebJobsStorage: z.string().min(1).optional(),
    AzureWebJobsStorage__accountName: z.string().min(3).optional(),
    AzureWebJobsStorage__tableServiceUri: z.string().url().optional(),

    // ── learner environments (Azure Resource Manager) ──
    /** Resource Manager endpoint; unset = public Azure. The local ARM emulator's URL in dev/test. */
    ARM_ENDPOINT: z.string().url().startsWith('https://', { message: 'ARM_ENDPOINT must be an https:// URL' }).optional(),
    /** A fixed bearer token (the local ARM emulator's); unset = DefaultAzureCredential (managed identity in Azure). */
    ARM_TOKEN: z.string().min(1).optional(),
    /** Extra CA to trust for ARM_ENDPOINT: PEM text or the path of a PEM file (the emulator's self-signed CA). */
    ARM_CA_CERT: z.string().min(1).optional(),
    /** How often long-running ARM operations are polled when ARM sends no Retry-After (SDK default 2000 ms). */
    ARM_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).optional(),
    /** The subscription learner environments are deployed into (separate from the app's own). */
    LEARNER_SUBSCRIPTION_ID: z
      .string()
      .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, { message: 'LEARNER_SUBSCRIPTION_ID must be a subscription GUID' })
      .optional(),
    /** Region of learner resource groups when neither the run nor the pack's `location` parameter says. */
    LEARNER_LOCATION: z.string().regex(/^[a-z0-9]+$/, { message: 'LEARNER_LOCATION must be an Azure region name such as "westeurope"' }).default('westeurope'),
    /** Budget of every run that has none of its own (USD); unset = the packs' development-cost maximum per environment. */
    RUN_BUDGET_USD: z.coerce.number().positive({ message: 'RUN_BUDGET_USD must be a positive amount in US dollars' }).optional(),
    /** Share of the budget at which the instructor is warned. */
    RUN_BUDGET_WARN_FRACTION: z.coerce.number().gt(0).lte(1, { message: 'RUN_BUDGET_WARN_FRACTION must be in (0, 1]' }).default(0.8),
    /** Folder holding the scenario packs; unset = scenarios/packs of this app. */
    SCENARIO_PACKS_DIR: z.string().min(1).optional(),
    /** Set by the local stack (local/arm/localEnv.ts) for its emulator: same meaning as LEARNER_SUBSCRIPTION_ID / ARM_TOKEN / ARM_CA_CERT, which win. */
    // ── workshop API (http/apiAuth.ts) ──
    /** The instructors' key for the workshop API (`x-api-key`); npm start sets a local default. */
    INSTRUCTOR_API_KEY: z.string().min(16, { message: 'INSTRUCTOR_API_KEY must be at least 16 characters' }).optional(),
    /** Secret that signs learner tokens (HMAC-SHA256 of run + learner id); never sent to anyone itself. */
    LEARNER_API_KEY: z.string().min(16, { message: 'LEARNER_API_KEY must be at least 16 characters' }).optional(),
    // ── Microsoft Teams bot (bot/settings.ts) ──
    /** The bot's Microsoft Entra app (client) id: the Azure Bot resource's "Microsoft App ID". Unset = the bot is off (/api/messages answers 503). */
    BOT_APP_ID: z.string().min(1).optional(),
    /** The app's client secret; unset = managed identity (BOT_MANAGED_IDENTITY_CLIENT_ID). */
    BOT_APP_SECRET: z.string().min(1).optional(),
    /** The tenant the bot's app registration lives in (single-tenant bots). */
    BOT_TENANT_ID: z.string().min(1).optional(),
    /** User-assigned managed identity client id ("system" for system-assigned, via federated credentials); used when BOT_APP_SECRET is unset. */
    BOT_MANAGED_IDENTITY_CLIENT_ID: z.string().min(1).optional(),
    /** Connector base URL for proactive sends to users with no stored conversation URL; default https://smba.trafficmanager.net/teams/. */
    BOT_SERVICE_URL: z.string().url().optional(),
    /** Who may start runs from Teams: AAD object ids or UPNs, comma-separated. A run's own instructors steer it. */
    BOT_INSTRUCTORS: z.string().optional(),
    /** Sovereign cloud name (Public, USGov, USGovDoD, China); default Public. */
    BOT_CLOUD: z.enum(['Public', 'USGov', 'USGovDoD', 'China']).optional(),
    /** Local connector emulator only: where inbound tokens' keys are published, who issues them, and the bot's token endpoint. */
    BOT_OPENID_METADATA_URL: z.string().url().optional(),
    BOT_TOKEN_ISSUER: z.string().min(1).optional(),
    BOT_TOKEN_ENDPOINT: z.string().url().optional(),
    /** Outbox sender: messages per second for the whole app (Teams allows 50 per app per tenant). */
    BOT_APP_SENDS_PER_SECOND: z.coerce.number().positive().max(50).default(30),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  })
  .refine((s) => s.AzureWebJobsStorage || s.AzureWebJobsStorage__accountName || s.AzureWebJobsStorage__tableServiceUri, {
    message: 'Set AzureWebJobsStorage (a connection string) or AzureWebJobsStorage__accountName (managed identity).',
  });
export type AppSettings = z.infer<typeof AppSettingsSchema>;

export function appSettings(env: NodeJS.ProcessEnv = process.env): AppSettings {
  const parsed = AppSettingsSchema.safeParse(env);
  if (!parsed.success) throw new Error(`App settings: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

/** A client for one of the app's tables, through a connection string locally or managed identity in Azure. */
export function tableClient(table: string, settings: AppSettings = appSettings()): TableClient {
  if (settings.AzureWebJobsStorage && settings.AzureWebJobsStorage !== 'UseDevelopmentStorage=true') {
    return TableClient.fromConnectionString(settings.AzureWebJobsStorage, table, { allowInsecureConnection: true });
  }
  const uri = settings.AzureWebJobsStorage__tableServiceUri ?? `https://${settings.AzureWebJobsStorage__accountName}.table.core.windows.net`;
  return new TableClient(uri, table, new DefaultAzureCredential());
}
