import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutbox } from '../../activities/notify';
import { cardText, eventually, rosterCsv, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * Roles come from the run: its instructors are the Teams users its instructor list names (AAD
 * object id or UPN). A learner who sends an instructor command, or presses an instructor card's
 * button, is refused with a message and the run does not change; the instructor's same command works.
 */
let s: TeamsStack;
const RUN = 'roles-run';

interface RunStatus {
  runtimeStatus: string;
  view: { paused: boolean; ended: boolean } | null;
}
async function runStatus(): Promise<RunStatus> {
  const res = await fetch(`${s.url}/api/runs/${RUN}`, { headers: { 'x-api-key': process.env.INSTRUCTOR_API_KEY! } });
  return (await res.json()) as RunStatus;
}
const lastReply = (userId: string): string => s.teams.transcript(s.teams.personalConversationId(userId)).filter((a) => a.fromBot && a.text).at(-1)?.text ?? '';

beforeAll(async () => {
  s = await startTeamsStack();
  for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
  expect((await s.teams.say(s.instructor.id, `start lakehouse csv id=${RUN}\n${rosterCsv(s.learners)}`)).status).toBe(200);
  await eventually('the run to run', async () => (await runStatus()).runtimeStatus === 'Running');
});
afterAll(async () => {
  await s?.stop();
});

describe('roles', () => {
  it('a learner sending instructor commands is refused with a message, and the run is unchanged', async () => {
    const ada = s.learners[0];
    const before = await runStatus();
    for (const text of ['broadcast the answers are in the wiki', 'end we are done', 'extend 60', `approve brian looks fine`, 'resume brian', 'help queue', 'status', `start lakehouse csv id=ada-run\nname,email\nX,x@contoso.example`]) {
      const r = await s.teams.say(ada.id, text);
      expect(r.status).toBe(200);
      expect({ text, reply: lastReply(ada.id) }).toEqual({ text, reply: expect.stringMatching(/⛔.*(instructor command|instructors).*Nothing was changed\./s) });
      expect(lastReply(ada.id)).toMatch(/learner .*“ada” in run roles-run/);
    }
    const after = await runStatus();
    expect(after.runtimeStatus).toBe('Running');
    expect(after.view?.ended).toBe(before.view?.ended);
    const outbox = await readOutbox(RUN);
    expect(outbox.filter((m) => ['broadcast', 'end', 'extend'].includes(m.kind))).toEqual([]);
    const runs = await fetch(`${s.url}/api/runs`, { headers: { 'x-api-key': process.env.INSTRUCTOR_API_KEY! } }).then((r) => r.json() as Promise<{ runs: Array<{ runId: string }> }>);
    expect(runs.runs.map((r) => r.runId)).not.toContain('ada-run');
  });

  it('a learner pressing an instructor card button (forwarded to them) is refused and nothing changes', async () => {
    const ada = s.learners[0];
    await s.teams.say(ada.id, 'help'); // any message of hers to act on
    const card = s.teams.transcript(s.teams.personalConversationId(ada.id)).filter((a) => a.fromBot).at(-1)!;
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'approve', data: { runId: RUN, learnerId: 'brian', round: 1, comment: 'ok' } });
    expect((r.body as { value: string }).value).toMatch(/⛔ “approve” is for the instructors of run roles-run/);
    const r2 = await s.teams.invoke(ada.id, card.id, { verb: 'resume', data: { runId: RUN, learnerId: 'brian', from: 'start' } });
    expect((r2.body as { value: string }).value).toMatch(/⛔/);
    expect((await runStatus()).runtimeStatus).toBe('Running');
  });

  it('the run’s instructor may do the same: broadcast reaches every learner, status shows the run', async () => {
    await s.teams.say(s.instructor.id, 'broadcast Coffee break until 11:00');
    expect(lastReply(s.instructor.id)).toMatch(/Sent to the 3 learners/);
    for (const l of s.learners) {
      await eventually(`${l.upn} to get the broadcast`, () => s.teams.transcript(s.teams.personalConversationId(l.id)).some((a) => a.fromBot && cardText(a).includes('Coffee break until 11:00')));
    }
    await s.teams.say(s.instructor.id, 'status');
    const status = await eventually('the status card', () => s.teams.transcript(s.teams.personalConversationId(s.instructor.id)).find((a) => a.fromBot && cardText(a).includes('"verb":"status"')));
    expect(cardText(status)).toMatch(/run roles-run/);
    expect(cardText(status)).toMatch(/Ada Lovelace/);
  });

  it('someone in no run at all is told so, and cannot start a run unless named in BOT_INSTRUCTORS', async () => {
    const eve = s.teams.addUser({ name: 'Eve Outsider', upn: 'eve@contoso.example' });
    await s.teams.install(eve.id);
    await s.teams.say(eve.id, 'start lakehouse csv\nname,email\nA,a@contoso.example');
    expect(lastReply(eve.id)).toMatch(/⛔ Only the workshop's instructors \(BOT_INSTRUCTORS\) can start runs/);
    await s.teams.say(eve.id, 'done');
    expect(lastReply(eve.id)).toMatch(/not a learner in any running workshop/);
  });
});
