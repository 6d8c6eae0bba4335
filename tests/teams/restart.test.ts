import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutbox } from '../../activities/notify';
import { cardText, eventually, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * A broadcast to 50 learners survives a restart of the host in the middle of it: the outbox rows
 * in Tables are the queue, and every (message, learner) pair is claimed and recorded before and
 * after its send, so the new host's sender carries on where the old one stopped — while the old
 * host's last sender tick may still be finishing — and each learner gets the message exactly once.
 * The 50 learners come from the team the app is installed in; the bot opens a 1:1 chat with each
 * (`POST /v3/conversations`) the first time it has something for them.
 */
let s: TeamsStack;
const RUN = 'restart-run';
const MESSAGE = 'Restart drill: this arrives exactly once.';

beforeAll(async () => {
  process.env.BOT_APP_SENDS_PER_SECOND = '10'; // slow enough that the restart lands mid-broadcast
  s = await startTeamsStack({ learners: 50 });
  expect((await s.teams.install(s.instructor.id)).status).toBe(200);
  expect((await s.teams.installInTeam(s.instructor.id)).status).toBe(200);
  expect((await s.teams.say(s.instructor.id, `start lakehouse team id=${RUN}`)).status).toBe(200);
  const started = s.teams.transcript(s.teams.personalConversationId(s.instructor.id)).filter((a) => a.fromBot && a.text).at(-1)?.text ?? '';
  expect(started).toMatch(/Started run \*\*restart-run\*\* .* with 50 learners/);
});
afterAll(async () => {
  delete process.env.BOT_APP_SENDS_PER_SECOND;
  await s?.stop();
});

describe('restart during a broadcast', () => {
  it('every one of 50 learners gets the broadcast exactly once across a host restart', async () => {
    const got = (id: string) => s.teams.transcript(s.teams.personalConversationId(id)).filter((a) => a.fromBot && cardText(a).includes(MESSAGE)).length;
    const delivered = () => s.learners.filter((l) => got(l.id) > 0).length;
    expect((await s.teams.say(s.instructor.id, `broadcast ${MESSAGE}`)).status).toBe(200);
    await eventually('a few learners to have the broadcast', () => delivered() >= 5, 60_000);
    const atRestart = delivered();
    await s.restart();
    expect(atRestart).toBeLessThan(50); // the restart really was in the middle of the broadcast
    await eventually('all 50 learners to have the broadcast', () => delivered() === 50, 75_000);
    for (const l of s.learners) expect({ learner: l.upn, n: got(l.id) }).toEqual({ learner: l.upn, n: 1 });
    // Each learner's chat was opened once, and their first prompt card came once too.
    expect(s.teams.calls.filter((c) => c.method === 'POST' && c.path === '/v3/conversations' && c.status < 300).length).toBeLessThanOrEqual(50);
    await eventually('the broadcast rows to be marked sent', async () => (await readOutbox(RUN)).filter((m) => m.kind === 'broadcast' && m.to.role === 'learner').every((m) => m.status === 'sent'));
    for (const l of s.learners) {
      const prompts = s.teams.transcript(s.teams.personalConversationId(l.id)).filter((a) => a.fromBot && cardText(a).includes('"verb":"answer"'));
      expect({ learner: l.upn, n: prompts.length }).toEqual({ learner: l.upn, n: 1 });
    }
  }, 88_000);
});
