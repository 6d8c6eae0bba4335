/**
 * What `GET /api/dashboard/runs/{runId}` answers: one read model of a run for the instructor
 * dashboard, so the page makes one request per refresh. Shared by the server (`dashboardApi.ts`)
 * and the browser script (`client/`), which imports these as types only.
 */

export type PhaseId = 'requirements' | 'design' | 'implementation' | 'validation';

/** A learner's standing in one phase of the grid. */
export type CellState = 'notStarted' | 'current' | 'passed' | 'skipped' | 'failed';

export interface DashboardCell {
  phase: PhaseId;
  state: CellState;
}

export interface DashboardLearner {
  learnerId: string;
  name: string;
  email?: string;
  /** The cohort's view of the learner (see `LearnerState` in orchestrations/workshopTypes.ts). */
  phase: PhaseId;
  state: string;
  /** Where in the phase, from the learner's checkpoint (the phase machine's own state). */
  phaseState: string | null;
  stepId: string | null;
  stepTitle: string | null;
  stepKind: string | null;
  /** 1-based step number and the phase's step count. */
  stepNumber: number | null;
  steps: number | null;
  /** ISO time the current state began (orchestration time). */
  since: string | null;
  /** The current step's timebox (scaled for rehearsals, extensions included), in ms. */
  timeboxMs: number | null;
  /** Failed validation runs of the current step and its limit. */
  failedChecks: number;
  maxAttempts: number | null;
  /** Names of the checks that failed on the last validation run. */
  failingChecks: string[];
  /** The cohort's note on the state (a stuck learner's time left, a failure's reason). */
  detail: string | null;
  failure: { kind: string; stepId: string; message: string; learnerMayResume: boolean } | null;
  helpPending: string | null;
  helpCount: number;
  /** Review steps: the round a decision must name. */
  reviewRound: number | null;
  cells: DashboardCell[];
}

export interface DashboardQueueItem {
  learnerId: string;
  name: string;
  phase: PhaseId;
  stepId: string | null;
  since: string | null;
  text: string;
}

export interface DashboardReviewItem extends DashboardQueueItem {
  round: number | null;
  deliverables: Array<{ step: string; name: string; uri: string }>;
  /** Peers' notes on this round of the design (peer review, issue 15): shown beside the submission; the instructor decides. */
  peerReviews: Array<{ reviewerId: string; reviewerName: string; notes: string; scores: Record<string, 'meets' | 'notYet'> }>;
}

/** What a failed check read: the resource, the property, what it found and what it wanted (machines' CheckEvidence). */
export interface DashboardEvidence {
  resource: string;
  property: string;
  observed: string;
  expected: string;
}

/** "I did it": a learner disputes a failed validation; the instructor marks it passed, re-runs it or returns it. */
export interface DashboardDisputeItem extends DashboardQueueItem {
  /** The validation attempt disputed: a decision names it. */
  attempt: number;
  note: string;
  checks: Array<{ checkId: string; message: string | null; evidence: DashboardEvidence[]; fix: string | null }>;
}

/**
 * A learner whose phase failed. Checks that failed it on their last attempt carry their evidence, and the instructor
 * may mark them passed (the phase resumes after the step) as well as resume or restart.
 */
export interface DashboardFailureItem extends DashboardQueueItem {
  kind: string | null;
  /** Validation failures: the attempt that failed and its failed checks; otherwise null and []. */
  attempt: number | null;
  checks: DashboardDisputeItem['checks'];
}

/** "Review my answer": an answer the keyword criteria refused, for a person to accept or return. */
export interface DashboardAnswerItem extends DashboardQueueItem {
  round: number;
  answer: string;
  note: string | null;
  /** The question's criteria; `metByKeywords` false for those the instant check did not find. */
  criteria: Array<{ id: string; description: string; metByKeywords: boolean }>;
  /** The question's minimum word count, and whether the answer was short of it. */
  minWords: number | null;
  tooShort: boolean;
}

/** One instructor decision on a dispute or an answer, as the run report keeps it (WorkshopDecisions). */
export interface DashboardDecision {
  learnerId: string;
  name: string;
  phase: PhaseId;
  stepId: string;
  stepTitle: string;
  at: string;
  kind: 'dispute' | 'answer';
  outcome: 'overridden' | 'rechecked' | 'returned' | 'accepted';
  /** Validation attempt (disputes) or answer round. */
  attempt: number;
  by: string;
  reason: string;
  /** Disputes: the checks decided on; answers accepted: the criteria marked met by a person. */
  items: string[];
}

/**
 * The run report as the dashboard shows it: the instructor's decisions (overrides first among what an auditor
 * asks), newest first and at most `shown` of them — the page stays small at 1,000 learners; the full record is the
 * run report of `GET /api/runs/{runId}` — and, once the run is over, the cohort's closing figures.
 */
export interface DashboardReport {
  decisions: DashboardDecision[];
  total: number;
  counts: Record<DashboardDecision['outcome'], number>;
  final: { endedAt: string; endReason: string | null; completed: number; ended: number; learners: number } | null;
}

export type DashboardCost =
  | {
      available: true;
      spentUsd: number;
      budgetUsd: number;
      /** Where the budget comes from: the run's own, RUN_BUDGET_USD, or the pack's share × learners. */
      budgetSource: 'run' | 'setting' | 'pack';
      fraction: number;
      burnUsdPerHour: number;
      environments: number;
      running: number;
      warn: boolean;
      budgetReachedAt: string | null;
      /** ISO time the figures were read from Resource Manager (they are cached briefly). */
      asOf: string;
    }
  | { available: false; reason: string };

export interface DashboardRun {
  runId: string;
  instanceId: string;
  runtimeStatus: string;
  scenario: { id: string; title: string };
  phases: Array<{ id: PhaseId; title: string }>;
  startedAt: string | null;
  paused: boolean;
  ended: boolean;
  endReason: string | null;
  learners: DashboardLearner[];
  counts: { learners: number; started: number; finished: number };
  helpQueue: DashboardQueueItem[];
  /** Designs waiting for the instructor's review (with peers' notes). */
  reviewQueue: DashboardReviewItem[];
  /** Disputed checks and answers sent for review: their own queues, evidence and criteria included. */
  disputeQueue: DashboardDisputeItem[];
  answerQueue: DashboardAnswerItem[];
  failures: DashboardFailureItem[];
  report: DashboardReport;
  provisioning: { queued: number; deploying: number; retrying: number; succeeded: number; failed: number; maxInFlight: number; throttled: number } | null;
  cost: DashboardCost;
  /** The run's hot-start pool (environments deployed ahead), when it has one: tab/client/hotStartPanel.ts. */
  hotStart?: DashboardHotStart | null;
  /**
   * Present when the page asked `?since=<etag>` and the server still knew that answer: `learners` then
   * holds only the learners that changed since it, `removed` the ids no longer in the run, `total` how
   * many learners the full answer has. Absent: a full answer (see dashboardDelta.ts).
   */
  delta?: { since: string; removed: string[]; total: number };
  /** The server's clock when the answer was made: the page measures time in state against it. */
  serverTime: string;
}

/** The hot-start pool's counts and idle cost (the run view's `hotStart` without the per-environment list). */
export interface DashboardHotStart {
  size: number;
  queued: number;
  deploying: number;
  ready: number;
  claimed: number;
  claimedReady: number;
  failed: number;
  tornDown: number;
  idleCostUsd: number;
  idleUsdPerHour: number;
  provisionAt: string;
  startsAt?: string;
}

/** A run in the picker (`GET /api/runs`). */
export interface RunListItem {
  runId: string;
  status?: string;
  packId?: string;
  startedAt?: string;
  endedAt?: string | null;
}
