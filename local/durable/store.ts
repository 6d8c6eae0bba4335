import { TableClient, TableServiceClient, odata, type TableEntity, type TransactionAction } from '@azure/data-tables';
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
/** Azure Tables caps a string property at 64 KiB (32K UTF-16 chars); we keep payloads below that. */
export const MAX_PAYLOAD_CHARS = 32_000;
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

export interface LoadedPartition {
  sentinel?: Sentinel;
  history: HistoryEvent[];
  inbox: InboxMessage[];
  /** Rows from earlier executions or beyond the committed count: left over by a crash, safe to delete. */
  staleRowKeys: string[];
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
    row[k] = k === 'FireAt' ? new Date(v as string) : v;
  }
  return row;
}

function fromRow(row: Record<string, unknown>): HistoryEvent {
  const e: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.etag', 'ExecutionId', '_Timestamp'].includes(k)) continue;
    e[k] = v instanceof Date ? v.toISOString() : v;
  }
  e.EventType = EventType[row.EventType as keyof typeof EventType];
  e.Timestamp = (row._Timestamp as Date).toISOString();
  return e as unknown as HistoryEvent;
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
    return {
      partitionKey: r.instanceId,
      rowKey: '',
      Name: r.name,
      Version: r.version ?? '',
      ExecutionId: r.executionId,
      RuntimeStatus: r.runtimeStatus,
      CreatedTime: r.createdTime,
      LastUpdatedTime: r.lastUpdatedTime,
      ...(r.completedTime ? { CompletedTime: r.completedTime } : {}),
      ...(r.input !== undefined ? { Input: r.input } : {}),
      ...(r.output !== undefined ? { Output: r.output } : {}),
      ...(r.customStatus !== undefined ? { CustomStatus: r.customStatus } : {}),
      ...(r.parentInstanceId ? { ParentInstanceId: r.parentInstanceId } : {}),
    };
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
      input: row.Input as string | undefined,
      output: row.Output as string | undefined,
      customStatus: row.CustomStatus as string | undefined,
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
          customStatus: (sentinelRow.CustomStatus as string) || undefined,
          etag: sentinelRow.etag as string,
        }
      : undefined;
    const history: HistoryEvent[] = [];
    const inbox: InboxMessage[] = [];
    const staleRowKeys: string[] = [];
    for (const r of rows) {
      const rk = r.rowKey as string;
      if (rk === SENTINEL) continue;
      if (rk.startsWith(INBOX_PREFIX)) {
        inbox.push({
          key: rk.slice(INBOX_PREFIX.length),
          seq: Number(r.Seq),
          executionId: (r.ExecutionId as string) || undefined,
          event: JSON.parse(r.Message as string) as HistoryEvent,
        });
        continue;
      }
      const seq = parseInt(rk, 16);
      if (!sentinel || r.ExecutionId !== sentinel.executionId || seq >= sentinel.historyCount) {
        staleRowKeys.push(rk);
        continue;
      }
      history[seq] = fromRow(r);
    }
    inbox.sort((a, b) => a.seq - b.seq);
    return { sentinel, history, inbox, staleRowKeys };
  }

  /** Durably record a message for an instance. Same key twice = one message (idempotent). */
  async putInbox(instanceId: string, messages: InboxMessage[]): Promise<void> {
    const actions: TransactionAction[] = messages.map((m) => [
      'upsert',
      {
        partitionKey: instanceId,
        rowKey: INBOX_PREFIX + m.key,
        Seq: m.seq,
        ExecutionId: m.executionId ?? '',
        Message: JSON.stringify(m.event),
      },
      'Replace',
    ]);
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
    for (const m of args.extraInbox ?? []) {
      rowActions.push([
        'upsert',
        { partitionKey: instanceId, rowKey: INBOX_PREFIX + m.key, Seq: m.seq, ExecutionId: m.executionId ?? '', Message: JSON.stringify(m.event) },
        'Replace',
      ]);
    }
    const sentinelEntity = {
      partitionKey: instanceId,
      rowKey: SENTINEL,
      ExecutionId: executionId,
      HistoryCount: from + events.length,
      LastCheckpointTime: new Date(),
      CustomStatus: args.customStatus ?? '',
    };
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

  async purgePartition(instanceId: string): Promise<void> {
    const keys: string[] = [];
    for await (const r of this.history.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${instanceId}`, select: ['RowKey'] } })) {
      keys.push(r.rowKey as string);
    }
    await this.deleteRows(instanceId, keys);
  }
}
