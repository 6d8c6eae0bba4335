import type * as df from 'durable-functions';
import { callActivity, resultOf, type ActivityInput } from '../activities';
import { phaseInstanceId } from '../contracts/ids';
import type { ParkSignal, PhaseInput, ProvisionDone, ProvisionRequest, ProvisionSignal } from '../contracts/messages';
import { phaseView, type PhaseEvent, type PhaseSnapshot } from '../machines/phaseMachine';

/**
 * Save & resume across days (issue 15 item 5), the phase's half. The phase machine never knows the run was
 * parked: the phase orchestration holds it at its step.
 *
 * PARK: every armed timer is cancelled and what was left of it remembered (the timebox stops: nobody fails
 * overnight); an in-flight deployment or validation is *interrupted* — its outcome, whenever it comes, is
 * dropped, and it runs again the next day; events people send meanwhile are held; and the learner's
 * environment is saved and torn down (parkEnvironment). A deployment still running when the group was deleted
 * may re-create it when its activity retries, so when it returns the environment is parked again.
 *
 * UNPARK: the environment comes back through the cohort's provisioning scheduler, like any deployment — a slot
 * `~park<n>`, then restoreEnvironment (the saved export) and, for a learner who was mid-deployment, their
 * step's deployment again under its own key — and then the timers are re-armed with what was left of them,
 * an interrupted validation runs again (same attempt: it did not count), the held events are delivered, and
 * the learner is told where they continue.
 */
export function isParkSignal(e: unknown): e is ParkSignal {
  const t = (e as { type?: unknown } | null)?.type;
  return (t === 'PARK' || t === 'UNPARK') && typeof (e as { seq?: unknown }).seq === 'number';
}

/** A restore's scheduler slot: its own step id, so it never collides with the step's own requests. */
const restoreStep = (seq: number) => `~park${seq}`;

interface Interrupted {
  kind: 'provision' | 'validate';
  stepId: string;
  attempt: number;
}

interface Pending {
  task: df.Task;
  toEvent?: (task: df.Task) => PhaseEvent | undefined;
}

/** What the parking needs of PhaseEffects. */
export interface ParkingHost {
  readonly context: df.OrchestrationContext;
  readonly input: PhaseInput;
  readonly pending: Map<string, Pending>;
  readonly timers: Map<string, { task: df.TimerTask; fireAt: string }>;
  readonly awaitingAdmission: Set<string>;
  key(what: string): string;
  notify(to: 'learner' | 'instructor', kind: string, body: Record<string, unknown>): void;
  tellCohort(data: ProvisionDone | ProvisionRequest, what: string, toEvent?: Pending['toEvent']): df.Task;
  environment(stepId: string): ActivityInput<'provisionEnvironment'>;
  validate(stepId: string, attempt: number): void;
  setTimer(id: string, dueInMs: number): void;
}

export class PhaseParking {
  private seq: number | undefined;
  private parkTask: df.Task | undefined;
  private saved = false;
  private unparkWanted: number | undefined;
  private timersLeft: Record<string, number> = {};
  private interrupted: Interrupted | undefined;
  /** Events people sent while parked, delivered after the unpark; then `ready` feeds them to the machine. */
  private held: PhaseEvent[] = [];
  readonly ready: PhaseEvent[] = [];

  private started = false;

  constructor(private readonly host: ParkingHost) {
    // Started parked: the machine's first commands (its timebox, a deployment) already wait.
    this.seq = host.input.parked;
  }

  /** Once, with the phase's first snapshot: started parked, or to restore the environment first (the journey passes the run's park state). */
  start(snapshot: PhaseSnapshot): void {
    if (this.started) return;
    this.started = true;
    const { parked, restore } = this.host.input;
    if (parked) this.park(parked, snapshot, true);
    else if (restore) this.unpark(restore, true);
  }

  get parked(): boolean {
    return this.seq !== undefined;
  }

  private now(): number {
    return this.host.context.df.currentUtcDateTime.getTime();
  }

  /** While parked, the machine's provision / validate / timer commands wait for the morning. False: run it now. */
  defer(command: { type: string; params?: unknown }): boolean {
    if (!this.parked) return false;
    if (command.type === 'startTimer') {
      const p = command.params as { id: string; dueInMs: number };
      this.timersLeft[p.id] = p.dueInMs;
      return true;
    }
    if (command.type === 'cancelTimer') {
      delete this.timersLeft[(command.params as { id: string }).id];
      return false;
    }
    if (command.type === 'provision' || command.type === 'validate') {
      const p = command.params as { stepId: string; attempt: number };
      this.interrupted = { kind: command.type, stepId: p.stepId, attempt: p.attempt };
      return true;
    }
    return false;
  }

  /** A park signal, a restore admission, or a person's event while parked: handled here (undefined: nothing for the machine). */
  onSignal(signal: ParkSignal, snapshot: PhaseSnapshot): undefined {
    if (signal.type === 'PARK') this.park(signal.seq, snapshot);
    else this.unpark(signal.seq, false);
    return undefined;
  }

  /** A person's event while parked is held (the API refuses them; this is the last line). */
  hold(event: PhaseEvent): boolean {
    if (!this.parked) return false;
    this.held.push(event);
    return true;
  }

  private park(seq: number, snapshot: PhaseSnapshot, again = false): void {
    if (this.seq === seq && !again) return;
    this.seq = seq;
    const now = this.now();
    for (const [id, t] of this.host.timers) {
      if (!t.task.isCompleted) {
        t.task.cancel();
        this.timersLeft[id] = Math.max(0, Date.parse(t.fireAt) - now);
      }
    }
    this.host.timers.clear();
    const view = phaseView(snapshot);
    const attempt = view.step ? (snapshot.context.attempts[view.step.id] ?? 0) : 0;
    if (view.step && (view.state === 'provisioning' || view.state === 'validating')) {
      this.interrupted = { kind: view.state === 'provisioning' ? 'provision' : 'validate', stepId: view.step.id, attempt };
    }
    // Waiting in line: the cohort withdrew the request when it parked; the morning asks again.
    this.host.awaitingAdmission.clear();
    for (const [key, p] of this.host.pending) {
      if (!p.toEvent || key.endsWith(':park')) continue;
      // Dropped: the step (or the restore) runs again after the unpark. A deployment that finished after the
      // group was deleted may have re-created it: park it again.
      const deploys = key.endsWith(':provision') || key.endsWith(':restore');
      p.toEvent = () => {
        if (deploys && this.parked) this.parkEnvironment();
        return undefined;
      };
    }
    this.parkEnvironment();
    this.host.notify('learner', 'parked', { stepId: view.step?.id ?? null, message: `The run is parked until the instructor resumes it. Your progress and your environment are saved; you will continue at ${view.step ? `step "${view.step.id}"` : 'where you are'}, and no time is counted meanwhile.` });
  }

  private parkEnvironment(): void {
    const { runId, learnerId } = this.host.input;
    const task = callActivity(this.host.context, 'parkEnvironment', { runId, learnerId, seq: this.seq! });
    this.parkTask = task;
    this.host.pending.set(this.host.key('park'), {
      task,
      toEvent: (t) => {
        if (t.isFaulted) this.host.notify('instructor', 'parkFailed', { message: `The environment of ${learnerId} could not be saved and torn down: ${(t.result as Error | undefined)?.message ?? 'unknown error'}. It may still cost money; delete it by hand.` });
        else this.saved ||= resultOf(task).saved;
        if (this.parkTask === t && this.unparkWanted !== undefined) this.unpark(this.unparkWanted, false);
        return undefined;
      },
    });
  }

  private unpark(seq: number, restoreOnly: boolean): void {
    if (!restoreOnly && this.seq !== seq) return;
    if (this.parkTask && !this.parkTask.isCompleted && !this.parkTask.isFaulted) {
      this.unparkWanted = seq; // the save is still running: restore once it is done
      return;
    }
    this.unparkWanted = undefined;
    if (this.saved || restoreOnly || this.interrupted?.kind === 'provision') this.askForRestore(seq);
    else this.resume();
  }

  private askForRestore(seq: number): void {
    const slot = `${restoreStep(seq)}:1`;
    this.host.awaitingAdmission.add(slot);
    const { runId, learnerId, def, attempt } = this.host.input;
    const request: ProvisionRequest = { type: 'provisionRequest', learnerId, phaseInstanceId: phaseInstanceId(runId, learnerId, def.phase, attempt), stepId: restoreStep(seq), attempt: 1 };
    const task = this.host.tellCohort(
      request,
      'restoreRequest',
      () => {
        // No cohort to ask (the run's instance has finished): restore directly.
        if (!task.isFaulted && (task.result as { ok?: boolean } | undefined)?.ok) return undefined;
        this.host.awaitingAdmission.delete(slot);
        this.restore(seq, false);
        return undefined;
      },
    );
  }

  /** The cohort's answer to a restore request (true: it was one). */
  onProvisionSignal(signal: ProvisionSignal): boolean {
    if (!signal.stepId.startsWith('~park')) return false;
    if (!this.host.awaitingAdmission.delete(`${signal.stepId}:${signal.attempt}`)) return true;
    const seq = Number(signal.stepId.slice('~park'.length));
    if (signal.type === 'PROVISION_REJECTED') {
      this.host.notify('instructor', 'restoreFailed', { message: `The environment of ${this.host.input.learnerId} could not be restored: ${signal.message}` });
      this.resume();
    } else {
      this.restore(seq, true);
    }
    return true;
  }

  private restore(seq: number, scheduled: boolean): void {
    const done = (outcome: ProvisionDone['outcome'], message?: string) => {
      if (scheduled) this.host.tellCohort({ type: 'provisionDone', learnerId: this.host.input.learnerId, stepId: restoreStep(seq), attempt: 1, outcome, ...(message ? { message } : {}) }, 'restoreDone');
    };
    const input = { ...this.host.environment(restoreStep(seq)), seq };
    const task = callActivity(this.host.context, 'restoreEnvironment', input);
    this.host.pending.set(this.host.key('restore'), {
      task,
      toEvent: (t) => {
        if (t.isFaulted) {
          const message = (t.result as Error | undefined)?.message ?? 'unknown error';
          this.host.notify('instructor', 'restoreFailed', { message: `The environment of ${this.host.input.learnerId} could not be restored: ${message}` });
          if (this.interrupted?.kind !== 'provision') {
            done('permanent', message);
            this.resume();
            return undefined;
          }
        }
        return this.redeploy(done);
      },
    });
  }

  /** A learner who was mid-deployment: their step's deployment again (same key: it adopts what exists). */
  private redeploy(done: (outcome: ProvisionDone['outcome'], message?: string) => void): PhaseEvent | undefined {
    const it = this.interrupted;
    if (it?.kind !== 'provision') {
      done('succeeded');
      this.resume();
      return undefined;
    }
    const task = callActivity(this.host.context, 'provisionEnvironment', this.host.environment(it.stepId));
    this.host.pending.set(this.host.key('provision'), {
      task,
      toEvent: (t) => {
        done(t.isFaulted ? 'permanent' : 'succeeded');
        this.interrupted = undefined;
        this.resume();
        return t.isFaulted
          ? { type: 'PROVISION_FAILED', stepId: it.stepId, attempt: it.attempt, message: (t.result as Error | undefined)?.message ?? 'the deployment failed' }
          : { type: 'PROVISION_SUCCEEDED', stepId: it.stepId, attempt: it.attempt };
      },
    });
    return undefined;
  }

  /** Continue at the step: timers with what was left of them, an interrupted validation again, the held events. */
  private resume(): void {
    const wasParked = this.parked;
    this.seq = undefined;
    this.saved = false;
    for (const [id, ms] of Object.entries(this.timersLeft)) this.host.setTimer(id, ms);
    this.timersLeft = {};
    const it = this.interrupted;
    this.interrupted = undefined;
    if (it?.kind === 'validate') this.host.validate(it.stepId, it.attempt);
    this.ready.push(...this.held);
    this.held = [];
    if (wasParked) this.host.notify('learner', 'unparked', { message: 'Welcome back: the run has resumed and your environment is restored. Carry on where you left off.' });
  }

  /** Nothing of the park may be lost to a continue-as-new. */
  get idle(): boolean {
    return !this.parked && !this.held.length && !this.ready.length && this.unparkWanted === undefined && !Object.keys(this.timersLeft).length;
  }
}
