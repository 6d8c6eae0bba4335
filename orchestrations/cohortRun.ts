import * as df from 'durable-functions';
import { CALLER_RETRIES, callActivity } from '../activities';
import type { NotifyInput } from '../activities/notify';
import type { SignalInput } from '../activities/signalInstance';
import type { PhaseName } from '../machines/phaseMachine';
import { admit, createScheduler, enqueue, failed, live, queueMessage, retryLater, succeeded, withdraw } from './provisioningScheduler';
import { EventInbox } from './eventInbox';
import { EVENTS, cohortInstanceId, journeyInstanceId, phaseInstanceId } from './workshopIds';
import { applyProgress, initialProgress, provisionKey, type CohortEvent, type CohortInput, type CohortState, type JourneyInput, type LearnerProgress, type LearnerState, type ProvisionSignal } from './workshopTypes';

const RETRY = new df.RetryOptions(2_000, 5);
RETRY.backoffCoefficient = 2;
/**
 * History events one execution may write before it continues as new (events received, activities
 * and timers counted as the two events each adds), so the history is bounded by this, not by the
 * cohort's size or the workshop's length.
 */
const HISTORY_BUDGET = 160;
const FINISHED: readonly LearnerState[] = ['completed', 'ended'];
/** A learner notice that could not be sent is tried again this long after, at the latest. */
const NOTICE_RETRY_MS = 2_000;

/**
 * The cohort's custom status: a summary of constant size (Durable Functions caps a custom status at
 * 16 KB of UTF-16). Per-learner progress is in WorkshopProgress (written as reports are delivered, see
 * activities/recordProgress.ts); `expandView` joins the two into the CohortView the API, the bot and the
 * dashboard read (http/workshopService.ts).
 */
export type CohortSummary = Omit<CohortView, 'helpQueue' | 'reviewQueue' | 'stuck' | 'failures' | 'progress'> & {
  queues: { help: number; review: number; stuck: number; failures: number };
};

export interface CohortView {
  runId: string;
  packId: string;
  title: string;
  startedAt: string;
  learners: number;
  started: number;
  /** The provisioning scheduler, learners by their latest request: queued, deploying, waiting to retry, done. */
  provisioning: { queued: number; deploying: number; retrying: number; succeeded: number; failed: number; maxInFlight: number; throttled: number };
  paused: boolean;
  ended: boolean;
  endReason: string | null;
  /** learners per phase and state, e.g. { design: { working: 12, awaitingReview: 3 } } */
  counts: Record<string, Record<string, number>>;
  finished: number;
  helpQueue: Array<{ learnerId: string; phase: PhaseName; since: string; detail?: string }>;
  reviewQueue: Array<{ learnerId: string; phase: PhaseName; since: string }>;
  stuck: Array<{ learnerId: string; phase: PhaseName; stepId: string | null; since: string; detail?: string }>;
  failures: Array<{ learnerId: string; phase: PhaseName; since: string; reason?: string }>;
  progress: Record<string, LearnerProgress>;
}

export interface RunReport {
  runId: string;
  packId: string;
  title: string;
  startedAt: string;
  endedAt: string;
  endReason: string | null;
  learners: number;
  completed: number;
  ended: number;
  perPhase: Record<string, Record<string, number>>;
  perLearner: Record<string, { phase: PhaseName; state: LearnerState; helpCount: number }>;
  /** Events the cohort handled over the run (reports, requests, instructor commands). */
  events?: number;
}

type LearnerFold = Pick<CohortView, 'counts' | 'finished' | 'helpQueue' | 'reviewQueue' | 'stuck' | 'failures' | 'progress'>;

function view(input: CohortInput, state: CohortState): CohortView {
  return {
    runId: input.runId,
    packId: input.plan.packId,
    title: input.plan.title,
    startedAt: state.startedAt,
    learners: input.roster.length,
    started: state.started,
    provisioning: provisioningView(state),
    paused: state.paused,
    ended: state.ended,
    endReason: state.endReason,
    ...fold(state.learners),
  };
}

function summary(input: CohortInput, state: CohortState): CohortSummary {
  const { helpQueue, reviewQueue, stuck, failures, progress: _progress, ...rest } = view(input, state);
  return { ...rest, queues: { help: helpQueue.length, review: reviewQueue.length, stuck: stuck.length, failures: failures.length } };
}

/**
 * The whole view from the cohort's summary (its custom status) and the learners' progress rows
 * (WorkshopProgress). A learner without a row has not reported yet: as the cohort started them.
 */
export function expandView(s: CohortSummary, roster: readonly { learnerId: string }[], rows: ReadonlyMap<string, LearnerProgress>): CohortView {
  const { queues: _queues, ...rest } = s;
  const learners = Object.fromEntries(
    roster.map((l) => [l.learnerId, rows.get(l.learnerId) ?? initialProgress(s.startedAt)]),
  );
  return { ...rest, ...fold(learners) };
}

function fold(learners: Record<string, LearnerProgress>): LearnerFold {
  const counts: CohortView['counts'] = {};
  const out: LearnerFold = { counts, finished: 0, helpQueue: [], reviewQueue: [], stuck: [], failures: [], progress: learners };
  for (const [learnerId, p] of Object.entries(learners)) {
    (counts[p.phase] ??= {})[p.state] = (counts[p.phase][p.state] ?? 0) + 1;
    if (FINISHED.includes(p.state)) out.finished++;
    if (p.state === 'helpRequested') out.helpQueue.push({ learnerId, phase: p.phase, since: p.since, detail: p.detail });
    if (p.state === 'awaitingReview') out.reviewQueue.push({ learnerId, phase: p.phase, since: p.since });
    if (p.state === 'stuck') out.stuck.push({ learnerId, phase: p.phase, stepId: p.stepId, since: p.since, detail: p.detail });
    if (p.state === 'failed') out.failures.push({ learnerId, phase: p.phase, since: p.since, reason: p.detail });
  }
  for (const q of [out.helpQueue, out.reviewQueue, out.stuck, out.failures]) q.sort((a, b) => a.since.localeCompare(b.since));
  return out;
}

/**
 * A cohort run: starts one learnerJourney per learner in bounded batches, then folds the journeys'
 * progress reports and the instructor's commands (pause, resume, broadcast, extend, end) into its
 * custom status — the live view the dashboard and `workshop run status` read. Continues as new
 * every few hundred events, so its history does not grow with cohort size × steps. When every
 * learner has finished (journeys tear their environments down themselves), it writes the report.
 */
export function* cohortRun(context: df.OrchestrationContext): Generator<df.Task, RunReport, unknown> {
  const input = context.df.getInput() as CohortInput;
  const now = () => context.df.currentUtcDateTime.toISOString();
  const state: CohortState = input.state ?? {
    started: 0,
    startedAt: now(),
    paused: false,
    ended: false,
    endReason: null,
    learners: Object.fromEntries(input.roster.map((l) => [l.learnerId, initialProgress(now())])),
    broadcasts: 0,
    eventsSeen: 0,
  };
  const signal = (data: SignalInput) => callActivity(context, 'signalInstance', data, RETRY);
  /** A fan-out over the roster as one activity call, so the history does not grow with the cohort. */
  const signalAll = (ops: SignalInput[]) => callActivity(context, 'signalMany', { ops }, RETRY);
  const unfinished = () => input.roster.filter((l) => !FINISHED.includes(state.learners[l.learnerId]?.state ?? 'starting'));
  const publish = () => context.df.setCustomStatus(summary(input, state));
  const dirty = new Set(state.dirty ?? []);
  /**
   * A learner's requests that no longer matter leave the scheduler: after the learner finished or
   * failed (the phase that asked is gone and will not report back), or when a newer request replaced them.
   */
  const withdrawRequests = (learnerId: string, keep?: string) => {
    const p = state.provisioning;
    if (!p) return;
    for (const id of live(p.scheduler)) {
      if (id !== keep && p.requests[id]?.learnerId === learnerId) p.scheduler = withdraw(p.scheduler, id);
    }
  };
  const touched = (learnerId: string) => dirty.add(learnerId);
  /** Writes the progress only the cohort decides (learners ended with the run); reports write their own rows. */
  function* flushProgress(): Generator<df.Task, void, unknown> {
    if (!dirty.size) return;
    const learners = [...dirty].filter((id) => state.learners[id]).map((learnerId) => ({ learnerId, ...state.learners[learnerId] }));
    dirty.clear();
    yield callActivity(context, 'recordProgress', { runId: input.runId, learners }, RETRY);
  }
  /**
   * Learners' "your place in line" notices, sent once a turn in one activity without waiting on its
   * retries (a failed send is tried again next turn, at the latest after NOTICE_RETRY_MS): a slow or
   * throttled outbox must not hold up the scheduler's decisions for everyone else.
   */
  const notices: NotifyInput[] = [...(state.notices ?? [])];
  delete state.notices;
  // Events the previous execution had received but not handled (see `continueAsNew`).
  const pending: CohortEvent[] = state.pending ?? [];
  delete state.pending;
  const inbox = new EventInbox<CohortEvent>(context, EVENTS.cohort);
  /**
   * Continue as new with every event this execution has received and not handled in the state: the
   * ones taken already, and those delivered while the cohort was in an activity (see EventInbox.drain).
   */
  function* continueAsNew(): Generator<df.Task, void, unknown> {
    pending.push(...(yield* inbox.drain()));
    context.df.continueAsNew({ ...input, state: { ...state, dirty: [...dirty], ...(pending.length ? { pending } : {}), ...(notices.length ? { notices } : {}) } });
  }

  if (state.started < input.roster.length && !state.ended) {
    // One batch per execution: starting a cohort of any size leaves a history of constant length.
    const batch = input.roster.slice(state.started, state.started + Math.max(1, input.batchSize));
    publish();
    yield signalAll(
      batch.map((l) => ({
        op: 'start' as const,
        instanceId: journeyInstanceId(input.runId, l.learnerId),
        orchestrator: 'learnerJourney',
        input: { runId: input.runId, learnerId: l.learnerId, plan: input.plan, version: 0 } satisfies JourneyInput,
      })),
    );
    state.started += batch.length;
    if (state.started < input.roster.length) {
      yield* continueAsNew();
      return undefined as never;
    }
  }

  let spent = 0;
  let wake: { at: number; timer: df.TimerTask } | undefined;
  for (;;) {
    // Admit whatever the provisioning scheduler lets start now, and tell those phases to go.
    const prov = state.provisioning;
    let wakeAt: Date | null = null;
    if (prov) {
      const result = admit(prov.scheduler, context.df.currentUtcDateTime);
      prov.scheduler = result.state;
      wakeAt = result.wakeAt;
      if (result.start.length) {
        spent += 2;
        yield signalAll(
          result.start.map((a) => {
            const r = prov.requests[a.id];
            const data: ProvisionSignal = { type: 'PROVISION_ADMITTED', stepId: r.stepId, attempt: r.attempt, envAttempt: a.attempt, at: now() };
            return { op: 'raise' as const, instanceId: r.phaseInstanceId, event: EVENTS.phase, data };
          }),
        );
      }
    }
    if (notices.length) {
      const batch = notices.splice(0, 200);
      spent += 2;
      try {
        // One attempt: a failed send is retried next turn; the activity's own retry policy would hold up every scheduling decision behind its back-off.
        yield callActivity(context, 'notifyMany', { messages: batch }, CALLER_RETRIES);
      } catch {
        notices.unshift(...batch);
      }
      if (notices.length) {
        const soon = new Date(context.df.currentUtcDateTime.getTime() + NOTICE_RETRY_MS);
        if (!wakeAt || soon < wakeAt) wakeAt = soon;
      }
    }
    publish();
    const done = state.started >= input.roster.length && unfinished().length === 0;
    // What the cohort itself changed (learners ended by the instructor) goes to WorkshopProgress before it waits.
    if (dirty.size) {
      spent += 2;
      yield* flushProgress();
    }
    if (done) break;
    if (spent >= HISTORY_BUDGET) {
      yield* continueAsNew();
      return undefined as never;
    }
    // Events that arrived while an activity ran, in arrival order, after those taken before.
    pending.push(...inbox.take());
    if (!pending.length) {
      if (wakeAt && wake?.at !== wakeAt.getTime()) {
        if (wake && !wake.timer.isCompleted) wake.timer.cancel();
        wake = { at: wakeAt.getTime(), timer: context.df.createTimer(wakeAt) };
        spent += 2;
      }
      // A timer may be raced again; an event waiter never is (see EventInbox).
      const waiter = inbox.waiter();
      const winner = (yield context.df.Task.any(wake && !wake.timer.isCompleted ? [waiter, wake.timer] : [waiter])) as df.Task;
      inbox.yielded();
      if (winner !== waiter) {
        wake = undefined; // the clock moved: admit again
        continue;
      }
      pending.push(...inbox.take());
    }
    const event = pending.shift()!;
    spent++;
    state.eventsSeen++;
    if (!event || typeof event !== 'object') continue;
    switch (event.type) {
      case 'provisionRequest': {
        const id = provisionKey(event.learnerId, event.stepId, event.attempt);
        const p = (state.provisioning ??= {
          scheduler: createScheduler(context.df.currentUtcDateTime, {
            ...input.scheduler,
            maxConcurrentDeployments: Math.max(1, input.maxConcurrentDeployments ?? input.scheduler?.maxConcurrentDeployments ?? 10),
            ...(input.plan.environmentWrites ? { writesPerAttempt: input.plan.environmentWrites } : {}),
          }),
          requests: {},
        });
        if (p.requests[id]) break; // a retried request
        p.requests[id] = event;
        withdrawRequests(event.learnerId, id); // a phase asks for one environment at a time
        // The phase that asked has already ended (its failure was reported before its request arrived):
        // nobody would deploy or report back, so it takes no place in line.
        const learner = state.learners[event.learnerId];
        const askedFrom = learner?.attempt !== undefined ? phaseInstanceId(input.runId, event.learnerId, learner.phase, learner.attempt) : undefined;
        if (learner && (learner.state === 'completed' || learner.state === 'ended' || (learner.state === 'failed' && askedFrom === event.phaseInstanceId))) break;
        p.scheduler = enqueue(p.scheduler, [id]);
        notices.push({ runId: input.runId, key: `${cohortInstanceId(input.runId)}:queued:${id}`, to: { role: 'learner', learnerId: event.learnerId }, kind: 'environmentQueued', body: { stepId: event.stepId, message: queueMessage(p.scheduler, id) } });
        break;
      }
      case 'provisionDone': {
        const p = state.provisioning;
        const id = provisionKey(event.learnerId, event.stepId, event.attempt);
        if (!p?.requests[id]) break;
        const now = context.df.currentUtcDateTime;
        if (event.outcome === 'succeeded') p.scheduler = succeeded(p.scheduler, id, now);
        else if (event.outcome === 'permanent') p.scheduler = failed(p.scheduler, id, now, event.message ?? 'deployment failed');
        else {
          const r = retryLater(p.scheduler, id, now, { retryAfterSeconds: event.retryAfterSeconds, throttled: event.throttled, error: event.message });
          p.scheduler = r.state;
          if (r.gaveUp) {
            const data: ProvisionSignal = {
              type: 'PROVISION_REJECTED',
              at: now.toISOString(),
              stepId: event.stepId,
              attempt: event.attempt,
              message: `Azure kept refusing the deployment (${event.message ?? 'transient errors'}); resume the learner to try again later.`,
            };
            spent += 2;
            yield signal({ op: 'raise', instanceId: p.requests[id].phaseInstanceId, event: EVENTS.phase, data });
          }
        }
        break;
      }
      case 'progress': {
        const before = state.learners[event.learnerId];
        if (!before) {
          context.log(`cohort ${input.runId}: progress for unknown learner ${event.learnerId} ignored`);
          break;
        }
        // The activity that delivered the report has written the learner's WorkshopProgress row by the
        // same rule (signalInstance), so nothing is written here.
        const after = applyProgress(before, event);
        if (after) state.learners[event.learnerId] = after;
        if (after && ['failed', 'completed', 'ended'].includes(after.state)) withdrawRequests(event.learnerId);
        break;
      }
      case 'pause':
      case 'resume': {
        if (state.paused === (event.type === 'pause')) break;
        state.paused = event.type === 'pause';
        const op = event.type === 'pause' ? 'suspend' : 'resume';
        const targets = unfinished().flatMap((l) => {
          const p = state.learners[l.learnerId];
          return [journeyInstanceId(input.runId, l.learnerId), ...(p.attempt ? [phaseInstanceId(input.runId, l.learnerId, p.phase, p.attempt)] : [])];
        });
        spent += 4;
        yield signalAll(targets.map((instanceId) => ({ op, instanceId, reason: `${event.type} by ${event.by}` })));
        yield callActivity(context, 'notify', { runId: input.runId, key: `${input.runId}:${event.type}:${state.eventsSeen}`, to: { role: 'instructor' }, kind: event.type, body: { by: event.by } }, RETRY);
        break;
      }
      case 'broadcast': {
        state.broadcasts++;
        spent += 2;
        yield callActivity(
          context,
          'notifyMany',
          { messages: input.roster.map((l) => ({ runId: input.runId, key: `${event.key}:${l.learnerId}`, to: { role: 'learner' as const, learnerId: l.learnerId }, kind: 'broadcast', body: { message: event.message, by: event.by } })) },
          RETRY,
        );
        break;
      }
      case 'extend': {
        const who = event.learnerId ? unfinished().filter((l) => l.learnerId === event.learnerId) : unfinished();
        spent += 2;
        yield signalAll(
          who.map((l) => ({ op: 'raise' as const, instanceId: journeyInstanceId(input.runId, l.learnerId), event: EVENTS.journey, data: { type: 'EXTEND', phase: state.learners[l.learnerId].phase, minutes: event.minutes } })),
        );
        break;
      }
      case 'end': {
        if (state.ended) break;
        state.ended = true;
        state.endReason = event.reason;
        // Learners not yet started never will be.
        for (const l of input.roster.slice(state.started)) {
          state.learners[l.learnerId] = { ...state.learners[l.learnerId], state: 'ended', since: now() };
          touched(l.learnerId);
        }
        state.started = input.roster.length;
        // The journeys stop their phases; nobody is left to deploy for.
        for (const l of input.roster) withdrawRequests(l.learnerId);
        spent += 2;
        yield signalAll(unfinished().map((l) => ({ op: 'raise' as const, instanceId: journeyInstanceId(input.runId, l.learnerId), event: EVENTS.journey, data: { type: 'END', reason: event.reason } })));
        // Journeys that were never started or are already gone cannot report back.
        for (const l of unfinished()) {
          if (state.learners[l.learnerId].state !== 'starting') continue;
          state.learners[l.learnerId].state = 'ended';
          touched(l.learnerId);
        }
        break;
      }
    }
  }

  const report: RunReport = {
    runId: input.runId,
    packId: input.plan.packId,
    title: input.plan.title,
    startedAt: state.startedAt,
    endedAt: now(),
    endReason: state.endReason,
    learners: input.roster.length,
    completed: Object.values(state.learners).filter((p) => p.state === 'completed').length,
    ended: Object.values(state.learners).filter((p) => p.state === 'ended').length,
    perPhase: view(input, state).counts,
    perLearner: Object.fromEntries(Object.entries(state.learners).map(([id, p]) => [id, { phase: p.phase, state: p.state, helpCount: p.helpCount }])),
    events: state.eventsSeen,
  };
  yield context.df.Task.all([
    callActivity(context, 'notify', { runId: input.runId, key: `${cohortInstanceId(input.runId)}:report`, to: { role: 'instructor' }, kind: 'runReport', body: { ...report } }, RETRY),
    // Ended runs are what the sweeper cleans up after: any environment a journey left behind goes.
    callActivity(context, 'recordRunEnded', { runId: input.runId, endedAt: report.endedAt, ...(state.endReason ? { reason: state.endReason } : {}) }, RETRY),
  ]);
  return report;
}


function provisioningView(state: CohortState): CohortView['provisioning'] {
  const p = state.provisioning;
  const view = { queued: 0, deploying: 0, retrying: 0, succeeded: 0, failed: 0, maxInFlight: 0, throttled: 0 };
  if (!p) return view;
  const s = p.scheduler;
  // Learners, each by their latest request (requests keep arrival order): a learner whose phase was
  // resumed and asked again counts once, so the counters never add up to more than the roster.
  const latest = new Map<string, string>();
  for (const [id, r] of Object.entries(p.requests)) latest.set(r.learnerId, id);
  const queued = new Set(s.queue);
  const succeededIds = new Set(s.succeeded);
  for (const id of latest.values()) {
    if (queued.has(id)) view.queued++;
    else if (s.slots[id]?.phase === 'running') view.deploying++;
    else if (s.slots[id]) view.retrying++;
    else if (succeededIds.has(id)) view.succeeded++;
    else if (id in s.failed) view.failed++;
  }
  return { ...view, maxInFlight: s.stats.maxInFlight, throttled: s.stats.throttled };
}
