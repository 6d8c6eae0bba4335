import * as df from 'durable-functions';
import { initialTransition, transition } from 'xstate';
import { callActivity } from '../activities';
import {
  journeyCommands,
  journeyMachine,
  persistJourneySnapshot,
  restoreJourneySnapshot,
  type JourneyCommand,
  type JourneyEvent,
  type JourneyResult,
  type JourneySnapshot,
} from '../machines/journeyMachine';
import type { PhaseName } from '../machines/phaseMachine';
import { EventInbox } from './eventInbox';
import { EVENTS, cohortInstanceId, journeyInstanceId, phaseInstanceId } from './workshopIds';
import type { SignalInput } from '../activities/signalInstance';
import type { JourneyInput, LearnerState, PhaseInput, PhaseOutput, ProgressReport, StartPhase } from './workshopTypes';

const RETRY = new df.RetryOptions(2_000, 5);
RETRY.backoffCoefficient = 2;

/**
 * One learner's way through the four phases: interprets the journey machine. Each phase runs as a
 * sub-orchestration (its own bounded history); between phases the journey continues as new with
 * its machine snapshot, so its history never grows with the length of the workshop. A failed phase
 * leaves the journey waiting in `failed` for the instructor (or the learner, where allowed) to
 * resume or skip it.
 */
export function* learnerJourney(context: df.OrchestrationContext): Generator<df.Task, JourneyResult, unknown> {
  const input = context.df.getInput() as JourneyInput;
  const self = journeyInstanceId(input.runId, input.learnerId);
  let version = input.version;
  let lastPhase = input.lastPhase;
  let snapshot: JourneySnapshot;
  let commands: JourneyCommand[] = [];
  if (input.journey) {
    snapshot = restoreJourneySnapshot(input.journey);
    if (input.resume) {
      const [next, actions] = transition(journeyMachine, snapshot, { type: 'RESUME', ...input.resume });
      snapshot = next;
      commands = journeyCommands(actions);
    }
  } else {
    const [first, actions] = initialTransition(journeyMachine);
    snapshot = first;
    commands = journeyCommands(actions);
  }
  if (input.startPhase) commands.push({ type: 'startPhase', params: input.startPhase });

  let running: { phase: PhaseName; attempt: number; task: df.Task } | undefined;
  let continueWith: StartPhase | undefined;
  // Instructor and learner commands, in arrival order: carried over from the previous execution, then
  // received (see EventInbox: a waiter raced twice used to swallow the command after a resume).
  const inbox = new EventInbox<JourneyEvent>(context, EVENTS.journey);
  const received: JourneyEvent[] = [...(input.pending ?? [])];
  let seq = 0;
  const key = (what: string) => `${self}:${version}:${seq++}:${what}`;
  const signal = (data: SignalInput) => callActivity(context, 'signalInstance', data, RETRY);
  const report = (state: LearnerState, phase: PhaseName, detail?: string): df.Task => {
    const progress: ProgressReport = { type: 'progress', learnerId: input.learnerId, phase, state, stepId: null, at: context.df.currentUtcDateTime.toISOString(), detail };
    return signal({ op: 'raise', instanceId: cohortInstanceId(input.runId), event: EVENTS.cohort, data: progress });
  };

  for (;;) {
    // Side effects in the order the machine declared them; a started phase is raced below.
    const effects: df.Task[] = [];
    for (const command of commands) {
      switch (command.type) {
        case 'startPhase': {
          const { phase, attempt, resume } = command.params;
          const phaseInput: PhaseInput = {
            runId: input.runId,
            learnerId: input.learnerId,
            packId: input.plan.packId,
            def: input.plan.phases[phase],
            attempt,
            version: 0,
            ...(input.plan.environmentParameters ? { environmentParameters: input.plan.environmentParameters } : {}),
            ...(resume && lastPhase?.phase === phase ? { snapshot: lastPhase.snapshot, resume } : {}),
          };
          running = { phase, attempt, task: context.df.callSubOrchestrator('workshopPhase', phaseInput, phaseInstanceId(input.runId, input.learnerId, phase, attempt)) };
          break;
        }
        case 'stopPhase': {
          const { phase, attempt, reason } = command.params;
          const instanceId = phaseInstanceId(input.runId, input.learnerId, phase, attempt);
          effects.push(
            reason === 'skipped'
              ? signal({ op: 'raise', instanceId, event: EVENTS.phase, data: { type: 'SKIP', reason: 'skipped by the instructor' } })
              : signal({ op: 'terminate', instanceId, reason: 'the run ended' }),
          );
          if (running?.phase === phase && reason === 'ended') running = undefined;
          break;
        }
        case 'forwardToPhase': {
          const { phase, attempt, event } = command.params;
          effects.push(signal({ op: 'raise', instanceId: phaseInstanceId(input.runId, input.learnerId, phase, attempt), event: EVENTS.phase, data: event }));
          break;
        }
        case 'notifyInstructor':
          effects.push(callActivity(context, 'notify', { runId: input.runId, key: key('failed'), to: { role: 'instructor' }, kind: 'failed', body: { learnerId: input.learnerId, ...command.params } }, RETRY));
          break;
        case 'notifyLearner':
          effects.push(
            callActivity(context, 'notify', { runId: input.runId, key: key(command.params.reason), to: { role: 'learner', learnerId: input.learnerId }, kind: command.params.reason, body: { ...command.params } }, RETRY),
          );
          break;
        case 'teardown':
          effects.push(context.df.callActivityWithRetry('teardown', RETRY, { runId: input.runId, learnerId: input.learnerId, packId: input.plan.packId, reason: command.params.reason }));
          break;
        case 'checkpoint':
          effects.push(
            callActivity(
              context,
              'recordCheckpoint',
              {
                runId: input.runId,
                learnerId: input.learnerId,
                version: version++,
                scope: 'journey',
                journey: { snapshot: persistJourneySnapshot(snapshot), lastPhase },
                summary: { journeyState: JSON.stringify(snapshot.value), current: snapshot.context.current, attempts: snapshot.context.attempts },
              },
              RETRY,
            ),
          );
          break;
      }
    }
    commands = [];
    if (effects.length) {
      try {
        yield context.df.Task.all(effects);
      } catch (err) {
        // Notifications, checkpoints and signals retry on their own; one that still fails must
        // not stop the learner. The next checkpoint supersedes a lost one.
        context.log(`journey ${self}: a side effect failed after retries: ${(err as Error).message}`);
      }
    }

    if (snapshot.status === 'done') {
      const result = snapshot.output as JourneyResult;
      yield report(result.status === 'completed' ? 'completed' : 'ended', snapshot.context.current);
      return result;
    }
    if (continueWith) {
      // A phase ended and the next starts in a fresh execution: the journey's history holds one
      // phase at a time however long the workshop is.
      received.push(...(yield* inbox.drain()));
      const { pending: _carried, ...rest } = input;
      context.df.continueAsNew({
        ...rest,
        journey: persistJourneySnapshot(snapshot),
        lastPhase,
        version,
        resume: undefined,
        startPhase: continueWith,
        ...(received.length ? { pending: received } : {}),
      } satisfies JourneyInput);
      return undefined as never;
    }
    if (snapshot.context.failure && !running) {
      yield report('failed', snapshot.context.failure.phase, snapshot.context.failure.reason.message);
    }

    received.push(...inbox.take());
    let winner: df.Task | undefined;
    if (!received.length) {
      const waiter = inbox.waiter();
      winner = (yield context.df.Task.any(running ? [running.task, waiter] : [waiter])) as df.Task;
      inbox.yielded();
      received.push(...inbox.take());
    }
    let event: JourneyEvent;
    let phaseFinished = false;
    if (running && winner === running.task) {
      const { phase, attempt } = running;
      running = undefined;
      phaseFinished = true;
      if (winner.isFaulted) {
        const message = (winner.result as Error | undefined)?.message ?? 'unknown error';
        event = { type: 'PHASE_FAILED', phase, reason: { kind: 'provision', stepId: `${phase}#${attempt}`, message: `The phase stopped unexpectedly: ${message}`, learnerMayResume: false } };
      } else {
        const out = winner.result as PhaseOutput;
        if (out.status === 'completed') event = { type: 'PHASE_COMPLETED', phase, result: out.result };
        else {
          lastPhase = { phase, snapshot: out.snapshot };
          event = { type: 'PHASE_FAILED', phase, reason: out.failure };
        }
      }
    } else {
      event = received.shift()!;
    }
    try {
      const [next, actions] = transition(journeyMachine, snapshot, event);
      snapshot = next;
      commands = journeyCommands(actions);
    } catch (err) {
      context.log(`journey ${self}: ignored event ${JSON.stringify(event).slice(0, 200)}: ${(err as Error).message}`);
      continue;
    }
    const start = commands.find((c): c is Extract<JourneyCommand, { type: 'startPhase' }> => c.type === 'startPhase');
    if (phaseFinished && start && event.type === 'PHASE_COMPLETED') {
      commands = commands.filter((c) => c !== start);
      continueWith = start.params;
    }
  }
}
