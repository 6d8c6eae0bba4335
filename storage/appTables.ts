import type { SqliteDatabase } from './sqlite';
import { SqliteTable, type TablePort } from './tables';

/**
 * Which adapter serves the app's tables in this process. The local stack opens the embedded store and
 * hands it here; nothing does in Azure, where the app's tables are Azure Tables (config.ts `tableClient`).
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
