import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxPump } from '../../bot/outboxPump';
import type { StoredActivity } from '../../local/teams/emulator';
import { cardText, eventually, rosterCsv, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * Deliver on write: a prompt reaches the connector because the notify activity that wrote it woke the sender,
 * not because the sender's timer ticked. The timer here is set to once a year, so it never sweeps during the
 * test (checked: the pump counts sweeps); the cards still arrive, the first one and the one after an answer.
 */
let s: TeamsStack;
const RUN = 'on-write-run';
const YEARLY = '0 0 0 1 1 *';
const isStepCard = (a: StoredActivity, title: string): boolean => a.fromBot && cardText(a).includes(title) && !cardText(a).includes('Your progress');

const GOOD_ANSWER =
  'The board wants a customer 360: one unified customer view across stores and online, so marketing and finance stop arguing about numbers. ' +
  'Stakeholders are the chief data officer, marketing, finance and supply chain; each needs trusted data. Analysts need self-service reporting in Power BI ' +
  'without waiting on IT. Governance and lineage matter in their own right because the CDO must answer where a number came from. ' +
  'My priority is the customer 360 first, as an MVP for marketing, because it proves value fastest and forces the shared customer model ' +
  'that every later use case depends on; self-service and governance follow in phase two.';

let before: string | undefined;
beforeAll(async () => {
  before = process.env.TEAMS_SENDER_SCHEDULE;
  process.env.TEAMS_SENDER_SCHEDULE = YEARLY;
  s = await startTeamsStack();
  for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
});
afterAll(async () => {
  await s?.stop();
  if (before === undefined) delete process.env.TEAMS_SENDER_SCHEDULE;
  else process.env.TEAMS_SENDER_SCHEDULE = before;
});

describe('deliver on write', () => {
  it('with the sender timer at once a year, the first prompt and the next step after an answer still reach the connector', async () => {
    const sweepsBefore = outboxPump.stats().sweeps;
    expect((await s.teams.say(s.instructor.id, `start lakehouse csv id=${RUN}\n${rosterCsv(s.learners)}`)).status).toBe(200);
    const ada = { id: s.learners[0].id, conv: s.teams.personalConversationId(s.learners[0].id) };
    const card = await eventually('Ada’s first prompt card', () => s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Business requirements')));
    await eventually('Ada’s progress card', () => s.teams.transcript(ada.conv).find((a) => a.fromBot && cardText(a).includes('Your progress')));
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'answer', data: { runId: RUN, learnerId: 'ada', phase: 'requirements', stepId: 'req-business-requirements', attempt: 1, answer: GOOD_ANSWER } });
    expect((r.body as { value: string }).value).toMatch(/recorded/);
    await eventually('the next step’s card', () => s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Technical constraints')));
    // Every learner got the first step: the wake-ups served them all, not one.
    for (const l of s.learners) {
      const conv = s.teams.personalConversationId(l.id);
      await eventually(`${l.upn}’s first prompt card`, () => s.teams.transcript(conv).find((a) => isStepCard(a, 'Business requirements')));
    }
    expect(outboxPump.stats().sweeps).toBe(sweepsBefore);
    expect(outboxPump.stats().passes).toBeGreaterThan(0);
  }, 90_000);
});
