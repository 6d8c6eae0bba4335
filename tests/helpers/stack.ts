import pino from 'pino';
import { startAzurite, type AzuriteHandle } from '../../local/azurite';
import type { FunctionDef } from '../../local/durable/functions';
import type { RuntimeStatus } from '../../local/durable/history';
import { startLocalHost, type LocalHost } from '../../local/host';
import type { SqliteDatabase, SyncMode } from '../../storage/sqlite';
import { openTestDatabase } from './database';

/**
 * A local stack for one test file: its own embedded store (a fresh data directory) and a host on a free port.
 * With `appTables: 'azure'` the app's tables are Azure Tables on an in-memory Azurite instead (the production
 * adapter), while the task hub stays in the embedded store.
 */
export interface TestStack {
  database: SqliteDatabase;
  dataDir: string;
  azurite?: AzuriteHandle;
  host: LocalHost;
  api: string;
  /** Start another host on the same storage (restart / recovery tests). */
  restart(functions?: FunctionDef[]): Promise<LocalHost>;
  stop(): Promise<void>;
}

let hubCounter = 0;

export async function startStack(
  functions: FunctionDef[],
  opts: { hubName?: string; maxActivities?: number; maxOrchestrators?: number; appTables?: 'embedded' | 'azure'; synchronous?: SyncMode } = {},
): Promise<TestStack> {
  const store = openTestDatabase({ synchronous: opts.synchronous });
  const { database, dataDir } = store;
  let azurite: AzuriteHandle | undefined;
  if (opts.appTables === 'azure') {
    azurite = await startAzurite();
    process.env.AzureWebJobsStorage = azurite.connectionString;
  }
  const hubName = opts.hubName ?? `Test${process.pid}x${++hubCounter}`;
  const hostJson = {
    version: '2.0',
    extensions: { durableTask: { hubName, maxConcurrentActivityFunctions: opts.maxActivities ?? 8, maxConcurrentOrchestratorFunctions: opts.maxOrchestrators ?? 8 } },
  };
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const start = (fns: FunctionDef[]) => startLocalHost({ database, appTables: opts.appTables, functions: fns, port: 0, hostJson, logger });
  let host = await start(functions);
  const stack: TestStack = {
    database,
    dataDir,
    azurite,
    host,
    api: `${host.url}/runtime/webhooks/durabletask`,
    restart: async (fns = functions) => {
      await host.close();
      host = await start(fns);
      stack.host = host;
      stack.api = `${host.url}/runtime/webhooks/durabletask`;
      return host;
    },
    stop: async () => {
      await host.close();
      await azurite?.stop();
      await store.dispose();
    },
  };
  return stack;
}

export interface StatusBody {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Array<Record<string, unknown> & { EventType: string }>;
}

export async function startInstance(api: string, name: string, input?: unknown, instanceId?: string): Promise<string> {
  const res = await fetch(`${api}/orchestrators/${name}${instanceId ? `/${encodeURIComponent(instanceId)}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: input === undefined ? '' : JSON.stringify(input),
  });
  if (res.status !== 202) throw new Error(`start ${name}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function raise(api: string, id: string, event: string, data?: unknown, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${api}/instances/${encodeURIComponent(id)}/raiseEvent/${event}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: data === undefined ? '' : JSON.stringify(data),
  });
  await res.arrayBuffer();
  return res.status;
}

export async function status(api: string, id: string, history = false): Promise<StatusBody | undefined> {
  const res = await fetch(`${api}/instances/${encodeURIComponent(id)}${history ? '?showHistory=true&showHistoryOutput=true' : ''}`);
  if (res.status === 404) return undefined;
  return (await res.json()) as StatusBody;
}

/** Poll until the instance reaches one of `statuses` (or the predicate holds). */
export async function waitFor(api: string, id: string, statuses: RuntimeStatus[] | ((s: StatusBody) => boolean), timeoutMs = 30_000): Promise<StatusBody> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusBody | undefined;
  while (Date.now() < deadline) {
    last = await status(api, id, true);
    if (last && (typeof statuses === 'function' ? statuses(last) : statuses.includes(last.runtimeStatus))) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`instance ${id} did not reach ${typeof statuses === 'function' ? 'the expected state' : statuses.join('/')} in ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

/** The history's event types in order, without the OrchestratorStarted/Completed framing. */
export function eventTypes(s: StatusBody): string[] {
  return (s.historyEvents ?? []).map((e) => e.EventType).filter((t) => t !== 'OrchestratorStarted' && t !== 'OrchestratorCompleted');
}
