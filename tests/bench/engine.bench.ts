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
import { cpus } from 'node:os';
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

/** Busy CPU seconds of the whole machine (all processes), from /proc/stat. */
function machineBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return (total - f[3] - f[4]) / CLK_TCK;
  } catch {
    return NaN;
  }
}

interface CpuReading {
  /** % of one core: this process, the Azurite child, every other process on the machine. */
  selfPct: number;
  childPct: number;
  othersPct: number;
  /** Event-loop utilisation of this process (0..1). */
  elu: number;
}

/** CPU use over a phase. Other engineers' test runs share the 2 cores, so "others" is reported too. */
class CpuMeter {
  private readonly self0 = process.cpuUsage();
  private readonly child0: number;
  private readonly machine0 = machineBusySeconds();
  private readonly t0 = performance.now();
  private readonly elu0 = performance.eventLoopUtilization();
  constructor(private readonly childPid: number) {
    this.child0 = childCpuSeconds(childPid);
  }
  read(): CpuReading {
    const wall = (performance.now() - this.t0) / 1000;
    const u = process.cpuUsage(this.self0);
    const self = (u.user + u.system) / 1e6;
    const child = childCpuSeconds(this.childPid) - this.child0;
    const machine = machineBusySeconds() - this.machine0;
    return {
      selfPct: (self / wall) * 100,
      childPct: (child / wall) * 100,
      othersPct: Math.max(0, ((machine - self - child) / wall) * 100),
      elu: performance.eventLoopUtilization(this.elu0).utilization,
    };
  }
}

// ---- 2. the Azurite ceiling ----------------------------------------------------------------------

interface CeilingResult {
  clients: number;
  perSec: number;
  entitiesPerSec: number;
  p50: number;
  p99: number;
  cpu: CpuReading;
}

/**
 * Run `clients` workers, each looping `op` back to back, for warmMs + measureMs; count the operations
 * that start and finish inside the measured window. `op` returns how many entities it wrote.
 */
async function closedLoop(clients: number, warmMs: number, measureMs: number, childPid: number, op: (worker: number, iteration: number) => Promise<number>): Promise<CeilingResult> {
  const start = performance.now();
  const from = start + warmMs;
  const to = from + measureMs;
  let count = 0;
  let entities = 0;
  const latencies: number[] = [];
  let cpu: CpuMeter | undefined;
  const warm = setTimeout(() => (cpu = new CpuMeter(childPid)), warmMs);
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
  return {
    clients,
    perSec: count / (measureMs / 1000),
    entitiesPerSec: entities / (measureMs / 1000),
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    cpu: cpu ? cpu.read() : { selfPct: NaN, childPct: NaN, othersPct: NaN, elu: NaN },
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

/** Storage-only workloads on `<Hub>History` / `<Hub>Instances` of a hub of its own. */
class Ceiling {
  private readonly hub = `BenchCeil${process.pid}`;
  private readonly history: TableClient[] = [];
  private readonly instances: TableClient[] = [];
  private partitionCounter = 0;
  private readonly pid: number;

  constructor(private readonly az: AzuriteHandle) {
    this.pid = az.process.pid ?? 0;
  }

  async init(maxClients: number): Promise<void> {
    const service = TableServiceClient.fromConnectionString(this.az.connectionString, tableOptions);
    await service.createTable(`${this.hub}History`);
    await service.createTable(`${this.hub}Instances`);
    for (let i = 0; i < maxClients; i++) {
      this.history.push(TableClient.fromConnectionString(this.az.connectionString, `${this.hub}History`, tableOptions));
      this.instances.push(TableClient.fromConnectionString(this.az.connectionString, `${this.hub}Instances`, tableOptions));
    }
  }

  /** A fresh "instance" partition per worker, moved on after ROWS_PER_CEILING_PARTITION rows. */
  private partitions(clients: number) {
    return Array.from({ length: clients }, () => ({ pk: `ceil-${++this.partitionCounter}`, seq: 0, etag: '' }));
  }
  private advance(p: { pk: string; seq: number; etag: string }): void {
    if (p.seq >= ROWS_PER_CEILING_PARTITION) Object.assign(p, { pk: `ceil-${++this.partitionCounter}`, seq: 0, etag: '' });
  }

  /** Entity-group transactions of 3 entities: 2 new history rows + the sentinel (created, then updated with its ETag). */
  txn3(clients: number, warmMs: number, measureMs: number): Promise<CeilingResult> {
    const parts = this.partitions(clients);
    return closedLoop(clients, warmMs, measureMs, this.pid, async (w) => {
      const p = parts[w];
      this.advance(p);
      const sentinel = { partitionKey: p.pk, rowKey: 'sentinel', ExecutionId: 'x', HistoryCount: p.seq + 2, LastCheckpointTime: new Date() };
      const res = await this.history[w].submitTransaction([
        ['upsert', historyRow(p.pk, p.seq, 'x', 'TaskCompleted'), 'Replace'],
        ['upsert', historyRow(p.pk, p.seq + 1, 'x', 'TaskScheduled'), 'Replace'],
        p.etag ? ['update', sentinel, 'Replace', { etag: p.etag }] : ['create', sentinel],
      ]);
      p.etag = res.subResponses[2]?.etag ?? ''; // update sub-responses carry no rowKey: go by position
      p.seq += 2;
      return 3;
    });
  }

  /** What a step's episode commit would be without an inbox row to delete: 4 history rows + sentinel. */
  commit5(clients: number, warmMs: number, measureMs: number): Promise<CeilingResult> {
    const parts = this.partitions(clients);
    return closedLoop(clients, warmMs, measureMs, this.pid, async (w) => {
      const p = parts[w];
      this.advance(p);
      const sentinel = { partitionKey: p.pk, rowKey: 'sentinel', ExecutionId: 'x', HistoryCount: p.seq + 4, LastCheckpointTime: new Date() };
      const res = await this.history[w].submitTransaction([
        ['upsert', historyRow(p.pk, p.seq, 'x', 'OrchestratorStarted'), 'Replace'],
        ['upsert', historyRow(p.pk, p.seq + 1, 'x', 'TaskCompleted'), 'Replace'],
        ['upsert', historyRow(p.pk, p.seq + 2, 'x', 'TaskScheduled'), 'Replace'],
        ['upsert', historyRow(p.pk, p.seq + 3, 'x', 'OrchestratorCompleted'), 'Replace'],
        p.etag ? ['update', sentinel, 'Replace', { etag: p.etag }] : ['create', sentinel],
      ]);
      p.etag = res.subResponses[4]?.etag ?? '';
      p.seq += 4;
      return 5;
    });
  }

  /** One inbox row written the way `DurableStore.putInbox` writes a single message: a 1-entity transaction. */
  inbox1(clients: number, warmMs: number, measureMs: number): Promise<CeilingResult> {
    return closedLoop(clients, warmMs, measureMs, this.pid, async (w, i) => {
      const pk = `inbox-w${w}-${Math.floor(i / 20)}`;
      await this.history[w].submitTransaction([['upsert', { partitionKey: pk, rowKey: `inbox-task-x-${i}`, Seq: i, ExecutionId: 'x', Message: '{"EventType":5,"Result":"1"}' }, 'Replace']]);
      return 1;
    });
  }

  /** Single-entity upserts of an Instances-shaped row. */
  upsert(clients: number, warmMs: number, measureMs: number): Promise<CeilingResult> {
    return closedLoop(clients, warmMs, measureMs, this.pid, async (w, i) => {
      const now = new Date();
      await this.instances[w].upsertEntity(
        { partitionKey: `up-w${w}-${i % 50}`, rowKey: '', Name: 'benchChain', Version: '', ExecutionId: 'x', RuntimeStatus: 'Running', CreatedTime: now, LastUpdatedTime: now, Input: '10' },
        'Replace',
      );
      return 1;
    });
  }

  /**
   * The storage writes of one engine chain step, nothing else: inbox txn (the activity result), episode
   * txn (4 history rows + sentinel update + inbox delete), Instances upsert. One op = one step.
   */
  stepReplica(clients: number, warmMs: number, measureMs: number): Promise<CeilingResult> {
    const parts = this.partitions(clients);
    return closedLoop(clients, warmMs, measureMs, this.pid, async (w, i) => {
      const p = parts[w];
      this.advance(p);
      const inboxKey = `inbox-task-x-${p.seq}`;
      await this.history[w].submitTransaction([['upsert', { partitionKey: p.pk, rowKey: inboxKey, Seq: i, ExecutionId: 'x', Message: '{"EventType":5,"Result":"1"}' }, 'Replace']]);
      const sentinel = { partitionKey: p.pk, rowKey: 'sentinel', ExecutionId: 'x', HistoryCount: p.seq + 4, LastCheckpointTime: new Date() };
      const res = await this.history[w].submitTransaction([
        ['upsert', historyRow(p.pk, p.seq, 'x', 'OrchestratorStarted'), 'Replace'],
        ['upsert', historyRow(p.pk, p.seq + 1, 'x', 'TaskCompleted'), 'Replace'],
        ['upsert', historyRow(p.pk, p.seq + 2, 'x', 'TaskScheduled'), 'Replace'],
        ['upsert', historyRow(p.pk, p.seq + 3, 'x', 'OrchestratorCompleted'), 'Replace'],
        p.etag ? ['update', sentinel, 'Replace', { etag: p.etag }] : ['create', sentinel],
        ['delete', { partitionKey: p.pk, rowKey: inboxKey }],
      ]);
      p.etag = res.subResponses[4]?.etag ?? '';
      p.seq += 4;
      const now = new Date();
      await this.instances[w].upsertEntity({ partitionKey: p.pk, rowKey: '', Name: 'benchChain', ExecutionId: 'x', RuntimeStatus: 'Running', CreatedTime: now, LastUpdatedTime: now }, 'Replace');
      return 8;
    });
  }
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
  /** Set once the run's instances are all done, so the harness's own reads are not counted. */
  frozen = false;
  record(op: string, ms: number, entities: number): void {
    if (this.frozen) return;
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
        meter.record(`${table}.${op}`, done - t, entities(args));
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
  cpu: CpuReading;
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
  let wallMs = 0;
  let usage: CpuReading | undefined;
  while (pending.length > 0) {
    await engine.idle();
    wallMs = performance.now() - t0;
    usage = cpu.read();
    meter.frozen = true;
    const statuses = await Promise.all(pending.map(async (id) => ({ id, s: await engine.getStatus(id) })));
    for (const { id, s } of statuses) {
      if (s && (s.runtimeStatus === 'Failed' || s.runtimeStatus === 'Terminated')) throw new Error(`instance ${id} ended ${s.runtimeStatus}: ${JSON.stringify(s.output)}`);
      if (s?.runtimeStatus === 'Completed' && s.output !== expected) throw new Error(`instance ${id} returned ${JSON.stringify(s.output)}, expected ${expected}`);
    }
    pending = statuses.filter(({ s }) => s?.runtimeStatus !== 'Completed').map(({ id }) => id);
    if (pending.length && Date.now() > deadline) throw new Error(`${pending.length} of ${ids.length} instances did not complete within ${RUN_DEADLINE_MS / 1000} s`);
    if (pending.length) {
      meter.frozen = false; // not done after all (should not happen: idle() means no work in flight)
      await sleep(20);
    }
  }
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
    cpu: usage!,
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
  if (url === 'node:inspector' || url.startsWith('node:internal/inspector')) return 'profiler itself';
  if (url.includes('/durable-functions/')) return 'durable-functions SDK (replay)';
  if (/\/(@azure\/(data-tables|core-[a-z-]+|abort-controller|logger)|@typespec\/ts-http-runtime|fast-xml-parser|tslib)\//.test(url)) return 'Azure Tables client (@azure/*, @typespec/ts-http-runtime)';
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
      ['CPU other processes on the machine', `${f0(r.cpu.othersPct)} % of a core`],
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

const PAIRS = 5;

function medianOf(xs: number[]): number {
  return pct(xs, 50);
}

async function main(): Promise<void> {
  const began = performance.now();
  const cores = cpus().length;
  console.log(`engine bench: node ${process.version}, ${cores} cores, Azurite ${readAzuriteVersion()} (in memory), K=${K}, N=${N}, settings ${SETTINGS.map((s) => `${s.orch}/${s.act}`).join(', ')}`);
  const az = await startAzurite();
  const sampler = new RssSampler(az.process.pid ?? 0);
  sampler.start();
  let exitCode = 0;
  try {
    // --- 2. ceiling ---
    const ceiling = new Ceiling(az);
    await ceiling.init(Math.max(CEILING_CLIENTS, N));
    sampler.resetPhase();
    const txn3 = await ceiling.txn3(CEILING_CLIENTS, WARMUP_MS, CEILING_MS);
    const upsert = await ceiling.upsert(CEILING_CLIENTS, WARMUP_MS, CEILING_MS);
    const replica = await ceiling.stepReplica(CEILING_CLIENTS, WARMUP_MS, CEILING_MS);
    const txn3wide = await ceiling.txn3(N, WARMUP_MS / 2, 2000);
    const commit5 = await ceiling.commit5(CEILING_CLIENTS, WARMUP_MS / 2, 2000);
    const inbox1 = await ceiling.inbox1(CEILING_CLIENTS, WARMUP_MS / 2, 2000);
    const ceilingRss = { self: sampler.phaseSelf, child: sampler.phaseChild };

    // --- 3. engine ---
    await runEngine(az, sampler, { label: 'warmup', orchestrator: 'benchChain', n: 10, k: 3, orch: PRIMARY.orch, act: PRIMARY.act }); // JIT + connections; not reported
    const runs: EngineRun[] = [];
    for (const st of SETTINGS) runs.push(await runEngine(az, sampler, { label: `chain-${st.orch}x${st.act}`, orchestrator: 'benchChain', n: N, k: K, orch: st.orch, act: st.act }));
    if (FANOUT) runs.push(await runEngine(az, sampler, { label: `fanout-${PRIMARY.orch}x${PRIMARY.act}`, orchestrator: 'benchFanOut', n: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act }));
    // Back-to-back pairs (short ceiling, then the primary engine run): other processes on the machine
    // load both halves of a pair alike, so the per-pair ratio is steadier than one long-apart ratio.
    const pairs: Array<{ ceiling: CeilingResult; engine: EngineRun; ratio: number }> = [];
    for (let i = 0; i < PAIRS; i++) {
      const c = await ceiling.txn3(CEILING_CLIENTS, WARMUP_MS / 2, 1500);
      const e = await runEngine(az, sampler, { label: `pair${i + 1}`, orchestrator: 'benchChain', n: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act });
      pairs.push({ ceiling: c, engine: e, ratio: e.stepsPerSec / c.perSec });
    }
    const profiled = PROFILE
      ? await runEngine(az, sampler, { label: `chain-${PRIMARY.orch}x${PRIMARY.act}-profiled`, orchestrator: 'benchChain', n: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act, profile: true })
      : undefined;

    // --- 4. report ---
    console.log(`\n## Azurite ceiling (closed loop, ${WARMUP_MS / 1000} s warm-up + ${CEILING_MS / 1000} s measured for the first three, 0.5 s + 2 s for the others)`);
    const ceilingRow = (name: string, c: CeilingResult) => [name, f0(c.clients), f0(c.perSec), f0(c.entitiesPerSec), f2(c.p50), f2(c.p99), f0(c.cpu.selfPct), f0(c.cpu.childPct), f0(c.cpu.othersPct)];
    console.log(
      table([
        ['workload', 'clients', 'ops/s', 'entities/s', 'p50 ms', 'p99 ms', 'CPU bench %', 'CPU Azurite %', 'CPU others %'],
        ceilingRow('3-entity txn (2 rows + sentinel) on <Hub>History', txn3),
        ceilingRow('single-entity upsert on <Hub>Instances', upsert),
        ceilingRow('engine-step replica (inbox txn + 6-entity txn + upsert)', replica),
        ceilingRow('3-entity txn, as many clients as engine instances', txn3wide),
        ceilingRow('5-entity txn (4 rows + sentinel): a step commit without inbox', commit5),
        ceilingRow('1-entity txn (an inbox row, as putInbox writes it)', inbox1),
      ]),
    );
    console.log(`peak RSS during the ceiling phase: bench ${mb(ceilingRss.self)}, Azurite ${mb(ceilingRss.child)}`);

    console.log('\n## Engine runs');
    for (const r of runs) printRun(r);
    if (profiled) printRun(profiled);

    console.log(`\n## Back-to-back pairs: 3-entity txn ceiling (${CEILING_CLIENTS} clients, 1.5 s) then benchChain ${N}×${K} at ${PRIMARY.orch}/${PRIMARY.act}`);
    console.log(
      table([
        ['pair', 'ceiling txn/s', 'CPU others % (ceiling)', 'engine steps/s', 'CPU engine %', 'CPU Azurite %', 'CPU others % (engine)', 'ratio'],
        ...pairs.map((p, i) => [
          String(i + 1),
          f0(p.ceiling.perSec),
          f0(p.ceiling.cpu.othersPct),
          f1(p.engine.stepsPerSec),
          f0(p.engine.cpu.selfPct),
          f0(p.engine.cpu.childPct),
          f0(p.engine.cpu.othersPct),
          f2(p.ratio),
        ]),
      ]),
    );

    // CPU time per operation does not depend on how much CPU other processes took, so it gives a
    // contention-free view: with a core each, a closed loop runs at 1000 / (the busier side's ms per op).
    const perOp = (pctOfCore: number, opsPerSec: number) => ((pctOfCore / 100) * 1000) / opsPerSec;
    const sumCpu = (xs: Array<{ cpu: CpuReading; rate: number }>, side: 'selfPct' | 'childPct') =>
      xs.reduce((a, x) => a + (x.cpu[side] / 100) * 1000, 0) / xs.reduce((a, x) => a + x.rate, 0);
    const ceilingSamples = [txn3, ...pairs.map((p) => p.ceiling)].map((c) => ({ cpu: c.cpu, rate: c.perSec }));
    const engineSamples = [runs[0], ...pairs.map((p) => p.engine)].map((r) => ({ cpu: r.cpu, rate: r.stepsPerSec }));
    const cClient = sumCpu(ceilingSamples, 'selfPct');
    const cAzurite = sumCpu(ceilingSamples, 'childPct');
    const eEngine = sumCpu(engineSamples, 'selfPct');
    const eAzurite = sumCpu(engineSamples, 'childPct');
    const projCeiling = 1000 / Math.max(cClient, cAzurite);
    const projEngine = 1000 / Math.max(eEngine, eAzurite);
    console.log('\n## CPU time per operation (independent of other load on the machine)');
    console.log(
      table([
        ['operation', 'client/engine process ms CPU', 'Azurite ms CPU', 'projected ops/s with one core each'],
        ['3-entity txn (ceiling)', f2(cClient), f2(cAzurite), f0(projCeiling)],
        ...([
          ['single-entity upsert', upsert],
          ['1-entity txn (inbox row)', inbox1],
          ['5-entity txn (step commit without inbox)', commit5],
          ['engine-step replica (storage only)', replica],
        ] as Array<[string, CeilingResult]>).map(([name, c]) => [name, f2(perOp(c.cpu.selfPct, c.perSec)), f2(perOp(c.cpu.childPct, c.perSec)), f0(1000 / Math.max(perOp(c.cpu.selfPct, c.perSec), perOp(c.cpu.childPct, c.perSec)))]),
        ['engine chain step', f2(eEngine), f2(eAzurite), f0(projEngine)],
      ]),
    );

    const primary = runs[0];
    const chainRuns = [primary, ...runs.slice(1).filter((r) => r.orchestrator === 'benchChain'), ...pairs.map((p) => p.engine)];
    const best = chainRuns.reduce((a, b) => (b.stepsPerSec > a.stepsPerSec ? b : a));
    const medianPair = [...pairs].sort((a, b) => a.ratio - b.ratio)[Math.floor(pairs.length / 2)];
    const ratio = primary.stepsPerSec / txn3.perSec;
    const verdictRatio = medianPair ? medianPair.ratio : ratio;
    const all = (f: (r: EngineRun) => number[]) => [primary, ...pairs.map((p) => p.engine)].flatMap(f);
    const dispatchStats = all((r) => r.statsDispatch);
    const dispatch = all((r) => r.series.dispatch);
    const endToCommit = all((r) => r.series.endToCommit);
    const perStep = primary.meter.totalCalls / primary.episodes;
    console.log(`\n## Summary (benchChain, N=${N}, K=${K}, ${PRIMARY.orch}/${PRIMARY.act} slots; latencies pooled over the primary run and the ${PAIRS} pair runs)`);
    console.log(
      table([
        ['figure', 'value'],
        ['machine', `${cores} cores, ${process.version}, Azurite ${readAzuriteVersion()} in memory, bench + Azurite on the same cores`],
        ['Azurite ceiling: 3-entity txn/s (16 clients)', f0(txn3.perSec)],
        [`Azurite: 3-entity txn/s (${N} clients)`, f0(txn3wide.perSec)],
        ['Azurite: single-entity upserts/s (16 clients)', f0(upsert.perSec)],
        ['Azurite: engine-step replica steps/s (16 clients)', f0(replica.perSec)],
        ['engine orchestration steps/s', `${f1(primary.stepsPerSec)} primary run; back-to-back pairs ${pairs.map((p) => f0(p.engine.stepsPerSec)).join(', ')} (median ${f0(medianOf(pairs.map((p) => p.engine.stepsPerSec)))})`],
        ['engine activities/s', `${f1(primary.activitiesPerSec)} primary run; pairs median ${f0(medianOf(pairs.map((p) => p.engine.activitiesPerSec)))}`],
        ['3-entity txn/s in the pairs', `${pairs.map((p) => f0(p.ceiling.perSec)).join(', ')} (median ${f0(medianOf(pairs.map((p) => p.ceiling.perSec)))})`],
        ['best chain run steps/s', `${f1(best.stepsPerSec)} (${best.label}, ${best.orch}/${best.act})`],
        ['activity dispatch p50 / p99, slot wait (engine.stats)', `${f2(pct(dispatchStats, 50))} / ${f2(pct(dispatchStats, 99))} ms`],
        ['activity dispatch p50 / p99, TaskScheduled committed → started', `${f2(pct(dispatch, 50))} / ${f2(pct(dispatch, 99))} ms`],
        ['activity returned → next episode committed p50 / p99', `${f2(pct(endToCommit, 50))} / ${f2(pct(endToCommit, 99))} ms`],
        ['peak RSS, whole run: engine process / Azurite', `${mb(sampler.peakSelf)} / ${mb(sampler.peakChild)}`],
        ['history rows per instance', `${primary.historyRows[0]} (4 per episode × ${primary.k + 1} episodes + sentinel)`],
        ['storage requests per step', `${f2(perStep)} (${f2(primary.meter.totalEntities / primary.episodes)} entities)`],
        ['ratio steps/s ÷ ceiling txn/s (primary run vs 5 s ceiling)', f2(ratio)],
        ['ratio steps/s ÷ ceiling txn/s (median of back-to-back pairs)', f2(verdictRatio)],
        ['ratio steps/s ÷ engine-step replica steps/s', f2(primary.stepsPerSec / replica.perSec)],
        ['ratio projected from CPU time per op (one core each)', f2(projEngine / projCeiling)],
        ['engine process CPU per step / Azurite CPU per step', `${f2(eEngine)} / ${f2(eAzurite)} ms`],
      ]),
    );
    console.log(
      `\nVERDICT: engine/ceiling = ${f2(verdictRatio)} (median of ${pairs.length} back-to-back pairs; primary run ${f2(ratio)}) ` +
        `${verdictRatio >= 0.5 ? '≥ 0.5 — acceptance met' : '< 0.5 — acceptance NOT met'}; CPU-time projection ${f2(projEngine / projCeiling)}. ` +
        `One engine step costs ${f2(perStep)} storage requests vs the ceiling's 1 request of 3 entities; ` +
        `per step the engine process burns ${f2(eEngine)} ms CPU and Azurite ${f2(eAzurite)} ms, against ${f2(cClient)} / ${f2(cAzurite)} ms for a ceiling txn: ` +
        `the bound is CPU on ${Math.abs(eEngine - eAzurite) / Math.max(eEngine, eAzurite) < 0.15 ? 'both sides (each near one core)' : eEngine > eAzurite ? 'the engine process (one Node event loop)' : 'the Azurite process'}, ` +
        `and a step costs Azurite ${f1(eAzurite / cAzurite)}× a 3-entity txn because it is ${f2(perStep)} requests, not 1.`,
    );
    const busiest = Math.max(txn3.cpu.othersPct, ...engineSamples.map((x) => x.cpu.othersPct));
    if (busiest > 50) console.log(`NOTE: other processes used up to ${f0(busiest)} % of a core during measured phases; wall-clock rates are depressed and noisy, the CPU-per-op figures are not.`);
    console.log(`\nbench finished in ${f1((performance.now() - began) / 1000)} s`);
  } catch (err) {
    console.error('bench failed:', err);
    exitCode = 1;
  } finally {
    sampler.stop();
    await az.stop();
  }
  // startAzurite leaves its 30 s readiness timer armed (local/azurite.ts), which would hold the process open.
  process.exit(exitCode);
}

function readAzuriteVersion(): string {
  try {
    return (JSON.parse(readFileSync(require.resolve('azurite/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

void main();
