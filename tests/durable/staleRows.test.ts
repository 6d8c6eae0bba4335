import type * as df from 'durable-functions';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startAzurite, type AzuriteHandle } from '../../local/azurite';
import type { FunctionDef } from '../../local/durable/functions';
import { eventTypes, raise, startInstance, startStack, waitFor } from '../helpers/stack';
import { EventType, type HistoryEvent } from '../../local/durable/history';
import { DurableStore, seqKey } from '../../local/durable/store';

/**
 * Regression test (found by the 80-learner historyBound run): after continue-as-new the new execution
 * overwrites the history rows from 0 and the old execution's longer tail is deleted afterwards, in the
 * background. A cohort that continues as new often appends its next rows — the same row keys — before
 * that cleanup runs; deleting by key alone then removed the new execution's rows, leaving holes in its
 * history ("Cannot read properties of undefined (reading 'EventType')" on the next load). The same
 * happened across a restart, when the stopped host's cleanup ran after the new host had moved on. Now a
 * stale row is deleted only as it was read (ETag), and the tail of a replaced execution only while it is
 * still that execution's.
 */
let azurite: AzuriteHandle;
let store: DurableStore;
beforeAll(async () => {
  azurite = await startAzurite();
  store = new DurableStore(azurite.connectionString, `Stale${process.pid}`);
  await store.init();
});
afterAll(async () => {
  await azurite?.stop();
});

const ev = (name: string, i: number): HistoryEvent => ({ EventType: EventType.EventRaised, EventId: -1, Timestamp: new Date(Date.UTC(2026, 10, 26, 10, 0, i)).toISOString(), Name: name, Input: JSON.stringify({ i }) });

it("the cleanup of a replaced execution's rows leaves the rows its successor wrote in between", async () => {
  const id = 'stale-1';
  // Execution A: six rows.
  let etag = await store.commitEpisode({ instanceId: id, executionId: 'A', from: 0, events: [0, 1, 2, 3, 4, 5].map((i) => ev('a', i)), consumedInbox: [] });
  // Continue-as-new: execution B starts over at row 0 with two rows; rows 2..5 of A are now stale.
  etag = await store.commitEpisode({ instanceId: id, executionId: 'B', from: 0, events: [ev('b', 0), ev('b', 1)], consumedInbox: [], sentinelEtag: etag });
  const staleKeys = [2, 3, 4, 5].map(seqKey);
  // B's next episode lands before the cleanup runs: rows 2 and 3 are B's now.
  await store.commitEpisode({ instanceId: id, executionId: 'B', from: 2, events: [ev('b', 2), ev('b', 3)], consumedInbox: [], sentinelEtag: etag });

  await store.deleteStaleRows(id, staleKeys, 'A');

  const part = await store.loadPartition(id);
  expect(part.sentinel?.historyCount).toBe(4);
  expect(part.history).toHaveLength(4);
  expect(part.history.map((e) => `${e.Name}${JSON.parse(e.Input!).i}`)).toEqual(['b0', 'b1', 'b2', 'b3']);
  // A's tail beyond B's history is gone.
  expect(part.staleRows).toEqual([]);
});

it('rows a loader found stale are left alone if they were written again before its cleanup ran', async () => {
  const id = 'stale-2';
  let etag = await store.commitEpisode({ instanceId: id, executionId: 'A', from: 0, events: [0, 1, 2, 3].map((i) => ev('a', i)), consumedInbox: [] });
  etag = await store.commitEpisode({ instanceId: id, executionId: 'B', from: 0, events: [ev('b', 0)], consumedInbox: [], sentinelEtag: etag });
  const loaded = await store.loadPartition(id);
  expect(loaded.staleRows.map((r) => r.rowKey)).toEqual([1, 2, 3].map(seqKey));
  // Another host (after a restart) goes on with B before this loader's cleanup runs.
  await store.commitEpisode({ instanceId: id, executionId: 'B', from: 1, events: [ev('b', 1), ev('b', 2)], consumedInbox: [], sentinelEtag: etag });
  await store.deleteRowsAsRead(id, loaded.staleRows);
  const part = await store.loadPartition(id);
  expect(part.torn).toBe(false);
  expect(part.history.map((e) => `${e.Name}${JSON.parse(e.Input!).i}`)).toEqual(['b0', 'b1', 'b2']);
  expect(part.staleRows).toEqual([]);
});

/**
 * A continue-as-new commit too large for one transaction writes the new execution's rows first and moves
 * the sentinel last. Cut short in between (a host stopped, a crash), the old execution's rows are partly
 * overwritten while the sentinel still counts them: a torn history, which the restarted host used to fail
 * on ("Cannot read properties of undefined (reading 'EventType')", seen in tests/teams/restart). The next
 * execution's start message is still in the inbox, so the host starts that execution again.
 */
it('a host restarted on a history torn by an interrupted continue-as-new starts the next execution again', async () => {
  const functions: FunctionDef[] = [
    {
      kind: 'orchestration',
      name: 'countThenWait',
      handler: function* (ctx: df.OrchestrationContext): Generator<df.Task, unknown, unknown> {
        const n = ctx.df.getInput() as number;
        if (n < 3) {
          ctx.df.continueAsNew(n + 1);
          return undefined;
        }
        const go = (yield ctx.df.waitForExternalEvent('go')) as string;
        return `${go} at ${n}`;
      },
    },
  ];
  const stack = await startStack(functions, { hubName: `Torn${process.pid}` });
  try {
    const id = await startInstance(stack.api, 'countThenWait', 0, 'torn-1');
    await waitFor(stack.api, id, (s) => s.runtimeStatus === 'Running' && eventTypes(s).includes('EventRaised') === false && (s.input as number) === 3);
    await stack.host.close();

    // Tear it: the next execution (input 3 again) begun overwriting rows 0 and 1, sentinel not yet moved.
    const store = new DurableStore(stack.azurite.connectionString, `Torn${process.pid}`);
    const before = await store.loadPartition(id);
    expect(before.torn).toBe(false);
    const next = 'nextexecution0000000000000000000';
    const start: HistoryEvent = { EventType: EventType.ExecutionStarted, EventId: -1, Timestamp: new Date().toISOString(), Name: 'countThenWait', Input: '3' };
    await store.putInbox(id, [{ key: `start-${next}`, seq: Date.now() * 1000, executionId: next, event: start }]);
    for (const i of [0, 1]) await store.history.upsertEntity({ partitionKey: id, rowKey: seqKey(i), ExecutionId: next, EventType: 'OrchestratorStarted', EventId: -1, _Timestamp: new Date() }, 'Replace');
    expect((await store.loadPartition(id)).torn).toBe(true);

    await stack.restart();
    const running = await waitFor(stack.api, id, ['Running']);
    expect(running.input).toBe(3);
    expect(await raise(stack.api, id, 'go', 'go')).toBe(202);
    expect((await waitFor(stack.api, id, ['Completed'])).output).toBe('go at 3');
    await stack.host.close(); // lets the background cleanup finish
    const after = await store.loadPartition(id);
    expect(after.torn).toBe(false);
    expect(after.history.map((e) => EventType[e.EventType])).toContain('ExecutionStarted');
  } finally {
    await stack.stop();
  }
});

it('an instance whose history cannot be read does not stop the host from recovering the others', async () => {
  const functions: FunctionDef[] = [
    {
      kind: 'orchestration',
      name: 'waitForGo',
      handler: function* (ctx: df.OrchestrationContext): Generator<df.Task, unknown, unknown> {
        return `${(yield ctx.df.waitForExternalEvent('go')) as string}`;
      },
    },
  ];
  const hub = `Unreadable${process.pid}`;
  const stack = await startStack(functions, { hubName: hub });
  try {
    const broken = await startInstance(stack.api, 'waitForGo', null, 'broken-1');
    const healthy = await startInstance(stack.api, 'waitForGo', null, 'healthy-1');
    await waitFor(stack.api, broken, ['Running']);
    await waitFor(stack.api, healthy, ['Running']);
    await stack.host.close();
    // A row below the committed count is gone and there is no start message to rebuild from.
    const store = new DurableStore(stack.azurite.connectionString, hub);
    await store.history.deleteEntity(broken, seqKey(1));
    expect((await store.loadPartition(broken)).torn).toBe(true);

    await stack.restart();
    expect(await raise(stack.api, healthy, 'go', 'on')).toBe(202);
    expect((await waitFor(stack.api, healthy, ['Completed'])).output).toBe('on');
    const res = await fetch(`${stack.api}/instances/${broken}`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: string }).error).toMatch(/rows missing below its committed count/);
  } finally {
    await stack.stop();
  }
});
