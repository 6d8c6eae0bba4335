import { z } from 'zod';

/**
 * Every app setting the code reads, in one schema. Locally `npm start` fills them; in Azure the
 * Bicep sets them (identity-based storage: AzureWebJobsStorage__accountName, no keys).
 */
const AppSettingsShape = z.object({
    // ── the app's own storage: Durable Functions task hub, the workshop's tables ──
    /** A connection string (Azurite locally). Never in Azure: there the app reaches storage with its managed identity. */
    AzureWebJobsStorage: z.string().min(1).optional(),
    AzureWebJobsStorage__accountName: z.string().min(3).optional(),
    AzureWebJobsStorage__tableServiceUri: z.string().url().optional(),
    /** Read by the Functions host (identity-based AzureWebJobsStorage); the app uses the same identity for its tables. */
    AzureWebJobsStorage__blobServiceUri: z.string().url().optional(),
    AzureWebJobsStorage__queueServiceUri: z.string().url().optional(),
    AzureWebJobsStorage__credential: z.literal('managedidentity', { message: 'AzureWebJobsStorage__credential must be "managedidentity"' }).optional(),
    /** Client id of the user-assigned identity that reaches the app's storage. */
    AzureWebJobsStorage__clientId: z.guid({ message: 'AzureWebJobsStorage__clientId must be a managed identity client id (GUID)' }).optional(),
    /** Client id of the user-assigned identity DefaultAzureCredential uses (ARM calls into the learner subscription). */
    AZURE_CLIENT_ID: z.guid({ message: 'AZURE_CLIENT_ID must be a managed identity client id (GUID)' }).optional(),

    // ── Durable Functions backend (docs/durable-backend.md): Azure Storage unless these select the Durable Task Scheduler ──
    /** host.json override read by the Functions host: "AzureStorage" (default) or "azureManaged" (Durable Task Scheduler). */
    AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: z.enum(['AzureStorage', 'azureManaged']).optional(),
    /** host.json override: the app setting holding the scheduler's connection string. */
    AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: z.string().min(1).optional(),
    /** "Endpoint=https://…;Authentication=ManagedIdentity;ClientID=…;TaskHub=…" (Durable Task Scheduler only). */
    DURABLE_TASK_SCHEDULER_CONNECTION_STRING: z.string().min(1).optional(),

    // ── telemetry, read by the Functions host ──
    APPLICATIONINSIGHTS_CONNECTION_STRING: z.string().min(1).optional(),
    /** "Authorization=AAD;ClientId=…": Application Insights with local (key) authentication disabled. */
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: z.string().min(1).optional(),

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
    /** Attempts (the first included) of a learner-environment deployment, validation or teardown before the step fails (activities/retryPolicies.ts). */
    ENVIRONMENT_RETRY_ATTEMPTS: z.coerce.number().int().min(1, { message: 'ENVIRONMENT_RETRY_ATTEMPTS must be at least 1' }).max(20).default(4),
    /** Seconds before the first retry of a learner-environment call; each next wait doubles, up to 2 minutes. */
    ENVIRONMENT_RETRY_FIRST_SECONDS: z.coerce.number().min(0.1, { message: 'ENVIRONMENT_RETRY_FIRST_SECONDS must be at least 0.1' }).max(600).default(15),
    /** Folder holding the scenario packs; unset = scenarios/packs of this app. */
    SCENARIO_PACKS_DIR: z.string().min(1).optional(),
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
    /** NCRONTAB schedule of the outbox sender (Teams messages go out within one tick). Every 2 s is right during a
     * workshop; a slower schedule lets a Flex Consumption app scale to zero between cohorts (docs/operations.md). */
    TEAMS_SENDER_SCHEDULE: z.string().min(1).default('*/2 * * * * *'),
    /** NCRONTAB schedule of the environment sweeper (teardown of expired, over-budget and orphaned learner environments). */
    SWEEPER_SCHEDULE: z.string().min(1).default('0 */5 * * * *'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    /** The local stack's data directory (default `.data`): the embedded store's file lives there. */
    WORKSHOP_DATA_DIR: z.string().min(1).optional(),
    /** The embedded store's durability (storage/sqlite.ts): FULL (default), NORMAL or OFF. */
    WORKSHOP_SQLITE_SYNC: z.enum(['FULL', 'NORMAL', 'OFF', 'full', 'normal', 'off']).optional(),
    /** Set by the local host when the app's tables are in the embedded store (the file); nobody sets it by hand. */
    WORKSHOP_EMBEDDED_STORE: z.string().min(1).optional(),
  });

export const AppSettingsSchema = z
  .preprocess(
    // App Service hands an app setting left empty in Bicep to the app as "": that means "not set".
    (env) => (env && typeof env === 'object' ? Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')) : env),
    AppSettingsShape,
  )
  .refine((s) => s.WORKSHOP_EMBEDDED_STORE || s.AzureWebJobsStorage || s.AzureWebJobsStorage__accountName || s.AzureWebJobsStorage__tableServiceUri, {
    message: 'Set AzureWebJobsStorage (a connection string) or AzureWebJobsStorage__accountName (managed identity), or run on the local stack (npm start), which keeps the tables in its embedded store.',
  });
export type AppSettings = z.infer<typeof AppSettingsShape>;
/** Every setting's name, in schema order. */
export const APP_SETTING_NAMES = Object.keys(AppSettingsShape.shape) as Array<keyof AppSettings>;

/**
 * Where each setting is set. `azure`: infra/ (Bicep) sets it on the Function App — read by the app, by the
 * Functions host, or both. `local`: only the local stack or a test sets it, and the Bicep must not (each says
 * why). TypeScript makes this exhaustive; tests/infra/appSettings.test.ts holds the Bicep to it both ways.
 */
export type SettingPlacement = { where: 'azure'; readBy: 'app' | 'host' | 'app and host' } | { where: 'local'; why: string };
export const SETTING_PLACEMENT: { [K in keyof AppSettings]-?: SettingPlacement } = {
  AzureWebJobsStorage: { where: 'local', why: 'a connection string carries the account key; in Azure the app uses its managed identity (AzureWebJobsStorage__*)' },
  AzureWebJobsStorage__accountName: { where: 'azure', readBy: 'app and host' },
  AzureWebJobsStorage__tableServiceUri: { where: 'azure', readBy: 'app and host' },
  AzureWebJobsStorage__blobServiceUri: { where: 'azure', readBy: 'host' },
  AzureWebJobsStorage__queueServiceUri: { where: 'azure', readBy: 'host' },
  AzureWebJobsStorage__credential: { where: 'azure', readBy: 'host' },
  AzureWebJobsStorage__clientId: { where: 'azure', readBy: 'app and host' },
  AZURE_CLIENT_ID: { where: 'azure', readBy: 'app' },
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: { where: 'azure', readBy: 'host' },
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: { where: 'azure', readBy: 'host' },
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: { where: 'azure', readBy: 'host' },
  APPLICATIONINSIGHTS_CONNECTION_STRING: { where: 'azure', readBy: 'host' },
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: { where: 'azure', readBy: 'host' },
  ARM_ENDPOINT: { where: 'azure', readBy: 'app' },
  ARM_TOKEN: { where: 'local', why: "the local ARM emulator's fixed bearer token; in Azure ARM calls use the managed identity" },
  ARM_CA_CERT: { where: 'local', why: "the local ARM emulator's self-signed CA; Azure Resource Manager has a public certificate" },
  ARM_POLL_INTERVAL_MS: { where: 'local', why: 'tests poll the emulator faster; in Azure the SDK follows Retry-After' },
  LEARNER_SUBSCRIPTION_ID: { where: 'azure', readBy: 'app' },
  LEARNER_LOCATION: { where: 'azure', readBy: 'app' },
  RUN_BUDGET_USD: { where: 'azure', readBy: 'app' },
  RUN_BUDGET_WARN_FRACTION: { where: 'azure', readBy: 'app' },
  ENVIRONMENT_RETRY_ATTEMPTS: { where: 'azure', readBy: 'app' },
  ENVIRONMENT_RETRY_FIRST_SECONDS: { where: 'azure', readBy: 'app' },
  SCENARIO_PACKS_DIR: { where: 'local', why: 'the deployment package carries the scenario packs; the setting points a checkout at a folder of packs being written' },
  INSTRUCTOR_API_KEY: { where: 'azure', readBy: 'app' },
  LEARNER_API_KEY: { where: 'azure', readBy: 'app' },
  BOT_APP_ID: { where: 'azure', readBy: 'app' },
  BOT_APP_SECRET: { where: 'azure', readBy: 'app' },
  BOT_TENANT_ID: { where: 'azure', readBy: 'app' },
  BOT_MANAGED_IDENTITY_CLIENT_ID: { where: 'azure', readBy: 'app' },
  BOT_SERVICE_URL: { where: 'azure', readBy: 'app' },
  BOT_INSTRUCTORS: { where: 'azure', readBy: 'app' },
  BOT_CLOUD: { where: 'azure', readBy: 'app' },
  BOT_OPENID_METADATA_URL: { where: 'local', why: 'the local connector emulator publishes its signing keys here; real Teams tokens are checked against the BOT_CLOUD metadata' },
  BOT_TOKEN_ISSUER: { where: 'local', why: 'the local connector emulator issues tokens under this name; real Teams tokens follow BOT_CLOUD' },
  BOT_TOKEN_ENDPOINT: { where: 'local', why: "the local connector emulator's token endpoint; in Azure the bot gets tokens from Microsoft Entra ID" },
  BOT_APP_SENDS_PER_SECOND: { where: 'azure', readBy: 'app' },
  TEAMS_SENDER_SCHEDULE: { where: 'azure', readBy: 'host' },
  SWEEPER_SCHEDULE: { where: 'azure', readBy: 'host' },
  LOG_LEVEL: { where: 'azure', readBy: 'app' },
  WORKSHOP_DATA_DIR: { where: 'local', why: 'the embedded store exists only on the local stack; in Azure the app uses Azure Tables' },
  WORKSHOP_SQLITE_SYNC: { where: 'local', why: 'a setting of the embedded store, which Azure does not run' },
  WORKSHOP_EMBEDDED_STORE: { where: 'local', why: 'set by the local host itself when it serves the app tables from its embedded store' },
};

/** One setting as the app sees it: the environment's value, else the schema's default (undefined when it has none). */
export function appSetting(name: string, env: NodeJS.ProcessEnv = process.env): unknown {
  const field = (AppSettingsShape.shape as Record<string, z.ZodType>)[name];
  if (!field) throw new Error(`App settings: "${name}" is not a setting of this app (config.ts).`);
  const parsed = field.safeParse(env[name] === '' ? undefined : env[name]);
  if (!parsed.success) throw new Error(`App settings: ${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

export function appSettings(env: NodeJS.ProcessEnv = process.env): AppSettings {
  const parsed = AppSettingsSchema.safeParse(env);
  if (!parsed.success) throw new Error(`App settings: ${parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}`);
  return parsed.data as AppSettings;
}
