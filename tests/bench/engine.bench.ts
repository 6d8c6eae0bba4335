/**
 * `npm run bench` — throughput of the embedded durable engine on this machine, next to the Azurite
 * ceiling measured in the same run against the same kind of table. Not a test: it prints figures.
 *
 *  1. One Azurite (in memory) for the whole run.
 *  2. Ceiling: 16 concurrent clients doing entity-group transactions of 3 entities (2 history-row
 *     upserts + a sentinel update with ETag, one partition per client "instance") on `<Hub>History`;
 *     single-entity upserts on `<Hub>Instances`; and a pure-storage replay of exactly the writes one
 *     engine step makes (inbox txn, episode txn of 4 rows + sentinel + inbox delete, Instances upsert).
 *  3. Engine: `startLocalHost` with `benchChain` (K activities in sequence) × N concurrent instances
 *     at a few host.json concurrency settings, a fan-out variant, and one CPU-profiled pass.
 *
 * Environment knobs: BENCH_K (10), BENCH_N (50), BENCH_SETTINGS ("16/16,8/8,50/50" =
 * orchestrators/activities), BENCH_CEILING_SECONDS (5), BENCH_FANOUT (1), BENCH_PROFILE (1).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { TableClient, TableServiceClient, odata, type TableEntity, type TransactionAction } from '@azure/data-tables';
import type { InvocationContext } from '@azure/functions';
import type * as df from 'durable-functions';
import pino from 'pino';
import { startAzurite, type AzuriteHandle } from '../../local/azurite';
import type { FunctionDef } from '../../local/durable/functions';
import { startLocalHost, type LocalHost } from '../../local/host';

// ---- configuration ------------------------------------------------------------------------------

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

const K = envInt('BENCH_K', 10);
const N = envInt('BENCH_N', 50);
const CEILING_MS = envInt('BENCH_CEILING_SECONDS', 5) * 1000;
const WARMUP_MS = 1000;
const CEILING_CLIENTS = 16;
const FANOUT = process.env.BENCH_FANOUT !== '0';
const PROFILE = process.env.BENCH_PROFILE !== '0';
const SETTINGS: Array<{ orch: number; act: number }> = (process.env.BENCH_SETTINGS ?? '16/16,8/8,50/50')
  .split(',')
  .map((s) => s.trim().split('/').map(Number))
  .filter((p) => p.length === 2 && p.every((x) => Number.isInteger(x) && x > 0))
  .map(([orch, act]) => ({ orch, act }));
if (SETTINGS.length === 0) SETTINGS.push({ orch: 16, act: 16 });
const PRIMARY = SETTINGS[0];
/** Rows a ceiling "instance" partition gets before the client moves on (an engine chain of K=10 has 45). */
const ROWS_PER_CEILING_PARTITION = 44;
const RUN_DEADLINE_MS = 60_000;

// ---- small utilities ----------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r, ri) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ') + (ri === 0 ? '\n' + widths.map((w) => '-'.repeat(w)).join('  ') : '')).join('\n');
}

let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  CLK_TCK = 100;
}

/** CPU seconds (user+system) a process has used, from /proc/<pid>/stat. */
function childCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

function childRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Peak RSS of this process and of the Azurite child, sampled every 100 ms (overall and per phase). */
class RssSampler {
  peakSelf = 0;
  peakChild = 0;
  phaseSelf = 0;
  phaseChild = 0;
  private timer?: NodeJS.Timeout;
  constructor(private readonly childPid: number) {}
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
  resetPhase(): void {
    this.phaseSelf = 0;
    this.phaseChild = 0;
    this.sample();
  }
  sample(): void {
    const self = process.memoryUsage().rss;
    const child = childRssBytes(this.childPid);
    this.peakSelf = Math.max(this.peakSelf, self);
    this.phaseSelf = Math.max(this.phaseSelf, self);
    if (Number.isFinite(child)) {
      this.peakChild = Math.max(this.peakChild, child);
      this.phaseChild = Math.max(this.phaseChild, child);
    }
  }
}

/** CPU use of both processes over a phase, in % of one core, plus this process's event-loop utilisation. */
class CpuMeter {
  private readonly self0 = process.cpuUsage();
  private readonly child0: number;
  private readonly t0 = performance.now();
  private readonly elu0 = performance.eventLoopUtilization();
  constructor(private readonly childPid: number) {
    this.child0 = childCpuSeconds(childPid);
  }
  read(): { selfPct: number; childPct: number; elu: number } {
    const wall = (performance.now() - this.t0) / 1000;
    const self = process.cpuUsage(this.self0);
    const child = childCpuSeconds(this.childPid) - this.child0;
    return {
      selfPct: ((self.user + self.system) / 1e6 / wall) * 100,
      childPct: (child / wall) * 100,
      elu: performance.eventLoopUtilization(this.elu0).utilization,
    };
  }
}

// ---- 2. the Azurite ceiling ----------------------------------------------------------------------

interface CeilingResult {
  perSec: number;
  entitiesPerSec: number;
  p50: number;
  p99: number;
  selfPct: number;
  childPct: number;
  count: number;
}

/**
 * Run `clients` workers, each looping `op` back to back, for WARMUP_MS + CEILING_MS; count the
 * operations that complete inside the measured window.
 */
async function closedLoop(clients: number, op: (worker: number, iteration: number) => Promise<number>, childPid: number): Promise<CeilingResult> {
  const start = performance.now();
  const from = start + WARMUP_MS;
  const to = from + CEILING_MS;
  let count = 0;
  let entities = 0;
  const latencies: number[] = [];
  let cpu: CpuMeter | undefined;
  const warm = setTimeout(() => (cpu = new CpuMeter(childPid)), WARMUP_MS);
  await Promise.all(
    Array.from({ length: clients }, async (_, w) => {
      for (let i = 0; performance.now() < to; i++) {
        const t = performance.now();
        const n = await op(w, i);
        const done = performance.now();
        if (t >= from && done <= to) {
          count++;
          entities += n;
          latencies.push(done - t);
        }
      }
    }),
  );
  clearTimeout(warm);
  const usage = cpu ? cpu.read() : { selfPct: NaN, childPct: NaN };
  return {
    perSec: count / (CEILING_MS / 1000),
    entitiesPerSec: entities / (CEILING_MS / 1000),
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    selfPct: usage.selfPct,
    childPct: usage.childPct,
    count,
  };
}

const tableOptions = { allowInsecureConnection: true };

function historyRow(pk: string, seq: number, executionId: string, eventType: string): TableEntity {
  // The shape of a row `DurableStore` writes for a history event.
  return {
    partitionKey: pk,
    rowKey: seq.toString(16).padStart(16, '0'),
    ExecutionId: executionId,
    EventType: eventType,
    EventId: seq,
    _Timestamp: new Date(),
    Name: 'benchInc',
    Input: String(seq),
  };
}

async function measureCeiling(az: AzuriteHandle): Promise<{ txn3: CeilingResult; upsert: CeilingResult; stepReplica: CeilingResult }> {
  const hub = `BenchCeil${process.pid}`;
  const service = TableServiceClient.fromConnectionString(az.connectionString, tableOptions);
  await service.createTable(`${hub}History`);
  await service.createTable(`${hub}Instances`);
  const mk = (name: string) => Array.from({ length: CEILING_CLIENTS }, () => TableClient.fromConnectionString(az.connectionString, name, tableOptions));
  const pid = az.process.pid ?? 0;

  // (a) 3-entity entity-group transactions: 2 new history rows + the sentinel (created, then updated with its ETag).
  const hist = mk(`${hub}History`);
  const state = hist.map(() => ({ part: 0, seq: 0, etag: '' }));
  const txn3 = await closedLoop(
    CEILING_CLIENTS,
    async (w) => {
      const s = state[w];
      if (s.seq >= ROWS_PER_CEILING_PARTITION) Object.assign(s, { part: s.part + 1, seq: 0, etag: '' });
      const pk = `ceil-w${w}-i${s.part}`;
      const sentinel = { partitionKey: pk, rowKey: 'sentinel', ExecutionId: 'x', HistoryCount: s.seq + 2, LastCheckpointTime: new Date() };
      const actions: TransactionAction[] = [
        ['upsert', historyRow(pk, s.seq, 'x', 'TaskCompleted'), 'Replace'],
        ['upsert', historyRow(pk, s.seq + 1, 'x', 'TaskScheduled'), 'Replace'],
        s.etag ? ['update', sentinel, 'Replace', { etag: s.etag }] : ['create', sentinel],
      ];
      const res = await hist[w].submitTransaction(actions);
      s.etag = res.subResponses.find((r) => r.rowKey === 'sentinel')?.etag ?? '';
      s.seq += 2;
      return 3;
    },
    pid,
  );

  // (b) single-entity upserts (Instances-row shaped).
  const inst = mk(`${hub}Instances`);
  const upsert = await closedLoop(
    CEILING_CLIENTS,
    async (w, i) => {
      const now = new Date();
      await inst[w].upsertEntity(
        { partitionKey: `up-w${w}-${i % 50}`, rowKey: '', Name: 'benchChain', Version: '', ExecutionId: 'x', RuntimeStatus: 'Running', CreatedTime: now, LastUpdatedTime: now, Input: '10' },
        'Replace',
      );
      return 1;
    },
    pid,
  );

  // (c) storage-only replica of one engine chain step: inbox txn (activity result) -> episode txn
  //     (4 history rows + sentinel update + inbox delete) -> Instances upsert. Counted per step.
  const state2 = hist.map(() => ({ part: 0, seq: 0, etag: '' }));
  const stepReplica = await closedLoop(
    CEILING_CLIENTS,
    async (w, i) => {
      const s = state2[w];
      if (s.seq >= ROWS_PER_CEILING_PARTITION) Object.assign(s, { part: s.part + 1, seq: 0, etag: '' });
      const pk = `step-w${w}-i${s.part}`;
      const inboxKey = `inbox-task-x-${s.seq}`;
      await hist[w].submitTransaction([['upsert', { partitionKey: pk, rowKey: inboxKey, Seq: i, ExecutionId: 'x', Message: '{"EventType":5,"Result":"1"}' }, 'Replace']]);
      const sentinel = { partitionKey: pk, rowKey: 'sentinel', ExecutionId: 'x', HistoryCount: s.seq + 4, LastCheckpointTime: new Date() };
      const res = await hist[w].submitTransaction([
        ['upsert', historyRow(pk, s.seq, 'x', 'OrchestratorStarted'), 'Replace'],
        ['upsert', historyRow(pk, s.seq + 1, 'x', 'TaskCompleted'), 'Replace'],
        ['upsert', historyRow(pk, s.seq + 2, 'x', 'TaskScheduled'), 'Replace'],
        ['upsert', historyRow(pk, s.seq + 3, 'x', 'OrchestratorCompleted'), 'Replace'],
        s.etag ? ['update', sentinel, 'Replace', { etag: s.etag }] : ['create', sentinel],
        ['delete', { partitionKey: pk, rowKey: inboxKey }],
      ]);
      s.etag = res.subResponses.find((r) => r.rowKey === 'sentinel')?.etag ?? '';
      s.seq += 4;
      const now = new Date();
      await inst[w].upsertEntity({ partitionKey: pk, rowKey: '', Name: 'benchChain', ExecutionId: 'x', RuntimeStatus: 'Running', CreatedTime: now, LastUpdatedTime: now }, 'Replace');
      return 8;
    },
    pid,
  );
  return { txn3, upsert, stepReplica };
}

// ---- 3. the engine -------------------------------------------------------------------------------

interface OpStats {
  calls: number;
  entities: number;
  busyMs: number;
  latencies: number[];
}

/** Counts and times every storage call the engine makes, by wrapping its TableClient instances. */
class StorageMeter {
  readonly ops = new Map<string, OpStats>();
  record(op: string, ms: number, entities: number): void {
    let s = this.ops.get(op);
    if (!s) this.ops.set(op, (s = { calls: 0, entities: 0, busyMs: 0, latencies: [] }));
    s.calls++;
    s.entities += entities;
    s.busyMs += ms;
    if (ms >= 0) s.latencies.push(ms);
  }
  get totalCalls(): number {
    let n = 0;
    for (const s of this.ops.values()) n += s.calls;
    return n;
  }
  get totalEntities(): number {
    let n = 0;
    for (const s of this.ops.values()) n += s.entities;
    return n;
  }
}

/** Per-activity timeline, keyed `${instanceId}:${executionId}:${taskId}` (the activity's invocationId). */
class Timeline {
  readonly scheduledCommitted = new Map<string, number>();
  readonly started = new Map<string, number>();
  readonly ended = new Map<string, number>();
  readonly inboxWritten = new Map<string, number>();
  readonly resultCommitted = new Map<string, number>();
  series(): Record<'dispatch' | 'resultWrite' | 'resultToEpisode' | 'endToCommit' | 'roundTrip', number[]> {
    const out = { dispatch: [] as number[], resultWrite: [] as number[], resultToEpisode: [] as number[], endToCommit: [] as number[], roundTrip: [] as number[] };
    for (const [key, sc] of this.scheduledCommitted) {
      const st = this.started.get(key);
      const en = this.ended.get(key);
      const ib = this.inboxWritten.get(key);
      const rc = this.resultCommitted.get(key);
      if (st !== undefined) out.dispatch.push(st - sc);
      if (en !== undefined && ib !== undefined) out.resultWrite.push(ib - en);
      if (ib !== undefined && rc !== undefined) out.resultToEpisode.push(rc - ib);
      if (en !== undefined && rc !== undefined) out.endToCommit.push(rc - en);
      if (rc !== undefined) out.roundTrip.push(rc - sc);
    }
    return out;
  }
}

/** The run the activity handler reports to (one engine run at a time). */
let currentTimeline: Timeline | undefined;

function entityOf(a: TransactionAction): Record<string, unknown> {
  return a[1] as Record<string, unknown>;
}

function classifyTxn(actions: TransactionAction[]): string {
  if (actions.some((a) => entityOf(a).rowKey === 'sentinel')) return 'episode commit txn';
  if (actions.every((a) => a[0] === 'upsert' && String(entityOf(a).rowKey).startsWith('inbox-'))) return 'inbox write txn';
  return 'cleanup delete txn';
}

function instrument(client: TableClient, table: string, meter: StorageMeter, timeline: Timeline): void {
  const timed = <A extends unknown[], R>(op: string, fn: (...args: A) => Promise<R>, entities: (args: A) => number, after?: (args: A, done: number) => void) =>
    async (...args: A): Promise<R> => {
      const t = performance.now();
      try {
        return await fn(...args);
      } finally {
        const done = performance.now();
        meter.record(`${table}.${typeof op === 'string' ? op : ''}`, done - t, entities(args));
        after?.(args, done);
      }
    };

  const submit = client.submitTransaction.bind(client);
  client.submitTransaction = async (actions, options) => {
    const op = classifyTxn(actions);
    return timed(
      op,
      () => submit(actions, options),
      () => actions.length,
      (_args, done) => {
        for (const a of actions) {
          const e = entityOf(a);
          const pk = String(e.partitionKey);
          const rk = String(e.rowKey);
          if (a[0] !== 'upsert') continue;
          if (e.EventType === 'TaskScheduled') timeline.scheduledCommitted.set(`${pk}:${String(e.ExecutionId)}:${String(e.EventId)}`, done);
          else if (e.EventType === 'TaskCompleted') timeline.resultCommitted.set(`${pk}:${String(e.ExecutionId)}:${String(e.TaskScheduledId)}`, done);
          else if (rk.startsWith('inbox-task-')) timeline.inboxWritten.set(`${pk}:${String(e.ExecutionId)}:${rk.slice(rk.lastIndexOf('-') + 1)}`, done);
        }
      },
    )();
  };
  client.upsertEntity = timed('upsertEntity', client.upsertEntity.bind(client), () => 1);
  client.createEntity = timed('createEntity', client.createEntity.bind(client), () => 1);
  client.updateEntity = timed('updateEntity', client.updateEntity.bind(client), () => 1);
  client.deleteEntity = timed('deleteEntity', client.deleteEntity.bind(client), () => 1);
  // Generic methods: the wrappers keep the call signature; the casts restore the type parameters.
  client.getEntity = timed('getEntity', client.getEntity.bind(client), () => 1) as unknown as typeof client.getEntity;
  const list = client.listEntities.bind(client);
  client.listEntities = ((options?: Parameters<typeof list>[0]) => {
    meter.record(`${table}.listEntities (query)`, -1, 0);
    return list(options);
  }) as typeof client.listEntities;
}

function* benchChain(context: df.OrchestrationContext): Generator<df.Task, number, unknown> {
  const k = Number(context.df.getInput());
  let x = 0;
  for (let i = 0; i < k; i++) x = (yield context.df.callActivity('benchInc', x)) as number;
  return x;
}

function* benchFanOut(context: df.OrchestrationContext): Generator<df.Task, number, unknown> {
  const k = Number(context.df.getInput());
  const results = (yield context.df.Task.all(Array.from({ length: k }, (_, i) => context.df.callActivity('benchInc', i)))) as number[];
  return results.reduce((a, b) => a + b, 0);
}

function benchInc(input: unknown, context: InvocationContext): number {
  const t = performance.now();
  currentTimeline?.started.set(context.invocationId, t);
  const out = (typeof input === 'number' ? input : Number(input)) + 1;
  currentTimeline?.ended.set(context.invocationId, performance.now());
  return out;
}

const benchFunctions: FunctionDef[] = [
  { kind: 'orchestration', name: 'benchChain', handler: benchChain },
  { kind: 'orchestration', name: 'benchFanOut', handler: benchFanOut },
  { kind: 'activity', name: 'benchInc', handler: benchInc },
];

interface ProfileSummary {
  totalMs: number;
  byCategory: Array<[string, number]>;
  topFunctions: Array<[string, number]>;
}

interface EngineRun {
  label: string;
  orchestrator: string;
  n: number;
  k: number;
  orch: number;
  act: number;
  wallMs: number;
  episodes: number;
  activities: number;
  stepsPerSec: number;
  activitiesPerSec: number;
  statsDispatch: number[];
  series: ReturnType<Timeline['series']>;
  meter: StorageMeter;
  cpu: { selfPct: number; childPct: number; elu: number };
  peakRssSelf: number;
  peakRssChild: number;
  historyRows: number[];
  httpHistoryEvents: number;
  profile?: ProfileSummary;
}

let runCounter = 0;

async function runEngine(
  az: AzuriteHandle,
  sampler: RssSampler,
  opts: { label: string; orchestrator: 'benchChain' | 'benchFanOut'; n: number; k: number; orch: number; act: number; profile?: boolean },
): Promise<EngineRun> {
  const hubName = `Bench${process.pid}r${++runCounter}`; // a fresh hub per run: Azurite's queries scan the whole table
  const hostJson = { version: '2.0', extensions: { durableTask: { hubName, maxConcurrentOrchestratorFunctions: opts.orch, maxConcurrentActivityFunctions: opts.act } } };
  const host: LocalHost = await startLocalHost({ connectionString: az.connectionString, functions: benchFunctions, port: 0, hostJson, logger: pino({ level: 'silent' }) });
  const meter = new StorageMeter();
  const timeline = new Timeline();
  instrument(host.store.history, 'History', meter, timeline);
  instrument(host.store.instances, 'Instances', meter, timeline);
  currentTimeline = timeline;
  const { engine } = host;
  const ep0 = engine.stats.episodes;
  const act0 = engine.stats.activitiesRun;
  const lat0 = engine.stats.activityDispatchLatenciesMs.length;
  const pid = az.process.pid ?? 0;

  let session: Session | undefined;
  if (opts.profile) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  sampler.resetPhase();
  const cpu = new CpuMeter(pid);
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from({ length: opts.n }, (_, i) => engine.startNew(opts.orchestrator, { instanceId: `${opts.label}-${i}`, input: JSON.stringify(opts.k) })),
  );
  const deadline = Date.now() + RUN_DEADLINE_MS;
  const expected = opts.orchestrator === 'benchChain' ? opts.k : (opts.k * (opts.k + 1)) / 2;
  let pending = ids;
  while (pending.length > 0) {
    await engine.idle();
    const statuses = await Promise.all(pending.map(async (id) => ({ id, s: await engine.getStatus(id) })));
    for (const { id, s } of statuses) {
      if (s && (s.runtimeStatus === 'Failed' || s.runtimeStatus === 'Terminated')) throw new Error(`instance ${id} ended ${s.runtimeStatus}: ${JSON.stringify(s.output)}`);
      if (s?.runtimeStatus === 'Completed' && s.output !== expected) throw new Error(`instance ${id} returned ${JSON.stringify(s.output)}, expected ${expected}`);
    }
    pending = statuses.filter(({ s }) => s?.runtimeStatus !== 'Completed').map(({ id }) => id);
    if (pending.length && Date.now() > deadline) throw new Error(`${pending.length} of ${ids.length} instances did not complete within ${RUN_DEADLINE_MS / 1000} s`);
    if (pending.length) await sleep(20);
  }
  const wallMs = performance.now() - t0;
  const usage = cpu.read();
  sampler.sample();
  let profile: ProfileSummary | undefined;
  if (session) {
    const { profile: p } = await session.post('Profiler.stop');
    session.disconnect();
    profile = summariseProfile(p);
  }
  currentTimeline = undefined;

  // History rows per instance: count the partition's rows (history + sentinel; inbox rows are gone once consumed).
  const counter = TableClient.fromConnectionString(az.connectionString, host.store.history.tableName, tableOptions);
  const historyRows: number[] = [];
  for (const id of ids.slice(0, 3)) {
    let rows = 0;
    for await (const _row of counter.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${id}`, select: ['RowKey'] } })) rows++;
    historyRows.push(rows);
  }
  const res = await fetch(`${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(ids[0])}?showHistory=true`);
  const body = (await res.json()) as { historyEvents?: unknown[] };
  await host.close();

  const episodes = engine.stats.episodes - ep0;
  const activities = engine.stats.activitiesRun - act0;
  return {
    ...opts,
    wallMs,
    episodes,
    activities,
    stepsPerSec: episodes / (wallMs / 1000),
    activitiesPerSec: activities / (wallMs / 1000),
    statsDispatch: engine.stats.activityDispatchLatenciesMs.slice(lat0),
    series: timeline.series(),
    meter,
    cpu: usage,
    peakRssSelf: sampler.phaseSelf,
    peakRssChild: sampler.phaseChild,
    historyRows,
    httpHistoryEvents: body.historyEvents?.length ?? NaN,
    profile,
  };
}

// ---- CPU profile: where the engine process spends its time ---------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

function categoryOf(url: string, fn: string): string | undefined {
  if (fn === '(idle)') return 'idle (waiting on I/O)';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'native / V8 (program)';
  if (url === '') return undefined; // a builtin (JSON, RegExp, …): charged to its caller
  if (url.includes('/durable-functions/')) return 'durable-functions SDK (replay)';
  if (/\/@azure\/(data-tables|core-[a-z-]+|abort-controller|logger)\//.test(url) || url.includes('/fast-xml-parser/') || url.includes('/tslib/')) return 'Azure Tables client (@azure/*)';
  if (url.includes('/@azure/functions/')) return '@azure/functions (InvocationContext)';
  if (url.includes('/local/durable/')) return 'engine (local/durable)';
  if (url.includes('/local/')) return 'local host';
  if (url.includes('/tests/bench/')) return 'bench harness + activity';
  if (url.startsWith('node:')) return 'Node core (http, net, streams, timers)';
  if (url.includes('/node_modules/')) return 'other npm packages';
  return 'other';
}

function summariseProfile(p: { nodes: ProfileNode[]; samples?: number[]; timeDeltas?: number[] }): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cat = new Map<number, string>();
  const resolve = (id: number): string => {
    const hit = cat.get(id);
    if (hit) return hit;
    const n = byId.get(id)!;
    const own = categoryOf(n.callFrame.url, n.callFrame.functionName);
    const par = parent.get(id);
    const c = own ?? (par !== undefined ? resolve(par) : 'native / V8 (program)');
    cat.set(id, c);
    return c;
  };
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) self.set(samples[i], (self.get(samples[i]) ?? 0) + (deltas[i] ?? 0) / 1000);
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    total += ms;
    const c = resolve(id);
    byCategory.set(c, (byCategory.get(c) ?? 0) + ms);
    const n = byId.get(id)!;
    if (!['(idle)', '(program)', '(garbage collector)', '(root)'].includes(n.callFrame.functionName)) {
      const where = n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/work\/main\//, '');
      const key = `${n.callFrame.functionName || '(anonymous)'} ${where ? `${where}:${n.callFrame.lineNumber + 1}` : '(builtin)'}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    }
  }
  return {
    totalMs: total,
    byCategory: [...byCategory].sort((a, b) => b[1] - a[1]),
    topFunctions: [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 12),
  };
}

// ---- 4. report -----------------------------------------------------------------------------------

function latencyRow(name: string, values: number[]): string[] {
  return [name, f0(values.length), f2(pct(values, 50)), f2(pct(values, 99)), f2(values.length ? Math.max(...values) : NaN)];
}

function printRun(r: EngineRun): void {
  console.log(`\n### ${r.label}: ${r.orchestrator}, N=${r.n} instances × K=${r.k} activities, maxConcurrentOrchestratorFunctions=${r.orch}, maxConcurrentActivityFunctions=${r.act}`);
  console.log(
    table([
      ['figure', 'value'],
      ['wall time', `${f0(r.wallMs)} ms`],
      ['orchestrator episodes (steps)', f0(r.episodes)],
      ['orchestration steps/s', f1(r.stepsPerSec)],
      ['activities/s', f1(r.activitiesPerSec)],
      ['orchestrations/s', f1(r.n / (r.wallMs / 1000))],
      ['storage requests per step', f2(r.meter.totalCalls / r.episodes)],
      ['storage requests/s', f0(r.meter.totalCalls / (r.wallMs / 1000))],
      ['entity writes/reads per step', f2(r.meter.totalEntities / r.episodes)],
      ['CPU bench+engine process', `${f0(r.cpu.selfPct)} % of a core (event loop busy ${f0(r.cpu.elu * 100)} %)`],
      ['CPU Azurite process', `${f0(r.cpu.childPct)} % of a core`],
      ['peak RSS engine process', mb(r.peakRssSelf)],
      ['peak RSS Azurite process', mb(r.peakRssChild)],
      ['history rows per instance (table)', r.historyRows.join(', ') + ' (incl. sentinel)'],
      ['history events per instance (HTTP)', f0(r.httpHistoryEvents)],
    ]),
  );
  const s = r.series;
  console.log(
    '\n' +
      table([
        ['latency (ms)', 'n', 'p50', 'p99', 'max'],
        latencyRow('engine.stats activity slot wait', r.statsDispatch),
        latencyRow('TaskScheduled committed → activity started', s.dispatch),
        latencyRow('activity returned → result inbox row written', s.resultWrite),
        latencyRow('result inbox row → next episode committed', s.resultToEpisode),
        latencyRow('activity returned → next episode committed', s.endToCommit),
        latencyRow('step round trip (TaskScheduled → TaskCompleted committed)', s.roundTrip),
      ]),
  );
  const ops = [...r.meter.ops].sort((a, b) => b[1].calls - a[1].calls);
  console.log(
    '\n' +
      table([
        ['storage call', 'calls', 'per step', 'entities', 'p50 ms', 'p99 ms'],
        ...ops.map(([op, st]) => [op, f0(st.calls), f2(st.calls / r.episodes), f0(st.entities), f2(pct(st.latencies, 50)), f2(pct(st.latencies, 99))]),
      ]),
  );
  if (r.profile) {
    const pr = r.profile;
    console.log(`\nCPU profile of the engine process (${f0(pr.totalMs)} ms sampled over ${f0(r.wallMs)} ms wall):`);
    console.log(table([['where', 'ms', '% of samples'], ...pr.byCategory.map(([c, ms]) => [c, f0(ms), f1((ms / pr.totalMs) * 100)])]));
    console.log('\nTop self-time functions:');
    console.log(table([['function', 'ms'], ...pr.topFunctions.map(([fn, ms]) => [fn.length > 110 ? fn.slice(0, 107) + '...' : fn, f1(ms)])]));
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  console.log(`engine bench: node ${process.version}, ${(await import('node:os')).cpus().length} cores, K=${K}, N=${N}, settings ${SETTINGS.map((s) => `${s.orch}/${s.act}`).join(', ')}`);
  const az = await startAzurite();
  const sampler = new RssSampler(az.process.pid ?? 0);
  sampler.start();
  let exitCode = 0;
  try {
    // --- ceiling ---
    sampler.resetPhase();
    const ceiling = await measureCeiling(az);
    const ceilingRss = { self: sampler.phaseSelf, child: sampler.phaseChild };
    console.log(`\n## Azurite ceiling (${CEILING_CLIENTS} concurrent clients, ${WARMUP_MS / 1000} s warm-up + ${CEILING_MS / 1000} s measured each)`);
    console.log(
      table([
        ['workload', 'ops/s', 'entities/s', 'p50 ms', 'p99 ms', 'CPU bench %', 'CPU Azurite %'],
        ...(
          [
            ['3-entity txn (2 rows + sentinel) on <Hub>History', ceiling.txn3],
            ['single-entity upsert on <Hub>Instances', ceiling.upsert],
            ['engine-step replica (inbox txn + 6-entity txn + upsert)', ceiling.stepReplica],
          ] as Array<[string, CeilingResult]>
        ).map(([name, c]) => [name, f0(c.perSec), f0(c.entitiesPerSec), f2(c.p50), f2(c.p99), f0(c.selfPct), f0(c.childPct)]),
      ]),
    );
    console.log(`peak RSS during ceiling: bench ${mb(ceilingRss.self)}, Azurite ${mb(ceilingRss.child)}`);

    // --- engine ---
    await runEngine(az, sampler, { label: 'warmup', orchestrator: 'benchChain', n: 10, k: 3, orch: PRIMARY.orch, act: PRIMARY.act }); // JIT + connection warm-up, not reported
    const runs: EngineRun[] = [];
    for (const s of SETTINGS) {
      runs.push(await runEngine(az, sampler, { label: `chain-${s.orch}x${s.act}`, orchestrator: 'benchChain', n: N, k: K, orch: s.orch, act: s.act }));
    }
    if (FANOUT) runs.push(await runEngine(az, sampler, { label: `fanout-${PRIMARY.orch}x${PRIMARY.act}`, orchestrator: 'benchFanOut', n: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act }));
    let profiled: EngineRun | undefined;
    if (PROFILE) {
      profiled = await runEngine(az, sampler, { label: `chain-${PRIMARY.orch}x${PRIMARY.act}-profiled`, orchestrator: 'benchChain', n: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act, profile: true });
    }

    console.log('\n## Engine runs');
    for (const r of runs) printRun(r);
    if (profiled) printRun(profiled);

    // --- summary ---
    const chainRuns = runs.filter((r) => r.orchestrator === 'benchChain');
    const primary = chainRuns[0];
    const best = chainRuns.reduce((a, b) => (b.stepsPerSec > a.stepsPerSec ? b : a));
    const ratio = primary.stepsPerSec / ceiling.txn3.perSec;
    const bestRatio = best.stepsPerSec / ceiling.txn3.perSec;
    const replicaRatio = primary.stepsPerSec / ceiling.stepReplica.perSec;
    const s = primary.series;
    console.log('\n## Summary (chain, primary setting)');
    console.log(
      table([
        ['figure', 'value'],
        ['machine', `${(await import('node:os')).cpus().length} cores, ${process.version}, Azurite ${readAzuriteVersion()} in memory`],
        ['workload', `${primary.n} concurrent benchChain × ${primary.k} sequential activities, ${primary.orch}/${primary.act} orch/act slots`],
        ['Azurite ceiling: 3-entity txn/s', f0(ceiling.txn3.perSec)],
        ['Azurite ceiling: single upserts/s', f0(ceiling.upsert.perSec)],
        ['Azurite: engine-step replica steps/s', f0(ceiling.stepReplica.perSec)],
        ['engine orchestration steps/s', f1(primary.stepsPerSec)],
        ['engine activities/s', f1(primary.activitiesPerSec)],
        ['best setting steps/s', `${f1(best.stepsPerSec)} (${best.orch}/${best.act})`],
        ['activity dispatch p50 / p99 (slot wait, engine.stats)', `${f2(pct(primary.statsDispatch, 50))} / ${f2(pct(primary.statsDispatch, 99))} ms`],
        ['activity dispatch p50 / p99 (TaskScheduled committed → started)', `${f2(pct(s.dispatch, 50))} / ${f2(pct(s.dispatch, 99))} ms`],
        ['activity returned → next episode committed p50 / p99', `${f2(pct(s.endToCommit, 50))} / ${f2(pct(s.endToCommit, 99))} ms`],
        ['peak RSS engine process / Azurite', `${mb(sampler.peakSelf)} / ${mb(sampler.peakChild)}`],
        ['history rows per instance', `${primary.historyRows[0]} (= 4 per episode × ${primary.k + 1} episodes + sentinel)`],
        ['storage requests per step', f2(primary.meter.totalCalls / primary.episodes)],
        ['ratio engine steps/s ÷ ceiling txn/s', f2(ratio) + (best !== primary ? ` (best setting ${f2(bestRatio)})` : '')],
        ['ratio engine steps/s ÷ step-replica steps/s', f2(replicaRatio)],
      ]),
    );
    console.log(
      `\nVERDICT: engine/ceiling = ${f2(ratio)} ${ratio >= 0.5 ? '≥ 0.5 — acceptance met' : '< 0.5 — acceptance NOT met'}` +
        `; one engine step costs ${f2(primary.meter.totalCalls / primary.episodes)} storage requests (${f2(primary.meter.totalEntities / primary.episodes)} entities) against the ceiling's 1 request of 3 entities.`,
    );
    console.log(`\nbench finished in ${f1((performance.now() - began) / 1000)} s`);
  } catch (err) {
    console.error('bench failed:', err);
    exitCode = 1;
  } finally {
    sampler.stop();
    await az.stop();
  }
  process.exitCode = exitCode;
}

function readAzuriteVersion(): string {
  try {
    return (JSON.parse(readFileSync(require.resolve('azurite/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

void main();
