/**
 * `npm run bench` — the embedded durable engine against baselines measured in the same run. Not a test: it
 * prints figures (and writes bench/results-engine.json).
 *
 *  1. SQLite ceiling: exactly the store writes the engine makes for the workload, with nothing of the engine
 *     around them — per instance `DurableStore.createInstance`, then one `commitEpisode` per orchestration step
 *     with the history events a real run recorded (4 rows), the consumed start message deleted, the instance row
 *     updated — issued by N concurrent "instances" through `SqliteDatabase.write` (group commit), and, for
 *     reference, by one client (every commit carries one write). Same durability setting as the engine
 *     (WAL, WORKSHOP_SQLITE_SYNC, default FULL). An activity result costs no write of its own: the engine holds
 *     it in memory and it becomes durable with the episode that consumes it (engine.ts acceptResult).
 *  2. Engine: `startLocalHost` on a fresh store, `benchChain` (K activities in sequence): W workflows, at most
 *     N in flight (the DBOS peer's workload). A step = one orchestrator episode = one episode commit, the
 *     ceiling's unit. Back-to-back ceiling/engine pairs give the ratio; one pass is CPU-profiled.
 *  3. Peer: DBOS Transact on a throwaway PostgreSQL (bench/dbos, `runDbosPeer`), same W × K, N in flight.
 *  4. Memory of the whole local stack (`local/start.ts` as a child process group, own data directory): idle,
 *     then with a 200-learner `drill` run, every learner driven part-way through the workshop API.
 *
 * Knobs: BENCH_K (10), BENCH_N (50), BENCH_WORKFLOWS (500), BENCH_SETTINGS ("16/16,50/50" = orchestrator/
 * activity slots; the first, host.json's, is the one paired with the ceiling), BENCH_PAIRS (3), BENCH_CEILING_SECONDS (3),
 * BENCH_PROFILE (1), BENCH_PEER (1), BENCH_STACK (1), BENCH_STACK_LEARNERS (200), BENCH_STACK_STEP
 * ("design-review/awaitingReview"), BENCH_STACK_CONCURRENCY (25), WORKSHOP_SQLITE_SYNC (FULL).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import type * as df from 'durable-functions';
import pino from 'pino';
import { runDbosPeer, type DbosPeerResult } from '../../bench/dbos/peer';
import { WorkshopApi } from '../../cli/apiClient';
import { freePort } from '../../local/ports';
import { EventType, type HistoryEvent } from '../../local/durable/history';
import type { FunctionDef } from '../../local/durable/functions';
import { DurableStore, type InboxMessage, type InstanceRow, type InstanceUpdate } from '../../local/durable/store';
import { startLocalHost, type LocalHost } from '../../local/host';
import { syncModeSetting, type SqliteDatabase } from '../../storage/sqlite';
import { HostProcess, REPO } from '../crash/harness';
import { openTestDatabase } from '../helpers/database';
import { LearnerDriver } from '../workshop/learnerDriver';
import { f0, f1, f2, groupMemory, load, machineBusySeconds, mb, median, pct, sleep, table, type ProcMemory } from './kit';

// ---- configuration ------------------------------------------------------------------------------

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}
const envOn = (name: string) => process.env[name] !== '0';

const K = envInt('BENCH_K', 10);
const N = envInt('BENCH_N', 50);
const WORKFLOWS = Math.max(envInt('BENCH_WORKFLOWS', 500), N);
const PAIRS = envInt('BENCH_PAIRS', 3);
const CEILING_MS = envInt('BENCH_CEILING_SECONDS', 3) * 1000;
const WARMUP_MS = 1000;
const PROFILE = envOn('BENCH_PROFILE');
const PEER = envOn('BENCH_PEER');
const STACK = envOn('BENCH_STACK');
const STACK_LEARNERS = envInt('BENCH_STACK_LEARNERS', 200);
const [STACK_STEP, STACK_STATE] = (process.env.BENCH_STACK_STEP || 'design-review/awaitingReview').split('/') as [string, string | undefined];
const STACK_CONCURRENCY = envInt('BENCH_STACK_CONCURRENCY', 25);
const SYNC = syncModeSetting();
const SETTINGS: Array<{ orch: number; act: number }> = (process.env.BENCH_SETTINGS || '16/16,50/50')
  .split(',')
  .map((s) => s.trim().split('/').map(Number))
  .filter((p) => p.length === 2 && p.every((x) => Number.isInteger(x) && x > 0))
  .map(([orch, act]) => ({ orch: orch!, act: act! }));
if (SETTINGS.length === 0) SETTINGS.push({ orch: 16, act: 16 });
const PRIMARY = SETTINGS[0]!;
const RUN_DEADLINE_MS = 180_000;
const RESULTS_FILE = path.join(REPO, 'bench', 'results-engine.json');

// ---- small utilities ----------------------------------------------------------------------------

interface CpuReading {
  /** CPU of this process (engine, store, harness: one process) and of everything else, % of one core. */
  selfPct: number;
  othersPct: number;
  /** CPU ms this process spent per operation — what other load on the machine does not move. */
  selfMsTotal: number;
  /** Event-loop utilisation of this process (0..1): node:sqlite and its fsync run on the event loop. */
  elu: number;
}

/** CPU use over a phase. Other engineers' work shares the cores, so "others" is reported too. */
class CpuMeter {
  private readonly self0 = process.cpuUsage();
  private readonly machine0 = machineBusySeconds();
  private readonly t0 = performance.now();
  private readonly elu0 = performance.eventLoopUtilization();
  read(): CpuReading {
    const wall = (performance.now() - this.t0) / 1000;
    const u = process.cpuUsage(this.self0);
    const self = (u.user + u.system) / 1e6;
    const machine = machineBusySeconds() - this.machine0;
    return { selfPct: (self / wall) * 100, othersPct: Math.max(0, ((machine - self) / wall) * 100), selfMsTotal: self * 1000, elu: performance.eventLoopUtilization(this.elu0).utilization };
  }
}

function sqliteVersion(db: SqliteDatabase): string {
  return (db.db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
}

/** A fresh store in its own temporary directory, at the run's durability setting. */
function freshStore(): ReturnType<typeof openTestDatabase> {
  return openTestDatabase({ synchronous: SYNC });
}

/** Time the event loop spends in COMMIT (the WAL append and, at FULL, its fsync): node:sqlite runs it on the main thread. */
interface CommitMeter {
  commits: number;
  ms: number;
}
function meterCommits(database: SqliteDatabase): CommitMeter {
  const m: CommitMeter = { commits: 0, ms: 0 };
  const db = database.db;
  const exec = db.exec.bind(db);
  // Bench instrumentation on this connection object only.
  // Named so the CPU profile charges the native exec under it (BEGIN, SAVEPOINT, COMMIT + fsync) to the group commit.
  (db as { exec: (sql: string) => void }).exec = function meteredExec(sql: string) {
    if (sql !== 'COMMIT') return exec(sql);
    const t = performance.now();
    try {
      return exec(sql);
    } finally {
      m.commits++;
      m.ms += performance.now() - t;
    }
  };
  return m;
}

function storeBytes(dataDir: string): number {
  let total = 0;
  for (const f of readdirSync(dataDir)) if (f.startsWith('workshop.db')) total += statSync(path.join(dataDir, f)).size;
  return total;
}

// ---- the workload --------------------------------------------------------------------------------

function* benchChain(context: df.OrchestrationContext): Generator<df.Task, number, unknown> {
  const k = Number(context.df.getInput());
  let x = 0;
  for (let i = 0; i < k; i++) x = (yield context.df.callActivity('benchInc', x)) as number;
  return x;
}

function benchInc(input: unknown): number {
  return (typeof input === 'number' ? input : Number(input)) + 1;
}

const benchFunctions: FunctionDef[] = [
  { kind: 'orchestration', name: 'benchChain', handler: benchChain },
  { kind: 'activity', name: 'benchInc', handler: benchInc },
];

// ---- 1. the SQLite ceiling -----------------------------------------------------------------------

/** What the engine wrote for one benchChain instance: its history split into episodes (each one commit). */
interface EpisodeTemplate {
  name: string;
  input: string;
  output: string;
  episodes: HistoryEvent[][];
}

function templateFrom(history: HistoryEvent[], input: string, output: string): EpisodeTemplate {
  const episodes: HistoryEvent[][] = [];
  let current: HistoryEvent[] = [];
  for (const e of history) {
    current.push(e);
    if (e.EventType === EventType.OrchestratorCompleted) {
      episodes.push(current);
      current = [];
    }
  }
  if (current.length || episodes.length !== K + 1) throw new Error(`the template instance's history does not split into ${K + 1} episodes (got ${episodes.length}, ${current.length} events left over)`);
  return { name: 'benchChain', input, output, episodes };
}

interface CeilingResult {
  label: string;
  clients: number;
  measuredMs: number;
  steps: number;
  stepsPerSec: number;
  /** All store writes (instance creations + episode commits) per second: the transactions callers asked for. */
  writesPerSec: number;
  rowsPerSec: number;
  commitsPerSec: number;
  writesPerCommit: number;
  p50: number;
  p99: number;
  cpu: CpuReading;
  cpuMsPerStep: number;
  /** Mean time of one COMMIT (WAL write + fsync), and the share of the window the event loop spent in COMMIT. */
  commitMs: number;
  commitShare: number;
}

let ceilingCounter = 0;

/**
 * `clients` concurrent instances, each: createInstance, then every episode of the template through
 * commitEpisode (the first consumes the start message), then a new instance. Closed loop for warmMs +
 * measureMs; what completes inside the measured window counts.
 */
async function ceiling(label: string, tpl: EpisodeTemplate, clients: number, warmMs: number, measureMs: number): Promise<CeilingResult> {
  const { database, dispose } = freshStore();
  try {
    const store = new DurableStore(database, 'BenchCeiling');
    await store.init();
    const meter = meterCommits(database);
    let meter0 = { ...meter };
    let meter1: CommitMeter | undefined;
    const start = performance.now();
    const from = start + warmMs;
    const to = from + measureMs;
    let steps = 0;
    let writes = 0;
    let rows = 0;
    const latencies: number[] = [];
    let cpu: CpuMeter | undefined;
    let stats0 = { commits: 0, writes: 0 };
    let stats1: { commits: number; writes: number } | undefined;
    let t0 = from;
    let t1 = to;
    const inWindow = (t: number) => t >= from && t <= to;
    const opened = () => {
      if (cpu || performance.now() < from) return;
      cpu = new CpuMeter();
      stats0 = { ...database.stats };
      meter0 = { ...meter };
      t0 = performance.now();
    };
    let reading: CpuReading | undefined;
    const closed = () => {
      if (stats1 || performance.now() < to) return;
      stats1 = { ...database.stats };
      meter1 = { ...meter };
      t1 = performance.now();
      reading = cpu?.read();
    };
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < to) {
          const id = `ceil-${++ceilingCounter}`;
          const executionId = `x${ceilingCounter}`;
          const now = new Date();
          const row: InstanceRow = { instanceId: id, name: tpl.name, executionId, runtimeStatus: 'Pending', createdTime: now, lastUpdatedTime: now, input: tpl.input };
          const startMsg: InboxMessage = { key: `start-${executionId}`, seq: ceilingCounter, executionId, event: { ...tpl.episodes[0]!.find((e) => e.EventType === EventType.ExecutionStarted)!, Input: tpl.input } };
          opened();
          let t = performance.now();
          await store.createInstance(row, startMsg);
          if (inWindow(t) && inWindow(performance.now())) {
            writes++;
            rows += 2;
          }
          let seq = 0;
          for (let i = 0; i < tpl.episodes.length; i++) {
            const events = tpl.episodes[i]!;
            const last = i === tpl.episodes.length - 1;
            const update: InstanceUpdate = {
              executionId,
              runtimeStatus: last ? 'Completed' : 'Running',
              lastUpdatedTime: new Date(),
              completedTime: last ? new Date() : undefined,
              output: last ? tpl.output : undefined,
              ...(i === 0 ? { input: { value: tpl.input } } : {}),
            };
            opened();
            closed();
            t = performance.now();
            await store.commitEpisode({ instanceId: id, executionId, from: seq, expectedCount: seq, events, consumedInbox: i === 0 ? [startMsg.key] : [], instance: update });
            const done = performance.now();
            seq += events.length;
            if (inWindow(t) && inWindow(done)) {
              steps++;
              writes++;
              rows += events.length + 1 + (i === 0 ? 1 : 0);
              latencies.push(done - t);
            }
            if (done >= to) break;
          }
        }
        closed();
      }),
    );
    closed();
    const measuredMs = t1 - t0;
    const s1 = stats1 ?? database.stats;
    const commits = s1.commits - stats0.commits;
    const sec = measureMs / 1000;
    const r = reading ?? { selfPct: NaN, othersPct: NaN, selfMsTotal: NaN, elu: NaN };
    return {
      label,
      clients,
      measuredMs,
      steps,
      stepsPerSec: steps / sec,
      writesPerSec: writes / sec,
      rowsPerSec: rows / sec,
      commitsPerSec: commits / (measuredMs / 1000),
      writesPerCommit: (s1.writes - stats0.writes) / commits,
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      cpu: r,
      cpuMsPerStep: r.selfMsTotal / steps,
      commitMs: ((meter1 ?? meter).ms - meter0.ms) / ((meter1 ?? meter).commits - meter0.commits),
      commitShare: ((meter1 ?? meter).ms - meter0.ms) / measuredMs,
    };
  } finally {
    await dispose();
  }
}

// ---- 2. the engine -------------------------------------------------------------------------------

interface ProfileSummary {
  totalMs: number;
  byCategory: Array<[string, number]>;
  topFunctions: Array<[string, number]>;
}

interface EngineRun {
  label: string;
  workflows: number;
  inFlight: number;
  k: number;
  orch: number;
  act: number;
  wallMs: number;
  episodes: number;
  activities: number;
  stepsPerSec: number;
  activitiesPerSec: number;
  workflowsPerSec: number;
  commits: number;
  writes: number;
  commitsPerSec: number;
  writesPerCommit: number;
  writesPerStep: number;
  commitLatencyP50: number;
  commitLatencyP99: number;
  dispatchP50: number;
  dispatchP99: number;
  maxEpisodesInFlight: number;
  cpu: CpuReading;
  cpuMsPerStep: number;
  commitMs: number;
  commitShare: number;
  peakRss: number;
  storeBytes: number;
  template?: EpisodeTemplate;
  profile?: ProfileSummary;
}

let runCounter = 0;

/**
 * W benchChain workflows with at most `inFlight` running: a workflow that completes starts the next (the DBOS
 * peer's shape). Completion is seen where the engine records it — the episode commit that writes the instance
 * row as Completed — so the harness does not poll.
 */
async function runEngine(opts: { label: string; workflows: number; inFlight: number; k: number; orch: number; act: number; profile?: boolean; keepTemplate?: boolean }): Promise<EngineRun> {
  const { database, dataDir, dispose } = freshStore();
  const hubName = `Bench${++runCounter}`;
  const hostJson = { version: '2.0', extensions: { durableTask: { hubName, maxConcurrentOrchestratorFunctions: opts.orch, maxConcurrentActivityFunctions: opts.act } } };
  let host: LocalHost | undefined;
  try {
    host = await startLocalHost({ database, functions: benchFunctions, port: 0, hostJson, logger: pino({ level: 'silent' }) });
    const meter = meterCommits(database);
    const { engine, store } = host;
    const expected = JSON.stringify(opts.k);
    const commitLatencies: number[] = [];
    let started = 0;
    let done = 0;
    let firstDone = '';
    let settle!: (err?: Error) => void;
    const finished = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    const startOne = () => {
      const i = started++;
      engine.startNew('benchChain', { instanceId: `${hubName}-${i}`, input: String(opts.k) }).catch((err: unknown) => settle(err as Error));
    };
    // Bench instrumentation on this host's store object only (the product's code is unchanged).
    const commit = store.commitEpisode.bind(store);
    store.commitEpisode = async (args) => {
      const t = performance.now();
      await commit(args);
      commitLatencies.push(performance.now() - t);
      const status = args.instance.runtimeStatus;
      if (status === 'Completed') {
        if (args.instance.output !== expected) settle(new Error(`instance ${args.instanceId} returned ${args.instance.output}, expected ${expected}`));
        firstDone ||= args.instanceId;
        done++;
        if (started < opts.workflows) startOne();
        if (done === opts.workflows) settle();
      } else if (status === 'Failed' || status === 'Terminated') {
        settle(new Error(`instance ${args.instanceId} ended ${status}: ${args.instance.output}`));
      }
    };

    let session: Session | undefined;
    if (opts.profile) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    }
    const ep0 = engine.stats.episodes;
    const act0 = engine.stats.activitiesRun;
    const lat0 = engine.stats.activityDispatchLatenciesMs.length;
    const stats0 = { ...database.stats };
    const meter0 = { ...meter };
    let peakRss = process.memoryUsage().rss;
    const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const cpu = new CpuMeter();
    const t0 = performance.now();
    const deadline = setTimeout(() => settle(new Error(`${opts.workflows - done} of ${opts.workflows} workflows did not complete within ${RUN_DEADLINE_MS / 1000} s`)), RUN_DEADLINE_MS);
    for (let i = 0; i < Math.min(opts.inFlight, opts.workflows); i++) startOne();
    try {
      await finished;
    } finally {
      clearTimeout(deadline);
      clearInterval(rssTimer);
    }
    const wallMs = performance.now() - t0;
    const usage = cpu.read();
    const stats1 = { ...database.stats };
    const meter1 = { ...meter };
    let profile: ProfileSummary | undefined;
    if (session) {
      const { profile: p } = await session.post('Profiler.stop');
      session.disconnect();
      profile = summariseProfile(p as unknown as RawProfile);
    }
    await engine.idle();
    const episodes = engine.stats.episodes - ep0;
    const activities = engine.stats.activitiesRun - act0;
    const commits = stats1.commits - stats0.commits;
    const writes = stats1.writes - stats0.writes;
    const dispatch = engine.stats.activityDispatchLatenciesMs.slice(lat0);
    let template: EpisodeTemplate | undefined;
    if (opts.keepTemplate) {
      const input = (await store.getInstance(firstDone))?.input ?? String(opts.k);
      template = templateFrom((await store.loadPartition(firstDone)).history, input, expected);
    }
    return {
      label: opts.label,
      workflows: opts.workflows,
      inFlight: opts.inFlight,
      k: opts.k,
      orch: opts.orch,
      act: opts.act,
      wallMs,
      episodes,
      activities,
      stepsPerSec: episodes / (wallMs / 1000),
      activitiesPerSec: activities / (wallMs / 1000),
      workflowsPerSec: opts.workflows / (wallMs / 1000),
      commits,
      writes,
      commitsPerSec: commits / (wallMs / 1000),
      writesPerCommit: writes / commits,
      writesPerStep: writes / episodes,
      commitLatencyP50: pct(commitLatencies, 50),
      commitLatencyP99: pct(commitLatencies, 99),
      dispatchP50: pct(dispatch, 50),
      dispatchP99: pct(dispatch, 99),
      maxEpisodesInFlight: engine.stats.maxEpisodesInFlight,
      cpu: usage,
      cpuMsPerStep: usage.selfMsTotal / episodes,
      commitMs: (meter1.ms - meter0.ms) / (meter1.commits - meter0.commits),
      commitShare: (meter1.ms - meter0.ms) / wallMs,
      peakRss,
      storeBytes: storeBytes(dataDir),
      template,
      profile,
    };
  } finally {
    await host?.close();
    await dispose();
  }
}

// ---- CPU profile: where the process spends its time ----------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface RawProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

function categoryOf(url: string, fn: string): string | undefined {
  if (fn === '(idle)') return 'idle (nothing to run)';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'native / V8 (program)';
  if (url === '') return undefined; // a builtin or native call (JSON, node:sqlite's run/exec incl. fsync): charged to its caller
  if (url === 'node:inspector' || url.startsWith('node:internal/inspector')) return 'profiler itself';
  if (url.includes('/durable-functions/')) return 'durable-functions SDK (replay)';
  if (url.includes('/storage/sqlite.ts') || fn === 'meteredExec') return 'group commit: BEGIN/COMMIT + fsync (storage/sqlite.ts)';
  if (url.includes('/local/durable/store.ts')) return 'episode SQL: statements + JSON (local/durable/store.ts)';
  if (url.includes('/@azure/functions/')) return '@azure/functions (InvocationContext)';
  if (url.includes('/local/durable/')) return 'engine (local/durable)';
  if (url.includes('/local/')) return 'local host';
  if (url.includes('/tests/bench/')) return 'bench harness + activity';
  if (url.startsWith('node:')) return 'Node core (timers, promises, http)';
  if (url.includes('/node_modules/')) return 'other npm packages';
  return 'other';
}

function summariseProfile(p: RawProfile): ProfileSummary {
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
  for (let i = 0; i < samples.length; i++) self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (deltas[i] ?? 0) / 1000);
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    total += ms;
    const c = resolve(id);
    byCategory.set(c, (byCategory.get(c) ?? 0) + ms);
    const n = byId.get(id)!;
    if (!['(idle)', '(program)', '(garbage collector)', '(root)'].includes(n.callFrame.functionName)) {
      const where = n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(local|storage|tests|orchestrations|activities)\//, '$1/');
      const key = `${n.callFrame.functionName || '(anonymous)'} ${where ? `${where}:${n.callFrame.lineNumber + 1}` : `(native, called from ${resolve(id)})`}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    }
  }
  return { totalMs: total, byCategory: [...byCategory].sort((a, b) => b[1] - a[1]), topFunctions: [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15) };
}

// ---- 4. memory of the whole stack ----------------------------------------------------------------

interface StackMemory {
  learners: number;
  target: string;
  idle: ProcMemory;
  mid: ProcMemory;
  peakRssSampled: number;
  reached: number;
  startRunMs: number;
  driveMs: number;
  storeBytes: number;
  instances: number;
}

async function stackMemory(log: (line: string) => void): Promise<StackMemory> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-stack-'));
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const keys = { instructor: `bench-instructor-${process.pid}-0123456789abcdef`, learner: `bench-learner-signing-${process.pid}-0123456789abcdef` };
  const packsDir = path.join(REPO, 'tests', 'workshop', 'packs');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    WORKSHOP_DATA_DIR: dataDir,
    WORKSHOP_SQLITE_SYNC: SYNC,
    INSTRUCTOR_API_KEY: keys.instructor,
    LEARNER_API_KEY: keys.learner,
    SCENARIO_PACKS_DIR: packsDir,
    LOG_LEVEL: 'warn',
  };
  for (const k of ['ARM_ENDPOINT', 'ARM_TOKEN', 'ARM_CA_CERT', 'LEARNER_SUBSCRIPTION_ID', 'BOT_APP_ID', 'AzureWebJobsStorage']) delete env[k];
  process.env.SCENARIO_PACKS_DIR = packsDir; // the learner drivers read the same pack
  const stack = new HostProcess(env, path.join(dir, 'stack-stderr.log'), path.join(REPO, 'local', 'start.ts'), { ready: 'local stack is up', group: true });
  let peak = 0;
  let sampler: NodeJS.Timeout | undefined;
  let ok = false;
  try {
    await stack.start();
    const pgid = stack.child!.pid!;
    const api = new WorkshopApi({ url: `http://127.0.0.1:${port}`, instructorKey: keys.instructor });
    await api.scenarios(); // one request served: the stack as a user first sees it
    await sleep(1000);
    const idle = groupMemory(pgid);
    log(`stack idle: RSS ${mb(idle.rss)} (peak so far ${mb(idle.hwm)}), ${idle.processes} process(es); starting a ${STACK_LEARNERS}-learner drill run`);
    sampler = setInterval(() => (peak = Math.max(peak, groupMemory(pgid).rss)), 500);
    const roster = Array.from({ length: STACK_LEARNERS }, (_, i) => ({ name: `Learner ${i + 1}`, email: `l${i + 1}@example.com`, learnerId: `l${i + 1}` }));
    const t0 = performance.now();
    await api.startRun({ runId: 'bench', scenario: 'drill', roster, instructors: ['ian'], timeScale: 1 });
    const startRunMs = performance.now() - t0;
    const drivers = await Promise.all(roster.map((r) => LearnerDriver.create(api, 'bench', r.learnerId, 'drill')));
    for (const d of drivers) d.approveReviews = false;
    let next = 0;
    let reached = 0;
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: STACK_CONCURRENCY }, async () => {
        while (next < drivers.length) {
          const d = drivers[next++]!;
          await d.walkTo(STACK_STEP, STACK_STATE ?? 'awaitingLearner', 240_000);
          reached++;
          if (reached % 50 === 0) log(`  ${reached}/${drivers.length} learners at ${STACK_STEP} (${f0((performance.now() - t1) / 1000)} s)`);
        }
      }),
    );
    const driveMs = performance.now() - t1;
    const mid = groupMemory(pgid);
    clearInterval(sampler);
    peak = Math.max(peak, mid.rss);
    const status = await api.runStatus('bench');
    ok = true;
    return {
      learners: STACK_LEARNERS,
      target: `${STACK_STEP} (${STACK_STATE ?? 'awaitingLearner'})`,
      idle,
      mid,
      peakRssSampled: peak,
      reached,
      startRunMs,
      driveMs,
      storeBytes: storeBytes(dataDir),
      instances: status.learners.length,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    await stack.kill9().catch(() => undefined);
    if (ok) rmSync(dir, { recursive: true, force: true });
    else log(`stack phase failed; its stderr and data are kept in ${dir}`);
  }
}

// ---- report --------------------------------------------------------------------------------------

function printCeiling(rows: CeilingResult[]): void {
  console.log(
    table([
      ['workload', 'clients', 'steps/s', 'txn/s', 'rows/s', 'commits/s', 'writes/commit', 'COMMIT ms', 'in COMMIT %', 'write p50/p99 ms', 'CPU ms/step', 'CPU self %', 'CPU others %'],
      ...rows.map((c) => [
        c.label,
        f0(c.clients),
        f0(c.stepsPerSec),
        f0(c.writesPerSec),
        f0(c.rowsPerSec),
        f0(c.commitsPerSec),
        f1(c.writesPerCommit),
        f2(c.commitMs),
        f0(c.commitShare * 100),
        `${f1(c.p50)}/${f1(c.p99)}`,
        f2(c.cpuMsPerStep),
        f0(c.cpu.selfPct),
        f0(c.cpu.othersPct),
      ]),
    ]),
  );
}

function printEngine(runs: EngineRun[]): void {
  console.log(
    table([
      ['run', 'slots o/a', 'wall s', 'steps/s', 'activities/s', 'workflows/s', 'commits/s', 'writes/commit', 'writes/step', 'COMMIT ms', 'in COMMIT %', 'episode write p50/p99 ms', 'CPU ms/step', 'CPU self %', 'CPU others %', 'peak RSS'],
      ...runs.map((r) => [
        r.label,
        `${r.orch}/${r.act}`,
        f1(r.wallMs / 1000),
        f0(r.stepsPerSec),
        f0(r.activitiesPerSec),
        f0(r.workflowsPerSec),
        f0(r.commitsPerSec),
        f1(r.writesPerCommit),
        f2(r.writesPerStep),
        f2(r.commitMs),
        f0(r.commitShare * 100),
        `${f1(r.commitLatencyP50)}/${f1(r.commitLatencyP99)}`,
        f2(r.cpuMsPerStep),
        f0(r.cpu.selfPct),
        f0(r.cpu.othersPct),
        mb(r.peakRss),
      ]),
    ]),
  );
}

function printProfile(r: EngineRun): void {
  const pr = r.profile!;
  console.log(`\nCPU profile of the bench process during ${r.label} (${f0(pr.totalMs)} ms sampled over ${f0(r.wallMs)} ms wall; native calls such as node:sqlite's run/exec — and the fsync in COMMIT — are charged to the file that calls them):`);
  console.log(table([['where', 'ms', '% of samples'], ...pr.byCategory.map(([c, ms]) => [c, f0(ms), f1((ms / pr.totalMs) * 100)])]));
  console.log('\nTop self-time functions:');
  console.log(table([['function', 'ms'], ...pr.topFunctions.map(([fn, ms]) => [fn.length > 120 ? fn.slice(0, 117) + '...' : fn, f1(ms)])]));
}

async function main(): Promise<void> {
  const began = performance.now();
  const log = (line: string) => console.log(`[${f1((performance.now() - began) / 1000)} s, load ${load()}] ${line}`);
  const probe = freshStore();
  const sqlite = sqliteVersion(probe.database);
  await probe.dispose();
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? '?'}), ${mb(totalmem())} RAM, node ${process.version}, SQLite ${sqlite}`;
  const loadAtStart = loadavg();
  console.log(`engine bench: ${machine}`);
  console.log(`load average at start: ${load()} (1, 5, 15 min; ${cpus().length} cores — above ${cpus().length} means others are waiting for CPU)`);
  console.log(`store: WAL, synchronous=${SYNC}${process.env.WORKSHOP_SQLITE_SYNC ? ' (WORKSHOP_SQLITE_SYNC)' : ' (default)'}, a fresh file per measurement in ${tmpdir()}`);
  console.log(`workload: benchChain, K=${K} activities in sequence, ${WORKFLOWS} workflows with at most N=${N} in flight; engine slots ${SETTINGS.map((s) => `${s.orch}/${s.act}`).join(', ')} (orchestrator/activity); ${PAIRS} back-to-back pairs`);

  const results: Record<string, unknown> = { date: new Date().toISOString(), machine, loadAtStart, sync: SYNC, k: K, n: N, workflows: WORKFLOWS };
  let exitCode = 0;
  try {
    // --- warm-up (JIT) and the template: what the engine writes, episode by episode ---
    // A full-size warm-up (JIT, allocator). The first reported run, right after the ceiling phase, still tends to run
    // slower than the pairs (cause not established); the verdict uses the pairs.
    log('warm-up engine run (not reported); its first instance is the ceiling\'s template');
    const warm = await runEngine({ label: 'warmup', workflows: WORKFLOWS, inFlight: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act, keepTemplate: true });
    const tpl = warm.template!;
    const rowsPerInstance = 2 + tpl.episodes.reduce((a, e) => a + e.length + 1, 0) + 1;
    console.log(`template: ${tpl.episodes.length} episodes of ${tpl.episodes.map((e) => e.length).join('/')} history rows; per instance ${tpl.episodes.length + 1} store writes, ${rowsPerInstance} rows (inserts, updates, deletes)`);

    // --- 1. ceiling ---
    log(`SQLite ceiling: ${N} concurrent instances, ${WARMUP_MS / 1000} s warm-up + ${CEILING_MS / 1000} s`);
    const ceilGrouped = await ceiling(`episode commits, ${N} instances, group commit`, tpl, N, WARMUP_MS, CEILING_MS);
    const ceilMatched = await ceiling(`episode commits, ${PRIMARY.orch} instances (= orchestrator slots)`, tpl, PRIMARY.orch, WARMUP_MS / 2, CEILING_MS);
    const ceilSingle = await ceiling('episode commits, 1 client (1 write per commit)', tpl, 1, WARMUP_MS / 2, Math.min(CEILING_MS, 2000));

    // --- 2. engine ---
    const runs: EngineRun[] = [];
    for (const st of SETTINGS) {
      log(`engine run at ${st.orch}/${st.act} slots`);
      runs.push(await runEngine({ label: `chain ${st.orch}/${st.act}`, workflows: WORKFLOWS, inFlight: N, k: K, orch: st.orch, act: st.act }));
    }
    // Back-to-back pairs: other processes load both halves of a pair alike, so the pair's ratio is steadier.
    const pairs: Array<{ ceiling: CeilingResult; engine: EngineRun; ratio: number }> = [];
    for (let i = 0; i < PAIRS; i++) {
      log(`pair ${i + 1}/${PAIRS}`);
      const c = await ceiling(`pair ${i + 1}`, tpl, N, WARMUP_MS / 2, Math.min(CEILING_MS, 2000));
      const e = await runEngine({ label: `pair ${i + 1}`, workflows: WORKFLOWS, inFlight: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act });
      pairs.push({ ceiling: c, engine: e, ratio: e.stepsPerSec / c.stepsPerSec });
    }
    let profiled: EngineRun | undefined;
    if (PROFILE) {
      log('CPU-profiled engine run');
      profiled = await runEngine({ label: 'profiled', workflows: WORKFLOWS, inFlight: N, k: K, orch: PRIMARY.orch, act: PRIMARY.act, profile: true });
    }

    // --- 3. peer ---
    let peer: DbosPeerResult | undefined;
    let peerError: string | undefined;
    if (PEER) {
      log(`DBOS peer: ${WORKFLOWS} workflows × ${K} steps, ${N} in flight`);
      try {
        peer = await runDbosPeer({ workflows: WORKFLOWS, steps: K, concurrency: N, log: (l) => log(`  ${l}`) });
      } catch (err) {
        peerError = (err as Error).message;
        log(`DBOS peer failed: ${peerError}`);
      }
    }

    // --- 4. whole stack memory ---
    let stack: StackMemory | undefined;
    let stackError: string | undefined;
    if (STACK) {
      log(`whole-stack memory: local/start.ts as a child, ${STACK_LEARNERS} learners driven to ${STACK_STEP}, ${STACK_CONCURRENCY} at a time`);
      try {
        stack = await stackMemory(log);
      } catch (err) {
        stackError = (err as Error).message;
        log(`stack phase failed: ${stackError}`);
      }
    }

    // --- report ---
    console.log(`\n## SQLite ceiling: the engine's store writes with no engine (DurableStore.createInstance + commitEpisode, synchronous=${SYNC})`);
    printCeiling([ceilGrouped, ceilMatched, ceilSingle, ...pairs.map((p) => p.ceiling)]);
    console.log('txn/s = store writes (one per episode, one per instance creation); a commit is one fsync of the WAL at FULL. Activity results add no write (held in memory until the episode that consumes them commits).');

    console.log(`\n## Engine: startLocalHost on a fresh store, benchChain ${WORKFLOWS} workflows × K=${K}, ${N} in flight`);
    printEngine([...runs, ...pairs.map((p) => p.engine), ...(profiled ? [profiled] : [])]);
    const primary = runs[0]!;
    console.log(`activity dispatch (slot wait) p50/p99 ${f2(primary.dispatchP50)}/${f2(primary.dispatchP99)} ms; at most ${primary.maxEpisodesInFlight} episodes in flight; store file after the run ${mb(primary.storeBytes)}`);
    if (profiled?.profile) printProfile(profiled);

    const pairRatio = median(pairs.map((p) => p.ratio));
    const engineSteps = median(pairs.map((p) => p.engine.stepsPerSec));
    const engineActivities = median(pairs.map((p) => p.engine.activitiesPerSec));
    const ceilingSteps = median(pairs.map((p) => p.ceiling.stepsPerSec));
    const engineCpu = median([primary, ...pairs.map((p) => p.engine)].map((r) => r.cpuMsPerStep));
    const ceilingCpu = median([ceilGrouped, ...pairs.map((p) => p.ceiling)].map((c) => c.cpuMsPerStep));
    // Both sides are bound by commits: steps/s = commits/s × writes per commit ÷ writes per step. The ratio
    // splits into how full the engine's commits are and how many it gets through per second.
    const batching = median(pairs.map((p) => p.engine.writesPerCommit / p.ceiling.writesPerCommit));
    const cadence = median(pairs.map((p) => p.engine.commitsPerSec / p.ceiling.commitsPerSec));
    const wide = runs.find((r) => r.orch >= N);
    const peerRatio = peer ? engineActivities / peer.stepsPerSecond : NaN;

    if (peer) {
      console.log(`\n## Peer: DBOS Transact ${peer.dbosVersion} on PostgreSQL ${peer.postgresVersion} (${Object.entries(peer.settings).map(([k, v]) => `${k}=${v}`).join(', ')})`);
      console.log(
        table([
          ['figure', 'value'],
          ['steps/s (one step = one durable checkpoint)', f0(peer.stepsPerSecond)],
          ['workflows/s', f1(peer.workflowsPerSecond)],
          ['workflow latency p50 / p99', `${f0(peer.p50Ms)} / ${f0(peer.p99Ms)} ms`],
          ['CPU DBOS / PostgreSQL / others, % of a core', `${f0(peer.cpu.dbosPct)} / ${f0(peer.cpu.postgresPct)} / ${f0(peer.cpu.othersPct)}`],
          ['CPU ms per step, DBOS / PostgreSQL', `${f2(peer.cpuMsPerStep.dbos)} / ${f2(peer.cpuMsPerStep.postgres)}`],
          ['PostgreSQL transactions / WAL bytes per step', `${f1(peer.perStep.transactions)} / ${f0(peer.perStep.walBytes)}`],
          ['peak memory, DBOS RSS / PostgreSQL PSS', `${mb(peer.peakMemoryBytes.dbosRss)} / ${mb(peer.peakMemoryBytes.postgresPss)}`],
        ]),
      );
    }
    if (stack) {
      console.log(`\n## Whole local stack (npm start's entry, one process group): ${stack.learners}-learner drill run, every learner driven to ${stack.target}`);
      console.log(
        table([
          ['figure', 'idle (after start, one request)', `mid-run (${stack.reached} learners at ${STACK_STEP})`],
          ['RSS (VmRSS)', mb(stack.idle.rss), mb(stack.mid.rss)],
          ['peak RSS (VmHWM)', mb(stack.idle.hwm), `${mb(stack.mid.hwm)} (sampled every 0.5 s: ${mb(stack.peakRssSampled)})`],
          ['processes in the group (RSS each)', stack.idle.detail, stack.mid.detail],
        ]),
      );
      console.log(`POST /api/runs took ${f0(stack.startRunMs)} ms; driving the learners ${f1(stack.driveMs / 1000)} s; store file mid-run ${mb(stack.storeBytes)}`);
    }

    console.log(`\n## Summary (synchronous=${SYNC}; medians of ${PAIRS} back-to-back pairs; load average now ${load()})`);
    console.log(
      table([
        ['figure', 'value'],
        ['machine', machine],
        ['load average (1, 5, 15 min) at start / now', `${loadAtStart.map((x) => x.toFixed(2)).join(', ')} / ${load()}`],
        [`SQLite ceiling: episode commits/s (${N} instances, group commit)`, `${f0(ceilingSteps)} (longer run: ${f0(ceilGrouped.stepsPerSec)}; ${f0(ceilGrouped.commitsPerSec)} commits/s, ${f1(ceilGrouped.writesPerCommit)} writes/commit, ${f0(ceilGrouped.rowsPerSec)} rows/s)`],
        [`SQLite ceiling at ${PRIMARY.orch} instances / 1 client`, `${f0(ceilMatched.stepsPerSec)} / ${f0(ceilSingle.stepsPerSec)} steps/s (1 client: ${f0(ceilSingle.commitsPerSec)} commits/s, one fsync each)`],
        ['engine: orchestration steps/s (episode commits)', `${f0(engineSteps)} (pairs ${pairs.map((p) => f0(p.engine.stepsPerSec)).join(', ')}; first run ${f0(primary.stepsPerSec)})`],
        ['engine: activities/s', `${f0(engineActivities)} (first run ${f0(primary.activitiesPerSec)})`],
        ['engine: commits/s, writes/commit', `${f0(median(pairs.map((p) => p.engine.commitsPerSec)))}, ${f1(median(pairs.map((p) => p.engine.writesPerCommit)))}`],
        ['**engine ÷ ceiling** (steps/s, median of pairs)', `${f2(pairRatio)} (pairs ${pairs.map((p) => f2(p.ratio)).join(', ')}) — goal ≥ 0.8`],
        ['  = writes per commit ratio × commits/s ratio', `${f2(batching)} × ${f2(cadence)} (writes/commit engine ${f1(median(pairs.map((p) => p.engine.writesPerCommit)))} vs ${f1(median(pairs.map((p) => p.ceiling.writesPerCommit)))}; commits/s ${f0(median(pairs.map((p) => p.engine.commitsPerSec)))} vs ${f0(median(pairs.map((p) => p.ceiling.commitsPerSec)))})`],
        ['engine ÷ ceiling without group commit (1 client, 1 write per commit)', `${f2(engineSteps / ceilSingle.stepsPerSec)} (the shape of the issue's "3,300 three-row transactions/s at FULL")`],
        ['engine ÷ ceiling, same concurrency on both sides', `${f2(primary.stepsPerSec / ceilMatched.stepsPerSec)} (${primary.orch} slots vs ${ceilMatched.clients} instances)${wide ? `; ${f2(wide.stepsPerSec / ceilGrouped.stepsPerSec)} (${wide.orch}/${wide.act} slots vs ${N} instances)` : ''}`],
        ['CPU ms per step, engine vs ceiling (other load does not move it)', `${f2(engineCpu)} vs ${f2(ceilingCpu)}`],
        ['event loop in COMMIT (fsync), engine vs ceiling', `${f0(median(pairs.map((p) => p.engine.commitShare * 100)))} % vs ${f0(median(pairs.map((p) => p.ceiling.commitShare * 100)))} % of the time; ${f2(median(pairs.map((p) => p.engine.commitMs)))} vs ${f2(median(pairs.map((p) => p.ceiling.commitMs)))} ms per COMMIT`],
        ...(peer
          ? [
              ['DBOS peer steps/s', f0(peer.stepsPerSecond)],
              ['**engine activities/s ÷ DBOS steps/s**', `${f2(peerRatio)} — goal ≥ 1.5`],
              ['CPU ms per step: engine (all in one process) vs DBOS + PostgreSQL', `${f2(engineCpu)} vs ${f2(peer.cpuMsPerStep.dbos)} + ${f2(peer.cpuMsPerStep.postgres)}`],
            ]
          : [['DBOS peer', peerError ? `failed: ${peerError}` : 'skipped (BENCH_PEER=0)']]),
        ...(stack
          ? [[`whole stack RSS: idle / ${stack.learners} learners mid-run (peak)`, `${mb(stack.idle.rss)} / ${mb(stack.mid.rss)} (${mb(Math.max(stack.mid.hwm, stack.peakRssSampled))})`]]
          : [['whole stack memory', stackError ? `failed: ${stackError}` : 'skipped (BENCH_STACK=0)']]),
      ]),
    );
    const verdicts = [
      `engine/ceiling ${f2(pairRatio)} ${pairRatio >= 0.8 ? '≥' : '<'} 0.8`,
      peer ? `engine/DBOS ${f2(peerRatio)} ${peerRatio >= 1.5 ? '≥' : '<'} 1.5` : undefined,
    ].filter(Boolean);
    console.log(`\nVERDICT: ${verdicts.join('; ')}`);
    if (pairRatio < 0.8) {
      const e = pairs.map((p) => p.engine);
      console.log(
        'WHERE THE TIME GOES: both sides are bound by commits (steps/s = commits/s × writes per commit ÷ writes per step).\n' +
          `  - writes per commit: engine ${f1(median(e.map((r) => r.writesPerCommit)))} vs ceiling ${f1(ceilGrouped.writesPerCommit)}. An episode holds its orchestrator slot until its commit is on disk, ` +
          `so at most ${PRIMARY.orch} episodes (+ instance creations) share one fsync however many instances are in flight.\n` +
          `  - commits/s: engine ${f0(median(e.map((r) => r.commitsPerSec)))} vs ceiling ${f0(median(pairs.map((p) => p.ceiling.commitsPerSec)))}. node:sqlite runs COMMIT and its fsync on the event loop ` +
          `(${f0(median(e.map((r) => r.commitShare * 100)))} % of the engine's wall time, ${f2(median(e.map((r) => r.commitMs)))} ms each), so the engine's own CPU ` +
          `(${f2(engineCpu)} ms per step vs the ceiling's ${f2(ceilingCpu)}) is added to every commit cycle instead of overlapping the fsync.`,
      );
    }
    const othersBusy = Math.max(...pairs.map((p) => Math.max(p.engine.cpu.othersPct, p.ceiling.cpu.othersPct)));
    if (othersBusy > 50) console.log(`NOTE: other processes used up to ${f0(othersBusy)} % of a core during the pairs; wall-clock rates are depressed and noisy, CPU ms per step is not.`);

    const strip = (r: EngineRun) => ({ ...r, template: undefined, profile: undefined });
    Object.assign(results, {
      loadAtEnd: loadavg(),
      ceiling: { grouped: ceilGrouped, matched: ceilMatched, single: ceilSingle },
      engine: runs.map(strip),
      pairs: pairs.map((p) => ({ ceiling: p.ceiling, engine: strip(p.engine), ratio: p.ratio })),
      profile: profiled?.profile,
      summary: { engineStepsPerSec: engineSteps, engineActivitiesPerSec: engineActivities, ceilingStepsPerSec: ceilingSteps, engineOverCeiling: pairRatio, batching, cadence, engineCpuMsPerStep: engineCpu, ceilingCpuMsPerStep: ceilingCpu, dbosStepsPerSec: peer?.stepsPerSecond, engineOverDbos: peer ? peerRatio : undefined },
      peer: peer ?? (peerError ? { error: peerError } : 'skipped'),
      stack: stack ?? (stackError ? { error: stackError } : 'skipped'),
      seconds: (performance.now() - began) / 1000,
    });
    writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
    console.log(`\nwrote ${path.relative(REPO, RESULTS_FILE)}; bench finished in ${f1((performance.now() - began) / 1000)} s`);
  } catch (err) {
    console.error('bench failed:', err);
    exitCode = 1;
  }
  process.exit(exitCode);
}

void main();
