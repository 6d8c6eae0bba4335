import { describe, expect, it } from 'vitest';
import { expandView, type CohortSummary } from './cohortView';
import { applyProgress, initialProgress, type LearnerProgress, type ProgressReport } from '../machines/progress';

/**
 * The cohort publishes a constant-size summary as its custom status (Durable Functions caps a custom
 * status at 16 KB of UTF-16) and writes per-learner progress to WorkshopProgress; expandView joins them
 * into the view the API, bot and dashboard read.
 */
const summary: CohortSummary = {
  runId: 'r1',
  packId: 'drill',
  title: 'Drill',
  startedAt: '2026-11-26T09:00:00.000Z',
  learners: 4,
  started: 4,
  provisioning: { queued: 0, deploying: 1, retrying: 0, succeeded: 2, failed: 0, maxInFlight: 2, throttled: 0 },
  paused: false,
  ended: false,
  endReason: null,
};
const roster = [{ learnerId: 'ada' }, { learnerId: 'bo' }, { learnerId: 'cy' }, { learnerId: 'di' }];
const p = (phase: LearnerProgress['phase'], state: LearnerProgress['state'], since: string, extra: Partial<LearnerProgress> = {}): LearnerProgress => ({ phase, state, stepId: 's1', since, helpCount: 0, ...extra });

describe('expandView', () => {
  it('builds counts and queues from the progress rows, oldest first, and shows learners without a row as starting', () => {
    const rows = new Map<string, LearnerProgress>([
      ['ada', p('design', 'awaitingReview', '2026-11-26T10:05:00.000Z')],
      ['bo', p('design', 'awaitingReview', '2026-11-26T10:01:00.000Z')],
      ['cy', p('requirements', 'helpRequested', '2026-11-26T10:02:00.000Z', { detail: 'How deep?', helpCount: 1 })],
      ['zed', p('validation', 'completed', '2026-11-26T10:03:00.000Z')], // not on the roster: ignored
    ]);
    const view = expandView(summary, roster, rows);
    expect(view.counts).toEqual({ design: { awaitingReview: 2 }, requirements: { helpRequested: 1, starting: 1 } });
    expect(view.reviewQueue.map((q) => q.learnerId)).toEqual(['bo', 'ada']);
    expect(view.helpQueue).toEqual([{ learnerId: 'cy', phase: 'requirements', since: '2026-11-26T10:02:00.000Z', detail: 'How deep?' }]);
    expect(view.progress.di).toEqual({ phase: 'requirements', state: 'starting', stepId: null, since: summary.startedAt, helpCount: 0 });
    expect(Object.keys(view.progress)).toEqual(['ada', 'bo', 'cy', 'di']);
    expect(view.finished).toBe(0);
    expect(view.provisioning).toEqual(summary.provisioning);
  });

  it('counts finished learners from the rows', () => {
    const rows = new Map<string, LearnerProgress>(roster.map((l, i) => [l.learnerId, p('validation', i < 3 ? 'completed' : 'ended', '2026-11-26T11:00:00.000Z')]));
    const view = expandView(summary, roster, rows);
    expect(view.finished).toBe(4);
    expect(view.counts).toEqual({ validation: { completed: 3, ended: 1 } });
  });
});

describe('applyProgress (the cohort folds reports with it; the delivering activity applies it to the row)', () => {
  const report = (r: Partial<ProgressReport>): ProgressReport => ({ type: 'progress', learnerId: 'ada', phase: 'design', state: 'working', stepId: 's2', at: '2026-11-26T10:00:00.000Z', attempt: 1, ...r });
  const start = initialProgress('');

  it('takes the first report and keeps since until the state, phase or step changes', () => {
    const a = applyProgress(start, report({}))!;
    expect(a).toMatchObject({ phase: 'design', state: 'working', stepId: 's2', since: '2026-11-26T10:00:00.000Z', attempt: 1, helpCount: 0 });
    const same = applyProgress(a, report({ at: '2026-11-26T10:01:00.000Z', helpCount: 1 }))!;
    expect(same.since).toBe(a.since);
    expect(same.helpCount).toBe(1);
  });

  it('ignores reports that arrive late: an earlier phase, an older attempt, an older report of the same attempt, anything after finishing', () => {
    const now = applyProgress(start, report({ phase: 'implementation', stepId: 'i1', at: '2026-11-26T11:00:00.000Z', attempt: 2 }))!;
    expect(applyProgress(now, report({ phase: 'design', at: '2026-11-26T12:00:00.000Z' }))).toBeUndefined();
    expect(applyProgress(now, report({ phase: 'implementation', attempt: 1, at: '2026-11-26T12:00:00.000Z' }))).toBeUndefined();
    expect(applyProgress(now, report({ phase: 'implementation', attempt: 2, at: '2026-11-26T10:59:00.000Z' }))).toBeUndefined();
    const done = applyProgress(now, report({ phase: 'validation', state: 'completed', at: '2026-11-26T13:00:00.000Z' }))!;
    expect(applyProgress(done, report({ phase: 'validation', state: 'working', at: '2026-11-26T14:00:00.000Z' }))).toBeUndefined();
  });

  it('cuts a long note to DETAIL_CHARS', () => {
    const a = applyProgress(start, report({ state: 'helpRequested', detail: 'x'.repeat(1000) }))!;
    expect(a.detail).toHaveLength(200);
    expect(a.detail!.endsWith('…')).toBe(true);
  });
});
