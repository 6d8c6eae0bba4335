import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notify } from '../../activities/notify';
import type { StoredActivity } from '../../local/teams/emulator';
import { cardText, eventually, rosterCsv, startTeamsStack, type TeamsStack } from './teamsStack';

/**
 * The learner's side in Teams: a prompt card per step with the buttons the step needs, answered
 * from the card, and the *same* card updated in place (same activity id, a new version, through
 * the connector's update call) instead of a new message; the next step arrives as a new card.
 */
let s: TeamsStack;
let ada: { id: string; conv: string };

/** A step's prompt card (the progress card shows the step's title too, so it is told apart). */
const isStepCard = (a: StoredActivity, title: string): boolean => a.fromBot && cardText(a).includes(title) && !cardText(a).includes('Your progress');
/** How many times the bot asked the connector to create a step card with this title in Ada's chat. */
const stepCardPosts = (title: string): number =>
  s.teams.calls.filter((c) => c.conversationId === ada.conv && c.method === 'POST' && c.status < 300 && JSON.stringify(c.body ?? '').includes(title) && !JSON.stringify(c.body).includes('Your progress')).length;

const GOOD_ANSWER =
  'The board wants a customer 360: one unified customer view across stores and online, so marketing and finance stop arguing about numbers. ' +
  'Stakeholders are the chief data officer, marketing, finance and supply chain; each needs trusted data. Analysts need self-service reporting in Power BI ' +
  'without waiting on IT. Governance and lineage matter in their own right because the CDO must answer where a number came from. ' +
  'My priority is the customer 360 first, as an MVP for marketing, because it proves value fastest and forces the shared customer model ' +
  'that every later use case depends on; self-service and governance follow in phase two.';

beforeAll(async () => {
  s = await startTeamsStack();
  for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
  expect((await s.teams.say(s.instructor.id, `start lakehouse csv id=cards-run\n${rosterCsv(s.learners)}`)).status).toBe(200);
  ada = { id: s.learners[0].id, conv: s.teams.personalConversationId(s.learners[0].id) };
});
afterAll(async () => {
  await s?.stop();
});

describe('prompt cards', () => {
  it('each learner gets the first step as an Adaptive Card with an answer box and answer / hint / help buttons, plus a progress card', async () => {
    const card = await eventually('Ada’s first prompt card', () => s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Business requirements')));
    const json = cardText(card);
    expect(json).toContain('"type":"Input.Text","id":"answer"');
    for (const verb of ['answer', 'hint', 'help']) expect(json).toContain(`"verb":"${verb}"`);
    expect(json).toContain('"runId":"cards-run"');
    const progress = await eventually('Ada’s progress card', () => s.teams.transcript(ada.conv).find((a) => a.fromBot && cardText(a).includes('Your progress')));
    expect(cardText(progress)).toMatch(/Time left/);
    expect(cardText(progress)).toMatch(/1\/4 Requirements Analysis/);
  });

  it('a too-short answer is refused on the card itself: same activity, updated with what is missing, still open', async () => {
    const card = s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Business requirements'))!;
    const version = card.version;
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'answer', data: { runId: 'cards-run', learnerId: 'ada', phase: 'requirements', stepId: 'req-business-requirements', attempt: 1, answer: 'customer 360 first' } });
    expect(r.status).toBe(200);
    expect((r.body as { value: string }).value).toMatch(/not complete/);
    const after = s.teams.activity(ada.conv, card.id)!;
    expect(after.version).toBe(version + 1);
    expect(cardText(after)).toMatch(/Not yet/);
    expect(cardText(after)).toContain('"verb":"answer"');
    const put = s.teams.calls.filter((c) => c.method === 'PUT' && c.activityId === card.id);
    expect(put.length).toBeGreaterThan(0);
  });

  it('the hint button reveals the pack’s next hint on the same card', async () => {
    const card = s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Business requirements'))!;
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'hint', data: { runId: 'cards-run', learnerId: 'ada', phase: 'requirements', stepId: 'req-business-requirements', attempt: 1 } });
    expect((r.body as { value: string }).value).toMatch(/who feels the pain/);
    expect(cardText(s.teams.activity(ada.conv, card.id)!)).toMatch(/Hint 1: Look at who feels the pain/);
  });

  it('answering the prompt card updates that card in place (same activity id, new content) and the next step comes as a new card', async () => {
    const card = s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Business requirements'))!;
    const before = structuredClone(s.teams.activity(ada.conv, card.id)!);
    const countBefore = s.teams.transcript(ada.conv).filter((a) => a.fromBot).length;
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'answer', data: { runId: 'cards-run', learnerId: 'ada', phase: 'requirements', stepId: 'req-business-requirements', attempt: 1, answer: GOOD_ANSWER } });
    expect(r.status).toBe(200);
    expect((r.body as { value: string }).value).toMatch(/recorded/);
    const after = s.teams.activity(ada.conv, card.id)!;
    expect(after.id).toBe(before.id);
    expect(after.version).toBe(before.version + 1);
    expect(cardText(after)).toMatch(/Answer sent/);
    expect(cardText(after)).not.toContain('"id":"answer"');
    expect(after.history.at(-1)!.attachments).toEqual(before.attachments);
    // The bot did not post a new message for the answer: the next message is the next step's card.
    const next = await eventually('the next step’s card', () => s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Technical constraints')));
    expect(next.id).not.toBe(card.id);
    // One step card for step 1, posted once. (The progress card also names the current step, and moves
    // to step 2 a moment after step 2's card arrives, so it is not counted here: it is checked below.)
    expect(s.teams.transcript(ada.conv).filter((a) => isStepCard(a, 'Business requirements'))).toHaveLength(1);
    expect(stepCardPosts('Business requirements')).toBe(1);
    expect(s.teams.transcript(ada.conv).filter((a) => a.fromBot).length).toBeGreaterThan(countBefore);
    // The progress card moved on in place too.
    const progress = s.teams.transcript(ada.conv).filter((a) => a.fromBot && cardText(a).includes('Your progress'));
    expect(progress).toHaveLength(1);
    await eventually('the progress card to show step 2', () => cardText(s.teams.activity(ada.conv, progress[0].id)!).includes('2 of 3'));
  });

  it('a failed check comes back as the learner-facing hint on the step’s card, updated in place', async () => {
    const card = s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Technical constraints'))!;
    const version = card.version;
    const messages = s.teams.transcript(ada.conv).length;
    // What the phase orchestration writes when validation fails with a hint (the notify activity, called directly).
    await notify({ runId: 'cards-run', key: 'test-hint-1', to: { role: 'learner', learnerId: 'ada' }, kind: 'hint', body: { learnerId: 'ada', phase: 'requirements', stepId: 'req-technical-constraints', checkId: 'adls-hns', hint: 'Turn on the hierarchical namespace of the storage account.' } });
    await eventually('the hint on the card', () => cardText(s.teams.activity(ada.conv, card.id)!).includes('Check failed: Turn on the hierarchical namespace'));
    expect(s.teams.activity(ada.conv, card.id)!.version).toBe(version + 1);
    expect(s.teams.transcript(ada.conv).length).toBe(messages);
  });

  it('learners can act with text too: "progress" says where they are', async () => {
    await s.teams.say(ada.id, 'progress');
    const reply = s.teams.transcript(ada.conv).filter((a) => a.fromBot && a.text).at(-1)!;
    expect(reply.text).toMatch(/requirements/);
  });

  it('a learner cannot press another learner’s card', async () => {
    const card = s.teams.transcript(ada.conv).find((a) => isStepCard(a, 'Technical constraints'))!;
    const brian = s.learners[1];
    const r = await s.teams.invoke(brian.id, card.id, { verb: 'answer', data: { runId: 'cards-run', learnerId: 'ada', phase: 'requirements', stepId: 'req-technical-constraints', attempt: 1, answer: GOOD_ANSWER } });
    expect((r.body as { value: string }).value).toMatch(/belongs to learner “ada”/);
  });
});
