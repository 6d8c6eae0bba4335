import type { LearnerProgress } from '../machines/progress';
import type { CohortEvent, Learner, ProvisionRequest, RunPlan } from '../contracts/messages';
import type { NotifyInput } from '../activities/notify';
import type { SchedulerConfig, SchedulerState } from './provisioningScheduler';

// The shared shapes moved to contracts/messages.ts and the progress rule beside the machines
// (machines/progress.ts); they are re-exported under this name for cohortRun.ts until its imports move.
export * from '../contracts/messages';
export * from '../machines/progress';

/** The cohort orchestration's input; `state` is its own, carried through continue-as-new. */
export interface CohortInput {
  runId: string;
  plan: RunPlan;
  roster: Learner[];
  instructors: string[];
  /** How many journeys to start per batch (bounded fan-out). */
  batchSize: number;
  budgetUsd?: number;
  /** Learner environments deploying at once (the cohort's provisioning scheduler). */
  maxConcurrentDeployments?: number;
  /** Overrides of the provisioning scheduler's limits (tests, rehearsals); ARM's defaults otherwise. */
  scheduler?: Partial<SchedulerConfig>;
  /** Set on continue-as-new: the state so far. */
  state?: CohortState;
}

export interface CohortState {
  started: number;
  startedAt: string;
  paused: boolean;
  ended: boolean;
  endReason: string | null;
  learners: Record<string, LearnerProgress>;
  broadcasts: number;
  eventsSeen: number;
  /** The provisioning scheduler's state, and who asked for each of its entries. */
  provisioning?: { scheduler: SchedulerState; requests: Record<string, ProvisionRequest> };
  /** Learners whose progress changed since it was last written to WorkshopProgress (recordProgress). */
  dirty?: string[];
  /** Events the previous execution received but had not handled when it continued as new. */
  pending?: CohortEvent[];
  /** Learner notices not sent yet (see cohortRun: sent once a turn, never waited on). */
  notices?: NotifyInput[];
}

