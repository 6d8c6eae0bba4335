import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError, WorkshopApi } from '../../cli/apiClient';
import { learnerToken } from '../../http/apiAuth';
import { MAX_LEARNERS_PER_RUN } from '../../http/cohortLimit';
import { waitFor } from '../helpers/stack';
import { LearnerDriver, until } from './learnerDriver';
import { startWorkshopStack, TEST_KEYS, type WorkshopStack } from './workshopStack';

/**
 * The workshop API's edges, end to end on the local stack: who may call what, bad bodies and
 * rosters, unknown runs and learners, repeated and late events. Every refusal must say what was
 * wrong and leave the run exactly as it was.
 */
const packsDir = path.join(__dirname, 'packs');
let w: WorkshopStack;
let api: WorkshopApi;
const RUN = 'badinput';

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir });
  api = w.api;
  await api.startRun({ runId: RUN, scenario: 'drill', roster: 'name,email\nAda Lovelace,ada@example.com\nGrace Hopper,grace@example.com\n', rosterName: 'roster.csv', instructors: ['ian'] });
  await until('both learners to start', async () => (await api.runStatus(RUN)).learners.every((l) => l.stepId !== null));
});
afterAll(async () => {
  await w?.stop();
});

async function raw(method: string, route: string, body?: unknown, key?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${w.url}/api/${route}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function refused(p: Promise<unknown>): Promise<ApiCallError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiCallError);
  return err as ApiCallError;
}

const adaToken = () => learnerToken(TEST_KEYS.learnerSecret, RUN, 'ada');

describe('keys', () => {
  it('a request without x-api-key is refused with 401 and starts nothing', async () => {
    const r = await raw('POST', 'runs', { runId: 'nokey', scenario: 'drill', roster: 'name,email\nA,a@example.com', instructors: ['i'] });
    expect(r.status).toBe(401);
    expect(r.body.error).toMatch(/Missing x-api-key/);
    expect((await raw('GET', `runs/${RUN}`)).status).toBe(401);
    expect((await refused(api.runStatus('nokey'))).status).toBe(404);
  });

  it('an unknown key, and a forged learner token, are refused with 401', async () => {
    expect((await raw('GET', `runs/${RUN}`, undefined, 'not-a-key')).status).toBe(401);
    const forged = learnerToken('some-other-secret-0123456789', RUN, 'ada');
    const r = await raw('POST', `runs/${RUN}/learners/ada/done`, {}, forged);
    expect(r.status).toBe(401);
    expect(r.body.error).toMatch(/Unknown API key/);
  });

  it('a learner calling an instructor route gets 403 with a clear message, and the run is unchanged', async () => {
    const before = await api.runStatus(RUN);
    const end = await raw('POST', `runs/${RUN}/end`, { reason: 'I am done' }, adaToken());
    expect(end.status).toBe(403);
    expect(end.body.error).toMatch(/instructor route.*learner token of "ada"/);
    const approve = await raw('POST', `runs/${RUN}/learners/ada/review`, { decision: 'approve' }, adaToken());
    expect(approve.status).toBe(403);
    const status = await raw('GET', `runs/${RUN}`, undefined, adaToken());
    expect(status.status).toBe(403);
    const after = await api.runStatus(RUN);
    expect(after.runtimeStatus).toBe('Running');
    expect(after.view?.ended).toBe(false);
    expect(after.learners.map((l) => [l.learnerId, l.phase, l.stepId])).toEqual(before.learners.map((l) => [l.learnerId, l.phase, l.stepId]));
  });

  it("a learner's token cannot act for another learner (403)", async () => {
    const r = await raw('POST', `runs/${RUN}/learners/grace/done`, {}, adaToken());
    expect(r.status).toBe(403);
    expect(r.body.error).toMatch(/token is for "ada".*cannot act for "grace"/);
    // and it works for ada herself
    const own = new WorkshopApi({ url: w.url, learnerTokens: { ada: adaToken() } });
    expect((await own.learnerStatus(RUN, 'ada')).learner.learnerId).toBe('ada');
  });
});

describe('bad input', () => {
  it('a malformed roster is refused with row and column, and no run is started', async () => {
    const csv = 'name,email\nAda Lovelace,ada@example.com\nBob,bob@\n,carol@example.com\n';
    const err = await refused(api.startRun({ runId: 'badroster', scenario: 'drill', roster: csv, rosterName: 'roster.csv', instructors: ['ian'] }));
    expect(err.status).toBe(400);
    expect(err.body.problems).toEqual(['roster.csv row 3, column email: "bob@" is not an address', 'roster.csv row 4, column name: empty; every learner needs a name']);
    const json = await refused(api.startRun({ runId: 'badroster', scenario: 'drill', roster: [{ name: 'Ada', email: 'ada@example.com' }, { name: 'Ada 2', email: 'ada@example.com', team: 'x' }], instructors: ['ian'] }));
    expect(json.body.problems).toEqual(['roster.json row 2, column team: unknown field; a learner has name, email, learnerId']);
    expect((await refused(api.runStatus('badroster'))).status).toBe(404);
  });

  it('a malformed pack is refused (422) with every problem as file:line:col, and an unknown one is 404 naming the packs', async () => {
    const previous = process.env.SCENARIO_PACKS_DIR;
    process.env.SCENARIO_PACKS_DIR = path.resolve(__dirname, '..', '..', 'scenarios', 'fixtures', 'invalid');
    try {
      const err = await refused(api.startRun({ runId: 'badpack', scenario: 'many-problems', roster: 'name,email\nA,a@example.com', instructors: ['ian'] }));
      expect(err.status).toBe(422);
      const problems = err.body.problems as string[];
      expect(problems.length).toBeGreaterThanOrEqual(5);
      for (const p of problems) expect(p).toMatch(/many-problems\.yaml:\d+:\d+ \S+: /);
      expect(problems.join('\n')).toContain('complexity: expected one of "intermediate", "advanced", got "expert"');
    } finally {
      process.env.SCENARIO_PACKS_DIR = previous;
    }
    const unknown = await refused(api.startRun({ scenario: 'no-such-pack', roster: 'name,email\nA,a@example.com', instructors: ['ian'] }));
    expect(unknown.status).toBe(404);
    expect(unknown.message).toMatch(/no scenario pack "no-such-pack".*Packs: drill/);
    expect((await refused(api.runStatus('badpack'))).status).toBe(404);
  });

  it('a roster over the run limit is refused (400) naming the first row past it, and nothing is created', async () => {
    const over = Array.from({ length: MAX_LEARNERS_PER_RUN + 1 }, (_, i) => ({ name: `Learner ${i}`, email: `learner${i}@example.com` }));
    const tooMany = await refused(api.startRun({ runId: 'toobig', scenario: 'drill', roster: over, instructors: ['ian'] }));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.problems).toEqual([`roster.json row ${MAX_LEARNERS_PER_RUN + 1}: a run takes at most ${MAX_LEARNERS_PER_RUN} learners (the largest cohort tested and benchmarked); split the cohort into several runs`]);
    expect((await refused(api.runStatus('toobig'))).status).toBe(404);
  });

  it('on the Durable Task Scheduler, ids that would make an instance id over 100 characters are refused up front, naming the learner', async () => {
    const setting = 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type';
    process.env[setting] = 'azureManaged';
    try {
      const longId = 'l'.repeat(40);
      const runId = 'r'.repeat(40);
      const err = await refused(api.startRun({ runId, scenario: 'drill', roster: [{ name: 'Long', email: 'long@example.com', learnerId: longId }, { name: 'Ada', email: 'ada@example.com', learnerId: 'ada' }], instructors: ['ian'] }));
      expect(err.status).toBe(400);
      expect(err.message).toContain(`"${longId}"`);
      expect(err.message).not.toContain('"ada"');
      expect(err.message).toMatch(/at most 100 characters; with run id "r+" learner ids may have \d+/);
      expect((await refused(api.runStatus(runId))).status).toBe(404);
    } finally {
      delete process.env[setting];
    }
  });

  it('bodies are validated: 400 names the field and what is wrong', async () => {
    const noInstructors = await raw('POST', 'runs', { scenario: 'drill', roster: 'name,email\nA,a@example.com', timeScale: -1 }, TEST_KEYS.instructor);
    expect(noInstructors.status).toBe(400);
    expect(noInstructors.body.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'instructors' }), expect.objectContaining({ path: 'timeScale' })]));
    const notJson = await raw('POST', `runs/${RUN}/learners/ada/answer`, '{"answer": ', TEST_KEYS.instructor);
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatch(/not valid JSON/);
    const changes = await raw('POST', `runs/${RUN}/learners/ada/review`, { decision: 'changes' }, TEST_KEYS.instructor);
    expect(changes.status).toBe(400);
    expect(changes.body.error).toMatch(/comment: requesting changes needs a comment/);
    const submit = await raw('POST', `runs/${RUN}/learners/ada/submit`, { name: 'diagram', uri: 'not a link' }, TEST_KEYS.instructor);
    expect(submit.status).toBe(400);
    expect(submit.body.error).toMatch(/uri: give the deliverable as a link/);
  });

  it('an unknown run and an unknown learner answer 404', async () => {
    const run = await refused(api.runStatus('no-such-run'));
    expect(run.status).toBe(404);
    expect(run.message).toMatch(/There is no run "no-such-run"/);
    const learner = await refused(api.done(RUN, 'zed'));
    expect(learner.status).toBe(404);
    expect(learner.message).toMatch(/has no learner "zed".*ada, grace/);
    expect((await refused(api.resume(RUN, 'zed'))).status).toBe(404);
  });

  it('a path with malformed percent-encoding is 400 naming the segment, with or without a key', async () => {
    for (const key of [undefined, TEST_KEYS.instructor]) {
      const r = await raw('GET', 'runs/%E0%A4%A', undefined, key);
      expect(r.status).toBe(400);
      expect(String(r.body.error)).toMatch(/"%E0%A4%A" has malformed percent-encoding/);
    }
  });

  it('an unbalanced quote and a control character in the roster are refused with row and column through the API', async () => {
    const quote = await refused(api.startRun({ runId: 'badquote', scenario: 'drill', roster: 'name,email\n"Ada Lovelace,ada@example.com\nGrace Hopper,grace@example.com\n', rosterName: 'roster.csv', instructors: ['ian'] }));
    expect(quote.status).toBe(400);
    expect(quote.body.problems).toEqual([expect.stringMatching(/^roster\.csv row 2, column name: the quoted value opened here is never closed/)]);
    const control = await refused(api.startRun({ runId: 'badquote', scenario: 'drill', roster: [{ name: 'Ada\u0000Lovelace', email: 'ada@example.com' }], instructors: ['ian'] }));
    expect(control.body.problems).toEqual([expect.stringMatching(/^roster\.json row 1, column name: contains a control character \(U\+0000\)/)]);
    expect((await refused(api.runStatus('badquote'))).status).toBe(404);
  });

  it('an incomplete answer is refused with what is missing (422) and nothing is recorded', async () => {
    const ada = await LearnerDriver.create(api, RUN, 'ada', 'drill');
    await ada.walkTo('req-drivers');
    const err = await refused(api.answer(RUN, 'ada', 'Storage.'));
    expect(err.status).toBe(422);
    expect(err.message).toMatch(/needs at least 30.*not yet: Names the business outcome/);
    expect((await ada.status()).position?.stepId).toBe('req-drivers');
  });
});

describe('repeats and late events', () => {
  it('a duplicate "done" is refused with 409 and does not complete the next step', async () => {
    const grace = await LearnerDriver.create(api, RUN, 'grace', 'drill');
    await grace.at('req-kickoff');
    await api.done(RUN, 'grace', 'req-kickoff');
    await grace.at('req-drivers');
    const again = await refused(api.done(RUN, 'grace', 'req-kickoff'));
    expect(again.status).toBe(409);
    expect(again.message).toMatch(/Step "req-kickoff" is not the current step/);
    // "done" without a step id on a question step is refused too; the question still waits for its answer
    const wrongKind = await refused(api.done(RUN, 'grace'));
    expect(wrongKind.status).toBe(409);
    expect(wrongKind.message).toMatch(/this step wants an answer/);
    // two "done"s racing: both may be accepted, the machine counts one
    await grace.walkTo('impl-harden', 'awaitingLearner');
    const implPhase = (await grace.status()).position!.instanceId;
    const both = await Promise.allSettled([api.done(RUN, 'grace'), api.done(RUN, 'grace')]);
    const accepted = both.filter((r) => r.status === 'fulfilled').length;
    expect(accepted).toBeGreaterThanOrEqual(1);
    // the second "done" names impl-harden too, so it cannot complete the next task: grace stops at val-smoke
    await grace.at('val-smoke', 'awaitingLearner');
    // Every accepted "done" went to the Implementation phase and is in its history, i.e. was handled: nothing
    // is left that could still move grace.
    await waitFor(w.durable, implPhase, (st) => (st.historyEvents ?? []).filter((e) => e.EventType === 'EventRaised' && /\bDONE\b/.test(JSON.stringify(e)) && /impl-harden/.test(JSON.stringify(e))).length === accepted);
    expect((await grace.status()).position).toMatchObject({ stepId: 'val-smoke', state: 'awaitingLearner' });
  });

  it('an event for a finished phase is refused with 409 and the run carries on', async () => {
    const ada = await LearnerDriver.create(api, RUN, 'ada', 'drill');
    await ada.walkTo('design-diagram');
    // the requirements phase is over: answering its question again is a late event
    const late = await refused(api.answer(RUN, 'ada', 'x '.repeat(40), 'req-drivers'));
    expect(late.status).toBe(409);
    // a review decision while the learner is not in review
    const review = await refused(api.review(RUN, 'ada', 'approve'));
    expect(review.status).toBe(409);
    expect(review.message).toMatch(/no review is waiting/);
    // a help answer with no open request
    const help = await refused(api.answerHelp(RUN, 'ada', 'sure'));
    expect(help.status).toBe(409);
    // nothing of that moved ada
    expect((await ada.status()).position).toMatchObject({ phase: 'design', stepId: 'design-diagram', state: 'awaitingLearner' });
    await ada.walkTo('design-review', 'awaitingReview');
    const decided = await api.review(RUN, 'ada', 'approve', 'fine');
    const round = decided.round as number;
    await ada.walkTo('impl-harden');
    const stale = await refused(api.review(RUN, 'ada', 'approve', 'again', round));
    expect(stale.status).toBe(409);
    const journey = (await api.learnerDetail(RUN, 'ada')).journey;
    expect(journey?.outcomes).toEqual({ requirements: 'passed', design: 'passed' });
  });

  it('resuming a learner who has not failed is refused with 409', async () => {
    const err = await refused(api.resume(RUN, 'ada'));
    expect(err.status).toBe(409);
    expect(err.message).toMatch(/is not failed/);
  });
});
