import type { TableEntity, TableEntityResult, TransactionAction, UpdateMode } from '@azure/data-tables';
import { evaluate, parseFilter, partitionBounds } from './odataFilter';
import type { SqliteDatabase } from './sqlite';

/**
 * The storage port of the app's own tables: the part of `@azure/data-tables`' `TableClient` the app uses, with
 * Azure Table storage's semantics (ETags, 404/409/412, Merge vs Replace, OData filters, one-partition
 * transactions). Two adapters: `TableClient` itself (Azure, and Azurite in the suite) and `SqliteTable` (the
 * embedded store). Errors carry the service's `statusCode` and `code`, which is what callers branch on.
 */
export interface TablePort {
  readonly tableName: string;
  /** Names the store and table (caches of "this table exists" key on it). */
  readonly url: string;
  createTable(): Promise<void>;
  createEntity<T extends object>(entity: TableEntity<T>): Promise<{ etag?: string }>;
  getEntity<T extends object = Record<string, unknown>>(partitionKey: string, rowKey: string): Promise<TableEntityResult<T>>;
  upsertEntity<T extends object>(entity: TableEntity<T>, mode?: UpdateMode): Promise<{ etag?: string }>;
  updateEntity<T extends object>(entity: TableEntity<T>, mode?: UpdateMode, options?: { etag?: string }): Promise<{ etag?: string }>;
  deleteEntity(partitionKey: string, rowKey: string, options?: { etag?: string }): Promise<unknown>;
  listEntities<T extends object = Record<string, unknown>>(options?: { queryOptions?: { filter?: string; select?: string[] } }): AsyncIterable<TableEntityResult<T>>;
  submitTransaction(actions: TransactionAction[]): Promise<unknown>;
}

/** An error in the shape of the service's (RestError: statusCode + code). */
export class TableError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'RestError';
  }
}

/** Azure Table storage's limits, enforced so the embedded store is never more permissive than the service. */
export const TABLE_LIMITS = {
  /** A string property: 64 KiB of UTF-16. */
  maxStringChars: 32 * 1024,
  /** PartitionKey / RowKey: 1 KiB of UTF-16. */
  maxKeyChars: 512,
  /** An entity, with its keys and property names. */
  maxEntityBytes: 1024 * 1024,
  /** Custom properties (255 with PartitionKey, RowKey and Timestamp). */
  maxProperties: 252,
  maxBatch: 100,
} as const;

const SYSTEM = new Set(['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.etag', 'odata.metadata']);
const FORBIDDEN_KEY_CHARS = /[/\\#?\u0000-\u001f\u007f-\u009f]/;
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

type Stored = Record<string, unknown>;

/** JSON for a stored entity's properties: Dates are tagged so they come back as Dates. */
function encodeProps(props: Stored): string {
  return JSON.stringify(props, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { $d: raw.toISOString() } : value;
  });
}

function decodeProps(json: string): Stored {
  return JSON.parse(json, (_k, v: unknown) => (v && typeof v === 'object' && '$d' in v && Object.keys(v).length === 1 ? new Date((v as { $d: string }).$d) : v)) as Stored;
}

function checkKey(name: 'PartitionKey' | 'RowKey', v: unknown): string {
  if (typeof v !== 'string') throw new TableError(400, 'PropertiesNeedValue', `${name} must be a string.`);
  if (v.length > TABLE_LIMITS.maxKeyChars) throw new TableError(400, 'KeyValueTooLarge', `${name} is ${v.length} characters; at most ${TABLE_LIMITS.maxKeyChars}.`);
  if (FORBIDDEN_KEY_CHARS.test(v)) throw new TableError(400, 'InvalidInput', `${name} ${JSON.stringify(v.slice(0, 80))} contains a character Table storage does not allow (/ \\ # ? or a control character).`);
  return v;
}

/** The properties of an entity as stored (no system properties, no undefined/null), checked against the service's limits. */
function propsOf(entity: Record<string, unknown>): Stored {
  const out: Stored = {};
  let bytes = 4 + String(entity.partitionKey).length * 2 + String(entity.rowKey).length * 2;
  let count = 0;
  for (const [k, v] of Object.entries(entity)) {
    if (SYSTEM.has(k) || v === undefined || v === null) continue;
    if (!PROPERTY_NAME.test(k)) throw new TableError(400, 'PropertyNameInvalid', `Property name ${JSON.stringify(k)} is not valid in Table storage.`);
    let size: number;
    if (typeof v === 'string') {
      if (v.length > TABLE_LIMITS.maxStringChars) throw new TableError(400, 'PropertyValueTooLarge', `Property ${k} is ${v.length} characters; a string property holds at most ${TABLE_LIMITS.maxStringChars}.`);
      size = 4 + v.length * 2;
    } else if (typeof v === 'number' || typeof v === 'boolean' || v instanceof Date) {
      size = 8;
    } else {
      throw new TableError(400, 'InvalidInput', `Property ${k} has a value of a type this store does not keep (${typeof v}).`);
    }
    bytes += 8 + k.length * 2 + size;
    count++;
    out[k] = v;
  }
  if (count > TABLE_LIMITS.maxProperties) throw new TableError(400, 'TooManyProperties', `The entity has ${count} properties; at most ${TABLE_LIMITS.maxProperties}.`);
  if (bytes > TABLE_LIMITS.maxEntityBytes) throw new TableError(413, 'EntityTooLarge', `The entity is about ${bytes} bytes; at most ${TABLE_LIMITS.maxEntityBytes}.`);
  return out;
}

interface Row {
  pk: string;
  rk: string;
  props: string;
  etag: number;
  ts: string;
}

function etagString(n: number, ts: string): string {
  return `W/"datetime'${encodeURIComponent(ts)}'-${n}"`;
}

function toResult<T>(r: Row, select?: string[]): TableEntityResult<T> {
  const props = decodeProps(r.props);
  const picked = select ? Object.fromEntries(select.filter((k) => k in props).map((k) => [k, props[k]])) : props;
  return { ...picked, partitionKey: r.pk, rowKey: r.rk, etag: etagString(r.etag, r.ts), timestamp: r.ts } as unknown as TableEntityResult<T>;
}

/** One table of the embedded store, with Azure Table storage's semantics and limits. */
export class SqliteTable implements TablePort {
  private readonly database: () => SqliteDatabase;
  constructor(
    database: SqliteDatabase | (() => SqliteDatabase),
    readonly tableName: string,
  ) {
    // A getter lets a client outlive a restart of the store in the same process (clients are cached by their users).
    this.database = typeof database === 'function' ? database : () => database;
    if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(tableName)) throw new TableError(400, 'InvalidResourceName', `Table name ${JSON.stringify(tableName)} is not valid: 3-63 letters or digits, starting with a letter.`);
  }

  async createTable(): Promise<void> {
    // As TableClient.createTable: an existing table is not an error.
    await this.store().write(() => this.store().prepare('INSERT OR IGNORE INTO app_tables (name) VALUES (?)').run(this.tableName));
  }

  private store(): SqliteDatabase {
    return this.database();
  }

  get url(): string {
    return `sqlite:${this.store().file}#${this.tableName}`;
  }

  private requireTable(): void {
    if (!this.store().get('SELECT 1 AS x FROM app_tables WHERE name = ?', this.tableName)) {
      throw new TableError(404, 'TableNotFound', `The table ${this.tableName} does not exist (createTable first).`);
    }
  }

  private read(pk: string, rk: string): Row | undefined {
    return this.store().get<Row>('SELECT pk, rk, props, etag, ts FROM app_entities WHERE tbl = ? AND pk = ? AND rk = ?', this.tableName, pk, rk);
  }

  private put(pk: string, rk: string, props: Stored, previous: Row | undefined): string {
    const etag = (previous?.etag ?? 0) + 1;
    const ts = new Date().toISOString();
    this.store()
      .prepare('INSERT INTO app_entities (tbl, pk, rk, props, etag, ts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, pk, rk) DO UPDATE SET props = excluded.props, etag = excluded.etag, ts = excluded.ts')
      .run(this.tableName, pk, rk, encodeProps(props), etag, ts);
    return etagString(etag, ts);
  }

  /** The synchronous body of each write, so a transaction can run several in one database transaction. */
  private doCreate(entity: Record<string, unknown>): string {
    this.requireTable();
    const pk = checkKey('PartitionKey', entity.partitionKey);
    const rk = checkKey('RowKey', entity.rowKey);
    const props = propsOf(entity);
    if (this.read(pk, rk)) throw new TableError(409, 'EntityAlreadyExists', `The entity (${pk}, ${rk}) already exists in ${this.tableName}.`);
    return this.put(pk, rk, props, undefined);
  }

  private doUpsert(entity: Record<string, unknown>, mode: UpdateMode): string {
    this.requireTable();
    const pk = checkKey('PartitionKey', entity.partitionKey);
    const rk = checkKey('RowKey', entity.rowKey);
    const props = propsOf(entity);
    const previous = this.read(pk, rk);
    const merged = mode === 'Merge' && previous ? { ...decodeProps(previous.props), ...props } : props;
    return this.put(pk, rk, propsOf({ ...merged, partitionKey: pk, rowKey: rk }), previous);
  }

  private doUpdate(entity: Record<string, unknown>, mode: UpdateMode, etag: string | undefined): string {
    this.requireTable();
    const pk = checkKey('PartitionKey', entity.partitionKey);
    const rk = checkKey('RowKey', entity.rowKey);
    const props = propsOf(entity);
    const previous = this.read(pk, rk);
    if (!previous) throw new TableError(404, 'ResourceNotFound', `The entity (${pk}, ${rk}) does not exist in ${this.tableName}.`);
    if (etag && etag !== '*' && etag !== etagString(previous.etag, previous.ts)) {
      throw new TableError(412, 'UpdateConditionNotSatisfied', `The entity (${pk}, ${rk}) in ${this.tableName} has changed since it was read (ETag mismatch).`);
    }
    const merged = mode === 'Merge' ? { ...decodeProps(previous.props), ...props } : props;
    return this.put(pk, rk, propsOf({ ...merged, partitionKey: pk, rowKey: rk }), previous);
  }

  private doDelete(pk: string, rk: string, etag: string | undefined): void {
    this.requireTable();
    const previous = this.read(pk, rk);
    if (!previous) throw new TableError(404, 'ResourceNotFound', `The entity (${pk}, ${rk}) does not exist in ${this.tableName}.`);
    if (etag && etag !== '*' && etag !== etagString(previous.etag, previous.ts)) {
      throw new TableError(412, 'UpdateConditionNotSatisfied', `The entity (${pk}, ${rk}) in ${this.tableName} has changed since it was read (ETag mismatch).`);
    }
    this.store().prepare('DELETE FROM app_entities WHERE tbl = ? AND pk = ? AND rk = ?').run(this.tableName, pk, rk);
  }

  async createEntity<T extends object>(entity: TableEntity<T>): Promise<{ etag?: string }> {
    const etag = await this.store().write(() => this.doCreate(entity as Record<string, unknown>));
    return { etag };
  }

  async getEntity<T extends object = Record<string, unknown>>(partitionKey: string, rowKey: string): Promise<TableEntityResult<T>> {
    this.requireTable();
    const row = this.read(partitionKey, rowKey);
    if (!row) throw new TableError(404, 'ResourceNotFound', `The entity (${partitionKey}, ${rowKey}) does not exist in ${this.tableName}.`);
    return toResult<T>(row);
  }

  async upsertEntity<T extends object>(entity: TableEntity<T>, mode: UpdateMode = 'Merge'): Promise<{ etag?: string }> {
    const etag = await this.store().write(() => this.doUpsert(entity as Record<string, unknown>, mode));
    return { etag };
  }

  async updateEntity<T extends object>(entity: TableEntity<T>, mode: UpdateMode = 'Merge', options: { etag?: string } = {}): Promise<{ etag?: string }> {
    const etag = await this.store().write(() => this.doUpdate(entity as Record<string, unknown>, mode, options.etag));
    return { etag };
  }

  async deleteEntity(partitionKey: string, rowKey: string, options: { etag?: string } = {}): Promise<unknown> {
    await this.store().write(() => this.doDelete(partitionKey, rowKey, options.etag));
    return {};
  }

  async *listEntities<T extends object = Record<string, unknown>>(options: { queryOptions?: { filter?: string; select?: string[] } } = {}): AsyncIterable<TableEntityResult<T>> {
    this.requireTable();
    const filter = options.queryOptions?.filter;
    const tree = filter ? parseFilter(filter) : undefined;
    const bounds = tree ? partitionBounds(tree) : {};
    const where = ['tbl = ?'];
    const params: string[] = [this.tableName];
    if (bounds.eq !== undefined) {
      where.push('pk = ?');
      params.push(bounds.eq);
    }
    if (bounds.lower) {
      where.push(`pk ${bounds.lower.inclusive ? '>=' : '>'} ?`);
      params.push(bounds.lower.v);
    }
    if (bounds.upper) {
      where.push(`pk ${bounds.upper.inclusive ? '<=' : '<'} ?`);
      params.push(bounds.upper.v);
    }
    // Pages of 1,000 as the service returns them, so a long scan neither loads everything nor holds the loop.
    let after: [string, string] | undefined;
    for (;;) {
      const page = this.store().all<Row>(
        `SELECT pk, rk, props, etag, ts FROM app_entities WHERE ${where.join(' AND ')}${after ? ' AND (pk, rk) > (?, ?)' : ''} ORDER BY pk, rk LIMIT 1000`,
        ...params,
        ...(after ?? []),
      );
      for (const r of page) {
        if (tree) {
          const props = decodeProps(r.props);
          const view = { ...props, PartitionKey: r.pk, RowKey: r.rk, Timestamp: new Date(r.ts) };
          if (!evaluate(tree, view)) continue;
        }
        yield toResult<T>(r, options.queryOptions?.select);
      }
      if (page.length < 1000) return;
      const last = page[page.length - 1]!;
      after = [last.pk, last.rk];
      await new Promise((r) => setImmediate(r));
    }
  }

  /** An entity-group transaction: up to 100 actions on one partition, all or nothing. */
  async submitTransaction(actions: TransactionAction[]): Promise<unknown> {
    if (actions.length === 0) throw new TableError(400, 'InvalidInput', 'A transaction needs at least one action.');
    if (actions.length > TABLE_LIMITS.maxBatch) throw new TableError(400, 'InvalidInput', `A transaction holds at most ${TABLE_LIMITS.maxBatch} actions; this one has ${actions.length}.`);
    const partitions = new Set(actions.map((a) => (a[1] as { partitionKey: string }).partitionKey));
    if (partitions.size > 1) throw new TableError(400, 'CommandsInBatchActOnDifferentPartitions', 'All actions of a transaction must be on one partition.');
    const keys = actions.map((a) => (a[1] as { rowKey: string }).rowKey);
    if (new Set(keys).size !== keys.length) throw new TableError(400, 'InvalidDuplicateRow', 'A transaction may touch each entity once.');
    return this.store().write(() => {
      // One savepoint for the whole batch: the first failing action undoes the others (the service's 'all or nothing').
      const subResponses: Array<{ rowKey: string; etag?: string; status: number }> = [];
      for (const [i, action] of actions.entries()) {
        const entity = action[1] as Record<string, unknown>;
        try {
          switch (action[0]) {
            case 'create':
              subResponses.push({ rowKey: entity.rowKey as string, etag: this.doCreate(entity), status: 204 });
              break;
            case 'upsert':
              subResponses.push({ rowKey: entity.rowKey as string, etag: this.doUpsert(entity, (action[2] as UpdateMode | undefined) ?? 'Merge'), status: 204 });
              break;
            case 'update':
              subResponses.push({
                rowKey: entity.rowKey as string,
                etag: this.doUpdate(entity, (action[2] as UpdateMode | undefined) ?? 'Merge', (action[3] as { etag?: string } | undefined)?.etag),
                status: 204,
              });
              break;
            case 'delete':
              this.doDelete(entity.partitionKey as string, entity.rowKey as string, ((action as unknown[])[2] as { etag?: string } | undefined)?.etag);
              subResponses.push({ rowKey: entity.rowKey as string, status: 204 });
              break;
          }
        } catch (err) {
          if (err instanceof TableError) throw new TableError(err.statusCode, err.code, `${i}:${err.message}`);
          throw err;
        }
      }
      return { status: 202, subResponses };
    });
  }
}
