import { describe, expect, it } from 'vitest';
import { deltaOf, ReadModelVersions, versionOf } from '../../tab/dashboardDelta';
import type { DashboardLearner, DashboardRun } from '../../tab/dashboardTypes';
import { applyDelta } from '../../tab/client/model';

const learner = (learnerId: string, stepId = 'req-business-requirements'): DashboardLearner => ({
  learnerId,
  name: learnerId.toUpperCase(),
  phase: 'requirements',
  state: 'working',
  phaseState: 'awaitingLearner',
  stepId,
  stepTitle: stepId,
  stepKind: 'question',
  stepNumber: 1,
  steps: 3,
  since: '2026-12-01T10:00:00.000Z',
  timeboxMs: 600_000,
  failedChecks: 0,
  maxAttempts: null,
  failingChecks: [],
  detail: null,
  failure: null,
  helpPending: null,
  helpCount: 0,
  reviewRound: null,
  cells: [],
});

const run = (learners: DashboardLearner[], serverTime = '2026-12-01T10:00:00.000Z'): DashboardRun => ({
  runId: 'r',
  instanceId: 'run-r',
  runtimeStatus: 'Running',
  scenario: { id: 'lakehouse', title: 'Lakehouse' },
  phases: [],
  startedAt: null,
  paused: false,
  ended: false,
  endReason: null,
  learners,
  counts: { learners: learners.length, started: learners.length, finished: 0 },
  helpQueue: [],
  reviewQueue: [],
  disputeQueue: [],
  answerQueue: [],
  failures: [],
  report: { decisions: [], total: 0, counts: { overridden: 0, rechecked: 0, returned: 0, accepted: 0 }, final: null },
  provisioning: null,
  cost: { available: false, reason: 'none' },
  serverTime,
});

describe('incremental dashboard answers', () => {
  it('the ETag ignores the server clock and changes with any learner', () => {
    const a = versionOf(run([learner('a'), learner('b')]));
    expect(versionOf(run([learner('a'), learner('b')], '2026-12-01T11:00:00.000Z')).etag).toBe(a.etag);
    expect(versionOf(run([learner('a'), learner('b', 'req-technical-constraints')])).etag).not.toBe(a.etag);
    expect(versionOf(run([learner('a')])).etag).not.toBe(a.etag);
  });

  it('a delta carries the changed and new learners and names the removed ones; applied, it gives the full answer back', () => {
    const before = run([learner('a'), learner('b'), learner('c')]);
    const after = run([learner('a'), learner('b', 'req-technical-constraints'), learner('d')]);
    const base = versionOf(before);
    const d = deltaOf(after, versionOf(after), base);
    expect(d.learners.map((l) => l.learnerId)).toEqual(['b', 'd']);
    expect(d.delta).toEqual({ since: base.etag, removed: ['c'], total: 3 });
    expect(applyDelta({ run: before, etag: base.etag }, d)).toEqual(after);
  });

  it('a delta against another answer than the one held is refused, not merged', () => {
    const before = run([learner('a')]);
    const after = run([learner('a', 'x')]);
    const d = deltaOf(after, versionOf(after), versionOf(run([learner('z')])));
    expect(() => applyDelta({ run: before, etag: versionOf(before).etag }, d)).toThrow(/not the answer this page holds/);
  });

  it('remembers a bounded number of versions per run', () => {
    const store = new ReadModelVersions();
    const vs = Array.from({ length: 12 }, (_, i) => versionOf(run([learner('a', `s${i}`)])));
    for (const v of vs) store.remember('r', v);
    expect(store.find('r', vs[0].etag)).toBeUndefined();
    expect(store.find('r', vs[11].etag)).toBe(vs[11]);
    expect(store.find('other', vs[11].etag)).toBeUndefined();
  });
});
