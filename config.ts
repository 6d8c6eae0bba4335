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
