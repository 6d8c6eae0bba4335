import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';
import * as df from 'durable-functions';
import pino, { type Logger } from 'pino';
import { DurableEngine } from './durable/engine';
import { CronExpressionParser } from 'cron-parser';
import type { FunctionDef, HttpDef, TimerDef } from './durable/functions';
import { HttpError, WEBHOOK_PREFIX, decodePathSegment, durableClientInput, handleManagement, readBody, sendError, sendJson } from './durable/managementApi';
import { DurableStore } from './durable/store';
import { StoreUnavailableError, type SqliteDatabase } from '../storage/sqlite';
import { outlastClientKeepAlive } from './keepAlive';
import { useEmbeddedTables } from '../storage/appTables';
import { durableSettings, readHostJson, type DurableSettings } from './hostConfig';
import { appSetting } from '../config';

export interface LocalHostOptions {
  /** The embedded store (task hub, and the app's tables unless `appTables` says otherwise). The caller owns it. */
  database: SqliteDatabase;
  /** Where the app's tables live: the embedded store (default), or Azure Tables by AzureWebJobsStorage (Azurite in the suite). */
  appTables?: 'embedded' | 'azure';
  functions: FunctionDef[];
  port?: number;
  /** host.json contents; read from the project folder when omitted. */
  hostJson?: unknown;
  logger?: Logger;
}

export interface LocalHost {
  url: string;
  port: number;
  engine: DurableEngine;
  store: DurableStore;
  settings: DurableSettings;
  close(): Promise<void>;
}

interface CompiledRoute {
  def: HttpDef;
  pattern: RegExp;
  names: string[];
}

/** Azure Functions route templates: `runs/{runId}/learners/{learnerId?}` with optional `:constraint`. */
function compileRoute(def: HttpDef): CompiledRoute {
  const names: string[] = [];
  const source = def.route
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((seg) => {
      const m = /^\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\?)?\}$/.exec(seg);
      if (!m) return '/' + seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(m[1]);
      return m[2] ? '(?:/([^/]+))?' : '/([^/]+)';
    })
    .join('');
  return { def, pattern: new RegExp(`^${source}/?$`, 'i'), names };
}

async function toNodeResponse(result: HttpResponseInit | HttpResponse | undefined, res: ServerResponse): Promise<void> {
  if (result instanceof HttpResponse) {
    const headers: Record<string, string> = {};
    result.headers.forEach((v, k) => (headers[k] = v));
    const body = Buffer.from(await result.arrayBuffer());
    res.writeHead(result.status, headers).end(body);
    return;
  }
  const init = result ?? {};
  const headers: Record<string, string> = {};
  if (init.headers) new Headers(init.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => (headers[k] = v));
  let body: string | Buffer = '';
  if (init.jsonBody !== undefined) {
    body = JSON.stringify(init.jsonBody);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  } else if (typeof init.body === 'string') body = init.body;
  else if (init.body instanceof Uint8Array) body = Buffer.from(init.body);
  res.writeHead(init.status ?? 200, headers).end(body);
}

/** What the host's request handler serves: the engine, the HTTP functions, and the URL it listens on once known. */
interface Serving {
  engine: DurableEngine;
  database: SqliteDatabase;
  settings: DurableSettings;
  functions: FunctionDef[];
  routes: CompiledRoute[];
  baseUrl: string;
  log: Logger;
}

/**
 * The embedded host: what `func start` + the Durable extension provide in Azure, on one port —
 * HTTP triggers under /api/, the Durable management API under /runtime/webhooks/durabletask/.
 */
export async function startLocalHost(opts: LocalHostOptions): Promise<LocalHost> {
  const log = opts.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const settings = durableSettings(opts.hostJson ?? readHostJson());
  const names = new Set<string>();
  for (const f of opts.functions) {
    if (names.has(f.name)) throw new Error(`Two functions are named "${f.name}"; function names must be unique.`);
    names.add(f.name);
  }
  const store = new DurableStore(opts.database, settings.hubName);
  await store.init();
  useEmbeddedTables(opts.appTables === 'azure' ? undefined : opts.database);
  const engine = new DurableEngine({
    store,
    orchestrators: new Map(opts.functions.filter((f) => f.kind === 'orchestration').map((f) => [f.name, f.handler])),
    activities: new Map(opts.functions.filter((f) => f.kind === 'activity').map((f) => [f.name, f.handler])),
    durableClientActivities: new Set(opts.functions.filter((f) => f.kind === 'activity' && f.durableClient).map((f) => f.name)),
    durableClientInput: () => durableClientInput(serving.baseUrl, settings.hubName),
    maxConcurrentActivityFunctions: settings.maxConcurrentActivityFunctions,
    maxConcurrentOrchestratorFunctions: settings.maxConcurrentOrchestratorFunctions,
    logger: log,
  });
  const routes = opts.functions.filter((f): f is HttpDef => f.kind === 'http').map(compileRoute);
  const serving: Serving = { engine, database: opts.database, settings, functions: opts.functions, routes, baseUrl: '', log };
  const server = hostServer(serving);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 7071, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  const baseUrl = (serving.baseUrl = `http://127.0.0.1:${port}`);
  // DurableClient rewrites management links to localhost:7071 unless the host name is set.
  process.env.WEBSITE_HOSTNAME = `127.0.0.1:${port}`;
  await engine.recover();
  const timers = startTimerTriggers(
    opts.functions.filter((f): f is TimerDef => f.kind === 'timer'),
    () => durableClientInput(baseUrl, settings.hubName),
    log,
  );
  log.info({ url: baseUrl, hubName: settings.hubName }, 'local durable host listening');
  return {
    url: baseUrl,
    port,
    engine,
    store,
    settings,
    close: async () => {
      timers.stop();
      engine.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      // What the stopped engine still has under way (an episode's commit, an activity) finishes or is dropped
      // before another host may load the same store in this process; a commit it queued reaches the disk first.
      await Promise.race([engine.idle(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await opts.database.drain().catch(() => undefined);
    },
  };
}

/** The HTTP server: a request that throws gets the status its error names (503 while the store is unavailable), else 500. */
function hostServer(serving: Serving): Server {
  const { log } = serving;
  const server = createServer((req, res) => {
    handleRequest(serving, req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return sendError(res, err.status, err.message);
      if (err instanceof StoreUnavailableError) {
        log.warn({ err, url: req.url }, 'store unavailable');
        if (!res.headersSent) res.setHeader('retry-after', '5');
        return sendError(res, 503, err.message);
      }
      log.error({ err, url: req.url }, 'request failed');
      if (!res.headersSent) sendError(res, 500, `Internal error: ${(err as Error).message}`);
      else res.end();
    });
  });
  // A learner's action answered 500 under load in bench:cohort: the durable client's request met a socket this
  // server was closing (see keepAlive.ts).
  return outlastClientKeepAlive(server);
}

async function handleRequest(serving: Serving, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { engine, settings, routes, baseUrl } = serving;
  const url = new URL(req.url ?? '/', baseUrl);
  if (url.pathname.startsWith(WEBHOOK_PREFIX)) {
    await handleManagement(engine, baseUrl, settings.hubName, req, res, url);
    return;
  }
  if (url.pathname === '/' || url.pathname === '/admin/host/status') {
    // The engine's counters: what `npm run bench:cohort` reads from a stack it runs as a child process.
    const { episodes, activitiesRun, maxEpisodesInFlight, historyEvents, historyByType } = engine.stats;
    const engineStats = { episodes, activitiesRun, maxEpisodesInFlight, historyEvents, historyByType, store: { ...serving.database.stats } };
    sendJson(res, 200, { state: 'Running', hubName: settings.hubName, functions: serving.functions.map((f) => ({ name: f.name, kind: f.kind })), engine: engineStats });
    return;
  }
  if (!url.pathname.startsWith('/api/')) throw new HttpError(404, `Nothing is served at ${url.pathname}. HTTP functions are under /api/, the Durable API under ${WEBHOOK_PREFIX}.`);
  const sub = url.pathname.slice(4);
  const method = (req.method ?? 'GET').toUpperCase();
  let pathMatched = false;
  for (const r of routes) {
    const m = r.pattern.exec(sub);
    if (!m) continue;
    pathMatched = true;
    if (!r.def.methods.includes(method as never)) continue;
    await invokeHttpFunction(serving, r, m, method, url, req, res);
    return;
  }
  if (pathMatched) throw new HttpError(405, `${method} is not allowed on ${url.pathname}.`);
  throw new HttpError(404, `No HTTP function serves ${url.pathname}. Functions: ${routes.map((r) => `/api/${r.def.route}`).join(', ') || 'none'}.`);
}

/** Runs an HTTP function the way the Functions host does: its request, its invocation context, a durable client when it asks. */
async function invokeHttpFunction(serving: Serving, r: CompiledRoute, m: RegExpExecArray, method: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { log, baseUrl, settings } = serving;
  const params: Record<string, string> = {};
  r.names.forEach((n, i) => m[i + 1] !== undefined && (params[n] = decodePathSegment(m[i + 1])));
  const body = method === 'GET' || method === 'HEAD' ? '' : await readBody(req);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  const request = new HttpRequest({ method, url: url.href, headers, params, body: { string: body } });
  const clientInput = df.input.durableClient();
  const context = new InvocationContext({
    functionName: r.def.name,
    invocationId: randomUUID(),
    logHandler: (level, ...msg) => log.info({ function: r.def.name, level }, msg.map(String).join(' ')),
    options: { trigger: { type: 'httpTrigger', name: 'request' }, extraInputs: r.def.durableClient ? [clientInput] : [], extraOutputs: [] },
  });
  if (r.def.durableClient) context.extraInputs.set(clientInput, durableClientInput(baseUrl, settings.hubName));
  await toNodeResponse(await r.def.handler(request, context), res);
}

/**
 * A timer's schedule as the Functions host reads it: `%NAME%` is the app setting NAME (its schema default when
 * unset, as the Bicep always sets it in Azure).
 */
function resolveSchedule(def: TimerDef): string {
  const m = /^%([A-Za-z0-9_]+)%$/.exec(def.schedule);
  if (!m) return def.schedule;
  const value = appSetting(m[1]!);
  if (typeof value !== 'string' || !value) throw new Error(`Timer function "${def.name}": its schedule is the app setting ${m[1]}, which is not set.`);
  return value;
}

/** Timer triggers on their NCRONTAB schedules, as the Functions host runs them (one run at a time each). */
function startTimerTriggers(defs: TimerDef[], clientData: () => Record<string, unknown>, log: Logger): { stop(): void } {
  const handles = new Set<NodeJS.Timeout>();
  let stopped = false;
  for (const def of defs) {
    let cron;
    const schedule = resolveSchedule(def);
    try {
      cron = CronExpressionParser.parse(schedule);
    } catch (err) {
      throw new Error(`Timer function "${def.name}": schedule "${schedule}"${schedule !== def.schedule ? ` (from ${def.schedule})` : ''} is not a valid NCRONTAB expression: ${(err as Error).message}`);
    }
    const run = async (isPastDue: boolean): Promise<void> => {
      const clientInput = df.input.durableClient();
      const context = new InvocationContext({
        functionName: def.name,
        invocationId: randomUUID(),
        logHandler: (level, ...msg) => log.info({ function: def.name, level }, msg.map(String).join(' ')),
        options: { trigger: { type: 'timerTrigger', name: 'timer' }, extraInputs: def.durableClient ? [clientInput] : [], extraOutputs: [] },
      });
      if (def.durableClient) context.extraInputs.set(clientInput, clientData());
      try {
        await def.handler({ isPastDue, schedule: { adjustForDST: false }, scheduleStatus: { last: new Date().toISOString(), next: '', lastUpdated: new Date().toISOString() } }, context);
      } catch (err) {
        log.error({ err, function: def.name }, 'timer function failed');
      }
    };
    const scheduleNext = (): void => {
      if (stopped) return;
      const next = cron.next().getTime();
      const wait = Math.max(0, next - Date.now());
      const handle = setTimeout(() => {
        handles.delete(handle);
        void run(Date.now() - next > 10_000).finally(scheduleNext);
      }, Math.min(wait, 2 ** 31 - 1));
      handles.add(handle);
    };
    if (def.runOnStartup) void run(false).finally(scheduleNext);
    else scheduleNext();
  }
  return {
    stop: () => {
      stopped = true;
      for (const h of handles) clearTimeout(h);
    },
  };
}
