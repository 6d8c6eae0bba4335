import type { CohortEvent, HotStartPlan, Learner, ProvisionRequest, RunPlan } from '../contracts/messages';
import type { NotifyInput } from '../activities/notify';
import type { SchedulerConfig, SchedulerState } from './provisioningScheduler';

// The shared shapes moved to contracts/messages.ts and the progress rule beside the machines
// (machines/progress.ts); they are re-exported under this name for cohortRun.ts until its imports move.
export * from '../contracts/messages';
export * from '../machines/progress';

/**
 * The cohort orchestration's input; `state` is its own, carried through continue-as-new. Nothing in it grows
 * with the roster: the roster is in WorkshopRoster (activities/runRoster.ts), progress in WorkshopProgress.
 */
export interface CohortInput {
  runId: string;
  plan: RunPlan;
  /** How many learners the run's roster has. */
  learners: number;
  instructors: string[];
  /** How many journeys to start per batch (bounded fan-out). */
  batchSize: number;
  budgetUsd?: number;
  /** Learner environments deploying at once (the cohort's provisioning scheduler). */
  maxConcurrentDeployments?: number;
  /** Overrides of the provisioning scheduler's limits (tests, rehearsals); ARM's defaults otherwise. */
  scheduler?: Partial<SchedulerConfig>;
  /** Deploy environments ahead (orchestrations/hotStart.ts). */
  hotStart?: HotStartPlan;
  /** ISO: the session starts then; the journeys start at it (not before), the hot-start pool its lead time earlier. */
  startsAt?: string;
  /** Set on continue-as-new: the state so far. */
  state?: CohortState;
}

/** A run as its readers (API, bot, dashboard) see it: the cohort's input with the roster from the store. */
export interface RunInput extends CohortInput {
  roster: Learner[];
}

export interface CohortState {
  started: number;
  startedAt: string;
  paused: boolean;
  /** Parked for the night: the park's number (orchestrations/parking.ts); absent when not parked. */
  parked?: number;
  ended: boolean;
  endReason: string | null;
  broadcasts: number;
  eventsSeen: number;
  /** Finishing reports received: never fewer than the learners who finished (see cohortRun's allFinished). */
  finishedHint: number;
  /** When to ask the store again whether everyone finished (ms), and how often it said no in a row. */
  tallyAt?: number;
  tallies?: number;
  /** The provisioning scheduler's state, and who asked for each live request (finished ones are forgotten). */
  provisioning?: { scheduler: SchedulerState; requests: Record<string, ProvisionRequest> };
  /** Hot start: the next roster position to take into the pool (the pool's rows are in WorkshopEnvironmentPool). */
  poolNext?: number;
  /** Requests finished and phases failed lately, by when (ms): a late duplicate is not queued again. */
  recent?: Record<string, number>;
  /** Events the previous execution received but had not handled when it continued as new. */
  pending?: CohortEvent[];
  /** Learner notices not sent yet (see cohortRun: sent once a turn, never waited on). */
  notices?: NotifyInput[];
}

