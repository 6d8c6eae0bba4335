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
  reviewQueue: DashboardReviewItem[];
  failures: DashboardQueueItem[];
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
