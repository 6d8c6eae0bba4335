import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkshopApi } from '../../cli/apiClient';
import { learnerToken } from '../../http/apiAuth';
import type { DashboardRun } from '../../tab/dashboardTypes';
import { LearnerDriver, until } from './learnerDriver';
import { startWorkshopStack, TEST_KEYS, type WorkshopStack } from './workshopStack';

/**
 * Peer review of designs, end to end on the local stack: when the instructor's queue of designs is long, a run may
 * let learners who passed Design review a peer's design against the pack's rubric; the notes reach the instructor
 * beside the submission, and the instructor still decides.
 */
const packsDir = path.join(__dirname, 'packs');
const RUN = 'peers';
let w: WorkshopStack;
let api: WorkshopApi;
const drivers: Record<string, LearnerDriver> = {};
const SCORES = { tradeOffs: 'meets', alternatives: 'meets', scalability: 'notYet', cost: 'notYet', operationalReadiness: 'meets' } as const;

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir });
  api = w.api;
  await api.startRun({ runId: RUN, scenario: 'drill', roster: 'name,email\nAda Lovelace,ada@example.com\nGrace Hopper,grace@example.com\nBrian Kernighan,brian@example.com\n', rosterName: 'roster.csv', instructors: ['ian'] });
  for (const id of ['ada', 'grace', 'brian']) {
    drivers[id] = await LearnerDriver.create(api, RUN, id, 'drill');
    drivers[id]!.approveReviews = false;
  }
  await Promise.all(Object.values(drivers).map((d) => d.walkTo('design-review', 'awaitingReview')));
  // Brian passes Design: he may review his peers.
  await api.review(RUN, 'brian', 'approve', 'solid');
  await until('brian past design', async () => ((await drivers.brian!.status()).journey?.outcomes.design === 'passed' ? true : undefined));
});
afterAll(async () => {
  await w?.stop();
});

async function call(method: 'GET' | 'POST', learnerId: string, action: string, body?: unknown, key = learnerToken(TEST_KEYS.learnerSecret, RUN, learnerId)) {
  const res = await fetch(`${w.url}/api/runs/${RUN}/learners/${learnerId}/${action}`, { method, headers: { 'content-type': 'application/json', 'x-api-key': key }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: string } };
}

describe('peer review', () => {
  it('is off until the instructor turns it on for the run', async () => {
    const r = await call('GET', 'brian', 'peer-reviews');
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/Peer review is off for run "peers"/);
    const on = await fetch(`${w.url}/api/runs/${RUN}/peer-review`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEYS.instructor }, body: JSON.stringify({ enabled: true, minQueue: 2 }) });
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({ peerReview: { enabled: true, minQueue: 2 } });
  });

  it('only a learner who passed Design may review, never their own design, and never for another learner’s token', async () => {
    const ada = await call('GET', 'ada', 'peer-reviews');
    expect(ada.status).toBe(403);
    expect(ada.body.error).toMatch(/Only learners who passed Design.*"ada"/);
    const self = await call('POST', 'brian', 'peer-review', { learnerId: 'brian', notes: 'mine', scores: SCORES });
    expect(self.status).toBe(409);
    const forged = await call('POST', 'brian', 'peer-review', { learnerId: 'ada', notes: 'x', scores: SCORES }, learnerToken(TEST_KEYS.learnerSecret, RUN, 'grace'));
    expect(forged.status).toBe(403);
  });

  it('the reviewer sees the designs waiting, with the pack’s rubric', async () => {
    const r = await call('GET', 'brian', 'peer-reviews');
    expect(r.status).toBe(200);
    const designs = r.body.designs as Array<{ learnerId: string; round: number; deliverables: Record<string, unknown[]>; rubric: Array<{ criterion: string }> }>;
    expect(designs.map((d) => d.learnerId).sort()).toEqual(['ada', 'grace']);
    expect(designs[0]!.rubric.map((c) => c.criterion)).toEqual(Object.keys(SCORES));
    expect(Object.keys(designs[0]!.deliverables).sort()).toEqual(['design-diagram', 'design-patterns', 'design-roadmap', 'design-security']);
  });

  it('a review must score every rubric criterion', async () => {
    const r = await call('POST', 'brian', 'peer-review', { learnerId: 'ada', notes: 'Cost is missing.', scores: { tradeOffs: 'meets', speed: 'meets' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/not in the rubric: speed; not scored: alternatives, scalability, cost, operationalReadiness/);
  });

  it('a peer review reaches the instructor’s queue beside the submission; the design stays with the instructor', async () => {
    const r = await call('POST', 'brian', 'peer-review', { learnerId: 'ada', round: 1, notes: 'No cost estimate; the patterns page is good.', scores: SCORES });
    expect(r.status).toBe(202);
    const seen = await until('the peer review for the instructor', async () => (await api.instructorMessages(RUN)).messages.find((m) => m.kind === 'peerReview'));
    expect(seen.body).toMatchObject({ learnerId: 'ada', stepId: 'design-review', round: 1, review: { reviewerId: 'brian', notes: 'No cost estimate; the patterns page is good.', scores: SCORES } });
    expect(Object.keys(seen.body.deliverables as object)).toContain('design-diagram');
    const ada = await until('the review recorded on ada', async () => {
      const s = await drivers.ada!.status();
      return s.position?.peerReviews.length ? s : undefined;
    });
    expect(ada.position?.state).toBe('awaitingReview');
    expect((await api.runStatus(RUN)).view?.reviewQueue.map((q) => q.learnerId)).toContain('ada');
    // The instructor's dashboard: the peer's notes beside ada's submission in the review queue.
    const board = await until('the peer review on the dashboard', async () => {
      const run = (await (await fetch(`${w.url}/api/dashboard/runs/${RUN}`, { headers: { 'x-api-key': TEST_KEYS.instructor } })).json()) as DashboardRun;
      return run.reviewQueue.find((q) => q.learnerId === 'ada' && q.peerReviews.length) ? run : undefined;
    });
    const item = board.reviewQueue.find((q) => q.learnerId === 'ada')!;
    expect(item.peerReviews).toEqual([{ reviewerId: 'brian', reviewerName: 'Brian Kernighan', notes: 'No cost estimate; the patterns page is good.', scores: SCORES }]);
    expect(item.deliverables).toHaveLength(4);
    expect(board.reviewQueue.find((q) => q.learnerId === 'grace')?.peerReviews).toEqual([]);
    const again = await call('POST', 'brian', 'peer-review', { learnerId: 'ada', notes: 'again', scores: SCORES });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/already reviewed round 1/);
  });

  it('when the queue gets short, peers are no longer offered designs; the instructor still decides', async () => {
    await api.review(RUN, 'grace', 'approve');
    await until('grace out of the queue', async () => !(await api.runStatus(RUN)).view?.reviewQueue.some((q) => q.learnerId === 'grace'));
    const r = await call('GET', 'brian', 'peer-reviews');
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/queue is short \(1 design\(s\) waiting; peers help from 2\)/);
    await api.review(RUN, 'ada', 'changes', 'Add the cost estimate Brian asked for.');
    const ada = await drivers.ada!.at('design-review', 'changesRequested');
    expect(ada.position?.peerReviews).toEqual([{ round: 1, reviewerId: 'brian', notes: 'No cost estimate; the patterns page is good.', scores: SCORES }]);
  });
});
