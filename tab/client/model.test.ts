import { describe, expect, it } from 'vitest';
import type { DashboardLearner } from '../dashboardTypes';
import { canExtend, canResume, elapsedMs, formatDuration, formatUsd, STUCK_FAILED_CHECKS, stuckReasons } from './model';

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
