import type * as df from 'durable-functions';
import { callActivity, resultOf, type ActivityInput } from '../activities';
import { EVENTS, cohortInstanceId, journeyInstanceId, phaseInstanceId } from '../contracts/ids';
import type { JourneyInput, ParkSignal, PhaseInput, PhaseOutput, StartPhase } from '../contracts/messages';
import { assertNever } from '../machines/assertNever';
import {
  deferNextPhase,
  persistJourneySnapshot,
  startJourney,
  stepJourney,
  type JourneyCommand,
  type JourneyEvent,
  type JourneyResult,
  type JourneySnapshot,
  type JourneyTurn,
} from '../machines/journeyMachine';
import type { PhaseName } from '../machines/phaseMachine';
import type { LearnerState, ProgressReport } from '../machines/progress';
import { EventInbox } from './eventInbox';
import { isParkSignal } from './parking';

interface Running {
  phase: PhaseName;
  attempt: number;
  task: df.Task;
}

/**
 * One learner's way through the four phases: interprets the journey machine. Each phase runs as a
 * sub-orchestration (its own bounded history); between phases the journey continues as new with
 * its machine snapshot, so its history never grows with the length of the workshop. A failed phase
 * leaves the journey waiting in `failed` for the instructor (or the learner, where allowed) to
 * resume or skip it.
 */
export function* learnerJourney(context: df.OrchestrationContext): Generator<df.Task, JourneyResult, unknown> {
  const input = context.df.getInput() as JourneyInput;
  const effects = new JourneyEffects(context, input);
  let turn: JourneyTurn = startJourney(input.journey, input.resume);
  if (input.startPhase) turn.commands.push({ type: 'startPhase', params: input.startPhase });
  let continueWith: StartPhase | undefined;

  for (;;) {
    const { snapshot } = turn;
    yield* effects.execute(turn.commands, snapshot);
    if (snapshot.status === 'done') {
      const result = snapshot.output as JourneyResult;
      yield effects.report(result.status === 'completed' ? 'completed' : 'ended', snapshot.context.current);
      return result;
    }
    if (continueWith) {
      // A phase ended and the next starts in a fresh execution: the journey's history holds one
      // phase at a time however long the workshop is.
      context.df.continueAsNew(yield* effects.continueInput(snapshot, continueWith));
      return undefined as never;
    }
    if (snapshot.context.failure && !effects.running) {
      const { phase, reason } = snapshot.context.failure;
      yield effects.report('failed', phase, reason.message, snapshot.context.attempts[phase]);
    }
    const { event, phaseFinished } = yield* effects.next();
    if (isParkSignal(event)) {
      yield* effects.onPark(event);
      turn = { snapshot, commands: [] };
      continue;
    }
    const next = feed(context, effects.self, snapshot, event);
    if (!next) {
      turn = { snapshot, commands: [] };
      continue;
    }
    const deferred = phaseFinished ? deferNextPhase(next, event) : { commands: next.commands };
    turn = { snapshot: next.snapshot, commands: deferred.commands };
    continueWith = deferred.next;
  }
}

function feed(context: df.OrchestrationContext, self: string, snapshot: JourneySnapshot, event: JourneyEvent): JourneyTurn | undefined {
  try {
    return stepJourney(snapshot, event);
  } catch (err) {
    context.log(`journey ${self}: ignored event ${JSON.stringify(event).slice(0, 200)}: ${(err as Error).message}`);
    return undefined;
  }
}

/** The journey orchestration's hands: phases as sub-orchestrations, signals, notifications, checkpoints. */
class JourneyEffects {
  running: Running | undefined;
  readonly self: string;
  private version: number;
  private lastPhase: JourneyInput['lastPhase'];
  /**
   * Instructor and learner commands, in arrival order: carried over from the previous execution, then
   * received (see EventInbox: a waiter raced twice used to swallow the command after a resume).
   */
  private readonly inbox: EventInbox<JourneyEvent>;
  private readonly received: JourneyEvent[];
  private seq = 0;
  /** The run is parked (its park number); or was unparked, and the next phase started restores the environment first. */
  private parked: number | undefined;
  private restore: number | undefined;

  constructor(
    private readonly context: df.OrchestrationContext,
    private readonly input: JourneyInput,
  ) {
    this.self = journeyInstanceId(input.runId, input.learnerId);
    this.version = input.version;
    this.lastPhase = input.lastPhase;
    this.inbox = new EventInbox<JourneyEvent>(context, EVENTS.journey);
    this.received = [...((input.pending ?? []) as JourneyEvent[])];
    this.parked = input.parked;
    this.restore = input.restore;
  }

  /**
   * Park / unpark (orchestrations/parking.ts): the running phase holds at its step and saves the environment;
   * with no phase running (failed, waiting for the instructor) the journey saves it, and the next phase started
   * restores it first.
   */
  *onPark(signal: ParkSignal): Generator<df.Task, void, unknown> {
    const { runId, learnerId } = this.input;
    if (signal.type === 'PARK') {
      this.parked = signal.seq;
      this.restore = undefined;
    } else {
      if (this.parked !== signal.seq) return;
      this.parked = undefined;
    }
    try {
      const running = this.running;
      if (running) {
        const told = callActivity(this.context, 'signalInstance', { op: 'raise', instanceId: phaseInstanceId(runId, learnerId, running.phase, running.attempt), event: EVENTS.phase, data: signal });
        yield told;
        if (resultOf(told).ok) return;
        // The phase has just ended (its outcome is on its way): the journey does its part.
      }
      if (signal.type === 'PARK') yield callActivity(this.context, 'parkEnvironment', { runId, learnerId, seq: signal.seq });
      // No phase took the unpark: the next one started restores the environment first.
      else this.restore = signal.seq;
    } catch (err) {
      this.context.log(`journey ${this.self}: ${signal.type} failed after retries: ${(err as Error).message}`);
    }
  }

  private key(what: string): string {
    return `${this.self}:${this.version}:${this.seq++}:${what}`;
  }

  private signal(data: ActivityInput<'signalInstance'>): df.Task {
    return callActivity(this.context, 'signalInstance', data);
  }

  /** `attempt`: of the phase the report is about, when it is about one (a failure), so the cohort knows which phase instance ended. */
  report(state: LearnerState, phase: PhaseName, detail?: string, attempt?: number): df.Task {
    const progress: ProgressReport = { type: 'progress', learnerId: this.input.learnerId, phase, state, stepId: null, at: this.context.df.currentUtcDateTime.toISOString(), detail, ...(attempt ? { attempt } : {}) };
    return this.signal({ op: 'raise', instanceId: cohortInstanceId(this.input.runId), event: EVENTS.cohort, data: progress });
  }

  /** Side effects in the order the machine declared them; a started phase is raced in `next`. */
  *execute(commands: readonly JourneyCommand[], snapshot: JourneySnapshot): Generator<df.Task, void, unknown> {
    const effects = commands.map((c) => this.effect(c, snapshot)).filter((t): t is df.Task => t !== undefined);
    if (!effects.length) return;
    try {
      yield this.context.df.Task.all(effects);
    } catch (err) {
      // Notifications, checkpoints and signals retry on their own; one that still fails must
      // not stop the learner. The next checkpoint supersedes a lost one.
      this.context.log(`journey ${this.self}: a side effect failed after retries: ${(err as Error).message}`);
    }
  }

  private effect(command: JourneyCommand, snapshot: JourneySnapshot): df.Task | undefined {
    const { runId, learnerId, plan } = this.input;
    switch (command.type) {
      case 'startPhase':
        this.startPhase(command.params);
        return undefined;
      case 'stopPhase': {
        const { phase, attempt, reason } = command.params;
        const instanceId = phaseInstanceId(runId, learnerId, phase, attempt);
        if (this.running?.phase === phase && reason === 'ended') this.running = undefined;
        return reason === 'skipped'
          ? this.signal({ op: 'raise', instanceId, event: EVENTS.phase, data: { type: 'SKIP', reason: 'skipped by the instructor' } })
          : this.signal({ op: 'terminate', instanceId, reason: 'the run ended' });
      }
      case 'forwardToPhase': {
        const { phase, attempt, event } = command.params;
        return this.signal({ op: 'raise', instanceId: phaseInstanceId(runId, learnerId, phase, attempt), event: EVENTS.phase, data: event });
      }
      case 'notifyInstructor':
        return callActivity(this.context, 'notify', { runId, key: this.key('failed'), to: { role: 'instructor' }, kind: 'failed', body: { learnerId, ...command.params } });
      case 'notifyLearner':
        return callActivity(this.context, 'notify', { runId, key: this.key(command.params.reason), to: { role: 'learner', learnerId }, kind: command.params.reason, body: { ...command.params } });
      case 'teardown':
        return callActivity(this.context, 'teardown', { runId, learnerId, packId: plan.packId, reason: command.params.reason });
      case 'checkpoint':
        return callActivity(this.context, 'recordCheckpoint', {
          runId,
          learnerId,
          version: this.version++,
          scope: 'journey',
          journey: { snapshot: persistJourneySnapshot(snapshot), lastPhase: this.lastPhase },
          summary: { journeyState: JSON.stringify(snapshot.value), current: snapshot.context.current, attempts: snapshot.context.attempts },
        });
      default:
        return assertNever(command, 'journey command');
    }
  }

  private startPhase({ phase, attempt, resume }: StartPhase): void {
    const { runId, learnerId, plan } = this.input;
    const phaseInput: PhaseInput = {
      runId,
      learnerId,
      packId: plan.packId,
      def: plan.phases[phase],
      attempt,
      version: 0,
      ...(plan.environmentParameters ? { environmentParameters: plan.environmentParameters } : {}),
      ...(plan.learnerSubscriptions?.length ? { learnerSubscriptions: plan.learnerSubscriptions } : {}),
      ...(resume && this.lastPhase?.phase === phase ? { snapshot: this.lastPhase.snapshot, resume } : {}),
      ...(this.parked ? { parked: this.parked } : this.restore ? { restore: this.restore } : {}),
    };
    this.restore = undefined;
    this.running = { phase, attempt, task: this.context.df.callSubOrchestrator('workshopPhase', phaseInput, phaseInstanceId(runId, learnerId, phase, attempt)) };
  }

  /** The next event: the running phase's outcome, or an instructor's (or learner's) journey event. */
  *next(): Generator<df.Task, { event: JourneyEvent; phaseFinished: boolean }, unknown> {
    const running = this.running;
    this.received.push(...this.inbox.take());
    if (!this.received.length) {
      const waiter = this.inbox.waiter();
      const winner = (yield this.context.df.Task.any(running ? [running.task, waiter] : [waiter])) as df.Task;
      this.inbox.yielded();
      this.received.push(...this.inbox.take());
      if (running && winner === running.task) {
        this.running = undefined;
        return { event: this.phaseOutcome(running, winner), phaseFinished: true };
      }
    }
    return { event: this.received.shift()!, phaseFinished: false };
  }

  private phaseOutcome({ phase, attempt }: Running, task: df.Task): JourneyEvent {
    if (task.isFaulted) {
      const message = (task.result as Error | undefined)?.message ?? 'unknown error';
      return { type: 'PHASE_FAILED', phase, reason: { kind: 'provision', stepId: `${phase}#${attempt}`, message: `The phase stopped unexpectedly: ${message}`, learnerMayResume: false } };
    }
    const out = task.result as PhaseOutput;
    if (out.status === 'completed') return { type: 'PHASE_COMPLETED', phase, result: out.result };
    this.lastPhase = { phase, snapshot: out.snapshot };
    return { type: 'PHASE_FAILED', phase, reason: out.failure };
  }

  /** The next execution's input, with every command this one received and did not handle (drained first: see EventInbox.drain). */
  *continueInput(snapshot: JourneySnapshot, startPhase: StartPhase): Generator<df.Task, JourneyInput, unknown> {
    this.received.push(...(yield* this.inbox.drain()));
    const { pending: _carried, ...rest } = this.input;
    return {
      ...rest,
      journey: persistJourneySnapshot(snapshot),
      lastPhase: this.lastPhase,
      version: this.version,
      resume: undefined,
      startPhase,
      ...(this.received.length ? { pending: this.received } : {}),
      parked: this.parked,
      restore: this.restore,
    };
  }
}
