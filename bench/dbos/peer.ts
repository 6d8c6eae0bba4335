/**
 * The benchmark peer: DBOS Transact (npm `@dbos-inc/dbos-sdk`) on Debian's PostgreSQL with its default,
 * durable settings, running the engine bench's workload (a workflow of K sequential trivial steps, many
 * workflows in flight). `runDbosPeer` owns the whole lifecycle: installs bench/dbos's own dependencies
 * when missing (`npm ci --prefix bench/dbos`), starts a throwaway cluster (postgres.ts), runs the
 * workload in a child process (worker.ts, so DBOS and `pg` never load into the caller), optionally runs
 * pgbench for a raw PostgreSQL ceiling, and stops and deletes the cluster.
 *
 * Only node builtins here, so `tests/bench/engine.bench.ts` can import it cheaply.
 */
import { fork, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startThrowawayPostgres, type PostgresCluster } from './postgres';
import type { WorkerInput, WorkerMessage, WorkerResult } from './protocol';

const HERE = __dirname;
const REPO_ROOT = join(HERE, '..', '..');
const SDK = '@dbos-inc/dbos-sdk';
/** A run that takes longer than this is stuck, not slow (the workload is seconds long). */
const WORKER_TIMEOUT_MS = 10 * 60_000;

export interface DbosPeerOptions {
  /** Workflows in the measured window (after the warm-up). */
  workflows: number;
  /** Sequential steps per workflow (the engine bench's K). */
  steps: number;
  /** Workflows in flight at once (the engine bench's N). */
  concurrency: number;
  /** Workflows run before measuring (JIT, connections, DBOS caches); default = concurrency. */
  warmupWorkflows?: number;
  /** DBOS `systemDatabasePoolSize`; default: DBOS's own default (10). */
  poolSize?: number;
  /** How DBOS reaches PostgreSQL: its unix socket (default, the cheaper local path) or TCP loopback. */
  transport?: 'unix' | 'tcp';
  /** Seconds of pgbench per ceiling workload (0 = skip the ceiling). Default 0. */
  pgbenchSeconds?: number;
  /** Progress lines; default: none. */
  log?: (line: string) => void;
}

export interface PgCeiling {
  /** pgbench clients (= the peer's concurrency) and threads. */
  clients: number;
  /** One single-row INSERT per transaction — the shape of one DBOS step checkpoint. */
  insertTps: number;
}

export interface DbosPeerResult {
  stepsPerSecond: number;
  workflowsPerSecond: number;
  durationMs: number;
  workflows: number;
  steps: number;
  concurrency: number;
  postgresVersion: string;
  dbosVersion: string;
  /** PostgreSQL durability/commit settings as the server reports them, plus how DBOS was connected. */
  settings: Record<string, string>;
  /** Workflow latency (start → result) in the measured window. */
  p50Ms: number;
  p99Ms: number;
  /** CPU over the measured window, % of one core: the DBOS process, all PostgreSQL processes, everything else. */
  cpu: { dbosPct: number; postgresPct: number; othersPct: number; dbosEventLoopUtilization: number };
  /** Peak memory: the DBOS process's RSS; PostgreSQL's processes summed as PSS (shared buffers counted once). */
  peakMemoryBytes: { dbosRss: number; postgresPss: number };
  /** Step checkpoints PostgreSQL holds after the run (dbos.operation_outputs rows) — each one a committed write. */
  checkpointRows: number;
  /**
   * CPU time per measured step, ms: does not depend on how much CPU other processes took, so it is the
   * steadier figure on a shared machine. 1000 / the larger one is the rate if each side had a core and
   * nothing else bound it (commit latency and round trips also do).
   */
  cpuMsPerStep: { dbos: number; postgres: number };
  /** Per measured step: PostgreSQL transactions, read-only ones included (approximate, see dbCounters), and WAL bytes written. */
  perStep: { transactions: number; walBytes: number };
  pgCeiling?: PgCeiling;
}

function sdkInstalledVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(HERE, 'node_modules', SDK, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** `npm ci --prefix bench/dbos` when its node_modules is missing or holds another DBOS version than package.json pins. */
export function ensurePeerInstalled(log: (line: string) => void = () => {}): void {
  const wanted = (JSON.parse(readFileSync(join(HERE, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies[SDK];
  const have = sdkInstalledVersion();
  if (have && have === wanted) return;
  log(`installing the DBOS peer's dependencies: npm ci --prefix bench/dbos (${have ? `found ${SDK} ${have}, want ${wanted}` : 'not installed'})`);
  const r = spawnSync('npm', ['ci', '--prefix', HERE, '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: REPO_ROOT });
  if (r.status !== 0) throw new Error(`npm ci --prefix bench/dbos failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}); run it by hand to see why, then npm run bench again.`);
}

let CLK_TCK = 100;
try {
  CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
} catch {
  CLK_TCK = 100;
}

function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0; // exited between listing and reading: its time is in the postmaster's cutime/cstime now
  }
}

/** Proportional set size: shared memory (shared_buffers) split among the backends that map it, so the sum is not inflated. */
function procPssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) / CLK_TCK;
}

/**
 * CPU seconds the cluster has used: the postmaster's own time plus its reaped children's (cutime/cstime,
 * so a backend that exited mid-window still counts) plus every live child's.
 */
function clusterCpuSeconds(pg: PostgresCluster): number {
  const [root, ...children] = pg.pids();
  if (root === undefined) return NaN;
  let total = 0;
  try {
    const stat = readFileSync(`/proc/${root}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
  } catch {
    return NaN;
  }
  for (const pid of children) total += procCpuSeconds(pid);
  return total;
}

/**
 * Transactions committed (all databases, read-only ones included) and the WAL position. pg_stat_database lags a backend's commits by up
 * to a second (PostgreSQL 15 flushes backend stats at most once a second), so per-step figures over a
 * window of several seconds are approximate; the WAL position is exact.
 */
function dbCounters(pg: PostgresCluster): { commits: number; walBytes: number } {
  const [commits, wal] = pg.psql('postgres', "SELECT sum(xact_commit), pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') FROM pg_stat_database").split('|');
  return { commits: Number(commits), walBytes: Number(wal) };
}

function runWorker(
  input: WorkerInput,
  pg: PostgresCluster,
): Promise<{ result: WorkerResult; pgCpuSeconds: number; machineSeconds: number; wallSeconds: number; commits: number; walBytes: number; pgPeakRss: number }> {
  return new Promise((resolve, reject) => {
    // tsx as an import hook (it is the product's devDependency); cwd is the repo root so `--import tsx` resolves there.
    // --no-deprecation: DBOS 5.3 drives `pg` in a way pg 8 flags as deprecated (concurrent client.query); not ours to fix.
    const child = fork(join(HERE, 'worker.ts'), [JSON.stringify(input)], { cwd: REPO_ROOT, execArgv: ['--import', 'tsx', '--no-deprecation'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let pg0 = 0;
    let db0 = { commits: 0, walBytes: 0 };
    let machine0 = 0;
    let t0 = 0;
    let window: { pgCpuSeconds: number; machineSeconds: number; wallSeconds: number; commits: number; walBytes: number } | undefined;
    let pgPeakRss = 0;
    let settled = false;
    const sampler = setInterval(() => {
      const rss = pg.pids().reduce((a, pid) => a + procPssBytes(pid), 0);
      pgPeakRss = Math.max(pgPeakRss, rss);
    }, 200);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`the DBOS worker did not finish within ${WORKER_TIMEOUT_MS / 60000} minutes; killed it`));
    }, WORKER_TIMEOUT_MS);
    const finish = (err?: Error, result?: WorkerResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(sampler);
      if (err) return reject(err);
      if (!result || !window) return reject(new Error('the DBOS worker exited without a result'));
      resolve({ result, ...window, pgPeakRss });
    };
    child.on('message', (raw) => {
      const msg = raw as WorkerMessage;
      if (msg.type === 'phase' && msg.phase === 'measure-start') {
        pg0 = clusterCpuSeconds(pg);
        db0 = dbCounters(pg);
        machine0 = machineBusySeconds();
        t0 = performance.now();
      } else if (msg.type === 'phase' && msg.phase === 'measure-end') {
        const pgCpuSeconds = clusterCpuSeconds(pg) - pg0;
        const machineSeconds = machineBusySeconds() - machine0;
        const wallSeconds = (performance.now() - t0) / 1000;
        const db1 = dbCounters(pg);
        window = { pgCpuSeconds, machineSeconds, wallSeconds, commits: db1.commits - db0.commits, walBytes: db1.walBytes - db0.walBytes };
      } else if (msg.type === 'result') {
        finish(undefined, msg);
      } else if (msg.type === 'error') {
        finish(new Error(`DBOS worker failed: ${msg.message}`));
      }
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) => {
      if (!settled) finish(new Error(`the DBOS worker exited (${code ?? signal}) before reporting a result`));
    });
  });
}

/** TPS from pgbench's summary ("tps = 1234.5 (without initial connection time)"). */
function parseTps(out: string): number {
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  if (!m) throw new Error(`no "tps =" line in pgbench output:\n${out}`);
  return Number(m[1]);
}

function pgCeiling(pg: PostgresCluster, clients: number, seconds: number): PgCeiling {
  const db = 'pgbench_ceiling';
  pg.psql('postgres', `CREATE DATABASE ${db}`);
  const conn = ['-h', pg.socketDir, '-p', String(pg.port), '-U', 'postgres'];
  // A step checkpoint: one small row, one commit. The table mirrors operation_outputs' key and payload.
  pg.psql(db, 'CREATE TABLE step_outputs (workflow_uuid text, function_id int, output text, created_at bigint, PRIMARY KEY (workflow_uuid, function_id))');
  const script = join(pg.socketDir, '..', 'insert.sql');
  writeFileSync(script, "INSERT INTO step_outputs VALUES (md5(random()::text), :client_id, '{\"json\":1}', extract(epoch from now())::bigint);\n");
  const common = ['-c', String(clients), '-j', '2', '-T', String(seconds), '-n'];
  const insertTps = parseTps(pg.run('pgbench', [...conn, ...common, '-f', script, db], { timeoutMs: (seconds + 60) * 1000 }));
  return { clients, insertTps };
}

export async function runDbosPeer(opts: DbosPeerOptions): Promise<DbosPeerResult> {
  const log = opts.log ?? (() => {});
  for (const k of ['workflows', 'steps', 'concurrency'] as const) {
    if (!Number.isInteger(opts[k]) || opts[k] <= 0) throw new Error(`runDbosPeer: ${k} must be a positive integer, got ${String(opts[k])}`);
  }
  ensurePeerInstalled(log);
  const transport = opts.transport ?? 'unix';
  const pg = await startThrowawayPostgres({ log });
  // A Ctrl-C during the run must not leave a server behind (a SIGKILL is reaped by the next start).
  const onSignal = (sig: NodeJS.Signals) => {
    pg.stop();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const settings = pg.settings();
    // The peer is a durable engine or it is no peer: refuse to measure a server that does not flush commits.
    const relaxed = (['fsync', 'synchronous_commit', 'full_page_writes'] as const).filter((k) => settings[k] !== 'on');
    if (relaxed.length) throw new Error(`PostgreSQL at ${pg.dataDir} runs with ${relaxed.map((k) => `${k}=${settings[k] ?? '?'}`).join(', ')}; the peer must use the durable defaults (on). Check the cluster's postgresql.conf.`);
    const input: WorkerInput = {
      systemDatabaseUrl: pg.url('dbos_peer_sys', transport),
      workflows: opts.workflows,
      steps: opts.steps,
      concurrency: opts.concurrency,
      warmupWorkflows: opts.warmupWorkflows ?? opts.concurrency,
      poolSize: opts.poolSize,
    };
    log(`DBOS peer: ${input.warmupWorkflows} warm-up + ${opts.workflows} measured workflows × ${opts.steps} steps, ${opts.concurrency} in flight`);
    const { result: r, pgCpuSeconds, machineSeconds, wallSeconds, commits, walBytes, pgPeakRss } = await runWorker(input, pg);
    const measuredSteps = r.workflows * r.steps;
    const checkpointRows = Number(pg.psql('dbos_peer_sys', 'SELECT count(*) FROM dbos.operation_outputs'));
    const expectedRows = (input.warmupWorkflows + opts.workflows) * opts.steps;
    if (checkpointRows < expectedRows) throw new Error(`PostgreSQL holds ${checkpointRows} step checkpoints after the run, expected at least ${expectedRows}: DBOS did not record every step`);
    const dbosPct = r.cpuPct;
    const postgresPct = (pgCpuSeconds / wallSeconds) * 100;
    const ceiling = opts.pgbenchSeconds && opts.pgbenchSeconds > 0 ? (log(`pgbench ceiling: ${opts.pgbenchSeconds} s of 1-row INSERT transactions, ${opts.concurrency} clients`), pgCeiling(pg, opts.concurrency, opts.pgbenchSeconds)) : undefined;
    return {
      stepsPerSecond: (r.workflows * r.steps) / (r.durationMs / 1000),
      workflowsPerSecond: r.workflows / (r.durationMs / 1000),
      durationMs: r.durationMs,
      workflows: r.workflows,
      steps: r.steps,
      concurrency: opts.concurrency,
      postgresVersion: pg.version,
      dbosVersion: r.dbosVersion,
      settings: {
        ...settings,
        'dbos.systemDatabasePoolSize': String(opts.poolSize ?? '10 (DBOS default)'),
        'dbos.transport': transport === 'unix' ? 'unix socket' : 'TCP 127.0.0.1',
      },
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      cpu: { dbosPct, postgresPct, othersPct: Math.max(0, (machineSeconds / wallSeconds) * 100 - dbosPct - postgresPct), dbosEventLoopUtilization: r.eventLoopUtilization },
      peakMemoryBytes: { dbosRss: r.peakRssBytes, postgresPss: pgPeakRss },
      checkpointRows,
      cpuMsPerStep: { dbos: ((dbosPct / 100) * r.durationMs) / measuredSteps, postgres: (pgCpuSeconds * 1000) / measuredSteps },
      perStep: { transactions: commits / measuredSteps, walBytes: walBytes / measuredSteps },
      pgCeiling: ceiling,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    pg.stop();
    log('PostgreSQL stopped and its directory removed');
  }
}
