/**
 * Child process of the DBOS peer (forked by peer.ts, so DBOS and `pg` never load into the bench process).
 * Runs the engine bench's workload on DBOS Transact: a workflow of K sequential steps, each a trivial
 * increment (the engine's `benchChain` / `benchInc`), W workflows with at most C in flight, after a
 * warm-up; every step is checkpointed by DBOS in its PostgreSQL system database before the next runs.
 *
 * Input: argv[2], the JSON of a WorkerInput; output: WorkerMessages over the IPC channel (protocol.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DBOS } from '@dbos-inc/dbos-sdk';
import { WorkerInput, type WorkerMessage } from './protocol';

function send(msg: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('worker.ts must be forked with an IPC channel (see peer.ts)'));
    process.send(msg, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

// The step: what the engine bench's `benchInc` activity does.
async function benchInc(x: number): Promise<number> {
  return x + 1;
}

async function benchChainImpl(k: number): Promise<number> {
  let x = 0;
  for (let i = 0; i < k; i++) {
    const input = x;
    x = await DBOS.runStep(() => benchInc(input), { name: 'benchInc' });
  }
  return x;
}

// Registered at module load: DBOS requires every workflow to be registered before launch.
const benchChain = DBOS.registerWorkflow(benchChainImpl, { name: 'benchChain' });

/** Run `count` workflows with at most `concurrency` in flight; returns per-workflow latencies. */
async function closedLoop(count: number, concurrency: number, steps: number): Promise<number[]> {
  let next = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        next++;
        const t = performance.now();
        const out = await benchChain(steps);
        latencies.push(performance.now() - t);
        if (out !== steps) throw new Error(`benchChain(${steps}) returned ${JSON.stringify(out)}, expected ${steps}`);
      }
    }),
  );
  return latencies;
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
}

function dbosVersion(): string {
  // The SDK's `exports` do not expose package.json, so read it from where npm ci put it.
  const pkg = JSON.parse(readFileSync(join(__dirname, 'node_modules', '@dbos-inc', 'dbos-sdk', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<void> {
  const input = WorkerInput.parse(JSON.parse(process.argv[2] ?? 'null'));
  DBOS.setConfig({
    name: 'workshop-bench-peer',
    applicationVersion: 'bench',
    systemDatabaseUrl: input.systemDatabaseUrl,
    ...(input.poolSize ? { systemDatabasePoolSize: input.poolSize } : {}),
    logLevel: 'error',
  });
  await DBOS.launch();
  let peakRss = 0;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  try {
    if (input.warmupWorkflows > 0) await closedLoop(input.warmupWorkflows, input.concurrency, input.steps);
    await send({ type: 'phase', phase: 'measure-start' });
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const latencies = await closedLoop(input.workflows, input.concurrency, input.steps);
    const durationMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0).utilization;
    await send({ type: 'phase', phase: 'measure-end' });
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await send({
      type: 'result',
      dbosVersion: dbosVersion(),
      workflows: input.workflows,
      steps: input.steps,
      durationMs,
      cpuPct: ((cpu.user + cpu.system) / 1000 / durationMs) * 100,
      eventLoopUtilization: elu,
      p50Ms: pct(latencies, 50),
      p99Ms: pct(latencies, 99),
      peakRssBytes: peakRss,
    });
  } finally {
    clearInterval(rssTimer);
    await DBOS.shutdown();
  }
}

// The parent went away (killed): nobody will read the figures and its PostgreSQL is about to be reaped.
process.on('disconnect', () => process.exit(2));

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    await send({ type: 'error', message }).catch(() => console.error(message));
    process.exit(1);
  },
);
