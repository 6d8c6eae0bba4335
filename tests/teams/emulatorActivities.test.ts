import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTeamsEmulator, type StoredActivity, type TeamsEmulator } from '../../local/teams/emulator';

/**
 * `GET /_emulator/activities?after=<seq>`: one poll for every conversation's bot activities (npm run bench:cohort
 * watches a whole cohort's prompts arrive with it). Only what the bot sent, each with the 1:1 chat's user, and
 * only what changed since `after` — a card updated in place comes again with its new seq.
 */
let teams: TeamsEmulator;
beforeAll(async () => {
  teams = await startTeamsEmulator({ logger: undefined });
});
afterAll(async () => {
  await teams?.stop();
});

type Page = { activities: Array<Omit<StoredActivity, 'history'> & { upn?: string; history?: unknown }>; seq: number };

async function poll(after: number): Promise<Page> {
  const res = await fetch(`${teams.url}/_emulator/activities?after=${after}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

/** The bot's outgoing call, with a token the emulator issued for the bot (as the SDK gets it). */
async function botCall(method: 'POST' | 'PUT', path: string, body: unknown): Promise<{ id: string }> {
  const token = teams.mintToken({ aud: 'https://api.botframework.com', appid: teams.appId });
  const res = await fetch(`${teams.serviceUrl}v3/${path}`, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as { id: string };
}

it('lists the bot activities of every conversation since a seq, with the chat user, and not the users’ own messages', async () => {
  const [ada, brian] = teams.users().filter((u) => u.kind === 'learner');
  const adaChat = teams.personalConversationId(ada!.id);
  const brianChat = teams.personalConversationId(brian!.id);
  // Ada writes to the bot (no bot is listening: the post to it fails, the message is recorded).
  await teams.say(ada!.id, 'hello').catch(() => undefined);
  const start = (await poll(0)).seq;

  const toAda = await botCall('POST', `conversations/${encodeURIComponent(adaChat)}/activities`, { type: 'message', text: 'step 1 for Ada' });
  await botCall('POST', `conversations/${encodeURIComponent(brianChat)}/activities`, { type: 'message', text: 'step 1 for Brian' });
  const page = await poll(start);
  expect(page.activities.map((a) => [a.upn, a.text])).toEqual([
    [ada!.upn, 'step 1 for Ada'],
    [brian!.upn, 'step 1 for Brian'],
  ]);
  expect(page.activities.every((a) => a.fromBot && a.history === undefined)).toBe(true);
  expect((await poll(0)).activities.some((a) => a.text === 'hello')).toBe(false);

  // Nothing new: nothing listed. An update in place: listed again, as its new version.
  expect((await poll(page.seq)).activities).toEqual([]);
  await botCall('PUT', `conversations/${encodeURIComponent(adaChat)}/activities/${encodeURIComponent(toAda.id)}`, { type: 'message', text: 'step 1 for Ada, answered' });
  const updated = await poll(page.seq);
  expect(updated.activities.map((a) => [a.id, a.version, a.text])).toEqual([[toAda.id, 2, 'step 1 for Ada, answered']]);
});
