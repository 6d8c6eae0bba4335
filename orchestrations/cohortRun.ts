import * as df from 'durable-functions';
import { CALLER_RETRIES, callActivity, resultOf } from '../activities';
import type { NotifyInput } from '../activities/notify';
import type { CohortFanOutInput } from '../activities/cohortFanOut';
import type { SignalInput } from '../activities/signalInstance';
import { EVENTS, cohortInstanceId, phaseInstanceId } from '../contracts/ids';
import { poolKey, provisionKey, type CohortEvent, type ProvisionDone, type ProvisionRequest, type ProvisionSignal } from '../contracts/messages';
import type { ProgressReport } from '../machines/progress';
import { admit, createScheduler, enqueue, failed, forget, live, progress, queueMessage, retryLater, succeeded, withdraw } from './provisioningScheduler';
import { EventInbox } from './eventInbox';
import { HotStart } from './hotStart';
import { FINISHED, type CohortSummary, type RunReport } from './cohortView';
import type { CohortInput, CohortState } from './workshopTypes';

export type { CohortSummary, CohortView, RunReport } from './cohortView';
export { expandView } from './cohortView';

/**
 * History events one execution may write before it continues as new, so the history is bounded by this, not
 * by the cohort's size or the workshop's length. Counted as the history grows: an event received 1; a timer 2
 * (created, fired); an activity 4 (scheduled, completed, and the episode its wait ends: OrchestratorStarted and
 * OrchestratorCompleted); a wait for events 2 (its episode). Checked once a turn.
 */
export const HISTORY_BUDGET = 160;
/**
 * What one execution's history may reach beyond the budget, events delivered in its last episode aside: the
 * turn that crosses it (an admission, the notices, the store asked, a fan-out and its notice, the wait: at most
 * ~30) and the drain before continuing as new (a timer and its episodes).
 */
export const HISTORY_OVERSHOOT = 40;
/** A learner notice that could not be sent is tried again this long after, at the latest. */
const NOTICE_RETRY_MS = 2_000;
/**
 * How long the cohort remembers a provisioning request it has finished with (and a phase reported failed):
 * a request delivered again after that (its signalling activity re-ran across a restart, within its retry
 * policy's minute or so) is not queued a second time for a phase that would never answer. What it keeps is
 * bounded by the deployments finished in this window, not by the roster.
 */
const FORGET_AFTER_MS = 15 * 60_000;
/** The longest the cohort waits before asking the store again whether everyone has finished (see allFinished). */
const TALLY_BACKOFF_MAX_MS = 5 * 60_000;

/**
 * A cohort run: starts one learnerJourney per learner in bounded batches, then folds the journeys'
 * progress reports, the phases' provisioning requests and the instructor's commands (pause, resume,
 * broadcast, extend, end) into its decisions. It keeps nothing per learner: the roster is in WorkshopRoster,
 * each learner's progress in WorkshopProgress (written as reports are delivered), and fan-outs over the
 * roster are activities that read them (activities/cohortFanOut.ts) — so its input, custom status and
 * history are the same size for 10 learners or 1,000. Continues as new every few hundred events. When every
 * learner has finished (the store says so), it writes the report.
 */
export function* cohortRun(context: df.OrchestrationContext): Generator<df.Task, RunReport, unknown> {
  const cohort = new Cohort(context);
  for (;;) {
    // Every turn: a session with a later `startsAt` starts its journeys when the clock gets there.
    if (!(yield* cohort.startNextBatch())) return undefined as never;
    yield* cohort.admitAndNotify();
    cohort.publish();
    if (yield* cohort.allFinished()) {
      // Reports delivered before the store said so are in the inbox: handle them before the report.
      yield* cohort.handleReceived();
      break;
    }
    if (cohort.overBudget()) {
      yield* cohort.continueAsNew();
      return undefined as never;
    }
    const event = yield* cohort.nextEvent();
    if (event) yield* cohort.handle(event);
  }
  return yield* cohort.finish();
}

class Cohort {
  readonly input: CohortInput;
  readonly state: CohortState;
  /** History events this execution has written (see HISTORY_BUDGET). */
  private spent = 0;
  private wake: { at: number; timer: df.TimerTask } | undefined;
  private wakeAt: Date | null = null;
  /** Learners' "your place in line" notices, sent once a turn without waiting on retries (see admitAndNotify). */
  private readonly notices: NotifyInput[];
  /** Events received and not handled yet (carried through continue-as-new). */
  private readonly pending: CohortEvent[];
  private readonly inbox: EventInbox<CohortEvent>;
  private readonly hotStart: HotStart;

  constructor(private readonly context: df.OrchestrationContext) {
    this.input = context.df.getInput() as CohortInput;
    this.state = this.input.state ?? { started: 0, startedAt: this.now(), paused: false, ended: false, endReason: null, broadcasts: 0, eventsSeen: 0, finishedHint: 0 };
    this.notices = [...(this.state.notices ?? [])];
    this.pending = [...(this.state.pending ?? [])];
    delete this.state.notices;
    delete this.state.pending;
    this.inbox = new EventInbox<CohortEvent>(context, EVENTS.cohort);
    this.hotStart = new HotStart({
      context,
      input: this.input,
      state: this.state,
      provisioning: () => this.provisioning(),
      charge: (n) => (this.spent += n),
      forget: (id) => this.done(id),
      notice: (n) => this.notices.push(n),
    });
  }

  private now(): string {
    return this.context.df.currentUtcDateTime.toISOString();
  }

  private fanOut(action: CohortFanOutInput['action'], learnerId?: string): df.Task {
    this.spent += 4;
    return callActivity(this.context, 'cohortFanOut', { runId: this.input.runId, action, ...(learnerId ? { learnerId } : {}) });
  }

  private signalAll(ops: SignalInput[]): df.Task {
    this.spent += 4;
    return callActivity(this.context, 'signalMany', { ops });
  }

  publish(): void {
    const { input, state } = this;
    const summary: CohortSummary = {
      runId: input.runId,
      packId: input.plan.packId,
      title: input.plan.title,
      startedAt: state.startedAt,
      learners: input.learners,
      started: state.started,
      provisioning: this.provisioningView(),
      paused: state.paused,
      ...(state.parked ? { parked: state.parked } : {}),
      ended: state.ended,
      endReason: state.endReason,
    };
    this.context.df.setCustomStatus(summary);
  }

  private provisioningView(): CohortSummary['provisioning'] {
    const s = this.state.provisioning?.scheduler;
    if (!s) return { queued: 0, deploying: 0, retrying: 0, succeeded: 0, failed: 0, maxInFlight: 0, throttled: 0 };
    const { running, ...counts } = progress(s);
    return { ...counts, deploying: running, maxInFlight: s.stats.maxInFlight, throttled: s.stats.throttled };
  }

  /** Starts the next batch of journeys (one batch per execution: starting any roster leaves a history of constant length). False: continued as new. */
  *startNextBatch(): Generator<df.Task, boolean, unknown> {
    const { input, state } = this;
    if (state.started >= input.learners || state.ended || this.hotStart.beforeSession()) return true;
    const count = Math.min(Math.max(1, input.batchSize), input.learners - state.started);
    this.publish();
    this.spent += 4;
    yield callActivity(this.context, 'startJourneys', { runId: input.runId, plan: input.plan, from: state.started, count, ...(state.parked ? { parked: state.parked } : {}) });
    state.started += count;
    if (state.started >= input.learners) return true;
    // The journeys already started report in meanwhile: handle what came (within this execution's budget)
    // rather than carry it, so the carried events do not pile up with the roster.
    yield* this.handleReceived(true);
    yield* this.continueAsNew();
    return false;
  }

  /** Admits whatever the provisioning scheduler lets start now (telling those phases to go), and sends the queued notices. */
  *admitAndNotify(): Generator<df.Task, void, unknown> {
    this.wakeAt = this.hotStart.wakeAt();
    yield* this.hotStart.fill();
    const prov = this.state.provisioning;
    // Parked: nobody deploys overnight (the restores ask in the morning).
    if (prov && !this.state.parked) {
      const result = admit(prov.scheduler, this.context.df.currentUtcDateTime);
      prov.scheduler = result.state;
      if (result.wakeAt && (!this.wakeAt || result.wakeAt < this.wakeAt)) this.wakeAt = result.wakeAt;
      const ops = result.start.map((a) => {
        const r = prov.requests[a.id]!;
        if (r.pool) return this.hotStart.startOp(r, a.attempt);
        const data: ProvisionSignal = { type: 'PROVISION_ADMITTED', stepId: r.stepId, attempt: r.attempt, envAttempt: a.attempt, at: this.now() };
        return { op: 'raise' as const, instanceId: r.phaseInstanceId, event: EVENTS.phase, data };
      });
      ops.push(...this.hotStart.admitNow.splice(0));
      if (ops.length) yield this.signalAll(ops);
    }
    if (!this.notices.length) return;
    const batch = this.notices.splice(0, 200);
    this.spent += 4;
    try {
      // One attempt: a failed send is retried next turn; the activity's own retry policy would hold up every scheduling decision behind its back-off.
      yield callActivity(this.context, 'notifyMany', { messages: batch }, CALLER_RETRIES);
    } catch {
      this.notices.unshift(...batch);
    }
    if (this.notices.length) {
      const soon = new Date(this.context.df.currentUtcDateTime.getTime() + NOTICE_RETRY_MS);
      if (!this.wakeAt || soon < this.wakeAt) this.wakeAt = soon;
    }
  }

  /**
   * Every journey started and every learner finished? The cohort counts the finishing reports it receives
   * (a report delivered twice counts twice, so the count is never below the truth); once it reaches the
   * roster's size the store, which has every learner's row, decides. A report reaches the cohort just before
   * its row is written (signalInstance), so a store that is not there yet is asked again shortly, backing
   * off (a count inflated by duplicates must not make the cohort poll the store for hours); each new
   * finishing report asks at once.
   */
  *allFinished(): Generator<df.Task, boolean, unknown> {
    const { input, state } = this;
    if (state.started < input.learners || state.finishedHint < input.learners) return false;
    const t = this.context.df.currentUtcDateTime.getTime();
    if (state.tallyAt === undefined || t >= state.tallyAt) {
      this.spent += 4;
      const task = callActivity(this.context, 'cohortTally', { runId: input.runId });
      yield task;
      if (resultOf(task).finished >= input.learners) return true;
      state.tallies = (state.tallies ?? 0) + 1;
      state.tallyAt = t + Math.min(TALLY_BACKOFF_MAX_MS, 1_000 * 2 ** (state.tallies - 1));
    }
    if (!this.wakeAt || state.tallyAt < this.wakeAt.getTime()) this.wakeAt = new Date(state.tallyAt);
    return false;
  }

  /** A learner finished (or the run ended): ask the store at the next turn. */
  private finishedOne(): void {
    this.state.finishedHint++;
    delete this.state.tallyAt;
    delete this.state.tallies;
  }

  /**
   * Handles every event delivered and not handled yet (also those held back by the SDK: EventInbox.drain),
   * without waiting for more; `withinBudget`: stop at the history budget and leave the rest pending.
   */
  *handleReceived(withinBudget = false): Generator<df.Task, void, unknown> {
    this.spent += 4;
    this.pending.push(...(yield* this.inbox.drain()));
    while (this.pending.length && !(withinBudget && this.overBudget())) {
      const event = this.pending.shift();
      this.spent++;
      this.state.eventsSeen++;
      if (event && typeof event === 'object') yield* this.handle(event);
      if (this.pending.length) continue;
      this.spent += 4;
      this.pending.push(...(yield* this.inbox.drain()));
    }
  }

  overBudget(): boolean {
    return this.spent >= HISTORY_BUDGET;
  }

  /**
   * Continue as new with every event this execution has received and not handled in the state: the
   * ones taken already, and those delivered while the cohort was in an activity (see EventInbox.drain).
   */
  *continueAsNew(): Generator<df.Task, void, unknown> {
    this.pending.push(...(yield* this.inbox.drain()));
    const { pending, notices } = this;
    this.context.df.continueAsNew({ ...this.input, state: { ...this.state, ...(pending.length ? { pending } : {}), ...(notices.length ? { notices } : {}) } });
  }

  /** The next event to handle, or undefined when the clock moved (admit again). */
  *nextEvent(): Generator<df.Task, CohortEvent | undefined, unknown> {
    // Events that arrived while an activity ran, in arrival order, after those taken before.
    this.pending.push(...this.inbox.take());
    if (!this.pending.length) {
      const wakeAt = this.wakeAt;
      if (wakeAt && this.wake?.at !== wakeAt.getTime()) {
        if (this.wake && !this.wake.timer.isCompleted) this.wake.timer.cancel();
        this.wake = { at: wakeAt.getTime(), timer: this.context.df.createTimer(wakeAt) };
        this.spent += 2;
      }
      // A timer may be raced again; an event waiter never is (see EventInbox).
      const waiter = this.inbox.waiter();
      const wake = this.wake && !this.wake.timer.isCompleted ? [this.wake.timer] : [];
      this.spent += 2;
      const winner = (yield this.context.df.Task.any([waiter, ...wake])) as df.Task;
      this.inbox.yielded();
      if (winner !== waiter) {
        this.wake = undefined;
        return undefined;
      }
      this.pending.push(...this.inbox.take());
    }
    const event = this.pending.shift();
    this.spent++;
    this.state.eventsSeen++;
    return event && typeof event === 'object' ? event : undefined;
  }

  *handle(event: CohortEvent): Generator<df.Task, void, unknown> {
    switch (event.type) {
      case 'provisionRequest':
        return this.onProvisionRequest(event);
      case 'provisionDone':
        return yield* this.onProvisionDone(event);
      case 'progress':
        return this.onProgress(event);
      case 'pause':
      case 'resume': {
        if (this.state.paused === (event.type === 'pause')) return;
        this.state.paused = event.type === 'pause';
        yield this.fanOut({ op: event.type === 'pause' ? 'suspend' : 'resume', reason: `${event.type} by ${event.by}` });
        this.spent += 4;
        yield callActivity(this.context, 'notify', { runId: this.input.runId, key: `${this.input.runId}:${event.type}:${this.state.eventsSeen}`, to: { role: 'instructor' }, kind: event.type, body: { by: event.by } });
        return;
      }
      case 'broadcast':
        this.state.broadcasts++;
        yield this.fanOut({ op: 'broadcast', key: event.key, message: event.message, by: event.by });
        return;
      case 'extend':
        yield this.fanOut({ op: 'extend', minutes: event.minutes }, event.learnerId);
        return;
      case 'end':
        return yield* this.onEnd(event.reason);
      case 'park':
      case 'unpark':
        return yield* this.onPark(event);
    }
  }

  /** Requests and failed phases the cohort has finished with, by when (see FORGET_AFTER_MS). */
  private remembered(): Record<string, number> {
    const t = this.context.df.currentUtcDateTime.getTime();
    const kept = Object.entries(this.state.recent ?? {}).filter(([, at]) => t - at < FORGET_AFTER_MS);
    this.state.recent = Object.fromEntries(kept);
    return this.state.recent;
  }

  private done(id: string): void {
    const p = this.state.provisioning!;
    p.scheduler = forget(p.scheduler, id);
    delete p.requests[id];
    this.remembered()[id] = this.context.df.currentUtcDateTime.getTime();
  }

  /**
   * A learner's requests that no longer matter leave the scheduler: after the learner finished or their
   * phase failed (that phase is gone and will not report back), or when a newer request replaced them.
   */
  private withdrawRequests(learnerId: string, which: (r: ProvisionRequest) => boolean = () => true): void {
    const p = this.state.provisioning;
    if (!p) return;
    for (const id of live(p.scheduler)) {
      const r = p.requests[id];
      if (r?.learnerId !== learnerId || !which(r)) continue;
      p.scheduler = withdraw(p.scheduler, id);
      this.done(id);
    }
  }

  /** The provisioning scheduler's state and its live requests, created on the first request. */
  private provisioning(): NonNullable<CohortState['provisioning']> {
    return (this.state.provisioning ??= {
      scheduler: createScheduler(this.context.df.currentUtcDateTime, {
        ...this.input.scheduler,
        maxConcurrentDeployments: Math.max(1, this.input.maxConcurrentDeployments ?? this.input.scheduler?.maxConcurrentDeployments ?? 10),
        ...(this.input.plan.environmentWrites ? { writesPerAttempt: this.input.plan.environmentWrites } : {}),
      }),
      requests: {},
    });
  }

  private onProvisionRequest(event: ProvisionRequest): void {
    const id = provisionKey(event.learnerId, event.stepId, event.attempt);
    const p = this.provisioning();
    const recent = this.remembered();
    if (p.requests[id] || id in recent) return; // a retried request
    // The phase that asked has already ended (its failure was reported before its request was delivered):
    // nobody would deploy or report back, so it takes no place in line.
    if (event.stale || event.phaseInstanceId in recent) return;
    if (this.hotStart.onRequest(event, id)) return;
    this.withdrawRequests(event.learnerId); // a phase asks for one environment at a time
    p.requests[id] = { type: event.type, learnerId: event.learnerId, phaseInstanceId: event.phaseInstanceId, stepId: event.stepId, attempt: event.attempt };
    p.scheduler = enqueue(p.scheduler, [id]);
    this.notices.push({ runId: this.input.runId, key: `${cohortInstanceId(this.input.runId)}:queued:${id}`, to: { role: 'learner', learnerId: event.learnerId }, kind: 'environmentQueued', body: { stepId: event.stepId, message: queueMessage(p.scheduler, id) } });
  }

  private *onProvisionDone(event: ProvisionDone): Generator<df.Task, void, unknown> {
    const p = this.state.provisioning;
    const id = event.pool ? poolKey(event.learnerId) : provisionKey(event.learnerId, event.stepId, event.attempt);
    if (!p?.requests[id] || this.hotStart.onDone(event, id)) return;
    const now = this.context.df.currentUtcDateTime;
    if (event.outcome === 'succeeded') {
      p.scheduler = succeeded(p.scheduler, id, now);
      this.done(id);
      return;
    }
    if (event.outcome === 'permanent') {
      p.scheduler = failed(p.scheduler, id, now, event.message ?? 'deployment failed');
      this.done(id);
      return;
    }
    const r = retryLater(p.scheduler, id, now, { retryAfterSeconds: event.retryAfterSeconds, throttled: event.throttled, error: event.message });
    p.scheduler = r.state;
    if (!r.gaveUp) return;
    const data: ProvisionSignal = {
      type: 'PROVISION_REJECTED',
      at: now.toISOString(),
      stepId: event.stepId,
      attempt: event.attempt,
      message: `Azure kept refusing the deployment (${event.message ?? 'transient errors'}); resume the learner to try again later.`,
    };
    const phaseInstanceId = p.requests[id]!.phaseInstanceId;
    this.done(id);
    this.spent += 4;
    yield callActivity(this.context, 'signalInstance', { op: 'raise', instanceId: phaseInstanceId, event: EVENTS.phase, data });
  }

  /** The delivering activity has written the learner's WorkshopProgress row by the progress rule; the cohort only acts on what ended. */
  private onProgress(event: ProgressReport): void {
    // Counted even when stale: an over-count only makes the cohort ask the store once more.
    if (FINISHED.includes(event.state)) this.finishedOne();
    if (event.stale) return;
    if (FINISHED.includes(event.state)) {
      this.withdrawRequests(event.learnerId);
    } else if (event.state === 'failed') {
      // The learner's current phase is over (a report about an older attempt would be stale); a resumed
      // phase asks again under its own instance id.
      this.withdrawRequests(event.learnerId);
      if (event.attempt !== undefined) this.remembered()[phaseInstanceId(this.input.runId, event.learnerId, event.phase, event.attempt)] = this.context.df.currentUtcDateTime.getTime();
    }
  }

  /**
   * Park for the night / resume in the morning (orchestrations/parking.ts): the journeys hold their learners and
   * save their environments; the cohort stops admitting deployments and forgets the line (every phase waiting or
   * deploying asks again in the morning, for its restore).
   */
  private *onPark(event: Extract<CohortEvent, { type: 'park' | 'unpark' }>): Generator<df.Task, void, unknown> {
    const { state } = this;
    if (state.ended) return;
    if (event.type === 'park') {
      if (state.parked === event.seq) return;
      state.parked = event.seq;
      const p = state.provisioning;
      for (const id of p ? live(p.scheduler) : []) {
        p!.scheduler = withdraw(p!.scheduler, id);
        this.done(id);
      }
    } else {
      if (state.parked !== event.seq) return;
      delete state.parked;
    }
    this.spent += 8;
    yield callActivity(this.context, 'parkFanOut', { runId: this.input.runId, op: event.type, seq: event.seq });
    yield callActivity(this.context, 'notify', { runId: this.input.runId, key: `${this.input.runId}:${event.type}:${event.seq}`, to: { role: 'instructor' }, kind: event.type === 'park' ? 'parked' : 'unparked', body: { by: event.by, seq: event.seq } });
  }

  private *onEnd(reason: string): Generator<df.Task, void, unknown> {
    const { state } = this;
    if (state.ended) return;
    state.ended = true;
    state.endReason = reason;
    // The journeys stop their phases; nobody is left to deploy for.
    const p = state.provisioning;
    for (const id of p ? live(p.scheduler) : []) {
      p!.scheduler = withdraw(p!.scheduler, id);
      this.done(id);
    }
    // Started journeys are told to end; learners never started (or not reporting yet) end in the store.
    yield this.fanOut({ op: 'end', reason, at: this.now(), started: state.started });
    state.started = this.input.learners;
    // Some learners ended without a report to count: ask the store from now on.
    this.finishedOne();
    state.finishedHint = Math.max(state.finishedHint, this.input.learners);
  }

  *finish(): Generator<df.Task, RunReport, unknown> {
    const { input, state } = this;
    const tally = callActivity(this.context, 'cohortTally', { runId: input.runId });
    yield tally;
    const t = resultOf(tally);
    const report: RunReport = {
      runId: input.runId,
      packId: input.plan.packId,
      title: input.plan.title,
      startedAt: state.startedAt,
      endedAt: this.now(),
      endReason: state.endReason,
      learners: input.learners,
      completed: t.completed,
      ended: t.ended,
      perPhase: t.perPhase,
      events: state.eventsSeen,
    };
    yield this.context.df.Task.all([
      callActivity(this.context, 'notify', { runId: input.runId, key: `${cohortInstanceId(input.runId)}:report`, to: { role: 'instructor' }, kind: 'runReport', body: { ...report } }),
      // Ended runs are what the sweeper cleans up after: any environment a journey left behind goes.
      ...this.hotStart.teardown(),
      callActivity(this.context, 'recordRunEnded', { runId: input.runId, endedAt: report.endedAt, ...(state.endReason ? { reason: state.endReason } : {}) }),
    ]);
    return report;
  }
}
