import { afterAll, beforeAll, expect, it } from 'vitest';
import { cardText, eventually, rosterCsv, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * Hot start from Teams: the instructor starts a run with `hot=<share>` and is told how many environments deploy
 * ahead and when; the run's status card shows the pool (ready / deploying / claimed, idle cost); a bad share is
 * refused with what it takes, and nothing starts.
 */
let s: TeamsStack;
const RUN = 'teamshot';
const lastReply = (userId: string): string => s.teams.transcript(s.teams.personalConversationId(userId)).filter((a) => a.fromBot && a.text).at(-1)?.text ?? '';

beforeAll(async () => {
  s = await startTeamsStack({ arm: true });
  // Lakehouse's slowest chain (~12 min in Azure) in about 1.4 s.
  s.arm!.setDeploymentTimes({ scale: 0.002 });
  for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
});
afterAll(async () => {
  await s?.stop();
});

it('start … hot=2 is refused with what hot takes; nothing starts', async () => {
  await s.teams.say(s.instructor.id, `start lakehouse csv id=teamsbad hot=2\n${rosterCsv(s.learners)}`);
  expect(lastReply(s.instructor.id)).toMatch(/hot takes a share of the roster above 0 and at most 1/);
  const r = await fetch(`${s.url}/api/runs/teamsbad`, { headers: { 'x-api-key': 'teams-test-instructor-key-0123456789' } });
  expect(r.status).toBe(404);
});

it('start … hot=0.6 says how many environments deploy ahead, and the status card shows the pool', async () => {
  await s.teams.say(s.instructor.id, `start lakehouse csv id=${RUN} hot=0.6\n${rosterCsv(s.learners)}`);
  // 60 % of three learners rounds up to two.
  expect(lastReply(s.instructor.id)).toMatch(/Started run \*\*teamshot\*\*[\s\S]*Hot start: 2 environments \(step "impl-foundation"\) deploy from/);
  const card = await eventually('a status card with the pool ready', async () => {
    await s.teams.say(s.instructor.id, 'status');
    const last = s.teams.transcript(s.teams.personalConversationId(s.instructor.id)).filter((a) => a.fromBot && cardText(a).includes('"verb":"status"')).at(-1);
    return last && cardText(last).includes('Hot start: 2 ready') ? cardText(last) : undefined;
  }, 90_000);
  expect(card).toMatch(/"title":"Environments","value":"Hot start: 2 ready, 0 deploying, 0 claimed \(0 already ready\) of 2 · idle cost so far \$\d+\.\d\d \(now \$\d+\.\d\d\/h\)"/);
  await s.teams.say(s.instructor.id, 'end rehearsal over');
}, 150_000);
