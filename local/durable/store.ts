import type { SqliteDatabase } from '../../storage/sqlite';
import { type HistoryEvent, type RuntimeStatus } from './history';

/**
 * The task hub in the embedded SQLite store. Three tables, keyed by hub name so several hubs can share a file:
 *  - `dt_instances`: one row per instance (what status queries, lists and purges read);
 *  - `dt_history`:   the current execution's history, one row per event in order;
 *  - `dt_inbox`:     messages not yet consumed (start, raised events, control events, sub-orchestration results).
 *
 * An orchestrator episode is one transaction: history appended (or replaced, when a new execution starts),
 * the messages it consumed deleted, the messages it produced for itself written (continue-as-new), and the
 * instance row updated. So "consumed", "recorded" and "visible" can never come apart on a crash, and nothing
 * needs repairing when the host starts again. Writes resolve once their transaction is on disk
 * (storage/sqlite.ts: group commit).
 */

/**
 * The largest payload (input, output, event data, activity result, custom status) the task hub takes, in
 * characters: the Durable Task Scheduler's 1 MB per payload, so what runs here also fits there. (The Azure
 * Storage provider moves larger messages to blobs; this host does not need to.)
 */
export const MAX_PAYLOAD_CHARS = 1_000_000;

export class PayloadTooLargeError extends Error {
  constructor(readonly chars: number) {
    super(`${chars} characters; the limit is ${MAX_PAYLOAD_CHARS}`);
    this.name = 'PayloadTooLargeError';
  }
}

/** Throws PayloadTooLargeError when the task hub cannot take `text`. */
export function checkPayload(text: string): void {
  if (text.length > MAX_PAYLOAD_CHARS) throw new PayloadTooLargeError(text.length);
}

/** An episode was built on a history that has changed in the store since: the engine reloads the instance. */
export class HistoryConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryConflictError';
  }
}

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
  key: string;
  seq: number;
  /** Held in memory only, never written (an activity result: see DurableEngine.acceptResult). */
  volatile?: boolean;
  executionId?: string; // for task/sub-orchestration results: the execution that scheduled them
  event: HistoryEvent;
}

export interface LoadedPartition {
  history: HistoryEvent[];
  inbox: InboxMessage[];
}

export interface InstanceQuery {
  runtimeStatus?: RuntimeStatus[];
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  instanceIdPrefix?: string;
  top?: number;
  continuationToken?: string;
}

/** What an episode changes on the instance row (the rest — name, created time, parent — never changes). */
export interface InstanceUpdate {
  executionId: string;
  runtimeStatus: RuntimeStatus;
  lastUpdatedTime: Date;
  completedTime?: Date;
  output?: string;
  customStatus?: string;
  /** Set when a new execution starts (its input). */
  input?: { value: string | undefined };
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS dt_instances (
    hub TEXT NOT NULL, instance_id TEXT NOT NULL, name TEXT NOT NULL, version TEXT, execution_id TEXT NOT NULL,
    runtime_status TEXT NOT NULL, created_time INTEGER NOT NULL, last_updated_time INTEGER NOT NULL, completed_time INTEGER,
    input TEXT, output TEXT, custom_status TEXT, parent_instance_id TEXT,
    PRIMARY KEY (hub, instance_id));
  CREATE INDEX IF NOT EXISTS dt_instances_status ON dt_instances (hub, runtime_status);
  CREATE TABLE IF NOT EXISTS dt_history (
    hub TEXT NOT NULL, instance_id TEXT NOT NULL, seq INTEGER NOT NULL, execution_id TEXT NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (hub, instance_id, seq));
  CREATE TABLE IF NOT EXISTS dt_inbox (
    hub TEXT NOT NULL, instance_id TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, execution_id TEXT, event TEXT NOT NULL,
    PRIMARY KEY (hub, instance_id, key));
`;

interface InstanceSqlRow {
  instance_id: string;
  name: string;
  version: string | null;
  execution_id: string;
  runtime_status: string;
  created_time: number;
  last_updated_time: number;
  completed_time: number | null;
  input: string | null;
  output: string | null;
  custom_status: string | null;
  parent_instance_id: string | null;
}

function fromSql(r: InstanceSqlRow): InstanceRow {
  return {
    instanceId: r.instance_id,
    name: r.name,
    version: r.version ?? undefined,
    executionId: r.execution_id,
    runtimeStatus: r.runtime_status as RuntimeStatus,
    createdTime: new Date(r.created_time),
    lastUpdatedTime: new Date(r.last_updated_time),
    completedTime: r.completed_time === null ? undefined : new Date(r.completed_time),
    input: r.input ?? undefined,
    output: r.output ?? undefined,
    customStatus: r.custom_status ?? undefined,
    parentInstanceId: r.parent_instance_id ?? undefined,
  };
}

export class DurableStore {
  constructor(
    readonly db: SqliteDatabase,
    readonly hubName: string,
  ) {}

  async init(): Promise<void> {
    this.db.ensureSchema(SCHEMA);
  }

  // ---- reads (synchronous underneath; async for the engine's sake) -----------------------------

  async getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    const r = this.db.get<InstanceSqlRow>('SELECT * FROM dt_instances WHERE hub = ? AND instance_id = ?', this.hubName, instanceId);
    return r ? fromSql(r) : undefined;
  }

  async queryInstances(q: InstanceQuery): Promise<{ rows: InstanceRow[]; continuationToken?: string }> {
    const where = ['hub = ?'];
    const params: Array<string | number> = [this.hubName];
    if (q.runtimeStatus?.length) {
      where.push(`runtime_status IN (${q.runtimeStatus.map(() => '?').join(', ')})`);
      params.push(...q.runtimeStatus);
    }
    if (q.createdTimeFrom) {
      where.push('created_time >= ?');
      params.push(q.createdTimeFrom.getTime());
    }
    if (q.createdTimeTo) {
      where.push('created_time <= ?');
      params.push(q.createdTimeTo.getTime());
    }
    if (q.instanceIdPrefix) {
      where.push('substr(instance_id, 1, ?) = ?');
      params.push(q.instanceIdPrefix.length, q.instanceIdPrefix);
    }
    if (q.continuationToken) {
      where.push('instance_id > ?');
      params.push(Buffer.from(q.continuationToken, 'base64url').toString('utf8'));
    }
    const limit = q.top ?? -1;
    const rows = this.db.all<InstanceSqlRow>(`SELECT * FROM dt_instances WHERE ${where.join(' AND ')} ORDER BY instance_id LIMIT ?`, ...params, limit).map(fromSql);
    const more = q.top !== undefined && rows.length === q.top;
    return { rows, continuationToken: more ? Buffer.from(rows[rows.length - 1]!.instanceId, 'utf8').toString('base64url') : undefined };
  }

  async loadPartition(instanceId: string): Promise<LoadedPartition> {
    const history = this.db.all<{ seq: number; event: string }>('SELECT seq, event FROM dt_history WHERE hub = ? AND instance_id = ? ORDER BY seq', this.hubName, instanceId).map((r, i) => {
      if (r.seq !== i) throw new Error(`The history of instance "${instanceId}" cannot be read: event ${i} is missing.`);
      try {
        return JSON.parse(r.event) as HistoryEvent;
      } catch (err) {
        throw new Error(`The history of instance "${instanceId}" cannot be read: event ${r.seq} is not valid JSON (${(err as Error).message}).`);
      }
    });
    const inbox = this.db
      .all<{ key: string; seq: number; execution_id: string | null; event: string }>('SELECT key, seq, execution_id, event FROM dt_inbox WHERE hub = ? AND instance_id = ? ORDER BY seq', this.hubName, instanceId)
      .map((r) => ({ key: r.key, seq: r.seq, executionId: r.execution_id ?? undefined, event: JSON.parse(r.event) as HistoryEvent }));
    return { history, inbox };
  }

  // ---- writes (each one transaction, resolved once on disk) ------------------------------------

  private putInboxSync(instanceId: string, messages: InboxMessage[]): void {
    const stmt = this.db.prepare('INSERT OR REPLACE INTO dt_inbox (hub, instance_id, key, seq, execution_id, event) VALUES (?, ?, ?, ?, ?, ?)');
    for (const m of messages) stmt.run(this.hubName, instanceId, m.key, m.seq, m.executionId ?? null, JSON.stringify(m.event));
  }

  private upsertInstanceSync(r: InstanceRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO dt_instances (hub, instance_id, name, version, execution_id, runtime_status, created_time, last_updated_time, completed_time, input, output, custom_status, parent_instance_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        this.hubName,
        r.instanceId,
        r.name,
        r.version ?? null,
        r.executionId,
        r.runtimeStatus,
        r.createdTime.getTime(),
        r.lastUpdatedTime.getTime(),
        r.completedTime?.getTime() ?? null,
        r.input ?? null,
        r.output ?? null,
        r.customStatus ?? null,
        r.parentInstanceId ?? null,
      );
  }

  /** Durably record messages for an instance. Same key twice = one message (idempotent). */
  putInbox(instanceId: string, messages: InboxMessage[]): Promise<void> {
    return this.db.write(() => this.putInboxSync(instanceId, messages));
  }

  /** A new (or restarted) instance: its row and its start message, together. */
  createInstance(row: InstanceRow, start: InboxMessage): Promise<void> {
    return this.db.write(() => {
      this.putInboxSync(row.instanceId, [start]);
      this.upsertInstanceSync(row);
    });
  }

  deleteInbox(instanceId: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return Promise.resolve();
    return this.db.write(() => {
      const stmt = this.db.prepare('DELETE FROM dt_inbox WHERE hub = ? AND instance_id = ? AND key = ?');
      for (const k of keys) stmt.run(this.hubName, instanceId, k);
    });
  }

  /**
   * An episode, in one transaction: history from `from` on replaced by `events` (from 0 when a new
   * execution starts), consumed messages deleted, `extraInbox` written, the instance row updated.
   */
  commitEpisode(args: {
    instanceId: string;
    executionId: string;
    from: number;
    /** The history length the engine's copy was built from: a different count means someone else wrote meanwhile. */
    expectedCount: number;
    events: HistoryEvent[];
    consumedInbox: string[];
    extraInbox?: InboxMessage[];
    instance: InstanceUpdate;
  }): Promise<void> {
    const { instanceId, executionId, from, events, consumedInbox, instance: u } = args;
    const encoded = events.map((e) => JSON.stringify(e));
    return this.db.write(() => {
      // Optimistic concurrency, as the sentinel's ETag was on Table storage: only one engine may own an
      // instance (the file lock keeps a second process out; this keeps a stopped engine in the same
      // process, or a bug, from overwriting what another episode committed).
      const count = this.db.get<{ n: number }>('SELECT count(*) AS n FROM dt_history WHERE hub = ? AND instance_id = ?', this.hubName, instanceId)!.n;
      if (count !== args.expectedCount) {
        throw new HistoryConflictError(`Instance "${instanceId}" has ${count} history events in the store, not the ${args.expectedCount} this episode was built on; it is reloaded.`);
      }
      this.db.prepare('DELETE FROM dt_history WHERE hub = ? AND instance_id = ? AND seq >= ?').run(this.hubName, instanceId, from);
      const ins = this.db.prepare('INSERT INTO dt_history (hub, instance_id, seq, execution_id, event) VALUES (?, ?, ?, ?, ?)');
      encoded.forEach((e, i) => ins.run(this.hubName, instanceId, from + i, executionId, e));
      const del = this.db.prepare('DELETE FROM dt_inbox WHERE hub = ? AND instance_id = ? AND key = ?');
      for (const k of consumedInbox) del.run(this.hubName, instanceId, k);
      if (args.extraInbox?.length) this.putInboxSync(instanceId, args.extraInbox);
      const set = ['execution_id = ?', 'runtime_status = ?', 'last_updated_time = ?', 'completed_time = ?', 'output = ?', 'custom_status = ?'];
      const params: Array<string | number | null> = [u.executionId, u.runtimeStatus, u.lastUpdatedTime.getTime(), u.completedTime?.getTime() ?? null, u.output ?? null, u.customStatus ?? null];
      if (u.input) {
        set.push('input = ?');
        params.push(u.input.value ?? null);
      }
      const changed = this.db.prepare(`UPDATE dt_instances SET ${set.join(', ')} WHERE hub = ? AND instance_id = ?`).run(...params, this.hubName, instanceId).changes;
      // The row goes only with a purge, which waits for the instance; a missing row is a bug, not a race.
      if (Number(changed) !== 1) throw new Error(`Instance "${instanceId}" has no instance row to update.`);
    });
  }

  /** History, messages and the row of a finished instance, together. */
  purge(instanceId: string): Promise<void> {
    return this.db.write(() => {
      for (const t of ['dt_history', 'dt_inbox', 'dt_instances']) this.db.prepare(`DELETE FROM ${t} WHERE hub = ? AND instance_id = ?`).run(this.hubName, instanceId);
    });
  }
}
