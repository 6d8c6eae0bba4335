import type { Checkpoint } from '../activities/recordCheckpoint';
import { journeyStatus, restoreJourneySnapshot, type JourneyStatus, type PersistedJourneySnapshot } from '../machines/journeyMachine';
import {
  phaseView,
  restorePhaseSnapshot,
  type AnswerReviewRecord,
  type Deliverable,
  type DisputeRecord,
  type PeerReviewRecord,
  type LearnerAction,
  type PersistedPhaseSnapshot,
  type PhaseFailure,
  type PhaseName,
  type PhaseView,
  type StepKind,
  type ValidationRecord,
} from '../machines/phaseMachine';
import type { JourneyInput } from '../contracts/messages';

/**
 * Where a learner is, read from their checkpoint (the machines' persisted snapshots) — what the API
 * needs to turn "done" into `DONE { stepId }` for the right phase instance, or "approve" into
 * `REVIEW_APPROVED { stepId, round }`. Pure: no I/O. The machines say where they are (phaseView,
 * journeyStatus); this only shapes it for the API.
 */
export type PhaseState = PhaseView['state'];

export interface PhasePosition {
  phase: PhaseName;
  attempt: number;
  instanceId: string;
  state: PhaseState;
  stepId: string | null;
  stepKind: StepKind | null;
  /** Index of the step in the phase, 0-based, and the number of steps. */
  stepIndex: number;
  steps: number;
  /** Prompts / provisioning runs / validation runs / review rounds of the current step so far. */
  stepAttempt: number;
  /** What the learner may do now (the phase machine's guards): answer, say done, submit. */
  accepts: LearnerAction[];
  /** Review steps: the round a decision must name. */
  round: number | null;
  helpPending: { stepId: string | null; message: string } | null;
  failure: PhaseFailure | null;
  /** Validate steps: the last validation run of the current step (its checks carry their evidence). */
  lastValidation: ValidationRecord | null;
  /** The current step's last dispute / answer sent for review (open while the instructor decides). */
  dispute: DisputeRecord | null;
  answerReview: AnswerReviewRecord | null;
  /** Review steps: what is under review, and peers' notes on it so far. */
  deliverables: Record<string, Deliverable[]> | null;
  peerReviews: PeerReviewRecord[];
}

export interface JourneyPosition {
  /** `running` (in `current`), `failed`, `completed` or `ended`. */
  state: JourneyStatus;
  current: PhaseName;
  attempts: Record<PhaseName, number>;
  failure: { phase: PhaseName; reason: PhaseFailure } | null;
  outcomes: Partial<Record<PhaseName, string>>;
}

export function phasePosition(checkpoint: Checkpoint | undefined): PhasePosition | undefined {
  const p = checkpoint?.phase;
  if (!p) return undefined;
  const snapshot = restorePhaseSnapshot(p.snapshot as PersistedPhaseSnapshot);
  const ctx = snapshot.context;
  const { state, step, accepts } = phaseView(snapshot);
  const stepAttempt = step ? (ctx.attempts[step.id] ?? 0) : 0;
  return {
    phase: p.name as PhaseName,
    attempt: p.attempt,
    instanceId: p.instanceId,
    state,
    stepId: state === 'completed' ? null : (step?.id ?? null),
    stepKind: state === 'completed' ? null : (step?.kind ?? null),
    stepIndex: ctx.stepIndex,
    steps: ctx.steps.length,
    stepAttempt,
    accepts,
    round: step?.kind === 'review' && (state === 'awaitingReview' || state === 'changesRequested') ? stepAttempt : null,
    helpPending: ctx.helpPending,
    failure: ctx.failure,
    lastValidation: (step && ctx.validations[step.id]?.at(-1)) ?? null,
    dispute: (step && ctx.disputes?.[step.id]?.at(-1)) ?? null,
    answerReview: (step && ctx.answerReviews?.[step.id]?.at(-1)) ?? null,
    deliverables: step?.kind === 'review' ? ctx.deliverables : null,
    peerReviews: (step && ctx.peerReviews?.[step.id]) ?? [],
  };
}

export interface JourneyCheckpoint {
  snapshot: PersistedJourneySnapshot;
  lastPhase?: JourneyInput['lastPhase'];
}

export function journeyCheckpoint(checkpoint: Checkpoint | undefined): JourneyCheckpoint | undefined {
  const j = checkpoint?.journey as JourneyCheckpoint | undefined;
  return j?.snapshot ? j : undefined;
}

export function journeyPosition(checkpoint: Checkpoint | undefined): JourneyPosition | undefined {
  const j = journeyCheckpoint(checkpoint);
  if (!j) return undefined;
  const { context } = j.snapshot;
  const state = journeyStatus(restoreJourneySnapshot(j.snapshot));
  return {
    state,
    current: context.current,
    attempts: context.attempts,
    failure: context.failure,
    outcomes: Object.fromEntries(Object.entries(context.outcomes).map(([phase, o]) => [phase, o?.status ?? 'unknown'])),
  };
}
