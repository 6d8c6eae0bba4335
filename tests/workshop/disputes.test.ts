import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError, WorkshopApi, type LearnerStatus } from '../../cli/apiClient';
import { learnerToken } from '../../http/apiAuth';
import type { DashboardRun } from '../../tab/dashboardTypes';
import { setStorageMinimumTls } from '../helpers/learnerEnvironment';
import { LearnerDriver, until } from './learnerDriver';
import { runWorkshopCli } from './workshopCli';
import { startWorkshopStack, TEST_KEYS, type WorkshopStack } from './workshopStack';

/**
 * Checks a learner can dispute and answers a person can accept, end to end on the local stack (the drill pack,
 * the ARM emulator, the real phase machine and orchestrations, the workshop API): dispute → evidence → re-run /
 * return / override → the learner's record and the run report, and answer → instructor review → returned /
 * accepted. Every refusal on the way is a 4xx that says why and changes nothing.
 */
const packsDir = path.join(__dirname, 'packs');
const RUN = 'disputes';
let w: WorkshopStack;
let api: WorkshopApi;
let ada: LearnerDriver;

/** Keyword criteria of req-drivers are spreadsheet / analyst / governed: this says it in other words. */
const OWN_WORDS =
  'Contoso needs its people who study the numbers to stop passing workbook files around by mail; they want one trusted, ' +
  'controlled place for the data with clear owners, because the auditors found three versions of the same sales figure last quarter.';

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir });
  api = w.api;
  await api.startRun({ runId: RUN, scenario: 'drill', roster: 'name,email\nAda Lovelace,ada@example.com\nGrace Hopper,grace@example.com\n', rosterName: 'roster.csv', instructors: ['ian'] });
  ada = await LearnerDriver.create(api, RUN, 'ada', 'drill');
});
afterAll(async () => {
  await w?.stop();
});

async function refused(p: Promise<unknown>, status: number, message: RegExp): Promise<ApiCallError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiCallError);
  expect((err as ApiCallError).status).toBe(status);
  expect((err as ApiCallError).message).toMatch(message);
  return err as ApiCallError;
}

const at = (stepId: string, state: string): Promise<LearnerStatus> => ada.at(stepId, state);

/** The instructor dashboard's read model of the run (GET /api/dashboard/runs/{runId}), once `ready` holds of it. */
async function dashboard(what: string, ready: (run: DashboardRun) => boolean): Promise<DashboardRun> {
  return until(`the dashboard: ${what}`, async () => {
    const res = await fetch(`${w.url}/api/dashboard/runs/${RUN}`, { headers: { 'x-api-key': TEST_KEYS.instructor } });
    expect(res.status).toBe(200);
    const run = (await res.json()) as DashboardRun;
    return ready(run) ? run : undefined;
  });
}

describe('an answer the keyword criteria refuse goes to the instructor', () => {
  it('the refusal (422) offers "send it to the instructor instead", and says what to call', async () => {
    await ada.walkTo('req-drivers');
    const err = await refused(api.answer(RUN, 'ada', OWN_WORDS, 'req-drivers'), 422, /not complete.*send it to the instructor \(POST …\/review-answer/);
    expect(err.body.sendToInstructor).toMatchObject({ action: 'review-answer', method: 'POST', body: { answer: OWN_WORDS, stepId: 'req-drivers' } });
  });

  it('sent for review, the learner is told it is with the instructor, and the instructor’s queue shows it', async () => {
    const r = await api.reviewAnswer(RUN, 'ada', OWN_WORDS, { note: 'People who study the numbers = analysts; workbooks = spreadsheets.', stepId: 'req-drivers' });
    expect(r).toMatchObject({ accepted: 'review-answer', round: 1, missing: ['outcome'] });
    const s = await at('req-drivers', 'answerInReview');
    expect(s.withInstructor).toBe('answer');
    await until('the with-instructor message to the learner', async () => (await api.learnerMessages(RUN, 'ada')).messages.find((m) => m.kind === 'withInstructor' && m.body.about === 'answer'));
    const queued = await until('ada in the review queue', async () => (await api.runStatus(RUN)).view?.reviewQueue.find((q) => q.learnerId === 'ada'));
    expect(queued.phase).toBe('requirements');
    const toInstructor = await until('the answer review for the instructor', async () => (await api.instructorMessages(RUN)).messages.find((m) => m.kind === 'answerReview'));
    expect(toInstructor.body).toMatchObject({ learnerId: 'ada', stepId: 'req-drivers', round: 1, answer: OWN_WORDS, missing: ['outcome'] });
    // The dashboard: in the answers queue beside the criteria, not among the designs to approve.
    const board = await dashboard('ada’s answer in its queue', (r) => r.answerQueue.some((q) => q.learnerId === 'ada'));
    expect(board.answerQueue).toEqual([
      expect.objectContaining({
        learnerId: 'ada',
        name: 'Ada Lovelace',
        stepId: 'req-drivers',
        round: 1,
        answer: OWN_WORDS,
        note: 'People who study the numbers = analysts; workbooks = spreadsheets.',
        criteria: [{ id: 'outcome', description: 'Names the business outcome', metByKeywords: false }],
        tooShort: false,
      }),
    ]);
    expect(board.reviewQueue.map((q) => q.learnerId)).not.toContain('ada');
    expect(board.learners.find((l) => l.learnerId === 'ada')?.phaseState).toBe('answerInReview');
  });

  it('bad input is refused and changes nothing: twice, another learner’s token, a learner deciding, a wrong round, no comment', async () => {
    await refused(api.reviewAnswer(RUN, 'ada', OWN_WORDS), 409, /already with the instructor/);
    const grace = new WorkshopApi({ url: w.url, learnerTokens: { ada: learnerToken(TEST_KEYS.learnerSecret, RUN, 'grace') } });
    await refused(grace.reviewAnswer(RUN, 'ada', OWN_WORDS), 403, /token is for "grace".*cannot act for "ada"/);
    const asAda = new WorkshopApi({ url: w.url, instructorKey: learnerToken(TEST_KEYS.learnerSecret, RUN, 'ada') });
    await refused(asAda.decideAnswer(RUN, 'ada', { decision: 'accept', comment: 'I accept myself' }), 403, /instructor route/);
    await refused(api.decideAnswer(RUN, 'ada', { decision: 'accept', comment: 'x', round: 2 }), 409, /round 1, not 2/);
    await refused(api.decideAnswer(RUN, 'ada', { decision: 'accept', comment: '' }), 400, /comment: say why the answer covers the criteria/);
    await refused(api.decideDispute(RUN, 'ada', { decision: 'recheck' }), 409, /no open dispute/);
    expect((await ada.status()).position).toMatchObject({ stepId: 'req-drivers', state: 'answerInReview' });
  });

  it('the instructor sees the answer beside the criteria, returns it with a comment, and the learner sees the comment', async () => {
    const e = await api.evidence(RUN, 'ada');
    expect(e.answerReview).toMatchObject({ round: 1, outcome: 'open', answer: OWN_WORDS, criteria: [{ id: 'outcome', description: 'Names the business outcome', metByKeywords: false }] });
    await api.decideAnswer(RUN, 'ada', { decision: 'return', comment: 'Say what the analysts get out of it, not only what goes away.', by: 'Ian' });
    await at('req-drivers', 'awaitingLearner');
    const back = await until('the decision in the learner’s messages', async () => (await api.learnerMessages(RUN, 'ada')).messages.find((m) => m.kind === 'decided'));
    expect(back.body).toMatchObject({ stepId: 'req-drivers', decision: { kind: 'answer', outcome: 'returned', by: 'Ian', reason: 'Say what the analysts get out of it, not only what goes away.' } });
    await refused(api.decideAnswer(RUN, 'ada', { decision: 'accept', comment: 'late' }), 409, /already returned/);
  });

  it('sent again and accepted: the answer is recorded, the criterion marked met by a person with who and why, the phase moves on', async () => {
    const better = `${OWN_WORDS} The people who study the numbers get a self-service view they can trust.`;
    expect(await api.reviewAnswer(RUN, 'ada', better, { stepId: 'req-drivers' })).toMatchObject({ round: 2 });
    await at('req-drivers', 'answerInReview');
    await api.decideAnswer(RUN, 'ada', { decision: 'accept', comment: 'Covers the outcome in other words.', round: 2, by: 'Ian' });
    const s = await until('ada past req-drivers', async () => {
      const st = await ada.status();
      return st.position?.phase !== 'requirements' || st.position.stepId !== 'req-drivers' ? st : undefined;
    });
    expect(s.decisions.map((d) => d.decision)).toEqual([
      { kind: 'answer', stepId: 'req-drivers', round: 1, outcome: 'returned', by: 'Ian', reason: 'Say what the analysts get out of it, not only what goes away.', criteriaMetByPerson: [] },
      { kind: 'answer', stepId: 'req-drivers', round: 2, outcome: 'accepted', by: 'Ian', reason: 'Covers the outcome in other words.', criteriaMetByPerson: ['outcome'] },
    ]);
  });

  it('an answer that meets the criteria sent for review is simply recorded: nobody waits for a person', async () => {
    // Grace's first question, answered with the keywords through review-answer.
    const grace = await LearnerDriver.create(api, RUN, 'grace', 'drill');
    await grace.walkTo('req-drivers');
    const good = 'The analyst team lives in spreadsheet exports today; Contoso wants one governed landing zone so every analyst reads the same numbers, with owners, lineage and access control that auditors accept this year.';
    expect(await api.reviewAnswer(RUN, 'grace', good)).toMatchObject({ accepted: 'answer' });
    await until('grace past req-drivers', async () => ((await grace.status()).position?.phase === 'design' ? true : undefined));
  });
});

describe('a learner disputes a failed check', () => {
  let account = '';

  it('a failed check shows the resource, the property read, observed and expected, and how to fix it', async () => {
    await ada.walkTo('impl-harden');
    account = await setStorageMinimumTls(RUN, 'ada', 'TLS1_0');
    await api.done(RUN, 'ada', 'impl-harden');
    const s = await at('impl-harden-check', 'awaitingFix');
    expect(s.position?.accepts).toEqual(['DONE', 'DISPUTE']);
    const e = await api.evidence(RUN, 'ada');
    expect(e.validation).toEqual({
      attempt: 1,
      passed: false,
      failed: [
        {
          checkId: 'storage-tls12',
          message: `${account}: properties.minimumTlsVersion is "TLS1_0" (expected "TLS1_2").`,
          evidence: [{ resource: account, property: 'properties.minimumTlsVersion', observed: '"TLS1_0"', expected: '"TLS1_2"' }],
          fix: "Set the account's minimum TLS version to TLS1_2.",
        },
      ],
    });
  });

  it('the CLI shows the same evidence (workshop learner evidence)', async () => {
    const res = await runWorkshopCli(['--url', w.url, 'learner', 'evidence', RUN, 'ada']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`${account} · properties.minimumTlsVersion: observed "TLS1_0", expected "TLS1_2"`);
    expect(res.stdout).toContain("fix: Set the account's minimum TLS version to TLS1_2.");
  });

  it('bad disputes are refused with what was wrong: no note, an old attempt, another step', async () => {
    await refused(api.dispute(RUN, 'ada', ''), 400, /note: say what you did/);
    await refused(api.dispute(RUN, 'ada', 'I did it', { attempt: 2 }), 409, /attempt 2 .* not the last one; attempt 1 is/);
    await refused(api.dispute(RUN, 'ada', 'I did it', { stepId: 'impl-harden' }), 409, /not the current step/);
    await refused(api.decideDispute(RUN, 'ada', { decision: 'override', reason: 'ok' }), 409, /no open dispute/);
  });

  it('"I did it" puts the dispute with the instructor: the learner is told, the queue and the evidence show it', async () => {
    expect(await api.dispute(RUN, 'ada', 'I set TLS 1.2 in the portal a minute ago.')).toMatchObject({ accepted: 'dispute', attempt: 1, checks: ['storage-tls12'] });
    const s = await at('impl-harden-check', 'disputed');
    expect(s.withInstructor).toBe('dispute');
    await until('ada in the review queue', async () => (await api.runStatus(RUN)).view?.reviewQueue.find((q) => q.learnerId === 'ada'));
    const e = await api.evidence(RUN, 'ada');
    expect(e.dispute).toMatchObject({ attempt: 1, note: 'I set TLS 1.2 in the portal a minute ago.', outcome: 'open', checks: [{ checkId: 'storage-tls12', evidence: [{ observed: '"TLS1_0"' }] }] });
    const board = await dashboard('ada’s dispute in its queue', (r) => r.disputeQueue.some((q) => q.learnerId === 'ada'));
    expect(board.disputeQueue).toEqual([
      expect.objectContaining({
        learnerId: 'ada',
        stepId: 'impl-harden-check',
        attempt: 1,
        note: 'I set TLS 1.2 in the portal a minute ago.',
        checks: [{ checkId: 'storage-tls12', message: expect.stringContaining('TLS1_0'), evidence: [{ resource: account, property: 'properties.minimumTlsVersion', observed: '"TLS1_0"', expected: '"TLS1_2"' }], fix: "Set the account's minimum TLS version to TLS1_2." }],
      }),
    ]);
    expect(board.reviewQueue.map((q) => q.learnerId)).not.toContain('ada');
    const card = await until('the dispute for the instructor', async () => (await api.instructorMessages(RUN)).messages.find((m) => m.kind === 'dispute'));
    expect(card.body).toMatchObject({ learnerId: 'ada', stepId: 'impl-harden-check', attempt: 1, note: 'I set TLS 1.2 in the portal a minute ago.' });
    await refused(api.dispute(RUN, 'ada', 'again'), 409, /already with the instructor/);
    await refused(api.decideDispute(RUN, 'ada', { decision: 'override' }), 400, /reason: overriding needs the reason/);
  });

  it('re-run by the instructor: the checks run again without using up an attempt', async () => {
    await api.decideDispute(RUN, 'ada', { decision: 'recheck', by: 'Ian' });
    const s = await until('the re-run to fail again', async () => {
      const st = await ada.status();
      return st.position?.state === 'awaitingFix' && st.position.stepAttempt === 2 ? st : undefined;
    });
    expect(s.position?.lastValidation).toMatchObject({ attempt: 2, passed: false });
  });

  it('returned with a comment: the learner sees it, and cannot dispute the same attempt again', async () => {
    await api.dispute(RUN, 'ada', 'Still says TLS1_0 but I changed it.');
    await at('impl-harden-check', 'disputed');
    await api.decideDispute(RUN, 'ada', { decision: 'return', reason: 'The account still allows TLS 1.0: look at its Configuration blade.', attempt: 2, by: 'Ian' });
    await at('impl-harden-check', 'awaitingFix');
    const returned = await until('the returned dispute in the learner’s messages', async () =>
      (await api.learnerMessages(RUN, 'ada')).messages.find((m) => m.kind === 'decided' && (m.body.decision as { outcome?: string }).outcome === 'returned' && (m.body.decision as { kind?: string }).kind === 'dispute'),
    );
    expect(returned.body.decision).toMatchObject({ attempt: 2, reason: 'The account still allows TLS 1.0: look at its Configuration blade.' });
    await refused(api.dispute(RUN, 'ada', 'really'), 409, /instructor returned your dispute of attempt 2.*say "done"/);
  });

  it('checks that failed the phase on their last attempt can still be marked passed: the phase resumes after the step', async () => {
    const grace = await LearnerDriver.create(api, RUN, 'grace', 'drill');
    await grace.walkTo('impl-harden');
    await setStorageMinimumTls(RUN, 'grace', 'TLS1_0');
    await api.done(RUN, 'grace', 'impl-harden');
    for (const attempt of [1, 2]) {
      await until(`grace's attempt ${attempt} to fail`, async () => {
        const p = (await grace.status()).position;
        return p?.state === 'awaitingFix' && p.stepAttempt === attempt ? p : undefined;
      });
      await api.done(RUN, 'grace', 'impl-harden-check');
    }
    const failed = await until('grace’s phase to fail on the last attempt', async () => {
      const p = (await grace.status()).position;
      return p?.state === 'failed' ? p : undefined;
    });
    expect(failed.failure).toMatchObject({ kind: 'validation', stepId: 'impl-harden-check' });
    const notice = await until('the failure with its checks for the instructor', async () => (await api.instructorMessages(RUN)).messages.find((m) => m.kind === 'failed' && m.body.learnerId === 'grace'));
    expect((notice.body.failure as { checks?: unknown }).checks).toEqual([expect.objectContaining({ checkId: 'storage-tls12', evidence: [expect.objectContaining({ observed: '"TLS1_0"', expected: '"TLS1_2"' })] })]);
    await refused(api.dispute(RUN, 'grace', 'I did it'), 409, /failed at step "impl-harden-check".*waits for a resume/);
    await refused(api.decideDispute(RUN, 'grace', { decision: 'return', reason: 'no' }), 409, /failed the phase on their last attempt/);
    await refused(api.decideDispute(RUN, 'grace', { decision: 'override', reason: 'ok', attempt: 2 }), 409, /failed on attempt 3, not 2/);
    expect(await api.decideDispute(RUN, 'grace', { decision: 'override', reason: 'The account inherits TLS 1.2 from policy.', by: 'Ian' })).toMatchObject({ accepted: 'dispute-override', attempt: 3, checks: ['storage-tls12'] });
    await until('grace past the check', async () => {
      const p = (await grace.status()).position;
      return p && p.state !== 'failed' && p.stepId !== 'impl-harden-check' ? p : undefined;
    });
    const record = (await grace.status()).decisions.map((d) => d.decision);
    expect(record).toEqual([{ kind: 'dispute', stepId: 'impl-harden-check', attempt: 3, outcome: 'overridden', by: 'Ian', reason: 'The account inherits TLS 1.2 from policy.', checkIds: ['storage-tls12'] }]);
  });

  it('overridden with a reason: the step passes, and the override is in the learner’s record and the run report', async () => {
    await api.done(RUN, 'ada', 'impl-harden-check');
    await until('attempt 3 to fail', async () => {
      const st = await ada.status();
      return st.position?.state === 'awaitingFix' && st.position.stepAttempt === 3 ? st : undefined;
    });
    await api.dispute(RUN, 'ada', 'Our policy sets it org-wide; the account inherits TLS 1.2.', { attempt: 3 });
    await at('impl-harden-check', 'disputed');
    await api.decideDispute(RUN, 'ada', { decision: 'override', reason: 'Org policy enforces TLS 1.2; checked with the learner.', attempt: 3, by: 'Ian' });
    const s = await until('ada past the check', async () => {
      const st = await ada.status();
      return st.position?.stepId !== 'impl-harden-check' ? st : undefined;
    });
    const override = { kind: 'dispute', stepId: 'impl-harden-check', attempt: 3, outcome: 'overridden', by: 'Ian', reason: 'Org policy enforces TLS 1.2; checked with the learner.', checkIds: ['storage-tls12'] };
    expect(s.decisions.map((d) => d.decision)).toContainEqual(override);
    expect(s.decisions.filter((d) => d.decision.kind === 'dispute').map((d) => d.decision.outcome)).toEqual(['rechecked', 'returned', 'overridden']);
    await refused(api.decideDispute(RUN, 'ada', { decision: 'override', reason: 'twice' }), 409, /(no step to act on|no open dispute|already overridden)/);
    // The check has passed (by override): disputing it is refused, whatever the learner names.
    await refused(api.dispute(RUN, 'ada', 'and again', { stepId: 'impl-harden-check' }), 409, /(not the current step|no step to act on)/);
    await refused(api.dispute(RUN, 'ada', 'and again'), 409, /(no failed check to dispute|no step to act on)/);
    // The dashboard's run report view shows the override while the run is on.
    const live = await dashboard('the override in the run report view', (r) => r.report.decisions.some((d) => d.learnerId === 'ada' && d.outcome === 'overridden'));
    expect(live.disputeQueue).toEqual([]);
    expect(live.report.decisions.find((d) => d.learnerId === 'ada' && d.outcome === 'overridden')).toMatchObject({
      name: 'Ada Lovelace',
      phase: 'implementation',
      stepId: 'impl-harden-check',
      kind: 'dispute',
      attempt: 3,
      by: 'Ian',
      reason: 'Org policy enforces TLS 1.2; checked with the learner.',
      items: ['storage-tls12'],
    });

    await api.runCommand(RUN, 'end', { reason: 'disputes test over' });
    const report = await until('the run report', async () => (await api.runStatus(RUN)).report ?? undefined);
    expect(report.decisions.filter((d) => d.learnerId === 'ada').map((d) => d.decision)).toContainEqual(override);
    expect(report.decisions.find((d) => d.decision.kind === 'answer' && d.decision.outcome === 'accepted')).toMatchObject({ learnerId: 'ada', phase: 'requirements' });
    // …and so does the dashboard's run report view once the run is over, with the cohort's closing figures.
    const ended = await dashboard('the run report with its closing figures', (r) => r.report.final !== null);
    expect(ended.report.final).toMatchObject({ endReason: 'disputes test over', learners: 2 });
    expect(ended.report.counts).toEqual({ overridden: 2, rechecked: 1, returned: 2, accepted: 1 });
    expect(ended.report.total).toBe(report.decisions.length);
    expect(ended.report.decisions.filter((d) => d.outcome === 'overridden').map((d) => d.learnerId).sort()).toEqual(['ada', 'grace']);
  });

  it('after the run ended, a dispute or an answer for review is refused (409)', async () => {
    expect((await api.runStatus(RUN)).runtimeStatus).toBe('Completed');
    await refused(api.dispute(RUN, 'ada', 'late'), 409, /Nothing was changed/);
    await refused(api.reviewAnswer(RUN, 'grace', 'late'), 409, /Nothing was changed/);
  });
});
