import type { CohortInput } from '../orchestrations/workshopTypes';
import { provisionKey, type Learner, type ProvisionRequest } from '../contracts/messages';
import { DEFAULT_SCHEDULER_CONFIG, type SchedulerState } from '../orchestrations/provisioningScheduler';

/**
 * How many learners one run takes, and why: **1,000**, the largest cohort the product is tested and
 * benchmarked with (`tests/workshop/cohortScale.test.ts` starts one; `npm run bench:cohort` runs one
 * through all four phases). It is the one number the roster parser, the CLI and the README use
 * (`tests/workshop/rosterLimit.test.ts` reads all three).
 *
 * What does not limit it any more: the cohort orchestration keeps nothing per learner (roster in
 * WorkshopRoster, progress in WorkshopProgress), so its input, custom status and history are the same for 10
 * learners or 1,000. What still grows with the roster is the provisioning scheduler's line while learners
 * wait for a deployment slot (one entry per waiting learner) — at worst every learner at once, with as
 * many requests remembered as just finished. That worst case must fit the strictest task hub's payload
 * limit — the Durable Task Scheduler's 1 MB (`MAX_PAYLOAD_BYTES`; the local store takes 1,000,000
 * characters, Azure Storage moves large payloads to blobs) — which `stateCeiling` computes: several
 * thousand learners with ordinary ids, so 1,000 is held with room. A roster of unusually long ids fits
 * fewer; `checkCohortFits` refuses one that does not fit with the number that does.
 */
export const MAX_LEARNERS_PER_RUN = 1_000;

/** The strictest payload limit of the backends the cohort runs on (DTS: 1 MB per orchestration input). */
export const MAX_PAYLOAD_BYTES = 1_000_000;

/**
 * The roster the limit is sized with: ids as the roster parser derives them from addresses like
 * `firstname.lastname@university.example` (20 characters), names of 20 characters, 40-character addresses.
 */
export function sizingRoster(n: number): Learner[] {
  return Array.from({ length: n }, (_, i) => {
    const tag = String(i).padStart(4, '0');
    return { learnerId: `firstname-lastn-${tag}`, name: `Firstname Lastn ${tag}`, email: `firstname.lastn${tag}@university.example` };
  });
}

/**
 * The cohort's continue-as-new input in its worst case for this roster and plan: every learner waiting in
 * the provisioning line for the plan's longest step id at a high attempt, and as many finished requests
 * remembered (cohortRun's FORGET_AFTER_MS window). In UTF-8 bytes, as a task hub stores it.
 */
export function worstCaseInputBytes(roster: readonly Learner[], plan: CohortInput['plan']): number {
  const at = '2026-01-01T00:00:00.000Z';
  const steps = Object.values(plan.phases ?? {}).flatMap((p) => p?.steps ?? []);
  const stepId = steps.reduce((longest, s) => (s.id.length > longest.length ? s.id : longest), 'step');
  const runId = 'x'.repeat(40);
  const requests: Record<string, ProvisionRequest> = {};
  const recent: Record<string, number> = {};
  for (const l of roster) {
    requests[provisionKey(l.learnerId, stepId, 99)] = { type: 'provisionRequest', learnerId: l.learnerId, phaseInstanceId: `run-${runId}-learner-${l.learnerId}-implementation-99`, stepId, attempt: 99 };
    recent[provisionKey(l.learnerId, stepId, 98)] = Date.parse(at);
  }
  const scheduler: SchedulerState = {
    version: 1,
    config: { ...DEFAULT_SCHEDULER_CONFIG },
    tokens: 200,
    refilledAt: Date.parse(at),
    backoffUntil: Date.parse(at),
    queue: Object.keys(requests),
    slots: {},
    succeeded: [],
    failed: {},
    stats: { attempts: 99_999, throttled: 99_999, transientFailures: 99_999, maxInFlight: 99, withdrawn: 99_999, succeeded: 99_999, failed: 99_999 },
  };
  const input: CohortInput = {
    runId,
    plan,
    learners: roster.length,
    instructors: ['instructor@example.com'],
    batchSize: 25,
    state: { started: roster.length, startedAt: at, paused: false, ended: false, endReason: null, broadcasts: 99, eventsSeen: 99_999, finishedHint: roster.length, provisioning: { scheduler, requests }, recent },
  };
  return Buffer.byteLength(JSON.stringify(input), 'utf8');
}

/** The most learners of `roster` (its first ones) whose worst case fits MAX_PAYLOAD_BYTES: `roster.length` when all fit. */
export function learnersThatFit(roster: readonly Learner[], plan: CohortInput['plan']): number {
  if (worstCaseInputBytes(roster, plan) <= MAX_PAYLOAD_BYTES) return roster.length;
  let lo = 0;
  let hi = roster.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (worstCaseInputBytes(roster.slice(0, mid), plan) <= MAX_PAYLOAD_BYTES) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** How many learners with ordinary ids the cohort's state would hold with `plan` (what MAX_LEARNERS_PER_RUN stays under). */
export function stateCeiling(plan: CohortInput['plan'], upTo = 20_000): number {
  return learnersThatFit(sizingRoster(upTo), plan);
}
