import { afterAll, expect, it } from 'vitest';
import { startTeamsEmulator } from '../../local/teams/emulator';
import { openTestDatabase } from '../helpers/database';

/**
 * The connector emulator keeps its conversations in the embedded store: a restart of the stack keeps every
 * transcript, the team (whose id the bot stored) and the port (in the bot's conversation references).
 */
const db = openTestDatabase();
afterAll(async () => {
  await db.dispose();
});

it('a restarted emulator on the same store has the same team, port and transcripts', async () => {
  const first = await startTeamsEmulator({ database: db.database });
  const who = first.users()[1]!.id;
  const conversation = first.personalConversationId(who);
  // No bot is listening: the learner's message is recorded, then the post to the bot is refused.
  await first.say(who, 'hello from before the restart').catch(() => undefined);
  const before = first.transcript(conversation).map((a) => a.text);
  expect(before).toEqual(['hello from before the restart']);
  const { team, url } = first;
  await first.stop();

  const second = await startTeamsEmulator({ database: db.database });
  try {
    expect(second.team).toEqual(team);
    expect(second.url).toBe(url);
    expect(second.personalConversationId(who)).toBe(conversation);
    expect(second.transcript(conversation).map((a) => a.text)).toEqual(before);
  } finally {
    await second.stop();
  }
});
