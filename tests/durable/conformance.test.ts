import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventTypes, raise, startInstance, startStack, status, waitFor, type TestStack } from '../helpers/stack';
import { calls, conformanceFunctions, fixed, nonDeterminismSwitch, resetCounters } from './conformanceFunctions';

/**
 * One end-to-end test per durable feature of the local host: each runs a small orchestration through
 * the HTTP management API against Azurite and checks the output, the status transitions and the
 * history as the Durable Task history model records it.
 */
let stack: TestStack;
let api: string;

beforeAll(async () => {
  stack = await startStack(conformanceFunctions, { maxActivities: 4 });
  api = stack.api;
});
afterAll(async () => {
  await stack?.stop();
});
beforeEach(() => resetCounters());

describe('activities', () => {
  it('runs activities in sequence and records TaskScheduled/TaskCompleted pairs in order', async () => {
    const id = await startInstance(api, 'sequence', 'London');
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual(['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    expect(eventTypes(s)).toEqual(['ExecutionStarted', 'TaskScheduled', 'TaskCompleted', 'TaskScheduled', 'TaskCompleted', 'TaskScheduled', 'TaskCompleted', 'ExecutionCompleted']);
    const scheduled = s.historyEvents!.filter((e) => e.EventType === 'TaskScheduled');
    expect(scheduled.map((e) => [e.EventId, e.Name])).toEqual([
      [0, 'greet'],
      [1, 'greet'],
      [2, 'greet'],
    ]);
    const completed = s.historyEvents!.filter((e) => e.EventType === 'TaskCompleted');
    expect(completed.map((e) => e.TaskScheduledId)).toEqual([0, 1, 2]);
    expect(calls.filter((c) => c.name === 'greet')).toHaveLength(3);
  });
});

describe('callActivityWithRetry', () => {
  it('retries with firstRetryInterval and backoffCoefficient until the activity succeeds', async () => {
    const id = await startInstance(api, 'retrying', { failTimes: 2, attempts: 5, firstMs: 200, backoff: 2, key: 'r1' });
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual({ ok: 'ok after 2 failure(s)' });
    expect(eventTypes(s)).toEqual([
      'ExecutionStarted',
      'TaskScheduled',
      'TaskFailed',
      'TimerCreated',
      'TimerFired',
      'TaskScheduled',
      'TaskFailed',
      'TimerCreated',
      'TimerFired',
      'TaskScheduled',
      'TaskCompleted',
      'ExecutionCompleted',
    ]);
    // Delays: 200 ms after the first failure, 400 ms (x2 backoff) after the second. A retry timer is
    // created in the episode that sees the failure, so FireAt - that episode's time is the delay.
    const timers = s.historyEvents!.filter((e) => e.EventType === 'TimerCreated');
    const delay = (i: number) => new Date(timers[i].FireAt as string).getTime() - new Date(timers[i].Timestamp as string).getTime();
    expect([delay(0), delay(1)]).toEqual([200, 400]);
    expect(calls.filter((c) => c.name === 'flaky')).toHaveLength(3);
  });

  it('caps the delay at maxRetryInterval and gives up after maxNumberOfAttempts with the last error', async () => {
    const id = await startInstance(api, 'retrying', { failTimes: 10, attempts: 3, firstMs: 100, backoff: 10, maxMs: 150, key: 'r2' });
    const s = await waitFor(api, id, ['Completed']);
    expect(String((s.output as { failed: string }).failed)).toContain('transient failure 3 for r2');
    expect(calls.filter((c) => c.name === 'flaky')).toHaveLength(3);
    const timers = s.historyEvents!.filter((e) => e.EventType === 'TimerCreated');
    const delays = timers.map((t) => new Date(t.FireAt as string).getTime() - new Date(t.Timestamp as string).getTime());
    // 100 ms, then 100 * 10 = 1000 ms capped to 150 ms; DTFx also waits once more after the last attempt.
    expect(delays).toEqual([100, 150, 150]);
  });

  it('stops running attempts once retryTimeout has passed', async () => {
    const id = await startInstance(api, 'retrying', { failTimes: 100, attempts: 50, firstMs: 150, timeoutMs: 400, key: 'r3' });
    const s = await waitFor(api, id, ['Completed']);
    expect(String((s.output as { failed: string }).failed)).toMatch(/transient failure|Retry timeout/);
    const ran = calls.filter((c) => c.name === 'flaky').length;
    expect(ran).toBeGreaterThanOrEqual(2);
    expect(ran).toBeLessThanOrEqual(5); // far fewer than the 50 attempts allowed
  });
});

describe('sub-orchestrations', () => {
  it('runs children (generated and explicit ids), returns their output, and surfaces a child failure after retries', async () => {
    const id = await startInstance(api, 'parent');
    const s = await waitFor(api, id, ['Completed']);
    const out = s.output as { one: number; two: number; failed: string };
    expect(out.one).toBe(2);
    expect(out.two).toBe(4);
    expect(out.failed).toContain('child refuses');
    expect(eventTypes(s).filter((t) => t.startsWith('SubOrchestration'))).toEqual([
      'SubOrchestrationInstanceCreated',
      'SubOrchestrationInstanceCompleted',
      'SubOrchestrationInstanceCreated',
      'SubOrchestrationInstanceCompleted',
      'SubOrchestrationInstanceCreated',
      'SubOrchestrationInstanceFailed',
      'SubOrchestrationInstanceCreated',
      'SubOrchestrationInstanceFailed',
    ]);
    const explicit = await status(api, `${id}-explicit-child`);
    expect(explicit?.runtimeStatus).toBe('Completed');
    expect(explicit?.output).toBe(4);
    const created = s.historyEvents!.filter((e) => e.EventType === 'SubOrchestrationInstanceCreated');
    const failedChild = await status(api, created[2].InstanceId as string);
    expect(failedChild?.runtimeStatus).toBe('Failed');
  });
});

describe('durable timers', () => {
  it('resumes the orchestration no earlier than fireAt and records TimerCreated/TimerFired', async () => {
    const id = await startInstance(api, 'timer', 700);
    const running = await status(api, id);
    expect(['Pending', 'Running']).toContain(running?.runtimeStatus);
    const s = await waitFor(api, id, ['Completed']);
    const out = s.output as { startedAt: string; resumedAt: string };
    expect(new Date(out.resumedAt).getTime() - new Date(out.startedAt).getTime()).toBeGreaterThanOrEqual(700);
    expect(eventTypes(s)).toEqual(['ExecutionStarted', 'TimerCreated', 'TimerFired', 'ExecutionCompleted']);
    const created = s.historyEvents!.find((e) => e.EventType === 'TimerCreated')!;
    const fired = s.historyEvents!.find((e) => e.EventType === 'TimerFired')!;
    expect(fired.TimerId).toBe(created.EventId);
  });
});

describe('external events', () => {
  it('delivers a raised event to a waiting orchestration and cancels the racing timer (Task.any)', async () => {
    const id = await startInstance(api, 'approval', 60_000);
    await waitFor(api, id, ['Running']);
    expect(await raise(api, id, 'approve', { by: 'instructor-1' })).toBe(202);
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual({ approved: { by: 'instructor-1' } });
    expect(eventTypes(s)).toEqual(['ExecutionStarted', 'TimerCreated', 'EventRaised', 'ExecutionCompleted']);
    expect(s.historyEvents!.find((e) => e.EventType === 'EventRaised')!.Name).toBe('approve');
  });

  it('times out through the durable timer when nobody answers', async () => {
    const id = await startInstance(api, 'approval', 300);
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual({ timedOut: true });
  });

  it('keeps events that arrive before the orchestration waits for them, in order', async () => {
    const id = await startInstance(api, 'lateWaiter');
    await waitFor(api, id, ['Running']);
    expect(await raise(api, id, 'early', 1)).toBe(202);
    expect(await raise(api, id, 'early', 2)).toBe(202);
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual([1, 2]);
  });

  it('answers 404 for an unknown instance and 410 for a finished one, storing nothing', async () => {
    const res = await fetch(`${api}/instances/no-such-instance/raiseEvent/approve`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain('no-such-instance');
    expect(await status(api, 'no-such-instance')).toBeUndefined();

    const id = await startInstance(api, 'sequence', 'x');
    await waitFor(api, id, ['Completed']);
    const gone = await fetch(`${api}/instances/${id}/raiseEvent/approve`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(gone.status).toBe(410);
    const after = await status(api, id, true);
    expect(eventTypes(after!)).not.toContain('EventRaised');
  });

  it('treats a retried raise with the same Idempotency-Key as one event', async () => {
    const id = await startInstance(api, 'lateWaiter');
    await waitFor(api, id, ['Running']);
    expect(await raise(api, id, 'early', 'a', { 'Idempotency-Key': 'k-1' })).toBe(202);
    expect(await raise(api, id, 'early', 'a', { 'Idempotency-Key': 'k-1' })).toBe(202);
    // Retries racing each other (a client that timed out and resent while the first was in flight).
    const racing = await Promise.all([1, 2, 3].map(() => raise(api, id, 'early', 'b', { 'Idempotency-Key': 'k-2' })));
    expect(racing).toEqual([202, 202, 202]);
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual(['a', 'b']);
    expect(eventTypes(s).filter((t) => t === 'EventRaised')).toHaveLength(2);
  });
});

describe('Task.all and Task.any', () => {
  it('fans out, fans in, and takes the first of a race', async () => {
    const id = await startInstance(api, 'fanOut', 6);
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual({ sum: 30, anyResult: 200 });
    const scheduled = s.historyEvents!.filter((e) => e.EventType === 'TaskScheduled');
    expect(scheduled.slice(0, 6).map((e) => e.EventId)).toEqual([0, 1, 2, 3, 4, 5]);
    // The six were scheduled in one episode (one OrchestratorStarted before all of them).
    const types = s.historyEvents!.map((e) => e.EventType);
    const firstScheduled = types.indexOf('TaskScheduled');
    expect(types.slice(firstScheduled, firstScheduled + 6).every((t) => t === 'TaskScheduled')).toBe(true);
  });
});

describe('continueAsNew', () => {
  it('starts a fresh history per iteration and keeps events not yet processed', async () => {
    const id = await startInstance(api, 'counter', { count: 0, seen: [] });
    await waitFor(api, id, ['Running']);
    // Three events delivered in one episode (held back by a suspend): the first execution consumes
    // one and continues as new; the other two must be carried into the next executions.
    expect((await fetch(`${api}/instances/${id}/suspend`, { method: 'POST' })).status).toBe(202);
    await waitFor(api, id, ['Suspended']);
    for (const v of ['a', 'b', 'c']) expect(await raise(api, id, 'add', v)).toBe(202);
    expect((await fetch(`${api}/instances/${id}/resume`, { method: 'POST' })).status).toBe(202);
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual({ count: 3, seen: ['a', 'b', 'c'] });
    // Only the last execution is in the history.
    expect(eventTypes(s).filter((t) => t === 'ExecutionStarted')).toHaveLength(1);
    expect(s.historyEvents!.find((e) => e.EventType === 'ExecutionStarted')!.Input).toEqual({ count: 2, seen: ['a', 'b'] });
  });
});

describe('custom status', () => {
  it('publishes setCustomStatus through the status API while running and after completion', async () => {
    const id = await startInstance(api, 'statusReporter');
    const waiting = await waitFor(api, id, (s) => (s.customStatus as { stage?: string } | null)?.stage === 'waiting');
    expect(waiting.runtimeStatus).toBe('Running');
    expect(waiting.customStatus).toEqual({ stage: 'waiting', progress: 0.5 });
    await raise(api, id, 'go', 'now');
    const done = await waitFor(api, id, ['Completed']);
    expect(done.customStatus).toEqual({ stage: 'done', progress: 1 });
    expect(done.output).toBe('now');
  });
});

describe('terminate, suspend and resume', () => {
  it('suspends (events wait), resumes (events flow), terminates with a reason', async () => {
    const id = await startInstance(api, 'longWait');
    await waitFor(api, id, ['Running']);
    expect((await fetch(`${api}/instances/${id}/suspend?reason=lunch`, { method: 'POST' })).status).toBe(202);
    await waitFor(api, id, ['Suspended']);
    expect(await raise(api, id, 'tick', 1)).toBe(202);
    // A second suspend, queued after the event: once it is in the history, an episode ran with the event
    // in the inbox and held it back.
    expect((await fetch(`${api}/instances/${id}/suspend?reason=still%20lunch`, { method: 'POST' })).status).toBe(202);
    const held = await waitFor(api, id, (st) => eventTypes(st).filter((t) => t === 'ExecutionSuspended').length === 2);
    expect(eventTypes(held)).not.toContain('EventRaised');
    expect(calls.filter((c) => c.name === 'greet')).toHaveLength(0); // held while suspended
    expect((await fetch(`${api}/instances/${id}/resume?reason=back`, { method: 'POST' })).status).toBe(202);
    await waitFor(api, id, () => calls.some((c) => c.name === 'greet' && c.input === '1'));
    const running = await waitFor(api, id, ['Running']);
    expect(eventTypes(running)).toEqual(expect.arrayContaining(['ExecutionSuspended', 'ExecutionResumed', 'EventRaised']));

    expect((await fetch(`${api}/instances/${id}/terminate?reason=workshop%20ended`, { method: 'POST' })).status).toBe(202);
    const s = await waitFor(api, id, ['Terminated']);
    expect(s.output).toBe('workshop ended');
    expect(eventTypes(s).slice(-2)).toEqual(['ExecutionTerminated', 'ExecutionCompleted']);
    expect((await fetch(`${api}/instances/${id}/terminate`, { method: 'POST' })).status).toBe(410);
    expect(await raise(api, id, 'tick', 2)).toBe(410);
  });

  it('refuses to resume an instance that is not suspended', async () => {
    const id = await startInstance(api, 'longWait');
    await waitFor(api, id, ['Running']);
    const res = await fetch(`${api}/instances/${id}/resume`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toContain('not Suspended');
  });
});

describe('purge', () => {
  it('deletes a finished instance with its history rows, refuses a running one', async () => {
    const id = await startInstance(api, 'sequence', 'p');
    await waitFor(api, id, ['Completed']);
    const rowsOf = (instanceId: string): number =>
      stack.database.get<{ n: number }>('SELECT count(*) AS n FROM dt_history WHERE hub = ? AND instance_id = ?', stack.host.settings.hubName, instanceId)!.n;
    const rowsBefore = rowsOf(id);
    expect(rowsBefore).toBeGreaterThan(5);
    const res = await fetch(`${api}/instances/${id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ instancesDeleted: 1 });
    expect(await status(api, id)).toBeUndefined();
    expect(rowsOf(id)).toBe(0);
    expect((await fetch(`${api}/instances/${id}`, { method: 'DELETE' })).status).toBe(404);

    const live = await startInstance(api, 'longWait');
    await waitFor(api, live, ['Running']);
    const refused = await fetch(`${api}/instances/${live}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect((await status(api, live))?.runtimeStatus).toBe('Running');

    // Terminate then purge at once: the Instances row written for the termination must not come back.
    expect((await fetch(`${api}/instances/${live}/terminate?reason=done`, { method: 'POST' })).status).toBe(202);
    await waitFor(api, live, ['Terminated']);
    expect((await fetch(`${api}/instances/${live}`, { method: 'DELETE' })).status).toBe(200);
    // Nothing of the termination still in flight (episode, storage write) that could write the row again.
    await stack.host.engine.idle();
    expect(await status(api, live)).toBeUndefined();
    expect(rowsOf(live)).toBe(0);
  });
});

describe('rewind', () => {
  it('re-runs the failed activity of a failed instance without repeating completed ones', async () => {
    const key = `rw-${Date.now()}`;
    const id = await startInstance(api, 'failOnce', key);
    const failed = await waitFor(api, id, ['Failed']);
    expect(String(failed.output)).toContain(`quota exceeded for ${key}`);
    expect(calls.filter((c) => c.name === 'greet')).toHaveLength(1);
    expect((await fetch(`${api}/instances/${id}/rewind?reason=quota%20raised`, { method: 'POST' })).status).toBe(202);
    fixed.add(key);
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual(['Hello before!', 'deployed']);
    expect(calls.filter((c) => c.name === 'greet')).toHaveLength(1); // 'before' not repeated
    expect(calls.filter((c) => c.name === 'failUntilFixed')).toHaveLength(2);
    const running = await startInstance(api, 'longWait');
    await waitFor(api, running, ['Running']);
    expect((await fetch(`${api}/instances/${running}/rewind`, { method: 'POST' })).status).toBe(412);
  });
});

describe('queries', () => {
  it('lists instances by status, creation time and id prefix, with paging', async () => {
    const from = new Date();
    const prefix = `q-${Date.now()}-`;
    for (let i = 0; i < 5; i++) await startInstance(api, 'sequence', `q${i}`, `${prefix}${i}`);
    const waiting = await startInstance(api, 'longWait', undefined, `${prefix}waiting`);
    for (let i = 0; i < 5; i++) await waitFor(api, `${prefix}${i}`, ['Completed']);
    await waitFor(api, waiting, ['Running']);

    const byPrefix = (await (await fetch(`${api}/instances?instanceIdPrefix=${prefix}`)).json()) as Array<{ instanceId: string }>;
    expect(byPrefix.map((x) => x.instanceId).sort()).toEqual([...[0, 1, 2, 3, 4].map((i) => `${prefix}${i}`), `${prefix}waiting`].sort());

    const running = (await (await fetch(`${api}/instances?instanceIdPrefix=${prefix}&runtimeStatus=Running`)).json()) as Array<{ instanceId: string }>;
    expect(running.map((x) => x.instanceId)).toEqual([`${prefix}waiting`]);

    const recent = (await (await fetch(`${api}/instances?createdTimeFrom=${from.toISOString()}&runtimeStatus=Completed,Running`)).json()) as Array<{ instanceId: string }>;
    expect(recent.filter((x) => x.instanceId.startsWith(prefix))).toHaveLength(6);
    const future = (await (await fetch(`${api}/instances?createdTimeFrom=${new Date(Date.now() + 3_600_000).toISOString()}`)).json()) as unknown[];
    expect(future).toEqual([]);

    const seen: string[] = [];
    let token: string | null = null;
    do {
      const res: Response = await fetch(`${api}/instances?instanceIdPrefix=${prefix}&top=2`, { headers: token ? { 'x-ms-continuation-token': token } : {} });
      const page = (await res.json()) as Array<{ instanceId: string }>;
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((x) => x.instanceId));
      token = res.headers.get('x-ms-continuation-token');
    } while (token);
    expect(seen.sort()).toEqual(byPrefix.map((x) => x.instanceId).sort());

    const bad = await fetch(`${api}/instances?runtimeStatus=Sleeping`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('Sleeping');
  });
});

describe('non-determinism', () => {
  it('fails the instance with a message naming the mismatched task when the code changes under it', async () => {
    nonDeterminismSwitch.value = false;
    const id = await startInstance(api, 'nonDeterministic');
    await waitFor(api, id, (s) => eventTypes(s).includes('TaskCompleted'));
    nonDeterminismSwitch.value = true; // the "deployment" changes which activity runs first
    try {
      expect(await raise(api, id, 'continue')).toBe(202);
      const s = await waitFor(api, id, ['Failed']);
      expect(String(s.output)).toContain('Non-deterministic workflow detected');
      expect(String(s.output)).toContain('TaskScheduled "greet" with EventId 0');
      expect(String(s.output)).toContain('TaskScheduled "double"');
      expect(eventTypes(s).at(-1)).toBe('ExecutionFailed');
    } finally {
      nonDeterminismSwitch.value = false;
    }
  });
});

describe('restart recovery (in process)', () => {
  it('a new host on the same storage continues a waiting instance and fires its timer', async () => {
    const id = await startInstance(api, 'approval', 1500);
    await waitFor(api, id, ['Running']);
    const host = await stack.restart();
    api = stack.api;
    expect(host.url).toBeTruthy();
    const s = await waitFor(api, id, ['Completed']);
    expect(s.output).toEqual({ timedOut: true });
  });
});
