import type { Checkpoint } from '../activities/recordCheckpoint';
import type { PersistedJourneySnapshot } from '../machines/journeyMachine';
import type { PersistedPhaseSnapshot, PhaseFailure, PhaseName, StepKind } from '../machines/phaseMachine';
import type { JourneyInput } from '../contracts/messages';

/**
 * Where a learner is, read from their checkpoint (the machines' persisted snapshots) — what the API
 * needs to turn "done" into `DONE { stepId }` for the right phase instance, or "approve" into
 * `REVIEW_APPROVED { stepId, round }`. Pure: no I/O.
 */
export type PhaseState =
  | 'awaitingLearner'
  | 'provisioning'
  | 'validating'
  | 'awaitingFix'
  | 'awaitingReview'
  | 'changesRequested'
  | 'starting'
  | 'failed'
  | 'completed';

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
  /** Review steps: the round a decision must name. */
  round: number | null;
  helpPending: { stepId: string | null; message: string } | null;
  failure: PhaseFailure | null;
}

export interface JourneyPosition {
  /** `running` (in `current`), `failed`, `completed` or `ended`. */
  state: 'running' | 'failed' | 'completed' | 'ended';
  current: PhaseName;
  attempts: Record<PhaseName, number>;
  failure: { phase: PhaseName; reason: PhaseFailure } | null;
  outcomes: Partial<Record<PhaseName, string>>;
}

const STEP_STATES = new Set<PhaseState>(['awaitingLearner', 'provisioning', 'validating', 'awaitingFix', 'awaitingReview', 'changesRequested', 'starting']);

export function phasePosition(checkpoint: Checkpoint | undefined): PhasePosition | undefined {
  const p = checkpoint?.phase;
  if (!p) return undefined;
  const snapshot = p.snapshot as PersistedPhaseSnapshot;
  const ctx = snapshot.context;
  const step = ctx.steps[ctx.stepIndex];
  let state: PhaseState = 'starting';
  if (snapshot.status === 'done') state = 'completed';
  else if (snapshot.value === 'failed') state = 'failed';
  else {
    const inStep = (snapshot.value as { running?: { step?: { inStep?: unknown } } }).running?.step?.inStep;
    if (typeof inStep === 'string' && STEP_STATES.has(inStep as PhaseState)) state = inStep as PhaseState;
  }
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
    round: step?.kind === 'review' && (state === 'awaitingReview' || state === 'changesRequested') ? stepAttempt : null,
    helpPending: ctx.helpPending,
    failure: ctx.failure,
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
  const { value, context } = j.snapshot;
  const state: JourneyPosition['state'] = value === 'failed' ? 'failed' : value === 'completed' ? 'completed' : value === 'ended' ? 'ended' : 'running';
  return {
    state,
    current: context.current,
    attempts: context.attempts,
    failure: context.failure,
    outcomes: Object.fromEntries(Object.entries(context.outcomes).map(([phase, o]) => [phase, o?.status ?? 'unknown'])),
  };
}
