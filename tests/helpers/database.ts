import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteDatabase, storeFile, type SyncMode } from '../../storage/sqlite';

/** An embedded store in a fresh temporary data directory, for tests that need one without a host. */
export function openTestDatabase(opts: { synchronous?: SyncMode } = {}): { database: SqliteDatabase; dataDir: string; dispose(): Promise<void> } {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'wo-db-'));
  const database = SqliteDatabase.open({ file: storeFile(dataDir), synchronous: opts.synchronous ?? 'FULL', exclusive: true });
  return {
    database,
    dataDir,
    dispose: async () => {
      await database.drain().catch(() => undefined);
      database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
