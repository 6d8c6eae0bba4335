import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestStack } from '../helpers/stack';
import { planFor, planLine, runSeeds, startInvariantStack } from './cohortSim';

/**
 * Cohort invariants over 50 seeds (issue 11, item 2; the model and the checks are in cohortSim.ts):
 * small cohorts under seeded ARM 429/500/slow deployments, connector 429s and host restarts, many
 * at once on one stack. `npm run invariants -- --seeds 500` runs hundreds more.
 */
const SEEDS = Array.from({ length: 50 }, (_, i) => i + 1);
let stack: TestStack;
beforeAll(async () => {
  stack = await startInvariantStack();
});
afterAll(async () => {
  await stack?.stop();
});

it('50 seeded cohorts: every request decided within the scheduler\'s bound, every learner at the end or failed with a reason, no acknowledged event lost, the view adding up at every sample', async () => {
  const results = await runSeeds(stack, SEEDS, { concurrency: 25 });
  const failures = results
    .filter((r) => r.violations.length)
    .map((r) => `seed ${r.seed} (${planLine(planFor(r.seed))}):\n  ${r.violations.join('\n  ')}\n  replay: npm run invariants -- --seed ${r.seed}`);
  expect(failures).toEqual([]);
  expect(results).toHaveLength(50);
  // The seeds exercise what they claim to: throttling, refusals, failures with reasons, restarts.
  const decisions = results.flatMap((r) => r.outcomes.flatMap((o) => o.requests.flatMap((q) => q.decisions)));
  expect(decisions.some((d) => d.outcome === 'transient')).toBe(true);
  expect(decisions.some((d) => d.type === 'PROVISION_REJECTED') || results.some((r) => r.outcomes.some((o) => o.result === 'failed'))).toBe(true);
  expect(results.every((r) => r.samples > 0)).toBe(true);
}, 900_000);
