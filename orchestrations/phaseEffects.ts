import type * as df from 'durable-functions';
import { callActivity, CALLER_RETRIES, resultOf, type ActivityInput, type ActivityTask } from '../activities';
import { isParkSignal, PhaseParking } from './parking';
import { armFailureOf } from '../azure/armErrors';
import { EVENTS, cohortInstanceId, phaseInstanceId } from '../contracts/ids';
import type { ParkSignal, PhaseInput, ProvisionDone, ProvisionRequest, ProvisionSignal } from '../contracts/messages';
import { assertNever } from '../machines/assertNever';
import { persistPhaseSnapshot, type Decision, type PhaseCommand, type PhaseEvent, type PhaseSnapshot } from '../machines/phaseMachine';
import type { LearnerState, ProgressReport } from '../machines/progress';

interface Pending {
  task: df.Task;
  /** The machine event for the activity's outcome, if the machine waits for one. */
  toEvent?: (task: df.Task) => PhaseEvent | undefined;
}

/** An activity failure as people read it: activity errors arrive as "<ErrorType>: <message>". */
export function errorMessage(task: df.Task): string {
  const err = task.result as Error | undefined;
  return (err?.message ?? String(err)).replace(/^[A-Za-z]*Error: /, '');
}

/**
 * The phase orchestration's hands: turns the phase machine's commands into activity calls and durable
 * timers, and their outcomes (and the events people send) back into machine events. It decides nothing
 * about the workshop; the one protocol it owns is the cohort's provisioning admission, which the machine
 * never sees (a deployment waits for a slot, then runs once; the cohort's scheduler decides retries).
 */
export class PhaseEffects {
  readonly pending = new Map<string, Pending>();
  readonly timers = new Map<string, { task: df.TimerTask; fireAt: string }>();
  /** Deployments asked of the cohort's scheduler and not yet admitted or refused, by `stepId:attempt`. */
  readonly awaitingAdmission = new Set<string>();
  /** The run parked overnight: held at the step (orchestrations/parking.ts). */
  readonly parking: PhaseParking;
  private eventWait: df.Task;
  private lastReported = '';
  /** The snapshot of the turn (a park holds the step it shows). */
  private current: PhaseSnapshot | undefined;
  private seq = 0;
  readonly self: string;
  version: number;

  constructor(
    readonly context: df.OrchestrationContext,
    readonly input: PhaseInput,
  ) {
    this.self = phaseInstanceId(input.runId, input.learnerId, input.def.phase, input.attempt);
    this.version = input.version;
    for (const [id, fireAt] of Object.entries(input.timers ?? {})) this.timers.set(id, { task: context.df.createTimer(new Date(fireAt)), fireAt });
    this.eventWait = context.df.waitForExternalEvent(EVENTS.phase);
    this.parking = new PhaseParking(this);
  }

  key(what: string): string {
    return `${this.self}:${this.version}:${this.seq++}:${what}`;
  }

  /** Nothing in flight that a continue-as-new would lose. */
  get idle(): boolean {
    return this.pending.size === 0 && this.awaitingAdmission.size === 0 && this.parking.idle;
  }

  execute(command: PhaseCommand, snapshot: PhaseSnapshot): void {
    if (this.parking.defer(command)) return;
    switch (command.type) {
      case 'prompt':
      case 'hint':
        return this.notify('learner', command.type, { ...command.params });
      case 'notifyLearner':
        return this.notify('learner', command.params.reason, { ...command.params });
      case 'notifyInstructor':
        this.notify('instructor', command.params.reason, { ...command.params });
        if (command.params.reason === 'stuck') this.report('stuck', command.params.stepId, snapshot, `${Math.round(command.params.msLeft / 60000)} min left`);
        return;
      case 'provision':
        return this.askForSlot(command.params.stepId, command.params.attempt);
      case 'validate':
        return this.validate(command.params.stepId, command.params.attempt);
      case 'startTimer':
        return this.setTimer(command.params.id, command.params.dueInMs);
      case 'cancelTimer': {
        const t = this.timers.get(command.params.id);
        if (t && !t.task.isCompleted && !t.task.isFaulted) t.task.cancel();
        this.timers.delete(command.params.id);
        return;
      }
      case 'recordDecision':
        return this.recordDecision(command.params);
      case 'checkpoint':
        return this.checkpoint(snapshot);
      default:
        return assertNever(command, 'phase command');
    }
  }

  setTimer(id: string, dueInMs: number): void {
    const fireAt = new Date(this.context.df.currentUtcDateTime.getTime() + dueInMs).toISOString();
    this.timers.set(id, { task: this.context.df.createTimer(new Date(fireAt)), fireAt });
  }

  notify(to: 'learner' | 'instructor', kind: string, body: Record<string, unknown>): void {
    const { runId, learnerId, def } = this.input;
    const key = this.key(kind);
    const recipient = to === 'learner' ? { role: 'learner' as const, learnerId } : { role: 'instructor' as const };
    this.pending.set(key, { task: callActivity(this.context, 'notify', { runId, key, to: recipient, kind, body: { learnerId, phase: def.phase, ...body } }) });
  }

  tellCohort(data: ProgressReport | ProvisionDone | ProvisionRequest, what: string, toEvent?: Pending['toEvent']): ActivityTask<'signalInstance'> {
    const key = this.key(what);
    const task = callActivity(this.context, 'signalInstance', { op: 'raise', instanceId: cohortInstanceId(this.input.runId), event: EVENTS.cohort, data });
    this.pending.set(key, { task, ...(toEvent ? { toEvent } : {}) });
    return task;
  }

  /** Tell the cohort where the learner is, once per change. */
  report(state: LearnerState, stepId: string | null, snapshot: PhaseSnapshot, detail?: string): void {
    this.current = snapshot;
    this.parking.start(snapshot);
    const helpCount = snapshot.context.helpCount;
    const summary = `${state}|${stepId}|${detail ?? ''}|${helpCount}`;
    if (summary === this.lastReported) return;
    this.lastReported = summary;
    const { learnerId, def, attempt } = this.input;
    const at = this.context.df.currentUtcDateTime.toISOString();
    this.tellCohort({ type: 'progress', learnerId, phase: def.phase, state, stepId, at, detail, helpCount, attempt }, 'progress');
  }

  private recordDecision(decision: Decision): void {
    const { runId, learnerId, def } = this.input;
    const at = this.context.df.currentUtcDateTime.toISOString();
    this.pending.set(this.key('decision'), { task: callActivity(this.context, 'recordDecision', { runId, learnerId, phase: def.phase, at, decision }) });
  }

  private checkpoint(snapshot: PhaseSnapshot): void {
    const { runId, learnerId, def, attempt } = this.input;
    const key = this.key('checkpoint');
    const input = {
      runId,
      learnerId,
      version: this.version++,
      scope: 'phase' as const,
      phase: { name: def.phase, attempt, instanceId: this.self, snapshot: persistPhaseSnapshot(snapshot) },
      summary: { phase: def.phase, phaseAttempt: attempt, phaseState: JSON.stringify(snapshot.value) },
    };
    this.pending.set(key, { task: callActivity(this.context, 'recordCheckpoint', input) });
  }

  validate(stepId: string, attempt: number): void {
    const { runId, learnerId, packId } = this.input;
    const task = callActivity(this.context, 'runValidation', { runId, learnerId, packId, stepId, attempt });
    this.pending.set(this.key('validate'), {
      task,
      toEvent: (t): PhaseEvent => {
        if (t.isFaulted) return { type: 'VALIDATION_FAILED', stepId, attempt, checks: [{ checkId: 'validation-run', passed: false, message: errorMessage(t) }] };
        const result = resultOf(task);
        return { type: result.passed ? 'VALIDATION_PASSED' : 'VALIDATION_FAILED', stepId, attempt, checks: result.checks };
      },
    });
  }

  /**
   * The cohort's scheduler decides when a deployment may start (ARM limits, a 429 back-off for the whole
   * subscription); the learner is told their place in line meanwhile. With no cohort to ask (a learner
   * resumed after the run's instance finished) the phase deploys directly, with the activity's own retries.
   */
  private askForSlot(stepId: string, attempt: number): void {
    const slot = `${stepId}:${attempt}`;
    this.awaitingAdmission.add(slot);
    const request: ProvisionRequest = { type: 'provisionRequest', learnerId: this.input.learnerId, phaseInstanceId: this.self, stepId, attempt };
    // Called once the signal has completed, so `task` is assigned by then.
    const task = this.tellCohort(request, 'provisionRequest', () => {
      if (!task.isFaulted && resultOf(task).ok) return undefined;
      this.awaitingAdmission.delete(slot);
      this.deploy(stepId, attempt, false);
      return undefined;
    });
  }

  /** A cohort -> phase provisioning signal (they share the phase's event channel; the machine never sees them). */
  private onProvisionSignal(signal: ProvisionSignal): PhaseEvent | undefined {
    const slot = `${signal.stepId}:${signal.attempt}`;
    if (!this.awaitingAdmission.delete(slot)) return undefined; // late or duplicate
    if (signal.type === 'PROVISION_REJECTED') return { type: 'PROVISION_FAILED', stepId: signal.stepId, attempt: signal.attempt, message: signal.message };
    this.deploy(signal.stepId, signal.attempt, true);
    return undefined;
  }

  /** What provisionEnvironment gets for the step's deployment. */
  environment(stepId: string): ActivityInput<'provisionEnvironment'> {
    const { runId, learnerId, packId } = this.input;
    return {
      runId,
      learnerId,
      packId,
      // The same key every attempt: a retry adopts the deployment an earlier attempt started.
      idempotencyKey: `${runId}:${learnerId}:${stepId}`,
      parameters: this.input.environmentParameters ?? {},
      ...(this.input.learnerSubscriptions?.length ? { subscriptions: this.input.learnerSubscriptions } : {}),
    };
  }

  /** Run the deployment once if the cohort admitted it (its scheduler decides retries), else with the activity's retries. */
  private deploy(stepId: string, attempt: number, scheduled: boolean): void {
    const { learnerId } = this.input;
    const done = (outcome: ProvisionDone['outcome'], extra: Partial<ProvisionDone> = {}) =>
      this.tellCohort({ type: 'provisionDone', learnerId, stepId, attempt, outcome, ...extra }, 'provisionDone');
    const environment = this.environment(stepId);
    const key = this.key('provision');
    this.pending.set(key, {
      task: scheduled ? callActivity(this.context, 'provisionEnvironment', environment, CALLER_RETRIES) : callActivity(this.context, 'provisionEnvironment', environment),
      toEvent: (t) => {
        if (!t.isFaulted) {
          if (scheduled) done('succeeded');
          return { type: 'PROVISION_SUCCEEDED', stepId, attempt };
        }
        const failure = armFailureOf(t.result);
        if (scheduled && failure.kind !== 'permanent') {
          // The scheduler holds the slot and admits a retry (same idempotency key: it adopts the deployment).
          this.awaitingAdmission.add(`${stepId}:${attempt}`);
          done('transient', { retryAfterSeconds: failure.retryAfterSeconds, throttled: /\b429\b|throttl|TooManyRequests/i.test(failure.message), message: failure.message });
          return undefined;
        }
        if (scheduled) done('permanent', { message: failure.message });
        return { type: 'PROVISION_FAILED', stepId, attempt, message: failure.message };
      },
    });
  }

  /**
   * Wait for the next thing that happened — a person's event, a timer, an activity's outcome — as a
   * machine event, or undefined when it needs none (a notification landed, a signal was handled here).
   */
  *next(): Generator<df.Task, PhaseEvent | undefined, unknown> {
    if (this.parking.ready.length) return this.parking.ready.shift();
    const racing: df.Task[] = [this.eventWait, ...[...this.timers.values()].map((t) => t.task), ...[...this.pending.values()].map((p) => p.task)];
    const winner = (yield this.context.df.Task.any(racing)) as df.Task;
    const event = this.outcome(winner);
    // Everything else that finished in the same episode is picked up on the next turns.
    for (const [k, p] of this.pending) if (!p.toEvent && (p.task.isCompleted || p.task.isFaulted)) this.pending.delete(k);
    return event;
  }

  private outcome(winner: df.Task): PhaseEvent | undefined {
    if (winner === this.eventWait) {
      const received = this.eventWait.result as PhaseEvent | ProvisionSignal | ParkSignal;
      this.eventWait = this.context.df.waitForExternalEvent(EVENTS.phase);
      if (isParkSignal(received)) return this.parking.onSignal(received, this.current!);
      if (received?.type === 'PROVISION_ADMITTED' || received?.type === 'PROVISION_REJECTED') return this.parking.onProvisionSignal(received) ? undefined : this.onProvisionSignal(received);
      return this.parking.hold(received) ? undefined : received;
    }
    const timer = [...this.timers].find(([, t]) => t.task === winner);
    if (timer) {
      this.timers.delete(timer[0]);
      return { type: 'TIMER_FIRED', id: timer[0] };
    }
    const done = [...this.pending].find(([, p]) => p.task === winner);
    if (!done) return undefined;
    this.pending.delete(done[0]);
    const event = done[1].toEvent?.(winner);
    if (!event && winner.isFaulted) this.context.log(`phase ${this.self}: ${done[0]} failed after retries: ${errorMessage(winner)}`);
    return event;
  }

  /** The phase is over: let the last notifications and checkpoints land, and drop the timers. */
  *settle(): Generator<df.Task, void, unknown> {
    if (this.pending.size) yield this.context.df.Task.all([...this.pending.values()].map((p) => p.task));
    for (const t of this.timers.values()) if (!t.task.isCompleted) t.task.cancel();
  }

  /** The input of the next execution (continue-as-new): the snapshot and the timers still armed. */
  continueInput(snapshot: PhaseSnapshot): PhaseInput {
    const armed: Record<string, string> = {};
    for (const [id, t] of this.timers) if (!t.task.isCompleted) armed[id] = t.fireAt;
    return { ...this.input, version: this.version, snapshot: persistPhaseSnapshot(snapshot), resume: null, timers: armed };
  }
}
