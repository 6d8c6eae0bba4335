/**
 * Cohort provisioning scheduler: decides *which* learners' environments may start provisioning
 * *now*, so a cohort stays inside Azure Resource Manager's limits. Pure and deterministic: every
 * function takes the state and the orchestration's clock (`context.df.currentUtcDateTime`) and
 * returns a new state; nothing here reads a clock, does I/O or keeps anything outside the state.
 * The state is plain JSON — keep it in custom status or pass it through `continueAsNew`.
 *
 * What it enforces
 * - a concurrent-deployment limit: a learner holds a slot from admission until success or a
 *   permanent failure — also while waiting to retry, because the earlier attempt's deployment may
 *   still be running in ARM and the retry adopts it;
 * - a token bucket for the subscription's write limit (ARM: 200 writes, refilled 10 per second),
 *   each attempt costing `writesPerAttempt` tokens, refilled from orchestration time;
 * - a subscription-wide back-off when any attempt sees 429 + Retry-After: nobody starts before it
 *   ends, and the bucket is emptied (ARM said it is);
 * - queue positions: FIFO, 1-based ("your environment is 12th in line");
 * - a stated bound on every wait (`retryBoundMs`, `admissionBoundMs`): a request is admitted, retried
 *   or refused with a reason within it, so no learner waits with nothing happening. For that a
 *   Retry-After longer than `retryMaxSeconds` is cut to it (a retry that comes too early gets another
 *   429 and costs an attempt; `maxAttempts` still ends it), and a request whose phase has ended is
 *   withdrawn (`withdraw`) instead of holding its place for nobody.
 *
 * API (for the cohortRun orchestration)
 *   let s = createScheduler(now, { maxConcurrentDeployments: 10 });   // config optional
 *   s = enqueue(s, learnerIds);
 *   loop:
 *     const { state, start, wakeAt } = admit(s, now); s = state;
 *     for (const a of start) call provisionEnvironment for a.id (attempt a.attempt; same idempotency key every attempt);
 *     wait for Task.any([...running activities, wakeAt ? createTimer(wakeAt) : none]);
 *     on success:           s = succeeded(s, id, now);
 *     on transient failure: s = retryLater(s, id, now, { retryAfterSeconds, throttled }).state;   // armFailureOf(err) says which
 *     on permanent failure: s = failed(s, id, now, message);
 *   until isDrained(s).
 *   queuePosition(s, id) / queueMessage(s, id) / progress(s) for status and learner messages.
 * `tests/arm/cohortProvisioning.test.ts` has a reference orchestration built exactly like this.
 */

export interface SchedulerConfig {
  /** Deployments in flight at once (admitted and not finished, retry waits included). */
  maxConcurrentDeployments: number;
  /** Subscription write bucket size (ARM: 200). */
  writeBucketCapacity: number;
  /** Bucket refill per second (ARM: 10). */
  writeRefillPerSecond: number;
  /** Writes one provisioning attempt costs: the group, the deployment and the resources it writes. */
  writesPerAttempt: number;
  /** Attempts per learner before giving up (a transient error that never clears). */
  maxAttempts: number;
  /** Retry delay when ARM gives no Retry-After: base × 2^(attempt-1), capped. */
  retryBaseSeconds: number;
  retryMaxSeconds: number;
}

export const DEFAULT_SCHEDULER_CONFIG: Readonly<SchedulerConfig> = {
  maxConcurrentDeployments: 10,
  writeBucketCapacity: 200,
  writeRefillPerSecond: 10,
  writesPerAttempt: 20,
  maxAttempts: 8,
  retryBaseSeconds: 5,
  retryMaxSeconds: 300,
};

export type SlotState =
  | { phase: 'running'; attempt: number; since: number }
  | { phase: 'waiting'; attempt: number; since: number; retryAt: number; lastError?: string };

export interface SchedulerState {
  version: 1;
  config: SchedulerConfig;
  /** Tokens in the write bucket at `refilledAt` (ms since epoch). */
  tokens: number;
  refilledAt: number;
  /** No admissions before this (ms since epoch): a 429's Retry-After for the whole subscription. */
  backoffUntil: number;
  /** Waiting to start, first in line first. */
  queue: string[];
  /** Holding a slot: running an attempt or waiting to retry. */
  slots: Record<string, SlotState>;
  succeeded: string[];
  failed: Record<string, string>;
  /** Counters for status pages and tests. */
  stats: { attempts: number; throttled: number; transientFailures: number; maxInFlight: number; withdrawn?: number; succeeded?: number; failed?: number };
}

export interface Admission {
  id: string;
  /** 1 for the first attempt. */
  attempt: number;
}

export interface AdmitResult {
  state: SchedulerState;
  /** Start (or retry) these now, in this order. */
  start: Admission[];
  /** When something else could be admitted by the clock alone; null = only a finishing attempt can change that. */
  wakeAt: Date | null;
}

export function createScheduler(now: Date, config: Partial<SchedulerConfig> = {}): SchedulerState {
  const c: SchedulerConfig = { ...DEFAULT_SCHEDULER_CONFIG, ...config };
  for (const [k, v] of Object.entries(c)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`scheduler config ${k} must be a positive number, got ${String(v)}`);
  }
  if (c.writesPerAttempt > c.writeBucketCapacity) {
    throw new Error(`scheduler config writesPerAttempt (${c.writesPerAttempt}) exceeds writeBucketCapacity (${c.writeBucketCapacity}); nothing could ever start`);
  }
  return {
    version: 1,
    config: c,
    tokens: c.writeBucketCapacity,
    refilledAt: now.getTime(),
    backoffUntil: 0,
    queue: [],
    slots: {},
    succeeded: [],
    failed: {},
    stats: { attempts: 0, throttled: 0, transientFailures: 0, maxInFlight: 0 },
  };
}

/** Adds learners to the back of the line; ids already known (queued, in flight or finished) are ignored. */
export function enqueue(state: SchedulerState, ids: readonly string[]): SchedulerState {
  const known = new Set([...state.queue, ...Object.keys(state.slots), ...state.succeeded, ...Object.keys(state.failed)]);
  const queue = [...state.queue];
  for (const id of ids) {
    if (!known.has(id)) {
      known.add(id);
      queue.push(id);
    }
  }
  return { ...state, queue };
}

/** What may start now: due retries first (they hold slots already), then the queue into free slots. */
export function admit(state: SchedulerState, now: Date): AdmitResult {
  const t = now.getTime();
  let s = refill(state, t);
  const c = s.config;
  const start: Admission[] = [];
  if (t < s.backoffUntil) return { state: s, start, wakeAt: wakeAt(s, t) };

  const slots = { ...s.slots };
  let tokens = s.tokens;
  const due = Object.entries(slots)
    .filter((e): e is [string, Extract<SlotState, { phase: 'waiting' }>] => e[1].phase === 'waiting' && e[1].retryAt <= t)
    .sort((a, b) => a[1].retryAt - b[1].retryAt || a[0].localeCompare(b[0]));
  for (const [id, slot] of due) {
    if (tokens < c.writesPerAttempt) break;
    tokens -= c.writesPerAttempt;
    const attempt = slot.attempt + 1;
    slots[id] = { phase: 'running', attempt, since: t };
    start.push({ id, attempt });
  }
  const queue = [...s.queue];
  while (queue.length > 0 && Object.keys(slots).length < c.maxConcurrentDeployments && tokens >= c.writesPerAttempt) {
    const id = queue.shift()!;
    tokens -= c.writesPerAttempt;
    slots[id] = { phase: 'running', attempt: 1, since: t };
    start.push({ id, attempt: 1 });
  }
  const inFlight = Object.keys(slots).length;
  s = {
    ...s,
    tokens,
    queue,
    slots,
    stats: { ...s.stats, attempts: s.stats.attempts + start.length, maxInFlight: Math.max(s.stats.maxInFlight, inFlight) },
  };
  return { state: s, start, wakeAt: wakeAt(s, t) };
}

export function succeeded(state: SchedulerState, id: string, _now: Date): SchedulerState {
  if (!state.slots[id]) return state;
  const { [id]: _done, ...slots } = state.slots;
  return { ...state, slots, succeeded: [...state.succeeded, id], stats: { ...state.stats, succeeded: (state.stats.succeeded ?? 0) + 1 } };
}

/** A permanent failure: the slot is freed, the learner is out of the line with `reason`. */
export function failed(state: SchedulerState, id: string, _now: Date, reason: string): SchedulerState {
  const queued = state.queue.includes(id);
  if (!state.slots[id] && !queued) return state;
  const { [id]: _done, ...slots } = state.slots;
  return { ...state, slots, queue: state.queue.filter((q) => q !== id), failed: { ...state.failed, [id]: reason }, stats: { ...state.stats, failed: (state.stats.failed ?? 0) + 1 } };
}

/**
 * Drops a finished request from the succeeded/failed lists (its outcome stays counted in `stats`): a caller
 * that must keep its state constant-size (the cohort, whatever the roster) forgets what it has reported.
 * A live request is left alone.
 */
export function forget(state: SchedulerState, id: string): SchedulerState {
  if (!state.succeeded.includes(id) && !(id in state.failed)) return state;
  const { [id]: _gone, ...failedRest } = state.failed;
  return { ...state, succeeded: state.succeeded.filter((s) => s !== id), failed: failedRest };
}

export interface RetryInfo {
  /** ARM's Retry-After, when it sent one. */
  retryAfterSeconds?: number;
  /** The failure was a 429: back the whole subscription off. */
  throttled?: boolean;
  error?: string;
}

/**
 * A transient failure: the learner keeps its slot and is retried at Retry-After (or with
 * exponential back-off); after `maxAttempts` it fails for good (`gaveUp`).
 */
export function retryLater(state: SchedulerState, id: string, now: Date, info: RetryInfo = {}): { state: SchedulerState; gaveUp: boolean; retryAt: Date | null } {
  const slot = state.slots[id];
  if (!slot) return { state, gaveUp: false, retryAt: null };
  const t = now.getTime();
  const c = state.config;
  let s: SchedulerState = { ...state, stats: { ...state.stats, transientFailures: state.stats.transientFailures + 1 } };
  if (info.throttled) {
    const until = t + Math.max(1, Math.min(c.retryMaxSeconds, info.retryAfterSeconds ?? c.retryBaseSeconds)) * 1000;
    s = { ...refill(s, t), tokens: 0, backoffUntil: Math.max(s.backoffUntil, until), stats: { ...s.stats, throttled: s.stats.throttled + 1 } };
  }
  if (slot.attempt >= c.maxAttempts) {
    const reason = `gave up after ${slot.attempt} attempts; last error: ${info.error ?? 'transient'}`;
    return { state: failed(s, id, now, reason), gaveUp: true, retryAt: null };
  }
  const backoff = Math.min(c.retryMaxSeconds, c.retryBaseSeconds * 2 ** (slot.attempt - 1));
  const retryAt = Math.max(t + Math.min(c.retryMaxSeconds, info.retryAfterSeconds ?? backoff) * 1000, s.backoffUntil);
  s = { ...s, slots: { ...s.slots, [id]: { phase: 'waiting', attempt: slot.attempt, since: t, retryAt, ...(info.error ? { lastError: info.error } : {}) } } };
  return { state: s, gaveUp: false, retryAt: new Date(retryAt) };
}

/**
 * The request no longer matters — its phase ended (failed, completed, ended by the instructor) or a
 * newer request of the same learner replaced it: it leaves the line or frees its slot, counted in
 * neither succeeded nor failed (`stats.withdrawn`). A deployment it started may still finish in ARM;
 * a later attempt of the same step adopts it (same idempotency key), teardown removes it otherwise.
 */
export function withdraw(state: SchedulerState, id: string): SchedulerState {
  const queued = state.queue.includes(id);
  if (!state.slots[id] && !queued) return state;
  const { [id]: _gone, ...slots } = state.slots;
  return { ...state, slots, queue: state.queue.filter((q) => q !== id), stats: { ...state.stats, withdrawn: (state.stats.withdrawn ?? 0) + 1 } };
}

/** Ids queued or holding a slot. */
export function live(state: SchedulerState): string[] {
  return [...state.queue, ...Object.keys(state.slots)];
}

/** How long the bucket takes to refill one attempt's writes from empty (ms). */
export function refillMs(c: SchedulerConfig): number {
  return Math.ceil((c.writesPerAttempt / c.writeRefillPerSecond) * 1000);
}

/**
 * The longest a request holding a slot waits, after its attempt failed transiently, before the
 * scheduler admits its retry or refuses it (orchestration time; the cohort acts when it next runs).
 * Its own wait is at most `retryMaxSeconds`; a 429 of any other attempt can push the subscription's
 * back-off out by at most `retryMaxSeconds` and empty the bucket, and there are at most
 * `maxConcurrentDeployments × maxAttempts` such attempts before every holder has succeeded or given up.
 */
export function retryBoundMs(c: SchedulerConfig): number {
  return c.maxConcurrentDeployments * c.maxAttempts * (c.retryMaxSeconds * 1000 + refillMs(c));
}

/**
 * The longest a request with `ahead` requests before it in line waits to be admitted (or refused),
 * when one deployment attempt takes at most `attemptMs`: every slot holder is done after at most
 * `maxAttempts` attempts with a retry wait between them, and a slot serves the line in order.
 */
export function admissionBoundMs(c: SchedulerConfig, ahead: number, attemptMs: number): number {
  const hold = c.maxAttempts * attemptMs + (c.maxAttempts - 1) * retryBoundMs(c);
  return Math.ceil((ahead + 1) / c.maxConcurrentDeployments) * hold + refillMs(c);
}

/** Nothing queued and nothing holding a slot. */
export function isDrained(state: SchedulerState): boolean {
  return state.queue.length === 0 && Object.keys(state.slots).length === 0;
}

export type QueuePosition =
  | { status: 'queued'; position: number; ahead: number }
  | { status: 'provisioning'; attempt: number }
  | { status: 'retrying'; attempt: number; retryAt: string }
  | { status: 'succeeded' }
  | { status: 'failed'; reason: string }
  | { status: 'unknown' };

export function queuePosition(state: SchedulerState, id: string): QueuePosition {
  const i = state.queue.indexOf(id);
  if (i >= 0) return { status: 'queued', position: i + 1, ahead: i };
  const slot = state.slots[id];
  if (slot?.phase === 'running') return { status: 'provisioning', attempt: slot.attempt };
  if (slot?.phase === 'waiting') return { status: 'retrying', attempt: slot.attempt, retryAt: new Date(slot.retryAt).toISOString() };
  if (state.succeeded.includes(id)) return { status: 'succeeded' };
  if (id in state.failed) return { status: 'failed', reason: state.failed[id]! };
  return { status: 'unknown' };
}

/** The learner-facing sentence for where their environment is. */
export function queueMessage(state: SchedulerState, id: string): string {
  const p = queuePosition(state, id);
  switch (p.status) {
    case 'queued':
      return p.position === 1 ? 'Your environment is next in line.' : `Your environment is ${ordinal(p.position)} in line.`;
    case 'provisioning':
      return 'Your environment is being deployed.';
    case 'retrying':
      return 'Azure asked us to slow down; your environment deployment will resume shortly.';
    case 'succeeded':
      return 'Your environment is ready.';
    case 'failed':
      return 'Your environment could not be deployed; your instructor has been told why.';
    case 'unknown':
      return 'Your environment is not in the provisioning queue.';
  }
}

export function ordinal(n: number): string {
  const mod100 = n % 100;
  const suffix = mod100 >= 11 && mod100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

export function progress(state: SchedulerState): { queued: number; running: number; retrying: number; succeeded: number; failed: number } {
  const slots = Object.values(state.slots);
  return {
    queued: state.queue.length,
    running: slots.filter((s) => s.phase === 'running').length,
    retrying: slots.filter((s) => s.phase === 'waiting').length,
    // Counted in stats, which outlive `forget` (the lists only hold what the caller has not reported yet).
    succeeded: state.stats.succeeded ?? state.succeeded.length,
    failed: state.stats.failed ?? Object.keys(state.failed).length,
  };
}

// ─── internals ───────────────────────────────────────────────────────────────────────────────

function refill(state: SchedulerState, t: number): SchedulerState {
  if (t <= state.refilledAt) return state;
  const c = state.config;
  const tokens = Math.min(c.writeBucketCapacity, state.tokens + ((t - state.refilledAt) / 1000) * c.writeRefillPerSecond);
  return { ...state, tokens, refilledAt: t };
}

/** The earliest time the clock alone could let something start. */
function wakeAt(state: SchedulerState, t: number): Date | null {
  const c = state.config;
  const waiting = Object.values(state.slots).filter((s): s is Extract<SlotState, { phase: 'waiting' }> => s.phase === 'waiting');
  const canStartNew = state.queue.length > 0 && Object.keys(state.slots).length < c.maxConcurrentDeployments;
  if (!canStartNew && waiting.length === 0) return null;
  // Earliest moment a candidate becomes eligible by its own clock (now for the queue, retryAt for waits).
  const eligible = Math.min(canStartNew ? t : Infinity, ...waiting.map((w) => w.retryAt));
  let at = Math.max(eligible, state.backoffUntil, t);
  // …and the bucket must hold one attempt's writes by then.
  const tokensAt = Math.min(c.writeBucketCapacity, state.tokens + (Math.max(0, at - state.refilledAt) / 1000) * c.writeRefillPerSecond);
  if (tokensAt < c.writesPerAttempt) at += Math.ceil(((c.writesPerAttempt - tokensAt) / c.writeRefillPerSecond) * 1000);
  return new Date(at > t ? at : t + 1000);
}
