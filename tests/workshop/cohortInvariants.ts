import { planFor, planLine, runSeeds, startInvariantStack } from './cohortSim';

/**
 * `npm run invariants -- --seeds 500`: the cohort invariants (tests/workshop/cohortSim.ts) over many
 * more seeds than `npm test` runs, on one local stack, several cohorts at a time. Prints every failing
 * seed with its violations and the command that replays it alone (`--seed N`).
 *
 *   --seeds N        how many seeds (default 100), starting at --from (default 1)
 *   --seed N         just this seed
 *   --concurrency N  cohorts at once (default 10)
 *   --no-restarts    keep the host up (restarts are on by default)
 */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const one = arg('seed');
  const from = Number(arg('from') ?? 1);
  const count = Number(arg('seeds') ?? 100);
  const concurrency = Number(arg('concurrency') ?? 10);
  for (const [k, v] of Object.entries({ from, count, concurrency, ...(one ? { seed: Number(one) } : {}) })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive whole number, got ${v}`);
  }
  const seeds = one ? [Number(one)] : Array.from({ length: count }, (_, i) => from + i);
  const t0 = Date.now();
  const stack = await startInvariantStack();
  console.log(`stack up in ${Math.round((Date.now() - t0) / 1000)} s`);
  let failed = 0;
  try {
    const results = await runSeeds(stack, seeds, { concurrency, restarts: !process.argv.includes('--no-restarts'), log: (line) => console.log(line) });
    for (const r of results.filter((x) => x.violations.length)) {
      failed++;
      console.log(`\nFAILED seed ${r.seed} (run ${r.runId}): ${planLine(planFor(r.seed))}`);
      for (const line of r.violations) console.log(`  - ${line}`);
      console.log(`  replay: npm run invariants -- --seed ${r.seed}`);
    }
    console.log(`\n${results.length - failed}/${results.length} seeds held every invariant (${Math.round((Date.now() - t0) / 1000)} s)`);
  } finally {
    const t1 = Date.now();
    await stack.stop();
    console.log(`stack stopped in ${Math.round((Date.now() - t1) / 1000)} s`);
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
});
