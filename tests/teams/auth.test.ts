import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutbox } from '../../activities/notify';
import { getUser } from '../../bot/conversations';
import { eventually, rosterCsv, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * Inbound authentication the Bot Framework way, with the Teams SDK's real validator pointed at the
 * emulator's OpenID metadata: a token must be signed by a published key, be for this bot's app id,
 * be unexpired, come from the expected issuer and name the activity's service URL. Anything else is
 * 401 and the activity is not processed at all — no user recorded, no reply, no run changed.
 */
let s: TeamsStack;
let runId: string;

beforeAll(async () => {
  s = await startTeamsStack();
  await s.teams.install(s.instructor.id);
  const r = await s.teams.say(s.instructor.id, `start lakehouse csv id=auth-run\n${rosterCsv(s.learners)}`);
  expect(r.status).toBe(200);
  runId = 'auth-run';
  await eventually('the run to be visible to the bot', async () => {
    const res = await fetch(`${s.url}/api/runs/${runId}`, { headers: { 'x-api-key': process.env.INSTRUCTOR_API_KEY! } });
    return res.status === 200;
  });
});
afterAll(async () => {
  await s?.stop();
});

describe('inbound JWT validation', () => {
  const intruder = { name: 'Mallory Intruder', upn: 'mallory@contoso.example' };

  async function attempt(authorization: string | undefined, text = 'broadcast pwned'): Promise<number> {
    const user = s.teams.addUser(intruder);
    const activity = s.teams.buildMessage(user.id, text);
    // The instructor's identity, so a processed message *would* broadcast.
    activity.from = { id: s.instructor.id, name: s.instructor.name, aadObjectId: s.instructor.aadObjectId };
    const r = await s.teams.postRaw(activity, authorization);
    return r.status;
  }

  it('a valid token from the emulator is accepted (the control case)', async () => {
    const before = s.teams.calls.length;
    const r = await s.teams.say(s.instructor.id, 'runs');
    expect(r.status).toBe(200);
    expect(s.teams.calls.length).toBeGreaterThan(before);
  });

  it('forged (signed with an unpublished key under the published kid), expired, never-expiring, wrong-audience, wrong-issuer, wrong-serviceurl and missing tokens get 401 and nothing is processed', async () => {
    // Replies to a turn are text messages; the outbox sender (running meanwhile) only posts cards.
    const replies = () => s.teams.calls.filter((c) => c.method === 'POST' && typeof (c.body as { text?: string } | undefined)?.text === 'string').length;
    const repliesBefore = replies();
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string | undefined]> = [
      ['forged', `Bearer ${s.teams.mintToken({}, { forged: true })}`],
      ['expired', `Bearer ${s.teams.mintToken({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 })}`],
      // Correctly signed by the emulator's published key, but never expires: the Bot Framework requires exp.
      ['no exp claim', `Bearer ${s.teams.mintToken({ exp: undefined })}`],
      ['exp not a number', `Bearer ${s.teams.mintToken({ exp: 'never' })}`],
      ['wrong audience', `Bearer ${s.teams.mintToken({ aud: 'some-other-bot-app-id' })}`],
      ['wrong issuer', `Bearer ${s.teams.mintToken({ iss: 'https://evil.example' })}`],
      ['wrong serviceurl claim', `Bearer ${s.teams.mintToken({ serviceurl: 'https://evil.example/teams/' })}`],
      ['not a JWT', 'Bearer not-a-token'],
      ['missing', undefined],
    ];
    for (const [what, auth] of cases) {
      expect({ what, status: await attempt(auth) }).toEqual({ what, status: 401 });
    }
    // Nothing processed: no reply or other connector call, the intruder was never recorded, the run did not broadcast.
    expect(replies()).toBe(repliesBefore);
    expect(await getUser(s.teams.user(intruder.upn).aadObjectId)).toBeUndefined();
    // (The run's own prompts keep arriving meanwhile; what must not be there is the intruder's broadcast.)
    expect((await readOutbox(runId)).filter((m) => m.kind === 'broadcast')).toEqual([]);
  });

  it('a token whose serviceurl does not match the activity’s serviceUrl is refused even when both are well-formed', async () => {
    const user = s.teams.addUser({ name: 'Sam Spoof', upn: 'sam@contoso.example' });
    const activity = { ...s.teams.buildMessage(user.id, 'help'), serviceUrl: 'https://evil.example/teams/' };
    const r = await s.teams.postRaw(activity, `Bearer ${s.teams.mintToken()}`);
    expect(r.status).toBe(401);
    expect(await getUser(user.aadObjectId)).toBeUndefined();
  });
});
