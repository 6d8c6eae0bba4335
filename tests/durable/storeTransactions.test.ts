import type * as df from 'durable-functions';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { EventType, type HistoryEvent } from '../../local/durable/history';
import { DurableStore } from '../../local/durable/store';
import { openTestDatabase } from '../helpers/database';
import { raise, startInstance, startStack, waitFor } from '../helpers/stack';

/**
 * The task hub's writes are transactions: an episode's history, the messages it consumed and produced and
 * the instance row change together or not at all. (The Table-storage host before needed sentinels, ETags and
 * a cleanup of stale rows to approximate this; the bugs that machinery had — torn histories, rows of a
 * replaced execution deleted after the next one rewrote them, an Instances row lagging a completion — have
 * no state to arise from here. These tests hold the property they relied on.)
 */
let db: ReturnType<typeof openTestDatabase>;
let store: DurableStore;
beforeAll(async () => {
  db = openTestDatabase();
  store = new DurableStore(db.database, `Tx${process.pid}`);
  await store.init();
});
afterAll(async () => {
  await db?.dispose();
});

const ev = (name: string, i: number): HistoryEvent => ({ EventType: EventType.EventRaised, EventId: -1, Timestamp: new Date(Date.UTC(2026, 10, 26, 10, 0, i)).toISOString(), Name: name, Input: JSON.stringify({ i }) });
const row = (id: string) => ({ instanceId: id, name: 'x', executionId: 'A', runtimeStatus: 'Pending' as const, createdTime: new Date(), lastUpdatedTime: new Date() });
const msg = (key: string, i: number) => ({ key, seq: i, event: ev(key, i) });
const update = (executionId: string) => ({ executionId, runtimeStatus: 'Running' as const, lastUpdatedTime: new Date() });

it('a new execution replaces the whole history in the same transaction that consumes its start message', async () => {
  const id = 'replace-1';
  await store.createInstance(row(id), msg('start-A', 1));
  await store.commitEpisode({ instanceId: id, executionId: 'A', from: 0, expectedCount: 0, events: [0, 1, 2, 3, 4, 5].map((i) => ev('a', i)), consumedInbox: ['start-A'], extraInbox: [msg('start-B', 2)], instance: update('A') });
  await store.commitEpisode({ instanceId: id, executionId: 'B', from: 0, expectedCount: 6, events: [ev('b', 0), ev('b', 1)], consumedInbox: ['start-B'], instance: update('B') });
  await store.commitEpisode({ instanceId: id, executionId: 'B', from: 2, expectedCount: 2, events: [ev('b', 2)], consumedInbox: [], instance: update('B') });
  const part = await store.loadPartition(id);
  expect(part.history.map((e) => e.Name)).toEqual(['b', 'b', 'b']);
  expect(part.inbox).toEqual([]);
  expect((await store.getInstance(id))?.executionId).toBe('B');
});

it('an episode that fails at its last write leaves no trace: history, inbox and row stay as they were', async () => {
  const id = 'atomic-1';
  await store.createInstance(row(id), msg('start-A', 1));
  await store.putInbox(id, [msg('evt-1', 2)]);
  await store.commitEpisode({ instanceId: id, executionId: 'A', from: 0, expectedCount: 0, events: [ev('a', 0)], consumedInbox: ['start-A'], instance: update('A') });
  const before = await store.loadPartition(id);
  // The instance row is updated last in an episode; without it the episode fails after writing history and deleting messages.
  await db.database.write(() => db.database.prepare('DELETE FROM dt_instances WHERE instance_id = ?').run(id));
  await expect(
    store.commitEpisode({ instanceId: id, executionId: 'A', from: 1, expectedCount: 1, events: [ev('a', 1), ev('a', 2)], consumedInbox: ['evt-1'], extraInbox: [msg('carry', 3)], instance: update('A') }),
  ).rejects.toThrow(/no instance row/);
  expect(await store.loadPartition(id)).toEqual(before);
  expect(before.inbox.map((m) => m.key)).toEqual(['evt-1']);
});

it('an episode built on a history that changed meanwhile (another engine wrote) is refused and writes nothing', async () => {
  const id = 'conflict-1';
  await store.createInstance(row(id), msg('start-A', 1));
  await store.putInbox(id, [msg('evt-1', 2)]);
  await store.commitEpisode({ instanceId: id, executionId: 'A', from: 0, expectedCount: 0, events: [ev('a', 0), ev('a', 1)], consumedInbox: ['start-A'], instance: update('A') });
  const before = await store.loadPartition(id);
  // A second writer that still believes the history is empty: its episode would overwrite the first one's.
  await expect(
    store.commitEpisode({ instanceId: id, executionId: 'A', from: 0, expectedCount: 0, events: [ev('stale', 0)], consumedInbox: ['evt-1'], instance: update('A') }),
  ).rejects.toThrow(/has 2 history events in the store, not the 0/);
  expect(await store.loadPartition(id)).toEqual(before);
});

it('an instance whose history cannot be read does not stop the host from recovering the others, and its status says why', async () => {
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
    // Damage one history row of one instance (as a disk fault or a hand edit might).
    await stack.database.write(() => stack.database.prepare("UPDATE dt_history SET event = '{not json' WHERE hub = ? AND instance_id = ? AND seq = 1").run(hub, broken));

    await stack.restart();
    expect(await raise(stack.api, healthy, 'go', 'on')).toBe(202);
    expect((await waitFor(stack.api, healthy, ['Completed'])).output).toBe('on');
    const res = await fetch(`${stack.api}/instances/${broken}`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: string }).error).toMatch(/history of instance "broken-1" cannot be read: event 1 is not valid JSON/);
  } finally {
    await stack.stop();
  }
});
