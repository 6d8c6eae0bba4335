/**
 * `npm run bench:peer` — the DBOS Transact peer on its own: prints the figures `npm run bench` shows
 * next to the engine. Defaults mirror the engine bench (K=10 steps, N=50 in flight).
 *
 * Environment knobs: BENCH_K (10 steps), BENCH_N (50 in flight), BENCH_DBOS_WORKFLOWS (500 measured),
 * BENCH_DBOS_WARMUP (= N), BENCH_DBOS_POOL (DBOS default 10), BENCH_DBOS_TRANSPORT (unix | tcp),
 * BENCH_PGBENCH_SECONDS (5; 0 skips the pgbench ceiling).
 */
import { cpus } from 'node:os';
import { runDbosPeer } from './peer';

function envInt(name: string, fallback: number, min = 1): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${JSON.stringify(v)}: expected an integer ≥ ${min}`);
  return n;
}

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

async function main(): Promise<void> {
  const steps = envInt('BENCH_K', 10);
  const concurrency = envInt('BENCH_N', 50);
  const transport = process.env.BENCH_DBOS_TRANSPORT ?? 'unix';
  if (transport !== 'unix' && transport !== 'tcp') throw new Error(`BENCH_DBOS_TRANSPORT=${JSON.stringify(transport)}: expected unix or tcp`);
  const pool = process.env.BENCH_DBOS_POOL ? envInt('BENCH_DBOS_POOL', 10) : undefined;
  const r = await runDbosPeer({
    workflows: envInt('BENCH_DBOS_WORKFLOWS', 500),
    steps,
    concurrency,
    warmupWorkflows: envInt('BENCH_DBOS_WARMUP', concurrency, 0),
    poolSize: pool,
    transport,
    pgbenchSeconds: envInt('BENCH_PGBENCH_SECONDS', 5, 0),
    log: (line) => console.error(`[peer] ${line}`),
  });
  const rows: Array<[string, string]> = [
    ['machine', `${cpus().length} cores, node ${process.version}; DBOS process and PostgreSQL on the same cores`],
    ['DBOS Transact', r.dbosVersion],
    ['PostgreSQL', r.postgresVersion],
    ['workload', `${r.workflows} workflows × ${r.steps} sequential steps, ${r.concurrency} in flight`],
    ['steps/s', f1(r.stepsPerSecond)],
    ['workflows/s', f1(r.workflowsPerSecond)],
    ['measured duration', `${f0(r.durationMs)} ms`],
    ['workflow latency p50 / p99', `${f1(r.p50Ms)} / ${f1(r.p99Ms)} ms`],
    ['CPU DBOS process', `${f0(r.cpu.dbosPct)} % of a core (event loop busy ${f0(r.cpu.dbosEventLoopUtilization * 100)} %)`],
    ['CPU PostgreSQL (all its processes)', `${f0(r.cpu.postgresPct)} % of a core`],
    ['CPU other processes on the machine', `${f0(r.cpu.othersPct)} % of a core`],
    ['CPU per step: DBOS / PostgreSQL', `${r.cpuMsPerStep.dbos.toFixed(2)} / ${r.cpuMsPerStep.postgres.toFixed(2)} ms (one core each, CPU alone would allow ${f0(1000 / Math.max(r.cpuMsPerStep.dbos, r.cpuMsPerStep.postgres))} steps/s)`],
    ['peak memory DBOS (RSS) / PostgreSQL (PSS)', `${mb(r.peakMemoryBytes.dbosRss)} / ${mb(r.peakMemoryBytes.postgresPss)}`],
    ['step checkpoints in dbos.operation_outputs', f0(r.checkpointRows)],
    ['PostgreSQL transactions per step (incl. reads, approx.) / WAL bytes per step', `${r.perStep.transactions.toFixed(2)} / ${f0(r.perStep.walBytes)}`],
    ...Object.entries(r.settings).map(([k, v]): [string, string] => [`setting ${k}`, v]),
  ];
  if (r.pgCeiling) {
    rows.push([`pgbench: 1-row INSERT txn/s (${r.pgCeiling.clients} clients)`, f0(r.pgCeiling.insertTps)]);
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log('\n## DBOS Transact peer on PostgreSQL (default durable settings)');
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

main().catch((err: unknown) => {
  console.error('bench:peer failed:', err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
