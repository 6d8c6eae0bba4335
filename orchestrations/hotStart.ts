import type * as df from 'durable-functions';
import { callActivity, resultOf } from '../activities';
import type { NotifyInput } from '../activities/notify';
import type { SignalInput } from '../activities/signalInstance';
import { EVENTS, cohortInstanceId } from '../contracts/ids';
import { poolKey, provisionKey, type ProvisionDone, type ProvisionRequest, type ProvisionSignal } from '../contracts/messages';
import { enqueue, failed, live, retryLater, succeeded, type SchedulerState } from './provisioningScheduler';
import { poolInstanceId, type PoolEnvironmentInput } from './poolEnvironment';
import type { CohortInput, CohortState } from './workshopTypes';

/** What hot start needs of the cohort it runs in (orchestrations/cohortRun.ts's Cohort). */
export interface HotStartHost {
  readonly context: df.OrchestrationContext;
  readonly input: CohortInput;
  readonly state: CohortState;
  /** The provisioning scheduler's state and its requests, created on first use. */
  provisioning(): { scheduler: SchedulerState; requests: Record<string, ProvisionRequest> };
  /** History events spent (the cohort's HISTORY_BUDGET). */
  charge(events: number): void;
  /** The request is over: out of the requests, remembered for a while (a late duplicate is not queued again). */
  forget(id: string): void;
  notice(n: NotifyInput): void;
}

/**
 * Hot start: environments deployed ahead for the first `poolSize` learners of the roster, while they do
 * Requirements and Design (or from `startsAt` minus a lead time), so Implementation starts on a ready one.
 *
 * A pool deployment is a request of the cohort's provisioning scheduler like a phase's (`pool:<learner>`),
 * so it takes a slot and the subscription's write budget and obeys its back-off; an admitted one runs as a
 * `poolEnvironment` orchestration, which deploys with the learner's own idempotency key. The pool's line is
 * filled from the roster a slot's worth at a time (`poolNext`), so the cohort holds at most
 * `maxConcurrentDeployments` pool requests whatever the roster; each environment's state is its row in
 * WorkshopEnvironmentPool. When the learner's phase asks for its environment the delivering activity claims
 * the row and says what it was (`ProvisionRequest.hotStart`):
 *  - ready: admitted at once, with no slot and no writes (its provisioning step adopts the finished deployment);
 *  - deploying (or still in the pool's line): the phase takes the pool request's place — in line, or waiting
 *    for that deployment and admitted when it ends — never a second deployment;
 *  - failed, not yet taken into the pool, or not in it: deployed on demand, as without hot start.
 * At the run's end the unclaimed ones are torn down (teardownPool).
 */
export class HotStart {
  /** Admissions that need no slot, sent with the scheduler's (Cohort.admitAndNotify). */
  readonly admitNow: SignalInput[] = [];

  constructor(private readonly host: HotStartHost) {}

  private get now(): Date {
    return this.host.context.df.currentUtcDateTime;
  }

  /** The session has not started yet (`startsAt`): no journeys yet. */
  beforeSession(): boolean {
    const at = this.host.input.startsAt;
    return at !== undefined && this.now.getTime() < Date.parse(at);
  }

  /** The earliest time the clock alone changes something here (the pool's start, the session's). */
  wakeAt(): Date | null {
    const t = this.now.getTime();
    const times = [this.host.input.startsAt, this.host.input.hotStart && this.poolOpen() ? this.host.input.hotStart.provisionAt : undefined]
      .map((s) => (s ? Date.parse(s) : NaN))
      .filter((x) => Number.isFinite(x) && x > t);
    return times.length ? new Date(Math.min(...times)) : null;
  }

  private poolOpen(): boolean {
    const hs = this.host.input.hotStart;
    return !!hs && !this.host.state.ended && (this.host.state.poolNext ?? 0) < hs.poolSize;
  }

  /** Takes the next learners of the roster into the pool's line, as far as free slots go. */
  *fill(): Generator<df.Task, void, unknown> {
    const { input, state } = this.host;
    const hs = input.hotStart;
    if (!hs || !this.poolOpen() || this.now.getTime() < Date.parse(hs.provisionAt)) return;
    const p = this.host.provisioning();
    const livePool = live(p.scheduler).filter((id) => p.requests[id]?.pool).length;
    const room = p.scheduler.config.maxConcurrentDeployments - livePool;
    if (room <= 0) return;
    this.host.charge(4);
    const phase = Object.values(input.plan.phases).find((ph) => ph.steps.some((s) => s.id === hs.stepId))?.phase ?? 'implementation';
    const task = callActivity(this.host.context, 'poolLearners', { runId: input.runId, from: state.poolNext ?? 0, count: room, poolSize: hs.poolSize, phase });
    yield task;
    const { learnerIds, next } = resultOf(task);
    state.poolNext = next;
    const ids = learnerIds.filter((l) => !live(p.scheduler).some((id) => p.requests[id]?.learnerId === l));
    for (const learnerId of ids) p.requests[poolKey(learnerId)] = { type: 'provisionRequest', pool: true, learnerId, phaseInstanceId: '', stepId: hs.stepId, attempt: 0 };
    p.scheduler = enqueue(p.scheduler, ids.map(poolKey));
  }

  /** How an admitted pool request starts: its own orchestration instance per attempt. */
  startOp(request: ProvisionRequest, envAttempt: number): SignalInput {
    const { input } = this.host;
    const data: PoolEnvironmentInput = {
      runId: input.runId,
      learnerId: request.learnerId,
      packId: input.plan.packId,
      stepId: request.stepId,
      envAttempt,
      ...(input.plan.environmentParameters ? { parameters: input.plan.environmentParameters } : {}),
      ...(input.plan.learnerSubscriptions?.length ? { subscriptions: input.plan.learnerSubscriptions } : {}),
    };
    return { op: 'start', orchestrator: 'poolEnvironment', instanceId: poolInstanceId(input.runId, request.learnerId, envAttempt), input: data };
  }

  /** A phase's request for the pooled step: true when hot start took care of it (see the class comment). */
  onRequest(event: ProvisionRequest, id: string): boolean {
    const hs = this.host.input.hotStart;
    if (!hs || event.stepId !== hs.stepId || !event.hotStart) return false;
    const p = this.host.provisioning();
    const poolId = poolKey(event.learnerId);
    const pooled = p.requests[poolId];
    const request: ProvisionRequest = { type: 'provisionRequest', learnerId: event.learnerId, phaseInstanceId: event.phaseInstanceId, stepId: event.stepId, attempt: event.attempt, hotStart: event.hotStart };
    if (pooled && p.scheduler.queue.includes(poolId)) {
      // Not started yet: the phase takes its place in line (and deploys itself when admitted).
      p.scheduler = { ...p.scheduler, queue: p.scheduler.queue.map((q) => (q === poolId ? id : q)) };
      delete p.requests[poolId];
      p.requests[id] = { ...request, hotStart: 'queued' };
      this.tell(event, 'Your environment is next to be deployed; it was already in line.');
      return true;
    }
    if (pooled && p.scheduler.slots[poolId]) {
      // Deploying: the phase waits for that deployment and is admitted when it ends.
      pooled.claimedBy = { phaseInstanceId: event.phaseInstanceId, stepId: event.stepId, attempt: event.attempt };
      this.tell(event, 'Your environment is already being deployed; it will be ready shortly.');
      return true;
    }
    if (event.hotStart === 'ready') {
      p.requests[id] = request;
      this.admit(request);
      return true;
    }
    return false;
  }

  private tell(event: ProvisionRequest, message: string): void {
    this.host.notice({
      runId: this.host.input.runId,
      key: `${cohortInstanceId(this.host.input.runId)}:hot-start:${event.learnerId}:${event.stepId}:${event.attempt}`,
      to: { role: 'learner', learnerId: event.learnerId },
      kind: 'environmentQueued',
      body: { stepId: event.stepId, message },
    });
  }

  /** The phase may run its provisioning step now, outside the scheduler's slots: it adopts a finished deployment. */
  private admit(r: Pick<ProvisionRequest, 'phaseInstanceId' | 'stepId' | 'attempt'>): void {
    const data: ProvisionSignal = { type: 'PROVISION_ADMITTED', stepId: r.stepId, attempt: r.attempt, envAttempt: 1, at: this.now.toISOString() };
    this.admitNow.push({ op: 'raise', instanceId: r.phaseInstanceId, event: EVENTS.phase, data });
  }

  /**
   * A pool deployment's outcome, or that of a phase admitted without a slot: true when handled here.
   * A pool deployment is one of the scheduler's; a phase waiting for it is admitted when it succeeds, and
   * queued on demand when it fails for good. A slotless phase whose adoption failed transiently queues too.
   */
  onDone(event: ProvisionDone, id: string): boolean {
    const p = this.host.state.provisioning;
    const r = p?.requests[id];
    if (!p || !r) return false;
    if (!event.pool) {
      if (!r.hotStart || live(p.scheduler).includes(id)) return false;
      if (event.outcome === 'transient') {
        delete r.hotStart;
        p.scheduler = enqueue(p.scheduler, [id]);
      } else this.host.forget(id);
      return true;
    }
    const t = this.now;
    let over = event.outcome !== 'transient';
    if (event.outcome === 'succeeded') p.scheduler = succeeded(p.scheduler, id, t);
    else if (event.outcome === 'permanent') p.scheduler = failed(p.scheduler, id, t, event.message ?? 'deployment failed');
    else {
      const retry = retryLater(p.scheduler, id, t, { retryAfterSeconds: event.retryAfterSeconds, throttled: event.throttled, error: event.message });
      p.scheduler = retry.state;
      over = retry.gaveUp;
    }
    if (!over) return true;
    this.host.forget(id);
    const waiting = r.claimedBy;
    if (!waiting) return true;
    const phaseId = provisionKey(r.learnerId, waiting.stepId, waiting.attempt);
    const request: ProvisionRequest = { type: 'provisionRequest', learnerId: r.learnerId, ...waiting };
    if (event.outcome === 'succeeded') {
      p.requests[phaseId] = { ...request, hotStart: 'ready' };
      this.admit(waiting);
    } else {
      p.requests[phaseId] = request;
      p.scheduler = enqueue(p.scheduler, [phaseId]);
    }
    return true;
  }

  /** The run is over: tear down what nobody claimed (a task for the cohort's last Task.all). */
  teardown(): df.Task[] {
    const { input } = this.host;
    return input.hotStart ? [callActivity(this.host.context, 'teardownPool', { runId: input.runId, packId: input.plan.packId })] : [];
  }
}
