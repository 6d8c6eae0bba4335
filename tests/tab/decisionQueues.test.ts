import { describe, expect, it } from 'vitest';
import type { DecisionRow } from '../../activities/recordDecision';
import type { PhasePosition } from '../../http/position';
import { answerItem, disputeItem, peerReviewsOf, REPORT_DECISIONS, reportOf } from '../../tab/decisionQueues';
import type { DashboardQueueItem } from '../../tab/dashboardTypes';

/** The dashboard's dispute / answer / peer-review panels and run report, from positions and decisions (pure). */
const base: DashboardQueueItem = { learnerId: 'ada', name: 'Ada Lovelace', phase: 'implementation', stepId: null, since: null, text: '' };
const position = (over: Partial<PhasePosition>): PhasePosition =>
  ({ phase: 'implementation', attempt: 1, instanceId: 'i', state: 'awaitingLearner', stepId: 'check', stepKind: 'validate', stepIndex: 0, steps: 1, stepAttempt: 1, accepts: [], round: null, helpPending: null, failure: null, lastValidation: null, dispute: null, answerReview: null, deliverables: null, peerReviews: [], ...over }) as PhasePosition;
const decision = (i: number, outcome: 'overridden' | 'rechecked' | 'returned'): DecisionRow => ({
  runId: 'r',
  learnerId: `l${i}`,
  phase: 'implementation',
  at: new Date(Date.UTC(2026, 11, 1, 10, 0, i)).toISOString(),
  decision: { kind: 'dispute', stepId: 'check', attempt: 1, outcome, by: 'Ian', reason: `reason ${i}`, checkIds: ['tls'] },
});

describe('the dashboard’s decision panels', () => {
  it('a dispute is shown only while it is open, with each failed check’s evidence and fix', () => {
    const dispute = { attempt: 2, note: 'I did it', outcome: 'open' as const, by: null, reason: null, checks: [{ checkId: 'tls', passed: false, evidence: [{ resource: 'acct', property: 'p', observed: '"a"', expected: '"b"' }], fix: 'Set it' }, { checkId: 'ok', passed: true }] };
    expect(disputeItem(base, position({ state: 'disputed', dispute }))).toMatchObject({ attempt: 2, note: 'I did it', stepId: 'check', checks: [{ checkId: 'tls', evidence: [{ observed: '"a"' }], fix: 'Set it' }] });
    expect(disputeItem(base, position({ state: 'awaitingFix', dispute: { ...dispute, outcome: 'returned' } }))).toBeNull();
    expect(disputeItem(base, undefined)).toBeNull();
  });

  it('an answer under review carries the question’s criteria, marked by what the keywords found, and whether it was too short', () => {
    const steps = new Map([['q', { id: 'q', kind: 'question', title: 'Q', answer: { minWords: 30, criteria: [{ id: 'a', description: 'A', keywords: ['x'] }, { id: 'b', description: 'B', keywords: ['y'] }] } }]]) as never;
    const review = { round: 1, answer: 'words', note: null, missing: ['b', 'min-words'], outcome: 'open' as const, by: null, comment: null };
    expect(answerItem(base, position({ state: 'answerInReview', stepId: 'q', answerReview: review }), steps)).toMatchObject({
      round: 1,
      criteria: [{ id: 'a', metByKeywords: true }, { id: 'b', metByKeywords: false }],
      minWords: 30,
      tooShort: true,
    });
    expect(answerItem(base, position({ state: 'awaitingLearner', stepId: 'q', answerReview: { ...review, outcome: 'accepted' } }), steps)).toBeNull();
  });

  it('peers’ notes are those on the round under review, named', () => {
    const peerReviews = [1, 2].map((round) => ({ round, reviewerId: 'bo', notes: `round ${round}`, scores: { cost: 'meets' as const } }));
    expect(peerReviewsOf(position({ round: 2, peerReviews }), () => 'Bo')).toEqual([{ reviewerId: 'bo', reviewerName: 'Bo', notes: 'round 2', scores: { cost: 'meets' } }]);
  });

  it(`the run report counts every decision, shows the newest ${REPORT_DECISIONS} first, and the closing figures once the run ended`, () => {
    const rows = Array.from({ length: REPORT_DECISIONS + 5 }, (_, i) => decision(i, i % 3 === 0 ? 'overridden' : i % 3 === 1 ? 'rechecked' : 'returned'));
    const report = reportOf(rows, (id) => id.toUpperCase(), new Map(), null);
    expect(report.total).toBe(REPORT_DECISIONS + 5);
    expect(report.counts).toEqual({ overridden: 69, rechecked: 68, returned: 68, accepted: 0 });
    expect(report.decisions).toHaveLength(REPORT_DECISIONS);
    expect(report.decisions[0]).toMatchObject({ learnerId: `l${REPORT_DECISIONS + 4}`, name: `L${REPORT_DECISIONS + 4}`, stepTitle: 'check', items: ['tls'] });
    expect(report.final).toBeNull();
    const ended = reportOf([], (id) => id, new Map(), { runId: 'r', packId: 'p', title: 't', startedAt: 's', endedAt: 'e', endReason: 'over', learners: 3, completed: 1, ended: 2, perPhase: {} });
    expect(ended.final).toEqual({ endedAt: 'e', endReason: 'over', completed: 1, ended: 2, learners: 3 });
  });
});
