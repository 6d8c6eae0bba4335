import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { Logger } from 'pino';
import { onOutboxWritten, type OutboxWrite } from '../activities/notify';
import type { Client } from '../http/workshopService';
import { drainOutbox, pendingMessages, type DrainOptions, type DrainResult, type OutboxRow } from './sender';
import { botLogger, botRuntime, errInfo } from './teamsApp';

/**
 * Deliver on write: the Teams sender is woken the moment the notify activity commits an outbox row in this
 * process, instead of waiting for the `teamsOutboxSender` timer's next tick (2 s by default, up to a minute
 * or more when the schedule is slowed between cohorts).
 *
 * - **Who sends.** The process that ran the notify activity sends its row: the activity's listener
 *   (`onOutboxWritten`) queues the row here and wakes the pump. In Azure, with several instances, that is the
 *   instance the Durable extension gave the activity to. The timer stays as the sweep: on its instance (a
 *   timer trigger runs on one instance at a time) it scans every pending row — what a crashed or recycled
 *   instance left, rows written before a restart, rows whose recipient had not talked to the bot yet, rows
 *   the activity's own instance could not send — and feeds them in behind the woken ones.
 * - **The durable client.** A pass reads the run's input through a DurableClient (bot/people.ts `runInput`,
 *   once per run per process). The notify activities have the DurableClient input binding (activities/index.ts),
 *   so each wake-up brings the client of the invocation that wrote the row; the timer brings its own. The
 *   binding's data points at the host's own Durable endpoint (`rpcBaseUrl`, localhost in Azure; the local host
 *   in `local/`), which outlives the invocation, so a pass that runs on after the activity returned may use it.
 *   A row written without one (notify called from a timer) waits for the next client the pump is given.
 * - **Cost.** A wake-up costs no scan: the row comes with the signal and a pass serves only the woken
 *   recipients' rows from this in-process index (point reads for the claims and the recipients). The full scan
 *   of `Status eq 'pending'` is the timer's, once a tick.
 * - **Coalesced, woken first.** One pass in flight per process; rows woken during it are served by the next pass,
 *   before the backlog (swept rows, rows a pass left for its budget). A pass that has sent something stops
 *   claiming when a newer row is woken (it yields: the claims it holds are given back), so a paced broadcast to
 *   1,000 learners does not hold a learner's next prompt for its whole length; the broadcast resumes next.
 * - **Guarantees kept.** Every send still goes through `drainOutbox`'s pass: exactly once by the BotDeliveries
 *   claims (another instance's sweep or a concurrent pass finds the claim), in order per conversation (a
 *   recipient's older indexed rows are served with the woken one, and a row that cannot go holds the later
 *   ones back), within Teams' per-conversation limits and BOT_APP_SENDS_PER_SECOND. Those limiters live in
 *   the process: in Azure each instance paces itself, so with N instances sending at once the app may reach
 *   N × BOT_APP_SENDS_PER_SECOND (Teams answers 429 past its own limit, which backs off: the row is kept).
 * - **After an Azure instance goes away** mid-pass, its claims expire (60 s) and the sweep sends those rows.
 */

/** Rows indexed at most; past it, new rows are left to the timer's sweep (bounded memory at any roster). */
const MAX_INDEXED = 20_000;
/** Recipients served by one pass: a pass resolves each row's recipient before it sends, so keep it to what a pass can send. */
const PASS_KEYS = 300;
const PASS_BUDGET_MS = 10_000;
/** After a pass fails (the store or the durable endpoint unreachable), its rows are tried again this much later. */
const ERROR_RETRY_MS = 2_000;

/** Whose conversation(s) a row goes to: a learner of a run, or the run's instructors. */
export const recipientKey = (r: Pick<OutboxRow, 'runId' | 'role' | 'learnerId'>): string => `${r.runId}|${r.role}|${r.learnerId}`;
const rowId = (r: OutboxRow): string => `${r.runId}|${r.rowKey}`;

type Drain = (opts: DrainOptions) => Promise<DrainResult>;

export class OutboxPump {
  /** Pending rows this process knows of, by recipient, then by row; `seen` is when they were last fed in. */
  private readonly rows = new Map<string, Map<string, { row: OutboxRow; seen: number }>>();
  private indexed = 0;
  /** Recipients with a freshly written row: served first. */
  private readonly urgent = new Set<string>();
  /** Recipients to carry on with: swept, left by a pass's budget or yield, or due again after a back-off. */
  private backlog = new Set<string>();
  private readonly due = new Map<string, number>();
  private dueTimer: { at: number; handle: NodeJS.Timeout } | undefined;
  private client: Client | undefined;
  private running: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  private warnedFull = false;
  /** Counts recipients woken by a write: a pass yields to the ones woken after it started, not to a queue it is working through. */
  private wakes = 0;
  /** Passes run so far (tests and logs). */
  passes = 0;

  constructor(
    private readonly drain: Drain = drainOutbox,
    private readonly log: () => Logger = botLogger,
  ) {}

  /** A row was written in this process: serve its recipient first. */
  wake(row: OutboxRow, client?: Client): void {
    if (client) this.client = client;
    if (!this.index(row, Date.now())) return;
    this.urgent.add(recipientKey(row));
    this.wakes++;
    this.kick();
  }

  /** The timer's full scan (started at `scannedAt`): index what is pending, forget what no longer is, serve it behind the woken rows. */
  sweep(pending: OutboxRow[], scannedAt: number, client: Client): void {
    this.client = client;
    const found = new Set(pending.map(rowId));
    for (const [key, byRow] of this.rows) {
      for (const [id, e] of byRow) if (e.seen < scannedAt && !found.has(id)) this.forget(key, id);
    }
    for (const row of pending) if (this.index(row, scannedAt)) this.backlog.add(recipientKey(row));
    this.kick();
  }

  /** Resolves when nothing is left to serve now (rows waiting for a back-off do not count), or after `limitMs`. */
  whenIdle(limitMs: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, limitMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.idleWaiters.push(done);
    });
  }

  /** What the pump holds (tests, logs). */
  stats(): { indexed: number; urgent: number; backlog: number; due: number; passes: number } {
    return { indexed: this.indexed, urgent: this.urgent.size, backlog: this.backlog.size, due: this.due.size, passes: this.passes };
  }

  private index(row: OutboxRow, seen: number): boolean {
    const key = recipientKey(row);
    const byRow = this.rows.get(key) ?? new Map<string, { row: OutboxRow; seen: number }>();
    const known = byRow.get(rowId(row));
    if (known) {
      known.seen = Math.max(known.seen, seen);
      return true;
    }
    if (this.indexed >= MAX_INDEXED) {
      if (!this.warnedFull) this.log().warn({ indexed: this.indexed }, 'teams sender: in-process outbox index is full; newer rows wait for the timer sweep');
      this.warnedFull = true;
      return false;
    }
    byRow.set(rowId(row), { row, seen });
    this.rows.set(key, byRow);
    this.indexed++;
    return true;
  }

  private forget(key: string, id: string): void {
    const byRow = this.rows.get(key);
    if (!byRow?.delete(id)) return;
    this.indexed--;
    if (!byRow.size) this.rows.delete(key);
    if (this.indexed < MAX_INDEXED) this.warnedFull = false;
  }

  private kick(): void {
    if (this.running || !this.client || (!this.urgent.size && !this.backlog.size)) {
      if (!this.running) this.settleIdle();
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
      this.kick();
    });
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async loop(): Promise<void> {
    while (this.client && (this.urgent.size || this.backlog.size)) {
      const from = this.urgent.size ? this.urgent : this.backlog;
      const keys = [...from].slice(0, PASS_KEYS);
      for (const k of keys) from.delete(k);
      await this.pass(keys, this.client);
    }
  }

  /** One pass over the given recipients' indexed rows, oldest first; then what to do with each recipient. */
  private async pass(keys: string[], client: Client): Promise<void> {
    const messages = keys
      .flatMap((k) => [...(this.rows.get(k)?.values() ?? [])].map((e) => e.row))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.rowKey.localeCompare(b.rowKey));
    if (!messages.length) return;
    this.passes++;
    const wakesBefore = this.wakes;
    let result: DrainResult;
    try {
      result = await this.drain({ client, messages, budgetMs: PASS_BUDGET_MS, shouldYield: () => this.wakes > wakesBefore, log: this.log() });
    } catch (err) {
      this.log().warn({ err: errInfo(err), rows: messages.length }, 'teams sender pass failed; trying those rows again shortly');
      for (const k of keys) this.schedule(k, Date.now() + ERROR_RETRY_MS);
      return;
    }
    this.afterPass(messages, result);
  }

  /** Forget what is over; carry on at once with what a budget or a yield left; come back after a back-off for the rest. */
  private afterPass(messages: OutboxRow[], result: DrainResult): void {
    const resume: string[] = [];
    const retryAt = new Map<string, number>();
    for (const row of messages) {
      const key = recipientKey(row);
      const outcome = result.outcome.get(row) ?? 'resume';
      if (outcome === 'done' || outcome === 'waiting') this.forget(key, rowId(row));
      else if (outcome === 'resume') resume.push(key);
      else retryAt.set(key, Math.max(retryAt.get(key) ?? 0, outcome.retryAt));
    }
    const resumed = new Set(resume);
    for (const [key, at] of retryAt) if (!resumed.has(key)) this.schedule(key, at);
    // Work a pass was interrupted in goes before the older backlog, the woken rows before both (loop()).
    if (resumed.size) this.backlog = new Set([...resumed, ...this.backlog]);
  }

  /** Serve `key` again at `at` (one timer for all, at the earliest). */
  private schedule(key: string, at: number): void {
    this.due.set(key, Math.min(this.due.get(key) ?? Infinity, at));
    this.armDue();
  }

  private armDue(): void {
    const next = Math.min(...this.due.values());
    if (!Number.isFinite(next) || (this.dueTimer && this.dueTimer.at <= next)) return;
    if (this.dueTimer) clearTimeout(this.dueTimer.handle);
    const handle = setTimeout(() => this.fireDue(), Math.max(0, next - Date.now()));
    handle.unref(); // a back-off must not keep a process alive that is shutting down; the sweep has the rows
    this.dueTimer = { at: next, handle };
  }

  private fireDue(): void {
    this.dueTimer = undefined;
    const now = Date.now();
    for (const [key, at] of this.due) {
      if (at > now) continue;
      this.due.delete(key);
      if (this.rows.has(key)) this.backlog.add(key);
    }
    this.armDue();
    this.kick();
  }
}

/** This process's pump. */
export const outboxPump = new OutboxPump();

function clientOf(context: InvocationContext | undefined): Client | undefined {
  if (!context) return undefined;
  try {
    return df.getClient(context);
  } catch {
    return undefined; // an invocation without the binding: the pump keeps the client it has
  }
}

/** The notify activity's listener: queue the row it committed and wake the pump (never throws into the activity). */
export function wakeOnWrite(row: OutboxWrite, context: InvocationContext | undefined): void {
  if (!botRuntime()) return;
  try {
    outboxPump.wake({ ...row }, clientOf(context));
  } catch (err) {
    botLogger().warn({ err: errInfo(err), runId: row.runId, key: row.rowKey }, 'teams sender could not be woken; the timer sweep sends the row');
  }
}

/** The timer's tick: the full scan, then wait (within `budgetMs`) while the pump sends what it found. */
export async function sweepOutbox(client: Client, budgetMs: number): Promise<void> {
  const scannedAt = Date.now();
  const pending = await pendingMessages();
  outboxPump.sweep(pending, scannedAt, client);
  await outboxPump.whenIdle(budgetMs);
}

onOutboxWritten(wakeOnWrite);
