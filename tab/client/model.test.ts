import { describe, expect, it } from 'vitest';
import type { DashboardLearner } from '../dashboardTypes';
import { canExtend, canResume, elapsedMs, fold, formatDuration, formatUsd, funnel, selectLearners, STUCK_FAILED_CHECKS, stuckReasons, type LearnerQuery } from './model';

const base: DashboardLearner = {
  learnerId: 'ada',
  name: 'Ada Lovelace',
  phase: 'implementation',
  state: 'working',
  phaseState: 'awaitingLearner',
  stepId: 'impl-connections',
  stepTitle: 'Service connections',
  stepKind: 'task',
  stepNumber: 3,
  steps: 12,
  since: '2026-11-26T10:00:00.000Z',
  timeboxMs: 10 * 60_000,
  failedChecks: 0,
  maxAttempts: null,
  failingChecks: [],
  detail: null,
  failure: null,
  helpPending: null,
  helpCount: 0,
  reviewRound: null,
  cells: [],
};

describe('dashboard model', () => {
  it('formats durations the way people read them', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatDuration(3_720_000)).toBe('1 h 02 min');
    expect(formatDuration(-5)).toBe('0 s');
    expect(formatUsd(1234.5)).toBe('$1,234.50');
  });

  it('measures time in state on the server’s clock, not the browser’s', () => {
    const since = '2026-11-26T10:00:00.000Z';
    const browserNow = Date.parse('2026-11-26T09:59:00.000Z'); // the laptop runs a minute slow
    expect(elapsedMs(since, browserNow, 90_000)).toBe(30_000);
    expect(elapsedMs(null, browserNow, 0)).toBeNull();
  });

  it('a working learner past 80 % of the step’s timebox is stuck; below it is not', () => {
    expect(stuckReasons(base, 7 * 60_000)).toEqual([]);
    const [reason] = stuckReasons(base, 9 * 60_000);
    expect(reason.kind).toBe('timebox');
    expect(reason.text).toMatch(/90 % of the 10 min 00 s timebox/);
  });

  it('the cohort’s own "stuck" state counts, with its detail', () => {
    expect(stuckReasons({ ...base, state: 'stuck', detail: '2 min left' }, 0)).toEqual([{ kind: 'timebox', text: 'timebox nearly used (2 min left)' }]);
  });

  it(`${STUCK_FAILED_CHECKS} failed validation runs make a learner stuck, naming the failing checks`, () => {
    const l = { ...base, stepKind: 'validate', phaseState: 'awaitingFix', failedChecks: 2, maxAttempts: 3, failingChecks: ['storage-tls12'] };
    expect(stuckReasons(l, 0)).toEqual([{ kind: 'failedChecks', text: '2 failed validation runs of 3 allowed: storage-tls12' }]);
    expect(stuckReasons({ ...l, failedChecks: 1 }, 0)).toEqual([]);
  });

  it('only failed learners can be resumed; only a running timeboxed step can be extended', () => {
    expect(canResume(base)).toBe(false);
    expect(canResume({ ...base, state: 'failed' })).toBe(true);
    expect(canExtend(base)).toBe(true);
    expect(canExtend({ ...base, timeboxMs: null })).toBe(false);
    expect(canExtend({ ...base, state: 'completed' })).toBe(false);
  });
});

describe('finding a learner among many', () => {
  const cells = (current: number, failed = false): DashboardLearner['cells'] =>
    (['requirements', 'design', 'implementation', 'validation'] as const).map((phase, i) => ({
      phase,
      state: i < current ? 'passed' : i === current ? (failed ? 'failed' : 'current') : 'notStarted',
    }));
  const zoe = { ...base, learnerId: 'zoe', name: 'Zoë Ångström', email: 'zoe@contoso.example', since: '2026-11-26T10:05:00.000Z', cells: cells(2) };
  const bob = { ...base, learnerId: 'bob', name: 'Bob Dylan', email: 'bob@contoso.example', state: 'failed', since: '2026-11-26T10:09:00.000Z', cells: cells(2, true) };
  const cy = { ...base, learnerId: 'cy', name: 'Cy Young', phase: 'requirements' as const, since: '2026-11-26T09:00:00.000Z', cells: cells(0) };
  const dee = { ...base, learnerId: 'dee', name: 'Dee Dee', state: 'helpRequested', since: '2026-11-26T10:08:00.000Z', cells: cells(2) };
  const all = [zoe, bob, cy, dee];
  const any: LearnerQuery = { phase: 'all', state: 'all', text: '' };
  const ids = (ls: DashboardLearner[]) => ls.map((l) => l.learnerId);

  it('search matches name, email or id, ignoring case and accents, every word', () => {
    expect(ids(selectLearners(all, { ...any, text: 'ANGSTROM' }, 'name', new Set()))).toEqual(['zoe']);
    expect(ids(selectLearners(all, { ...any, text: 'bob@contoso' }, 'name', new Set()))).toEqual(['bob']);
    expect(ids(selectLearners(all, { ...any, text: 'zoe young' }, 'name', new Set()))).toEqual([]);
    expect(fold('Zoë Ångström')).toBe('zoe angstrom');
  });

  it('filters by the phase a learner is in and by state; "stuck" is what the page worked out', () => {
    expect(ids(selectLearners(all, { ...any, phase: 'requirements' }, 'name', new Set()))).toEqual(['cy']);
    expect(ids(selectLearners(all, { ...any, state: 'failed' }, 'name', new Set()))).toEqual(['bob']);
    expect(ids(selectLearners(all, { ...any, state: 'stuck' }, 'name', new Set(['zoe'])))).toEqual(['zoe']);
    expect(ids(selectLearners(all, { ...any, state: 'attention' }, 'name', new Set(['zoe'])))).toEqual(['bob', 'zoe']);
  });

  it('sorts failed first, then stuck, then waiting on the instructor, each longest in state first', () => {
    expect(ids(selectLearners(all, any, 'attention', new Set(['zoe'])))).toEqual(['bob', 'zoe', 'dee', 'cy']);
    expect(ids(selectLearners(all, any, 'time', new Set()))).toEqual(['cy', 'zoe', 'dee', 'bob']);
    expect(ids(selectLearners(all, any, 'name', new Set()))).toEqual(['bob', 'cy', 'dee', 'zoe']);
  });

  it('the funnel counts each phase: done, working, needing the instructor, failed, not started', () => {
    const phases = (['requirements', 'design', 'implementation', 'validation'] as const).map((id) => ({ id, title: id }));
    const rows = funnel(all, phases, new Set(['zoe']));
    expect(rows.map((r) => [r.done, r.working, r.needsYou, r.failed, r.notStarted])).toEqual([
      [3, 1, 0, 0, 0],
      [3, 0, 0, 0, 1],
      [0, 0, 2, 1, 1],
      [0, 0, 0, 0, 4],
    ]);
  });

  it('disputes and answers for review are their own filters, though the cohort counts both as awaiting review', () => {
    const disputing = { ...base, learnerId: 'd', state: 'awaitingReview', phaseState: 'disputed' };
    const answering = { ...base, learnerId: 'a', state: 'awaitingReview', phaseState: 'answerInReview' };
    const design = { ...base, learnerId: 'r', state: 'awaitingReview', phaseState: 'awaitingReview' };
    const all = [disputing, answering, design, base];
    const q = (state: LearnerQuery['state']) => selectLearners(all, { phase: 'all', state, text: '' }, 'name', new Set()).map((l) => l.learnerId);
    expect(q('disputed')).toEqual(['d']);
    expect(q('answerInReview')).toEqual(['a']);
    expect(q('awaitingReview').sort()).toEqual(['a', 'd', 'r']);
  });
});
