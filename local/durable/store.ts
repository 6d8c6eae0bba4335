import { TableClient, TableServiceClient, odata, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { gunzipSync, gzipSync } from 'node:zlib';
import { EventType, type HistoryEvent, type RuntimeStatus } from './history';

/**
 * Durable state in Azure Table storage, laid out like the Durable Task Azure Storage provider:
 *  - `<Hub>Instances`: one row per instance (PartitionKey = instance id, RowKey = "").
 *  - `<Hub>History`:   one partition per instance; RowKey = 16-hex-digit sequence number per history
 *    event, plus a `sentinel` row that names the current execution and how many rows it has.
 *
 * Where DTFx uses storage queues to carry messages (activity results, raised events, timers) this host
 * writes the message as an `inbox-…` row into the *same* History partition. An orchestrator episode then
 * appends its history rows, moves the sentinel and deletes the inbox rows it consumed in one entity-group
 * transaction, so "message consumed" and "history written" cannot come apart on a crash. Timers need no
 * message at all: a TimerCreated row without its TimerFired is a pending timer.
 */

export const SENTINEL = 'sentinel';
export const INBOX_PREFIX = 'inbox-';
/** Azure Tables caps a string property at 64 KiB (32K UTF-16 chars). */
export const MAX_PROPERTY_CHARS = 32_000;
/**
 * The largest payload (input, output, event data, activity result, custom status) accepted, uncompressed.
 * A payload longer than a property is stored gzip-compressed, base64 (ASCII), flagged by a `<Property>_gz`
 * column — as the Durable Task Azure Storage provider compresses large messages — so it must also fit
 * MAX_PROPERTY_CHARS once compressed. (ASCII also keeps clear of an Azurite fault that corrupts multi-byte
 * characters in large single-entity requests.)
 */
export const MAX_PAYLOAD_CHARS = 1_000_000;
const GZ_SUFFIX = '_gz';

export class PayloadTooLargeError extends Error {
  constructor(
    readonly chars: number,
    readonly storedChars: number,
  ) {
    super(
      chars > MAX_PAYLOAD_CHARS
        ? `${chars} characters; the limit is ${MAX_PAYLOAD_CHARS}`
        : `${chars} characters, ${storedChars} compressed; the task hub stores at most ${MAX_PROPERTY_CHARS} characters of compressed payload (the limit is ${MAX_PROPERTY_CHARS} after compression)`,
    );
    this.name = 'PayloadTooLargeError';
  }
}

/** How a payload is stored: as it is, or compressed (`gz`). Throws PayloadTooLargeError when it cannot be. */
export function encodePayload(text: string): { value: string; gz: boolean } {
  if (text.length <= MAX_PROPERTY_CHARS) return { value: text, gz: false };
  if (text.length > MAX_PAYLOAD_CHARS) throw new PayloadTooLargeError(text.length, Number.NaN);
  const value = gzipSync(Buffer.from(text, 'utf8')).toString('base64');
  if (value.length > MAX_PROPERTY_CHARS) throw new PayloadTooLargeError(text.length, value.length);
  return { value, gz: true };
}

function decodePayload(value: string, gz: unknown): string {
  return gz === true ? gunzipSync(Buffer.from(value, 'base64')).toString('utf8') : value;
}

/** Sets `name` (and its `_gz` flag when compressed) on a row. */
function putPayload(row: Record<string, unknown>, name: string, text: string): void {
  const { value, gz } = encodePayload(text);
  row[name] = value;
  if (gz) row[name + GZ_SUFFIX] = true;
}

function getPayload(row: Record<string, unknown>, name: string): string | undefined {
  const v = row[name];
  return typeof v === 'string' ? decodePayload(v, row[name + GZ_SUFFIX]) : (v as undefined);
}
const MAX_BATCH = 100;

export interface InstanceRow {
  instanceId: string;
  name: string;
  version?: string;
  executionId: string;
  runtimeStatus: RuntimeStatus;
  createdTime: Date;
  lastUpdatedTime: Date;
  completedTime?: Date;
  input?: string;
  output?: string;
  customStatus?: string;
  parentInstanceId?: string;
}

export interface InboxMessage {
  key: string; // RowKey without the prefix
  seq: number;
  /** Held in memory only, never written as an inbox row (an activity result: see DurableEngine). */
  volatile?: boolean;
  executionId?: string; // for task/sub-orchestration results: the execution that scheduled them
  event: HistoryEvent;
}

export interface Sentinel {
  executionId: string;
  historyCount: number;
  /** Custom status as of the last commit: it changes with an episode, so it is committed with it. */
  customStatus?: string;
  etag?: string;
}

/** A history row read as stale, with the ETag it had then. */
export interface StaleRow {
  rowKey: string;
  etag: string;
}

export interface LoadedPartition {
  sentinel?: Sentinel;
  history: HistoryEvent[];
  inbox: InboxMessage[];
  /** Rows from earlier executions or beyond the committed count, as read: left over by a crash, safe to delete as they are. */
  staleRows: StaleRow[];
  /**
   * The sentinel's execution has rows missing below its count: a continue-as-new episode that needed
   * more than one transaction had begun overwriting them with the next execution's rows when the host
   * stopped (rows first, sentinel last). The next execution's start message is still in the inbox.
   */
  torn: boolean;
}

export interface InstanceQuery {
  runtimeStatus?: RuntimeStatus[];
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  instanceIdPrefix?: string;
  top?: number;
  continuationToken?: string;
}

export function seqKey(n: number): string {
  return n.toString(16).padStart(16, '0');
}

function toRow(instanceId: string, executionId: string, seq: number, e: HistoryEvent): TableEntity {
  const row: TableEntity<Record<string, unknown>> = {
    partitionKey: instanceId,
    rowKey: seqKey(seq),
    ExecutionId: executionId,
    EventType: EventType[e.EventType],
    EventId: e.EventId,
    _Timestamp: new Date(e.Timestamp),
  };
  for (const [k, v] of Object.entries(e)) {
    if (k === 'EventType' || k === 'EventId' || k === 'Timestamp' || k === 'IsPlayed' || v === undefined) continue;
    if (k === 'FireAt') row[k] = new Date(v as string);
    else if (typeof v === 'string') putPayload(row, k, v);
    else row[k] = v;
  }
  return row;
}

function fromRow(row: Record<string, unknown>): HistoryEvent {
  const e: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.etag', 'ExecutionId', '_Timestamp'].includes(k) || k.endsWith(GZ_SUFFIX)) continue;
    e[k] = v instanceof Date ? v.toISOString() : typeof v === 'string' ? getPayload(row, k) : v;
  }
  e.EventType = EventType[row.EventType as keyof typeof EventType];
  e.Timestamp = (row._Timestamp as Date).toISOString();
  return e as unknown as HistoryEvent;
}

function inboxRow(instanceId: string, m: InboxMessage): TableEntity {
  const row: TableEntity<Record<string, unknown>> = { partitionKey: instanceId, rowKey: INBOX_PREFIX + m.key, Seq: m.seq, ExecutionId: m.executionId ?? '' };
  putPayload(row, 'Message', JSON.stringify(m.event));
  return row;
}

function dateOrUndefined(v: unknown): Date | undefined {
  return v instanceof Date ? v : typeof v === 'string' ? new Date(v) : undefined;
}

export class DurableStore {
  readonly instances: TableClient;
  readonly history: TableClient;
  private readonly service: TableServiceClient;

  constructor(connectionString: string, readonly hubName: string) {
    const options = { allowInsecureConnection: true };
    this.service = TableServiceClient.fromConnectionString(connectionString, options);
    this.instances = TableClient.fromConnectionString(connectionString, `${hubName}Instances`, options);
    this.history = TableClient.fromConnectionString(connectionString, `${hubName}History`, options);
  }

  async init(): Promise<void> {
    await this.service.createTable(this.instances.tableName);
    await this.service.createTable(this.history.tableName);
  }

  // ---- Instances ----------------------------------------------------------------------------

  async getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    try {
      const row = await this.instances.getEntity<Record<string, unknown>>(instanceId, '');
      return this.instanceFromRow(row);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Insert a new instance row; resolves false when the id is taken. */
  async insertInstance(row: InstanceRow): Promise<boolean> {
    try {
      await this.instances.createEntity(this.instanceToRow(row));
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 409) return false;
      throw err;
    }
  }

  async upsertInstance(row: InstanceRow): Promise<void> {
    await this.instances.upsertEntity(this.instanceToRow(row), 'Replace');
  }

  async deleteInstanceRow(instanceId: string): Promise<void> {
    try {
      await this.instances.deleteEntity(instanceId, '');
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }

  async queryInstances(q: InstanceQuery): Promise<{ rows: InstanceRow[]; continuationToken?: string }> {
    const filters: string[] = [];
    if (q.runtimeStatus?.length) {
      filters.push('(' + q.runtimeStatus.map((s) => odata`RuntimeStatus eq ${s}`).join(' or ') + ')');
    }
    if (q.createdTimeFrom) filters.push(odata`CreatedTime ge ${q.createdTimeFrom}`);
    if (q.createdTimeTo) filters.push(odata`CreatedTime le ${q.createdTimeTo}`);
    if (q.instanceIdPrefix) {
      const p = q.instanceIdPrefix;
      const upper = p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
      filters.push(odata`PartitionKey ge ${p} and PartitionKey lt ${upper}`);
    }
    const iter = this.instances
      .listEntities<Record<string, unknown>>({ queryOptions: filters.length ? { filter: filters.join(' and ') } : {} })
      .byPage({ maxPageSize: q.top ?? 1000, continuationToken: q.continuationToken });
    const rows: InstanceRow[] = [];
    let continuationToken: string | undefined;
    for await (const page of iter) {
      for (const r of page) rows.push(this.instanceFromRow(r));
      continuationToken = page.continuationToken;
      if (q.top !== undefined) break;
    }
    return { rows, continuationToken: q.top !== undefined ? continuationToken : undefined };
  }

  private instanceToRow(r: InstanceRow): TableEntity {
    const row: TableEntity<Record<string, unknown>> = {
      partitionKey: r.instanceId,
      rowKey: '',
      Name: r.name,
      Version: r.version ?? '',
      ExecutionId: r.executionId,
      RuntimeStatus: r.runtimeStatus,
      CreatedTime: r.createdTime,
      LastUpdatedTime: r.lastUpdatedTime,
      ...(r.completedTime ? { CompletedTime: r.completedTime } : {}),
      ...(r.parentInstanceId ? { ParentInstanceId: r.parentInstanceId } : {}),
    };
    if (r.input !== undefined) putPayload(row, 'Input', r.input);
    if (r.output !== undefined) putPayload(row, 'Output', r.output);
    if (r.customStatus !== undefined) putPayload(row, 'CustomStatus', r.customStatus);
    return row;
  }

  private instanceFromRow(row: Record<string, unknown>): InstanceRow {
    return {
      instanceId: row.partitionKey as string,
      name: row.Name as string,
      version: (row.Version as string) || undefined,
      executionId: row.ExecutionId as string,
      runtimeStatus: row.RuntimeStatus as RuntimeStatus,
      createdTime: dateOrUndefined(row.CreatedTime) ?? new Date(0),
      lastUpdatedTime: dateOrUndefined(row.LastUpdatedTime) ?? new Date(0),
      completedTime: dateOrUndefined(row.CompletedTime),
      input: getPayload(row, 'Input'),
      output: getPayload(row, 'Output'),
      customStatus: getPayload(row, 'CustomStatus'),
      parentInstanceId: (row.ParentInstanceId as string) || undefined,
    };
  }

  // ---- History partition ----------------------------------------------------------------------

  async loadPartition(instanceId: string): Promise<LoadedPartition> {
    const rows: Record<string, unknown>[] = [];
    for await (const r of this.history.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${instanceId}` },
    })) {
      rows.push(r);
    }
    const sentinelRow = rows.find((r) => r.rowKey === SENTINEL);
    const sentinel: Sentinel | undefined = sentinelRow
      ? {
          executionId: sentinelRow.ExecutionId as string,
          historyCount: Number(sentinelRow.HistoryCount ?? 0),
          customStatus: getPayload(sentinelRow, 'CustomStatus') || undefined,
          etag: sentinelRow.etag as string,
        }
      : undefined;
    const history: HistoryEvent[] = [];
    const inbox: InboxMessage[] = [];
    const staleRows: StaleRow[] = [];
    for (const r of rows) {
      const rk = r.rowKey as string;
      if (rk === SENTINEL) continue;
      if (rk.startsWith(INBOX_PREFIX)) {
        inbox.push({
          key: rk.slice(INBOX_PREFIX.length),
          seq: Number(r.Seq),
          executionId: (r.ExecutionId as string) || undefined,
          event: JSON.parse(getPayload(r, 'Message')!) as HistoryEvent,
        });
        continue;
      }
      const seq = parseInt(rk, 16);
      if (!sentinel || r.ExecutionId !== sentinel.executionId || seq >= sentinel.historyCount) {
        staleRows.push({ rowKey: rk, etag: r.etag as string });
        continue;
      }
      history[seq] = fromRow(r);
    }
    inbox.sort((a, b) => a.seq - b.seq);
    let torn = false;
    for (let i = 0; sentinel && i < sentinel.historyCount; i++) if (!history[i]) torn = true;
    return { sentinel, history, inbox, staleRows, torn };
  }

  /** Durably record a message for an instance. Same key twice = one message (idempotent). */
  async putInbox(instanceId: string, messages: InboxMessage[]): Promise<void> {
    const actions: TransactionAction[] = messages.map((m) => ['upsert', inboxRow(instanceId, m), 'Replace']);
    for (let i = 0; i < actions.length; i += MAX_BATCH) {
      await this.history.submitTransaction(actions.slice(i, i + MAX_BATCH));
    }
  }

  async inboxExists(instanceId: string, key: string): Promise<boolean> {
    try {
      await this.history.getEntity(instanceId, INBOX_PREFIX + key);
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw err;
    }
  }

  /**
   * Append an episode: history rows [from, from+events.length), the moved sentinel (optimistic
   * concurrency on its ETag) and the deletion of the inbox rows the episode consumed — one transaction
   * when it fits, otherwise the rows first and the sentinel last, so a crash in between leaves rows that
   * the sentinel does not count (ignored and cleaned up on the next load).
   */
  async commitEpisode(args: {
    instanceId: string;
    executionId: string;
    from: number;
    events: HistoryEvent[];
    consumedInbox: string[];
    sentinelEtag?: string;
    extraInbox?: InboxMessage[];
    customStatus?: string;
  }): Promise<string> {
    const { instanceId, executionId, from, events, consumedInbox } = args;
    const rowActions: TransactionAction[] = events.map((e, i) => ['upsert', toRow(instanceId, executionId, from + i, e), 'Replace']);
    for (const m of args.extraInbox ?? []) rowActions.push(['upsert', inboxRow(instanceId, m), 'Replace']);
    const sentinelEntity: TableEntity<Record<string, unknown>> = {
      partitionKey: instanceId,
      rowKey: SENTINEL,
      ExecutionId: executionId,
      HistoryCount: from + events.length,
      LastCheckpointTime: new Date(),
    };
    putPayload(sentinelEntity, 'CustomStatus', args.customStatus ?? '');
    const sentinelAction: TransactionAction = args.sentinelEtag
      ? ['update', sentinelEntity, 'Replace', { etag: args.sentinelEtag }]
      : ['create', sentinelEntity];
    const deleteActions: TransactionAction[] = consumedInbox.map((k) => ['delete', { partitionKey: instanceId, rowKey: INBOX_PREFIX + k }]);

    const all = [...rowActions, sentinelAction, ...deleteActions];
    if (all.length <= MAX_BATCH) {
      const res = await this.history.submitTransaction(all);
      return this.etagOf(res, rowActions.length);
    }
    for (let i = 0; i < rowActions.length; i += MAX_BATCH) {
      await this.history.submitTransaction(rowActions.slice(i, i + MAX_BATCH));
    }
    const final: TransactionAction[] = [sentinelAction, ...deleteActions.slice(0, MAX_BATCH - 1)];
    const res = await this.history.submitTransaction(final);
    const etag = this.etagOf(res, 0);
    for (let i = MAX_BATCH - 1; i < deleteActions.length; i += MAX_BATCH) {
      await this.history.submitTransaction(deleteActions.slice(i, i + MAX_BATCH));
    }
    return etag;
  }

  private etagOf(res: { subResponses: Array<{ rowKey?: string; etag?: string }> }, index: number): string {
    const sub = res.subResponses.find((s) => s.rowKey === SENTINEL) ?? res.subResponses[index];
    return sub?.etag ?? '';
  }

  async deleteRows(instanceId: string, rowKeys: string[]): Promise<void> {
    const actions: TransactionAction[] = rowKeys.map((rk) => ['delete', { partitionKey: instanceId, rowKey: rk }]);
    for (let i = 0; i < actions.length; i += MAX_BATCH) {
      try {
        await this.history.submitTransaction(actions.slice(i, i + MAX_BATCH));
      } catch (err) {
        // A row already gone fails the whole batch; fall back to one by one.
        if ((err as { statusCode?: number }).statusCode !== 404) throw err;
        for (const a of actions.slice(i, i + MAX_BATCH)) {
          await this.history.deleteEntity(instanceId, (a[1] as { rowKey: string }).rowKey).catch((e: { statusCode?: number }) => {
            if (e.statusCode !== 404) throw e;
          });
        }
      }
    }
  }

  /**
   * Stale history rows are deleted in the background, after the instance has moved on: by then a later
   * execution (of this host, or of the next one after a restart) may have written the same row keys again.
   * So a row is deleted only as it was read (ETag): one rewritten since stays.
   */
  async deleteRowsAsRead(instanceId: string, rows: StaleRow[]): Promise<void> {
    for (const { rowKey, etag } of rows) {
      await this.history.deleteEntity(instanceId, rowKey, { etag }).catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404 && err.statusCode !== 412) throw err;
      });
    }
  }

  /** The rows of `staleExecutionId` (an execution that was replaced) among `rowKeys`, deleted as read. */
  async deleteStaleRows(instanceId: string, rowKeys: string[], staleExecutionId: string): Promise<void> {
    const rows: StaleRow[] = [];
    for (const rowKey of rowKeys) {
      try {
        const row = await this.history.getEntity<Record<string, unknown>>(instanceId, rowKey, { queryOptions: { select: ['ExecutionId'] } });
        if (row.ExecutionId === staleExecutionId) rows.push({ rowKey, etag: row.etag as string });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      }
    }
    await this.deleteRowsAsRead(instanceId, rows);
  }

  async purgePartition(instanceId: string): Promise<void> {
    const keys: string[] = [];
    for await (const r of this.history.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${instanceId}`, select: ['RowKey'] } })) {
      keys.push(r.rowKey as string);
    }
    await this.deleteRows(instanceId, keys);
  }
}
