import { describe, expect, it } from 'vitest';
import {
  admit,
  createScheduler,
  enqueue,
  failed,
  isDrained,
  ordinal,
  progress,
  queueMessage,
  queuePosition,
  retryBoundMs,
  retryLater,
  succeeded,
  withdraw,
  type SchedulerConfig,
  type SchedulerState,
} from '../../orchestrations/provisioningScheduler';
import { prng } from '../../local/prng';

const T0 = new Date('2026-03-02T09:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const learners = (n: number) => Array.from({ length: n }, (_, i) => `learner-${String(i + 1).padStart(2, '0')}`);

/** Roomy bucket so only the concurrency limit matters, unless a test says otherwise. */
const roomy: Partial<SchedulerConfig> = { writeBucketCapacity: 10_000, writeRefillPerSecond: 1_000, writesPerAttempt: 1 };

describe('provisioning scheduler: concurrency and queue positions', () => {
  it('admits up to the concurrent-deployment limit and queues the rest in order', () => {
    let s = enqueue(createScheduler(T0, { ...roomy, maxConcurrentDeployments: 5 }), learners(20));
    const r = admit(s, T0);
    s = r.state;
    expect(r.start.map((a) => a.id)).toEqual(learners(5));
    expect(r.start.every((a) => a.attempt === 1)).toBe(true);
    expect(r.wakeAt).toBeNull(); // only a finishing deployment can free a slot
    expect(queuePosition(s, 'learner-06')).toEqual({ status: 'queued', position: 1, ahead: 0 });
    expect(queuePosition(s, 'learner-17')).toEqual({ status: 'queued', position: 12, ahead: 11 });
    expect(queueMessage(s, 'learner-17')).toBe('Your environment is 12th in line.');
    expect(queueMessage(s, 'learner-06')).toBe('Your environment is next in line.');
    expect(queuePosition(s, 'learner-01')).toEqual({ status: 'provisioning', attempt: 1 });
    expect(progress(s)).toEqual({ queued: 15, running: 5, retrying: 0, succeeded: 0, failed: 0 });
  });

  it('a finished deployment frees its slot for the next in line, and everybody moves up', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, maxConcurrentDeployments: 2 }), learners(5)), T0).state;
    s = succeeded(s, 'learner-01', at(10));
    expect(queuePosition(s, 'learner-05')).toMatchObject({ position: 3 });
    const r = admit(s, at(10));
    expect(r.start).toEqual([{ id: 'learner-03', attempt: 1 }]);
    expect(queuePosition(r.state, 'learner-05')).toMatchObject({ position: 2 });
    expect(queueMessage(r.state, 'learner-01')).toBe('Your environment is ready.');
  });

  it('enqueue ignores learners already queued, in flight or finished', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, maxConcurrentDeployments: 1 }), ['a', 'b']), T0).state;
    s = succeeded(s, 'a', T0);
    s = enqueue(s, ['a', 'b', 'c', 'c']);
    expect(s.queue).toEqual(['b', 'c']);
  });

  it('ordinals read as English', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112].map(ordinal)).toEqual([
      '1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '101st', '111th', '112th',
    ]);
  });

  it('rejects a configuration that could never admit anyone', () => {
    expect(() => createScheduler(T0, { writesPerAttempt: 300, writeBucketCapacity: 200 })).toThrow(/exceeds writeBucketCapacity/);
    expect(() => createScheduler(T0, { maxConcurrentDeployments: 0 })).toThrow(/maxConcurrentDeployments must be a positive number/);
  });
});

describe('provisioning scheduler: the write token bucket, from orchestration time', () => {
  const bucket: Partial<SchedulerConfig> = { maxConcurrentDeployments: 100, writeBucketCapacity: 40, writeRefillPerSecond: 1, writesPerAttempt: 20 };

  it('spends a full bucket, then admits one attempt per refill of its writes', () => {
    let s = enqueue(createScheduler(T0, bucket), learners(5));
    let r = admit(s, T0);
    expect(r.start.map((a) => a.id)).toEqual(['learner-01', 'learner-02']);
    expect(r.wakeAt?.toISOString()).toBe(at(20).toISOString());
    s = r.state;
    r = admit(s, at(19.9));
    expect(r.start).toEqual([]);
    r = admit(r.state, at(20));
    expect(r.start.map((a) => a.id)).toEqual(['learner-03']);
    expect(r.wakeAt?.toISOString()).toBe(at(40).toISOString());
  });

  it('never lets writes in any window exceed the bucket plus its refill', () => {
    let s = enqueue(createScheduler(T0, bucket), learners(30));
    const starts: number[] = [];
    let now = T0;
    while (s.queue.length > 0) {
      const r = admit(s, now);
      s = r.state;
      for (const _ of r.start) starts.push(now.getTime());
      for (const a of r.start) s = succeeded(s, a.id, now);
      now = r.wakeAt ?? now;
    }
    for (const from of starts) {
      for (const windowS of [1, 10, 60, 300]) {
        const inWindow = starts.filter((t) => t >= from && t < from + windowS * 1000).length;
        expect(inWindow * 20).toBeLessThanOrEqual(40 + windowS * 1);
      }
    }
  });
});

describe('provisioning scheduler: transient failures, 429 back-off and giving up', () => {
  it('a transient failure keeps the slot (the deployment may still run) and retries at Retry-After', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, maxConcurrentDeployments: 2 }), learners(4)), T0).state;
    const rl = retryLater(s, 'learner-01', at(5), { retryAfterSeconds: 30, error: '500 InternalServerError' });
    s = rl.state;
    expect(rl.gaveUp).toBe(false);
    expect(rl.retryAt?.toISOString()).toBe(at(35).toISOString());
    expect(queuePosition(s, 'learner-01')).toEqual({ status: 'retrying', attempt: 1, retryAt: at(35).toISOString() });
    let r = admit(s, at(6));
    expect(r.start).toEqual([]); // learner-03 must not take the slot learner-01 still holds
    expect(r.wakeAt?.toISOString()).toBe(at(35).toISOString());
    r = admit(r.state, at(35));
    expect(r.start).toEqual([{ id: 'learner-01', attempt: 2 }]);
    expect(r.state.stats.maxInFlight).toBe(2);
  });

  it('without Retry-After the retry waits base × 2^(attempt-1), capped', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, retryBaseSeconds: 5, retryMaxSeconds: 12 }), ['a']), T0).state;
    const waits: number[] = [];
    let now = T0;
    for (let i = 0; i < 4; i++) {
      const rl = retryLater(s, 'a', now);
      waits.push((rl.retryAt!.getTime() - now.getTime()) / 1000);
      now = rl.retryAt!;
      s = admit(rl.state, now).state;
    }
    expect(waits).toEqual([5, 10, 12, 12]);
  });

  it('a 429 backs the whole subscription off until Retry-After and empties the bucket', () => {
    let s = admit(enqueue(createScheduler(T0, { maxConcurrentDeployments: 3, writeBucketCapacity: 200, writeRefillPerSecond: 10, writesPerAttempt: 20 }), learners(6)), T0).state;
    s = succeeded(s, 'learner-02', at(1));
    s = retryLater(s, 'learner-01', at(1), { retryAfterSeconds: 10, throttled: true }).state;
    expect(s.tokens).toBe(0);
    expect(s.backoffUntil).toBe(at(11).getTime());
    const during = admit(s, at(10.999));
    expect(during.start).toEqual([]);
    expect(during.wakeAt?.toISOString()).toBe(at(11).toISOString());
    const after = admit(during.state, at(11));
    // 10 s × 10 writes/s = 100 tokens: the due retry first, then the queue.
    expect(after.start).toEqual([
      { id: 'learner-01', attempt: 2 },
      { id: 'learner-04', attempt: 1 },
    ]);
    expect(after.state.stats.throttled).toBe(1);
  });

  it('gives up after maxAttempts and frees the slot with the reason', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, maxAttempts: 2, maxConcurrentDeployments: 1 }), ['a', 'b']), T0).state;
    s = admit(retryLater(s, 'a', T0, { retryAfterSeconds: 1 }).state, at(1)).state;
    const rl = retryLater(s, 'a', at(2), { error: 'InternalServerError' });
    expect(rl.gaveUp).toBe(true);
    expect(queuePosition(rl.state, 'a')).toEqual({ status: 'failed', reason: 'gave up after 2 attempts; last error: InternalServerError' });
    expect(admit(rl.state, at(2)).start).toEqual([{ id: 'b', attempt: 1 }]);
  });

  it('a permanent failure frees the slot and takes the learner out of the line', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, maxConcurrentDeployments: 1 }), ['a', 'b', 'c']), T0).state;
    s = failed(s, 'a', T0, 'Quota exceeded');
    s = failed(s, 'c', T0, 'cancelled by the instructor');
    expect(queueMessage(s, 'a')).toMatch(/could not be deployed/);
    expect(admit(s, T0).start).toEqual([{ id: 'b', attempt: 1 }]);
    expect(isDrained(succeeded(admit(s, T0).state, 'b', T0))).toBe(true);
  });
});

describe('provisioning scheduler: determinism and serialisation', () => {
  /** A cohort driven by a seeded "ARM" (transient failures, 429s) on a simulated orchestration clock. */
  function simulate(seed: number, opts: { roundTripEvery?: number } = {}): { state: SchedulerState; maxInFlight: number; starts: number[]; backoffViolations: number } {
    let rnd = seed >>> 0;
    const random = () => {
      rnd = (rnd + 0x6d2b79f5) >>> 0;
      let t = rnd;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const limit = 6;
    let s = enqueue(createScheduler(T0, { maxConcurrentDeployments: limit, writeBucketCapacity: 100, writeRefillPerSecond: 5, writesPerAttempt: 10, maxAttempts: 6 }), learners(60));
    const running = new Map<string, number>(); // id → finishes at (ms)
    let now = T0.getTime();
    let maxInFlight = 0;
    let backoffViolations = 0;
    const starts: number[] = [];
    let step = 0;
    while (!isDrained(s)) {
      if (opts.roundTripEvery && ++step % opts.roundTripEvery === 0) s = JSON.parse(JSON.stringify(s)) as SchedulerState;
      const r = admit(s, new Date(now));
      s = r.state;
      for (const a of r.start) {
        if (now < s.backoffUntil) backoffViolations++;
        starts.push(now);
        running.set(a.id, now + 2_000 + Math.floor(random() * 20_000));
      }
      maxInFlight = Math.max(maxInFlight, Object.keys(s.slots).length);
      const nextFinish = Math.min(...running.values());
      const next = Math.min(nextFinish, r.wakeAt?.getTime() ?? Infinity);
      if (!Number.isFinite(next)) throw new Error('scheduler stalled: nothing running and no wake-up');
      now = next;
      for (const [id, end] of [...running]) {
        if (end > now) continue;
        running.delete(id);
        const roll = random();
        if (roll < 0.2) s = retryLater(s, id, new Date(now), { throttled: true, retryAfterSeconds: 3 }).state;
        else if (roll < 0.3) s = retryLater(s, id, new Date(now), { error: '500' }).state;
        else if (roll < 0.32) s = failed(s, id, new Date(now), 'QuotaExceeded');
        else s = succeeded(s, id, new Date(now));
      }
    }
    return { state: s, maxInFlight, starts, backoffViolations };
  }

  it('a 60-learner cohort under 429s and 500s drains, never exceeding the limit or starting during a back-off', () => {
    const { state, maxInFlight, backoffViolations } = simulate(42);
    expect(maxInFlight).toBeLessThanOrEqual(6);
    expect(state.stats.maxInFlight).toBeLessThanOrEqual(6);
    expect(backoffViolations).toBe(0);
    expect(state.succeeded.length + Object.keys(state.failed).length).toBe(60);
    expect(state.stats.throttled).toBeGreaterThan(0);
  });

  it('the same inputs give the same decisions, and a JSON round trip (custom status, continueAsNew) changes nothing', () => {
    const a = simulate(7);
    const b = simulate(7);
    const c = simulate(7, { roundTripEvery: 3 });
    expect(b.state).toEqual(a.state);
    expect(b.starts).toEqual(a.starts);
    expect(c.state).toEqual(a.state);
    expect(c.starts).toEqual(a.starts);
  });
});

describe('provisioning scheduler: withdrawn requests and stated bounds', () => {
  it('a withdrawn request leaves the line (the rest move up) and counts as neither succeeded nor failed', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, maxConcurrentDeployments: 1 }), learners(4)), T0).state;
    s = withdraw(s, 'learner-02');
    expect(queuePosition(s, 'learner-03')).toEqual({ status: 'queued', position: 1, ahead: 0 });
    expect(queuePosition(s, 'learner-02')).toEqual({ status: 'unknown' });
    expect(progress(s)).toEqual({ queued: 2, running: 1, retrying: 0, succeeded: 0, failed: 0 });
    expect(s.stats.withdrawn).toBe(1);
    expect(withdraw(s, 'learner-02')).toBe(s); // twice is once
  });

  it('a withdrawn slot holder frees its slot for the next in line, also while it waits to retry', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, maxConcurrentDeployments: 1 }), ['a', 'b', 'c']), T0).state;
    s = withdraw(s, 'a');
    let r = admit(s, at(1));
    expect(r.start).toEqual([{ id: 'b', attempt: 1 }]);
    s = retryLater(r.state, 'b', at(2), { retryAfterSeconds: 30 }).state;
    s = withdraw(s, 'b');
    r = admit(s, at(3));
    expect(r.start).toEqual([{ id: 'c', attempt: 1 }]);
    expect(isDrained(withdraw(r.state, 'c'))).toBe(true);
  });

  it('a Retry-After longer than retryMaxSeconds is cut to it, for the learner and for the subscription', () => {
    let s = admit(enqueue(createScheduler(T0, { ...roomy, retryMaxSeconds: 60 }), ['a']), T0).state;
    const r = retryLater(s, 'a', T0, { retryAfterSeconds: 3600, throttled: true });
    expect(r.retryAt).toEqual(at(60));
    s = r.state;
    expect(s.backoffUntil).toBe(at(60).getTime());
    expect(admit(s, at(60)).start).toEqual([{ id: 'a', attempt: 2 }]);
  });

  it('every transient failure is retried or refused within retryBoundMs, whatever ARM answers (seeded runs)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = prng(seed);
      const config: Partial<SchedulerConfig> = { maxConcurrentDeployments: 1 + Math.floor(r() * 4), maxAttempts: 2 + Math.floor(r() * 4), retryBaseSeconds: 1, retryMaxSeconds: 1 + Math.floor(r() * 5), writeBucketCapacity: 60, writeRefillPerSecond: 10, writesPerAttempt: 20 };
      let s = enqueue(createScheduler(T0, config), learners(8));
      const bound = retryBoundMs(s.config);
      const running = new Map<string, number>(); // id -> finishes at (ms)
      const failedAt = new Map<string, number>();
      for (let t = T0.getTime(); t < T0.getTime() + 3_600_000 && !isDrained(s); t += 100) {
        for (const [id, end] of [...running]) {
          if (end > t) continue;
          running.delete(id);
          const roll = r();
          if (roll < 0.5) {
            const rl = retryLater(s, id, new Date(t), { throttled: roll < 0.35, retryAfterSeconds: roll < 0.2 ? 1 + Math.floor(r() * 600) : undefined });
            s = rl.state;
            if (!rl.gaveUp) failedAt.set(id, t);
          } else s = succeeded(s, id, new Date(t));
        }
        const a = admit(s, new Date(t));
        s = a.state;
        for (const x of a.start) {
          const since = failedAt.get(x.id);
          if (since !== undefined) expect({ seed, id: x.id, waitedMs: t - since }).toEqual({ seed, id: x.id, waitedMs: expect.toSatisfy((ms: number) => ms <= bound) });
          failedAt.delete(x.id);
          running.set(x.id, t + 100 + Math.floor(r() * 2_000));
        }
      }
      expect({ seed, drained: isDrained(s) }).toEqual({ seed, drained: true });
      expect(failedAt.size).toBe(0);
    }
  });
});
