import type * as df from 'durable-functions';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { learnerJourney } from '../../orchestrations/learnerJourney';
import { EVENTS, journeyInstanceId } from '../../orchestrations/workshopIds';
import type { JourneyInput, PhaseInput, PhaseOutput, RunPlan } from '../../orchestrations/workshopTypes';
import { raise, startInstance, startStack, waitFor, type TestStack } from '../helpers/stack';
import { until } from './learnerDriver';

/**
 * The journey's side of issue 11's lost event: a failed phase leaves the journey racing its event
 * waiter again; the instructor resumes, and an END that arrives while the journey records its
 * checkpoint must still end the learner (it used to be swallowed by the waiter's stale registration).
 * The journey runs on the real durable host; its phases and activities are recorders.
 */
const checkpoints: unknown[] = [];
let gate: Promise<void> | undefined;
let release: () => void = () => {};

const functions: FunctionDef[] = [
  { kind: 'orchestration', name: 'learnerJourney', handler: learnerJourney },
  {
    kind: 'orchestration',
    name: 'workshopPhase',
    // Attempt 1 fails at once; later attempts wait for the learner (who never comes).
    *handler(ctx: df.OrchestrationContext) {
      const input = ctx.df.getInput() as PhaseInput;
      if (input.attempt === 1) {
        return { status: 'failed', failure: { kind: 'timebox', stepId: 'req-1', message: 'time is up', learnerMayResume: false }, snapshot: {} } as unknown as PhaseOutput;
      }
      yield ctx.df.waitForExternalEvent(EVENTS.phase);
      return { status: 'failed', failure: { kind: 'timebox', stepId: 'req-1', message: 'time is up', learnerMayResume: false }, snapshot: {} } as unknown as PhaseOutput;
    },
  },
  {
    kind: 'activity',
    name: 'recordCheckpoint',
    handler: async (raw) => {
      checkpoints.push(raw);
      if (gate) await gate;
      return {};
    },
  },
  { kind: 'activity', name: 'signalInstance', handler: () => ({ ok: false, reason: 'gone' }) },
  { kind: 'activity', name: 'notify', handler: () => ({ key: 'k', duplicate: false }) },
  { kind: 'activity', name: 'teardown', handler: () => ({}) },
];

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack(functions);
});
afterAll(async () => {
  await stack?.stop();
});

it('an END that arrives while the journey checkpoints a resume still ends the learner', async () => {
  const input: JourneyInput = { runId: 'lost-end', learnerId: 'ada', plan: { packId: 'drill', title: 'Drill', phases: {} as RunPlan['phases'] }, version: 0 };
  const id = await startInstance(stack.api, 'learnerJourney', input, journeyInstanceId('lost-end', 'ada'));
  // The first phase failed and the journey waits in `failed` (its checkpoint of that is written).
  await waitFor(stack.api, id, (s) => (s.historyEvents ?? []).some((e) => e.EventType === 'SubOrchestrationInstanceCompleted'));
  await until('the failed checkpoint', async () => checkpoints.some((c) => JSON.stringify(c).includes('failed')));
  await waitFor(stack.api, id, (s) => (s.historyEvents ?? []).filter((e) => e.EventType === 'TaskCompleted').length >= checkpoints.length + 1);

  const before = checkpoints.length;
  gate = new Promise<void>((r) => (release = r));
  expect(await raise(stack.api, id, EVENTS.journey, { type: 'RESUME', from: 'start', by: 'instructor' })).toBe(202);
  await until('the resume checkpoint', async () => checkpoints.length > before);
  expect(await raise(stack.api, id, EVENTS.journey, { type: 'END', reason: 'the workshop is over' })).toBe(202);
  await waitFor(stack.api, id, (s) => (s.historyEvents ?? []).some((e) => e.EventType === 'EventRaised' && JSON.stringify(e.Input).includes('END')));
  release();
  gate = undefined;

  const done = await waitFor(stack.api, id, ['Completed'], 20_000);
  expect(done.output).toMatchObject({ status: 'ended' });
});
