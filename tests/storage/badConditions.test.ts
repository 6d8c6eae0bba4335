import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiCallError } from '../../cli/apiClient';
import { freePort } from '../../local/ports';
import { SqliteDatabase, StoreOpenError, storeFile, writePidFile } from '../../storage/sqlite';
import { HostProcess, REPO } from '../crash/harness';
import { startWorkshopStack } from '../workshop/workshopStack';

/**
 * The embedded store under bad conditions: each gets a message that names the file and says what to do, and
 * nothing half-written — a second stack on the same data directory, a damaged or foreign file, a file from a
 * newer version, a full disk.
 */
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'wo-bad-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const openError = (file: string): string => {
  try {
    SqliteDatabase.open({ file, exclusive: true }).close();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreOpenError);
    return (err as Error).message;
  }
  throw new Error(`${file} opened`);
};

describe('opening the store', () => {
  it('a second stack on the same data directory is refused, naming the file and the process that holds it', () => {
    const dir = tempDir();
    const first = SqliteDatabase.open({ file: storeFile(dir), exclusive: true });
    writePidFile(dir);
    try {
      const message = openError(storeFile(dir));
      expect(message).toContain(storeFile(dir));
      expect(message).toMatch(new RegExp(`in use by another process \\(pid ${process.pid}`));
      expect(message).toMatch(/One stack per data directory/);
    } finally {
      first.close();
    }
    // Once the holder is gone (a killed process releases its lock too), the directory opens again.
    SqliteDatabase.open({ file: storeFile(dir), exclusive: true }).close();
  });

  it('a file that is not a database, an SQLite file of something else and one from a newer version are refused with what to do', () => {
    const garbage = path.join(tempDir(), 'workshop.db');
    writeFileSync(garbage, 'this is a text file, not a database\n'.repeat(200));
    expect(openError(garbage)).toMatch(/is not an SQLite database \(it starts with "this is a text f/);

    const foreign = path.join(tempDir(), 'workshop.db');
    const { DatabaseSync } = require('node:sqlite') as typeof import('node:sqlite');
    const other = new DatabaseSync(foreign);
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)');
    other.close();
    expect(openError(foreign)).toMatch(/is an SQLite database of something else .*not a workshop-orchestrator store.*WORKSHOP_DATA_DIR/);

    const newer = path.join(tempDir(), 'workshop.db');
    SqliteDatabase.open({ file: newer }).close();
    const bump = new DatabaseSync(newer);
    bump.exec('PRAGMA user_version = 999');
    bump.close();
    expect(openError(newer)).toMatch(/written by a newer version of workshop-orchestrator \(schema 999/);
  });

  it('npm start refuses a second stack on a data directory, and a damaged store, with exit code 2 and a message, not a crash loop', { timeout: 240_000 }, async () => {
    const dir = tempDir();
    const env = { ...process.env, PORT: String(await freePort()), WORKSHOP_DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'warn' };
    for (const k of ['ARM_ENDPOINT', 'BOT_APP_ID', 'AzureWebJobsStorage']) delete env[k];
    const first = new HostProcess(env, path.join(dir, 'first.log'), path.join(REPO, 'local', 'start.ts'), { ready: 'local stack is up', group: true });
    const run = (e: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'local', 'start.ts')], { cwd: REPO, env: e, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    await first.start();
    try {
      const second = await run({ ...env, PORT: String(await freePort()) });
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(path.join(dir, 'data', 'workshop.db'));
      expect(second.stderr).toMatch(new RegExp(`in use by another process \\(pid ${first.child!.pid}`));
    } finally {
      await first.kill9();
    }
    const damaged = path.join(tempDir(), 'data');
    rmSync(damaged, { recursive: true, force: true });
    require('node:fs').mkdirSync(damaged, { recursive: true });
    writeFileSync(path.join(damaged, 'workshop.db'), Buffer.alloc(8192, 0x5a));
    const refused = await run({ ...env, WORKSHOP_DATA_DIR: damaged });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is not an SQLite database/);
    expect(refused.stderr).toMatch(/To start from an empty store, move it aside: mv/);
  });
});

describe('a full disk', () => {
  it('a write the store cannot take is a 503 saying so, nothing of it is left behind, and the same request works once there is room', { timeout: 120_000 }, async () => {
    const w = await startWorkshopStack({ packsDir: path.join(REPO, 'tests', 'workshop', 'packs') });
    try {
      const db = w.stack.database;
      // The file may not grow past the pages it has now: SQLite answers SQLITE_FULL, as on a full disk.
      const pages = db.get<{ page_count: number }>('PRAGMA page_count')!.page_count;
      db.db.exec(`PRAGMA max_page_count = ${pages}`);
      const body = { runId: 'full', scenario: 'drill', roster: 'name,email\n' + Array.from({ length: 40 }, (_, i) => `Learner ${i},l${i}@example.com`).join('\n'), instructors: ['ian'] };
      let refused: ApiCallError | undefined;
      try {
        await w.api.startRun(body);
      } catch (err) {
        refused = err as ApiCallError;
      }
      expect(refused?.status).toBe(503);
      expect(refused?.message).toMatch(/store is full: .*workshop\.db could not grow.*Nothing was written/);
      db.db.exec('PRAGMA max_page_count = 1073741823');
      await expect(w.api.runStatus('full')).rejects.toMatchObject({ status: 404 });
      expect((await w.api.listRuns()).runs.map((r) => r.runId), 'no registry row of the refused run').not.toContain('full');
      expect(db.get<{ n: number }>("SELECT count(*) AS n FROM dt_instances WHERE instance_id LIKE '%full%'")!.n).toBe(0);
      const started = await w.api.startRun(body);
      expect(started.runId).toBe('full');
    } finally {
      await w.stop();
    }
  });
});
