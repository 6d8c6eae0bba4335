import { PHASES, type JourneyEvent, type PersistedJourneySnapshot, type PhaseResume } from '../machines/journeyMachine';
import type { PersistedPhaseSnapshot, PhaseDef, PhaseFailure, PhaseName, PhaseResult } from '../machines/phaseMachine';
import type { NotifyInput } from '../activities/notify';
import type { SchedulerConfig, SchedulerState } from './provisioningScheduler';

/** What a run needs to know about the pack; built at the edge (API/CLI) from the validated pack. */
export interface RunPlan {
  packId: string;
  title: string;
  phases: Record<PhaseName, PhaseDef>;
  /** Values of the pack's `instructor` environment parameters for this run (e.g. hybrid's onPremGatewayIp). */
  environmentParameters?: Record<string, unknown>;
  /** ARM writes one deployment of the pack's template costs (group + deployment + resources), for the provisioning scheduler. */
  environmentWrites?: number;
}

export interface Learner {
  learnerId: string;
  name: string;
  email?: string;
}

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

export type LearnerState = 'starting' | 'working' | 'awaitingReview' | 'changesRequested' | 'helpRequested' | 'stuck' | 'failed' | 'completed' | 'ended';

export interface LearnerProgress {
  phase: PhaseName;
  state: LearnerState;
  stepId: string | null;
  /** Orchestration time (ISO) this state began. */
  since: string;
  detail?: string;
  helpCount: number;
  /** Attempt of the current phase (its instance id), when a phase reported it. */
  attempt?: number;
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

/** A phase asks the cohort for a deployment slot; the scheduler id is learner:step:attempt. */
export interface ProvisionRequest {
  type: 'provisionRequest';
  learnerId: string;
  phaseInstanceId: string;
  stepId: string;
  attempt: number;
}

/** A phase tells the cohort how the deployment it was admitted for went. */
export interface ProvisionDone {
  type: 'provisionDone';
  learnerId: string;
  stepId: string;
  attempt: number;
  outcome: 'succeeded' | 'transient' | 'permanent';
  retryAfterSeconds?: number;
  throttled?: boolean;
  message?: string;
}

/** Cohort -> phase, on the phase's event channel; the phase orchestration handles these itself. `at`: when the cohort decided (its orchestration time). */
export type ProvisionSignal =
  | { type: 'PROVISION_ADMITTED'; stepId: string; attempt: number; envAttempt: number; at?: string }
  | { type: 'PROVISION_REJECTED'; stepId: string; attempt: number; message: string; at?: string };

export function provisionKey(learnerId: string, stepId: string, attempt: number): string {
  return `${learnerId}:${stepId}:${attempt}`;
}

/** Progress reports journeys and phases send to the cohort instance. */
export interface ProgressReport {
  type: 'progress';
  learnerId: string;
  phase: PhaseName;
  state: LearnerState;
  stepId: string | null;
  at: string;
  detail?: string;
  helpCount?: number;
  attempt?: number;
}

const PROGRESS_FINISHED: readonly LearnerState[] = ['completed', 'ended'];
/** A learner's note in the cohort's state and the progress table (help question, failure) is cut to this. */
export const DETAIL_CHARS = 200;

/**
 * A learner's progress after a report, or undefined when the report is stale. Reports arrive out of
 * order (retries, concurrent activities): a finished learner stays finished, a later phase never goes back
 * to an earlier one, nor a phase's newer state to an older report of it. Pure: cohortRun folds reports
 * with it, and the activity that delivers a report applies it to the learner's WorkshopProgress row.
 */
export function applyProgress(before: LearnerProgress, event: ProgressReport): LearnerProgress | undefined {
  if (PROGRESS_FINISHED.includes(before.state) || PHASES.indexOf(event.phase) < PHASES.indexOf(before.phase)) return undefined;
  // (Journeys report without an attempt: for those only the time counts.)
  if (event.phase === before.phase) {
    const olderAttempt = event.attempt !== undefined && before.attempt !== undefined && event.attempt < before.attempt;
    const sameAttempt = event.attempt === undefined || event.attempt === before.attempt;
    if (olderAttempt || (sameAttempt && event.at < before.since)) return undefined;
  }
  const changed = before.state !== event.state || before.phase !== event.phase || before.stepId !== event.stepId;
  const attempt = event.attempt ?? (event.phase === before.phase ? before.attempt : undefined);
  const detail = event.detail !== undefined && event.detail !== null && event.detail.length > DETAIL_CHARS ? `${event.detail.slice(0, DETAIL_CHARS - 1)}…` : (event.detail ?? undefined);
  return {
    phase: event.phase,
    state: event.state,
    stepId: event.stepId ?? before.stepId,
    since: changed ? event.at : before.since,
    ...(detail !== undefined ? { detail } : {}),
    helpCount: event.helpCount ?? before.helpCount,
    ...(attempt !== undefined ? { attempt } : {}),
  };
}

/** Where a learner is before any report: as the cohort starts them. */
export function initialProgress(since: string): LearnerProgress {
  return { phase: 'requirements', state: 'starting', stepId: null, since, helpCount: 0 };
}

/** Instructor commands to the cohort instance. */
export type CohortCommand =
  | { type: 'pause'; by: string }
  | { type: 'resume'; by: string }
  | { type: 'broadcast'; by: string; message: string; key: string }
  | { type: 'extend'; by: string; minutes: number; learnerId?: string }
  | { type: 'end'; by: string; reason: string };

export type CohortEvent = ProgressReport | CohortCommand | ProvisionRequest | ProvisionDone;

export interface JourneyInput {
  runId: string;
  learnerId: string;
  plan: RunPlan;
  journey?: PersistedJourneySnapshot;
  /** The failed phase's last snapshot, to resume it from where it failed. */
  lastPhase?: { phase: PhaseName; snapshot: PersistedPhaseSnapshot };
  version: number;
  /** Resume after the journey instance was lost: the event to apply after restoring. */
  resume?: PhaseResume;
  /** Set on continue-as-new between phases: the phase to start first. */
  startPhase?: StartPhase;
  /** Set on continue-as-new: commands the previous execution received and had not handled yet. */
  pending?: JourneyEvent[];
}

export interface StartPhase {
  phase: PhaseName;
  attempt: number;
  resume: PhaseResume | null;
}

export interface PhaseInput {
  runId: string;
  learnerId: string;
  packId: string;
  def: PhaseDef;
  attempt: number;
  version: number;
  snapshot?: PersistedPhaseSnapshot;
  resume?: PhaseResume | null;
  /** Timers armed before a continue-as-new: id -> fire time (ISO). */
  timers?: Record<string, string>;
  /** The run's values for the pack's instructor parameters, for provisioning. */
  environmentParameters?: Record<string, unknown>;
}

export type PhaseOutput =
  | { status: 'completed'; result: PhaseResult }
  | { status: 'failed'; failure: PhaseFailure; snapshot: PersistedPhaseSnapshot };
