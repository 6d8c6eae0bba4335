/**
 * Generated path tests: @xstate/graph explores each machine with sample events, and we check the
 * exploration against the machine *definition* — every state node reached, every transition
 * taken — so a state that becomes unreachable, or a branch no event can trigger, fails here even
 * if no hand-written test mentions it. Each generated path is replayed with `transition()`, the
 * way an orchestration drives the machine, and must land where the graph said it would.
 */
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths, getStateNodes, type StatePath } from '@xstate/graph';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createActor,
  initialTransition,
  transition,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
} from 'xstate';
import { toCommands, type CommandShape } from './commands.js';
import { JOURNEY_COMMAND_TYPES, journeyMachine, type JourneyEvent, type JourneySnapshot } from './journeyMachine.js';
import {
  PHASE_COMMAND_TYPES,
  phaseMachine,
  type CheckResult,
  type PhaseDef,
  type PhaseEvent,
  type PhaseFailure,
  type PhaseResult,
  type PhaseSnapshot,
} from './phaseMachine.js';

// ---------------------------------------------------------------------------------------------
// Generic machinery

type AnyEvent = { type: string };

/**
 * One machine to explore. Typed loosely on purpose: the exploration is the same for every machine,
 * and each model's functions narrow the snapshot to their own machine's type.
 */
interface Model {
  readonly machine: AnyStateMachine;
  readonly input: unknown;
  /** Sample events for a snapshot: valid ones built from its context, plus stale ones. */
  readonly events: (snapshot: AnyMachineSnapshot) => AnyEvent[];
  /** What makes two snapshots "the same state" for the graph: bounded, so the graph is finite. */
  readonly serialize: (snapshot: AnyMachineSnapshot) => string;
  readonly vocabulary: ReadonlySet<string>;
}

interface Exploration {
  readonly paths: StatePath<AnyMachineSnapshot, AnyEvent>[];
  /** Every (state, event) edge as a path: shortest path to the state, then the event. */
  readonly edgePaths: { readonly events: AnyEvent[]; readonly expected: string }[];
  readonly stateIds: ReadonlySet<string>;
  readonly transitions: ReadonlySet<AnyTransitionDefinition>;
}

function explore(model: Model): Exploration {
  const options = {
    input: model.input,
    events: model.events,
    serializeState: model.serialize,
    limit: 50_000,
  };
  const paths = getShortestPaths(model.machine, options);
  const adjacency = getAdjacencyMap(model.machine, options);

  const eventsTo = new Map<string, AnyEvent[]>();
  for (const path of paths) {
    // steps[0] is the synthetic xstate.init; each later step holds the event that led to it
    eventsTo.set(
      model.serialize(path.state),
      path.steps.slice(1).map((s) => s.event),
    );
  }
  const edgePaths: { events: AnyEvent[]; expected: string }[] = [];
  for (const { state, event, nextState } of adjacencyMapToArray(adjacency)) {
    const prefix = eventsTo.get(model.serialize(state));
    if (!prefix) throw new Error(`graph state ${model.serialize(state)} has no shortest path`);
    edgePaths.push({ events: [...prefix, event], expected: model.serialize(nextState) });
  }

  const root = model.machine.root;
  const stateIds = new Set(getStateNodes(root).map((n) => n.id));
  const transitions = new Set<AnyTransitionDefinition>();
  for (const node of [root, ...getStateNodes(root)]) {
    for (const list of node.transitions.values()) for (const t of list) transitions.add(t);
    for (const t of node.always ?? []) transitions.add(t);
  }
  return { paths, edgePaths, stateIds, transitions };
}

function describeTransition(t: AnyTransitionDefinition): string {
  const targets = t.target?.map((n) => `#${n.id}`).join(',') ?? '(self)';
  const index = (t.eventType ? t.source.transitions.get(t.eventType) : t.source.always)?.indexOf(t) ?? -1;
  return `#${t.source.id} --${t.eventType || '(always)'}[${index}]--> ${targets}`;
}

/** Replays `events` with the pure API, checking every batch of declared actions on the way. */
function replay(model: Model, events: readonly AnyEvent[]): AnyMachineSnapshot {
  const [initial, initialActions] = initialTransition(model.machine, model.input);
  checkBatch(model, initialActions);
  let snapshot: AnyMachineSnapshot = initial;
  for (const event of events) {
    const [next, actions] = transition(model.machine, snapshot, event);
    checkBatch(model, actions);
    snapshot = next;
  }
  return snapshot;
}

function checkBatch(model: Model, actions: readonly { type: string; params?: unknown }[]): void {
  const commands: CommandShape[] = toCommands(model.machine.id, actions, model.vocabulary);
  const checkpoints = commands.filter((c) => c.type === 'checkpoint').length;
  if (checkpoints > 1) throw new Error(`one transition declared ${checkpoints} checkpoints: ${JSON.stringify(commands)}`);
  if (checkpoints === 1 && commands.at(-1)?.type !== 'checkpoint') {
    throw new Error(`checkpoint must come last in its batch: ${JSON.stringify(commands.map((c) => c.type))}`);
  }
}

/** Runs `events` in an inspected actor and records the state nodes and transitions taken. */
function observe(
  machine: AnyStateMachine,
  input: unknown,
  events: readonly { type: string }[],
  seenStates: Set<string>,
  seenTransitions: Set<AnyTransitionDefinition>,
): AnyMachineSnapshot {
  const actor = createActor(machine, {
    input,
    inspect: (inspection) => {
      if (inspection.type === '@xstate.microstep') {
        for (const t of inspection._transitions) seenTransitions.add(t);
        for (const n of (inspection.snapshot as AnyMachineSnapshot)._nodes) seenStates.add(n.id);
      }
      if (inspection.type === '@xstate.snapshot') {
        for (const n of (inspection.snapshot as AnyMachineSnapshot)._nodes) seenStates.add(n.id);
      }
    },
  });
  actor.start();
  for (const event of events) actor.send(event);
  const end = actor.getSnapshot();
  actor.stop();
  return end;
}

function pathSuite(name: string, model: () => Model): void {
  describe(`${name}: generated paths`, () => {
    let m: Model;
    let x: Exploration;
    beforeAll(() => {
      m = model();
      x = explore(m);
    });

    it('every shortest path replays through transition() to the state the graph promised', () => {
      expect(x.paths.length).toBeGreaterThan(1);
      for (const path of x.paths) {
        const end = replay(m, path.steps.slice(1).map((s) => s.event));
        expect(m.serialize(end)).toBe(m.serialize(path.state));
      }
    });

    it('every edge path replays through transition() and agrees with an inspected actor', () => {
      const states = new Set<string>();
      const taken = new Set<AnyTransitionDefinition>();
      for (const edge of x.edgePaths) {
        const pure = replay(m, edge.events);
        expect(m.serialize(pure)).toBe(edge.expected);
        const viaActor = observe(m.machine, m.input, edge.events, states, taken);
        expect(viaActor.value).toEqual(pure.value);
        expect(viaActor.context).toEqual(pure.context);
      }

      const unreached = [...x.stateIds].filter((id) => !states.has(id));
      expect(unreached, 'state nodes no generated path reaches').toEqual([]);

      const untaken = [...x.transitions].filter((t) => !taken.has(t)).map(describeTransition);
      expect(untaken, 'transitions no generated path takes').toEqual([]);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Phase machine model

const graphPhase: PhaseDef = {
  phase: 'implementation',
  steps: [
    { id: 'q', kind: 'question', timeboxMinutes: 10 },
    { id: 't', kind: 'task' },
    { id: 'd', kind: 'deliverable' },
    { id: 'p', kind: 'provision', selfResume: true },
    { id: 'v', kind: 'validate', maxAttempts: 2 },
    { id: 'r', kind: 'review' },
  ],
};

const failingChecks: CheckResult[] = [{ checkId: 'c1', passed: false, hint: 'fix c1' }];
const passingChecks: CheckResult[] = [{ checkId: 'c1', passed: true }];

function phaseEvents(snapshot: PhaseSnapshot): PhaseEvent[] {
  if (snapshot.status !== 'active') return [];
  const c = snapshot.context;
  const stepId = c.steps[c.stepIndex]?.id ?? '(none)';
  const attempt = c.attempts[stepId] ?? 0;
  const timers = [c.timebox?.warnId, c.timebox?.expireId].filter((id): id is string => typeof id === 'string');
  return [
    { type: 'ANSWER', stepId, answer: 'a' },
    { type: 'ANSWER', stepId: 'stale', answer: 'a' },
    { type: 'DONE', stepId },
    { type: 'SUBMIT', stepId, deliverable: { name: 'n', uri: 'u' } },
    { type: 'HELP', message: 'help' },
    { type: 'HELP_ANSWERED', answer: 'answer' },
    { type: 'PROVISION_SUCCEEDED', stepId, attempt },
    { type: 'PROVISION_FAILED', stepId, attempt, message: 'boom' },
    { type: 'VALIDATION_PASSED', stepId, attempt, checks: passingChecks },
    { type: 'VALIDATION_FAILED', stepId, attempt, checks: failingChecks },
    { type: 'VALIDATION_PASSED', stepId, attempt: attempt - 1, checks: passingChecks },
    { type: 'REVIEW_APPROVED', stepId, round: attempt },
    { type: 'REVIEW_CHANGES_REQUESTED', stepId, round: attempt, comment: 'more' },
    ...timers.map((id) => ({ type: 'TIMER_FIRED' as const, id })),
    { type: 'TIMER_FIRED', id: 'stale:expire:0' },
    { type: 'EXTEND', minutes: 5 },
    { type: 'RESUME', from: 'start', by: 'instructor' },
    { type: 'RESUME', from: 'failedStep', by: 'instructor' },
    { type: 'RESUME', from: 'failedStep', by: 'learner' },
    { type: 'RESUME', from: 'failedStep', by: 'instructor', override: { by: 'i', reason: 'seen it' } },
    { type: 'SKIP' },
    { type: 'DISPUTE', stepId, attempt, note: 'I did it' },
    { type: 'DISPUTE', stepId, attempt: attempt - 1, note: 'stale' },
    { type: 'DISPUTE_OVERRIDDEN', stepId, attempt, by: 'i', reason: 'seen it' },
    { type: 'DISPUTE_RECHECK', stepId, attempt, by: 'i' },
    { type: 'DISPUTE_RETURNED', stepId, attempt, by: 'i', comment: 'not yet' },
    { type: 'ANSWER_FOR_REVIEW', stepId, answer: 'in my words', missing: ['k'] },
    { type: 'ANSWER_ACCEPTED', stepId, round: c.answerReviews?.[stepId]?.length ?? 0, by: 'i', comment: 'good' },
    { type: 'ANSWER_RETURNED', stepId, round: c.answerReviews?.[stepId]?.length ?? 0, by: 'i', comment: 'more' },
    { type: 'PEER_REVIEWED', stepId, round: attempt, reviewerId: 'peer', notes: 'n', scores: { cost: 'meets' } },
  ];
}

function serializePhase(snapshot: PhaseSnapshot): string {
  const c = snapshot.context;
  const stepId = c.steps[c.stepIndex]?.id;
  const limit = stepId === undefined ? undefined : c.attemptLimit[stepId];
  const tb = c.timebox?.expireId ? c.timebox : null;
  return JSON.stringify({
    value: snapshot.value,
    step: c.stepIndex,
    attemptsLeft: limit === undefined || stepId === undefined ? null : limit - (c.attempts[stepId] ?? 0),
    timebox: tb && {
      warnArmed: tb.warnId !== null,
      warnDeferred: tb.warnDeferMs > 0,
      expiryDeferred: tb.expireDeferMs > 0,
    },
    failure: c.failure?.kind ?? null,
    learnerMayResume: c.failure?.learnerMayResume ?? null,
    skipped: c.skipped,
    // A validation attempt can be disputed once: whether it was decides what DISPUTE does.
    // A peer reviews a round once: whether 'peer' did decides what PEER_REVIEWED does.
    peerReviewedThisRound: stepId !== undefined && (c.peerReviews?.[stepId] ?? []).some((r) => r.round === (c.attempts[stepId] ?? 0)),
    disputedThisAttempt: stepId !== undefined && (c.disputes?.[stepId] ?? []).some((d) => d.attempt === (c.attempts[stepId] ?? 0)),
  });
}

pathSuite('phase machine', () => ({
  machine: phaseMachine,
  input: graphPhase,
  // the exploration only ever hands these functions snapshots of phaseMachine
  events: (s) => phaseEvents(s as PhaseSnapshot),
  serialize: (s) => serializePhase(s as PhaseSnapshot),
  vocabulary: PHASE_COMMAND_TYPES,
}));

// ---------------------------------------------------------------------------------------------
// Journey machine model

const resumable: PhaseFailure = { kind: 'provision', stepId: 's', message: 'm', learnerMayResume: true };
const notResumable: PhaseFailure = { kind: 'timebox', stepId: 's', message: 'm', learnerMayResume: false };

function journeyEvents(snapshot: JourneySnapshot): JourneyEvent[] {
  if (snapshot.status !== 'active') return [];
  const phase = snapshot.context.failure?.phase ?? snapshot.context.current;
  const result: PhaseResult = {
    phase,
    status: 'passed',
    skipReason: null,
    answers: {},
    deliverables: {},
    attempts: {},
    validations: {},
    reviews: {},
    helpCount: 0,
  };
  return [
    { type: 'PHASE_COMPLETED', phase, result },
    { type: 'PHASE_COMPLETED', phase: phase === 'requirements' ? 'design' : 'requirements', result },
    { type: 'PHASE_FAILED', phase, reason: resumable },
    { type: 'PHASE_FAILED', phase, reason: notResumable },
    { type: 'RESUME', from: 'failedStep', by: 'learner' },
    { type: 'RESUME', from: 'start', by: 'instructor' },
    { type: 'SKIP_PHASE', phase },
    { type: 'EXTEND', phase, minutes: 5 },
    { type: 'END' },
  ];
}

function serializeJourney(snapshot: JourneySnapshot): string {
  const c = snapshot.context;
  return JSON.stringify({
    value: snapshot.value,
    failure: c.failure && { phase: c.failure.phase, learnerMayResume: c.failure.reason.learnerMayResume },
    extended: c.extendedMinutes[c.current] > 0,
  });
}

pathSuite('journey machine', () => ({
  machine: journeyMachine,
  input: undefined,
  // the exploration only ever hands these functions snapshots of journeyMachine
  events: (s) => journeyEvents(s as JourneySnapshot),
  serialize: (s) => serializeJourney(s as JourneySnapshot),
  vocabulary: JOURNEY_COMMAND_TYPES,
}));
