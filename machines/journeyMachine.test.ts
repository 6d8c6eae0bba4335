import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import {
  journeyCommands,
  journeyMachine,
  persistJourneySnapshot,
  restoreJourneySnapshot,
  type JourneyCommand,
  type JourneyEvent,
  type JourneySnapshot,
} from './journeyMachine.js';
import {
  phaseCommands,
  phaseMachine,
  persistPhaseSnapshot,
  restorePhaseSnapshot,
  type PhaseEvent,
  type PhaseFailure,
  type PhaseName,
  type PhaseResult,
} from './phaseMachine.js';

function start(): { snapshot: JourneySnapshot; commands: JourneyCommand[] } {
  const [snapshot, actions] = initialTransition(journeyMachine);
  return { snapshot, commands: journeyCommands(actions) };
}

function send(snapshot: JourneySnapshot, event: JourneyEvent): { snapshot: JourneySnapshot; commands: JourneyCommand[] } {
  const [next, actions] = transition(journeyMachine, snapshot, event);
  return { snapshot: next, commands: journeyCommands(actions) };
}

function sendAll(snapshot: JourneySnapshot, events: readonly JourneyEvent[]): JourneySnapshot {
  return events.reduce((s, e) => send(s, e).snapshot, snapshot);
}

function expectIgnored(snapshot: JourneySnapshot, event: JourneyEvent): void {
  const [next, actions] = transition(journeyMachine, snapshot, event);
  expect(next).toBe(snapshot);
  expect(actions).toEqual([]);
}

function passed(phase: PhaseName): PhaseResult {
  return {
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
}

const completed = (phase: PhaseName): JourneyEvent => ({ type: 'PHASE_COMPLETED', phase, result: passed(phase) });

const provisionFailure: PhaseFailure = {
  kind: 'provision',
  stepId: 'foundation',
  message: 'QuotaExceeded',
  learnerMayResume: true,
};
const reviewlessFailure: PhaseFailure = {
  kind: 'validation',
  stepId: 'e2e',
  message: 'checks failed',
  learnerMayResume: false,
};

describe('journey machine', () => {
  it('starts the requirements phase first', () => {
    const { snapshot, commands } = start();
    expect(snapshot.value).toEqual({ running: 'requirements' });
    expect(commands).toEqual([
      { type: 'startPhase', params: { phase: 'requirements', attempt: 1, resume: null } },
      { type: 'checkpoint' },
    ]);
  });

  it('runs the four phases in order, then tears down and outputs the results', () => {
    let { snapshot } = start();
    const order: string[] = [];
    for (const phase of ['requirements', 'design', 'implementation'] as const) {
      const step = send(snapshot, completed(phase));
      snapshot = step.snapshot;
      const started = step.commands.find((c) => c.type === 'startPhase');
      order.push(started?.type === 'startPhase' ? started.params.phase : 'none');
    }
    expect(order).toEqual(['design', 'implementation', 'validation']);
    const last = send(snapshot, completed('validation'));
    expect(last.snapshot.value).toBe('completed');
    expect(last.commands).toEqual([
      { type: 'teardown', params: { reason: 'completed' } },
      { type: 'notifyLearner', params: { reason: 'journeyCompleted' } },
      { type: 'checkpoint' },
    ]);
    expect(last.snapshot.output).toEqual({
      status: 'completed',
      outcomes: {
        requirements: { status: 'passed', result: passed('requirements'), skipReason: null },
        design: { status: 'passed', result: passed('design'), skipReason: null },
        implementation: { status: 'passed', result: passed('implementation'), skipReason: null },
        validation: { status: 'passed', result: passed('validation'), skipReason: null },
      },
      attempts: { requirements: 1, design: 1, implementation: 1, validation: 1 },
      failures: [],
      extendedMinutes: { requirements: 0, design: 0, implementation: 0, validation: 0 },
      endReason: null,
    });
  });

  it('ignores a duplicate completion of the previous phase and events about other phases', () => {
    const design = send(start().snapshot, completed('requirements')).snapshot;
    expectIgnored(design, completed('requirements'));
    expectIgnored(design, completed('implementation'));
    expectIgnored(design, { type: 'PHASE_FAILED', phase: 'requirements', reason: provisionFailure });
    expectIgnored(design, { type: 'SKIP_PHASE', phase: 'requirements' });
    expectIgnored(design, { type: 'EXTEND', phase: 'requirements', minutes: 5 });
    expectIgnored(design, { type: 'RESUME', from: 'failedStep', by: 'instructor' });
  });

  it('a failed phase remembers which phase and why, and pages the instructor', () => {
    const implementation = sendAll(start().snapshot, [completed('requirements'), completed('design')]);
    const { snapshot, commands } = send(implementation, {
      type: 'PHASE_FAILED',
      phase: 'implementation',
      reason: provisionFailure,
    });
    expect(snapshot.value).toBe('failed');
    expect(snapshot.context.failure).toEqual({ phase: 'implementation', reason: provisionFailure });
    expect(commands).toEqual([
      { type: 'notifyInstructor', params: { reason: 'failed', phase: 'implementation', failure: provisionFailure } },
      { type: 'checkpoint' },
    ]);
  });

  it('RESUME restarts the failed phase as a new attempt that resumes from its checkpoint', () => {
    const failed = sendAll(start().snapshot, [
      completed('requirements'),
      { type: 'PHASE_FAILED', phase: 'design', reason: provisionFailure },
    ]);
    const { snapshot, commands } = send(failed, { type: 'RESUME', from: 'failedStep', by: 'instructor' });
    expect(snapshot.value).toEqual({ running: 'design' });
    expect(commands).toEqual([
      { type: 'startPhase', params: { phase: 'design', attempt: 2, resume: { from: 'failedStep', by: 'instructor' } } },
      { type: 'checkpoint' },
    ]);
    expect(snapshot.context.failure).toBeNull();
    expect(snapshot.context.resume).toBeNull();
    expect(snapshot.context.failures).toEqual([{ phase: 'design', attempt: 1, reason: provisionFailure }]);
    // completing the resumed phase moves on as usual
    expect(send(snapshot, completed('design')).snapshot.value).toEqual({ running: 'implementation' });
  });

  it('the learner may resume only the failed step, and only where the step allows it', () => {
    const selfResumable = send(start().snapshot, { type: 'PHASE_FAILED', phase: 'requirements', reason: provisionFailure })
      .snapshot;
    expectIgnored(selfResumable, { type: 'RESUME', from: 'start', by: 'learner' });
    expect(send(selfResumable, { type: 'RESUME', from: 'failedStep', by: 'learner' }).snapshot.value).toEqual({
      running: 'requirements',
    });

    const instructorOnly = send(start().snapshot, { type: 'PHASE_FAILED', phase: 'requirements', reason: reviewlessFailure })
      .snapshot;
    expectIgnored(instructorOnly, { type: 'RESUME', from: 'failedStep', by: 'learner' });
    const restarted = send(instructorOnly, { type: 'RESUME', from: 'start', by: 'instructor' });
    expect(restarted.commands[0]).toEqual({
      type: 'startPhase',
      params: { phase: 'requirements', attempt: 2, resume: { from: 'start', by: 'instructor' } },
    });
  });

  it('SKIP_PHASE stops the running phase and starts the next', () => {
    const { snapshot, commands } = send(start().snapshot, { type: 'SKIP_PHASE', phase: 'requirements', reason: 'done in class' });
    expect(snapshot.value).toEqual({ running: 'design' });
    expect(commands).toEqual([
      { type: 'stopPhase', params: { phase: 'requirements', attempt: 1, reason: 'skipped' } },
      { type: 'notifyLearner', params: { reason: 'phaseSkipped', phase: 'requirements', message: 'done in class' } },
      { type: 'startPhase', params: { phase: 'design', attempt: 1, resume: null } },
      { type: 'checkpoint' },
    ]);
    expect(snapshot.context.outcomes.requirements).toEqual({ status: 'skipped', result: null, skipReason: 'done in class' });
  });

  it('SKIP_PHASE of a failed phase moves on without stopping anything; skipping the last phase completes', () => {
    const failed = sendAll(start().snapshot, [
      completed('requirements'),
      completed('design'),
      completed('implementation'),
      { type: 'PHASE_FAILED', phase: 'validation', reason: reviewlessFailure },
    ]);
    expectIgnored(failed, { type: 'SKIP_PHASE', phase: 'design' });
    const { snapshot, commands } = send(failed, { type: 'SKIP_PHASE', phase: 'validation' });
    expect(snapshot.value).toBe('completed');
    expect(commands.map((c) => c.type)).toEqual(['notifyLearner', 'teardown', 'notifyLearner', 'checkpoint']);
    expect(snapshot.output?.status).toBe('completed');
    expect(snapshot.output?.outcomes.validation?.status).toBe('skipped');
  });

  it('EXTEND is recorded and forwarded to the running phase', () => {
    const { snapshot, commands } = send(start().snapshot, { type: 'EXTEND', phase: 'requirements', minutes: 10 });
    expect(snapshot.value).toEqual({ running: 'requirements' });
    expect(commands).toEqual([
      {
        type: 'forwardToPhase',
        params: { phase: 'requirements', attempt: 1, event: { type: 'EXTEND', minutes: 10 } },
      },
      { type: 'checkpoint' },
    ]);
    expect(snapshot.context.extendedMinutes.requirements).toBe(10);
    expectIgnored(snapshot, { type: 'EXTEND', phase: 'requirements', minutes: 0 });
  });

  it('END stops the running phase, tears down and is final', () => {
    const design = send(start().snapshot, completed('requirements')).snapshot;
    const { snapshot, commands } = send(design, { type: 'END', reason: 'workshop over' });
    expect(snapshot.value).toBe('ended');
    expect(snapshot.status).toBe('done');
    expect(commands).toEqual([
      { type: 'stopPhase', params: { phase: 'design', attempt: 1, reason: 'ended' } },
      { type: 'teardown', params: { reason: 'ended' } },
      { type: 'notifyLearner', params: { reason: 'runEnded', message: 'workshop over' } },
      { type: 'checkpoint' },
    ]);
    expect(snapshot.output?.status).toBe('ended');
    expect(snapshot.output?.endReason).toBe('workshop over');
    expectIgnored(snapshot, completed('design'));
  });

  it('END of a failed journey has no phase to stop', () => {
    const failed = send(start().snapshot, { type: 'PHASE_FAILED', phase: 'requirements', reason: provisionFailure }).snapshot;
    const { snapshot, commands } = send(failed, { type: 'END' });
    expect(snapshot.output?.status).toBe('ended');
    expect(commands.map((c) => c.type)).toEqual(['teardown', 'notifyLearner', 'checkpoint']);
  });

  it('a snapshot survives JSON and continues exactly like the live one', () => {
    const live = sendAll(start().snapshot, [
      completed('requirements'),
      { type: 'PHASE_FAILED', phase: 'design', reason: provisionFailure },
    ]);
    const restored = restoreJourneySnapshot(JSON.parse(JSON.stringify(persistJourneySnapshot(live))));
    expect(restored.value).toEqual(live.value);
    expect(restored.context).toEqual(live.context);
    const events: JourneyEvent[] = [
      { type: 'RESUME', from: 'failedStep', by: 'learner' },
      completed('design'),
      completed('implementation'),
      completed('validation'),
    ];
    let a = live;
    let b = restored;
    for (const event of events) {
      const [na, aa] = transition(journeyMachine, a, event);
      const [nb, ab] = transition(journeyMachine, b, event);
      expect(journeyCommands(ab)).toEqual(journeyCommands(aa));
      a = na;
      b = nb;
    }
    expect(b.value).toBe('completed');
    expect(b.output).toEqual(a.output);
  });

  it('drives a phase through failure and a learner resume the way the orchestrations will', () => {
    // journey starts requirements; the phase orchestration runs the phase machine
    let journey = start().snapshot;
    const def = {
      phase: 'requirements' as const,
      steps: [{ id: 'env', kind: 'provision' as const, selfResume: true }],
    };
    let [phase] = initialTransition(phaseMachine, def);
    [phase] = transition(phaseMachine, phase, { type: 'PROVISION_FAILED', stepId: 'env', attempt: 1, message: 'boom' });
    expect(phase.value).toBe('failed');
    const checkpoint = JSON.stringify(persistPhaseSnapshot(phase));

    // the phase sub-orchestration ends and reports the failure to the journey
    const failure = phase.context.failure;
    if (!failure) throw new Error('phase failed without a failure');
    journey = send(journey, { type: 'PHASE_FAILED', phase: 'requirements', reason: failure }).snapshot;

    // the learner retries; the journey says how to restart the phase
    const resumed = send(journey, { type: 'RESUME', from: 'failedStep', by: 'learner' });
    const startCmd = resumed.commands.find((c) => c.type === 'startPhase');
    if (startCmd?.type !== 'startPhase' || !startCmd.params.resume) throw new Error('expected a resuming startPhase');

    // a new phase run restores the checkpoint and feeds the RESUME it was given
    const resumeEvent: PhaseEvent = { type: 'RESUME', ...startCmd.params.resume };
    const [again, actions] = transition(phaseMachine, restorePhaseSnapshot(JSON.parse(checkpoint)), resumeEvent);
    expect(phaseCommands(actions)).toEqual([
      { type: 'provision', params: { stepId: 'env', attempt: 2 } },
      { type: 'checkpoint' },
    ]);
    const [done] = transition(phaseMachine, again, { type: 'PROVISION_SUCCEEDED', stepId: 'env', attempt: 2 });
    if (done.status !== 'done' || !done.output) throw new Error('expected the resumed phase to complete');

    const next = send(resumed.snapshot, { type: 'PHASE_COMPLETED', phase: 'requirements', result: done.output });
    expect(next.snapshot.value).toEqual({ running: 'design' });
    expect(next.snapshot.context.outcomes.requirements?.result?.attempts).toEqual({ env: 2 });
  });
});
