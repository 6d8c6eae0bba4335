import { TableClient, odata } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteHandle } from '../../local/azurite';
import { SqliteTable, type TablePort } from '../../storage/tables';
import { openTestDatabase } from '../helpers/database';

/**
 * The app-tables port, run against both adapters: the embedded store's SqliteTable and the Azure SDK's own
 * TableClient on Azurite. Every assertion holds on both, so the embedded store behaves as Azure Tables does
 * where the app relies on it (ETags, 404/409/412, Merge vs Replace, filters, transactions, limits) and is
 * never the more permissive of the two.
 */
let azurite: AzuriteHandle;
let db: ReturnType<typeof openTestDatabase>;
beforeAll(async () => {
  azurite = await startAzurite();
  db = openTestDatabase();
});
afterAll(async () => {
  await azurite?.stop();
  await db?.dispose();
});

const adapters: Array<[string, (name: string) => TablePort]> = [
  ['sqlite', (name) => new SqliteTable(db.database, name)],
  ['azure (Azurite)', (name) => TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true })],
];

const status = async (p: Promise<unknown>): Promise<number> => {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as { statusCode?: number }).statusCode ?? -1;
  }
};

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe.each(adapters)('table port on %s', (_name, open) => {
  const fresh = async (): Promise<TablePort> => {
    const t = open(`T${randomUUID().replace(/-/g, '').slice(0, 12)}`);
    await t.createTable();
    return t;
  };

  it('a table must exist before it is written; createTable twice is fine', async () => {
    const t = open(`T${randomUUID().replace(/-/g, '').slice(0, 12)}`);
    expect(await status(t.createEntity({ partitionKey: 'p', rowKey: 'r' }))).toBe(404);
    await t.createTable();
    await t.createTable();
    expect(await status(t.createEntity({ partitionKey: 'p', rowKey: 'r' }))).toBe(200);
  });

  it('create, read, conflict, not found; types round-trip (string, number, boolean, Date)', async () => {
    const t = await fresh();
    const at = new Date('2026-12-03T10:00:00.123Z');
    await t.createEntity({ partitionKey: 'run-1', rowKey: 'ada', Name: 'Ada', Count: 3, Ratio: 0.5, Done: true, At: at });
    expect(await status(t.createEntity({ partitionKey: 'run-1', rowKey: 'ada' }))).toBe(409);
    const got = await t.getEntity<Record<string, unknown>>('run-1', 'ada');
    expect(got).toMatchObject({ partitionKey: 'run-1', rowKey: 'ada', Name: 'Ada', Count: 3, Ratio: 0.5, Done: true });
    expect(got.At).toBeInstanceOf(Date);
    expect((got.At as Date).toISOString()).toBe(at.toISOString());
    expect(typeof got.etag).toBe('string');
    expect(await status(t.getEntity('run-1', 'nobody'))).toBe(404);
  });

  it('optimistic concurrency: an update or delete with a stale ETag is 412 and changes nothing', async () => {
    const t = await fresh();
    await t.createEntity({ partitionKey: 'p', rowKey: 'r', V: 1 });
    const first = await t.getEntity('p', 'r');
    await t.updateEntity({ partitionKey: 'p', rowKey: 'r', V: 2 }, 'Merge', { etag: first.etag });
    expect(await status(t.updateEntity({ partitionKey: 'p', rowKey: 'r', V: 3 }, 'Merge', { etag: first.etag }))).toBe(412);
    expect(await status(t.deleteEntity('p', 'r', { etag: first.etag }))).toBe(412);
    expect((await t.getEntity<{ V: number }>('p', 'r')).V).toBe(2);
    expect(await status(t.updateEntity({ partitionKey: 'p', rowKey: 'missing', V: 1 }, 'Merge'))).toBe(404);
    const now = await t.getEntity('p', 'r');
    await t.deleteEntity('p', 'r', { etag: now.etag });
    expect(await status(t.getEntity('p', 'r'))).toBe(404);
    expect(await status(t.deleteEntity('p', 'r'))).toBe(404);
  });

  it('Merge keeps the properties it was not given; Replace drops them; upsert creates', async () => {
    const t = await fresh();
    await t.upsertEntity({ partitionKey: 'p', rowKey: 'r', A: 'a', B: 'b' }, 'Replace');
    await t.upsertEntity({ partitionKey: 'p', rowKey: 'r', B: 'b2' }, 'Merge');
    expect(await t.getEntity('p', 'r')).toMatchObject({ A: 'a', B: 'b2' });
    await t.updateEntity({ partitionKey: 'p', rowKey: 'r', C: 'c' }, 'Replace');
    const replaced = await t.getEntity<Record<string, unknown>>('p', 'r');
    expect(replaced.C).toBe('c');
    expect(replaced.A).toBeUndefined();
  });

  it('filters: partition, property equality, and/or/not, ranges, datetime; results in key order', async () => {
    const t = await fresh();
    const base = Date.parse('2026-12-03T10:00:00Z');
    for (const [pk, rk, status, n] of [
      ['run-b', '2', 'pending', 2],
      ['run-a', '1', 'sent', 1],
      ['run-b', '1', 'pending', 1],
      ['run-c', '1', "it's", 3],
    ] as const) {
      await t.createEntity({ partitionKey: pk, rowKey: rk, Status: status, N: n, At: new Date(base + n * 60_000) });
    }
    const keys = async (filter?: string) => (await all(t.listEntities(filter ? { queryOptions: { filter } } : {}))).map((e) => `${e.partitionKey}/${e.rowKey}`);
    expect(await keys()).toEqual(['run-a/1', 'run-b/1', 'run-b/2', 'run-c/1']);
    expect(await keys(odata`PartitionKey eq ${'run-b'}`)).toEqual(['run-b/1', 'run-b/2']);
    expect(await keys(`Status eq 'pending'`)).toEqual(['run-b/1', 'run-b/2']);
    expect(await keys(odata`Status eq ${"it's"}`)).toEqual(['run-c/1']);
    expect(await keys(`PartitionKey eq 'run-b' and N ge 2`)).toEqual(['run-b/2']);
    expect(await keys(`(Status eq 'sent' or N eq 3) and not (PartitionKey eq 'run-a')`)).toEqual(['run-c/1']);
    expect(await keys(`PartitionKey ge 'run-b' and PartitionKey lt 'run-c'`)).toEqual(['run-b/1', 'run-b/2']);
    expect(await keys(odata`At gt ${new Date(base + 90_000)}`)).toEqual(['run-b/2', 'run-c/1']);
    expect(await keys(`Missing eq 'x'`)).toEqual([]);
    // A number never equals a string: no type coercion.
    expect(await keys(`N eq '1'`)).toEqual([]);
  });

  it('a transaction is all or nothing, on one partition, at most 100 actions', async () => {
    const t = await fresh();
    await t.createEntity({ partitionKey: 'p', rowKey: 'taken' });
    expect(
      await status(
        t.submitTransaction([
          ['create', { partitionKey: 'p', rowKey: 'new-1' }],
          ['create', { partitionKey: 'p', rowKey: 'taken' }],
        ]),
      ),
    ).toBe(409);
    expect(await status(t.getEntity('p', 'new-1'))).toBe(404);
    // Across partitions: the SDK refuses it before sending (no status), the embedded store with the service's 400.
    expect(await status(t.submitTransaction([['create', { partitionKey: 'p', rowKey: 'x' }], ['create', { partitionKey: 'q', rowKey: 'y' }]]))).not.toBe(200);
    expect(await status(t.getEntity('p', 'x'))).toBe(404);
    const many = Array.from({ length: 101 }, (_, i) => ['upsert', { partitionKey: 'p', rowKey: `m${i}` }] as ['upsert', { partitionKey: string; rowKey: string }]);
    expect(await status(t.submitTransaction(many))).toBe(400);
    await t.submitTransaction(many.slice(0, 100));
    expect((await all(t.listEntities({ queryOptions: { filter: `PartitionKey eq 'p'` } }))).length).toBe(102 - 1);
  });

  it("refuses what Azure Tables refuses: a string property over 32K characters, a key with '/'", async () => {
    const t = await fresh();
    expect(await status(t.createEntity({ partitionKey: 'p', rowKey: 'big', Text: 'x'.repeat(32 * 1024 + 1) }))).toBe(400);
    expect(await status(t.createEntity({ partitionKey: 'p', rowKey: 'a/b' }))).toBe(400);
    expect(await status(t.getEntity('p', 'big'))).toBe(404);
  });
});
