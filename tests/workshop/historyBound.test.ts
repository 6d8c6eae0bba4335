import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HISTORY_BUDGET, HISTORY_OVERSHOOT } from '../../orchestrations/cohortRun';
import { rehearse, type RehearsalReport } from '../../cli/rehearse';
import { cohortInstanceId } from '../../contracts/ids';
import { eventTypes, status as instanceStatus, type StatusBody } from '../helpers/stack';
import { startWorkshopStack, type WorkshopStack } from './workshopStack';

/**
 * Bounded history: rehearse the drill pack with 25 and then 60 learners (the 60 of a full
 * workshop room; the run's state travels compressed and its custom status is a constant-size summary) and measure the largest
 * history (events of one execution, without the OrchestratorStarted/Completed framing) of any
 * instance of the run — the cohort sampled while it runs (it continues as new, so its finished
 * executions are gone afterwards), every instance at the end. More than doubling the cohort must not make
 * any instance's history longer.
 */
const packsDir = path.join(__dirname, 'packs');
let w: WorkshopStack;

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir });
});
afterAll(async () => {
  await w?.stop();
});

interface Largest {
  instanceId: string;
  events: number;
}

/**
 * The most events delivered to an instance in one episode (between two OrchestratorStarted markers).
 * Events that arrive while an episode runs are appended together; the ones the orchestration has not
 * consumed yet when it continues as new are in that execution's history once. Their number is the
 * arrival rate times the episode's duration — on a loaded machine episodes are slower — so it is the
 * one part of a history that depends on the machine, and it is measured rather than guessed.
 */
function largestDelivery(s: StatusBody | undefined): number {
  let most = 0;
  let current = 0;
  for (const e of s?.historyEvents ?? []) {
    if (e.EventType === 'OrchestratorStarted') current = 0;
    else if (e.EventType === 'EventRaised') most = Math.max(most, ++current);
  }
  return most;
}

async function instancesOf(runId: string): Promise<string[]> {
  const ids: string[] = [];
  let token: string | null = null;
  do {
    const res: Response = await fetch(`${w.durable}/instances?instanceIdPrefix=${encodeURIComponent(`run-${runId}`)}&top=500`, { headers: token ? { 'x-ms-continuation-token': token } : {} });
    const page = (await res.json()) as Array<{ instanceId: string }>;
    ids.push(...page.map((p) => p.instanceId));
    token = res.headers.get('x-ms-continuation-token');
  } while (token);
  return ids;
}

function size(s: StatusBody | undefined): number {
  return s ? eventTypes(s).length : 0;
}

async function largestHistory(learners: number): Promise<{ largest: Largest; delivery: number; instances: number; report: RehearsalReport }> {
  let largest: Largest = { instanceId: '', events: 0 };
  let delivery = 0;
  const note = (instanceId: string, s: StatusBody | undefined) => {
    const events = size(s);
    if (events > largest.events) largest = { instanceId, events };
    delivery = Math.max(delivery, largestDelivery(s));
  };
  let polls = 0;
  let sampling: Promise<void> = Promise.resolve();
  let runId = '';
  const report = await rehearse({
    api: w.api,
    scenario: 'drill',
    learners,
    timeScale: 1,
    packsDir,
    pollMs: 200,
    slowPolls: 1,
    timeoutMs: 200_000,
    arm: { url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId },
    onStatus: (s) => {
      runId = s.runId;
      if (++polls % 2 === 0) {
        sampling = sampling.then(async () => note(cohortInstanceId(runId), await instanceStatus(w.durable, cohortInstanceId(runId), true)));
      }
    },
  });
  await sampling;
  const ids = await instancesOf(report.runId);
  for (const id of ids) note(id, await instanceStatus(w.durable, id, true));
  return { largest, delivery, instances: ids.length, report };
}

it('the largest history of any instance does not grow with the cohort (25 vs 60 learners, a full workshop room)', async () => {
  const small = await largestHistory(25);
  const large = await largestHistory(60);
  console.log(
    `largest history: ${small.largest.events} events (${small.largest.instanceId}) of ${small.instances} instances with 25 learners in ${small.report.durationMs} ms; ` +
      `${large.largest.events} events (${large.largest.instanceId}) of ${large.instances} instances with 60 learners in ${large.report.durationMs} ms; ` +
      `most events delivered in one episode: ${small.delivery} (25), ${large.delivery} (60)`,
  );
  expect(small.report.completed && large.report.completed).toBe(true);
  expect(large.instances).toBeGreaterThan(small.instances);
  expect(small.largest.events).toBeGreaterThan(0);
  // One bound for both, set by the cohort's own history budget (it counts every history event it writes and
  // continues as new past it), not by the roster: a history that grew with the cohort would reach several
  // times this at 60 learners (each learner's reports alone are ~25 events). The slack is what the budget
  // states it may overshoot by, and the events delivered during the execution's last episode (measured: a
  // loaded machine lengthens episodes, so more arrive in one).
  for (const [n, r] of [[25, small], [60, large]] as const) {
    expect(r.largest.events, `${n} learners: ${r.largest.instanceId}`).toBeLessThanOrEqual(HISTORY_BUDGET + HISTORY_OVERSHOOT + r.delivery);
  }
}, 600_000);
