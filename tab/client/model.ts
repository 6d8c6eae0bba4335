import type { DashboardLearner, DashboardRun, PhaseId } from '../dashboardTypes';

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
  disputed: 'dispute with you',
  answerInReview: 'answer with you',
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

// ── filtering, sorting and the funnel (what an instructor of 1,000 needs to find anyone) ──────────

export type StateFilter = 'all' | 'attention' | 'stuck' | 'failed' | 'helpRequested' | 'awaitingReview' | 'disputed' | 'answerInReview' | 'changesRequested' | 'working' | 'starting' | 'completed';
export type SortKey = 'attention' | 'time' | 'name';

export interface LearnerQuery {
  phase: PhaseId | 'all';
  state: StateFilter;
  /** Words to find in the name, email or learner id; case and accents do not matter. */
  text: string;
}

export const STATE_FILTERS: ReadonlyArray<[StateFilter, string]> = [
  ['all', 'Any state'],
  ['attention', 'Failed or stuck'],
  ['stuck', 'Stuck'],
  ['failed', 'Failed'],
  ['helpRequested', 'Asked for help'],
  ['awaitingReview', 'Awaiting review'],
  ['disputed', 'Disputes a check'],
  ['answerInReview', 'Answer for review'],
  ['changesRequested', 'Changes requested'],
  ['working', 'Working'],
  ['starting', 'Starting'],
  ['completed', 'Completed'],
];

/** Lower case without accents: "Zoë" is found by "zoe". */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

function matchesText(l: DashboardLearner, words: string[]): boolean {
  if (!words.length) return true;
  const hay = fold(`${l.name} ${l.email ?? ''} ${l.learnerId}`);
  return words.every((w) => hay.includes(w));
}

function matchesState(l: DashboardLearner, filter: StateFilter, stuck: ReadonlySet<string>): boolean {
  switch (filter) {
    case 'all':
      return true;
    case 'attention':
      return l.state === 'failed' || stuck.has(l.learnerId);
    case 'stuck':
      return stuck.has(l.learnerId);
    // The cohort counts both as awaiting review; where in the phase says which (the learner's checkpoint).
    case 'disputed':
    case 'answerInReview':
      return l.phaseState === filter;
    default:
      return l.state === filter;
  }
}

/** Failed first, then stuck, then those waiting on the instructor, then everyone else; finished last. */
function attentionRank(l: DashboardLearner, stuck: ReadonlySet<string>): number {
  if (l.state === 'failed') return 0;
  if (stuck.has(l.learnerId)) return 1;
  if (l.state === 'helpRequested') return 2;
  if (l.state === 'awaitingReview' || l.state === 'changesRequested') return 3;
  if (l.state === 'completed' || l.state === 'ended') return 5;
  return 4;
}

/** Longest in their state first: the earliest `since` (no time yet sorts last). */
function bySince(a: DashboardLearner, b: DashboardLearner): number {
  const ta = a.since ? Date.parse(a.since) : Infinity;
  const tb = b.since ? Date.parse(b.since) : Infinity;
  return ta === tb ? 0 : ta < tb ? -1 : 1;
}

const byName = (a: DashboardLearner, b: DashboardLearner) => a.name.localeCompare(b.name) || a.learnerId.localeCompare(b.learnerId);

/** The learners the table shows, in its order. `stuck` is the ids `stuckReasons` finds now. */
export function selectLearners(learners: readonly DashboardLearner[], query: LearnerQuery, sort: SortKey, stuck: ReadonlySet<string>): DashboardLearner[] {
  const words = fold(query.text).split(/\s+/).filter(Boolean);
  const out = learners.filter((l) => (query.phase === 'all' || l.phase === query.phase) && matchesState(l, query.state, stuck) && matchesText(l, words));
  if (sort === 'name') return out.sort(byName);
  if (sort === 'time') return out.sort((a, b) => bySince(a, b) || byName(a, b));
  return out.sort((a, b) => attentionRank(a, stuck) - attentionRank(b, stuck) || bySince(a, b) || byName(a, b));
}

export interface FunnelRow {
  phase: PhaseId;
  title: string;
  /** Passed or skipped. */
  done: number;
  /** In the phase and getting on with it. */
  working: number;
  /** In the phase and waiting on the instructor or stuck: asked for help, awaiting review, over time, failing checks. */
  needsYou: number;
  failed: number;
  notStarted: number;
}

/** Per phase, how many learners are through it, in it, stuck in it, failed in it, not there yet. */
export function funnel(learners: readonly DashboardLearner[], phases: ReadonlyArray<{ id: PhaseId; title: string }>, stuck: ReadonlySet<string>): FunnelRow[] {
  const rows = phases.map((p) => ({ phase: p.id, title: p.title, done: 0, working: 0, needsYou: 0, failed: 0, notStarted: 0 }));
  for (const l of learners) {
    l.cells.forEach((cell, i) => {
      const row = rows[i];
      if (!row) return;
      if (cell.state === 'passed' || cell.state === 'skipped') row.done++;
      else if (cell.state === 'failed') row.failed++;
      else if (cell.state === 'notStarted') row.notStarted++;
      else if (stuck.has(l.learnerId) || l.state === 'helpRequested' || l.state === 'awaitingReview') row.needsYou++;
      else row.working++;
    });
  }
  return rows;
}

/** "3 learners" / "1 learner". */
export function learnersText(n: number): string {
  return `${n.toLocaleString('en-US')} learner${n === 1 ? '' : 's'}`;
}
