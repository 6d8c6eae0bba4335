import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutbox } from '../../activities/notify';
import { cardText, eventually, rosterCsv, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * A 429 storm: the connector emulator answers 40 % of the bot's sends, updates and conversation
 * creations with 429 + Retry-After. The sender backs off and retries from the outbox; in the end
 * every message is delivered once — nothing lost, nothing posted twice.
 */
let s: TeamsStack;
const RUN = 'storm-run';
const BROADCASTS = ['Storm one: start with the business context.', 'Storm two: ask for help early.', 'Storm three: lunch at 12:30.'];

beforeAll(async () => {
  s = await startTeamsStack({ learners: 8 });
  for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
  s.teams.setFaults({ rate429: 0.4, retryAfterSeconds: 0.2, seed: 42 });
  expect((await s.teams.say(s.instructor.id, `start lakehouse csv id=${RUN}\n${rosterCsv(s.learners)}`)).status).toBe(200);
  for (const b of BROADCASTS) expect((await s.teams.say(s.instructor.id, `broadcast ${b}`)).status).toBe(200);
});
afterAll(async () => {
  await s?.stop();
});

describe('429 storm', () => {
  it('every learner gets every broadcast, the first prompt card and one progress card exactly once; the outbox drains to sent', async () => {
    const conv = (id: string) => s.teams.personalConversationId(id);
    const count = (id: string, needle: string) => s.teams.transcript(conv(id)).filter((a) => a.fromBot && cardText(a).includes(needle)).length;
    await eventually(
      'every message delivered',
      async () => {
        const outbox = await readOutbox(RUN);
        return outbox.length > 0 && outbox.every((m) => m.status !== 'pending') && s.learners.every((l) => BROADCASTS.every((b) => count(l.id, b) > 0) && count(l.id, 'Your progress') > 0);
      },
      80_000,
    );
    const throttled = s.teams.stats().throttled;
    expect(throttled).toBeGreaterThan(10);
    for (const l of s.learners) {
      for (const b of BROADCASTS) expect({ learner: l.upn, b, n: count(l.id, b) }).toEqual({ learner: l.upn, b, n: 1 });
      const promptCards = s.teams.transcript(conv(l.id)).filter((a) => a.fromBot && cardText(a).includes('Business requirements') && !cardText(a).includes('Your progress'));
      expect({ learner: l.upn, n: promptCards.length }).toEqual({ learner: l.upn, n: 1 });
      expect({ learner: l.upn, n: count(l.id, 'Your progress') }).toEqual({ learner: l.upn, n: 1 });
    }
    // The storm was real: a throttled send was retried and then succeeded for the same conversation.
    const retried = s.teams.calls.filter((c) => c.throttled).some((t) => s.teams.calls.some((c) => !c.throttled && c.status < 300 && c.conversationId === t.conversationId && c.at >= t.at));
    expect(retried).toBe(true);
    expect((await readOutbox(RUN)).filter((m) => m.status === 'failed')).toEqual([]);
  }, 85_000);
});
