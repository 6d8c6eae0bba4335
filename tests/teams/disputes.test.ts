import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkshopApi } from '../../cli/apiClient';
import type { StoredActivity } from '../../local/teams/emulator';
import { setStorageMinimumTls } from '../helpers/learnerEnvironment';
import { LearnerDriver } from '../workshop/learnerDriver';
import { cardText, eventually, rosterCsv, startTeamsStack, TEST_KEYS, type TeamsStack } from './teamsStack';

/**
 * Disputes and answer reviews in Teams, through the connector emulator and the real bot: a refused answer's card
 * offers "Send to the instructor instead", the instructor gets a card to accept or return it, and the learner
 * sees the decision on the same step card; a failed check's card shows what the check read and an "I did it"
 * button, the instructor gets the evidence side by side with the learner's note and marks it passed with a
 * reason. (Steps that are not under test are walked through the workshop API.)
 */
const RUN = 'teams-disputes';
let s: TeamsStack;
let api: WorkshopApi;
let ada: { id: string; conv: string };
let ines: { id: string; conv: string };

const OWN_WORDS =
  'Contoso needs its people who study the numbers to stop passing workbook files around by mail; they want one trusted, ' +
  'controlled place for the data with clear owners, because the auditors found three versions of the same sales figure last quarter.';

/** A step card (not the progress card) whose text includes `text`. */
const stepCard = (conv: string, text: string): StoredActivity | undefined => s.teams.transcript(conv).find((a) => a.fromBot && cardText(a).includes(text) && !cardText(a).includes('Your progress'));
const instructorCard = (text: string): StoredActivity | undefined => s.teams.transcript(ines.conv).filter((a) => a.fromBot && cardText(a).includes(text)).at(-1);
const reply = (r: { body: unknown }): string => (r.body as { value: string }).value;
const stepData = (stepId: string, phase: string) => ({ runId: RUN, learnerId: 'ada', phase, stepId, attempt: 1 });

beforeAll(async () => {
  s = await startTeamsStack({ arm: true, packsDir: path.join(__dirname, '..', 'workshop', 'packs') });
  for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
  expect((await s.teams.say(s.instructor.id, `start drill csv id=${RUN}\n${rosterCsv(s.learners.slice(0, 2))}`)).status).toBe(200);
  ada = { id: s.learners[0].id, conv: s.teams.personalConversationId(s.learners[0].id) };
  ines = { id: s.instructor.id, conv: s.teams.personalConversationId(s.instructor.id) };
  api = new WorkshopApi({ url: s.url, instructorKey: TEST_KEYS.instructor });
});
afterAll(async () => {
  await s?.stop();
});

describe('an answer sent to the instructor from Teams', () => {
  it('a refused answer’s card offers “Send to the instructor instead”', async () => {
    await (await LearnerDriver.create(api, RUN, 'ada', 'drill')).walkTo('req-drivers');
    const card = await eventually('the Business drivers card', () => stepCard(ada.conv, 'Business drivers'));
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'answer', data: { ...stepData('req-drivers', 'requirements'), answer: OWN_WORDS } });
    expect(reply(r)).toMatch(/not complete.*Send to the instructor instead/s);
    const after = cardText(s.teams.activity(ada.conv, card.id)!);
    expect(after).toContain('"verb":"reviewAnswer"');
    expect(after).toContain('"id":"reviewNote"');
  });

  it('sent: the learner’s card says it is with the instructor, and the instructor gets a card with the answer and the unmet criteria', async () => {
    const card = stepCard(ada.conv, 'Business drivers')!;
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'reviewAnswer', data: { ...stepData('req-drivers', 'requirements'), answer: OWN_WORDS, reviewNote: 'workbooks = spreadsheets' } });
    expect(reply(r)).toMatch(/Sent to your instructor/);
    await eventually('Ada’s card to say it is with the instructor', () => cardText(s.teams.activity(ada.conv, card.id)!).includes('With the instructor'));
    const review = await eventually('the answer review card', () => instructorCard('asks you to read an answer'));
    const json = cardText(review);
    expect(json).toContain('Ada Lovelace');
    expect(json).toContain('workbook files');
    expect(json).toContain('outcome');
    for (const verb of ['answerAccept', 'answerReturn']) expect(json).toContain(`"verb":"${verb}"`);
  });

  it('a learner cannot press the instructor’s buttons; a decision without a comment is asked for one', async () => {
    const review = instructorCard('asks you to read an answer')!;
    const data = (JSON.parse(cardText(review)) as Array<{ actions: Array<{ verb: string; data: Record<string, unknown> }> }>)[0]!.actions[0]!.data;
    const byLearner = await s.teams.invoke(ada.id, review.id, { verb: 'answerAccept', data: { ...data, comment: 'I accept myself' } });
    expect(reply(byLearner)).toMatch(/⛔.*instructors of run/);
    const noComment = await s.teams.invoke(ines.id, review.id, { verb: 'answerAccept', data });
    expect(reply(noComment)).toMatch(/Say why the answer covers the criteria/);
    expect((await api.learnerStatus(RUN, 'ada')).position?.state).toBe('answerInReview');
  });

  it('returned with a comment: the learner sees it on the same card, open again; accepted the second time, the card says so', async () => {
    let review = instructorCard('asks you to read an answer')!;
    let data = (JSON.parse(cardText(review)) as Array<{ actions: Array<{ data: Record<string, unknown> }> }>)[0]!.actions[0]!.data;
    const returned = await s.teams.invoke(ines.id, review.id, { verb: 'answerReturn', data: { ...data, comment: 'Say what the analysts get out of it.' } });
    expect(reply(returned)).toMatch(/Returned by Ines Instructor/);
    expect(cardText(s.teams.activity(ines.conv, review.id)!)).toMatch(/Returned by Ines Instructor/);
    const card = stepCard(ada.conv, 'Business drivers')!;
    await eventually('the returned comment on Ada’s card', () => {
      const t = cardText(s.teams.activity(ada.conv, card.id)!);
      return t.includes('returned your answer') && t.includes('Say what the analysts get out of it.') && t.includes('"verb":"answer"');
    });

    const r = await s.teams.invoke(ada.id, card.id, { verb: 'reviewAnswer', data: { ...stepData('req-drivers', 'requirements'), answer: `${OWN_WORDS} They get a self-service view they trust.` } });
    expect(reply(r)).toMatch(/Sent to your instructor/);
    review = await eventually('the round 2 review card', () => instructorCard('(round 2)'));
    data = (JSON.parse(cardText(review)) as Array<{ actions: Array<{ data: Record<string, unknown> }> }>)[0]!.actions[0]!.data;
    expect(reply(await s.teams.invoke(ines.id, review.id, { verb: 'answerAccept', data: { ...data, comment: 'Covers the outcome in other words.' } }))).toMatch(/Accepted by/);
    await eventually('the acceptance on Ada’s card', () => cardText(s.teams.activity(ada.conv, card.id)!).includes('accepted your answer'));
    const status = await api.learnerStatus(RUN, 'ada');
    expect(status.decisions.at(-1)?.decision).toMatchObject({ kind: 'answer', outcome: 'accepted', by: 'Ines Instructor', criteriaMetByPerson: ['outcome'] });
  });
});

describe('a check disputed from Teams', () => {
  it('a failed check’s card shows what the check read and an “I did it” button', async () => {
    const driver = await LearnerDriver.create(api, RUN, 'ada', 'drill');
    await driver.walkTo('impl-harden');
    const account = await setStorageMinimumTls(RUN, 'ada', 'TLS1_0');
    await api.done(RUN, 'ada', 'impl-harden');
    await driver.at('impl-harden-check', 'awaitingFix');
    const card = await eventually('the failed check on the card', () => {
      const c = stepCard(ada.conv, 'Check the hardening');
      return c && cardText(c).includes('Check failed') && cardText(c).includes('"verb":"dispute"') ? c : undefined;
    });
    expect(cardText(card)).toContain(`${account} · properties.minimumTlsVersion: observed \\"TLS1_0\\", expected \\"TLS1_2\\"`);
  });

  it('another learner cannot dispute Ada’s check', async () => {
    const card = stepCard(ada.conv, 'Check the hardening')!;
    const r = await s.teams.invoke(s.learners[1].id, card.id, { verb: 'dispute', data: { ...stepData('impl-harden-check', 'implementation'), disputeNote: 'mine' } });
    expect(reply(r)).toMatch(/belongs to learner “ada”/);
    expect((await api.learnerStatus(RUN, 'ada')).position?.state).toBe('awaitingFix');
  });

  it('“I did it”: the card says it is with the instructor, who gets the evidence beside the note, also from the review queue', async () => {
    const card = stepCard(ada.conv, 'Check the hardening')!;
    const r = await s.teams.invoke(ada.id, card.id, { verb: 'dispute', data: { ...stepData('impl-harden-check', 'implementation'), disputeNote: 'Org policy sets TLS 1.2 for every account.' } });
    expect(reply(r)).toMatch(/Sent to your instructor/);
    await eventually('Ada’s card to say it is with the instructor', () => cardText(s.teams.activity(ada.conv, card.id)!).includes('With the instructor'));
    const dispute = await eventually('the dispute card', () => instructorCard('says they did it'));
    const json = cardText(dispute);
    expect(json).toContain('Org policy sets TLS 1.2 for every account.');
    expect(json).toContain('"type":"ColumnSet"');
    for (const text of ['Observed', 'Expected', '\\"TLS1_0\\"', '\\"TLS1_2\\"', "Fix: Set the account's minimum TLS version to TLS1_2."]) expect(json).toContain(text);
    for (const verb of ['disputeOverride', 'disputeRecheck', 'disputeReturn']) expect(json).toContain(`"verb":"${verb}"`);
    await eventually('Ada in the review queue', async () => (await api.runStatus(RUN)).view?.reviewQueue.some((q) => q.learnerId === 'ada'));
    const before = s.teams.transcript(ines.conv).length;
    await s.teams.say(ines.id, 'reviews');
    await eventually('the queue with the dispute card', () => s.teams.transcript(ines.conv).slice(before).some((a) => a.fromBot && cardText(a).includes('says they did it')));
  });

  it('marked passed with a reason: the instructor’s card is resolved, the learner’s card says so, the run report will list it', async () => {
    const dispute = instructorCard('says they did it')!;
    const data = (JSON.parse(cardText(dispute)) as Array<{ actions: Array<{ data: Record<string, unknown> }> }>)[0]!.actions[0]!.data;
    expect(reply(await s.teams.invoke(ines.id, dispute.id, { verb: 'disputeOverride', data }))).toMatch(/Say why it passes/);
    const r = await s.teams.invoke(ines.id, dispute.id, { verb: 'disputeOverride', data: { ...data, reason: 'Org policy enforces TLS 1.2.' } });
    expect(reply(r)).toMatch(/Marked passed by Ines Instructor/);
    const card = stepCard(ada.conv, 'Check the hardening')!;
    await eventually('the override on Ada’s card', () => cardText(s.teams.activity(ada.conv, card.id)!).includes('marked the check passed'));
    const status = await api.learnerStatus(RUN, 'ada');
    expect(status.decisions.at(-1)?.decision).toEqual({ kind: 'dispute', stepId: 'impl-harden-check', attempt: 1, outcome: 'overridden', by: 'Ines Instructor', reason: 'Org policy enforces TLS 1.2.', checkIds: ['storage-tls12'] });
    expect(reply(await s.teams.invoke(ines.id, dispute.id, { verb: 'disputeOverride', data: { ...data, reason: 'again' } }))).toMatch(/⚠/);
  });
});

describe('a peer review in Teams', () => {
  it('a peer’s notes reach the instructor’s review card beside the submission, and the instructor still approves from it', async () => {
    const brian = await LearnerDriver.create(api, RUN, 'brian', 'drill');
    brian.approveReviews = false;
    await brian.walkTo('design-review', 'awaitingReview');
    const on = await fetch(`${s.url}/api/runs/${RUN}/peer-review`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEYS.instructor }, body: JSON.stringify({ enabled: true, minQueue: 1 }) });
    expect(on.status).toBe(200);
    // Brian has not passed Design: he is told why he cannot review; Ada has, and gets Brian's design as a card.
    await s.teams.say(s.learners[1].id, 'peer review');
    await eventually('the refusal for Brian', () => s.teams.transcript(s.teams.personalConversationId(s.learners[1].id)).some((a) => a.fromBot && /Only learners who passed Design/.test(a.text ?? '')));
    await s.teams.say(ada.id, 'peer review');
    const offer = await eventually('the peer review card for Ada', () => s.teams.transcript(ada.conv).filter((a) => a.fromBot && cardText(a).includes('Review Brian Kernighan')).at(-1));
    const offerJson = cardText(offer);
    for (const c of ['tradeOffs', 'alternatives', 'scalability', 'cost', 'operationalReadiness']) expect(offerJson).toContain(`"id":"score_${c}"`);
    const offerData = (JSON.parse(offerJson) as Array<{ actions: Array<{ data: Record<string, unknown> }> }>)[0]!.actions[0]!.data;
    const scores = { score_tradeOffs: 'meets', score_alternatives: 'meets', score_scalability: 'meets', score_cost: 'notYet', score_operationalReadiness: 'meets' };
    expect(reply(await s.teams.invoke(ada.id, offer.id, { verb: 'peerReview', data: { ...offerData, ...scores } }))).toMatch(/Score every criterion and write your notes/);
    expect(reply(await s.teams.invoke(s.learners[1].id, offer.id, { verb: 'peerReview', data: { ...offerData, ...scores, notes: 'mine' } }))).toMatch(/⛔.*for learner “ada”/);
    const sent = await s.teams.invoke(ada.id, offer.id, { verb: 'peerReview', data: { ...offerData, ...scores, notes: 'Add a monthly cost estimate.' } });
    expect(reply(sent)).toMatch(/with the instructor/);
    expect(cardText(s.teams.activity(ada.conv, offer.id)!)).toMatch(/Sent to the instructor/);
    const card = await eventually('the review card with the peer’s notes', () => instructorCard('Peer review by Ada Lovelace'));
    const json = cardText(card);
    expect(json).toContain('Add a monthly cost estimate.');
    expect(json).toContain('✗ not yet');
    for (const verb of ['approve', 'changes']) expect(json).toContain(`"verb":"${verb}"`);
    const data = (JSON.parse(json) as Array<{ actions: Array<{ data: Record<string, unknown> }> }>)[0]!.actions[0]!.data;
    expect(reply(await s.teams.invoke(ines.id, card.id, { verb: 'approve', data: { ...data, comment: 'Good; take Ada’s cost note on board.' } }))).toMatch(/Approved/);
    await eventually('brian past design', async () => ((await api.learnerStatus(RUN, 'brian')).journey?.outcomes.design === 'passed' ? true : undefined));
  });

  it('checks that failed the phase on their last attempt: the failure card shows the evidence and marks them passed', async () => {
    const brian = await LearnerDriver.create(api, RUN, 'brian', 'drill');
    await brian.walkTo('impl-harden');
    await setStorageMinimumTls(RUN, 'brian', 'TLS1_0');
    await api.done(RUN, 'brian', 'impl-harden');
    for (const attempt of [1, 2]) {
      await eventually(`brian's attempt ${attempt} to fail`, async () => {
        const p = (await brian.status()).position;
        return p?.state === 'awaitingFix' && p.stepAttempt === attempt;
      });
      await api.done(RUN, 'brian', 'impl-harden-check');
    }
    const card = await eventually('the failure card with the evidence', () => instructorCard('Brian Kernighan is blocked'));
    const json = cardText(card);
    expect(json).toContain('\\"TLS1_0\\"');
    expect(json).toContain('"verb":"disputeOverride"');
    const data = (JSON.parse(json) as Array<{ actions: Array<{ verb: string; data: Record<string, unknown> }> }>)[0]!.actions.find((a) => a.verb === 'disputeOverride')!.data;
    expect(reply(await s.teams.invoke(ines.id, card.id, { verb: 'disputeOverride', data }))).toMatch(/Say why it passes/);
    expect(reply(await s.teams.invoke(ines.id, card.id, { verb: 'disputeOverride', data: { ...data, reason: 'Policy enforces TLS 1.2.' } }))).toMatch(/Marked passed by Ines Instructor/);
    // The failure card itself is resolved in place: still the blocked notice, now with the decision and no buttons.
    const resolved = cardText(s.teams.activity(ines.conv, card.id)!);
    expect(resolved).toMatch(/Brian Kernighan is blocked.*Marked passed by Ines Instructor/);
    expect(resolved).not.toContain('"verb"');
    await eventually('brian past the check', async () => {
      const p = (await brian.status()).position;
      return p !== null && p !== undefined && p.state !== 'failed' && p.stepId !== 'impl-harden-check';
    });
  });

  it('the run report in Teams lists the decisions on disputes and answers', async () => {
    await s.teams.say(ines.id, 'end');
    const report = await eventually('the run report in Teams', () => instructorCard('finished'));
    expect(cardText(report)).toMatch(/Decisions on disputes and answers.*Ada Lovelace: check storage-tls12 at impl-harden-check overridden by Ines Instructor/);
  });
});
