import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { cohortRun } from '../../orchestrations/cohortRun';
import { admit, createScheduler, enqueue, retryLater } from '../../orchestrations/provisioningScheduler';
import { EVENTS, cohortInstanceId, phaseInstanceId } from '../../orchestrations/workshopIds';
import { provisionKey, type CohortInput, type CohortState, type ProvisionRequest, type RunPlan } from '../../orchestrations/workshopTypes';
import { raise, startInstance, startStack, waitFor, type TestStack } from '../helpers/stack';
import { until } from './learnerDriver';

/**
 * Issue 11's lost admission, reproduced step by step: the cohort's wake-up timer wins a race once, a
 * provisioning request arrives, and while the cohort tells that learner their place in line (an
 * activity) a second learner's request arrives. The cohort used to race the same event task again
 * after the timer won; the SDK then registered it twice, and the stale registration swallowed the
 * second request — acknowledged to the phase, never seen by the cohort.
 *
 * The cohort runs on the real durable host; its activities are recorders, and the learner-facing
 * notification (notify, or notifyMany for a batch) is held open by the test so the second request
 * lands while it runs.
 */
interface Notified {
  learnerId: string;
  kind: string;
}
const notified: Notified[] = [];
const raisedToPhases: Array<{ instanceId: string; data: unknown }> = [];
let release: () => void = () => {};
let gate: Promise<void> | undefined;

const recorders: FunctionDef[] = [
  { kind: 'orchestration', name: 'cohortRun', handler: cohortRun },
  {
    kind: 'activity',
    name: 'signalMany',
    handler: (raw) => {
      const ops = (raw as { ops: Array<{ op: string; instanceId: string; data?: unknown }> }).ops;
      for (const o of ops) if (o.op === 'raise') raisedToPhases.push({ instanceId: o.instanceId, data: o.data });
      return ops.map(() => ({ ok: true }));
    },
  },
  { kind: 'activity', name: 'signalInstance', handler: () => ({ ok: true }) },
  {
    kind: 'activity',
    name: 'notify',
    handler: async (raw) => {
      const n = raw as { to: { learnerId?: string }; kind: string };
      notified.push({ learnerId: n.to.learnerId ?? '', kind: n.kind });
      if (gate) await gate;
      return { key: 'k', duplicate: false };
    },
  },
  {
    // The cohort sends learners' queue notices in batches; held open like `notify` above.
    kind: 'activity',
    name: 'notifyMany',
    handler: async (raw) => {
      const { messages } = raw as { messages: Array<{ to: { learnerId?: string }; kind: string }> };
      for (const n of messages) notified.push({ learnerId: n.to.learnerId ?? '', kind: n.kind });
      if (gate) await gate;
      return messages.map(() => ({ key: 'k', duplicate: false }));
    },
  },
  { kind: 'activity', name: 'recordRunEnded', handler: () => ({}) },
];

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack(recorders);
});
afterAll(async () => {
  await stack?.stop();
});

/** The cohort as a continue-as-new leaves it once every journey has started. */
const everyoneStarted = (learners: number, at: string): CohortState => ({ started: learners, startedAt: at, paused: false, ended: false, endReason: null, broadcasts: 0, eventsSeen: 0, finishedHint: 0 });

const runId = 'lost-admission';
const request = (learnerId: string): ProvisionRequest => ({
  type: 'provisionRequest',
  learnerId,
  phaseInstanceId: phaseInstanceId(runId, learnerId, 'implementation', 1),
  stepId: 'foundation',
  attempt: 1,
});

it('a provisioning request that arrives while the cohort notifies another learner is admitted, after the wake-up timer won a race', async () => {
  // The cohort as a continue-as-new left it: everyone started, learner a holding a slot and waiting
  // one second to retry (a 429), so the cohort arms a wake-up timer.
  const now = new Date();
  const a = provisionKey('a', 'foundation', 1);
  let scheduler = enqueue(createScheduler(now), [a]);
  scheduler = admit(scheduler, now).state;
  scheduler = retryLater(scheduler, a, now, { retryAfterSeconds: 1, error: '429' }).state;
  const input: CohortInput = {
    runId,
    plan: { packId: 'drill', title: 'Drill', phases: {} as RunPlan['phases'] },
    learners: 4,
    instructors: [],
    batchSize: 10,
    state: { ...everyoneStarted(4, now.toISOString()), provisioning: { scheduler, requests: { [a]: request('a') } } },
  };
  const id = await startInstance(stack.api, 'cohortRun', input, cohortInstanceId(runId));

  // The timer fires, a's retry is admitted, and the cohort waits for events again.
  await waitFor(stack.api, id, (s) => (s.customStatus as { provisioning?: { deploying: number } } | null)?.provisioning?.deploying === 1);
  expect(raisedToPhases.map((r) => r.instanceId)).toEqual([request('a').phaseInstanceId]);

  // b asks; the cohort tells b its place in line, and that notification is held open…
  gate = new Promise<void>((r) => (release = r));
  expect(await raise(stack.api, id, EVENTS.cohort, request('b'))).toBe(202);
  await until('the cohort to notify b', async () => notified.some((n) => n.learnerId === 'b'));
  // …while c asks (acknowledged: the event is in the cohort's history).
  expect(await raise(stack.api, id, EVENTS.cohort, request('c'))).toBe(202);
  await waitFor(stack.api, id, (s) => (s.historyEvents ?? []).some((e) => e.EventType === 'EventRaised' && JSON.stringify(e.Input).includes('"learnerId":"c"')));
  release();
  gate = undefined;

  // d asks after; events are handled in order, so once d is queued, c must have been too.
  expect(await raise(stack.api, id, EVENTS.cohort, request('d'))).toBe(202);
  await until('the cohort to notify d', async () => notified.some((n) => n.learnerId === 'd'));
  expect(notified.filter((n) => n.kind === 'environmentQueued').map((n) => n.learnerId)).toEqual(['b', 'c', 'd']);
  await until('b, c and d admitted', async () => raisedToPhases.length === 4);
  expect(raisedToPhases.map((r) => r.instanceId)).toEqual(['a', 'b', 'c', 'd'].map((l) => request(l).phaseInstanceId));
  // The view catches up once the cohort has seen that signal complete.
  const s = await waitFor(stack.api, id, (x) => (x.customStatus as { provisioning?: { deploying: number } } | null)?.provisioning?.deploying === 4);
  expect((s.customStatus as { provisioning: Record<string, number> }).provisioning).toMatchObject({ queued: 0, deploying: 4, retrying: 0 });
});

it('a request that arrives after its phase was reported failed takes no place in line', async () => {
  const run = 'late-request';
  const now = new Date().toISOString();
  const input: CohortInput = { runId: run, plan: { packId: 'drill', title: 'Drill', phases: {} as RunPlan['phases'] }, learners: 2, instructors: [], batchSize: 10, maxConcurrentDeployments: 1, state: everyoneStarted(2, now) };
  const id = await startInstance(stack.api, 'cohortRun', input, cohortInstanceId(run));
  const phaseOf = (learnerId: string) => phaseInstanceId(run, learnerId, 'implementation', 1);
  const ask = (learnerId: string): ProvisionRequest => ({ type: 'provisionRequest', learnerId, phaseInstanceId: phaseOf(learnerId), stepId: 'foundation', attempt: 1 });
  // x's phase reported working, then its journey reported it failed; x's request comes in late.
  expect(await raise(stack.api, id, EVENTS.cohort, { type: 'progress', learnerId: 'x', phase: 'implementation', state: 'working', stepId: 'foundation', at: now, attempt: 1 })).toBe(202);
  expect(await raise(stack.api, id, EVENTS.cohort, { type: 'progress', learnerId: 'x', phase: 'implementation', state: 'failed', stepId: 'foundation', at: new Date(Date.parse(now) + 1).toISOString(), detail: 'timebox', attempt: 1 })).toBe(202);
  expect(await raise(stack.api, id, EVENTS.cohort, ask('x'))).toBe(202);
  expect(await raise(stack.api, id, EVENTS.cohort, ask('y'))).toBe(202);
  // The one slot goes to y.
  await until('y admitted (x must not hold the slot)', async () => raisedToPhases.some((r) => r.instanceId === phaseOf('y')), 20_000);
  expect(raisedToPhases.filter((r) => r.instanceId === phaseOf('x'))).toEqual([]);
  const s = await waitFor(stack.api, id, (x) => (x.customStatus as { provisioning?: { deploying: number } } | null)?.provisioning?.deploying === 1);
  expect((s.customStatus as { provisioning: Record<string, number> }).provisioning).toMatchObject({ queued: 0, deploying: 1 });
});
