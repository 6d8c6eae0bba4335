import { randomUUID } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { armClients, type ArmClients } from '../../azure/armClients';
import { appSettings } from '../../config';
import { startArmEmulator, type ArmEmulator, type ArmFaults, type EmulatedSubscription } from '../../local/arm/emulator';
import type { SqliteDatabase } from '../../storage/sqlite';
import { useEmbeddedTables } from '../../storage/appTables';
import { openTestDatabase } from '../helpers/database';

/**
 * The ARM tests' world: an embedded store, the ARM emulator on it, and the app settings pointing the
 * activities at the emulator — the same settings a deployment uses, with the emulator's values.
 */
export interface ArmTestEnv {
  arm: ArmEmulator;
  /** The app's own ARM clients (what the activities use). */
  clients: ArmClients;
  database: SqliteDatabase;
  stop(): Promise<void>;
}

/** `database`: a stack's store to share (the stack owns it); without it the environment opens its own. */
export async function startArmTestEnv(opts: { database?: SqliteDatabase; faults?: ArmFaults; subscriptions?: EmulatedSubscription[] } = {}): Promise<ArmTestEnv> {
  const own = opts.database ? undefined : openTestDatabase();
  const database = opts.database ?? own!.database;
  // The activities' own tables (run registry, outbox) live in the same store, as in the local stack.
  if (own) useEmbeddedTables(database);
  const arm = await startArmEmulator({ database, faults: opts.faults ?? {}, ...(opts.subscriptions ? { subscriptions: opts.subscriptions } : {}) });
  process.env.ARM_ENDPOINT = arm.url;
  process.env.ARM_TOKEN = arm.token;
  process.env.ARM_CA_CERT = arm.caCertPem;
  process.env.LEARNER_SUBSCRIPTION_ID = arm.subscriptionId;
  process.env.ARM_POLL_INTERVAL_MS = '100';
  process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
  return {
    arm,
    clients: armClients(appSettings()),
    database,
    stop: async () => {
      await arm.stop();
      if (own) {
        useEmbeddedTables(undefined);
        await own.dispose();
      }
    },
  };
}

export const learnerObjectId = (): string => randomUUID();

/** Values of the packs' `instructor` parameters that have no default. */
export const INSTRUCTOR_PARAMETERS: Record<string, Record<string, unknown>> = {
  hybrid: { onPremGatewayIp: '203.0.113.10' },
};

/** A pino logger whose lines land in `lines` (to assert what was logged). */
export function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function listAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
