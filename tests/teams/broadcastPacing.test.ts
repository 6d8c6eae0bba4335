import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutbox } from '../../activities/notify';
import { outboxPump } from '../../bot/outboxPump';
import { drainOutbox } from '../../bot/sender';
import { durableClientInput } from '../../local/durable/managementApi';
import { cardText, eventually, rosterCsv, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * A broadcast to a cohort while the sender delivers on write and its timer sweeps every second: every wake-up
 * (one per learner message the notify activities commit) races the sweep over the same rows. The app's send
 * limit is low (BOT_APP_SENDS_PER_SECOND=8) so the burst has to be paced: every learner still gets each message
 * exactly once, in order, and the connector never sees the app go faster than its limit. A rival sender — full
 * passes over the outbox in a loop, as another instance's timer would run them — races the pump throughout, so
 * only the BotDeliveries claims stand between the two and a double post.
 */
let s: TeamsStack;
const RUN = 'pacing-run';
const LIMIT = 8;
const LEARNERS = 24;
const BROADCASTS = ['Pacing one: read the business context first.', 'Pacing two: lunch is at 12:30.'];
const saved: Record<string, string | undefined> = {};
/** Connector calls before the run started (the welcome replies to the installs, which are turn replies, not the sender's). */
let callsBefore = 0;
let rival: { stop: boolean; passes: number; done?: Promise<void> } = { stop: false, passes: 0 };

/** Another instance's sender: its own full-scan passes (same connector, same claims table) until told to stop. */
function startRival(): void {
  const input = df.input.durableClient();
  const context = new InvocationContext({ functionName: 'rivalSender', invocationId: 'rival', options: { trigger: { type: 'timerTrigger', name: 'timer' }, extraInputs: [input], extraOutputs: [] } });
  context.extraInputs.set(input, durableClientInput(s.url, s.stack.host.settings.hubName));
  const client = df.getClient(context);
  rival = { stop: false, passes: 0 };
  rival.done = (async () => {
    while (!rival.stop) {
      await drainOutbox({ client, budgetMs: 3_000 });
      rival.passes++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
}

beforeAll(async () => {
  for (const [k, v] of Object.entries({ TEAMS_SENDER_SCHEDULE: '* * * * * *', BOT_APP_SENDS_PER_SECOND: String(LIMIT) })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  s = await startTeamsStack({ learners: LEARNERS });
  for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
  callsBefore = s.teams.calls.length;
  startRival();
  expect((await s.teams.say(s.instructor.id, `start lakehouse csv id=${RUN}\n${rosterCsv(s.learners)}`)).status).toBe(200);
  for (const b of BROADCASTS) expect((await s.teams.say(s.instructor.id, `broadcast ${b}`)).status).toBe(200);
});
afterAll(async () => {
  rival.stop = true;
  await rival.done;
  await s?.stop();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('broadcast under deliver on write', () => {
  it('every learner gets the first prompt, its progress card and each broadcast exactly once and in order, paced by the app limit', async () => {
    const conv = (id: string) => s.teams.personalConversationId(id);
    const fromBot = (id: string) => s.teams.transcript(conv(id)).filter((a) => a.fromBot);
    const count = (id: string, needle: string) => fromBot(id).filter((a) => cardText(a).includes(needle)).length;
    await eventually(
      'every message delivered',
      async () => {
        const outbox = await readOutbox(RUN);
        return outbox.length > 0 && outbox.every((m) => m.status !== 'pending') && s.learners.every((l) => BROADCASTS.every((b) => count(l.id, b) > 0) && count(l.id, 'Your progress') > 0);
      },
      120_000,
    );
    rival.stop = true;
    await rival.done;
    expect(rival.passes).toBeGreaterThan(0);
    for (const l of s.learners) {
      for (const b of BROADCASTS) expect({ learner: l.upn, b, n: count(l.id, b) }).toEqual({ learner: l.upn, b, n: 1 });
      const prompts = fromBot(l.id).filter((a) => cardText(a).includes('Business requirements') && !cardText(a).includes('Your progress'));
      expect({ learner: l.upn, n: prompts.length }).toEqual({ learner: l.upn, n: 1 });
      expect({ learner: l.upn, n: count(l.id, 'Your progress') }).toEqual({ learner: l.upn, n: 1 });
      // In order: the broadcasts in the order the instructor sent them.
      const at = BROADCASTS.map((b) => fromBot(l.id).findIndex((a) => cardText(a).includes(b)));
      expect({ learner: l.upn, order: at[0]! < at[1]! }).toEqual({ learner: l.upn, order: true });
    }
    expect((await readOutbox(RUN)).filter((m) => m.status === 'failed')).toEqual([]);

    // Paced: the sender's posts and updates to the learners' chats (only the sender writes there once the run started), as the connector
    // received them. The limiter allows LIMIT in any second, stamped just before each send's reads and call; the
    // check leaves room for that delay on a loaded machine (a window twice as long may hold three seconds' worth),
    // and the k-th send cannot come before floor(k / LIMIT) - 1 s after the first, however slow the machine.
    const learnerConvs = new Set(s.learners.map((l) => conv(l.id)));
    const sends = s.teams.calls
      .slice(callsBefore)
      .filter((c) => c.conversationId && learnerConvs.has(c.conversationId) && (c.method === 'POST' || c.method === 'PUT') && c.path.includes('/activities'))
      .map((c) => Date.parse(c.at))
      .sort((a, b) => a - b);
    expect(sends.length).toBeGreaterThanOrEqual(LEARNERS * (2 + BROADCASTS.length));
    let busiest = 0;
    for (let i = 0, j = 0; i < sends.length; i++) {
      while (sends[i]! - sends[j]! >= 2_000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBeLessThanOrEqual(3 * LIMIT);
    expect(sends.at(-1)! - sends[0]!).toBeGreaterThanOrEqual((Math.floor((sends.length - 1) / LIMIT) - 1) * 1_000);
    // Both paths ran: wake-ups (passes) and the timer's sweeps.
    expect(outboxPump.stats().sweeps).toBeGreaterThan(0);
    expect(outboxPump.stats().passes).toBeGreaterThan(0);
  }, 150_000);
});
