import * as df from 'durable-functions';
import { activities, callActivity } from '../../activities';
import type { SignalResult } from '../../activities/signalInstance';
import type { FunctionDef } from '../../local/durable/functions';
import { prng } from '../../local/prng';
import { cohortRun, expandView, type CohortSummary, type CohortView, type RunReport } from '../../orchestrations/cohortRun';
import { saveRoster } from '../../storage/runRoster';
import { readProgress } from '../../storage/progressTable';
import { admissionBoundMs, DEFAULT_SCHEDULER_CONFIG, retryBoundMs, type SchedulerConfig } from '../../orchestrations/provisioningScheduler';
import { EVENTS, cohortInstanceId, journeyInstanceId } from '../../orchestrations/workshopIds';
import type { CohortEvent, CohortInput, JourneyInput, LearnerState, ProvisionDone, ProvisionSignal, RunPlan } from '../../orchestrations/workshopTypes';
import { COHORT_REPORTS } from '../../machines/progress';
import { raise, startInstance, startStack, status, type StatusBody, type TestStack } from '../helpers/stack';

/**
 * Cohort invariants under seeded faults (issue 11, item 2). The real cohortRun, provisioning scheduler,
 * signalling and progress activities on the real durable host; each learner is a small simulated
 * journey that speaks the phase's provisioning protocol (request, wait for admission, deploy, report
 * the outcome, wait for the retry) against a simulated deployment whose seeded outcomes are ARM's bad
 * day: 429 with Retry-After, 500s, slow deployments, the odd permanent failure. The connector's 429s
 * are the notify activity failing (seeded) and being retried; host restarts happen on the same storage
 * at seeded moments. ARM itself is not the point here (tests/arm covers it), so it is not in the loop.
 */

const RETRY = new df.RetryOptions(500, 6);
RETRY.backoffCoefficient = 2;

/** One seed's world: the cohort's size and limits, and the fault rates. */
export interface SimPlan {
  seed: number;
  learners: number;
  /** Provisioning steps each learner goes through. */
  steps: number;
  /** The learner's timebox: the scheduler's stated bound plus slack, so only a broken promise fails it. */
  timeboxMs: number;
  throttle: number;
  serverError: number;
  permanent: number;
  slowMs: number;
  /** Fraction of notifications whose first delivery the connector refuses with 429. */
  connector429: number;
  /**
   * Fraction of learners whose phase fails early on its own (a short timebox: the learner walked away),
   * perhaps while its request waits in line or holds a slot — the scheduler must not keep it for nobody.
   */
  quitters: number;
  scheduler: Partial<SchedulerConfig>;
}

/** What each simulated learner saw, in its own orchestration time (ms). */
export interface SimOutcome {
  learnerId: string;
  result: 'completed' | 'failed';
  reason?: string;
  /** Events sent to the cohort that it acts on (every kind but the progress reports outside COHORT_REPORTS), acknowledged. */
  acked: number;
  requests: Array<{
    stepId: string;
    sentAt: number;
    ackAt: number;
    acked: boolean;
    /** `at`: when the cohort decided (its clock, from the signal), so the host's delivery latency does not count. */
    decisions: Array<{ type: ProvisionSignal['type']; at: number; envAttempt?: number; outcome?: ProvisionDone['outcome']; doneAt?: number }>;
  }>;
  failedAt?: number;
}

/** Attempt time the simulated deployment can take, with room for the host's own latency. */
export const ATTEMPT_MS = 3_000;
/** Latency of the stack itself (activities, event delivery, a restart) added to every stated bound. */
export const SLACK_MS = 20_000;

export function planFor(seed: number): SimPlan {
  const r = prng(seed * 7919 + 17);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const scheduler: Partial<SchedulerConfig> = {
    maxConcurrentDeployments: pick([1, 2, 3]),
    maxAttempts: pick([3, 4]),
    retryBaseSeconds: 1,
    retryMaxSeconds: pick([1, 2]),
    writeBucketCapacity: 40,
    writeRefillPerSecond: 20,
    writesPerAttempt: 20,
  };
  const learners = 5 + Math.floor(r() * 6);
  const config = { ...DEFAULT_SCHEDULER_CONFIG, ...scheduler };
  return {
    seed,
    learners,
    steps: pick([1, 1, 2]),
    // The bound with the attempt time expected on a quiet machine; checkRun judges a timebox against the
    // attempt times actually seen (a loaded machine is slower, which is not a broken promise).
    timeboxMs: admissionBoundMs(config, learners - 1, ATTEMPT_MS) + SLACK_MS,
    throttle: pick([0, 0.2, 0.4, 0.57]),
    serverError: pick([0, 0.1, 0.2]),
    permanent: pick([0, 0, 0.05]),
    slowMs: pick([50, 300, 1200]),
    connector429: pick([0, 0.2, 0.5]),
    quitters: pick([0, 0, 0.2]),
    scheduler,
  };
}

function hash(...parts: Array<string | number>): number {
  let h = 2166136261;
  for (const c of parts.join('|')) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

/** A simulated learner: one phase, `steps` environments through the cohort's scheduler, within a timebox. */
function* simLearner(context: df.OrchestrationContext): Generator<df.Task, SimOutcome, unknown> {
  const input = context.df.getInput() as JourneyInput;
  const sim = input.plan.environmentParameters!.sim as SimPlan;
  const cohort = cohortInstanceId(input.runId);
  const now = () => context.df.currentUtcDateTime.getTime();
  const out: SimOutcome = { learnerId: input.learnerId, result: 'completed', acked: 0, requests: [] };
  function* send(data: CohortEvent): Generator<df.Task, boolean, unknown> {
    const r = (yield callActivity(context, 'signalInstance', { op: 'raise', instanceId: cohort, event: EVENTS.cohort, data }, RETRY)) as SignalResult;
    // Only what the cohort acts on is raised to it (COHORT_REPORTS); any other report is the learner's progress row alone.
    if (r.ok && (data.type !== 'progress' || COHORT_REPORTS.includes(data.state))) out.acked++;
    return r.ok;
  }
  const progress = (state: LearnerState, detail?: string): CohortEvent => ({
    type: 'progress',
    learnerId: input.learnerId,
    phase: 'implementation',
    state,
    stepId: null,
    at: new Date(now()).toISOString(),
    ...(detail ? { detail } : {}),
    attempt: 1,
  });

  yield* send(progress('working'));
  const quits = prng(hash(sim.seed, input.learnerId, 'quits'))() < sim.quitters;
  const timebox = context.df.createTimer(new Date(now() + (quits ? 500 + (hash(sim.seed, input.learnerId) % 2500) : sim.timeboxMs)));
  let failure: string | undefined;
  steps: for (let step = 1; step <= sim.steps; step++) {
    const stepId = `step-${step}`;
    const sentAt = now();
    const acked = yield* send({ type: 'provisionRequest', learnerId: input.learnerId, phaseInstanceId: context.df.instanceId, stepId, attempt: 1 });
    const request: SimOutcome['requests'][number] = { stepId, sentAt, ackAt: now(), acked, decisions: [] };
    out.requests.push(request);
    for (;;) {
      // A fresh waiter each time; only the timebox is raced again (see orchestrations/eventInbox.ts).
      const w = context.df.waitForExternalEvent(EVENTS.phase);
      const winner = (yield context.df.Task.any([w, timebox])) as df.Task;
      if (winner === timebox) {
        failure = quits ? `walked away while waiting for ${stepId}` : `timebox: no decision on ${stepId} after ${Math.round((now() - request.ackAt) / 1000)} s`;
        break steps;
      }
      const signal = w.result as ProvisionSignal;
      if (signal.stepId !== stepId) continue;
      // A signal delivered twice (its activity re-ran after a restart) is ignored, as the phase does.
      const lastAttempt = request.decisions.at(-1)?.envAttempt ?? 0;
      if (signal.type === 'PROVISION_ADMITTED' && signal.envAttempt <= lastAttempt) continue;
      const decision: SimOutcome['requests'][number]['decisions'][number] = { type: signal.type, at: signal.at ? Date.parse(signal.at) : now() };
      request.decisions.push(decision);
      if (signal.type === 'PROVISION_REJECTED') {
        failure = signal.message;
        break steps;
      }
      decision.envAttempt = signal.envAttempt;
      if (timebox.isCompleted) {
        // The phase failed while the admission was on its way: nobody deploys, nobody reports back.
        failure = quits ? `walked away while waiting for ${stepId}` : `timebox: ran out while ${stepId} was admitted`;
        break steps;
      }
      const result = (yield context.df.callActivity('simDeploy', { sim, learnerId: input.learnerId, stepId, envAttempt: signal.envAttempt })) as Omit<ProvisionDone, 'type' | 'learnerId' | 'stepId' | 'attempt'>;
      decision.outcome = result.outcome;
      decision.doneAt = now();
      yield* send({ type: 'provisionDone', learnerId: input.learnerId, stepId, attempt: 1, ...result });
      if (result.outcome === 'succeeded') continue steps;
      if (result.outcome === 'permanent') {
        failure = result.message ?? 'permanent';
        break steps;
      }
    }
  }
  if (!failure) {
    // The timebox may have fired in the episode that finished the last step: the learner made it.
    if (!timebox.isCompleted) timebox.cancel();
    yield* send(progress('completed'));
    return out;
  }
  out.result = 'failed';
  out.reason = failure;
  out.failedAt = now();
  if (!timebox.isCompleted) timebox.cancel();
  yield* send(progress('failed', failure));
  // A failed learner stays failed (visible, with the reason) until the instructor ends the run.
  for (;;) {
    const e = (yield context.df.waitForExternalEvent(EVENTS.journey)) as { type?: string } | undefined;
    if (e?.type === 'END') break;
  }
  yield* send(progress('ended'));
  return out;
}

/** A deployment attempt with a seeded outcome: the same seed, learner, step and attempt, the same fate. */
async function simDeploy(raw: unknown): Promise<Omit<ProvisionDone, 'type' | 'learnerId' | 'stepId' | 'attempt'>> {
  const { sim, learnerId, stepId, envAttempt } = raw as { sim: SimPlan; learnerId: string; stepId: string; envAttempt: number };
  const r = prng(hash(sim.seed, learnerId, stepId, envAttempt));
  await new Promise((done) => setTimeout(done, Math.floor(r() * sim.slowMs)));
  const roll = r();
  if (roll < sim.throttle) return { outcome: 'transient', throttled: true, retryAfterSeconds: 1 + Math.floor(r() * 3), message: '429 TooManyRequests: SubscriptionRequestsThrottled' };
  if (roll < sim.throttle + sim.serverError) return { outcome: 'transient', message: '500 InternalServerError' };
  if (roll < sim.throttle + sim.serverError + sim.permanent) return { outcome: 'permanent', message: `InvalidTemplateDeployment: quota exceeded for ${learnerId}` };
  return { outcome: 'succeeded' };
}

/** Deliveries the connector refused (429) so far, by notification key: each key's first try may be refused. */
const refused = new Set<string>();
let connectorFaults: Map<string, number> = new Map();

async function notifyThroughConnector(raw: unknown): Promise<unknown> {
  const n = raw as { runId: string; key: string };
  const rate = connectorFaults.get(n.runId) ?? 0;
  if (rate > 0 && !refused.has(n.key) && prng(hash(n.key))() < rate) {
    refused.add(n.key);
    throw new Error('429 Too Many Requests: the Bot Connector throttled this conversation');
  }
  return activities.notify.run(raw);
}

async function notifyManyThroughConnector(raw: unknown): Promise<unknown> {
  const { messages } = raw as { messages: Array<{ runId: string; key: string }> };
  const batchKey = messages.map((m) => m.key).join('|');
  const rate = connectorFaults.get(messages[0]?.runId ?? '') ?? 0;
  if (rate > 0 && !refused.has(batchKey) && prng(hash(batchKey))() < rate) {
    refused.add(batchKey);
    throw new Error('429 Too Many Requests: the Bot Connector throttled this conversation');
  }
  return activities.notifyMany.run(raw);
}

export const simFunctions: FunctionDef[] = [
  { kind: 'orchestration', name: 'cohortRun', handler: cohortRun },
  { kind: 'orchestration', name: 'learnerJourney', handler: simLearner },
  { kind: 'activity', name: 'signalInstance', handler: activities.signalInstance.run, durableClient: true },
  { kind: 'activity', name: 'signalMany', handler: activities.signalMany.run, durableClient: true },
  { kind: 'activity', name: 'startJourneys', handler: activities.startJourneys.run, durableClient: true },
  { kind: 'activity', name: 'cohortFanOut', handler: activities.cohortFanOut.run, durableClient: true },
  { kind: 'activity', name: 'cohortTally', handler: activities.cohortTally.run },
  { kind: 'activity', name: 'notify', handler: notifyThroughConnector },
  { kind: 'activity', name: 'notifyMany', handler: notifyManyThroughConnector },
  { kind: 'activity', name: 'recordRunEnded', handler: () => ({ status: 'ended' }) },
  { kind: 'activity', name: 'simDeploy', handler: simDeploy },
];

export function startSimStack(): Promise<TestStack> {
  process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
  // synchronous=NORMAL: in WAL mode a process crash (what the host restarts here are) loses nothing; only a power
  // loss could, which these invariants are not about (tests/crash kills the stack at FULL). FULL made the seeds wait on fsync.
  return startStack(simFunctions, { maxActivities: 16, maxOrchestrators: 16, synchronous: 'NORMAL' });
}

interface Summary {
  learners: number;
  counts: Record<string, Record<string, number>>;
  finished: number;
  provisioning: { queued: number; deploying: number; retrying: number; succeeded: number; failed: number; maxInFlight: number };
}

export interface SeedResult {
  seed: number;
  runId: string;
  violations: string[];
  samples: number;
  outcomes: SimOutcome[];
}

/** The view's counters, checked at one sample. */
function checkSample(plan: SimPlan, s: CohortView | null | undefined, v: string[]): void {
  if (!s?.counts) return;
  const counted = Object.values(s.counts).reduce((n, byState) => n + Object.values(byState).reduce((a, b) => a + b, 0), 0);
  if (counted !== plan.learners) v.push(`view counts add up to ${counted}, roster is ${plan.learners}: ${JSON.stringify(s.counts)}`);
  const p = s.provisioning;
  const max = plan.scheduler.maxConcurrentDeployments ?? DEFAULT_SCHEDULER_CONFIG.maxConcurrentDeployments;
  // Each learner has at most one live request (a newer one replaces the older); finished ones are counted per deployment.
  const live = p.queued + p.deploying + p.retrying;
  if (live > plan.learners) v.push(`view has ${live} live provisioning requests (${JSON.stringify(p)}) for ${plan.learners} learners`);
  if (p.succeeded + p.failed > plan.learners * plan.steps) v.push(`view counts ${p.succeeded + p.failed} finished deployments (${JSON.stringify(p)}) for ${plan.learners} learners × ${plan.steps} steps`);
  if (p.deploying + p.retrying > max) v.push(`view has ${p.deploying + p.retrying} deployments holding slots, limit ${max}`);
}

/**
 * Run one seed's cohort to its end on `stack` and check the invariants. `restartAt` (ms after the
 * start) restarts the host on the same storage; the caller owns the stack (cohorts run concurrently).
 */
export async function runSeed(stack: () => TestStack, seed: number, opts: { deadlineMs?: number; sampleEveryMs?: number } = {}): Promise<SeedResult> {
  const plan = planFor(seed);
  const runId = `inv-${seed}-${Date.now().toString(36)}`;
  connectorFaults.set(runId, plan.connector429);
  const roster = Array.from({ length: plan.learners }, (_, i) => ({ learnerId: `l${i + 1}`, name: `Learner ${i + 1}` }));
  const input: CohortInput = {
    runId,
    plan: { packId: 'sim', title: `seed ${seed}`, phases: {} as RunPlan['phases'], environmentParameters: { sim: plan } },
    learners: roster.length,
    instructors: ['instructor'],
    batchSize: 4,
    scheduler: plan.scheduler,
  };
  const v: string[] = [];
  const api = () => stack().api;
  const id = cohortInstanceId(runId);
  const started = Date.now();
  // As the API starts a run: the roster to the store, then the cohort (which carries only the count).
  await saveRoster(runId, roster);
  await retrying(() => startInstance(api(), 'cohortRun', input, id));
  // The view as the API serves it: the cohort's summary joined with the learners' progress rows.
  const viewOf = async (s: StatusBody | undefined): Promise<CohortView | null> =>
    s?.customStatus && typeof s.customStatus === 'object' ? expandView(s.customStatus as CohortSummary, roster, await readProgress(runId)) : null;
  let view: CohortView | null = null;
  let ended = false;
  let last: StatusBody | undefined;
  let samples = 0;
  const deadline = started + (opts.deadlineMs ?? plan.timeboxMs + 4 * SLACK_MS + 120_000);
  for (;;) {
    last = await retrying(() => status(api(), id));
    samples++;
    if (last?.runtimeStatus === 'Completed') break;
    if (last && ['Failed', 'Terminated'].includes(last.runtimeStatus)) {
      v.push(`cohort ${last.runtimeStatus}: ${JSON.stringify(last.output)}`);
      break;
    }
    view = await viewOf(last);
    const s = view;
    checkSample(plan, s, v);
    // The instructor ends the run once every learner has completed or failed.
    const c = s?.counts?.implementation;
    if (!ended && c && (c.completed ?? 0) + (c.failed ?? 0) === plan.learners && (c.failed ?? 0) > 0) {
      await retrying(() => raise(api(), id, EVENTS.cohort, { type: 'end', by: 'instructor', reason: 'every learner completed or failed' }));
      ended = true;
    }
    if (Date.now() > deadline) {
      v.push(`the run did not finish in ${Math.round((Date.now() - started) / 1000)} s; last view ${JSON.stringify(s)}`);
      v.push(...(await diagnose(api(), runId, roster.map((l) => l.learnerId))));
      break;
    }
    await new Promise((r) => setTimeout(r, opts.sampleEveryMs ?? 400));
  }
  const outcomes: SimOutcome[] = [];
  for (const l of roster) {
    const j = await retrying(() => status(api(), journeyInstanceId(runId, l.learnerId)));
    if (j?.runtimeStatus === 'Completed') outcomes.push(j.output as SimOutcome);
    else if (last?.runtimeStatus === 'Completed') v.push(`learner ${l.learnerId} is ${j?.runtimeStatus ?? 'missing'} after the run completed`);
  }
  if (last?.runtimeStatus === 'Completed') checkRun(plan, last, (await viewOf(last))!, outcomes, ended, v);
  connectorFaults.delete(runId);
  return { seed, runId, violations: v, samples, outcomes };
}

/** What each instance of a stuck run is doing: the last events of its history, and the cohort's scheduler. */
async function diagnose(api: string, runId: string, learners: string[]): Promise<string[]> {
  const out: string[] = [];
  const tail = (x: StatusBody | undefined) =>
    (x?.historyEvents ?? [])
      .filter((e) => !['OrchestratorStarted', 'OrchestratorCompleted'].includes(e.EventType))
      .slice(-6)
      .map((e) => `${e.EventType}${e.Name ? ` ${String(e.Name)}` : ''}${e.EventType === 'EventRaised' ? ` ${JSON.stringify(e.Input).slice(0, 120)}` : ''}`)
      .join(' | ');
  try {
    const c = await status(api, cohortInstanceId(runId), true);
    const st = (c?.input as CohortInput | undefined)?.state;
    out.push(`cohort ${c?.runtimeStatus}: queue ${JSON.stringify(st?.provisioning?.scheduler.queue)} slots ${JSON.stringify(st?.provisioning?.scheduler.slots)} pending ${st?.pending?.length ?? 0}; last: ${tail(c)}`);
    for (const l of learners) {
      const j = await status(api, journeyInstanceId(runId, l), true);
      out.push(`${l} ${j?.runtimeStatus}: ${tail(j)}${j?.runtimeStatus === 'Failed' ? ` — ${JSON.stringify(j.output).slice(0, 600)}` : ''}`);
    }
  } catch (err) {
    out.push(`(could not read the instances: ${(err as Error).message})`);
  }
  return out;
}

/** The invariants over a finished run. */
function checkRun(plan: SimPlan, last: StatusBody, view: CohortView, outcomes: SimOutcome[], ended: boolean, v: string[]): void {
  const report = last.output as RunReport;
  const config = { ...DEFAULT_SCHEDULER_CONFIG, ...plan.scheduler };
  checkSample(plan, view, v);
  // Nothing left in the scheduler for nobody.
  const p = view.provisioning;
  if (p.queued || p.deploying || p.retrying) v.push(`after the run the view still shows queued ${p.queued}, deploying ${p.deploying}, retrying ${p.retrying}`);
  // Every learner reached the end, or a visible failure with a reason.
  if (report.completed + report.ended !== plan.learners) v.push(`report: ${report.completed} completed + ${report.ended} ended for ${plan.learners} learners`);
  // The bound holds for the attempt times the deployments (and this machine) actually took.
  const attempts = outcomes.flatMap((o) => o.requests.flatMap((r) => r.decisions.filter((d) => d.doneAt !== undefined).map((d) => d.doneAt! - d.at)));
  const attemptMs = Math.max(ATTEMPT_MS, ...attempts);
  const admissionBound = admissionBoundMs(config, plan.learners - 1, attemptMs) + SLACK_MS;
  for (const o of outcomes) {
    const seen = view.progress[o.learnerId]?.state;
    if (o.result === 'completed' && seen !== 'completed') v.push(`${o.learnerId} completed but the report says ${seen}`);
    if (o.result === 'failed') {
      if (!o.reason) v.push(`${o.learnerId} failed without a reason`);
      if (seen !== 'ended') v.push(`${o.learnerId} failed (${o.reason}) but the report says ${seen}`);
      if (o.reason?.startsWith('timebox') && plan.timeboxMs >= admissionBound) v.push(`${o.learnerId}: ${o.reason} — beyond the scheduler's stated bound (${Math.round(admissionBound / 1000)} s with slack, for attempts of up to ${Math.round(attemptMs / 1000)} s)`);
    }
  }
  // No acknowledged event lost: the cohort handled at least every event it acknowledged (a retried
  // signal may count twice), and every acknowledged request got a decision within the stated bound.
  const acked = outcomes.reduce((n, o) => n + o.acked, 0) + (ended ? 1 : 0);
  if ((report.events ?? 0) < acked) v.push(`the cohort handled ${report.events} events, ${acked} were acknowledged to their senders`);
  const retryBound = retryBoundMs(config) + SLACK_MS;
  for (const o of outcomes) {
    for (const r of o.requests) {
      if (!r.acked) {
        v.push(`${o.learnerId} ${r.stepId}: the request was not acknowledged (no cohort?)`);
        continue;
      }
      const first = r.decisions[0];
      if (!first) {
        if (!o.failedAt) v.push(`${o.learnerId} ${r.stepId}: acknowledged, never decided, and the learner did not fail`);
        continue;
      }
      if (first.at - r.ackAt > admissionBound) v.push(`${o.learnerId} ${r.stepId}: first decision ${Math.round((first.at - r.ackAt) / 1000)} s after the request, bound ${Math.round(admissionBound / 1000)} s`);
      r.decisions.forEach((d, i) => {
        const next = r.decisions[i + 1];
        if (d.outcome !== 'transient') return;
        if (!next) {
          // A learner who walked away before the retry was due leaves nothing to retry for (the cohort withdraws
          // the request); one still there when the bound ran out was left waiting.
          const leftInTime = o.failedAt !== undefined && o.failedAt - (d.doneAt ?? d.at) <= retryBound;
          if (!leftInTime) v.push(`${o.learnerId} ${r.stepId}: attempt ${d.envAttempt} failed transiently and was neither retried nor refused${o.failedAt !== undefined ? ` (the learner left ${Math.round((o.failedAt - (d.doneAt ?? d.at)) / 1000)} s later, bound ${Math.round(retryBound / 1000)} s)` : ''}`);
        } else if (next.at - (d.doneAt ?? d.at) > retryBound) v.push(`${o.learnerId} ${r.stepId}: retry decided ${Math.round((next.at - (d.doneAt ?? d.at)) / 1000)} s after attempt ${d.envAttempt} failed, bound ${Math.round(retryBound / 1000)} s`);
      });
    }
  }
  // First admissions are first come, first served: a request acknowledged before another was even sent
  // is decided no later than that one is admitted (or its learner failed first).
  const firsts = outcomes.flatMap((o) => o.requests.filter((r) => r.acked).map((r) => ({ o, r })));
  for (const a of firsts) {
    for (const b of firsts) {
      if (a === b || a.r.ackAt >= b.r.sentAt) continue;
      const bAdmitted = b.r.decisions.find((d) => d.type === 'PROVISION_ADMITTED' && d.envAttempt === 1)?.at;
      if (bAdmitted === undefined) continue;
      // Both in the cohort's clock (a learner who walked away: its own, hence the slack there).
      const aDecided = a.r.decisions[0]?.at ?? a.o.failedAt;
      if (aDecided === undefined || aDecided > bAdmitted + (a.r.decisions[0] ? 0 : SLACK_MS)) {
        v.push(`${a.o.learnerId} ${a.r.stepId} was acknowledged before ${b.o.learnerId} ${b.r.stepId} was sent, but ${b.o.learnerId} was admitted first and ${a.o.learnerId} ${aDecided === undefined ? 'never was' : `waited ${Math.round((aDecided - bAdmitted) / 1000)} s more`}`);
      }
    }
  }
}

/**
 * Management calls retried across a host restart (the port changes; `stack()` is read again). A restart
 * recovers every instance of every cohort on the stack, which takes a while on a loaded machine.
 */
async function retrying<T>(call: () => Promise<T>, attempts = 480): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Run `seeds` on one stack, `concurrency` cohorts at a time, restarting the host at seeded moments
 * (each batch's first seed decides when: zero, one or two restarts).
 */
export async function runSeeds(stack: TestStack, seeds: number[], opts: { concurrency?: number; restarts?: boolean; log?: (line: string) => void } = {}): Promise<SeedResult[]> {
  const results: SeedResult[] = [];
  const concurrency = opts.concurrency ?? 10;
  for (let i = 0; i < seeds.length; i += concurrency) {
    const batch = seeds.slice(i, i + concurrency);
    const r = prng(batch[0] * 31 + 7);
    const restartsAt = opts.restarts === false ? [] : Array.from({ length: Math.floor(r() * 3) }, () => 1_000 + Math.floor(r() * 15_000)).sort((a, b) => a - b);
    let running = true;
    const restarter = (async () => {
      const t0 = Date.now();
      for (const at of restartsAt) {
        while (running && Date.now() - t0 < at) await new Promise((res) => setTimeout(res, 100));
        if (!running) return;
        await stack.restart();
        opts.log?.(`  restarted the host at ${Math.round((Date.now() - t0) / 1000)} s`);
      }
    })();
    let done: SeedResult[];
    try {
      // A seed whose harness fails (the stack did not answer) is reported as that seed's failure.
      done = await Promise.all(
        batch.map((seed) => runSeed(() => stack, seed).catch((err: unknown): SeedResult => ({ seed, runId: '?', violations: [`the harness failed: ${err instanceof Error ? err.message : String(err)}`], samples: 0, outcomes: [] }))),
      );
    } finally {
      running = false;
      await restarter;
    }
    for (const d of done) {
      opts.log?.(`seed ${d.seed}: ${d.violations.length ? `FAILED (${d.violations.length})` : 'ok'} — ${planLine(planFor(d.seed))}`);
      for (const line of d.violations) opts.log?.(`    ${line}`);
    }
    results.push(...done);
  }
  return results;
}

export function planLine(p: SimPlan): string {
  return `${p.learners} learners × ${p.steps} step(s), slots ${p.scheduler.maxConcurrentDeployments}, 429 ${p.throttle}, 500 ${p.serverError}, permanent ${p.permanent}, slow ≤${p.slowMs} ms, connector 429 ${p.connector429}, quitters ${p.quitters}`;
}

export { startSimStack as startInvariantStack };
