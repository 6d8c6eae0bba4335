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
 * - **Cost.** A wake-up costs no scan: the row comes with the signal, and a pass serves one recipient's rows
 *   from this in-process index (point reads for the claims and the recipient). The full scan of
 *   `Status eq 'pending'` is the timer's, once a tick, whatever the number of wake-ups.
 * - **Coalesced, woken first.** One pump per process; one pass per recipient (a learner of a run, or a run's
 *   instructors) at a time, a follow-up pass when that recipient is woken during its pass, and at most
 *   CONCURRENCY recipients served at once — first in the order they were woken, then the backlog (swept rows, rows
 *   a pass left for its budget, rows due again after a back-off). Passes per recipient rather than one pass over
 *   everything woken, so a recipient whose turn comes does not wait for the slowest conversation of a batch; a
 *   broadcast to 1,000 learners queues 1,000 recipients and is sent at the app's pace, a learner's prompt woken
 *   during it queues behind what was woken before it (the app's limit is shared, first come first served).
 * - **Guarantees kept.** Every send still goes through `drainOutbox`'s pass: exactly once by the BotDeliveries
 *   claims (another instance, the sweep and a wake-up can hold the same row: the claim decides), in order per
 *   conversation (a recipient's indexed rows are served oldest first in one pass, and a row that cannot go holds
 *   the later ones back until it is due again), within Teams' per-conversation limits and
 *   BOT_APP_SENDS_PER_SECOND (both limiters are shared by every pass of the process). Rows are paced, never
 *   dropped: a pass that runs out of budget gives its claims back and the recipient goes to the backlog. The
 *   limiters live in the process: in Azure each instance paces itself, so with N instances sending at once the app
 *   may reach N × BOT_APP_SENDS_PER_SECOND — set it to Teams' 50 per app divided by the instances that send at
 *   once (Teams answers 429 past its limit, which backs off and keeps the row).
 * - **After an Azure instance goes away** mid-pass, its claims expire (60 s) and the sweep sends those rows.
 */

/** Rows indexed at most; past it, new rows are left to the timer's sweep (bounded memory at any roster). */
const MAX_INDEXED = 20_000;
/**
 * Recipients served at once (each by one pass over its own rows). A pass spends most of its time waiting for the
 * store (claim, card, record: a group commit each), so this is what the sender's throughput scales with; the
 * app's limit, not this, bounds the sends per second (passes over it wait for a slot).
 */
const CONCURRENCY = 32;
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
  /** Recipients with a freshly written row, in the order they were woken: served first. */
  private readonly urgent = new Set<string>();
  /** Recipients to carry on with: swept, left by a pass's budget, or due again after a back-off. */
  private readonly backlog = new Set<string>();
  /** Recipients a pass is serving now; one pass per recipient at a time keeps its conversation in order. */
  private readonly active = new Set<string>();
  /** Recipients woken while their pass ran: a follow-up pass serves them. */
  private readonly again = new Set<string>();
  private readonly due = new Map<string, number>();
  private dueTimer: { at: number; handle: NodeJS.Timeout } | undefined;
  private client: Client | undefined;
  private idleWaiters: Array<() => void> = [];
  private warnedFull = false;
  /** Passes and timer sweeps so far (tests and logs). */
  passes = 0;
  sweeps = 0;
  /** The most passes that ran at once (tests). */
  peakActive = 0;

  constructor(
    private readonly drain: Drain = drainOutbox,
    private readonly log: () => Logger = botLogger,
    private readonly concurrency = CONCURRENCY,
  ) {}

  /** A row was written in this process: serve its recipient first. */
  wake(row: OutboxRow, client?: Client): void {
    if (client) this.client = client;
    if (!this.index(row, Date.now())) return;
    const key = recipientKey(row);
    if (this.active.has(key)) this.again.add(key);
    else this.urgent.add(key);
    this.pump();
  }

  /** The timer's full scan (started at `scannedAt`): index what is pending, forget what no longer is, serve it behind the woken rows. */
  sweep(pending: OutboxRow[], scannedAt: number, client: Client): void {
    this.client = client;
    this.sweeps++;
    const found = new Set(pending.map(rowId));
    for (const [key, byRow] of this.rows) {
      for (const [id, e] of byRow) if (e.seen < scannedAt && !found.has(id)) this.forget(key, id);
    }
    for (const row of pending) {
      const key = recipientKey(row);
      if (!this.index(row, scannedAt) || this.urgent.has(key)) continue;
      if (this.active.has(key)) this.again.add(key);
      else this.backlog.add(key);
    }
    this.pump();
  }

  /** Resolves when nothing is left to serve now (rows waiting for a back-off do not count), or after `limitMs`. */
  whenIdle(limitMs: number): Promise<void> {
    if (this.idle()) return Promise.resolve();
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
  stats(): { indexed: number; urgent: number; backlog: number; active: number; due: number; passes: number; sweeps: number; peakActive: number } {
    return { indexed: this.indexed, urgent: this.urgent.size, backlog: this.backlog.size, active: this.active.size, due: this.due.size, passes: this.passes, sweeps: this.sweeps, peakActive: this.peakActive };
  }

  private idle(): boolean {
    return !this.active.size && (!this.client || (!this.urgent.size && !this.backlog.size));
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

  /** Start passes for the next recipients (woken first, then the backlog) while there is room. */
  private pump(): void {
    while (this.client && this.active.size < this.concurrency) {
      const key = first(this.urgent) ?? first(this.backlog);
      if (key === undefined) break;
      this.urgent.delete(key);
      this.backlog.delete(key);
      this.active.add(key);
      this.peakActive = Math.max(this.peakActive, this.active.size);
      void this.pass(key, this.client)
        .catch((err: unknown) => this.log().error({ err: errInfo(err), key }, 'teams sender pass broke; the timer sweep sends its rows'))
        .finally(() => {
          this.active.delete(key);
          if (this.again.delete(key)) this.urgent.add(key);
          this.pump();
        });
    }
    if (this.idle()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** One pass over a recipient's indexed rows, oldest first; then what to do with them. */
  private async pass(key: string, client: Client): Promise<void> {
    const messages = [...(this.rows.get(key)?.values() ?? [])].map((e) => e.row).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.rowKey.localeCompare(b.rowKey));
    if (!messages.length) return;
    this.passes++;
    let result: DrainResult;
    try {
      result = await this.drain({ client, messages, budgetMs: PASS_BUDGET_MS, log: this.log() });
    } catch (err) {
      this.log().warn({ err: errInfo(err), key, rows: messages.length }, 'teams sender pass failed; trying those rows again shortly');
      this.schedule(key, Date.now() + ERROR_RETRY_MS);
      return;
    }
    this.afterPass(key, messages, result);
  }

  /** Forget what is over; carry on soon with what the budget left; come back after a back-off for the rest. */
  private afterPass(key: string, messages: OutboxRow[], result: DrainResult): void {
    let resume = false;
    let retryAt = 0;
    for (const row of messages) {
      const outcome = result.outcome.get(row) ?? 'resume';
      if (outcome === 'done' || outcome === 'waiting') this.forget(key, rowId(row));
      else if (outcome === 'resume') resume = true;
      else retryAt = Math.max(retryAt, outcome.retryAt);
    }
    if (resume) this.backlog.add(key);
    else if (retryAt) this.schedule(key, retryAt);
  }

  /** Serve `key` again at `at` (one timer for all, at the earliest). */
  private schedule(key: string, at: number): void {
    this.due.set(key, Math.min(this.due.get(key) ?? Infinity, at));
    this.armDue();
  }

  private armDue(): void {
    let next = Infinity;
    for (const at of this.due.values()) next = Math.min(next, at);
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
      if (!this.rows.has(key)) continue;
      if (this.active.has(key)) this.again.add(key);
      else if (!this.urgent.has(key)) this.backlog.add(key);
    }
    this.armDue();
    this.pump();
  }
}

function first(set: Set<string>): string | undefined {
  for (const v of set) return v;
  return undefined;
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
