import { PHASES } from './journeyMachine';
import { assertNever } from './assertNever';
import type { PhaseName, PhaseView } from './phaseMachine';

/**
 * A learner's progress as the cohort (dashboard, API, WorkshopProgress table) sees it, and the one rule
 * that folds progress reports into it. Pure: the cohort orchestration folds reports with it, and the
 * activity that delivers a report applies it to the learner's WorkshopProgress row.
 */
export const LEARNER_STATES = ['starting', 'working', 'awaitingReview', 'changesRequested', 'helpRequested', 'stuck', 'failed', 'completed', 'ended'] as const;
export type LearnerState = (typeof LEARNER_STATES)[number];

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
  /** Set by the activity that delivered it: the report changed nothing (it arrived after a later one). */
  stale?: boolean;
}

const PROGRESS_FINISHED: readonly LearnerState[] = ['completed', 'ended'];
/**
 * The reports the cohort orchestration acts on: a learner finished (it counts them to know when everyone has)
 * or their phase failed (its provisioning request is withdrawn). Every other report only moves the learner's
 * WorkshopProgress row, which the activity delivering it writes; raising it to the cohort as well would cost
 * the cohort an episode per step per learner (80,000 events for a 1,000-learner drill) for nothing.
 */
export const COHORT_REPORTS: readonly LearnerState[] = ['completed', 'ended', 'failed'];
/** A learner's note in the cohort's state and the progress table (help question, failure) is cut to this. */
export const DETAIL_CHARS = 200;

/**
 * A learner's progress after a report, or undefined when the report is stale. Reports arrive out of
 * order (retries, concurrent activities): a finished learner stays finished, a later phase never goes back
 * to an earlier one, nor a phase's newer state to an older report of it.
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


/** What the cohort shows for a learner inside a phase, from the phase machine's own view of it. */
export function learnerStateOf(view: PhaseView): LearnerState {
  switch (view.state) {
    case 'completed':
    case 'failed':
    case 'awaitingReview':
    case 'changesRequested':
      return view.state;
    // A disputed check or an answer sent for review waits for the instructor like a design review does,
    // so it is in the instructor's review queue (the position and the progress detail say which it is).
    case 'disputed':
    case 'answerInReview':
      return 'awaitingReview';
    case 'starting':
    case 'awaitingLearner':
    case 'provisioning':
    case 'validating':
    case 'awaitingFix':
      return view.helpPending ? 'helpRequested' : 'working';
    default:
      return assertNever(view.state);
  }
}
