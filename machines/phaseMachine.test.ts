import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition } from 'xstate';
import {
  phaseCommands,
  phaseMachine,
  persistPhaseSnapshot,
  restorePhaseSnapshot,
  type CheckResult,
  type PhaseCommand,
  type PhaseDef,
  type PhaseEvent,
  type PhaseSnapshot,
} from './phaseMachine.js';

/** Drives the machine exactly as the phase orchestration does: pure transitions + plain commands. */
function start(def: PhaseDef): { snapshot: PhaseSnapshot; commands: PhaseCommand[] } {
  const [snapshot, actions] = initialTransition(phaseMachine, def);
  return { snapshot, commands: phaseCommands(actions) };
}

function send(snapshot: PhaseSnapshot, event: PhaseEvent): { snapshot: PhaseSnapshot; commands: PhaseCommand[] } {
  const [next, actions] = transition(phaseMachine, snapshot, event);
  return { snapshot: next, commands: phaseCommands(actions) };
}

function sendAll(snapshot: PhaseSnapshot, events: readonly PhaseEvent[]): PhaseSnapshot {
  return events.reduce((s, e) => send(s, e).snapshot, snapshot);
}

/** An event the machine must not react to: same snapshot, nothing declared. */
function expectIgnored(snapshot: PhaseSnapshot, event: PhaseEvent): void {
  const [next, actions] = transition(phaseMachine, snapshot, event);
  expect(next).toBe(snapshot);
  expect(actions).toEqual([]);
}

function stepState(snapshot: PhaseSnapshot): unknown {
  const value = snapshot.value;
  return typeof value === 'object' && 'running' in value ? value.running.step : value;
}

function commandsOf<T extends PhaseCommand['type']>(commands: PhaseCommand[], type: T) {
  return commands.filter((c): c is Extract<PhaseCommand, { type: T }> => c.type === type);
}

const designPhase: PhaseDef = {
  phase: 'design',
  steps: [
    { id: 'goals', kind: 'question', timeboxMinutes: 10 },
    { id: 'sketch', kind: 'task' },
    { id: 'diagram', kind: 'deliverable' },
    { id: 'env', kind: 'provision', selfResume: true },
    { id: 'checks', kind: 'validate', maxAttempts: 2 },
    { id: 'archReview', kind: 'review' },
  ],
};

const failing: CheckResult[] = [
  { checkId: 'vnet', passed: true },
  { checkId: 'private-endpoint', passed: false, message: 'no private endpoint', hint: 'add a private endpoint to the lake' },
  { checkId: 'tags', passed: false, message: 'missing cost-center tag' },
];
const passing: CheckResult[] = [{ checkId: 'vnet', passed: true }];

const diagram = { name: 'diagram.png', uri: 'https://example.test/diagram.png' };

/** Up to the validate step of `designPhase` (attempt 1 running). */
function atValidation(): PhaseSnapshot {
  return sendAll(start(designPhase).snapshot, [
    { type: 'ANSWER', stepId: 'goals', answer: 'ingest 2 TB/day' },
    { type: 'DONE', stepId: 'sketch' },
    { type: 'SUBMIT', stepId: 'diagram', deliverable: diagram },
    { type: 'PROVISION_SUCCEEDED', stepId: 'env', attempt: 1 },
  ]);
}

describe('phase machine: stepping', () => {
  it('starts by arming the first step timebox and prompting for it', () => {
    const { snapshot, commands } = start(designPhase);
    expect(snapshot.value).toEqual({ running: { step: { inStep: 'awaitingLearner' }, help: 'idle' } });
    expect(commands).toEqual([
      { type: 'startTimer', params: { id: 'goals:warn:1', dueInMs: 480_000 } },
      { type: 'startTimer', params: { id: 'goals:expire:1', dueInMs: 600_000 } },
      { type: 'prompt', params: { stepId: 'goals', kind: 'question', attempt: 1 } },
      { type: 'checkpoint' },
    ]);
  });

  it('walks every step kind to completion and outputs the phase results', () => {
    let { snapshot } = start(designPhase);
    let commands: PhaseCommand[];

    ({ snapshot, commands } = send(snapshot, { type: 'ANSWER', stepId: 'goals', answer: 'ingest 2 TB/day' }));
    expect(commands).toEqual([
      { type: 'cancelTimer', params: { id: 'goals:warn:1' } },
      { type: 'cancelTimer', params: { id: 'goals:expire:1' } },
      { type: 'prompt', params: { stepId: 'sketch', kind: 'task', attempt: 1 } },
      { type: 'checkpoint' },
    ]);

    ({ snapshot, commands } = send(snapshot, { type: 'DONE', stepId: 'sketch' }));
    expect(commands).toEqual([
      { type: 'prompt', params: { stepId: 'diagram', kind: 'deliverable', attempt: 1 } },
      { type: 'checkpoint' },
    ]);

    ({ snapshot, commands } = send(snapshot, { type: 'SUBMIT', stepId: 'diagram', deliverable: diagram }));
    expect(stepState(snapshot)).toEqual({ inStep: 'provisioning' });
    expect(commands).toEqual([{ type: 'provision', params: { stepId: 'env', attempt: 1 } }, { type: 'checkpoint' }]);

    ({ snapshot, commands } = send(snapshot, { type: 'PROVISION_SUCCEEDED', stepId: 'env', attempt: 1 }));
    expect(stepState(snapshot)).toEqual({ inStep: 'validating' });
    expect(commands).toEqual([{ type: 'validate', params: { stepId: 'checks', attempt: 1 } }, { type: 'checkpoint' }]);

    ({ snapshot, commands } = send(snapshot, { type: 'VALIDATION_PASSED', stepId: 'checks', attempt: 1, checks: passing }));
    expect(stepState(snapshot)).toEqual({ inStep: 'awaitingReview' });
    expect(commands).toEqual([
      {
        type: 'notifyInstructor',
        params: { reason: 'review', stepId: 'archReview', round: 1, deliverables: { diagram: [diagram] } },
      },
      { type: 'checkpoint' },
    ]);

    ({ snapshot, commands } = send(snapshot, { type: 'REVIEW_APPROVED', stepId: 'archReview', round: 1, comment: 'solid' }));
    expect(snapshot.value).toBe('completed');
    expect(snapshot.status).toBe('done');
    expect(commands).toEqual([{ type: 'checkpoint' }]);
    expect(snapshot.output).toEqual({
      phase: 'design',
      status: 'passed',
      skipReason: null,
      answers: { goals: 'ingest 2 TB/day' },
      deliverables: { diagram: [diagram] },
      attempts: { goals: 1, sketch: 1, diagram: 1, env: 1, checks: 1, archReview: 1 },
      validations: { checks: [{ attempt: 1, passed: true, checks: passing }] },
      reviews: { archReview: [{ round: 1, decision: 'approved', comment: 'solid' }] },
      disputes: {},
      answerReviews: {},
      peerReviews: {},
      helpCount: 0,
    });
  });

  it('a phase without steps completes at once', () => {
    const { snapshot, commands } = start({ phase: 'requirements', steps: [] });
    expect(snapshot.status).toBe('done');
    expect(snapshot.output?.status).toBe('passed');
    expect(commands).toEqual([{ type: 'checkpoint' }]);
  });

  it('ignores a second DONE for a step already done and answers for steps that are not current', () => {
    const { snapshot: s0 } = start(designPhase);
    expectIgnored(s0, { type: 'ANSWER', stepId: 'sketch', answer: 'too early' });
    expectIgnored(s0, { type: 'DONE', stepId: 'goals' }); // right step, wrong kind of reply
    const s1 = send(s0, { type: 'ANSWER', stepId: 'goals', answer: 'a' }).snapshot;
    expectIgnored(s1, { type: 'ANSWER', stepId: 'goals', answer: 'again' });
    const s2 = send(s1, { type: 'DONE', stepId: 'sketch' }).snapshot;
    expectIgnored(s2, { type: 'DONE', stepId: 'sketch' });
    expect(s2.context.stepIndex).toBe(2);
  });

  it('ignores system and instructor events that belong to no current wait', () => {
    const { snapshot } = start(designPhase);
    expectIgnored(snapshot, { type: 'PROVISION_SUCCEEDED', stepId: 'env', attempt: 1 });
    expectIgnored(snapshot, { type: 'VALIDATION_PASSED', stepId: 'checks', attempt: 1, checks: passing });
    expectIgnored(snapshot, { type: 'REVIEW_APPROVED', stepId: 'archReview', round: 1 });
    expectIgnored(snapshot, { type: 'HELP_ANSWERED', answer: 'nobody asked' });
    expectIgnored(snapshot, { type: 'RESUME', from: 'start', by: 'instructor' });
    expectIgnored(snapshot, { type: 'TIMER_FIRED', id: 'goals:expire:0' });
  });
});

describe('phase machine: provisioning', () => {
  function atProvisioning(): PhaseSnapshot {
    return sendAll(start(designPhase).snapshot, [
      { type: 'ANSWER', stepId: 'goals', answer: 'a' },
      { type: 'DONE', stepId: 'sketch' },
      { type: 'SUBMIT', stepId: 'diagram', deliverable: diagram },
    ]);
  }

  it('fails the phase with the provisioning error and tells both people', () => {
    const { snapshot, commands } = send(atProvisioning(), {
      type: 'PROVISION_FAILED',
      stepId: 'env',
      attempt: 1,
      message: 'QuotaExceeded in westeurope',
    });
    const failure = { kind: 'provision', stepId: 'env', message: 'QuotaExceeded in westeurope', learnerMayResume: true };
    expect(snapshot.value).toBe('failed');
    expect(snapshot.context.failure).toEqual(failure);
    expect(commands).toEqual([
      { type: 'notifyInstructor', params: { reason: 'failed', failure } },
      { type: 'notifyLearner', params: { reason: 'failed', failure } },
      { type: 'checkpoint' },
    ]);
  });

  it('a learner may resume a self-resumable step; the retry gets a new attempt number', () => {
    const failed = send(atProvisioning(), { type: 'PROVISION_FAILED', stepId: 'env', attempt: 1, message: 'boom' }).snapshot;
    expectIgnored(failed, { type: 'RESUME', from: 'start', by: 'learner' });
    const { snapshot, commands } = send(failed, { type: 'RESUME', from: 'failedStep', by: 'learner' });
    expect(stepState(snapshot)).toEqual({ inStep: 'provisioning' });
    expect(snapshot.context.failure).toBeNull();
    expect(commands).toEqual([{ type: 'provision', params: { stepId: 'env', attempt: 2 } }, { type: 'checkpoint' }]);
    // a late result of the first run is not the result of the second
    expectIgnored(snapshot, { type: 'PROVISION_SUCCEEDED', stepId: 'env', attempt: 1 });
    expect(stepState(send(snapshot, { type: 'PROVISION_SUCCEEDED', stepId: 'env', attempt: 2 }).snapshot)).toEqual({
      inStep: 'validating',
    });
  });
});

describe('phase machine: validation', () => {
  it('hints the failing checks and waits for the learner to fix things while attempts are left', () => {
    const { snapshot, commands } = send(atValidation(), {
      type: 'VALIDATION_FAILED',
      stepId: 'checks',
      attempt: 1,
      checks: failing,
    });
    expect(stepState(snapshot)).toEqual({ inStep: 'awaitingFix' });
    expect(commands).toEqual([
      { type: 'hint', params: { stepId: 'checks', checkId: 'private-endpoint', hint: 'add a private endpoint to the lake' } },
      { type: 'prompt', params: { stepId: 'checks', kind: 'task', attempt: 1 } },
      { type: 'checkpoint' },
    ]);
    expect(snapshot.context.validations.checks).toEqual([{ attempt: 1, passed: false, checks: failing }]);

    const retry = send(snapshot, { type: 'DONE', stepId: 'checks' });
    expect(stepState(retry.snapshot)).toEqual({ inStep: 'validating' });
    expect(retry.commands).toEqual([{ type: 'validate', params: { stepId: 'checks', attempt: 2 } }, { type: 'checkpoint' }]);
  });

  it('fails the phase when the last allowed attempt fails, and the learner cannot resume it alone', () => {
    const exhausted = sendAll(atValidation(), [
      { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 1, checks: failing },
      { type: 'DONE', stepId: 'checks' },
    ]);
    expectIgnored(exhausted, { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 1, checks: failing });
    const { snapshot, commands } = send(exhausted, { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 2, checks: failing });
    expect(snapshot.value).toBe('failed');
    expect(snapshot.context.failure).toEqual({
      kind: 'validation',
      stepId: 'checks',
      learnerMayResume: false,
      message: 'validation of step "checks" failed on attempt 2 of 2; failing checks: private-endpoint, tags',
      checks: failing.filter((c) => !c.passed),
    });
    expect(commandsOf(commands, 'hint')).toEqual([]);
    expect(snapshot.context.validations.checks).toHaveLength(2);

    expectIgnored(snapshot, { type: 'RESUME', from: 'failedStep', by: 'learner' });
    const resumed = send(snapshot, { type: 'RESUME', from: 'failedStep', by: 'instructor' });
    expect(stepState(resumed.snapshot)).toEqual({ inStep: 'validating' });
    // attempt numbers keep growing (idempotency keys) and a fresh budget of maxAttempts is granted
    expect(resumed.commands).toEqual([{ type: 'validate', params: { stepId: 'checks', attempt: 3 } }, { type: 'checkpoint' }]);
    expect(resumed.snapshot.context.attemptLimit.checks).toBe(4);
  });

  it('ignores a late pass of an earlier attempt', () => {
    const secondRun = sendAll(atValidation(), [
      { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 1, checks: failing },
      { type: 'DONE', stepId: 'checks' },
    ]);
    expectIgnored(secondRun, { type: 'VALIDATION_PASSED', stepId: 'checks', attempt: 1, checks: passing });
    expectIgnored(secondRun, { type: 'DONE', stepId: 'checks' });
  });
});

describe('phase machine: architecture review', () => {
  function atReview(): PhaseSnapshot {
    return send(atValidation(), { type: 'VALIDATION_PASSED', stepId: 'checks', attempt: 1, checks: passing }).snapshot;
  }

  it('changes requested → learner resubmits → a new review round; stale decisions are ignored', () => {
    const changes = send(atReview(), {
      type: 'REVIEW_CHANGES_REQUESTED',
      stepId: 'archReview',
      round: 1,
      comment: 'where is the DR region?',
    });
    expect(stepState(changes.snapshot)).toEqual({ inStep: 'changesRequested' });
    expect(changes.commands).toEqual([
      {
        type: 'notifyLearner',
        params: { reason: 'changesRequested', stepId: 'archReview', round: 1, comment: 'where is the DR region?' },
      },
      { type: 'prompt', params: { stepId: 'archReview', kind: 'deliverable', attempt: 1 } },
      { type: 'checkpoint' },
    ]);
    expectIgnored(changes.snapshot, { type: 'REVIEW_APPROVED', stepId: 'archReview', round: 1 });

    const v2 = { name: 'diagram-v2.png', uri: 'https://example.test/diagram-v2.png' };
    const resubmitted = send(changes.snapshot, { type: 'SUBMIT', stepId: 'archReview', deliverable: v2 });
    expect(stepState(resubmitted.snapshot)).toEqual({ inStep: 'awaitingReview' });
    expect(resubmitted.commands).toEqual([
      {
        type: 'notifyInstructor',
        params: { reason: 'review', stepId: 'archReview', round: 2, deliverables: { diagram: [diagram], archReview: [v2] } },
      },
      { type: 'checkpoint' },
    ]);
    // the instructor's card for round 1 is clicked late: it must not approve round 2 unseen
    expectIgnored(resubmitted.snapshot, { type: 'REVIEW_APPROVED', stepId: 'archReview', round: 1 });

    const approved = send(resubmitted.snapshot, { type: 'REVIEW_APPROVED', stepId: 'archReview', round: 2 });
    expect(approved.snapshot.status).toBe('done');
    expect(approved.snapshot.output?.reviews).toEqual({
      archReview: [
        { round: 1, decision: 'changesRequested', comment: 'where is the DR region?' },
        { round: 2, decision: 'approved', comment: null },
      ],
    });
  });
});

describe('phase machine: help', () => {
  it('asking for help keeps the step, and the step can finish while help is pending', () => {
    const { snapshot: s0 } = start(designPhase);
    const asked = send(s0, { type: 'HELP', message: 'what is a lakehouse?' });
    expect(asked.snapshot.value).toEqual({ running: { step: { inStep: 'awaitingLearner' }, help: 'requested' } });
    expect(asked.commands).toEqual([
      { type: 'notifyInstructor', params: { reason: 'help', stepId: 'goals', message: 'what is a lakehouse?', helpCount: 1 } },
      { type: 'checkpoint' },
    ]);
    // a second request while the first is open does not page the instructor again
    expectIgnored(asked.snapshot, { type: 'HELP', message: 'hello??' });

    const moved = send(asked.snapshot, { type: 'ANSWER', stepId: 'goals', answer: 'a' });
    expect(moved.snapshot.value).toEqual({ running: { step: { inStep: 'awaitingLearner' }, help: 'requested' } });
    expect(moved.snapshot.context.stepIndex).toBe(1);

    const answered = send(moved.snapshot, { type: 'HELP_ANSWERED', answer: 'lake + warehouse' });
    expect(answered.snapshot.value).toEqual({ running: { step: { inStep: 'awaitingLearner' }, help: 'idle' } });
    expect(answered.commands).toEqual([
      { type: 'notifyLearner', params: { reason: 'helpAnswered', answer: 'lake + warehouse' } },
      { type: 'checkpoint' },
    ]);
    expect(answered.snapshot.context.helpCount).toBe(1);
    expect(answered.snapshot.context.helpPending).toBeNull();
    expectIgnored(answered.snapshot, { type: 'HELP_ANSWERED', answer: 'duplicate' });
  });
});

describe('phase machine: timebox', () => {
  const T = 600_000;

  it('nudges the learner and flags the instructor at 80 %, then fails the phase at expiry', () => {
    const { snapshot: s0 } = start(designPhase);
    const warned = send(s0, { type: 'TIMER_FIRED', id: 'goals:warn:1' });
    expect(warned.commands).toEqual([
      { type: 'notifyLearner', params: { reason: 'timeboxWarning', stepId: 'goals', msLeft: 120_000 } },
      { type: 'notifyInstructor', params: { reason: 'stuck', stepId: 'goals', msLeft: 120_000 } },
      { type: 'checkpoint' },
    ]);
    expectIgnored(warned.snapshot, { type: 'TIMER_FIRED', id: 'goals:warn:1' }); // duplicate delivery

    const expired = send(warned.snapshot, { type: 'TIMER_FIRED', id: 'goals:expire:1' });
    expect(expired.snapshot.value).toBe('failed');
    expect(expired.snapshot.context.failure).toEqual({
      kind: 'timebox',
      stepId: 'goals',
      message: 'timebox of 10 min for step "goals" expired',
      learnerMayResume: false,
    });
    expect(commandsOf(expired.commands, 'cancelTimer')).toEqual([]); // the fired timer is not "cancelled"
    expect(expired.snapshot.context.timebox).toMatchObject({ warnId: null, expireId: null });
  });

  it('a timer of an earlier step firing late is ignored', () => {
    const next = send(start(designPhase).snapshot, { type: 'ANSWER', stepId: 'goals', answer: 'a' }).snapshot;
    expectIgnored(next, { type: 'TIMER_FIRED', id: 'goals:expire:1' });
  });

  it('EXTEND before the warning moves both the nudge and the deadline by exactly the extension', () => {
    const E = 5 * 60_000;
    let { snapshot } = start(designPhase);
    let commands: PhaseCommand[];
    ({ snapshot, commands } = send(snapshot, { type: 'EXTEND', minutes: 5 }));
    expect(commands).toEqual([
      { type: 'notifyLearner', params: { reason: 'timeboxExtended', stepId: 'goals', minutes: 5 } },
      { type: 'checkpoint' },
    ]);

    ({ snapshot, commands } = send(snapshot, { type: 'TIMER_FIRED', id: 'goals:warn:1' }));
    expect(commands).toEqual([{ type: 'startTimer', params: { id: 'goals:warn:2', dueInMs: E } }, { type: 'checkpoint' }]);
    ({ snapshot, commands } = send(snapshot, { type: 'TIMER_FIRED', id: 'goals:expire:1' }));
    expect(commands).toEqual([{ type: 'startTimer', params: { id: 'goals:expire:3', dueInMs: E } }, { type: 'checkpoint' }]);
    expect(stepState(snapshot)).toEqual({ inStep: 'awaitingLearner' });
    // the nudge fires at 0.8T + E, the deadline at T + E
    ({ snapshot, commands } = send(snapshot, { type: 'TIMER_FIRED', id: 'goals:warn:2' }));
    expect(commandsOf(commands, 'notifyLearner')).toEqual([
      { type: 'notifyLearner', params: { reason: 'timeboxWarning', stepId: 'goals', msLeft: 0.2 * T } },
    ]);
    ({ snapshot } = send(snapshot, { type: 'TIMER_FIRED', id: 'goals:expire:3' }));
    expect(snapshot.context.failure?.message).toBe('timebox of 15 min for step "goals" expired');
  });

  it('EXTEND after the warning re-arms a nudge for when the same share of time is left', () => {
    const warned = send(start(designPhase).snapshot, { type: 'TIMER_FIRED', id: 'goals:warn:1' }).snapshot;
    const extended = send(warned, { type: 'EXTEND', minutes: 10 }).snapshot;
    const { snapshot, commands } = send(extended, { type: 'TIMER_FIRED', id: 'goals:expire:1' });
    expect(commands).toEqual([
      { type: 'startTimer', params: { id: 'goals:expire:2', dueInMs: T } },
      { type: 'startTimer', params: { id: 'goals:warn:3', dueInMs: T - 0.2 * T } },
      { type: 'checkpoint' },
    ]);
    // finishing the step cancels both re-armed timers
    const done = send(snapshot, { type: 'ANSWER', stepId: 'goals', answer: 'a' });
    expect(commandsOf(done.commands, 'cancelTimer')).toEqual([
      { type: 'cancelTimer', params: { id: 'goals:warn:3' } },
      { type: 'cancelTimer', params: { id: 'goals:expire:2' } },
    ]);
  });

  it('ignores EXTEND without a timebox or without a positive number of minutes', () => {
    const { snapshot } = start(designPhase);
    expectIgnored(snapshot, { type: 'EXTEND', minutes: 0 });
    expectIgnored(snapshot, { type: 'EXTEND', minutes: -5 });
    const untimed = send(snapshot, { type: 'ANSWER', stepId: 'goals', answer: 'a' }).snapshot;
    expectIgnored(untimed, { type: 'EXTEND', minutes: 5 });
  });
});

describe('phase machine: instructor controls', () => {
  it('RESUME from start by the instructor restarts at the first step with fresh timers', () => {
    const failed = sendAll(atValidation(), [
      { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 1, checks: failing },
      { type: 'DONE', stepId: 'checks' },
      { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 2, checks: failing },
    ]);
    const { snapshot, commands } = send(failed, { type: 'RESUME', from: 'start', by: 'instructor' });
    expect(snapshot.context.stepIndex).toBe(0);
    expect(commands).toEqual([
      { type: 'startTimer', params: { id: 'goals:warn:2', dueInMs: 480_000 } },
      { type: 'startTimer', params: { id: 'goals:expire:2', dueInMs: 600_000 } },
      { type: 'prompt', params: { stepId: 'goals', kind: 'question', attempt: 2 } },
      { type: 'checkpoint' },
    ]);
    expect(snapshot.context.answers).toEqual({ goals: 'ingest 2 TB/day' }); // kept until re-answered
  });

  it('SKIP completes the phase as skipped and cancels what is armed', () => {
    const { snapshot, commands } = send(start(designPhase).snapshot, { type: 'SKIP', reason: 'ran out of time' });
    expect(snapshot.status).toBe('done');
    expect(snapshot.output?.status).toBe('skipped');
    expect(snapshot.output?.skipReason).toBe('ran out of time');
    expect(commands).toEqual([
      { type: 'cancelTimer', params: { id: 'goals:warn:1' } },
      { type: 'cancelTimer', params: { id: 'goals:expire:1' } },
      { type: 'notifyLearner', params: { reason: 'skipped', message: 'ran out of time' } },
      { type: 'checkpoint' },
    ]);
  });

  it('SKIP also gets a failed phase out of the way', () => {
    const failed = send(start(designPhase).snapshot, { type: 'TIMER_FIRED', id: 'goals:expire:1' }).snapshot;
    expect(failed.value).toBe('failed');
    const { snapshot } = send(failed, { type: 'SKIP' });
    expect(snapshot.output?.status).toBe('skipped');
    expect(snapshot.output?.skipReason).toBeNull();
  });
});

describe('phase machine: persistence', () => {
  it('a snapshot survives JSON and continues exactly like the live one', () => {
    const live = send(atValidation(), { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 1, checks: failing }).snapshot;
    const stored = JSON.stringify(persistPhaseSnapshot(live));
    const restored = restorePhaseSnapshot(JSON.parse(stored));
    expect(restored.value).toEqual(live.value);
    expect(restored.context).toEqual(live.context);

    const rest: PhaseEvent[] = [
      { type: 'DONE', stepId: 'checks' },
      { type: 'VALIDATION_PASSED', stepId: 'checks', attempt: 2, checks: passing },
      { type: 'REVIEW_APPROVED', stepId: 'archReview', round: 1 },
    ];
    const fromLive = rest.map((e) => e); // same events, two starting points
    let a = live;
    let b = restored;
    for (const event of fromLive) {
      const [na, aa] = transition(phaseMachine, a, event);
      const [nb, ab] = transition(phaseMachine, b, event);
      expect(phaseCommands(ab)).toEqual(phaseCommands(aa));
      a = na;
      b = nb;
    }
    expect(b.status).toBe('done');
    expect(b.output).toEqual(a.output);
  });

  it('a completed phase restores as done with its output', () => {
    const done = send(start(designPhase).snapshot, { type: 'SKIP' }).snapshot;
    const restored = restorePhaseSnapshot(JSON.parse(JSON.stringify(persistPhaseSnapshot(done))));
    expect(restored.status).toBe('done');
    expect(restored.output).toEqual(done.output);
  });

  it('xstate actors accept the same persisted form (for tools that prefer an actor)', () => {
    const live = start(designPhase).snapshot;
    const actor = createActor(phaseMachine, {
      input: designPhase, // required by the type; ignored when a snapshot is given
      snapshot: JSON.parse(JSON.stringify(persistPhaseSnapshot(live))),
    });
    actor.start();
    actor.send({ type: 'ANSWER', stepId: 'goals', answer: 'a' });
    expect(actor.getSnapshot().context.stepIndex).toBe(1);
    actor.stop();
  });

  it('refuses something that is not a persisted phase snapshot, saying what it expected', () => {
    expect(() => restorePhaseSnapshot(JSON.parse('{"foo":1}'))).toThrow(/expected the object persistPhaseSnapshot returned/);
  });
});

describe('phase machine: command extraction', () => {
  it('rejects an action outside the vocabulary instead of dropping it', () => {
    expect(() => phaseCommands([{ type: 'deleteSubscription', params: {} } as never])).toThrow(
      /declared action "deleteSubscription", which is not in its command vocabulary/,
    );
  });

  it('commands are plain data, detached from the snapshot', () => {
    const atReview = send(atValidation(), { type: 'VALIDATION_PASSED', stepId: 'checks', attempt: 1, checks: passing });
    const review = commandsOf(atReview.commands, 'notifyInstructor')[0];
    expect(JSON.parse(JSON.stringify(atReview.commands))).toEqual(atReview.commands);
    expect(review?.params.reason === 'review' && review.params.deliverables).not.toBe(atReview.snapshot.context.deliverables);
  });
});
