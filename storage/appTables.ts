import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential } from '@azure/identity';
import { appSettings, type AppSettings } from '../config';
import type { SqliteDatabase } from './sqlite';
import { SqliteTable, type TablePort } from './tables';

/**
 * Which adapter serves the app's tables in this process. The local stack opens the embedded store and
 * hands it here; nothing does in Azure, where the app's tables are Azure Tables ({@link tableClient}).
 */
let embedded: SqliteDatabase | undefined;

export function useEmbeddedTables(db: SqliteDatabase | undefined): void {
  embedded = db;
  // The app settings see it (config.ts: storage is configured when the tables are embedded).
  if (db) process.env.WORKSHOP_EMBEDDED_STORE = db.file;
  else delete process.env.WORKSHOP_EMBEDDED_STORE;
}

/** A table of the embedded store, or undefined when this process uses Azure Tables. */
export function embeddedTable(name: string): TablePort | undefined {
  if (!embedded) return undefined;
  return new SqliteTable(() => {
    if (!embedded) throw new Error('The embedded store was closed; this process now has no store for the app tables.');
    return embedded;
  }, name);
}

/**
 * One of the app's tables: the embedded store's when the local stack opened one in this process, else Azure
 * Tables — through a connection string (Azurite in the suite) or, in Azure, managed identity.
 */
export function tableClient(table: string, settings?: AppSettings): TablePort {
  const local = embeddedTable(table);
  if (local) return local;
  return azureTableClient(table, settings ?? appSettings());
}

const ensuredTables = new Map<string, Promise<TablePort>>();
/**
 * One of the app's tables, created if it does not exist yet — once per store and table in a process (the key
 * is the store's URL and the table's name, so a test that starts another store gets its tables created there too).
 */
export function appTable(name: string): Promise<TablePort> {
  const client = tableClient(name);
  // TableClient's url names the account, not the table: the key needs both.
  const key = `${client.url}|${client.tableName}`;
  let ready = ensuredTables.get(key);
  if (!ready) {
    ready = client.createTable().then(() => client);
    ensuredTables.set(key, ready);
    ready.catch(() => ensuredTables.delete(key));
  }
  return ready;
}

function azureTableClient(table: string, settings: AppSettings): TableClient {
  if (settings.AzureWebJobsStorage && settings.AzureWebJobsStorage !== 'UseDevelopmentStorage=true') {
    return TableClient.fromConnectionString(settings.AzureWebJobsStorage, table, { allowInsecureConnection: true });
  }
  const uri = settings.AzureWebJobsStorage__tableServiceUri ?? `https://${settings.AzureWebJobsStorage__accountName}.table.core.windows.net`;
  // The identity the Functions host uses for AzureWebJobsStorage, so the app's tables need no other role assignment.
  return new TableClient(uri, table, new DefaultAzureCredential({ managedIdentityClientId: settings.AzureWebJobsStorage__clientId ?? settings.AZURE_CLIENT_ID }));
}
