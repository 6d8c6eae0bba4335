import { createHash, randomUUID } from 'node:crypto';
import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { Logger } from 'pino';
import type { ActivityHandler, OrchestrationHandler } from './functions';
import { EventType, TERMINAL_STATUSES, type HistoryEvent, type RuntimeStatus } from './history';
import { retryDelayMs, runEpisode, type EpisodeOutcome, type Scheduled } from './replay';
import { checkPayload, PayloadTooLargeError, type DurableStore, type InboxMessage, type InstanceQuery, type InstanceRow, type InstanceUpdate } from './store';

/** An error a client caused; `status` is the HTTP status the management API answers with. */
export class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface EngineOptions {
  store: DurableStore;
  orchestrators: Map<string, OrchestrationHandler>;
  activities: Map<string, ActivityHandler>;
  /** Activities that asked for a DurableClient binding, and the binding data to give them. */
  durableClientActivities?: Set<string>;
  durableClientInput?: () => Record<string, unknown>;
  maxConcurrentActivityFunctions: number;
  maxConcurrentOrchestratorFunctions: number;
  logger: Logger;
}

interface ParentRef {
  instanceId: string;
  taskScheduledId: number;
  executionId: string;
}

/** The engine's working copy of one instance (the durable copy is the History partition). */
interface Instance {
  id: string;
  name: string;
  version?: string;
  executionId: string;
  status: RuntimeStatus;
  input?: string;
  output?: string;
  customStatus?: string;
  createdTime: Date;
  lastUpdatedTime: Date;
  completedTime?: Date;
  parent?: ParentRef;
  history: HistoryEvent[];
  inbox: InboxMessage[];
  busy: boolean;
  queued: boolean;
  again: boolean;
  timers: Map<number, NodeJS.Timeout>;
  dispatched: Set<number>;
  /** Raises with an idempotency key whose write is under way. */
  raising: Map<string, Promise<void>>;
  /** Run the code even without new events (after a rewind). */
  replay: boolean;
  /**
   * Gives back the orchestrator slot of the episode under way. The slot bounds orchestrator code running at
   * once (host.json maxConcurrentOrchestratorFunctions), not commits waiting for their fsync: an episode
   * gives it back once its commit is queued, so one group commit can carry more episodes.
   */
  releaseSlot?: () => void;
}

interface ActivityWork {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  input?: string;
  /** Set when a retry policy's retryTimeout has run out: the attempt fails without running. */
  expired?: string;
}

export interface StatusView {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  customStatus: unknown;
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Record<string, unknown>[];
}

const CONTROL = new Set([EventType.ExecutionTerminated, EventType.ExecutionSuspended, EventType.ExecutionResumed]);
const RESULT_TYPES = new Set([
  EventType.TaskCompleted,
  EventType.TaskFailed,
  EventType.SubOrchestrationInstanceCompleted,
  EventType.SubOrchestrationInstanceFailed,
]);
const MAX_TIMEOUT = 2 ** 31 - 1;

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Why `text` cannot be stored in the task hub (store.ts: MAX_PAYLOAD_CHARS), or undefined. */
function unstorable(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    checkPayload(text);
    return undefined;
  } catch (err) {
    if (err instanceof PayloadTooLargeError) return err.message;
    throw err;
  }
}

function checkSize(what: string, text: string | undefined): void {
  const why = unstorable(text);
  if (why) throw new EngineError(413, `${what} is ${why}. Store large data in a table or blob and pass its key.`);
}

/**
 * Durable Functions refuses a custom status over 16 KB of UTF-16 JSON text (the extension's
 * SetCustomStatus: MaxCustomStatusPayloadSizeInKB = 16, KB counted as whole UTF-16 kilobytes); the
 * orchestration then fails. The local host does the same, so a status that would break in Azure breaks here.
 */
export const MAX_CUSTOM_STATUS_KB = 16;
function customStatusTooLarge(json: string | undefined): string | undefined {
  if (json === undefined) return undefined;
  const kb = Math.floor((json.length * 2) / 1024);
  return kb > MAX_CUSTOM_STATUS_KB ? `The UTF-16 size of the JSON-serialized payload must not exceed ${MAX_CUSTOM_STATUS_KB} KB. The current payload size is ${kb} KB.` : undefined;
}

/**
 * The first payload an episode produced that the task hub cannot store (an orchestrator's output,
 * continue-as-new input, activity or sub-orchestration input, custom status), or undefined.
 */
function firstUnstorable(events: HistoryEvent[], carry: InboxMessage[], customStatus: string | undefined): string | undefined {
  for (const e of events) {
    for (const [k, v] of Object.entries(e)) {
      const why = typeof v === 'string' ? unstorable(v) : undefined;
      if (why) return `${EventType[e.EventType]}${e.Name ? ` "${e.Name}"` : ''} ${k === 'Result' && e.EventType === EventType.ExecutionCompleted ? (e.OrchestrationStatus === 'ContinuedAsNew' ? 'continue-as-new input' : 'output') : k} is ${why}`;
    }
  }
  for (const m of carry) {
    const why = unstorable(JSON.stringify(m.event));
    if (why) return `the continue-as-new input is ${why}`;
  }
  const why = unstorable(customStatus);
  return why ? `the custom status is ${why}` : undefined;
}

/** Counting semaphore for the host.json concurrency limits. */
class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<void> {
    if (this.used < this.limit) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.used--;
  }
  get inUse(): number {
    return this.used;
  }
}

/**
 * The embedded durable engine: the part of the Functions host + Durable Task Framework that schedules
 * orchestrator episodes, runs activities, fires timers and delivers events — on top of `DurableStore`.
 *
 * Crash safety: every fact is on disk before anyone is told about it. A started instance (its row and start
 * message), a raised event and a control event are committed before the API answers; an episode's effects
 * (history, consumed and produced messages, the instance row) are one transaction, and an activity result
 * becomes durable with the episode that consumes it. What runs in memory (timers, activity dispatch,
 * children) is re-derived from the history on recovery.
 */
export class DurableEngine {
  private readonly store: DurableStore;
  private readonly log: Logger;
  private readonly loaded = new Map<string, Instance>();
  private readonly activating = new Map<string, Promise<Instance | undefined>>();
  private readonly orchestratorSlots: Slots;
  private readonly activitySlots: Slots;
  private readonly inboxBuffers = new Map<string, { messages: InboxMessage[]; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> }>();
  private seqCounter = 0;
  private stopped = false;
  private pendingWork = 0;
  private idleWaiters: Array<() => void> = [];
  /** Counters for the benchmarks; `historyEvents` counts every history row an episode commit writes, by EventType too. */
  readonly stats = { episodes: 0, activitiesRun: 0, activityDispatchLatenciesMs: [] as number[], episodesInFlight: 0, maxEpisodesInFlight: 0, historyEvents: 0, historyByType: {} as Record<string, number> };

  constructor(private readonly opts: EngineOptions) {
    this.store = opts.store;
    this.log = opts.logger;
    this.orchestratorSlots = new Slots(Math.max(1, opts.maxConcurrentOrchestratorFunctions));
    this.activitySlots = new Slots(Math.max(1, opts.maxConcurrentActivityFunctions));
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /**
   * Load every instance that is not finished and pick up where it left off. One instance whose state
   * cannot be read is logged and left alone (its status query says why): it does not keep the host, and
   * every other instance, from starting.
   */
  async recover(): Promise<number> {
    let token: string | undefined;
    let count = 0;
    const unreadable: string[] = [];
    do {
      const page = await this.store.queryInstances({ runtimeStatus: ['Pending', 'Running', 'Suspended', 'ContinuedAsNew'], top: 500, continuationToken: token });
      await Promise.all(
        page.rows.map((r) =>
          this.activate(r.instanceId).catch((err: unknown) => {
            unreadable.push(r.instanceId);
            this.log.error({ err, instanceId: r.instanceId }, 'could not recover this instance; it stays stopped');
          }),
        ),
      );
      count += page.rows.length;
      token = page.continuationToken;
    } while (token);
    this.log.info({ recovered: count - unreadable.length, unreadable }, 'durable host recovered running instances');
    return count - unreadable.length;
  }

  stop(): void {
    this.stopped = true;
    for (const inst of this.loaded.values()) for (const t of inst.timers.values()) clearTimeout(t);
  }

  /** Resolves when no episode, activity or storage write is in flight (tests and benchmarks use it). */
  async idle(): Promise<void> {
    while (this.pendingWork > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pendingWork++;
    return p.finally(() => {
      this.pendingWork--;
      if (this.pendingWork === 0) {
        const w = this.idleWaiters;
        this.idleWaiters = [];
        w.forEach((f) => f());
      }
    });
  }

  private nextSeq(): number {
    this.seqCounter = (this.seqCounter + 1) % 1000;
    return Date.now() * 1000 + this.seqCounter;
  }

  // ---- loading --------------------------------------------------------------------------------

  /** The working copy of an instance, loading it from storage if needed; undefined if it does not exist. */
  private activate(instanceId: string): Promise<Instance | undefined> {
    const hit = this.loaded.get(instanceId);
    if (hit) return Promise.resolve(hit);
    let p = this.activating.get(instanceId);
    if (!p) {
      p = this.track(this.load(instanceId)).finally(() => this.activating.delete(instanceId));
      this.activating.set(instanceId, p);
    }
    return p;
  }

  private async load(instanceId: string): Promise<Instance | undefined> {
    const row = await this.store.getInstance(instanceId);
    if (!row) return undefined;
    const { history, inbox } = await this.store.loadPartition(instanceId);
    const started = history.find((e) => e.EventType === EventType.ExecutionStarted);
    const inst = this.newInstance(row, {
      input: started ? started.Input : row.input,
      parent: started?.ParentInstanceId
        ? { instanceId: started.ParentInstanceId, taskScheduledId: started.ParentTaskScheduledId!, executionId: started.ParentExecutionId ?? '' }
        : undefined,
      history,
      inbox,
      replay: history.length > 0 && history[history.length - 1]!.EventType === EventType.GenericEvent && history[history.length - 1]!.Name === 'Rewind',
    });
    if (TERMINAL_STATUSES.includes(inst.status) && !inst.inbox.some((m) => m.event.EventType === EventType.ExecutionStarted)) {
      // Finished: nothing runs. Tell a waiting parent in case the crash came before we did.
      if (inst.parent) await this.notifyParent(inst);
      return inst;
    }
    this.loaded.set(instanceId, inst);
    this.resumeWork(inst);
    if (inst.inbox.length) this.schedule(inst);
    return inst;
  }

  /** The working copy of an instance, with no runtime state yet (nothing queued, armed or dispatched). */
  private newInstance(row: InstanceRow, from: Partial<Instance>): Instance {
    return {
      id: row.instanceId,
      name: row.name,
      version: row.version,
      executionId: row.executionId,
      status: row.runtimeStatus,
      input: row.input,
      output: row.output,
      customStatus: row.customStatus,
      createdTime: row.createdTime,
      lastUpdatedTime: row.lastUpdatedTime,
      completedTime: row.completedTime,
      history: [],
      inbox: [],
      busy: false,
      queued: false,
      again: false,
      timers: new Map(),
      dispatched: new Set(),
      raising: new Map(),
      replay: false,
      ...from,
    };
  }

  /** A brand-new instance: what createInstance just wrote, without reading it back. */
  private fresh(row: InstanceRow, start: InboxMessage): Instance {
    const inst = this.newInstance(row, { inbox: [start] });
    this.loaded.set(inst.id, inst);
    return inst;
  }

  /** Re-create the in-memory work a running instance's history implies: timers, activities, children. */
  private resumeWork(inst: Instance): void {
    // An execution that ended (e.g. continued as new) leaves its open tasks behind on purpose.
    if (inst.history.some((e) => e.EventType === EventType.ExecutionCompleted || e.EventType === EventType.ExecutionFailed)) return;
    const done = new Set<number>();
    for (const e of inst.history) {
      if (e.TaskScheduledId !== undefined && RESULT_TYPES.has(e.EventType)) done.add(e.TaskScheduledId);
      if (e.EventType === EventType.TimerFired && e.TimerId !== undefined) done.add(e.TimerId);
    }
    for (const m of inst.inbox) {
      if (m.event.TaskScheduledId !== undefined && m.executionId === inst.executionId) done.add(m.event.TaskScheduledId);
    }
    for (const e of inst.history) {
      if (done.has(e.EventId)) continue;
      if (e.EventType === EventType.TaskScheduled) {
        this.dispatchActivity(inst, { instanceId: inst.id, executionId: inst.executionId, taskId: e.EventId, name: e.Name!, input: e.Input, expired: e.Reason });
      } else if (e.EventType === EventType.TimerCreated && e.FireAt) {
        this.armTimer(inst, e.EventId, new Date(e.FireAt));
      } else if (e.EventType === EventType.SubOrchestrationInstanceCreated) {
        void this.track(this.ensureChild(inst, e)).catch((err) => this.log.error({ err, instanceId: inst.id }, 'could not resume sub-orchestration'));
      }
    }
  }

  // ---- client operations (the management API calls these) ---------------------------------------

  async startNew(name: string, opts: { instanceId?: string; input?: string; parent?: ParentRef } = {}): Promise<string> {
    if (!this.opts.orchestrators.has(name)) {
      const known = [...this.opts.orchestrators.keys()].sort().join(', ');
      throw new EngineError(404, `No orchestrator function named "${name}" is registered. Registered orchestrators: ${known || 'none'}.`);
    }
    const instanceId = opts.instanceId ?? randomUUID().replace(/-/g, '');
    if (!/^[^/\\#?\u0000-\u001f\u007f-\u009f]{1,256}$/.test(instanceId)) {
      throw new EngineError(400, `Instance id "${instanceId}" is not valid: use 1-256 characters without / \\ # ? or control characters.`);
    }
    checkSize('The orchestration input', opts.input);
    if (opts.input !== undefined && opts.input !== '') {
      try {
        JSON.parse(opts.input);
      } catch (err) {
        throw new EngineError(400, `The orchestration input is not valid JSON: ${(err as Error).message}`);
      }
    }
    return this.track(this.createInstance(name, instanceId, opts.input, opts.parent));
  }

  private async createInstance(name: string, instanceId: string, input: string | undefined, parent?: ParentRef): Promise<string> {
    const existing = this.loaded.get(instanceId) ?? (await this.store.getInstance(instanceId));
    const status = existing ? ('status' in existing ? existing.status : existing.runtimeStatus) : undefined;
    if (status && !TERMINAL_STATUSES.includes(status)) {
      throw new EngineError(409, `An instance with id "${instanceId}" already exists and is ${status}. Terminate it first or choose another id.`);
    }
    const executionId = randomUUID().replace(/-/g, '');
    const now = new Date();
    const start: HistoryEvent = {
      EventType: EventType.ExecutionStarted,
      EventId: -1,
      Timestamp: now.toISOString(),
      Name: name,
      Input: input === '' ? undefined : input,
      ...(parent ? { ParentInstanceId: parent.instanceId, ParentTaskScheduledId: parent.taskScheduledId, ParentExecutionId: parent.executionId } : {}),
    };
    const startMessage: InboxMessage = { key: `start-${executionId}`, seq: this.nextSeq(), executionId, event: start };
    const row: InstanceRow = {
      instanceId,
      name,
      executionId,
      runtimeStatus: 'Pending',
      createdTime: now,
      lastUpdatedTime: now,
      input: start.Input,
      parentInstanceId: parent?.instanceId,
    };
    await this.store.createInstance(row, startMessage);
    this.loaded.delete(instanceId);
    // A brand-new id has nothing else in storage: build it here instead of reading back what we wrote.
    const inst = existing ? await this.activate(instanceId) : this.fresh(row, startMessage);
    if (inst) this.schedule(inst);
    this.log.info({ instanceId, orchestrator: name, parent: parent?.instanceId }, 'instance started');
    return instanceId;
  }

  private async requireActive(instanceId: string, action: string): Promise<Instance> {
    const inst = await this.activate(instanceId);
    if (!inst) throw new EngineError(404, `No orchestration instance with id "${instanceId}" exists, so it cannot ${action}.`);
    if (!this.loaded.has(instanceId)) {
      throw new EngineError(410, `Orchestration instance "${instanceId}" has finished (${inst.status}), so it cannot ${action}.`);
    }
    return inst;
  }

  async raiseEvent(instanceId: string, eventName: string, data: string | undefined, idempotencyKey?: string): Promise<'accepted' | 'duplicate'> {
    if (!eventName || eventName.length > 256) throw new EngineError(400, 'The event name must be 1-256 characters.');
    checkSize(`The data for event "${eventName}"`, data);
    const inst = await this.requireActive(instanceId, `receive event "${eventName}"`);
    const key = idempotencyKey ? `evt-k-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}` : `evt-${this.nextSeq()}-${randomUUID().slice(0, 8)}`;
    if (idempotencyKey) {
      // A retry racing the first request waits for its write and is then the same event.
      const inFlight = inst.raising.get(key);
      if (inFlight) {
        await inFlight;
        return 'duplicate';
      }
      if (inst.inbox.some((m) => m.key === key) || inst.history.some((e) => e.InboxKey === key)) return 'duplicate';
    }
    const event: HistoryEvent = { EventType: EventType.EventRaised, EventId: -1, Timestamp: new Date().toISOString(), Name: eventName, Input: data === '' ? undefined : data };
    checkSize(`The event "${eventName}" with its data`, JSON.stringify(event));
    const write = this.track(this.deliver(instanceId, { key, seq: this.nextSeq(), event }));
    if (idempotencyKey) inst.raising.set(key, write);
    try {
      await write;
    } finally {
      inst.raising.delete(key);
    }
    return 'accepted';
  }

  private async control(instanceId: string, type: EventType, reason: string | undefined, action: string): Promise<void> {
    const inst = await this.requireActive(instanceId, action);
    if (type === EventType.ExecutionResumed && inst.status !== 'Suspended' && !inst.inbox.some((m) => m.event.EventType === EventType.ExecutionSuspended)) {
      throw new EngineError(409, `Orchestration instance "${instanceId}" is ${inst.status}, not Suspended, so there is nothing to resume.`);
    }
    const event: HistoryEvent = { EventType: type, EventId: -1, Timestamp: new Date().toISOString(), Input: reason ? JSON.stringify(reason) : undefined, Reason: reason };
    await this.track(this.deliver(instanceId, { key: `ctl-${this.nextSeq()}-${randomUUID().slice(0, 8)}`, seq: this.nextSeq(), event }));
  }

  terminate(instanceId: string, reason?: string): Promise<void> {
    return this.control(instanceId, EventType.ExecutionTerminated, reason, 'be terminated');
  }
  suspend(instanceId: string, reason?: string): Promise<void> {
    return this.control(instanceId, EventType.ExecutionSuspended, reason, 'be suspended');
  }
  resume(instanceId: string, reason?: string): Promise<void> {
    return this.control(instanceId, EventType.ExecutionResumed, reason, 'be resumed');
  }

  /**
   * Rewind a failed instance (DTFx semantics): the failed tasks and the failure are turned into
   * GenericEvents, so on replay the code schedules those tasks again and carries on from there.
   * Completed work is not repeated.
   */
  async rewind(instanceId: string, reason?: string): Promise<void> {
    const inst = await this.activate(instanceId);
    if (!inst) throw new EngineError(404, `No orchestration instance with id "${instanceId}" exists, so it cannot be rewound.`);
    if (inst.status !== 'Failed') throw new EngineError(412, `Orchestration instance "${instanceId}" is ${inst.status}; only Failed instances can be rewound.`);
    this.loaded.set(instanceId, inst);
    await this.track(
      this.withLock(inst, async () => {
        const chainOf = new Map<number, number>(); // task id -> first attempt id
        for (const e of inst.history) {
          if (e.EventType === EventType.TaskScheduled || e.EventType === EventType.SubOrchestrationInstanceCreated || e.EventType === EventType.TimerCreated) {
            chainOf.set(e.EventId, e.RetryOf ?? e.EventId);
          }
        }
        const succeeded = new Set<number>();
        const failed = new Set<number>();
        for (const e of inst.history) {
          const root = e.TaskScheduledId !== undefined ? chainOf.get(e.TaskScheduledId) : undefined;
          if (root === undefined) continue;
          if (e.EventType === EventType.TaskCompleted || e.EventType === EventType.SubOrchestrationInstanceCompleted) succeeded.add(root);
          if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed) failed.add(root);
        }
        const rewound = new Set([...failed].filter((r) => !succeeded.has(r)));
        const rewrite = inst.history.map((e) => {
          const id = e.TaskScheduledId ?? e.TimerId ?? e.EventId;
          const inChain = chainOf.has(id) && rewound.has(chainOf.get(id)!);
          const isFailure = e.EventType === EventType.ExecutionFailed;
          if ((inChain && e.EventType !== EventType.OrchestratorStarted) || isFailure) {
            return { EventType: EventType.GenericEvent, EventId: -1, Timestamp: e.Timestamp, Name: `Rewound: ${EventType[e.EventType]} ${id}`, Reason: reason } as HistoryEvent;
          }
          return e;
        });
        const marker: HistoryEvent = { EventType: EventType.GenericEvent, EventId: -1, Timestamp: new Date().toISOString(), Name: 'Rewind', Reason: reason };
        const now = new Date();
        await this.store.commitEpisode({
          instanceId,
          executionId: inst.executionId,
          from: 0,
          expectedCount: inst.history.length,
          events: [...rewrite, marker],
          consumedInbox: [],
          instance: { executionId: inst.executionId, runtimeStatus: 'Running', lastUpdatedTime: now, customStatus: inst.customStatus },
        });
        inst.history = [...rewrite, marker];
        inst.status = 'Running';
        inst.output = undefined;
        inst.completedTime = undefined;
        inst.lastUpdatedTime = now;
        inst.replay = true; // run the code over the rewritten history
        inst.again = true;
      }),
    );
    this.log.info({ instanceId, reason }, 'instance rewound');
  }

  async purge(instanceId: string): Promise<number> {
    const inst = this.loaded.get(instanceId);
    const row = inst ? undefined : await this.store.getInstance(instanceId);
    let status = inst?.status ?? row?.runtimeStatus;
    if (!status) throw new EngineError(404, `No orchestration instance with id "${instanceId}" exists, so there is nothing to purge.`);
    // A row that says "running" for an instance not in memory yet: recovery may still be loading it.
    if (!inst && !TERMINAL_STATUSES.includes(status)) status = (await this.activate(instanceId))?.status ?? status;
    if (!TERMINAL_STATUSES.includes(status)) {
      throw new EngineError(409, `Orchestration instance "${instanceId}" is ${status}; only Completed, Failed or Terminated instances can be purged. Terminate it first.`);
    }
    await this.track(this.store.purge(instanceId));
    this.loaded.delete(instanceId);
    return 1;
  }

  async purgeMany(q: InstanceQuery): Promise<number> {
    const statuses = (q.runtimeStatus?.length ? q.runtimeStatus : TERMINAL_STATUSES).filter((s) => TERMINAL_STATUSES.includes(s));
    let purged = 0;
    let token: string | undefined;
    do {
      const page = await this.store.queryInstances({ ...q, runtimeStatus: [...statuses], top: 500, continuationToken: token });
      for (const r of page.rows) purged += await this.purge(r.instanceId).catch(() => 0);
      token = page.continuationToken;
    } while (token);
    return purged;
  }

  async getStatus(instanceId: string, opts: { showHistory?: boolean; showHistoryOutput?: boolean; showInput?: boolean } = {}): Promise<StatusView | undefined> {
    let inst = this.loaded.get(instanceId);
    let row = inst ? this.rowOf(inst) : await this.store.getInstance(instanceId);
    if (!inst && row && !TERMINAL_STATUSES.includes(row.runtimeStatus)) {
      // Not in memory yet: recovery may still be loading it.
      inst = await this.activate(instanceId);
      if (inst) row = this.rowOf(inst);
    }
    if (!row) return undefined;
    const view = this.viewOf(row, opts.showInput !== false);
    if (opts.showHistory) {
      const history = inst ? inst.history : (await this.store.loadPartition(instanceId)).history;
      view.historyEvents = history.map((e) => {
        const out: Record<string, unknown> = { EventType: EventType[e.EventType], EventId: e.EventId, Timestamp: e.Timestamp };
        for (const k of ['Name', 'TaskScheduledId', 'TimerId', 'FireAt', 'Reason', 'OrchestrationStatus', 'InstanceId'] as const) if (e[k] !== undefined) out[k] = e[k];
        if (e.EventType === EventType.TaskScheduled || e.EventType === EventType.SubOrchestrationInstanceCreated) out.FunctionName = e.Name;
        if (opts.showHistoryOutput) {
          if (e.Result !== undefined) out.Result = parseJson(e.Result);
          if (e.Input !== undefined) out.Input = parseJson(e.Input);
          if (e.FailureDetails !== undefined) out.FailureDetails = parseJson(e.FailureDetails);
        }
        return out;
      });
    }
    return view;
  }

  async list(q: InstanceQuery): Promise<{ items: StatusView[]; continuationToken?: string }> {
    const { rows, continuationToken } = await this.store.queryInstances(q);
    return { items: rows.map((r) => this.viewOf(this.loaded.has(r.instanceId) ? this.rowOf(this.loaded.get(r.instanceId)!) : r, true)), continuationToken };
  }

  private viewOf(row: InstanceRow, showInput: boolean): StatusView {
    return {
      name: row.name,
      instanceId: row.instanceId,
      runtimeStatus: row.runtimeStatus,
      input: showInput ? parseJson(row.input) : null,
      customStatus: parseJson(row.customStatus),
      output: parseJson(row.output),
      createdTime: row.createdTime.toISOString(),
      lastUpdatedTime: row.lastUpdatedTime.toISOString(),
    };
  }

  /** Current history length of a loaded instance (benchmarks report it). */
  historyLength(instanceId: string): number | undefined {
    return this.loaded.get(instanceId)?.history.length;
  }

  // ---- inbox ----------------------------------------------------------------------------------

  /**
   * Durably record a message for an instance, then wake it. Messages for one instance that arrive
   * together are written in one transaction.
   */
  private async deliver(instanceId: string, message: InboxMessage): Promise<void> {
    const inst = this.loaded.get(instanceId);
    if (!inst) {
      const live = await this.activate(instanceId);
      if (!live || !this.loaded.has(instanceId)) return; // finished: a late result has nowhere to go
    }
    await new Promise<void>((resolve, reject) => {
      let buf = this.inboxBuffers.get(instanceId);
      if (!buf) {
        buf = { messages: [], waiters: [] };
        this.inboxBuffers.set(instanceId, buf);
        setImmediate(() => void this.flushInbox(instanceId));
      }
      buf.messages.push(message);
      buf.waiters.push({ resolve, reject });
    });
  }

  /**
   * An activity result goes straight to its instance in memory and becomes durable with the episode
   * that consumes it (one transaction, instead of an inbox row and then the episode). This is the
   * same at-least-once contract as a result message in DTFx: a crash before that commit means the
   * result was never recorded, the TaskScheduled stays open, and recovery runs the activity again.
   */
  private acceptResult(instanceId: string, message: InboxMessage): void {
    const inst = this.loaded.get(instanceId);
    if (!inst || inst.executionId !== message.executionId) return; // finished or continued as new: nowhere to go
    if (inst.inbox.some((m) => m.key === message.key)) return;
    inst.inbox.push({ ...message, volatile: true });
    this.schedule(inst);
  }

  private async flushInbox(instanceId: string): Promise<void> {
    const buf = this.inboxBuffers.get(instanceId);
    this.inboxBuffers.delete(instanceId);
    if (!buf) return;
    try {
      await this.track(this.store.putInbox(instanceId, buf.messages));
    } catch (err) {
      buf.waiters.forEach((w) => w.reject(err));
      return;
    }
    const inst = this.loaded.get(instanceId);
    if (inst) {
      for (const m of buf.messages) if (!inst.inbox.some((x) => x.key === m.key) && !inst.history.some((e) => e.InboxKey === m.key)) inst.inbox.push(m);
      this.schedule(inst);
    }
    buf.waiters.forEach((w) => w.resolve());
  }

  // ---- episodes -------------------------------------------------------------------------------

  private schedule(inst: Instance): void {
    if (this.stopped) return;
    if (inst.busy) {
      inst.again = true;
      return;
    }
    if (inst.queued) return;
    inst.queued = true;
    void this.track(
      (async () => {
        await this.orchestratorSlots.acquire();
        inst.queued = false;
        this.stats.episodesInFlight++;
        this.stats.maxEpisodesInFlight = Math.max(this.stats.maxEpisodesInFlight, this.stats.episodesInFlight);
        let released = false;
        const release = (): void => {
          if (released) return;
          released = true;
          this.stats.episodesInFlight--;
          this.orchestratorSlots.release();
        };
        inst.releaseSlot = release;
        try {
          await this.withLock(inst, () => this.episode(inst));
        } finally {
          if (inst.releaseSlot === release) inst.releaseSlot = undefined;
          release();
        }
      })(),
    );
  }

  private async withLock(inst: Instance, fn: () => Promise<void>): Promise<void> {
    while (inst.busy) await new Promise((r) => setTimeout(r, 5));
    inst.busy = true;
    inst.again = false;
    try {
      await fn();
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      this.log.error({ err, instanceId: inst.id, statusCode: status }, 'episode could not be committed; reloading the instance and trying again');
      await new Promise((r) => setTimeout(r, 200));
      if (!this.stopped) {
        this.loaded.delete(inst.id);
        for (const t of inst.timers.values()) clearTimeout(t);
        inst.busy = false;
        await this.activate(inst.id);
        return;
      }
    } finally {
      inst.busy = false;
    }
    if (inst.again && this.loaded.get(inst.id) === inst) this.schedule(inst);
  }

  private dueTimers(inst: Instance, now: Date): HistoryEvent[] {
    const fired = new Set(inst.history.filter((e) => e.EventType === EventType.TimerFired).map((e) => e.TimerId));
    return inst.history
      .filter((e) => e.EventType === EventType.TimerCreated && !fired.has(e.EventId) && e.FireAt && new Date(e.FireAt) <= now)
      .map((e) => ({ EventType: EventType.TimerFired, EventId: -1, Timestamp: now.toISOString(), TimerId: e.EventId, FireAt: e.FireAt }));
  }

  /**
   * One episode, in the order DurableTask.Core's TaskOrchestrationDispatcher runs a work item: take what the
   * inbox holds for this execution (load), replay the orchestrator over its history with the new events
   * (replay), turn what it decided into history, work and the instance's new state (apply actions), write all
   * of it in one commit (commit), and only then act on it — start the work, wake the parent (after commit).
   */
  private async episode(inst: Instance): Promise<void> {
    const draft = loadEpisode(inst, new Date());
    if (!draft) return; // nothing to run until the start message arrives
    takeControlMessages(draft);
    if (!draft.terminated && draft.status !== 'Suspended') this.takeNewEvents(inst, draft);
    draft.appended = [...draft.fresh];
    if (draft.terminated) applyTermination(draft);
    else if (draft.work > 0 || draft.startMsg || inst.replay) await this.replayAndApply(inst, draft);
    else if (draft.fresh.length === 1) return this.dropStaleMessages(inst, draft);
    failIfUnstorable(inst, draft, this.log);
    draft.appended.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, Timestamp: draft.now.toISOString() });
    const update = instanceUpdate(inst, draft);
    if (this.stopped) return; // a stopped host writes nothing more: the next host redoes this episode
    await this.commitEpisode(inst, draft, update);
    await this.afterCommit(inst, draft, update);
  }

  /** Results, raised events and due timers that belong to this execution; duplicates and strays are consumed unread. */
  private takeNewEvents(inst: Instance, draft: EpisodeDraft): void {
    const { past, fresh } = draft;
    const closed = new Set<number>();
    for (const e of past) if (e.TaskScheduledId !== undefined && RESULT_TYPES.has(e.EventType)) closed.add(e.TaskScheduledId);
    for (const m of draft.messages) {
      const t = m.event.EventType;
      if (t === EventType.EventRaised) {
        if (m.key.startsWith('evt-k-') && past.some((e) => e.InboxKey === m.key)) {
          draft.consumed.push(m.key); // the same idempotency key, seen already
          continue;
        }
        fresh.push(take(draft, m));
        draft.work++;
      } else if (RESULT_TYPES.has(t)) {
        const id = m.event.TaskScheduledId!;
        const scheduled = past.some((e) => e.EventId === id && (e.EventType === EventType.TaskScheduled || e.EventType === EventType.SubOrchestrationInstanceCreated));
        if (m.executionId !== draft.executionId || !scheduled || closed.has(id)) {
          draft.consumed.push(m.key); // a duplicate or a result for an earlier execution
          continue;
        }
        closed.add(id);
        fresh.push(take(draft, m));
        draft.work++;
      }
    }
    const timers = this.dueTimers({ ...inst, history: past }, draft.now);
    fresh.push(...timers);
    draft.work += timers.length;
  }

  /** Replay: run the orchestrator code over the history and the new events; then apply what it decided. */
  private async replayAndApply(inst: Instance, draft: EpisodeDraft): Promise<void> {
    const handler = this.opts.orchestrators.get(inst.name);
    let outcome: EpisodeOutcome;
    if (!handler) {
      outcome = { kind: 'failed', reason: `No orchestrator function named "${inst.name}" is registered in this app any more, so instance "${inst.id}" cannot run.` };
    } else {
      const input = draft.startMsg ? draft.startMsg.event.Input : inst.input;
      outcome = await runEpisode({
        name: inst.name,
        instanceId: inst.id,
        parentInstanceId: inst.parent?.instanceId,
        handler,
        past: draft.past,
        fresh: draft.fresh,
        input: parseJson(input) ?? undefined,
        log: (level, message) => this.log.info({ instanceId: inst.id, level }, message),
      });
    }
    this.stats.episodes++;
    draft.outcome = outcome;
    if (outcome.customStatus !== undefined) draft.customStatus = JSON.stringify(outcome.customStatus);
    this.applyOutcome(inst, draft, outcome);
  }

  /** Apply actions: what the orchestrator decided becomes history events, new work and the instance's status. */
  private applyOutcome(inst: Instance, draft: EpisodeDraft, outcome: EpisodeOutcome): void {
    const { past, appended, now } = draft;
    switch (outcome.kind) {
      case 'waiting': {
        const known = new Set(past.filter((e) => e.EventId >= 0).map((e) => e.EventId));
        draft.newWork = outcome.open.filter((w) => !known.has(w.id));
        for (const w of draft.newWork) appended.push(this.schedulingEvent(inst, w, [...past, ...appended], now));
        draft.status = draft.status === 'Suspended' ? 'Suspended' : 'Running';
        // Cancelled timers stop ticking.
        for (const w of outcome.open) if (w.kind === 'timer' && w.canceled) this.disarmTimer(inst, w.id);
        return;
      }
      case 'completed':
        appended.push({ EventType: EventType.ExecutionCompleted, EventId: -1, Timestamp: now.toISOString(), OrchestrationStatus: 'Completed', Result: JSON.stringify(outcome.output ?? null) });
        draft.output = JSON.stringify(outcome.output ?? null);
        draft.status = 'Completed';
        return;
      case 'failed':
        appended.push({ EventType: EventType.ExecutionFailed, EventId: -1, Timestamp: now.toISOString(), OrchestrationStatus: 'Failed', Reason: outcome.reason, Details: outcome.details });
        draft.output = JSON.stringify(outcome.reason);
        draft.status = 'Failed';
        return;
      case 'continuedAsNew':
        appended.push({ EventType: EventType.ExecutionCompleted, EventId: -1, Timestamp: now.toISOString(), OrchestrationStatus: 'ContinuedAsNew', Result: JSON.stringify(outcome.input ?? null) });
        draft.nextExecution = randomUUID().replace(/-/g, '');
        draft.carry = this.continuationMessages(inst, draft, draft.nextExecution, outcome);
        draft.status = 'Running';
        return;
    }
  }

  /** Continue-as-new: the next execution's start message, then the raised events it carries over. */
  private continuationMessages(inst: Instance, draft: EpisodeDraft, nextExecution: string, outcome: Extract<EpisodeOutcome, { kind: 'continuedAsNew' }>): InboxMessage[] {
    const startedAt = draft.past.find((e) => e.EventType === EventType.ExecutionStarted) ?? draft.startMsg?.event;
    return [
      {
        key: `start-${nextExecution}`,
        seq: this.nextSeq(),
        executionId: nextExecution,
        event: {
          EventType: EventType.ExecutionStarted,
          EventId: -1,
          Timestamp: draft.now.toISOString(),
          Name: inst.name,
          Input: outcome.input === undefined ? undefined : typeof outcome.input === 'string' ? outcome.input : JSON.stringify(outcome.input),
          ParentInstanceId: startedAt?.ParentInstanceId,
          ParentTaskScheduledId: startedAt?.ParentTaskScheduledId,
          ParentExecutionId: startedAt?.ParentExecutionId,
        },
      },
      ...outcome.carryOver.map((e, i) => ({
        key: `carry-${nextExecution}-${i}`,
        seq: this.nextSeq(),
        event: { EventType: EventType.EventRaised, EventId: -1, Timestamp: e.Timestamp, Name: e.Name, Input: e.Input } as HistoryEvent,
      })),
    ];
  }

  /** No new history: at most duplicates or stale results, which are deleted without an episode. */
  private async dropStaleMessages(inst: Instance, draft: EpisodeDraft): Promise<void> {
    const { consumed, messages } = draft;
    const stored = consumed.filter((k) => !messages.find((m) => m.key === k)?.volatile);
    await this.store.deleteInbox(inst.id, stored);
    if (consumed.length) {
      const gone = new Set(consumed);
      inst.inbox = inst.inbox.filter((m) => !gone.has(m.key));
    }
  }

  /** Commit: the new events, the consumed inbox, the carried-over messages and the instance row, in one write. */
  private async commitEpisode(inst: Instance, draft: EpisodeDraft, update: InstanceUpdate): Promise<void> {
    const volatileKeys = new Set(draft.messages.filter((m) => m.volatile).map((m) => m.key));
    this.stats.historyEvents += draft.appended.length;
    for (const e of draft.appended) this.stats.historyByType[e.EventType] = (this.stats.historyByType[e.EventType] ?? 0) + 1;
    const committing = this.store.commitEpisode({
      instanceId: inst.id,
      executionId: draft.executionId,
      from: draft.past.length,
      expectedCount: inst.history.length,
      events: draft.appended,
      consumedInbox: draft.consumed.filter((k) => !volatileKeys.has(k)),
      extraInbox: draft.carry,
      instance: update,
    });
    // The orchestrator code is done; waiting for the disk needs no slot (the instance stays locked until the commit).
    inst.releaseSlot?.();
    await committing;
  }

  /** Committed: now it is safe to act on it — the instance in memory follows the store, then the work starts. */
  private async afterCommit(inst: Instance, draft: EpisodeDraft, update: InstanceUpdate): Promise<void> {
    const { startMsg, carry, status } = draft;
    const consumedSet = new Set(draft.consumed);
    inst.inbox = inst.inbox.filter((m) => !consumedSet.has(m.key));
    if (draft.reset) {
      for (const t of inst.timers.values()) clearTimeout(t);
      inst.timers.clear();
      inst.dispatched.clear();
    }
    inst.history = [...draft.past, ...draft.appended];
    inst.executionId = draft.executionId;
    if (startMsg) {
      inst.input = startMsg.event.Input;
      inst.parent = startMsg.event.ParentInstanceId
        ? { instanceId: startMsg.event.ParentInstanceId, taskScheduledId: startMsg.event.ParentTaskScheduledId!, executionId: startMsg.event.ParentExecutionId ?? '' }
        : undefined;
    }
    inst.output = draft.output;
    inst.customStatus = draft.customStatus;
    inst.replay = false;
    inst.status = status;
    inst.lastUpdatedTime = draft.now;
    inst.completedTime = update.completedTime;

    if (draft.nextExecution) {
      inst.inbox.push(...carry);
      // The old execution's history stays until the new one's first episode replaces it.
      inst.again = true;
    }

    if (TERMINAL_STATUSES.includes(status)) {
      for (const t of inst.timers.values()) clearTimeout(t);
      inst.timers.clear();
      this.loaded.delete(inst.id);
      if (inst.parent) await this.notifyParent(inst);
      this.log.info({ instanceId: inst.id, status }, 'instance finished');
      return;
    }
    for (const w of draft.newWork) this.startWork(inst, w, draft.appended);
    if (inst.inbox.length) inst.again = true;
  }

  /** The history event that records new work, with the SDK's task id. */
  private schedulingEvent(inst: Instance, w: Scheduled, history: HistoryEvent[], now: Date): HistoryEvent {
    const base = { EventId: w.id, Timestamp: now.toISOString() };
    switch (w.kind) {
      case 'activity': {
        const e: HistoryEvent = { ...base, EventType: EventType.TaskScheduled, Name: w.name, Input: w.input, RetryOf: w.retryOf };
        if (w.retryOf !== undefined && w.retry?.retryTimeoutInMilliseconds && w.retry.retryTimeoutInMilliseconds > 0) {
          const first = history.find((x) => x.EventId === w.retryOf && x.EventType === EventType.TaskScheduled);
          const elapsed = now.getTime() - new Date(first?.Timestamp ?? now).getTime();
          if (elapsed >= w.retry.retryTimeoutInMilliseconds) {
            e.Reason = `Retry timeout of ${w.retry.retryTimeoutInMilliseconds} ms for activity "${w.name}" expired after ${w.attempt - 1} attempt(s); not running attempt ${w.attempt}.`;
          }
        }
        return e;
      }
      case 'timer':
        return { ...base, EventType: EventType.TimerCreated, FireAt: w.fireAt.toISOString() };
      case 'retryTimer': {
        const first = history.find((x) => x.EventId === w.retryOf);
        const elapsed = now.getTime() - new Date(first?.Timestamp ?? now).getTime();
        const timeout = w.retry.retryTimeoutInMilliseconds && w.retry.retryTimeoutInMilliseconds > 0 ? w.retry.retryTimeoutInMilliseconds : Infinity;
        const delay = elapsed >= timeout ? 0 : retryDelayMs(w.retry, w.failures);
        return { ...base, EventType: EventType.TimerCreated, FireAt: new Date(now.getTime() + delay).toISOString(), RetryOf: w.retryOf };
      }
      case 'subOrchestration':
        return {
          ...base,
          EventType: EventType.SubOrchestrationInstanceCreated,
          Name: w.name,
          Input: w.input,
          InstanceId: w.instanceId ?? `${inst.id}:${w.id.toString(16).padStart(4, '0')}`,
          RetryOf: w.retryOf,
        };
    }
  }

  private startWork(inst: Instance, w: Scheduled, appended: HistoryEvent[]): void {
    const e = appended.find((x) => x.EventId === w.id && x.EventType !== EventType.TimerFired);
    if (!e) return;
    if (e.EventType === EventType.TaskScheduled) {
      this.dispatchActivity(inst, { instanceId: inst.id, executionId: inst.executionId, taskId: w.id, name: e.Name!, input: e.Input, expired: e.Reason });
    } else if (e.EventType === EventType.TimerCreated) {
      if (w.kind === 'timer' && w.canceled) return;
      this.armTimer(inst, w.id, new Date(e.FireAt!));
    } else if (e.EventType === EventType.SubOrchestrationInstanceCreated) {
      void this.track(this.ensureChild(inst, e)).catch((err) => this.log.error({ err, instanceId: inst.id }, 'could not start sub-orchestration'));
    }
  }

  // ---- timers ---------------------------------------------------------------------------------

  private armTimer(inst: Instance, id: number, fireAt: Date): void {
    if (inst.timers.has(id)) return;
    const wait = Math.max(0, fireAt.getTime() - Date.now());
    const t = setTimeout(() => {
      inst.timers.delete(id);
      if (fireAt.getTime() > Date.now()) this.armTimer(inst, id, fireAt);
      else if (this.loaded.get(inst.id) === inst) {
        inst.again = true;
        this.schedule(inst);
      }
    }, Math.min(wait, MAX_TIMEOUT));
    inst.timers.set(id, t);
  }

  private disarmTimer(inst: Instance, id: number): void {
    const t = inst.timers.get(id);
    if (t) clearTimeout(t);
    inst.timers.delete(id);
  }

  // ---- activities -----------------------------------------------------------------------------

  private dispatchActivity(inst: Instance, work: ActivityWork): void {
    if (inst.dispatched.has(work.taskId)) return;
    inst.dispatched.add(work.taskId);
    const queuedAt = performance.now();
    void this.track(
      (async () => {
        await this.activitySlots.acquire();
        // A bounded sample (the newest 10,000) is enough for percentiles and keeps a long run's memory flat.
        if (this.stats.activityDispatchLatenciesMs.length >= 10_000) this.stats.activityDispatchLatenciesMs.shift();
        this.stats.activityDispatchLatenciesMs.push(performance.now() - queuedAt);
        let result: InboxMessage | undefined;
        try {
          result = await this.runActivity(work);
        } finally {
          // The slot bounds running activity functions, not the storage write of their result.
          this.activitySlots.release();
        }
        if (result && !this.stopped) this.acceptResult(work.instanceId, result);
      })(),
    );
  }

  /** Run one activity; returns its result as the inbox message to deliver. */
  private async runActivity(work: ActivityWork): Promise<InboxMessage | undefined> {
    if (this.stopped) return undefined;
    const handler = this.opts.activities.get(work.name);
    let event: HistoryEvent;
    const base = { EventId: -1, TaskScheduledId: work.taskId };
    const fail = (type: string, message: string, stack?: string): HistoryEvent => ({
      ...base,
      EventType: EventType.TaskFailed,
      Timestamp: new Date().toISOString(),
      Reason: `Activity function '${work.name}' failed: ${message}`,
      Details: stack,
      FailureDetails: JSON.stringify({ ErrorType: type, ErrorMessage: message, StackTrace: stack }),
    });
    if (work.expired) {
      event = fail('RetryTimeoutExpired', work.expired);
    } else if (!handler) {
      event = fail('FunctionNotFound', `No activity function named "${work.name}" is registered.`);
    } else {
      const wantsClient = !!this.opts.durableClientActivities?.has(work.name) && !!this.opts.durableClientInput;
      const clientInput = df.input.durableClient();
      const context = new InvocationContext({
        functionName: work.name,
        invocationId: `${work.instanceId}:${work.executionId}:${work.taskId}`,
        logHandler: (level, ...msg) => this.log.info({ instanceId: work.instanceId, activity: work.name, level }, msg.map(String).join(' ')),
        options: { trigger: { type: 'activityTrigger', name: 'input' }, extraInputs: wantsClient ? [clientInput] : [], extraOutputs: [] },
      });
      if (wantsClient) context.extraInputs.set(clientInput, this.opts.durableClientInput!());
      this.stats.activitiesRun++;
      try {
        const result = await handler(parseJson(work.input) ?? undefined, context);
        const text = JSON.stringify(result ?? null);
        const tooLarge = unstorable(text);
        if (tooLarge) {
          event = fail('PayloadTooLarge', `its result is ${tooLarge}. Return a key to data stored elsewhere.`);
        } else {
          event = { ...base, EventType: EventType.TaskCompleted, Timestamp: new Date().toISOString(), Result: text };
        }
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        event = fail(e.name || 'Error', e.message, e.stack);
      }
    }
    return { key: `task-${work.executionId}-${work.taskId}`, seq: this.nextSeq(), executionId: work.executionId, event };
  }

  // ---- sub-orchestrations -----------------------------------------------------------------------

  private async ensureChild(parent: Instance, created: HistoryEvent): Promise<void> {
    const childId = created.InstanceId!;
    const ref: ParentRef = { instanceId: parent.id, taskScheduledId: created.EventId, executionId: parent.executionId };
    const row = this.loaded.get(childId) ? undefined : await this.store.getInstance(childId);
    const child = this.loaded.get(childId);
    if (child) return; // running; it reports back when it finishes
    if (row) {
      const part = await this.store.loadPartition(childId);
      const started = part.history.find((e) => e.EventType === EventType.ExecutionStarted);
      const ours = started?.ParentInstanceId === parent.id && started.ParentTaskScheduledId === created.EventId && started.ParentExecutionId === parent.executionId;
      if (ours) {
        if (TERMINAL_STATUSES.includes(row.runtimeStatus)) await this.notifyParent({ id: childId, status: row.runtimeStatus, output: row.output, parent: ref, name: row.name });
        return;
      }
      if (!TERMINAL_STATUSES.includes(row.runtimeStatus) && part.inbox.some((m) => m.event.ParentInstanceId === parent.id && m.event.ParentTaskScheduledId === created.EventId)) return;
      if (!TERMINAL_STATUSES.includes(row.runtimeStatus)) {
        await this.notifyParent({
          id: childId,
          status: 'Failed',
          output: JSON.stringify(`Cannot start sub-orchestration "${created.Name}": instance id "${childId}" is already in use by a ${row.runtimeStatus} instance.`),
          parent: ref,
          name: created.Name!,
        });
        return;
      }
    }
    await this.createInstance(created.Name!, childId, created.Input, ref).catch(async (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      await this.notifyParent({ id: childId, status: 'Failed', output: JSON.stringify(message), parent: ref, name: created.Name! });
    });
  }

  private async notifyParent(child: { id: string; status: RuntimeStatus; output?: string; parent?: ParentRef; name: string }): Promise<void> {
    const p = child.parent;
    if (!p) return;
    const now = new Date().toISOString();
    const event: HistoryEvent =
      child.status === 'Completed'
        ? { EventType: EventType.SubOrchestrationInstanceCompleted, EventId: -1, Timestamp: now, TaskScheduledId: p.taskScheduledId, Result: child.output ?? 'null' }
        : (() => {
            const message = `Sub-orchestration '${child.name}' (instance "${child.id}") ${child.status === 'Terminated' ? 'was terminated' : 'failed'}: ${String(parseJson(child.output) ?? '')}`;
            return {
              EventType: EventType.SubOrchestrationInstanceFailed,
              EventId: -1,
              Timestamp: now,
              TaskScheduledId: p.taskScheduledId,
              Reason: message,
              FailureDetails: JSON.stringify({ ErrorType: 'SubOrchestrationFailed', ErrorMessage: message }),
            };
          })();
    await this.deliver(p.instanceId, { key: `sub-${p.executionId}-${p.taskScheduledId}`, seq: this.nextSeq(), executionId: p.executionId, event });
  }

  // ---- Instances row ----------------------------------------------------------------------------

  private rowOf(inst: Instance): InstanceRow {
    return {
      instanceId: inst.id,
      name: inst.name,
      version: inst.version,
      executionId: inst.executionId,
      runtimeStatus: inst.status === 'Running' && inst.history.length === 0 ? 'Pending' : inst.status,
      createdTime: inst.createdTime,
      lastUpdatedTime: inst.lastUpdatedTime,
      completedTime: inst.completedTime,
      input: inst.input,
      output: inst.output,
      customStatus: inst.customStatus,
      parentInstanceId: inst.parent?.instanceId,
    };
  }
}

/**
 * What one episode builds before it is committed (DurableTask.Core's OrchestrationRuntimeState with the work
 * item's new messages). Nothing in it is visible until the commit.
 */
interface EpisodeDraft {
  now: Date;
  /** The inbox as the episode found it. */
  messages: InboxMessage[];
  /** Inbox keys the commit deletes: the messages taken into history, and duplicates and strays dropped unread. */
  consumed: string[];
  /** The execution's history before this episode (empty when a start message begins a new execution). */
  past: HistoryEvent[];
  executionId: string;
  startMsg?: InboxMessage;
  /** A new execution replaces the one in memory (its timers, dispatched work, output and custom status go). */
  reset: boolean;
  /** The new events the orchestrator sees: OrchestratorStarted, the start, control messages, results, timers. */
  fresh: HistoryEvent[];
  /** Results, raised events and fired timers among `fresh`: what makes the orchestrator code worth running. */
  work: number;
  terminated?: HistoryEvent;
  status: RuntimeStatus;
  /** `fresh` and what the episode adds after it: scheduled work, the execution's end. */
  appended: HistoryEvent[];
  outcome?: EpisodeOutcome;
  newWork: Scheduled[];
  /** Continue-as-new: the next execution's start and carried-over events, written with this commit. */
  carry: InboxMessage[];
  nextExecution?: string;
  output?: string;
  customStatus?: string;
}

/** A message becomes history, remembering which inbox row it came from; the commit deletes that row. */
function take(draft: EpisodeDraft, m: InboxMessage): HistoryEvent {
  draft.consumed.push(m.key);
  return { ...m.event, InboxKey: m.key };
}

/**
 * Load: which execution this episode runs and the messages it starts from. A new execution (start, restart or
 * continue-as-new) replaces the current one: the newest start message that is newer than the running execution
 * wins; an older one is a leftover (a start whose API call was cut off by a crash and then retried) and is dropped.
 * Undefined when there is nothing to run yet (no history and no start message).
 */
function loadEpisode(inst: Instance, now: Date): EpisodeDraft | undefined {
  const messages = [...inst.inbox];
  const consumed: string[] = [];
  let past = inst.history;
  let executionId = inst.executionId;
  let reset = false;
  const currentStart = past.find((e) => e.EventType === EventType.ExecutionStarted);
  const startMsg = messages
    .filter(
      (m) =>
        m.event.EventType === EventType.ExecutionStarted &&
        (past.length === 0 || m.executionId !== executionId) &&
        (!currentStart || m.seq >= Date.parse(currentStart.Timestamp) * 1000),
    )
    .sort((a, b) => b.seq - a.seq)[0];
  for (const m of messages) {
    if (m.event.EventType === EventType.ExecutionStarted && m !== startMsg) consumed.push(m.key); // running it already, or a leftover
  }
  if (startMsg) {
    reset = past.length > 0 || startMsg.executionId !== executionId;
    past = [];
    executionId = startMsg.executionId ?? executionId;
  }
  if (past.length === 0 && !startMsg) return undefined;
  const draft: EpisodeDraft = {
    now,
    messages,
    consumed,
    past,
    executionId,
    startMsg,
    reset,
    fresh: [{ EventType: EventType.OrchestratorStarted, EventId: -1, Timestamp: now.toISOString() }],
    work: 0,
    status: startMsg ? 'Running' : inst.status,
    appended: [],
    newWork: [],
    carry: [],
    // Visible only once the episode is committed.
    output: inst.output,
    customStatus: inst.customStatus,
  };
  if (startMsg) draft.fresh.push(take(draft, startMsg));
  return draft;
}

/** Terminate, suspend and resume come first; a termination ends the execution and consumes everything else. */
function takeControlMessages(draft: EpisodeDraft): void {
  for (const m of draft.messages) {
    if (!CONTROL.has(m.event.EventType)) continue;
    if (m.event.EventType === EventType.ExecutionTerminated) {
      draft.terminated = take(draft, m);
      // Nothing else will ever read this instance's pending messages.
      for (const other of draft.messages) if (!draft.consumed.includes(other.key)) draft.consumed.push(other.key);
      return;
    }
    draft.fresh.push(take(draft, m));
    draft.status = m.event.EventType === EventType.ExecutionSuspended ? 'Suspended' : 'Running';
  }
}

function applyTermination(draft: EpisodeDraft): void {
  const reason = draft.terminated!.Reason ?? '';
  draft.appended.push(draft.terminated!, {
    EventType: EventType.ExecutionCompleted,
    EventId: -1,
    Timestamp: draft.now.toISOString(),
    OrchestrationStatus: 'Terminated',
    Result: JSON.stringify(reason),
  });
  draft.status = 'Terminated';
  draft.output = JSON.stringify(reason);
}

/**
 * What the episode produced must fit the task hub; if not, the instance fails now, saying what was too large,
 * instead of failing to commit on every retry.
 */
function failIfUnstorable(inst: Instance, draft: EpisodeDraft, log: Logger): void {
  const statusTooLarge = draft.customStatus === inst.customStatus ? undefined : customStatusTooLarge(draft.customStatus);
  const tooLarge = draft.outcome ? firstUnstorable(draft.appended.slice(draft.fresh.length), draft.carry, draft.customStatus === inst.customStatus ? undefined : draft.customStatus) : undefined;
  if (!tooLarge && !statusTooLarge) return;
  const reason = statusTooLarge
    ? `The orchestration's custom status is too large: ${statusTooLarge} Keep it a summary; put per-item data in a table.`
    : `The orchestration cannot be stored: ${tooLarge}. Keep large data in a table or blob and carry its key.`;
  draft.appended.length = draft.fresh.length;
  draft.appended.push({ EventType: EventType.ExecutionFailed, EventId: -1, Timestamp: draft.now.toISOString(), OrchestrationStatus: 'Failed', Reason: reason });
  draft.newWork = [];
  draft.carry = [];
  draft.nextExecution = undefined;
  draft.customStatus = inst.customStatus;
  draft.output = JSON.stringify(reason);
  draft.status = 'Failed';
  log.error({ instanceId: inst.id }, reason);
}

/** The instance row as this episode leaves it. */
function instanceUpdate(inst: Instance, draft: EpisodeDraft): InstanceUpdate {
  const { startMsg, reset, status, now } = draft;
  if (startMsg && reset) {
    // What the previous execution left behind does not describe this one.
    if (!TERMINAL_STATUSES.includes(status)) draft.output = undefined;
    if (draft.outcome?.customStatus === undefined) draft.customStatus = undefined;
  }
  const terminal = TERMINAL_STATUSES.includes(status);
  return {
    executionId: draft.executionId,
    runtimeStatus: status,
    lastUpdatedTime: now,
    completedTime: terminal ? now : startMsg && reset ? undefined : inst.completedTime,
    output: draft.output,
    customStatus: draft.customStatus,
    ...(startMsg ? { input: { value: startMsg.event.Input } } : {}),
  };
}
