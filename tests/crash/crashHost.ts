import pino from 'pino';
import { startLocalHost } from '../../local/host';
import { SqliteDatabase, storeFile, syncModeSetting } from '../../storage/sqlite';
import { crashFunctions } from './crashFunctions';

/**
 * Child-process entry of the crash test: the embedded durable host with the crash functions, on a fixed
 * port, on the embedded store in CRASH_DATA_DIR (opened here, so a kill takes the store down with the host). Prints `READY <url>` on stdout once it listens and has
 * recovered; the test kills it with SIGKILL and starts it again.
 *
 * Env: CRASH_DATA_DIR, WORKSHOP_SQLITE_SYNC, CRASH_PORT, CRASH_HUB, CRASH_DIR,
 * CRASH_MAX_ACTIVITIES, CRASH_MAX_ORCHESTRATORS, CRASH_LOG_LEVEL.
 */
function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function main(): Promise<void> {
  const database = SqliteDatabase.open({ file: storeFile(env('CRASH_DATA_DIR')), synchronous: syncModeSetting(), exclusive: true });
  const logger = pino({ level: process.env.CRASH_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const hostJson = {
    version: '2.0',
    extensions: {
      durableTask: {
        hubName: env('CRASH_HUB'),
        maxConcurrentActivityFunctions: Number(process.env.CRASH_MAX_ACTIVITIES ?? 6),
        maxConcurrentOrchestratorFunctions: Number(process.env.CRASH_MAX_ORCHESTRATORS ?? 6),
      },
    },
  };
  const host = await startLocalHost({ database, functions: crashFunctions, port: Number(env('CRASH_PORT')), hostJson, logger });
  process.stdout.write(`READY ${host.url} pid=${process.pid}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`crashHost failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
