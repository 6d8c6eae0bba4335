import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LEARNERS_PER_RUN, sizingRoster } from '../../http/cohortLimit';
import { cohortInstanceId } from '../../orchestrations/workshopIds';
import { status, type StatusBody } from '../helpers/stack';
import { until } from './learnerDriver';
import { startWorkshopStack, type WorkshopStack } from './workshopStack';

/**
 * Issue 14: the cohort's own state does not grow with the roster. A run of 100 and a run of 1,000 learners are
 * started through the API; while their journeys start (in batches, one continue-as-new each) and a broadcast
 * fans out to everyone, the cohort instance is sampled: its input, custom status and current history must be
 * the same size for both, give or take the digits of the counts. The roster and the learners' progress are
 * in the store, served by the API as before.
 */
let ws: WorkshopStack;
/**
 * Five learner subscriptions, as a 1,000-seat event needs: Azure's default 250 storage accounts per region per
 * subscription hold a quarter of the room, and a run the quotas cannot hold is refused at start (422). Both runs
 * name all five, so their plans are the same size.
 */
const SUBSCRIPTIONS = Array.from({ length: 5 }, (_, i) => `5c000000-0000-4000-8000-00000000000${i + 1}`);
beforeAll(async () => {
  ws = await startWorkshopStack({ packsDir: path.join(__dirname, 'packs'), armSubscriptions: SUBSCRIPTIONS.map((id) => ({ id })) });
}, 120_000);
afterAll(async () => {
  await ws?.stop();
});

interface Sizes {
  /** The input without the events carried through continue-as-new (those are bounded by what arrives during one hand-over). */
  input: number;
  /** Most events carried through one continue-as-new. */
  carried: number;
  customStatus: number;
  history: number;
  samples: number;
}

const chars = (v: unknown) => JSON.stringify(v ?? null).length;

async function runAndMeasure(n: number): Promise<Sizes> {
  const runId = `scale-${n}`;
  const roster = sizingRoster(n).map(({ name, email }) => ({ name, email: email! }));
  // Time scale 1 (real minutes): nobody's timebox runs out while the test watches. Batches of 25, so both runs
  // continue as new while they start (the 100-learner one four times) and carry their state.
  const started = await ws.api.startRun({ runId, scenario: 'drill', roster, instructors: ['ian'], batchSize: 25, learnerSubscriptions: SUBSCRIPTIONS.map((subscriptionId) => ({ subscriptionId })) });
  expect(started.learners).toHaveLength(n);
  const last = started.learners.at(-1)!;
  ws.api.setLearnerToken(last.learnerId, last.token);
  const sizes: Sizes = { input: 0, carried: 0, customStatus: 0, history: 0, samples: 0 };
  const id = cohortInstanceId(runId);
  const sample = async (): Promise<StatusBody | undefined> => {
    const s = await status(ws.durable, id, true);
    if (!s) return s;
    sizes.samples++;
    const input = s.input as { state?: { pending?: unknown[] } } | null;
    const { pending = [], ...state } = input?.state ?? {};
    sizes.input = Math.max(sizes.input, chars({ ...input, state }));
    sizes.carried = Math.max(sizes.carried, pending.length);
    sizes.customStatus = Math.max(sizes.customStatus, chars(s.customStatus));
    sizes.history = Math.max(sizes.history, (s.historyEvents ?? []).length);
    return s;
  };
  await until(`every journey of the ${n}-learner run started`, async () => (((await sample())?.customStatus as { started?: number } | null)?.started ?? 0) >= n, 600_000);
  // A fan-out over the whole roster, through the cohort.
  await ws.api.runCommand(runId, 'broadcast', { message: 'Coffee at 10:30.' });
  await until(`the broadcast reached all ${n} learners' outboxes`, async () => {
    await sample();
    return (await ws.api.learnerMessages(runId, last.learnerId)).messages.some((m) => JSON.stringify(m).includes('Coffee at 10:30.'));
  }, 600_000);
  const view = await ws.api.runStatus(runId);
  // The roster and progress are served from the store as before: everyone is there and counted.
  expect(view.learners).toHaveLength(n);
  expect(Object.values(view.view!.counts).reduce((t, byState) => t + Object.values(byState).reduce((a, b) => a + b, 0), 0)).toBe(n);
  expect(view.view!.learners).toBe(n);
  return sizes;
}

describe(`a run of ${MAX_LEARNERS_PER_RUN} learners`, () => {
  it(`keeps the cohort's input, custom status and history the size they are for 100 learners`, async () => {
    expect(MAX_LEARNERS_PER_RUN).toBeGreaterThanOrEqual(1_000);
    const small = await runAndMeasure(100);
    const large = await runAndMeasure(MAX_LEARNERS_PER_RUN);
    const line = (n: number, x: Sizes) => `${n} learners: input ${x.input} chars (+${x.carried} events carried), custom status ${x.customStatus} chars, history ${x.history} events (${x.samples} samples)`;
    console.log(`cohort instance, largest of each: ${line(100, small)}; ${line(MAX_LEARNERS_PER_RUN, large)}`);
    // A few characters for the counts' extra digits; nothing per learner.
    expect(large.input).toBeLessThanOrEqual(small.input + 40);
    expect(large.customStatus).toBeLessThanOrEqual(small.customStatus + 40);
    // Events in flight at a hand-over are carried, but not the roster's worth of reports (what it was before).
    expect(large.carried).toBeLessThan(MAX_LEARNERS_PER_RUN / 10);
    // One batch of journeys per execution, a broadcast is one activity call: the history does not grow with the
    // roster (an execution ends at its budget; what it handles past it is the last event's own work).
    expect(large.history).toBeLessThanOrEqual(Math.max(small.history, 200) * 1.5);
    expect(small.input).toBeGreaterThan(0);
  }, 1_500_000);
});
