import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Client } from '../http/workshopService';
import { OutboxPump, recipientKey } from './outboxPump';
import type { DrainOptions, DrainResult, OutboxRow, RowOutcome } from './sender';

/**
 * The pump's scheduling, with the pass itself (sender.ts drainOutbox, covered end to end by tests/teams) replaced
 * by one the test finishes by hand: which recipients' rows a pass gets, when, and how many passes run at once.
 */
const client = {} as Client; // never called: the pass below stands in for drainOutbox, the only user of the client
const silent = () => pino({ level: 'silent' });
let seq = 0;
const row = (learnerId: string, kind = 'prompt'): OutboxRow => ({ runId: 'r', rowKey: `k${++seq}`, role: 'learner', learnerId, kind, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, seq)).toISOString(), body: {} });

interface Pass {
  rows: string[];
  learner: string;
  finish(outcome?: (r: OutboxRow) => RowOutcome): void;
}

function harness(concurrency = 8) {
  const passes: Pass[] = [];
  let running = 0;
  let peak = 0;
  const waiters: Array<() => void> = [];
  const drain = (opts: DrainOptions): Promise<DrainResult> =>
    new Promise((resolve) => {
      running++;
      peak = Math.max(peak, running);
      const messages = opts.messages!;
      passes.push({
        rows: messages.map((m) => m.rowKey),
        learner: messages[0]!.learnerId,
        finish: (outcome = () => 'done') => {
          running--;
          resolve({ sent: 0, throttled: 0, failed: 0, waiting: 0, deferred: 0, outcome: new Map(messages.map((m) => [m, outcome(m)])) });
        },
      });
      for (const w of waiters.splice(0)) w();
    });
  const pump = new OutboxPump(drain, silent, concurrency);
  /** The n-th pass (0-based), once it has started. */
  const nth = async (n: number): Promise<Pass> => {
    while (passes.length <= n) await new Promise<void>((r) => waiters.push(r));
    return passes[n]!;
  };
  return { pump, passes, nth, peak: () => peak, running: () => running };
}

describe('OutboxPump', () => {
  it('runs one pass per recipient at a time: a wake-up during it gets a follow-up pass with the recipient’s rows oldest first', async () => {
    const h = harness();
    const first = row('ada');
    h.pump.wake(first, client);
    const p0 = await h.nth(0);
    expect(p0.rows).toEqual([first.rowKey]);
    const second = row('ada');
    h.pump.wake(second, client);
    h.pump.wake(row('ada'), client);
    expect(h.passes).toHaveLength(1); // coalesced: no second pass for ada while hers runs
    p0.finish((r) => (r === first ? 'resume' : 'done')); // the first row was left (budget): it goes again, first
    const p1 = await h.nth(1);
    expect(p1.rows[0]).toBe(first.rowKey);
    expect(p1.rows).toHaveLength(3);
    p1.finish();
    await h.pump.whenIdle(5_000);
    expect(h.passes).toHaveLength(2);
    expect(h.pump.stats().indexed).toBe(0);
  });

  it('serves woken recipients before the swept backlog, and no more than its concurrency at once', async () => {
    const h = harness(2);
    h.pump.sweep(['b1', 'b2', 'b3'].map((l) => row(l)), Date.now(), client);
    h.pump.wake(row('woken'), client);
    const [p0, p1] = [await h.nth(0), await h.nth(1)];
    expect([p0.learner, p1.learner]).toEqual(['b1', 'b2']); // the sweep came first and took both places
    expect(h.running()).toBe(2);
    p0.finish();
    expect((await h.nth(2)).learner).toBe('woken'); // the next free place goes to the woken recipient, before b3
    p1.finish();
    expect((await h.nth(3)).learner).toBe('b3');
    h.passes[2]!.finish();
    h.passes[3]!.finish();
    await h.pump.whenIdle(5_000);
    expect(h.peak()).toBe(2);
  });

  it('comes back to a row that must wait (throttled, claimed elsewhere) when it is due, and forgets rows that are over', async () => {
    const h = harness();
    const r = row('grace');
    h.pump.wake(r, client);
    (await h.nth(0)).finish(() => ({ retryAt: Date.now() + 200 }));
    await new Promise((r) => setImmediate(r)); // the pass's outcome is handled once its promise settles
    expect(h.pump.stats()).toMatchObject({ indexed: 1, due: 1, active: 0 });
    expect(h.passes).toHaveLength(1);
    const again = await h.nth(1);
    expect(again.rows).toEqual([r.rowKey]);
    again.finish(() => 'waiting'); // nobody to send it to yet: the timer's sweep finds it later
    await h.pump.whenIdle(5_000);
    expect(h.pump.stats()).toMatchObject({ indexed: 0, due: 0 });
  });

  it('a sweep forgets indexed rows the outbox no longer lists as pending (sent by another instance)', async () => {
    const h = harness(1);
    const held = row('hold');
    h.pump.wake(held, client);
    const p0 = await h.nth(0);
    const elsewhere = row('other');
    h.pump.wake(elsewhere, client); // waits: the one place is taken
    h.pump.sweep([held], Date.now() + 1, client); // `other` was sent by another instance meanwhile
    p0.finish();
    await h.pump.whenIdle(5_000);
    expect(h.passes.map((p) => p.learner)).toEqual(['hold']);
    expect(recipientKey(elsewhere)).toBe('r|learner|other');
  });
});
