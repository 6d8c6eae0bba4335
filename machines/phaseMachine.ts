/**
 * The workshop phase machine: one learner walking one phase's steps.
 *
 * Why a command vocabulary: a Durable Functions orchestration replays its code many times, so the
 * machine must never *do* anything — it only says what should happen next, as named actions with
 * params (`PhaseCommand`). The orchestration feeds events in with xstate's pure `transition()`,
 * executes the returned commands (activities, timers, notifications) and feeds their outcomes back
 * as events. Keeping the vocabulary small and explicit keeps that interpreter a dumb `switch`, and
 * keeps every business rule (attempt limits, review rounds, timeboxes) here where it is tested.
 *
 * Design choices the vocabulary encodes:
 * - No clock. Timeboxes are `startTimer` / `cancelTimer` commands with relative `dueInMs`; time
 *   comes back as `TIMER_FIRED { id }`. Every arming of a timer gets a fresh id, so a timer that
 *   fires after it was cancelled or re-armed (a race the orchestration cannot always win) or a
 *   duplicated delivery is recognisably stale and ignored. `EXTEND` never reschedules: it records a
 *   deferral, and when the old timer fires the machine re-arms it for the deferred amount, so the
 *   deadline moves exactly `minutes` later without the machine ever knowing what time it is.
 * - Idempotency keys are in the params. `attempt` numbers only ever grow for a step (even across
 *   RESUME), so `(instance, stepId, attempt)` names one provisioning, one validation run or one
 *   prompt, and an activity retried by the runtime does not repeat a side effect.
 * - Late and duplicate events are ignored, not errors: learner, system and instructor events carry
 *   the `stepId` (and `attempt` or review `round`) they answer, and a guard drops anything that is
 *   not about what the machine is waiting for right now.
 * - `checkpoint` appears at most once per `transition()` call, after the commands that the new
 *   snapshot assumes were issued; it means "persist the snapshot returned with this batch".
 * - The phase definition is copied into context at start, so a persisted snapshot is
 *   self-contained: restoring it does not depend on the scenario pack being unchanged.
 */
import { and, assertEvent, assign, enqueueActions, initialTransition, or, setup, stateIn, transition } from 'xstate';
import type { ExecutableActionsFrom, SnapshotFrom } from 'xstate';
import { declared, toCommands, type ParamsOf } from './commands.js';
import { assertNever } from './assertNever.js';
import { snapshotCodec, type PersistedSnapshot } from './snapshots.js';

// ---------------------------------------------------------------------------------------------
// Definition (input)

export type PhaseName = 'requirements' | 'design' | 'implementation' | 'validation';
export const STEP_KINDS = ['question', 'task', 'deliverable', 'provision', 'validate', 'review'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/**
 * Where a step waits, by its kind. A record over every kind, so a new kind does not compile until it is
 * given a state here (and the compiler then points at the other records and `assertNever` switches over
 * StepKind); `starting` routes with it and the input check rejects a kind that is not in it.
 */
export const STEP_STATE = {
  question: 'awaitingLearner',
  task: 'awaitingLearner',
  deliverable: 'awaitingLearner',
  provision: 'provisioning',
  validate: 'validating',
  review: 'awaitingReview',
} as const satisfies { [K in StepKind]: StepPosition };

/**
 * Where a phase is, as learners, instructors and the dashboard see it. Each state of the step region
 * carries its position as an xstate tag (and `failed` / `help.requested` theirs), so readers ask the
 * snapshot (`phaseView`) instead of decoding state names: renaming a state cannot change what they see,
 * and removing a tag fails phaseMachine.test.ts.
 */
export const STEP_POSITIONS = ['awaitingLearner', 'provisioning', 'validating', 'awaitingFix', 'disputed', 'answerInReview', 'awaitingReview', 'changesRequested'] as const;
export type StepPosition = (typeof STEP_POSITIONS)[number];
export type PhaseTag = StepPosition | 'failed' | 'helpRequested';
export const PHASE_TAGS: readonly PhaseTag[] = [...STEP_POSITIONS, 'failed', 'helpRequested'];

export interface PhaseStepDef {
  readonly id: string;
  readonly kind: StepKind;
  /** Learner-facing time budget for the whole step; omitted or <= 0 means no timebox. */
  readonly timeboxMinutes?: number;
  /** `validate` steps: validation runs allowed before the phase fails (default 3). */
  readonly maxAttempts?: number;
  /** Whether the learner may RESUME this step after it failed, without the instructor. */
  readonly selfResume?: boolean;
}

export interface PhaseDef {
  readonly phase: PhaseName;
  readonly steps: readonly PhaseStepDef[];
}

export const DEFAULT_MAX_VALIDATION_ATTEMPTS = 3;
/** The nudge goes out when this share of the timebox is left (i.e. at 80 %). */
export const TIMEBOX_WARNING_SHARE_LEFT = 0.2;
const MS_PER_MINUTE = 60_000;

// ---------------------------------------------------------------------------------------------
// Events

export interface Deliverable {
  readonly name: string;
  readonly uri: string;
}

/** One thing a failed check read: where, what, what it found and what it wanted. */
export interface CheckEvidence {
  readonly resource: string;
  readonly property: string;
  readonly observed: string;
  readonly expected: string;
}

export interface CheckResult {
  readonly checkId: string;
  readonly passed: boolean;
  readonly message?: string;
  /** Shown to the learner when the check failed and another attempt is allowed. */
  readonly hint?: string;
  /** Failed checks: what was read, per resource (the learner disputes it, the instructor weighs it). */
  readonly evidence?: readonly CheckEvidence[];
  /** Failed checks: what to do about it (the pack's action). */
  readonly fix?: string;
}

export type ResumeFrom = 'start' | 'failedStep';
export type Actor = 'instructor' | 'learner';
/** The instructor's "mark passed" for checks that failed a phase on their last attempt: who and why. */
export interface CheckOverride {
  readonly by: string;
  readonly reason: string;
}

export type PhaseEvent =
  // learner
  | { type: 'ANSWER'; stepId: string; answer: string }
  | { type: 'DONE'; stepId: string }
  | { type: 'SUBMIT'; stepId: string; deliverable: Deliverable }
  | { type: 'HELP'; message: string }
  /** "I did it": the learner disputes the failed validation `attempt` of a validate step. */
  | { type: 'DISPUTE'; stepId: string; attempt: number; note: string }
  /** The learner sends an answer the keyword criteria refused to the instructor; `missing`: the criteria ids not met. */
  | { type: 'ANSWER_FOR_REVIEW'; stepId: string; answer: string; note?: string; missing: readonly string[] }
  // activities (results of provision / validate commands)
  | { type: 'PROVISION_SUCCEEDED'; stepId: string; attempt: number }
  | { type: 'PROVISION_FAILED'; stepId: string; attempt: number; message: string }
  | { type: 'VALIDATION_PASSED'; stepId: string; attempt: number; checks: readonly CheckResult[] }
  | { type: 'VALIDATION_FAILED'; stepId: string; attempt: number; checks: readonly CheckResult[] }
  // durable timers (results of startTimer commands)
  | { type: 'TIMER_FIRED'; id: string }
  // instructor
  | { type: 'REVIEW_APPROVED'; stepId: string; round: number; comment?: string }
  | { type: 'REVIEW_CHANGES_REQUESTED'; stepId: string; round: number; comment: string }
  | { type: 'HELP_ANSWERED'; answer: string }
  | { type: 'DISPUTE_OVERRIDDEN'; stepId: string; attempt: number; by: string; reason: string }
  | { type: 'DISPUTE_RECHECK'; stepId: string; attempt: number; by: string }
  | { type: 'DISPUTE_RETURNED'; stepId: string; attempt: number; by: string; comment: string }
  | { type: 'ANSWER_ACCEPTED'; stepId: string; round: number; by: string; comment: string }
  | { type: 'ANSWER_RETURNED'; stepId: string; round: number; by: string; comment: string }
  // a peer (a learner who passed this review) — notes for the instructor, who still decides
  | { type: 'PEER_REVIEWED'; stepId: string; round: number; reviewerId: string; notes: string; scores: Readonly<Record<string, PeerScore>> }
  | { type: 'RESUME'; from: ResumeFrom; by: Actor; override?: CheckOverride }
  | { type: 'SKIP'; reason?: string }
  | { type: 'EXTEND'; minutes: number };

// ---------------------------------------------------------------------------------------------
// Commands (the declared actions an orchestration executes)

export type PromptKind = 'question' | 'task' | 'deliverable';

export interface PhaseFailure {
  readonly kind: 'provision' | 'validation' | 'timebox';
  readonly stepId: string;
  readonly message: string;
  /** Copied from the step definition so the journey can decide without the phase definition. */
  readonly learnerMayResume: boolean;
  /** Validation failures: the checks that failed, with what they read (the instructor may mark them passed). */
  readonly checks?: readonly CheckResult[];
}

/** What the learner and the instructor see of a dispute / an answer sent for review, and what was decided. */
export type DisputeOutcome = 'open' | 'overridden' | 'rechecked' | 'returned' | 'withdrawn';
export interface DisputeRecord {
  readonly attempt: number;
  readonly note: string;
  /** The failed checks of that validation attempt, with their evidence. */
  readonly checks: readonly CheckResult[];
  readonly outcome: DisputeOutcome;
  readonly by: string | null;
  readonly reason: string | null;
}

export type AnswerReviewOutcome = 'open' | 'accepted' | 'returned' | 'withdrawn';
export interface AnswerReviewRecord {
  readonly round: number;
  readonly answer: string;
  readonly note: string | null;
  /** Keyword criteria the answer did not meet when it was sent; accepted = met by a person. */
  readonly missing: readonly string[];
  readonly outcome: AnswerReviewOutcome;
  readonly by: string | null;
  readonly comment: string | null;
}

/** A peer's reading of one rubric criterion. */
export type PeerScore = 'meets' | 'notYet';
export interface PeerReviewRecord {
  readonly round: number;
  readonly reviewerId: string;
  readonly notes: string;
  readonly scores: Readonly<Record<string, PeerScore>>;
}

/** An instructor's decision on a dispute or an answer, as the run report and the learner's record keep it. */
export type Decision =
  | { kind: 'dispute'; stepId: string; attempt: number; outcome: Exclude<DisputeOutcome, 'open' | 'withdrawn'>; by: string; reason: string; checkIds: string[] }
  | { kind: 'answer'; stepId: string; round: number; outcome: Exclude<AnswerReviewOutcome, 'open' | 'withdrawn'>; by: string; reason: string; criteriaMetByPerson: string[] };

export type InstructorNotice =
  | { reason: 'help'; stepId: string | null; message: string; helpCount: number }
  | { reason: 'dispute'; stepId: string; attempt: number; note: string; checks: readonly CheckResult[] }
  | { reason: 'answerReview'; stepId: string; round: number; answer: string; note: string | null; missing: readonly string[] }
  /** A peer reviewed the design waiting for the instructor: their notes beside the submission. */
  | { reason: 'peerReview'; stepId: string; round: number; review: PeerReviewRecord; deliverables: Record<string, Deliverable[]> }
  | { reason: 'review'; stepId: string; round: number; deliverables: Record<string, Deliverable[]> }
  | { reason: 'failed'; failure: PhaseFailure }
  | { reason: 'stuck'; stepId: string; msLeft: number }
  /** The step's time is up while the learner waits on the instructor's decision: the step waits, the instructor is told. */
  | { reason: 'overdue'; stepId: string; about: 'dispute' | 'answer'; heldMs: number };

export type LearnerNotice =
  | { reason: 'helpAnswered'; answer: string }
  | { reason: 'timeboxWarning'; stepId: string; msLeft: number }
  | { reason: 'timeboxExtended'; stepId: string; minutes: number }
  | { reason: 'changesRequested'; stepId: string; round: number; comment: string }
  /** The learner's dispute or answer is with the instructor: the prompt says so while they wait. */
  | { reason: 'withInstructor'; stepId: string; about: 'dispute' | 'answer' }
  | { reason: 'decided'; stepId: string; decision: Decision }
  | { reason: 'failed'; failure: PhaseFailure }
  | { reason: 'skipped'; message: string | null };

export type PhaseCommand =
  | { type: 'prompt'; params: { stepId: string; kind: PromptKind; attempt: number } }
  | { type: 'provision'; params: { stepId: string; attempt: number } }
  | { type: 'validate'; params: { stepId: string; attempt: number } }
  | { type: 'startTimer'; params: { id: string; dueInMs: number } }
  | { type: 'cancelTimer'; params: { id: string } }
  /** A failed check, for the learner: the pack's hint and, when the check read something, what it read. */
  | { type: 'hint'; params: { stepId: string; checkId: string; hint: string; evidence?: readonly CheckEvidence[] } }
  | { type: 'notifyInstructor'; params: InstructorNotice }
  | { type: 'notifyLearner'; params: LearnerNotice }
  | { type: 'recordDecision'; params: Decision }
  | { type: 'checkpoint'; params?: undefined };

export type PhaseCommandType = PhaseCommand['type'];

type P<K extends PhaseCommandType> = ParamsOf<PhaseCommand, K>;

const commandActions = {
  prompt: declared<P<'prompt'>>(),
  provision: declared<P<'provision'>>(),
  validate: declared<P<'validate'>>(),
  startTimer: declared<P<'startTimer'>>(),
  cancelTimer: declared<P<'cancelTimer'>>(),
  hint: declared<P<'hint'>>(),
  notifyInstructor: declared<P<'notifyInstructor'>>(),
  notifyLearner: declared<P<'notifyLearner'>>(),
  recordDecision: declared<P<'recordDecision'>>(),
  checkpoint: declared<undefined>(),
} satisfies { [K in PhaseCommandType]: (args: unknown, params: P<K>) => void };

/** The command vocabulary: exactly the declared actions above (the record is exhaustive over the union). */
export const PHASE_COMMAND_TYPES: ReadonlySet<PhaseCommandType> = new Set(Object.keys(commandActions) as PhaseCommandType[]);

// ---------------------------------------------------------------------------------------------
// Context and output

export interface ValidationRecord {
  readonly attempt: number;
  readonly passed: boolean;
  readonly checks: readonly CheckResult[];
}

export interface ReviewRecord {
  readonly round: number;
  readonly decision: 'approved' | 'changesRequested';
  readonly comment: string | null;
}

/** The timebox of the current step (after the step ends: of the last step, disarmed). */
export interface StepTimebox {
  readonly stepId: string;
  readonly totalMs: number;
  /** How long before expiry the nudge goes out. */
  readonly warnLeadMs: number;
  /** Armed warning timer, or null once it fired or the step ended. */
  readonly warnId: string | null;
  /** Armed expiry timer, or null once the step ended. */
  readonly expireId: string | null;
  /** Extension not yet applied to the armed warning / expiry timer. */
  readonly warnDeferMs: number;
  readonly expireDeferMs: number;
  readonly extendedMinutes: number;
}

export interface PhaseContext {
  readonly phase: PhaseName;
  readonly steps: readonly PhaseStepDef[];
  /** Index into `steps`; equals `steps.length` once every step is done. */
  readonly stepIndex: number;
  readonly answers: Record<string, string>;
  /** Every submission per step, oldest first (resubmissions after review land on the review step). */
  readonly deliverables: Record<string, Deliverable[]>;
  /** Monotonic per step: prompts, provisioning runs, validation runs or review rounds. */
  readonly attempts: Record<string, number>;
  /** `validate` steps: the attempt number after which validation counts as failed. */
  readonly attemptLimit: Record<string, number>;
  readonly validations: Record<string, ValidationRecord[]>;
  readonly reviews: Record<string, ReviewRecord[]>;
  /** Per validate step: the learner's disputes, oldest first (absent in snapshots from before disputes). */
  readonly disputes?: Record<string, DisputeRecord[]>;
  /** Per question step: answers sent to the instructor, oldest first (absent in older snapshots). */
  readonly answerReviews?: Record<string, AnswerReviewRecord[]>;
  /** Per review step: peers' notes on the learner's design, oldest first (absent in older snapshots). */
  readonly peerReviews?: Record<string, PeerReviewRecord[]>;
  readonly helpCount: number;
  readonly helpPending: { readonly stepId: string | null; readonly message: string } | null;
  /** Source of unique timer ids. */
  readonly timerSeq: number;
  readonly timebox: StepTimebox | null;
  readonly failure: PhaseFailure | null;
  readonly skipReason: string | null;
  readonly skipped: boolean;
}

export interface PhaseResult {
  readonly phase: PhaseName;
  readonly status: 'passed' | 'skipped';
  readonly skipReason: string | null;
  readonly answers: Record<string, string>;
  readonly deliverables: Record<string, Deliverable[]>;
  readonly attempts: Record<string, number>;
  readonly validations: Record<string, ValidationRecord[]>;
  readonly reviews: Record<string, ReviewRecord[]>;
  readonly disputes?: Record<string, DisputeRecord[]>;
  readonly answerReviews?: Record<string, AnswerReviewRecord[]>;
  readonly peerReviews?: Record<string, PeerReviewRecord[]>;
  readonly helpCount: number;
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

function currentStep(context: PhaseContext): PhaseStepDef | undefined {
  return context.steps[context.stepIndex];
}

/** The current step; only called from states that exist because there is one. */
function stepOf(context: PhaseContext): PhaseStepDef {
  const step = currentStep(context);
  if (!step) {
    throw new Error(
      `phase "${context.phase}": no step at index ${context.stepIndex} of ${context.steps.length}; ` +
        'a step state was entered after the last step (machine bug)',
    );
  }
  return step;
}

function attemptOf(context: PhaseContext): number {
  return context.attempts[stepOf(context).id] ?? 0;
}

function bump(record: Record<string, number>, key: string): Record<string, number> {
  return { ...record, [key]: (record[key] ?? 0) + 1 };
}

function append<T>(record: Record<string, T[]>, key: string, item: T): Record<string, T[]> {
  return { ...record, [key]: [...(record[key] ?? []), item] };
}

/** `starting` only routes question / task / deliverable steps to the learner prompt. */
function promptKind(step: PhaseStepDef): PromptKind {
  if (step.kind === 'question' || step.kind === 'task' || step.kind === 'deliverable') return step.kind;
  throw new Error(`phase step "${step.id}" is a ${step.kind} step and has no learner prompt (machine bug)`);
}

function lastOf<T>(record: Record<string, T[]> | undefined, key: string): T | undefined {
  return record?.[key]?.at(-1);
}

function withLast<T>(record: Record<string, T[]> | undefined, key: string, item: T): Record<string, T[]> {
  const list = record?.[key] ?? [];
  return { ...record, [key]: [...list.slice(0, -1), item] };
}

/** The current step's dispute the instructor has not decided yet. */
function openDispute(context: PhaseContext): DisputeRecord | undefined {
  const last = lastOf(context.disputes, stepOf(context).id);
  return last?.outcome === 'open' ? last : undefined;
}

/** The current step's answer the instructor has not decided yet. */
function openAnswerReview(context: PhaseContext): AnswerReviewRecord | undefined {
  const last = lastOf(context.answerReviews, stepOf(context).id);
  return last?.outcome === 'open' ? last : undefined;
}

function eventStepId(event: PhaseEvent): string | undefined {
  return 'stepId' in event ? event.stepId : undefined;
}

function timerIds(stepId: string, seq: number): { warnId: string; expireId: string } {
  return { warnId: `${stepId}:warn:${seq}`, expireId: `${stepId}:expire:${seq}` };
}

function failureFor(context: PhaseContext, event: PhaseEvent): PhaseFailure {
  const step = stepOf(context);
  const learnerMayResume = step.selfResume === true;
  switch (event.type) {
    case 'PROVISION_FAILED':
      return { kind: 'provision', stepId: step.id, learnerMayResume, message: event.message };
    case 'VALIDATION_FAILED': {
      const failed = event.checks.filter((c) => !c.passed).map((c) => c.checkId);
      return {
        kind: 'validation',
        stepId: step.id,
        learnerMayResume,
        message:
          `validation of step "${step.id}" failed on attempt ${event.attempt} of ${context.attemptLimit[step.id] ?? event.attempt}` +
          (failed.length ? `; failing checks: ${failed.join(', ')}` : ''),
        checks: event.checks.filter((c) => !c.passed).map((c) => ({ ...c })),
      };
    }
    case 'TIMER_FIRED': {
      const minutes = (step.timeboxMinutes ?? 0) + (context.timebox?.extendedMinutes ?? 0);
      return {
        kind: 'timebox',
        stepId: step.id,
        learnerMayResume,
        message: `timebox of ${minutes} min for step "${step.id}" expired`,
      };
    }
    default:
      throw new Error(`phase "${context.phase}": ${event.type} does not fail a phase (machine bug)`);
  }
}

export function phaseResult(context: PhaseContext): PhaseResult {
  return {
    phase: context.phase,
    status: context.skipped ? 'skipped' : 'passed',
    skipReason: context.skipReason,
    answers: context.answers,
    deliverables: context.deliverables,
    attempts: context.attempts,
    validations: context.validations,
    reviews: context.reviews,
    disputes: context.disputes ?? {},
    answerReviews: context.answerReviews ?? {},
    peerReviews: context.peerReviews ?? {},
    helpCount: context.helpCount,
  };
}

/**
 * Refuse a phase definition the machine cannot run. Plans are built from validated packs; this is the last
 * line against a step of an unknown kind (from a newer or hand-made plan), which used to fall through to a
 * review. (xstate turns an error inside the context factory into an error snapshot, so startPhase checks first.)
 */
export function checkPhaseDef(def: PhaseDef): void {
  for (const step of def.steps) {
    if (!Object.hasOwn(STEP_STATE, step.kind)) {
      throw new Error(`phase "${def.phase}": step "${step.id}" has kind "${String(step.kind)}", which is not one of ${STEP_KINDS.join(', ')}`);
    }
  }
}

function initialContext(def: PhaseDef): PhaseContext {
  checkPhaseDef(def);
  return {
    phase: def.phase,
    steps: def.steps.map((s) => ({ ...s })),
    stepIndex: 0,
    answers: {},
    deliverables: {},
    attempts: {},
    attemptLimit: {},
    validations: {},
    reviews: {},
    disputes: {},
    answerReviews: {},
    peerReviews: {},
    helpCount: 0,
    helpPending: null,
    timerSeq: 0,
    timebox: null,
    failure: null,
    skipReason: null,
    skipped: false,
  };
}

// ---------------------------------------------------------------------------------------------
// Machine

const ROUTING = '#phase.running.step.routing';

function stepIs<const K extends readonly StepKind[]>(...kinds: K) {
  return { type: 'currentStepIs', params: { kinds } } as const;
}

export const phaseMachine = setup({
  types: {
    context: {} as PhaseContext,
    events: {} as PhaseEvent,
    input: {} as PhaseDef,
    output: {} as PhaseResult,
    tags: {} as PhaseTag,
  },
  actions: {
    ...commandActions,

    countAttempt: assign(({ context }) => ({ attempts: bump(context.attempts, stepOf(context).id) })),
    grantValidationAttempts: assign(({ context }) => {
      const step = stepOf(context);
      const allowed = step.maxAttempts ?? DEFAULT_MAX_VALIDATION_ATTEMPTS;
      return { attemptLimit: { ...context.attemptLimit, [step.id]: attemptOf(context) + allowed } };
    }),
    advanceStep: assign(({ context }) => ({ stepIndex: context.stepIndex + 1 })),
    recordAnswer: assign(({ context, event }) => {
      assertEvent(event, 'ANSWER');
      return { answers: { ...context.answers, [event.stepId]: event.answer } };
    }),
    recordDeliverable: assign(({ context, event }) => {
      assertEvent(event, 'SUBMIT');
      return { deliverables: append(context.deliverables, event.stepId, { ...event.deliverable }) };
    }),
    recordValidation: assign(({ context, event }) => {
      assertEvent(event, ['VALIDATION_PASSED', 'VALIDATION_FAILED']);
      const record: ValidationRecord = {
        attempt: event.attempt,
        passed: event.type === 'VALIDATION_PASSED',
        checks: event.checks.map((c) => ({ ...c })),
      };
      return { validations: append(context.validations, event.stepId, record) };
    }),
    recordReview: assign(({ context, event }) => {
      assertEvent(event, ['REVIEW_APPROVED', 'REVIEW_CHANGES_REQUESTED']);
      const record: ReviewRecord = {
        round: event.round,
        decision: event.type === 'REVIEW_APPROVED' ? 'approved' : 'changesRequested',
        comment: event.comment ?? null,
      };
      return { reviews: append(context.reviews, event.stepId, record) };
    }),
    recordHelpRequest: assign(({ context, event }) => {
      assertEvent(event, 'HELP');
      return {
        helpCount: context.helpCount + 1,
        helpPending: { stepId: currentStep(context)?.id ?? null, message: event.message },
      };
    }),
    clearHelp: assign({ helpPending: null }),
    recordFailure: assign(({ context, event }) => ({ failure: failureFor(context, event) })),
    clearFailure: assign({ failure: null }),
    restartFromFirstStep: assign({ stepIndex: 0 }),
    markSkipped: assign(({ event }) => {
      assertEvent(event, 'SKIP');
      return { skipped: true, skipReason: event.reason ?? null };
    }),

    /** Arms the warning and expiry timers when a step with a timebox starts. */
    startTimebox: enqueueActions(({ context, enqueue }) => {
      const step = stepOf(context);
      const minutes = step.timeboxMinutes ?? 0;
      if (minutes <= 0) {
        enqueue.assign({ timebox: null });
        return;
      }
      const seq = context.timerSeq + 1;
      const { warnId, expireId } = timerIds(step.id, seq);
      const totalMs = Math.round(minutes * MS_PER_MINUTE);
      const warnLeadMs = Math.round(totalMs * TIMEBOX_WARNING_SHARE_LEFT);
      const timebox: StepTimebox = {
        stepId: step.id,
        totalMs,
        warnLeadMs,
        warnId,
        expireId,
        warnDeferMs: 0,
        expireDeferMs: 0,
        extendedMinutes: 0,
      };
      enqueue.assign({ timerSeq: seq, timebox });
      enqueue({ type: 'startTimer', params: { id: warnId, dueInMs: totalMs - warnLeadMs } });
      enqueue({ type: 'startTimer', params: { id: expireId, dueInMs: totalMs } });
    }),
    /**
     * Cancels whatever is still armed when the step ends, except the timer that just fired. The
     * disarmed record stays (a timebox failure is worded from it; exit runs before the failure
     * is recorded) until the next step replaces it.
     */
    cancelTimebox: enqueueActions(({ context, event, enqueue }) => {
      const timebox = context.timebox;
      if (!timebox) return;
      const justFired = event.type === 'TIMER_FIRED' ? event.id : null;
      for (const id of [timebox.warnId, timebox.expireId]) {
        if (id !== null && id !== justFired) enqueue({ type: 'cancelTimer', params: { id } });
      }
      enqueue.assign({ timebox: { ...timebox, warnId: null, expireId: null } });
    }),
    /** The warning fired but the step was extended meanwhile: push the warning out. */
    rearmWarning: enqueueActions(({ context, enqueue }) => {
      const timebox = context.timebox;
      if (!timebox) return;
      const seq = context.timerSeq + 1;
      const { warnId } = timerIds(timebox.stepId, seq);
      enqueue.assign({ timerSeq: seq, timebox: { ...timebox, warnId, warnDeferMs: 0 } });
      enqueue({ type: 'startTimer', params: { id: warnId, dueInMs: timebox.warnDeferMs } });
    }),
    /**
     * The deadline was reached but the step was extended meanwhile: push the expiry out, and if
     * the learner was already nudged, nudge again when the same share of time is left.
     */
    rearmExpiry: enqueueActions(({ context, enqueue }) => {
      const timebox = context.timebox;
      if (!timebox) return;
      let seq = context.timerSeq + 1;
      const expireId = timerIds(timebox.stepId, seq).expireId;
      let warnId = timebox.warnId;
      enqueue({ type: 'startTimer', params: { id: expireId, dueInMs: timebox.expireDeferMs } });
      if (warnId === null && timebox.expireDeferMs > timebox.warnLeadMs) {
        seq += 1;
        warnId = timerIds(timebox.stepId, seq).warnId;
        enqueue({
          type: 'startTimer',
          params: { id: warnId, dueInMs: timebox.expireDeferMs - timebox.warnLeadMs },
        });
      }
      enqueue.assign({ timerSeq: seq, timebox: { ...timebox, warnId, expireId, expireDeferMs: 0 } });
    }),
    /**
     * The deadline came while the learner waits on the instructor (a dispute, an answer in review): the learner
     * is not failed for the instructor's time. The expiry is held for the warning lead (a minute at least) and
     * the instructor told, again at each hold, until they decide.
     */
    holdExpiryForInstructor: enqueueActions(({ context, enqueue }) => {
      const timebox = context.timebox;
      if (!timebox) return;
      const seq = context.timerSeq + 1;
      const expireId = timerIds(timebox.stepId, seq).expireId;
      const heldMs = Math.max(timebox.warnLeadMs, MS_PER_MINUTE);
      enqueue.assign({ timerSeq: seq, timebox: { ...timebox, expireId } });
      enqueue({ type: 'startTimer', params: { id: expireId, dueInMs: heldMs } });
      const about = openDispute(context) ? 'dispute' : 'answer';
      enqueue({ type: 'notifyInstructor', params: { reason: 'overdue', stepId: timebox.stepId, about, heldMs } });
    }),
    markWarned: assign(({ context }) =>
      context.timebox ? { timebox: { ...context.timebox, warnId: null } } : {},
    ),
    extendTimebox: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'EXTEND');
      const timebox = context.timebox;
      if (!timebox) return;
      const ms = Math.round(event.minutes * MS_PER_MINUTE);
      enqueue.assign({
        timebox: {
          ...timebox,
          warnDeferMs: timebox.warnId !== null ? timebox.warnDeferMs + ms : timebox.warnDeferMs,
          expireDeferMs: timebox.expireDeferMs + ms,
          extendedMinutes: timebox.extendedMinutes + event.minutes,
        },
      });
      enqueue({
        type: 'notifyLearner',
        params: { reason: 'timeboxExtended', stepId: timebox.stepId, minutes: event.minutes },
      });
    }),
    recordDispute: assign(({ context, event }) => {
      assertEvent(event, 'DISPUTE');
      const run = context.validations[event.stepId]?.find((v) => v.attempt === event.attempt);
      const record: DisputeRecord = {
        attempt: event.attempt,
        note: event.note,
        checks: (run?.checks ?? []).filter((c) => !c.passed).map((c) => ({ ...c })),
        outcome: 'open',
        by: null,
        reason: null,
      };
      return { disputes: append(context.disputes ?? {}, event.stepId, record) };
    }),
    /** Closes the open dispute: the instructor decided (recorded, and the learner told), or the learner re-ran the checks. */
    resolveDispute: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['DISPUTE_OVERRIDDEN', 'DISPUTE_RECHECK', 'DISPUTE_RETURNED', 'DONE']);
      const open = openDispute(context);
      if (!open) return;
      const stepId = stepOf(context).id;
      const [outcome, by, reason]: [DisputeOutcome, string, string] =
        event.type === 'DISPUTE_OVERRIDDEN'
          ? ['overridden', event.by, event.reason]
          : event.type === 'DISPUTE_RECHECK'
            ? ['rechecked', event.by, 'the instructor re-ran the checks']
            : event.type === 'DISPUTE_RETURNED'
              ? ['returned', event.by, event.comment]
              : ['withdrawn', 'learner', 'the learner re-ran the checks'];
      enqueue.assign({ disputes: withLast(context.disputes, stepId, { ...open, outcome, by, reason }) });
      if (outcome === 'withdrawn') return;
      const decision: Decision = { kind: 'dispute', stepId, attempt: open.attempt, outcome, by, reason, checkIds: open.checks.map((c) => c.checkId) };
      enqueue({ type: 'recordDecision', params: decision });
      enqueue({ type: 'notifyLearner', params: { reason: 'decided', stepId, decision } });
    }),
    /**
     * The checks failed the phase on their last attempt and the instructor marks them passed: recorded like an
     * overridden dispute (the learner had no attempt left to dispute), and the phase goes on after the step.
     */
    overrideFailedChecks: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'RESUME');
      const step = stepOf(context);
      const last = context.validations[step.id]?.at(-1);
      if (!event.override || !last) return;
      const checks = (context.failure?.checks ?? last.checks.filter((c) => !c.passed)).map((c) => ({ ...c }));
      const { by, reason } = event.override;
      const record: DisputeRecord = { attempt: last.attempt, note: '(failed on the last attempt; decided by the instructor)', checks, outcome: 'overridden', by, reason };
      enqueue.assign({ disputes: append(context.disputes ?? {}, step.id, record) });
      const decision: Decision = { kind: 'dispute', stepId: step.id, attempt: last.attempt, outcome: 'overridden', by, reason, checkIds: checks.map((c) => c.checkId) };
      enqueue({ type: 'recordDecision', params: decision });
      enqueue({ type: 'notifyLearner', params: { reason: 'decided', stepId: step.id, decision } });
    }),
    /** A re-run the instructor asked for does not use up one of the learner's attempts. */
    grantRecheckAttempt: assign(({ context }) => {
      const step = stepOf(context);
      return { attemptLimit: { ...context.attemptLimit, [step.id]: (context.attemptLimit[step.id] ?? 0) + 1 } };
    }),
    recordAnswerForReview: assign(({ context, event }) => {
      assertEvent(event, 'ANSWER_FOR_REVIEW');
      const round = (context.answerReviews?.[event.stepId]?.length ?? 0) + 1;
      const record: AnswerReviewRecord = { round, answer: event.answer, note: event.note ?? null, missing: [...event.missing], outcome: 'open', by: null, comment: null };
      return { answerReviews: append(context.answerReviews ?? {}, event.stepId, record) };
    }),
    /** Closes the open answer review; an accepted answer is the step's answer, its missing criteria met by a person. */
    resolveAnswerReview: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['ANSWER_ACCEPTED', 'ANSWER_RETURNED', 'ANSWER']);
      const open = openAnswerReview(context);
      if (!open) return;
      const stepId = stepOf(context).id;
      if (event.type === 'ANSWER') {
        enqueue.assign({ answerReviews: withLast(context.answerReviews, stepId, { ...open, outcome: 'withdrawn', by: 'learner', comment: 'the learner answered again' }) });
        return;
      }
      const outcome = event.type === 'ANSWER_ACCEPTED' ? 'accepted' : 'returned';
      enqueue.assign({
        answerReviews: withLast(context.answerReviews, stepId, { ...open, outcome, by: event.by, comment: event.comment }),
        ...(outcome === 'accepted' ? { answers: { ...context.answers, [stepId]: open.answer } } : {}),
      });
      const decision: Decision = { kind: 'answer', stepId, round: open.round, outcome, by: event.by, reason: event.comment, criteriaMetByPerson: outcome === 'accepted' ? [...open.missing] : [] };
      enqueue({ type: 'recordDecision', params: decision });
      enqueue({ type: 'notifyLearner', params: { reason: 'decided', stepId, decision } });
    }),
    recordPeerReview: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER_REVIEWED');
      const review: PeerReviewRecord = { round: event.round, reviewerId: event.reviewerId, notes: event.notes, scores: { ...event.scores } };
      const peerReviews = append(context.peerReviews ?? {}, event.stepId, review);
      enqueue.assign({ peerReviews });
      enqueue({ type: 'notifyInstructor', params: { reason: 'peerReview', stepId: event.stepId, round: event.round, review, deliverables: context.deliverables } });
    }),
    hintFailedChecks: enqueueActions(({ event, enqueue }) => {
      assertEvent(event, 'VALIDATION_FAILED');
      for (const check of event.checks) {
        if (!check.passed && check.hint) {
          enqueue({ type: 'hint', params: { stepId: event.stepId, checkId: check.checkId, hint: check.hint, ...(check.evidence?.length ? { evidence: check.evidence } : {}) } });
        }
      }
    }),
  },
  guards: {
    noStepsLeft: ({ context }) => context.stepIndex >= context.steps.length,
    currentStepIs: ({ context }, params: { kinds: readonly StepKind[] }) => {
      const step = currentStep(context);
      return step !== undefined && params.kinds.includes(step.kind);
    },
    isForCurrentStep: ({ context, event }) => {
      const id = eventStepId(event);
      return id !== undefined && id === currentStep(context)?.id;
    },
    isForCurrentAttempt: ({ context, event }) =>
      'attempt' in event && event.stepId === currentStep(context)?.id && event.attempt === attemptOf(context),
    isForCurrentReviewRound: ({ context, event }) =>
      'round' in event && event.stepId === currentStep(context)?.id && event.round === attemptOf(context),
    isDisputableAttempt: ({ context, event }) =>
      event.type === 'DISPUTE' &&
      event.stepId === currentStep(context)?.id &&
      event.attempt === attemptOf(context) &&
      !(context.disputes?.[event.stepId] ?? []).some((d) => d.attempt === event.attempt),
    /** One peer review per reviewer and round, never by the learner themselves (the API names the reviewer). */
    isNewPeerReview: ({ context, event }) =>
      event.type === 'PEER_REVIEWED' &&
      !(context.peerReviews?.[event.stepId] ?? []).some((r) => r.round === event.round && r.reviewerId === event.reviewerId),
    waitingOnInstructor: or([stateIn('#phase.running.step.inStep.disputed'), stateIn('#phase.running.step.inStep.answerInReview')]),
    isForOpenDispute: ({ context, event }) =>
      'attempt' in event && event.stepId === currentStep(context)?.id && openDispute(context)?.attempt === event.attempt,
    isForOpenAnswerReview: ({ context, event }) =>
      'round' in event && event.stepId === currentStep(context)?.id && openAnswerReview(context)?.round === event.round,
    validationAttemptsLeft: ({ context }) => {
      const step = stepOf(context);
      return attemptOf(context) < (context.attemptLimit[step.id] ?? 0);
    },
    hasTimebox: ({ context }) => context.timebox?.expireId != null,
    isPositiveExtension: ({ event }) => event.type === 'EXTEND' && Number.isFinite(event.minutes) && event.minutes > 0,
    isWarningTimer: ({ context, event }) =>
      event.type === 'TIMER_FIRED' && event.id === context.timebox?.warnId,
    isExpiryTimer: ({ context, event }) =>
      event.type === 'TIMER_FIRED' && event.id === context.timebox?.expireId,
    warningDeferred: ({ context }) => (context.timebox?.warnDeferMs ?? 0) > 0,
    expiryDeferred: ({ context }) => (context.timebox?.expireDeferMs ?? 0) > 0,
    isOverrideOfFailedChecks: ({ context, event }) =>
      event.type === 'RESUME' && event.from === 'failedStep' && event.by === 'instructor' && event.override !== undefined && context.failure?.kind === 'validation',
    isInstructorRestart: ({ event }) => event.type === 'RESUME' && event.from === 'start' && event.by === 'instructor',
    mayResumeFailedStep: ({ context, event }) =>
      event.type === 'RESUME' &&
      event.from === 'failedStep' &&
      (event.by === 'instructor' || context.failure?.learnerMayResume === true),
  },
}).createMachine({
  id: 'phase',
  context: ({ input }) => initialContext(input),
  initial: 'running',
  output: ({ context }) => phaseResult(context),
  states: {
    running: {
      type: 'parallel',
      on: {
        SKIP: {
          target: 'completed',
          actions: [
            'markSkipped',
            { type: 'notifyLearner', params: ({ context }) => ({ reason: 'skipped', message: context.skipReason }) },
          ],
        },
      },
      states: {
        step: {
          initial: 'routing',
          states: {
            /** Transient: starts the step at `stepIndex`, or finishes the phase after the last one. */
            routing: {
              always: [{ guard: 'noStepsLeft', target: '#phase.completed' }, { target: 'inStep' }],
            },
            /** One step in progress; owns the step's timebox (armed on entry, cancelled on exit). */
            inStep: {
              entry: 'startTimebox',
              exit: 'cancelTimebox',
              initial: 'starting',
              on: {
                TIMER_FIRED: [
                  { guard: and(['isWarningTimer', 'warningDeferred']), actions: ['rearmWarning', 'checkpoint'] },
                  {
                    guard: 'isWarningTimer',
                    actions: [
                      {
                        type: 'notifyLearner',
                        params: ({ context }) => ({
                          reason: 'timeboxWarning',
                          stepId: stepOf(context).id,
                          msLeft: context.timebox?.warnLeadMs ?? 0,
                        }),
                      },
                      {
                        type: 'notifyInstructor',
                        params: ({ context }) => ({
                          reason: 'stuck',
                          stepId: stepOf(context).id,
                          msLeft: context.timebox?.warnLeadMs ?? 0,
                        }),
                      },
                      'markWarned',
                      'checkpoint',
                    ],
                  },
                  { guard: and(['isExpiryTimer', 'expiryDeferred']), actions: ['rearmExpiry', 'checkpoint'] },
                  { guard: and(['isExpiryTimer', 'waitingOnInstructor']), actions: ['holdExpiryForInstructor', 'checkpoint'] },
                  { guard: 'isExpiryTimer', target: '#phase.failed', actions: 'recordFailure' },
                ],
                EXTEND: {
                  guard: and(['hasTimebox', 'isPositiveExtension']),
                  actions: ['extendTimebox', 'checkpoint'],
                },
              },
              states: {
                /** Transient: picks the waiting state for the step's kind. */
                starting: {
                  always: STEP_KINDS.map((kind) => ({
                    guard: stepIs(kind),
                    target: STEP_STATE[kind],
                    actions: kind === 'validate' ? ['grantValidationAttempts' as const] : [],
                  })),
                },
                /** question / task / deliverable: the learner answers, says done, or submits. */
                awaitingLearner: {
                  tags: 'awaitingLearner',
                  entry: [
                    'countAttempt',
                    {
                      type: 'prompt',
                      params: ({ context }) => {
                        const step = stepOf(context);
                        return { stepId: step.id, kind: promptKind(step), attempt: attemptOf(context) };
                      },
                    },
                    'checkpoint',
                  ],
                  on: {
                    ANSWER: {
                      guard: and(['isForCurrentStep', stepIs('question')]),
                      target: ROUTING,
                      actions: ['recordAnswer', 'advanceStep'],
                    },
                    ANSWER_FOR_REVIEW: {
                      guard: and(['isForCurrentStep', stepIs('question')]),
                      target: 'answerInReview',
                      actions: 'recordAnswerForReview',
                    },
                    DONE: {
                      guard: and(['isForCurrentStep', stepIs('task')]),
                      target: ROUTING,
                      actions: ['advanceStep'],
                    },
                    SUBMIT: {
                      guard: and(['isForCurrentStep', stepIs('deliverable')]),
                      target: ROUTING,
                      actions: ['recordDeliverable', 'advanceStep'],
                    },
                  },
                },
                provisioning: {
                  tags: 'provisioning',
                  entry: [
                    'countAttempt',
                    {
                      type: 'provision',
                      params: ({ context }) => ({ stepId: stepOf(context).id, attempt: attemptOf(context) }),
                    },
                    'checkpoint',
                  ],
                  on: {
                    PROVISION_SUCCEEDED: { guard: 'isForCurrentAttempt', target: ROUTING, actions: 'advanceStep' },
                    PROVISION_FAILED: { guard: 'isForCurrentAttempt', target: '#phase.failed', actions: 'recordFailure' },
                  },
                },
                validating: {
                  tags: 'validating',
                  entry: [
                    'countAttempt',
                    {
                      type: 'validate',
                      params: ({ context }) => ({ stepId: stepOf(context).id, attempt: attemptOf(context) }),
                    },
                    'checkpoint',
                  ],
                  on: {
                    VALIDATION_PASSED: {
                      guard: 'isForCurrentAttempt',
                      target: ROUTING,
                      actions: ['recordValidation', 'advanceStep'],
                    },
                    VALIDATION_FAILED: [
                      {
                        guard: and(['isForCurrentAttempt', 'validationAttemptsLeft']),
                        target: 'awaitingFix',
                        actions: ['recordValidation', 'hintFailedChecks'],
                      },
                      {
                        guard: 'isForCurrentAttempt',
                        target: '#phase.failed',
                        actions: ['recordValidation', 'recordFailure'],
                      },
                    ],
                  },
                },
                /** Validation failed with attempts left: the learner fixes things and says done. */
                awaitingFix: {
                  tags: 'awaitingFix',
                  entry: [
                    {
                      type: 'prompt',
                      params: ({ context }) => ({ stepId: stepOf(context).id, kind: 'task', attempt: attemptOf(context) }),
                    },
                    'checkpoint',
                  ],
                  on: {
                    DONE: { guard: 'isForCurrentStep', target: 'validating' },
                    DISPUTE: { guard: 'isDisputableAttempt', target: 'disputed', actions: 'recordDispute' },
                  },
                },
                /**
                 * "I did it": the failed checks are with the instructor, who overrides them (the step passes), re-runs
                 * them (without using up an attempt) or returns the dispute with a comment. The learner may fix things
                 * meanwhile and re-run the checks themselves, which withdraws the dispute.
                 */
                disputed: {
                  tags: 'disputed',
                  entry: [
                    {
                      type: 'notifyInstructor',
                      params: ({ context }) => {
                        const d = openDispute(context)!;
                        return { reason: 'dispute', stepId: stepOf(context).id, attempt: d.attempt, note: d.note, checks: d.checks };
                      },
                    },
                    { type: 'notifyLearner', params: ({ context }) => ({ reason: 'withInstructor', stepId: stepOf(context).id, about: 'dispute' }) },
                    'checkpoint',
                  ],
                  on: {
                    DISPUTE_OVERRIDDEN: { guard: 'isForOpenDispute', target: ROUTING, actions: ['resolveDispute', 'advanceStep'] },
                    DISPUTE_RECHECK: { guard: 'isForOpenDispute', target: 'validating', actions: ['resolveDispute', 'grantRecheckAttempt'] },
                    DISPUTE_RETURNED: { guard: 'isForOpenDispute', target: 'awaitingFix', actions: 'resolveDispute' },
                    DONE: { guard: 'isForCurrentStep', target: 'validating', actions: 'resolveDispute' },
                  },
                },
                /** A question's answer the keyword criteria refused is with the instructor, who accepts it or returns it. */
                answerInReview: {
                  tags: 'answerInReview',
                  entry: [
                    {
                      type: 'notifyInstructor',
                      params: ({ context }) => {
                        const r = openAnswerReview(context)!;
                        return { reason: 'answerReview', stepId: stepOf(context).id, round: r.round, answer: r.answer, note: r.note, missing: r.missing };
                      },
                    },
                    { type: 'notifyLearner', params: ({ context }) => ({ reason: 'withInstructor', stepId: stepOf(context).id, about: 'answer' }) },
                    'checkpoint',
                  ],
                  on: {
                    ANSWER_ACCEPTED: { guard: 'isForOpenAnswerReview', target: ROUTING, actions: ['resolveAnswerReview', 'advanceStep'] },
                    ANSWER_RETURNED: { guard: 'isForOpenAnswerReview', target: 'awaitingLearner', actions: 'resolveAnswerReview' },
                    // Keyword criteria stay instant feedback: an answer that meets them goes through and withdraws the review.
                    ANSWER: { guard: 'isForCurrentStep', target: ROUTING, actions: ['resolveAnswerReview', 'recordAnswer', 'advanceStep'] },
                  },
                },
                /** The instructor reviews this phase's deliverables; `attempts` counts rounds. */
                awaitingReview: {
                  tags: 'awaitingReview',
                  entry: [
                    'countAttempt',
                    {
                      type: 'notifyInstructor',
                      params: ({ context }) => ({
                        reason: 'review',
                        stepId: stepOf(context).id,
                        round: attemptOf(context),
                        deliverables: context.deliverables,
                      }),
                    },
                    'checkpoint',
                  ],
                  on: {
                    REVIEW_APPROVED: {
                      guard: 'isForCurrentReviewRound',
                      target: ROUTING,
                      actions: ['recordReview', 'advanceStep'],
                    },
                    REVIEW_CHANGES_REQUESTED: {
                      guard: 'isForCurrentReviewRound',
                      target: 'changesRequested',
                      actions: 'recordReview',
                    },
                    // Stays in review: the peer's notes go to the instructor, who still approves or asks for changes.
                    PEER_REVIEWED: { guard: and(['isForCurrentReviewRound', 'isNewPeerReview']), actions: ['recordPeerReview', 'checkpoint'] },
                  },
                },
                changesRequested: {
                  tags: 'changesRequested',
                  entry: [
                    {
                      type: 'notifyLearner',
                      params: ({ context }) => {
                        const step = stepOf(context);
                        const last = context.reviews[step.id]?.at(-1);
                        return {
                          reason: 'changesRequested',
                          stepId: step.id,
                          round: attemptOf(context),
                          comment: last?.comment ?? '',
                        };
                      },
                    },
                    {
                      type: 'prompt',
                      params: ({ context }) => ({
                        stepId: stepOf(context).id,
                        kind: 'deliverable',
                        attempt: attemptOf(context),
                      }),
                    },
                    'checkpoint',
                  ],
                  on: {
                    SUBMIT: { guard: 'isForCurrentStep', target: 'awaitingReview', actions: 'recordDeliverable' },
                  },
                },
              },
            },
          },
        },
        /** Orthogonal to the step: asking for help never loses the learner's place. */
        help: {
          initial: 'idle',
          states: {
            idle: {
              on: {
                HELP: {
                  target: 'requested',
                  actions: [
                    'recordHelpRequest',
                    {
                      type: 'notifyInstructor',
                      params: ({ context }) => ({
                        reason: 'help',
                        stepId: context.helpPending?.stepId ?? null,
                        message: context.helpPending?.message ?? '',
                        helpCount: context.helpCount,
                      }),
                    },
                    'checkpoint',
                  ],
                },
              },
            },
            requested: {
              tags: 'helpRequested',
              on: {
                HELP_ANSWERED: {
                  target: 'idle',
                  actions: [
                    { type: 'notifyLearner', params: ({ event }) => ({ reason: 'helpAnswered', answer: event.answer }) },
                    'clearHelp',
                    'checkpoint',
                  ],
                },
              },
            },
          },
        },
      },
    },
    /** Resumable: the instructor (or the learner, where the step allows) picks it up again. */
    failed: {
      tags: 'failed',
      entry: [
        { type: 'notifyInstructor', params: ({ context }) => ({ reason: 'failed', failure: failureOf(context) }) },
        { type: 'notifyLearner', params: ({ context }) => ({ reason: 'failed', failure: failureOf(context) }) },
        'checkpoint',
      ],
      on: {
        RESUME: [
          { guard: 'isOverrideOfFailedChecks', target: 'running', actions: ['overrideFailedChecks', 'clearFailure', 'advanceStep'] },
          { guard: 'isInstructorRestart', target: 'running', actions: ['restartFromFirstStep', 'clearFailure'] },
          { guard: 'mayResumeFailedStep', target: 'running', actions: 'clearFailure' },
        ],
        SKIP: {
          target: 'completed',
          actions: [
            'markSkipped',
            { type: 'notifyLearner', params: ({ context }) => ({ reason: 'skipped', message: context.skipReason }) },
          ],
        },
      },
    },
    completed: {
      type: 'final',
      entry: 'checkpoint',
    },
  },
});

function failureOf(context: PhaseContext): PhaseFailure {
  if (!context.failure) {
    throw new Error(`phase "${context.phase}": entered "failed" without a recorded failure (machine bug)`);
  }
  return context.failure;
}

// ---------------------------------------------------------------------------------------------
// Driving the machine from an orchestration

export type PhaseMachine = typeof phaseMachine;
export type PhaseSnapshot = SnapshotFrom<PhaseMachine>;
export type PhaseActions = ExecutableActionsFrom<PhaseMachine>[];

/** Plain commands, in execution order, from what `transition()` / `initialTransition()` returned. */
export function phaseCommands(actions: PhaseActions): PhaseCommand[] {
  return toCommands<PhaseCommand>('phase', actions, PHASE_COMMAND_TYPES);
}

/** A snapshot and the commands the transition into it declared, in order. */
export interface PhaseTurn {
  snapshot: PhaseSnapshot;
  commands: PhaseCommand[];
}

/**
 * How a phase instance begins: from its definition, or from a checkpoint (continue-as-new, or a new attempt
 * resuming a failed one). A resumed attempt always checkpoints, even when RESUME changed nothing (a phase
 * lost while waiting for the learner): the checkpoint names the instance learner and instructor events go to.
 */
export function startPhase(def: PhaseDef, persisted?: PersistedPhaseSnapshot, resume?: { from: ResumeFrom; by: Actor } | null): PhaseTurn {
  if (!persisted) {
    checkPhaseDef(def);
    const [snapshot, actions] = initialTransition(phaseMachine, def);
    return { snapshot, commands: phaseCommands(actions) };
  }
  const restored = restorePhaseSnapshot(persisted);
  if (!resume) return { snapshot: restored, commands: [] };
  const turn = stepPhase(restored, { type: 'RESUME', ...resume });
  if (!turn.commands.some((c) => c.type === 'checkpoint')) turn.commands.push({ type: 'checkpoint' });
  return turn;
}

/** Feed one event: the next snapshot and what to do. */
export function stepPhase(snapshot: PhaseSnapshot, event: PhaseEvent): PhaseTurn {
  const [next, actions] = transition(phaseMachine, snapshot, event);
  return { snapshot: next, commands: phaseCommands(actions) };
}

/** What a learner does to a step: answer it, say it is done, submit a deliverable, dispute failed checks ("I did it"), or send an answer to the instructor. */
export const LEARNER_ACTIONS = ['ANSWER', 'DONE', 'SUBMIT', 'DISPUTE', 'ANSWER_FOR_REVIEW'] as const;
export type LearnerAction = (typeof LEARNER_ACTIONS)[number];

/** What a reader may know of a phase: its position, the current step, whether help is open, what the learner may do. */
export interface PhaseView {
  /** `starting` only before the first step waits (a snapshot is never at rest there). */
  state: StepPosition | 'starting' | 'failed' | 'completed';
  step: PhaseStepDef | null;
  helpPending: boolean;
  /** The learner actions the machine takes for the current step now (its own guards decide, via xstate `can`). */
  accepts: LearnerAction[];
}

function learnerEvent(action: LearnerAction, stepId: string, attempt: number): PhaseEvent {
  switch (action) {
    case 'DISPUTE':
      return { type: 'DISPUTE', stepId, attempt, note: '' };
    case 'ANSWER_FOR_REVIEW':
      return { type: 'ANSWER_FOR_REVIEW', stepId, answer: '', missing: [] };
    case 'ANSWER':
      return { type: 'ANSWER', stepId, answer: '' };
    case 'DONE':
      return { type: 'DONE', stepId };
    case 'SUBMIT':
      return { type: 'SUBMIT', stepId, deliverable: { name: '', uri: '' } };
    default:
      return assertNever(action, 'learner action');
  }
}

/** The one reading of a phase snapshot for people: the orchestration's progress reports and the API both use it. */
export function phaseView(snapshot: PhaseSnapshot): PhaseView {
  const ctx = snapshot.context;
  const step = ctx.steps[ctx.stepIndex] ?? null;
  const state: PhaseView['state'] =
    snapshot.status === 'done' ? 'completed' : snapshot.hasTag('failed') ? 'failed' : (STEP_POSITIONS.find((t) => snapshot.hasTag(t)) ?? 'starting');
  const accepts = step ? LEARNER_ACTIONS.filter((a) => snapshot.can(learnerEvent(a, step.id, ctx.attempts[step.id] ?? 0))) : [];
  return { state, step, helpPending: snapshot.hasTag('helpRequested'), accepts };
}

/** The JSON form of a phase snapshot: store it as the checkpoint. */
export type PersistedPhaseSnapshot = PersistedSnapshot<PhaseContext, PhaseResult>;
const phaseSnapshots = snapshotCodec<PhaseMachine, PersistedPhaseSnapshot>(phaseMachine, 'phase');
export const persistPhaseSnapshot = phaseSnapshots.persist;
export const restorePhaseSnapshot = phaseSnapshots.restore;
