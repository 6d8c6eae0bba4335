import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DETAIL_CHARS, type CohortInput, type Learner } from '../orchestrations/workshopTypes';

/**
 * How many learners one run takes, and why. The constraint is the cohort orchestration's state (below);
 * `MAX_LEARNERS_PER_RUN` is that constraint evaluated once for the shipped packs with a roster of
 * realistic size (`sizingRoster`), and is the one number the roster parser, the CLI and the README use.
 * `tests/workshop/rosterLimit.test.ts` recomputes it from the packs and reads it in the README, so the
 * three cannot drift apart. A particular roster (long ids) may fit fewer: `checkCohortFits` says how many.
 */
export const MAX_LEARNERS_PER_RUN = 203;

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
 * cohortRun carries its roster, every learner's progress and the provisioning requests in its
 * continue-as-new input. The strictest task hub it runs on is the local host's: a payload longer than a
 * Table property is stored gzip-compressed and must then fit 32,000 characters (Azure Storage moves large
 * payloads to blobs; the Durable Task Scheduler takes 1 MB). A cohort that outgrew it would fail
 * mid-workshop, so it is refused here with the size that fits, judged on a worst case of this roster:
 * every learner mid-phase with a step, an incompressible note as long as the cohort keeps (DETAIL_CHARS) and
 * a provisioning request per provision step.
 */
export const COHORT_INPUT_LIMIT = 30_000;

export function worstCaseStoredChars(roster: Learner[], plan: CohortInput['plan']): number {
  const at = '2026-01-01T00:00:00.000Z';
  const steps = Object.values(plan.phases ?? {}).flatMap((p) => p?.steps ?? []);
  const stepId = steps.reduce((longest, s) => (s.id.length > longest.length ? s.id : longest), 'step');
  // The cohort keeps every provisioning request of the run (one per provision step and attempt).
  const provisionSteps = steps.filter((s) => s.kind === 'provision').map((s) => s.id);
  const note = (id: string) => createHash('sha512').update(id).digest('base64').repeat(3).slice(0, DETAIL_CHARS);
  const requests = Object.fromEntries(
    roster.flatMap((l) =>
      (provisionSteps.length ? provisionSteps : [stepId]).map((s) => [`${l.learnerId}:${s}:2`, { type: 'provisionRequest', learnerId: l.learnerId, phaseInstanceId: `run-x:${l.learnerId}:implementation:2`, stepId: s, attempt: 2 }]),
    ),
  );
  const input = {
    runId: 'x'.repeat(40),
    plan,
    roster,
    instructors: ['instructor@example.com'],
    batchSize: 25,
    state: {
      started: roster.length,
      startedAt: at,
      paused: false,
      ended: false,
      endReason: null,
      learners: Object.fromEntries(roster.map((l) => [l.learnerId, { phase: 'implementation', state: 'changesRequested', stepId, since: at, detail: note(l.learnerId), helpCount: 9, attempt: 9 }])),
      broadcasts: 99,
      eventsSeen: 99_999,
      provisioning: { scheduler: { succeeded: Object.keys(requests), slots: {}, queue: [], failed: {}, stats: { attempts: 99_999 } }, requests },
      dirty: roster.map((l) => l.learnerId),
    },
  };
  // Stored as the next execution's start message: the input JSON inside the event's JSON.
  const message = JSON.stringify({ EventType: 0, EventId: -1, Timestamp: at, Name: 'cohortRun', Input: JSON.stringify(input) });
  return gzipSync(Buffer.from(message, 'utf8')).toString('base64').length;
}

/** The most learners of `roster` (its first ones) that fit one run of `plan`: `roster.length` when all fit. */
export function learnersThatFit(roster: Learner[], plan: CohortInput['plan']): number {
  if (worstCaseStoredChars(roster, plan) <= COHORT_INPUT_LIMIT) return roster.length;
  let lo = 0;
  let hi = roster.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (worstCaseStoredChars(roster.slice(0, mid), plan) <= COHORT_INPUT_LIMIT) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
