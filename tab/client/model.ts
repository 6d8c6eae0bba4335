import type { DashboardLearner, DashboardRun } from '../dashboardTypes';

/**
 * Pure helpers of the dashboard page: labels, durations, money and who counts as stuck. No DOM,
 * so they are unit-tested (model.test.ts) and the server could reuse them.
 */

/** Share of a step's timebox after which a learner counts as stuck (the phase machine nudges at 80 % too). */
export const STUCK_TIMEBOX_SHARE = 0.8;
/** Failed validation runs of one step after which a learner counts as stuck. */
export const STUCK_FAILED_CHECKS = 2;

export interface StuckReason {
  kind: 'timebox' | 'failedChecks';
  text: string;
}

const STATE_LABELS: Record<string, string> = {
  starting: 'Starting',
  working: 'Working',
  awaitingReview: 'Awaiting review',
  changesRequested: 'Changes requested',
  helpRequested: 'Asked for help',
  stuck: 'Running out of time',
  failed: 'Failed',
  completed: 'Completed',
  ended: 'Ended',
};

const PHASE_STATE_LABELS: Record<string, string> = {
  awaitingLearner: 'waiting for the learner',
  provisioning: 'environment deploying',
  validating: 'checks running',
  awaitingFix: 'fixing failed checks',
  awaitingReview: 'waiting for review',
  changesRequested: 'revising after review',
  starting: 'starting',
  failed: 'failed',
  completed: 'phase done',
};

export function stateLabel(state: string): string {
  return STATE_LABELS[state] ?? state;
}

export function phaseStateLabel(state: string | null): string | null {
  return state ? (PHASE_STATE_LABELS[state] ?? state) : null;
}

/** "45 s", "3 min 05 s", "1 h 02 min" — what a person reads at a glance. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} min`;
}

export function formatUsd(n: number): string {
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Time since an ISO instant on the server's clock (`offsetMs` = server − browser). */
export function elapsedMs(sinceIso: string | null, nowMs: number, offsetMs: number): number | null {
  if (!sinceIso) return null;
  const since = Date.parse(sinceIso);
  return Number.isFinite(since) ? Math.max(0, nowMs + offsetMs - since) : null;
}

/**
 * Why a learner needs the instructor's eye: over most of the step's timebox, or failing checks
 * repeatedly. Time-based, so the page works it out itself between refreshes.
 */
export function stuckReasons(l: DashboardLearner, elapsed: number | null): StuckReason[] {
  const out: StuckReason[] = [];
  const working = l.state === 'working' || l.state === 'stuck';
  if (l.state === 'stuck') {
    out.push({ kind: 'timebox', text: `timebox nearly used${l.detail ? ` (${l.detail})` : ''}` });
  } else if (working && l.timeboxMs && elapsed !== null && elapsed >= STUCK_TIMEBOX_SHARE * l.timeboxMs) {
    out.push({ kind: 'timebox', text: `${Math.min(999, Math.round((100 * elapsed) / l.timeboxMs))} % of the ${formatDuration(l.timeboxMs)} timebox used` });
  }
  if (l.failedChecks >= STUCK_FAILED_CHECKS && l.state !== 'failed' && l.state !== 'completed') {
    out.push({ kind: 'failedChecks', text: `${l.failedChecks} failed validation runs${l.maxAttempts ? ` of ${l.maxAttempts} allowed` : ''}${l.failingChecks.length ? `: ${l.failingChecks.join(', ')}` : ''}` });
  }
  return out;
}

export function canResume(l: DashboardLearner): boolean {
  return l.state === 'failed';
}

export function canExtend(l: DashboardLearner): boolean {
  return l.timeboxMs !== null && l.state !== 'failed' && l.state !== 'completed' && l.state !== 'ended';
}

/**
 * The full read model from the one the page holds and an answer to `?since=<its etag>`: a full answer
 * replaces it; a delta replaces the learners it carries, appends new ones and drops the removed.
 */
export function applyDelta(held: { run: DashboardRun; etag: string } | null, next: DashboardRun): DashboardRun {
  const { delta, ...rest } = next;
  if (!delta) return next;
  if (!held || held.etag !== delta.since) throw new Error(`A dashboard delta since ${delta.since} is not the answer this page holds (${held?.etag ?? 'none'}).`);
  const changed = new Map(next.learners.map((l) => [l.learnerId, l] as const));
  const removed = new Set(delta.removed);
  const learners: DashboardLearner[] = [];
  for (const l of held.run.learners) {
    if (removed.has(l.learnerId)) continue;
    learners.push(changed.get(l.learnerId) ?? l);
    changed.delete(l.learnerId);
  }
  learners.push(...changed.values());
  return { ...rest, learners };
}
