import type { JourneyEvent, PersistedJourneySnapshot, PhaseResume } from '../machines/journeyMachine';
import type { PersistedPhaseSnapshot, PhaseDef, PhaseFailure, PhaseName, PhaseResult } from '../machines/phaseMachine';
import type { ProgressReport } from '../machines/progress';

/**
 * What crosses between the workshop's instances and the code that starts and signals them: the run plan,
 * orchestration inputs and outputs, and the events one instance sends another. Orchestrations, activities,
 * the API and the bot all import these from here, so none of them reaches into another's module.
 */
/** What a run needs to know about the pack; built at the edge (API/CLI) from the validated pack. */
export interface RunPlan {
  packId: string;
  title: string;
  phases: Record<PhaseName, PhaseDef>;
  /** Values of the pack's `instructor` environment parameters for this run (e.g. hybrid's onPremGatewayIp). */
  environmentParameters?: Record<string, unknown>;
  /** ARM writes one deployment of the pack's template costs (group + deployment + resources), for the provisioning scheduler. */
  environmentWrites?: number;
  /** The learner subscriptions (and regions) environments are spread over; absent = LEARNER_SUBSCRIPTION_ID alone. */
  learnerSubscriptions?: LearnerSubscriptionRef[];
}

/** One learner subscription of a run's pool (activities/subscriptionPool.ts validates it). */
export interface LearnerSubscriptionRef {
  subscriptionId: string;
  /** Regions environments may go to in it; default: the pack's location. */
  locations?: string[];
  /** Limits for resource types without a usage API, e.g. { "Microsoft.DocumentDB/databaseAccounts": 50 }. */
  quotas?: Record<string, number>;
}

export interface Learner {
  learnerId: string;
  name: string;
  email?: string;
}

/** A phase asks the cohort for a deployment slot; the scheduler id is learner:step:attempt. */
export interface ProvisionRequest {
  type: 'provisionRequest';
  learnerId: string;
  phaseInstanceId: string;
  stepId: string;
  attempt: number;
  /**
   * Set by the activity that delivered it (signalInstance), from the learner's WorkshopProgress row: the phase
   * that asked had already failed or the learner finished, so nobody would deploy or report back.
   */
  stale?: boolean;
  /**
   * Set by the delivering activity too, for a learner in the run's hot-start pool: what their pool environment
   * was when they claimed it (orchestrations/hotStart.ts decides from it: adopt, wait for it, or deploy on demand).
   */
  hotStart?: HotStartClaim;
  /** The cohort's own marks on a request it holds (hot start): a pool deployment, and the phase waiting for it. */
  pool?: true;
  claimedBy?: { phaseInstanceId: string; stepId: string; attempt: number };
}

/** A pooled learner's environment when their phase asked for it (storage/environmentPool.ts's statuses). */
export type HotStartClaim = 'queued' | 'deploying' | 'ready' | 'failed' | 'claimed' | 'tornDown';

/** A run's hot start (POST /api/runs `hotStart`): environments deployed ahead for the first `poolSize` learners of the roster. */
export interface HotStartPlan {
  poolSize: number;
  /** The provision step whose environment is deployed ahead (the phase's own step adopts it: same idempotency key). */
  stepId: string;
  /** ISO: when the pool starts deploying (the run's start, or `startsAt` minus the lead time). */
  provisionAt: string;
  /** The lead time it was derived from (ms), for the instructor. */
  leadMs: number;
}

/** A hot-start pool at a moment, for the instructor (storage/environmentPool.ts's poolSummary computes it). */
export interface PoolSummary {
  size: number;
  queued: number;
  deploying: number;
  ready: number;
  claimed: number;
  failed: number;
  tornDown: number;
  /** Claimed when the environment was already deployed (the learner did not wait for it). */
  claimedReady: number;
  /** What the pool's environments cost while deployed and unclaimed, until `now` (USD, the packs' hourly estimate). */
  idleCostUsd: number;
  /** What the ready, unclaimed environments cost per hour now. */
  idleUsdPerHour: number;
}

/** What the run view (GET /api/runs/{run}, the dashboard, Teams) shows of hot start. */
export interface HotStartView extends PoolSummary {
  stepId: string;
  provisionAt: string;
  startsAt?: string;
  environments: Array<{ learnerId: string; status: string; since: string; subscriptionId?: string; readyAt?: string; claimedAt?: string; claimedFrom?: string; error?: string }>;
}

/** The scheduler id of a pool deployment (a phase's own request is provisionKey's learner:step:attempt). */
export function poolKey(learnerId: string): string {
  return `pool:${learnerId}`;
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
  /** A hot-start pool deployment's outcome (poolEnvironment orchestration), not a phase's. */
  pool?: true;
}

/** Cohort -> phase, on the phase's event channel; the phase orchestration handles these itself. `at`: when the cohort decided (its orchestration time). */
export type ProvisionSignal =
  | { type: 'PROVISION_ADMITTED'; stepId: string; attempt: number; envAttempt: number; at?: string }
  | { type: 'PROVISION_REJECTED'; stepId: string; attempt: number; message: string; at?: string };

export function provisionKey(learnerId: string, stepId: string, attempt: number): string {
  return `${learnerId}:${stepId}:${attempt}`;
}

/** Instructor commands to the cohort instance. */
export type CohortCommand =
  | { type: 'pause'; by: string }
  | { type: 'resume'; by: string }
  | { type: 'broadcast'; by: string; message: string; key: string }
  | { type: 'extend'; by: string; minutes: number; learnerId?: string }
  | { type: 'end'; by: string; reason: string }
  /** Park the run for the night / resume it (orchestrations/parking.ts); `seq` is the WorkshopParking run row's. */
  | { type: 'park'; by: string; seq: number }
  | { type: 'unpark'; by: string; seq: number };

/** Cohort -> journey -> phase: hold at the current step (environment saved and torn down) / continue there. */
export type ParkSignal = { type: 'PARK'; seq: number } | { type: 'UNPARK'; seq: number };

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
  pending?: Array<JourneyEvent | ParkSignal>;
  /** The run is parked (park number), or was unparked and the next phase restores the environment first. */
  parked?: number;
  restore?: number;
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
  /** The run's learner subscriptions, for placing the environment (RunPlan.learnerSubscriptions). */
  learnerSubscriptions?: LearnerSubscriptionRef[];
  /** The phase starts parked (the run is parked: park number) or restores the parked environment first (orchestrations/parking.ts). */
  parked?: number;
  restore?: number;
}

export type PhaseOutput =
  | { status: 'completed'; result: PhaseResult }
  | { status: 'failed'; failure: PhaseFailure; snapshot: PersistedPhaseSnapshot };
