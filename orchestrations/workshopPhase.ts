import * as df from 'durable-functions';
import { initialTransition, transition } from 'xstate';
import { callActivity } from '../activities';
import {
  persistPhaseSnapshot,
  phaseCommands,
  phaseMachine,
  restorePhaseSnapshot,
  type CheckResult,
  type PhaseCommand,
  type PhaseEvent,
  type PhaseResult,
  type PhaseSnapshot,
} from '../machines/phaseMachine';
import { armFailureOf } from '../activities/armErrors';
import { EVENTS, cohortInstanceId, phaseInstanceId } from './workshopIds';
import type { LearnerState, PhaseInput, PhaseOutput, ProgressReport, ProvisionDone, ProvisionRequest, ProvisionSignal } from './workshopTypes';

/** Events handled per execution before continuing as new (bounded history). */
const EVENTS_PER_EXECUTION = 40;
const NOTIFY_RETRY = new df.RetryOptions(2_000, 5);
NOTIFY_RETRY.backoffCoefficient = 2;
const ENV_RETRY = new df.RetryOptions(15_000, 4);
ENV_RETRY.backoffCoefficient = 2;
ENV_RETRY.maxRetryIntervalInMilliseconds = 120_000;

interface Pending {
  task: df.Task;
  /** The machine event for the activity's outcome, if the machine waits for one. */
  toEvent?: (task: df.Task) => PhaseEvent | undefined;
}

function errorMessage(task: df.Task): string {
  const err = task.result as Error | undefined;
  const text = err?.message ?? String(err);
  // Activity failures arrive as "<ErrorType>: <message>"; the message is what people read.
  return text.replace(/^[A-Za-z]*Error: /, '');
}

/** The learner-visible state of a phase snapshot, for the cohort dashboard. */
function learnerState(snapshot: PhaseSnapshot): { state: LearnerState; stepId: string | null } {
  const ctx = snapshot.context;
  const step = ctx.steps[ctx.stepIndex];
  const value = JSON.stringify(snapshot.value);
  const state: LearnerState = snapshot.status === 'done'
    ? 'completed'
    : value.includes('failed')
      ? 'failed'
      : value.includes('changesRequested')
        ? 'changesRequested'
        : value.includes('awaitingReview')
          ? 'awaitingReview'
          : ctx.helpPending
            ? 'helpRequested'
            : 'working';
  return { state, stepId: step?.id ?? null };
}

/**
 * One learner, one phase: interprets the phase machine. "Ask the machine what to do, do it, feed
 * the result back": learner and instructor input arrive as `phaseEvent`s, activity outcomes and
 * durable timers become machine events, and every command the machine declares becomes an
 * activity call or a timer. Returns the phase result, or the failure with the snapshot to resume.
 */
export function* workshopPhase(context: df.OrchestrationContext): Generator<df.Task, PhaseOutput, unknown> {
  const input = context.df.getInput() as PhaseInput;
  const self = phaseInstanceId(input.runId, input.learnerId, input.def.phase, input.attempt);
  const now = () => context.df.currentUtcDateTime;
  let version = input.version;
  let snapshot: PhaseSnapshot;
  let commands: PhaseCommand[] = [];

  if (input.snapshot) {
    snapshot = restorePhaseSnapshot(input.snapshot);
    if (input.resume) {
      const [next, actions] = transition(phaseMachine, snapshot, { type: 'RESUME', ...input.resume });
      snapshot = next;
      commands = phaseCommands(actions);
      // A new attempt restored from a checkpoint must record itself even when RESUME changed
      // nothing (a phase lost while waiting for the learner): the checkpoint names the instance
      // that learner and instructor events go to.
      if (!commands.some((c) => c.type === 'checkpoint')) commands.push({ type: 'checkpoint' });
    }
  } else {
    const [first, actions] = initialTransition(phaseMachine, input.def);
    snapshot = first;
    commands = phaseCommands(actions);
  }

  const pending = new Map<string, Pending>();
  const timers = new Map<string, { task: df.TimerTask; fireAt: string }>();
  for (const [id, fireAt] of Object.entries(input.timers ?? {})) {
    timers.set(id, { task: context.df.createTimer(new Date(fireAt)), fireAt });
  }
  let lastReported = '';
  let seq = 0;
  const key = (what: string) => `${self}:${version}:${seq++}:${what}`;

  const notify = (to: 'learner' | 'instructor', kind: string, body: Record<string, unknown>): void => {
    const k = key(kind);
    pending.set(k, {
      task: callActivity(
        context,
        'notify',
        { runId: input.runId, key: k, to: to === 'learner' ? { role: 'learner', learnerId: input.learnerId } : { role: 'instructor' }, kind, body: { learnerId: input.learnerId, phase: input.def.phase, ...body } },
        NOTIFY_RETRY,
      ),
    });
  };
  const report = (state: LearnerState, stepId: string | null, detail?: string): void => {
    const summary = `${state}|${stepId}|${detail ?? ''}|${snapshot.context.helpCount}`;
    if (summary === lastReported) return;
    lastReported = summary;
    const progress: ProgressReport = {
      type: 'progress',
      learnerId: input.learnerId,
      phase: input.def.phase,
      state,
      stepId,
      at: now().toISOString(),
      detail,
      helpCount: snapshot.context.helpCount,
      attempt: input.attempt,
    };
    pending.set(key('progress'), {
      task: callActivity(context, 'signalInstance', { op: 'raise', instanceId: cohortInstanceId(input.runId), event: EVENTS.cohort, data: progress }, NOTIFY_RETRY),
    });
  };

  const awaitingAdmission = new Map<string, { stepId: string; attempt: number }>();
  const tellCohort = (done: ProvisionDone): void => {
    pending.set(key('provisionDone'), {
      task: callActivity(context, 'signalInstance', { op: 'raise', instanceId: cohortInstanceId(input.runId), event: EVENTS.cohort, data: done }, NOTIFY_RETRY),
    });
  };
  const environment = (stepId: string) => ({
    runId: input.runId,
    learnerId: input.learnerId,
    packId: input.packId,
    // The same key every attempt: a retry adopts the deployment an earlier attempt started.
    idempotencyKey: `${input.runId}:${input.learnerId}:${stepId}`,
    parameters: input.environmentParameters ?? {},
  });
  /** Run the deployment once if the cohort admitted it (its scheduler decides retries), else with our own retries. */
  const deploy = (stepId: string, attempt: number, scheduled: boolean): void => {
    pending.set(key('provision'), {
      task: scheduled
        ? context.df.callActivity('provisionEnvironment', environment(stepId))
        : context.df.callActivityWithRetry('provisionEnvironment', ENV_RETRY, environment(stepId)),
      toEvent: (t) => {
        if (!t.isFaulted) {
          if (scheduled) tellCohort({ type: 'provisionDone', learnerId: input.learnerId, stepId, attempt, outcome: 'succeeded' });
          return { type: 'PROVISION_SUCCEEDED', stepId, attempt };
        }
        const failure = armFailureOf(t.result);
        if (scheduled && failure.kind !== 'permanent') {
          // The scheduler holds the slot and admits a retry (same idempotency key: it adopts the deployment).
          awaitingAdmission.set(`${stepId}:${attempt}`, { stepId, attempt });
          tellCohort({
            type: 'provisionDone',
            learnerId: input.learnerId,
            stepId,
            attempt,
            outcome: 'transient',
            retryAfterSeconds: failure.retryAfterSeconds,
            throttled: /\b429\b|throttl|TooManyRequests/i.test(failure.message),
            message: failure.message,
          });
          return undefined;
        }
        if (scheduled) tellCohort({ type: 'provisionDone', learnerId: input.learnerId, stepId, attempt, outcome: 'permanent', message: failure.message });
        return { type: 'PROVISION_FAILED', stepId, attempt, message: failure.message };
      },
    });
  };
  /** Cohort -> phase provisioning signals arrive on the phase's event channel; the machine never sees them. */
  const onProvisionSignal = (signal: ProvisionSignal): PhaseEvent | undefined => {
    const k = `${signal.stepId}:${signal.attempt}`;
    if (!awaitingAdmission.has(k)) return undefined; // late or duplicate
    awaitingAdmission.delete(k);
    if (signal.type === 'PROVISION_REJECTED') return { type: 'PROVISION_FAILED', stepId: signal.stepId, attempt: signal.attempt, message: signal.message };
    deploy(signal.stepId, signal.attempt, true);
    return undefined;
  };

  const execute = (command: PhaseCommand): void => {
    switch (command.type) {
      case 'prompt':
        notify('learner', 'prompt', { ...command.params });
        break;
      case 'provision': {
        // The cohort's scheduler decides when this deployment may start (ARM limits, a 429 back-off
        // for the whole subscription); the learner is told their place in line meanwhile.
        const { stepId, attempt } = command.params;
        const request: ProvisionRequest = { type: 'provisionRequest', learnerId: input.learnerId, phaseInstanceId: self, stepId, attempt };
        awaitingAdmission.set(`${stepId}:${attempt}`, { stepId, attempt });
        pending.set(key('provisionRequest'), {
          task: callActivity(context, 'signalInstance', { op: 'raise', instanceId: cohortInstanceId(input.runId), event: EVENTS.cohort, data: request }, NOTIFY_RETRY),
          toEvent: (t) => {
            const sent = t.isFaulted ? undefined : (t.result as { ok: boolean });
            if (sent?.ok) return undefined;
            // No cohort to ask (a learner resumed after the run's instance finished): deploy directly.
            awaitingAdmission.delete(`${stepId}:${attempt}`);
            deploy(stepId, attempt, false);
            return undefined;
          },
        });
        break;
      }
      case 'validate': {
        const { stepId, attempt } = command.params;
        pending.set(key('validate'), {
          task: context.df.callActivityWithRetry('runValidation', ENV_RETRY, {
            runId: input.runId,
            learnerId: input.learnerId,
            packId: input.packId,
            stepId,
            attempt,
          }),
          toEvent: (t) => {
            if (t.isFaulted) {
              const checks: CheckResult[] = [{ checkId: 'validation-run', passed: false, message: errorMessage(t) }];
              return { type: 'VALIDATION_FAILED', stepId, attempt, checks };
            }
            const result = t.result as { passed: boolean; checks: CheckResult[] };
            return { type: result.passed ? 'VALIDATION_PASSED' : 'VALIDATION_FAILED', stepId, attempt, checks: result.checks };
          },
        });
        break;
      }
      case 'startTimer': {
        const fireAt = new Date(now().getTime() + command.params.dueInMs).toISOString();
        timers.set(command.params.id, { task: context.df.createTimer(new Date(fireAt)), fireAt });
        break;
      }
      case 'cancelTimer': {
        const t = timers.get(command.params.id);
        if (t && !t.task.isCompleted && !t.task.isFaulted) t.task.cancel();
        timers.delete(command.params.id);
        break;
      }
      case 'hint':
        notify('learner', 'hint', { ...command.params });
        break;
      case 'notifyInstructor':
        notify('instructor', command.params.reason, { ...command.params });
        if (command.params.reason === 'stuck') report('stuck', command.params.stepId, `${Math.round(command.params.msLeft / 60000)} min left`);
        break;
      case 'notifyLearner':
        notify('learner', command.params.reason, { ...command.params });
        break;
      case 'checkpoint':
        pending.set(key('checkpoint'), {
          task: callActivity(
            context,
            'recordCheckpoint',
            {
              runId: input.runId,
              learnerId: input.learnerId,
              version: version++,
              scope: 'phase',
              phase: { name: input.def.phase, attempt: input.attempt, instanceId: self, snapshot: persistPhaseSnapshot(snapshot) },
              summary: { phase: input.def.phase, phaseAttempt: input.attempt, phaseState: JSON.stringify(snapshot.value) },
            },
            NOTIFY_RETRY,
          ),
        });
        break;
    }
  };

  let eventWait = context.df.waitForExternalEvent(EVENTS.phase);
  let handled = 0;
  for (;;) {
    for (const c of commands) execute(c);
    commands = [];
    const visible = learnerState(snapshot);
    // The journey reports how a phase ends (next phase, failure, completion); the phase reports the way there.
    if (visible.state !== 'completed' && visible.state !== 'failed') report(visible.state, visible.stepId);

    const finished = snapshot.status === 'done' || visible.state === 'failed';
    if (finished) {
      // Notifications and checkpoints of the last transition still have to land.
      if (pending.size) yield context.df.Task.all([...pending.values()].map((p) => p.task));
      for (const t of timers.values()) if (!t.task.isCompleted) t.task.cancel();
      if (snapshot.status === 'done') return { status: 'completed', result: snapshot.output as PhaseResult };
      return { status: 'failed', failure: snapshot.context.failure!, snapshot: persistPhaseSnapshot(snapshot) };
    }

    if (handled >= EVENTS_PER_EXECUTION && pending.size === 0 && awaitingAdmission.size === 0) {
      const armed: Record<string, string> = {};
      for (const [id, t] of timers) if (!t.task.isCompleted) armed[id] = t.fireAt;
      context.df.continueAsNew({ ...input, version, snapshot: persistPhaseSnapshot(snapshot), resume: null, timers: armed } satisfies PhaseInput);
      return undefined as never;
    }

    const racing: df.Task[] = [eventWait, ...[...timers.values()].map((t) => t.task), ...[...pending.values()].map((p) => p.task)];
    const winner = (yield context.df.Task.any(racing)) as df.Task;
    let event: PhaseEvent | undefined;
    if (winner === eventWait) {
      const received = eventWait.result as PhaseEvent | ProvisionSignal;
      eventWait = context.df.waitForExternalEvent(EVENTS.phase);
      event = received?.type === 'PROVISION_ADMITTED' || received?.type === 'PROVISION_REJECTED' ? onProvisionSignal(received) : (received as PhaseEvent);
    } else {
      const timer = [...timers].find(([, t]) => t.task === winner);
      if (timer) {
        timers.delete(timer[0]);
        event = { type: 'TIMER_FIRED', id: timer[0] };
      } else {
        const done = [...pending].find(([, p]) => p.task === winner);
        if (done) {
          pending.delete(done[0]);
          event = done[1].toEvent?.(winner);
          if (!event && winner.isFaulted) context.log(`phase ${self}: ${done[0]} failed after retries: ${errorMessage(winner)}`);
        }
      }
    }
    // Everything else that finished in the same episode is picked up on the next turns.
    for (const [k, p] of pending) {
      if (!p.toEvent && (p.task.isCompleted || p.task.isFaulted)) pending.delete(k);
    }
    if (!event) continue;
    handled++;
    try {
      const [next, actions] = transition(phaseMachine, snapshot, event);
      snapshot = next;
      commands = phaseCommands(actions);
    } catch (err) {
      // A malformed event must not kill the phase; the API validates, this is the last line.
      context.log(`phase ${self}: ignored event ${JSON.stringify(event).slice(0, 200)}: ${(err as Error).message}`);
    }
  }
}
