import * as df from 'durable-functions';
import type { FunctionDef } from '../../local/durable/functions';

/**
 * Small orchestrations, one per durable feature, for the conformance tests. Activities record what
 * ran in `calls` so tests can count executions.
 */
export const calls: Array<{ name: string; input: unknown; at: number }> = [];
let flakyFailures = new Map<string, number>();
let running = 0;
export const concurrency = { max: 0 };

export function resetCounters(): void {
  calls.length = 0;
  flakyFailures = new Map();
  running = 0;
  concurrency.max = 0;
}

type Gen = Generator<df.Task, unknown, unknown>;

const orchestrations: Record<string, (ctx: df.OrchestrationContext) => Gen> = {
  *sequence(ctx) {
    const a = yield ctx.df.callActivity('greet', 'Tokyo');
    const b = yield ctx.df.callActivity('greet', 'Seattle');
    const c = yield ctx.df.callActivity('greet', ctx.df.getInput() as string);
    return [a, b, c];
  },
  *retrying(ctx) {
    const input = ctx.df.getInput() as { failTimes: number; attempts: number; firstMs: number; backoff?: number; maxMs?: number; timeoutMs?: number; key: string };
    const retry = new df.RetryOptions(input.firstMs, input.attempts);
    if (input.backoff) retry.backoffCoefficient = input.backoff;
    if (input.maxMs) retry.maxRetryIntervalInMilliseconds = input.maxMs;
    if (input.timeoutMs) retry.retryTimeoutInMilliseconds = input.timeoutMs;
    try {
      return { ok: yield ctx.df.callActivityWithRetry('flaky', retry, { key: input.key, failTimes: input.failTimes }) };
    } catch (err) {
      return { failed: (err as Error).message };
    }
  },
  *parent(ctx) {
    const one = yield ctx.df.callSubOrchestrator('child', { n: 1 });
    const two = yield ctx.df.callSubOrchestrator('child', { n: 2 }, `${ctx.df.instanceId}-explicit-child`);
    let failed: string | undefined;
    try {
      yield ctx.df.callSubOrchestratorWithRetry('failingChild', new df.RetryOptions(50, 2), { why: 'always' });
    } catch (err) {
      failed = (err as Error).message;
    }
    return { one, two, failed };
  },
  *child(ctx) {
    const { n } = ctx.df.getInput() as { n: number };
    return (yield ctx.df.callActivity('double', n)) as number;
  },
  *failingChild() {
    throw new Error('child refuses');
  },
  *timer(ctx) {
    const ms = ctx.df.getInput() as number;
    const start = ctx.df.currentUtcDateTime;
    yield ctx.df.createTimer(new Date(start.getTime() + ms));
    return { startedAt: start.toISOString(), resumedAt: ctx.df.currentUtcDateTime.toISOString() };
  },
  *approval(ctx) {
    const timeoutMs = (ctx.df.getInput() as number) ?? 60_000;
    const timer = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + timeoutMs));
    const approved = ctx.df.waitForExternalEvent('approve');
    const winner = yield ctx.df.Task.any([approved, timer]);
    if (winner === approved) {
      timer.cancel();
      return { approved: approved.result };
    }
    return { timedOut: true };
  },
  *lateWaiter(ctx) {
    // Works for a while first, so the event arrives before the wait begins.
    yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 600));
    const first = yield ctx.df.waitForExternalEvent('early');
    const second = yield ctx.df.waitForExternalEvent('early');
    return [first, second];
  },
  *fanOut(ctx) {
    const n = ctx.df.getInput() as number;
    const tasks = Array.from({ length: n }, (_, i) => ctx.df.callActivity('slowDouble', i));
    const all = (yield ctx.df.Task.all(tasks)) as number[];
    const any = (yield ctx.df.Task.any([ctx.df.callActivity('slowDouble', 100), ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 60_000))])) as df.Task;
    return { sum: all.reduce((a, b) => a + b, 0), anyResult: any.result };
  },
  *counter(ctx) {
    const state = (ctx.df.getInput() as { count: number; seen: unknown[] }) ?? { count: 0, seen: [] };
    ctx.df.setCustomStatus({ count: state.count });
    const value = yield ctx.df.waitForExternalEvent('add');
    const next = { count: state.count + 1, seen: [...state.seen, value] };
    if (next.count >= 3) return next;
    ctx.df.continueAsNew(next);
    return undefined;
  },
  *statusReporter(ctx) {
    ctx.df.setCustomStatus({ stage: 'waiting', progress: 0.5 });
    const go = yield ctx.df.waitForExternalEvent('go');
    ctx.df.setCustomStatus({ stage: 'done', progress: 1 });
    return go;
  },
  *longWait(ctx) {
    const ticks: unknown[] = [];
    for (;;) {
      const v = yield ctx.df.waitForExternalEvent('tick');
      if (v === 'stop') return ticks;
      ticks.push(v);
      yield ctx.df.callActivity('greet', String(v));
    }
  },
  *failOnce(ctx) {
    const key = ctx.df.getInput() as string;
    const a = yield ctx.df.callActivity('greet', 'before');
    const b = yield ctx.df.callActivity('failUntilFixed', key);
    return [a, b];
  },
  *nonDeterministic(ctx) {
    // Reads a flag outside the orchestration's inputs: what the determinism rules forbid.
    const first = nonDeterminismSwitch.value ? 'double' : 'greet';
    yield ctx.df.callActivity(first, 2);
    yield ctx.df.waitForExternalEvent('continue');
    return 'done';
  },
  *parallelActivities(ctx) {
    const n = ctx.df.getInput() as number;
    yield ctx.df.Task.all(Array.from({ length: n }, (_, i) => ctx.df.callActivity('tracked', i)));
    return n;
  },
  *big(ctx) {
    return ctx.df.getInput();
  },
};

export const nonDeterminismSwitch = { value: false };
export const fixed = new Set<string>();

const activities: Record<string, (input: unknown) => unknown> = {
  greet: (name) => {
    calls.push({ name: 'greet', input: name, at: Date.now() });
    return `Hello ${String(name)}!`;
  },
  double: (n) => {
    calls.push({ name: 'double', input: n, at: Date.now() });
    return (n as number) * 2;
  },
  slowDouble: async (n) => {
    calls.push({ name: 'slowDouble', input: n, at: Date.now() });
    await new Promise((r) => setTimeout(r, 20));
    return (n as number) * 2;
  },
  flaky: (raw) => {
    const { key, failTimes } = raw as { key: string; failTimes: number };
    calls.push({ name: 'flaky', input: raw, at: Date.now() });
    const failed = flakyFailures.get(key) ?? 0;
    if (failed < failTimes) {
      flakyFailures.set(key, failed + 1);
      throw new Error(`transient failure ${failed + 1} for ${key}`);
    }
    return `ok after ${failed} failure(s)`;
  },
  failUntilFixed: (key) => {
    calls.push({ name: 'failUntilFixed', input: key, at: Date.now() });
    if (!fixed.has(key as string)) throw new Error(`quota exceeded for ${String(key)}`);
    return 'deployed';
  },
  tracked: async (i) => {
    running++;
    concurrency.max = Math.max(concurrency.max, running);
    calls.push({ name: 'tracked', input: i, at: Date.now() });
    await new Promise((r) => setTimeout(r, 40));
    running--;
    return i;
  },
};

export const conformanceFunctions: FunctionDef[] = [
  ...Object.entries(orchestrations).map(([name, handler]): FunctionDef => ({ kind: 'orchestration', name, handler: handler as df.OrchestrationHandler })),
  ...Object.entries(activities).map(([name, handler]): FunctionDef => ({ kind: 'activity', name, handler })),
];
