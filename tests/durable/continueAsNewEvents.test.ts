import type * as df from 'durable-functions';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { raise, startInstance, startStack, waitFor, type StatusBody, type TestStack } from '../helpers/stack';

/**
 * Which raised events a continue-as-new carries into the next execution, as Durable Functions does on
 * Azure for a JavaScript orchestrator: events the execution never read (they came after it continued
 * as new) are carried; an event it received but gave to no waiter is dropped (the JS SDK cannot ask to
 * preserve it); an event a waiter took is never delivered again.
 */
let release: () => void = () => {};
const functions: FunctionDef[] = [
  {
    kind: 'orchestration',
    name: 'reracer',
    // One waiter raced twice (the first race lost to a timer): the SDK registers it twice.
    *handler(ctx: df.OrchestrationContext) {
      const input = (ctx.df.getInput() as { round: number; seen: unknown[] }) ?? { round: 0, seen: [] };
      if (input.round >= 1) {
        ctx.df.setCustomStatus({ round: input.round, stage: 'waiting' });
        return [...input.seen, yield ctx.df.waitForExternalEvent('e')];
      }
      const w = ctx.df.waitForExternalEvent('e');
      ctx.df.setCustomStatus({ round: input.round, stage: 'first race' });
      yield ctx.df.Task.any([w, ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 50))]);
      ctx.df.setCustomStatus({ round: input.round, stage: 'second race' });
      const long = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 600_000));
      yield ctx.df.Task.any([w, long]);
      long.cancel();
      ctx.df.continueAsNew({ round: input.round + 1, seen: [...input.seen, w.result] });
      return undefined;
    },
  },
  {
    kind: 'orchestration',
    name: 'dropper',
    // Two events arrive while an activity runs (nothing waits); one waiter takes the first, then continue-as-new.
    *handler(ctx: df.OrchestrationContext) {
      const input = (ctx.df.getInput() as { round: number; seen: unknown[] }) ?? { round: 0, seen: [] };
      if (input.round === 0) yield ctx.df.callActivity('hold');
      ctx.df.setCustomStatus({ round: input.round, stage: 'waiting' });
      const v = yield ctx.df.waitForExternalEvent('e');
      const seen = [...input.seen, v];
      if (input.round >= 1) return seen;
      ctx.df.continueAsNew({ round: input.round + 1, seen });
      return undefined;
    },
  },
  {
    kind: 'activity',
    name: 'hold',
    handler: () => new Promise<void>((r) => (release = r)),
  },
];

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack(functions);
});
afterAll(async () => {
  await stack?.stop();
});

const stage = (round: number, name: string) => (s: StatusBody) => {
  const c = s.customStatus as { round?: number; stage?: string } | null;
  return c?.round === round && c.stage === name;
};

it('an event a waiter took is not delivered again after continue-as-new, however often that waiter was raced', async () => {
  const id = await startInstance(stack.api, 'reracer');
  await waitFor(stack.api, id, stage(0, 'second race'));
  expect(await raise(stack.api, id, 'e', 'x')).toBe(202);
  await waitFor(stack.api, id, (s) => s.runtimeStatus === 'Completed' || stage(1, 'waiting')(s));
  expect(await raise(stack.api, id, 'e', 'y')).toBe(202);
  const s = await waitFor(stack.api, id, ['Completed']);
  expect(s.output).toEqual(['x', 'y']);
});

it('an event the execution received but gave to no waiter is dropped at continue-as-new, as on Azure', async () => {
  const id = await startInstance(stack.api, 'dropper');
  await waitFor(stack.api, id, (s) => (s.historyEvents ?? []).some((e) => e.EventType === 'TaskScheduled'));
  expect(await raise(stack.api, id, 'e', 'a')).toBe(202);
  expect(await raise(stack.api, id, 'e', 'b')).toBe(202);
  await waitFor(stack.api, id, (s) => (s.historyEvents ?? []).filter((e) => e.EventType === 'EventRaised').length === 2);
  release();
  await waitFor(stack.api, id, stage(1, 'waiting'));
  expect(await raise(stack.api, id, 'e', 'c')).toBe(202);
  const s = await waitFor(stack.api, id, ['Completed']);
  expect(s.output).toEqual(['a', 'c']);
});
