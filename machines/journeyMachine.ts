/**
 * The learner journey machine: the four workshop phases in order, for one learner.
 *
 * Why a command vocabulary: like the phase machine, this machine only *declares* what the
 * learnerJourney orchestration should do (`JourneyCommand`), so the orchestration stays a
 * deterministic loop — "transition, execute the commands, feed results back" — and the rules
 * (phase order, who may resume, what skip and end mean) live here, tested without Azure.
 *
 * Design choices the vocabulary encodes:
 * - A phase runs as its own sub-orchestration (bounded history), so the journey speaks in
 *   lifecycle terms: `startPhase` (with `attempt`, which grows on every start of that phase, so
 *   `journey + phase + attempt` is a deterministic sub-orchestration id) and `stopPhase`. A phase
 *   that failed has ended; `startPhase` with `resume` set means "start a new run of that phase
 *   from its last checkpoint and feed it `{ type: 'RESUME', ...resume }`" (the phase machine
 *   checks again who may resume what, so the rule cannot be bypassed by resuming via the journey).
 * - Instructor commands that belong to the running phase (EXTEND) are passed on with
 *   `forwardToPhase` rather than interpreted here: the phase machine owns its timeboxes.
 * - Phase events name the phase they are about, so a late PHASE_COMPLETED / SKIP_PHASE / EXTEND
 *   for a phase that is no longer current is ignored instead of moving the learner on twice.
 * - `teardown` is declared when the journey is over either way, so the cost guard does not rely on
 *   an orchestration remembering to clean up.
 * - `checkpoint` appears at most once per `transition()` call and means "persist the snapshot
 *   returned with this batch".
 */
import { and, assertEvent, assign, initialTransition, setup, transition } from 'xstate';
import type { ExecutableActionsFrom, SnapshotFrom } from 'xstate';
import { declared, toCommands, type ParamsOf } from './commands.js';
import { snapshotCodec, type PersistedSnapshot } from './snapshots.js';
import type { Actor, CheckOverride, PhaseFailure, PhaseName, PhaseResult, ResumeFrom } from './phaseMachine.js';

export const PHASES = ['requirements', 'design', 'implementation', 'validation'] as const satisfies readonly PhaseName[];

// ---------------------------------------------------------------------------------------------
// Events

export type JourneyEvent =
  | { type: 'PHASE_COMPLETED'; phase: PhaseName; result: PhaseResult }
  | { type: 'PHASE_FAILED'; phase: PhaseName; reason: PhaseFailure }
  | { type: 'RESUME'; from: ResumeFrom; by: Actor; override?: CheckOverride }
  | { type: 'SKIP_PHASE'; phase: PhaseName; reason?: string }
  | { type: 'EXTEND'; phase: PhaseName; minutes: number }
  | { type: 'END'; reason?: string };

// ---------------------------------------------------------------------------------------------
// Commands

export type JourneyCommand =
  | { type: 'startPhase'; params: { phase: PhaseName; attempt: number; resume: PhaseResume | null } }
  | { type: 'stopPhase'; params: { phase: PhaseName; attempt: number; reason: 'skipped' | 'ended' } }
  | {
      type: 'forwardToPhase';
      params: { phase: PhaseName; attempt: number; event: { type: 'EXTEND'; minutes: number } };
    }
  | { type: 'notifyInstructor'; params: { reason: 'failed'; phase: PhaseName; failure: PhaseFailure } }
  | {
      type: 'notifyLearner';
      params:
        | { reason: 'phaseSkipped'; phase: PhaseName; message: string | null }
        | { reason: 'journeyCompleted' }
        | { reason: 'runEnded'; message: string | null };
    }
  | { type: 'teardown'; params: { reason: 'completed' | 'ended' } }
  | { type: 'checkpoint'; params?: undefined };

/** How to resume a failed phase: becomes the phase machine's `RESUME` event verbatim. */
export interface PhaseResume {
  readonly from: ResumeFrom;
  readonly by: Actor;
  /** The instructor marks the checks that failed the phase as passed (a dispute decided after the last attempt). */
  readonly override?: CheckOverride;
}

export type JourneyCommandType = JourneyCommand['type'];

type P<K extends JourneyCommandType> = ParamsOf<JourneyCommand, K>;

const commandActions = {
  startPhase: declared<P<'startPhase'>>(),
  stopPhase: declared<P<'stopPhase'>>(),
  forwardToPhase: declared<P<'forwardToPhase'>>(),
  notifyInstructor: declared<P<'notifyInstructor'>>(),
  notifyLearner: declared<P<'notifyLearner'>>(),
  teardown: declared<P<'teardown'>>(),
  checkpoint: declared<undefined>(),
} satisfies { [K in JourneyCommandType]: (args: unknown, params: P<K>) => void };

/** The command vocabulary: exactly the declared actions above (the record is exhaustive over the union). */
export const JOURNEY_COMMAND_TYPES: ReadonlySet<JourneyCommandType> = new Set(Object.keys(commandActions) as JourneyCommandType[]);

// ---------------------------------------------------------------------------------------------
// Context and output

export type PhaseOutcome =
  | { readonly status: 'passed' | 'skipped'; readonly result: PhaseResult; readonly skipReason: string | null }
  | { readonly status: 'skipped'; readonly result: null; readonly skipReason: string | null };

export interface PhaseFailureRecord {
  readonly phase: PhaseName;
  readonly attempt: number;
  readonly reason: PhaseFailure;
}

export interface JourneyContext {
  /** The phase whose sub-orchestration is (or was last) running. */
  readonly current: PhaseName;
  readonly attempts: Record<PhaseName, number>;
  readonly outcomes: Partial<Record<PhaseName, PhaseOutcome>>;
  readonly failure: { readonly phase: PhaseName; readonly reason: PhaseFailure } | null;
  /** Every phase failure so far, oldest first (a resumed failure stays here). */
  readonly failures: readonly PhaseFailureRecord[];
  /** Set by RESUME, consumed by the next `startPhase`. */
  readonly resume: PhaseResume | null;
  readonly extendedMinutes: Record<PhaseName, number>;
  readonly ended: boolean;
  readonly endReason: string | null;
}

export interface JourneyResult {
  readonly status: 'completed' | 'ended';
  readonly outcomes: Partial<Record<PhaseName, PhaseOutcome>>;
  readonly attempts: Record<PhaseName, number>;
  readonly failures: readonly PhaseFailureRecord[];
  readonly extendedMinutes: Record<PhaseName, number>;
  readonly endReason: string | null;
}

function perPhase<T>(value: T): Record<PhaseName, T> {
  return { requirements: value, design: value, implementation: value, validation: value };
}

function journeyResult(context: JourneyContext, status: JourneyResult['status']): JourneyResult {
  return {
    status,
    outcomes: context.outcomes,
    attempts: context.attempts,
    failures: context.failures,
    extendedMinutes: context.extendedMinutes,
    endReason: context.endReason,
  };
}

function eventPhase(event: JourneyEvent): PhaseName | undefined {
  return 'phase' in event ? event.phase : undefined;
}

// ---------------------------------------------------------------------------------------------
// Machine

/** Where a journey is, for readers: each non-running state carries its status as a tag (journeyStatus). */
export const JOURNEY_STATUSES = ['running', 'failed', 'completed', 'ended'] as const;
export type JourneyStatus = (typeof JOURNEY_STATUSES)[number];

const journeySetup = setup({
  types: {
    context: {} as JourneyContext,
    events: {} as JourneyEvent,
    output: {} as JourneyResult,
    tags: {} as JourneyStatus,
  },
  actions: {
    ...commandActions,

    enterPhase: assign(({ context }, params: { phase: PhaseName }) => ({
      current: params.phase,
      attempts: { ...context.attempts, [params.phase]: context.attempts[params.phase] + 1 },
    })),
    /** The phase (re)started: the pending resume is used up and the failure is history. */
    consumeResume: assign({ resume: null, failure: null }),
    recordCompletion: assign(({ context, event }) => {
      assertEvent(event, 'PHASE_COMPLETED');
      const outcome: PhaseOutcome = {
        status: event.result.status,
        result: event.result,
        skipReason: event.result.skipReason,
      };
      return { outcomes: { ...context.outcomes, [event.phase]: outcome } };
    }),
    recordSkip: assign(({ context, event }) => {
      assertEvent(event, 'SKIP_PHASE');
      const outcome: PhaseOutcome = { status: 'skipped', result: null, skipReason: event.reason ?? null };
      return { outcomes: { ...context.outcomes, [event.phase]: outcome } };
    }),
    recordFailure: assign(({ context, event }) => {
      assertEvent(event, 'PHASE_FAILED');
      const record: PhaseFailureRecord = { phase: event.phase, attempt: context.attempts[event.phase], reason: event.reason };
      return { failure: { phase: event.phase, reason: event.reason }, failures: [...context.failures, record] };
    }),
    rememberResume: assign(({ event }) => {
      assertEvent(event, 'RESUME');
      return { resume: { from: event.from, by: event.by, ...(event.override ? { override: { ...event.override } } : {}) } };
    }),
    recordExtension: assign(({ context, event }) => {
      assertEvent(event, 'EXTEND');
      return {
        extendedMinutes: { ...context.extendedMinutes, [event.phase]: context.extendedMinutes[event.phase] + event.minutes },
      };
    }),
    recordEnd: assign(({ event }) => {
      assertEvent(event, 'END');
      return { ended: true, endReason: event.reason ?? null };
    }),
  },
  guards: {
    isForCurrentPhase: ({ context, event }) => eventPhase(event) === context.current,
    isPositiveExtension: ({ event }) => event.type === 'EXTEND' && Number.isFinite(event.minutes) && event.minutes > 0,
    /** RESUME of the failed `phase`: the instructor always may; the learner only where the step allows. */
    mayResume: ({ context, event }, params: { phase: PhaseName }) =>
      event.type === 'RESUME' &&
      context.failure?.phase === params.phase &&
      (event.by === 'instructor' || (event.from === 'failedStep' && context.failure.reason.learnerMayResume)),
    /** SKIP_PHASE naming the failed `phase`. */
    skipsFailed: ({ context, event }, params: { phase: PhaseName }) =>
      event.type === 'SKIP_PHASE' && event.phase === params.phase && context.failure?.phase === params.phase,
  },
});

type NextOf<K extends PhaseName> = K extends 'requirements'
  ? 'design'
  : K extends 'design'
    ? 'implementation'
    : K extends 'implementation'
      ? 'validation'
      : 'completed';

const NEXT: { readonly [K in PhaseName]: NextOf<K> } = {
  requirements: 'design',
  design: 'implementation',
  implementation: 'validation',
  validation: 'completed',
};

function targetAfter(phase: PhaseName): string {
  const next = NEXT[phase];
  return next === 'completed' ? '#journey.completed' : `#journey.running.${next}`;
}

/** One phase in progress: start its sub-orchestration, move on when it completes or is skipped. */
function phaseState(phase: PhaseName) {
  return {
    entry: [
      { type: 'enterPhase', params: { phase } },
      {
        type: 'startPhase',
        params: ({ context }: { context: JourneyContext }): P<'startPhase'> => ({
          phase,
          attempt: context.attempts[phase],
          resume: context.resume,
        }),
      },
      'consumeResume',
      'checkpoint',
    ],
    on: {
      PHASE_COMPLETED: { guard: 'isForCurrentPhase', target: targetAfter(phase), actions: 'recordCompletion' },
      SKIP_PHASE: {
        guard: 'isForCurrentPhase',
        target: targetAfter(phase),
        actions: [
          {
            type: 'stopPhase',
            params: ({ context }: { context: JourneyContext }): P<'stopPhase'> => ({
              phase,
              attempt: context.attempts[phase],
              reason: 'skipped',
            }),
          },
          'recordSkip',
          skippedNotice,
        ],
      },
    },
  } as const;
}

const skippedNotice = {
  type: 'notifyLearner',
  params: ({ event }: { event: JourneyEvent }): P<'notifyLearner'> => {
    assertEvent(event, 'SKIP_PHASE');
    return { reason: 'phaseSkipped', phase: event.phase, message: event.reason ?? null };
  },
} as const;

export const journeyMachine = journeySetup.createMachine({
  id: 'journey',
  context: {
    current: 'requirements',
    attempts: perPhase(0),
    outcomes: {},
    failure: null,
    failures: [],
    resume: null,
    extendedMinutes: perPhase(0),
    ended: false,
    endReason: null,
  },
  initial: 'running',
  output: ({ context }) => journeyResult(context, context.ended ? 'ended' : 'completed'),
  states: {
    running: {
      initial: 'requirements',
      on: {
        PHASE_FAILED: { guard: 'isForCurrentPhase', target: 'failed', actions: 'recordFailure' },
        EXTEND: {
          guard: and(['isForCurrentPhase', 'isPositiveExtension']),
          actions: [
            'recordExtension',
            {
              type: 'forwardToPhase',
              params: ({ context, event }) => ({
                phase: context.current,
                attempt: context.attempts[context.current],
                event: { type: 'EXTEND', minutes: event.minutes },
              }),
            },
            'checkpoint',
          ],
        },
        END: {
          target: 'ended',
          actions: [
            {
              type: 'stopPhase',
              params: ({ context }) => ({
                phase: context.current,
                attempt: context.attempts[context.current],
                reason: 'ended',
              }),
            },
            'recordEnd',
          ],
        },
      },
      states: {
        requirements: phaseState('requirements'),
        design: phaseState('design'),
        implementation: phaseState('implementation'),
        validation: phaseState('validation'),
      },
    },
    /** Resumable: remembers which phase failed and why (`context.failure`). */
    failed: {
      tags: 'failed',
      entry: [
        {
          type: 'notifyInstructor',
          params: ({ context }) => {
            if (!context.failure) {
              throw new Error('journey entered "failed" without a recorded failure (machine bug)');
            }
            return { reason: 'failed', phase: context.failure.phase, failure: context.failure.reason };
          },
        },
        'checkpoint',
      ],
      on: {
        RESUME: PHASES.map((phase) => ({
          guard: { type: 'mayResume', params: { phase } },
          target: `#journey.running.${phase}`,
          actions: 'rememberResume',
        })),
        SKIP_PHASE: PHASES.map((phase) => ({
          guard: { type: 'skipsFailed', params: { phase } },
          target: targetAfter(phase),
          actions: ['recordSkip', skippedNotice],
        })),
        END: { target: 'ended', actions: 'recordEnd' },
      },
    },
    completed: {
      type: 'final',
      tags: 'completed',
      entry: [
        { type: 'teardown', params: { reason: 'completed' } },
        { type: 'notifyLearner', params: { reason: 'journeyCompleted' } },
        'checkpoint',
      ],
    },
    ended: {
      type: 'final',
      tags: 'ended',
      entry: [
        { type: 'teardown', params: { reason: 'ended' } },
        { type: 'notifyLearner', params: ({ context }) => ({ reason: 'runEnded', message: context.endReason }) },
        'checkpoint',
      ],
    },
  },
});

// ---------------------------------------------------------------------------------------------
// Driving the machine from an orchestration

export type JourneyMachine = typeof journeyMachine;
export type JourneySnapshot = SnapshotFrom<JourneyMachine>;
export type JourneyActions = ExecutableActionsFrom<JourneyMachine>[];

export function journeyCommands(actions: JourneyActions): JourneyCommand[] {
  return toCommands<JourneyCommand>('journey', actions, JOURNEY_COMMAND_TYPES);
}

/** A snapshot and the commands the transition into it declared, in order. */
export interface JourneyTurn {
  snapshot: JourneySnapshot;
  commands: JourneyCommand[];
}

/** How a journey instance begins: fresh, restored (continue-as-new), or restored and resumed after it was lost. */
export function startJourney(persisted?: PersistedJourneySnapshot, resume?: PhaseResume): JourneyTurn {
  if (!persisted) {
    const [snapshot, actions] = initialTransition(journeyMachine);
    return { snapshot, commands: journeyCommands(actions) };
  }
  const restored = restoreJourneySnapshot(persisted);
  return resume ? stepJourney(restored, { type: 'RESUME', ...resume }) : { snapshot: restored, commands: [] };
}

/** Feed one event: the next snapshot and what to do. */
export function stepJourney(snapshot: JourneySnapshot, event: JourneyEvent): JourneyTurn {
  const [next, actions] = transition(journeyMachine, snapshot, event);
  return { snapshot: next, commands: journeyCommands(actions) };
}

/**
 * After a phase completed, the next phase starts in a fresh execution of the journey (continue-as-new),
 * so its history holds one phase at a time: split that start off the turn's other commands.
 */
export function deferNextPhase(turn: JourneyTurn, event: JourneyEvent): { commands: JourneyCommand[]; next?: StartPhaseParams } {
  const start = turn.commands.find((c): c is Extract<JourneyCommand, { type: 'startPhase' }> => c.type === 'startPhase');
  if (!start || event.type !== 'PHASE_COMPLETED') return { commands: turn.commands };
  return { commands: turn.commands.filter((c) => c !== start), next: start.params };
}
export type StartPhaseParams = Extract<JourneyCommand, { type: 'startPhase' }>['params'];

/** The one reading of where a journey is, from its state's tag. */
export function journeyStatus(snapshot: JourneySnapshot): JourneyStatus {
  return JOURNEY_STATUSES.find((t) => t !== 'running' && snapshot.hasTag(t)) ?? 'running';
}

/** The JSON form of a journey snapshot: store it as the checkpoint. */
export type PersistedJourneySnapshot = PersistedSnapshot<JourneyContext, JourneyResult>;
const journeySnapshots = snapshotCodec<JourneyMachine, PersistedJourneySnapshot>(journeyMachine, 'journey');
export const persistJourneySnapshot = journeySnapshots.persist;
export const restoreJourneySnapshot = journeySnapshots.restore;
