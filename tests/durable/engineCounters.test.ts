import type * as df from 'durable-functions';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { startInstance, startStack, waitFor, type TestStack } from '../helpers/stack';

/**
 * The engine's counters on the host's status page (`GET /admin/host/status`, `engine`): what `npm run bench:cohort`
 * reads from a stack it runs as a child process to get steps/s and history events per learner. They must agree
 * with what the store holds: every history row an episode commit wrote, by event type, and one episode per
 * OrchestratorStarted.
 */
const functions: FunctionDef[] = [
  {
    kind: 'orchestration',
    name: 'twoSteps',
    *handler(ctx: df.OrchestrationContext) {
      const a = (yield ctx.df.callActivity('plusOne', 1)) as number;
      return (yield ctx.df.callActivity('plusOne', a)) as number;
    },
  },
  { kind: 'activity', name: 'plusOne', handler: (n: unknown) => Number(n) + 1 },
];

interface EngineCounters {
  episodes: number;
  activitiesRun: number;
  historyEvents: number;
  historyByType: Record<string, number>;
  store: { commits: number; writes: number };
}

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack(functions);
});
afterAll(async () => {
  await stack?.stop();
});

async function counters(): Promise<EngineCounters> {
  const res = await fetch(`${stack.host.url}/admin/host/status`);
  return ((await res.json()) as { engine: EngineCounters }).engine;
}

it('counts the episodes, activities and history rows the store holds for the instances it ran', async () => {
  const before = await counters();
  const ids = await Promise.all([1, 2, 3].map(() => startInstance(stack.api, 'twoSteps')));
  const done = await Promise.all(ids.map((id) => waitFor(stack.api, id, ['Completed'])));
  expect(done.map((s) => s.output)).toEqual([3, 3, 3]);
  const after = await counters();

  const events = done.flatMap((s) => s.historyEvents ?? []);
  expect(after.historyEvents - before.historyEvents).toBe(events.length);
  const started = events.filter((e) => e.EventType === 'OrchestratorStarted').length;
  expect(after.episodes - before.episodes).toBe(started);
  expect(after.activitiesRun - before.activitiesRun).toBe(6);
  // By type: the status page keys the SDK's EventType numbers; TaskScheduled is 4.
  expect((after.historyByType['4'] ?? 0) - (before.historyByType['4'] ?? 0)).toBe(events.filter((e) => e.EventType === 'TaskScheduled').length);
  expect(after.store.commits).toBeGreaterThan(before.store.commits);
});
