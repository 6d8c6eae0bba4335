import type { HotStartView } from '../contracts/messages';
import type { PhaseName } from '../machines/phaseMachine';
import { initialProgress, type LearnerProgress, type LearnerState } from '../machines/progress';

/**
 * The cohort's read model. The cohort orchestration publishes a summary of constant size as its custom status
 * (Durable Functions caps a custom status at 16 KB of UTF-16; nothing in it grows with the roster); the
 * learners' progress is in WorkshopProgress, written as their reports are delivered
 * (activities/signalInstance.ts, storage/progressTable.ts). `expandView` joins the two with the roster into the CohortView the API, the
 * bot and the dashboard read (http/workshopService.ts).
 */
export interface CohortView {
  runId: string;
  packId: string;
  title: string;
  startedAt: string;
  learners: number;
  started: number;
  /**
   * The provisioning scheduler: requests queued, deploying and waiting to retry now (each learner has at most
   * one live request), and deployments that succeeded or failed over the run.
   */
  provisioning: { queued: number; deploying: number; retrying: number; succeeded: number; failed: number; maxInFlight: number; throttled: number };
  paused: boolean;
  /** Parked for the night: the park's number. */
  parked?: number;
  ended: boolean;
  endReason: string | null;
  /** learners per phase and state, e.g. { design: { working: 12, awaitingReview: 3 } } */
  counts: Record<string, Record<string, number>>;
  finished: number;
  helpQueue: Array<{ learnerId: string; phase: PhaseName; since: string; detail?: string }>;
  reviewQueue: Array<{ learnerId: string; phase: PhaseName; since: string }>;
  stuck: Array<{ learnerId: string; phase: PhaseName; stepId: string | null; since: string; detail?: string }>;
  failures: Array<{ learnerId: string; phase: PhaseName; since: string; reason?: string }>;
  progress: Record<string, LearnerProgress>;
  /** The run's hot-start pool (ready / deploying / claimed, idle cost), read from its table; absent without hot start. */
  hotStart?: HotStartView;
}

type LearnerFold = Pick<CohortView, 'counts' | 'finished' | 'helpQueue' | 'reviewQueue' | 'stuck' | 'failures' | 'progress'>;

/** The cohort's custom status: the view without anything per learner. */
export type CohortSummary = Omit<CohortView, keyof LearnerFold>;

export interface RunReport {
  runId: string;
  packId: string;
  title: string;
  startedAt: string;
  endedAt: string;
  endReason: string | null;
  learners: number;
  completed: number;
  ended: number;
  /** Learners per phase and state at the end; each learner's own record is their WorkshopProgress row. */
  perPhase: Record<string, Record<string, number>>;
  /** Events the cohort handled over the run (reports, requests, instructor commands). */
  events?: number;
}

export const FINISHED: readonly LearnerState[] = ['completed', 'ended'];

/**
 * The whole view from the cohort's summary (its custom status), the roster and the learners' progress rows
 * (WorkshopProgress). A learner without a row has not reported yet: as the cohort started them.
 */
export function expandView(s: CohortSummary, roster: readonly { learnerId: string }[], rows: ReadonlyMap<string, LearnerProgress>): CohortView {
  const learners = Object.fromEntries(roster.map((l) => [l.learnerId, rows.get(l.learnerId) ?? initialProgress(s.startedAt)]));
  return { ...s, ...fold(learners) };
}

function fold(learners: Record<string, LearnerProgress>): LearnerFold {
  const counts: CohortView['counts'] = {};
  const out: LearnerFold = { counts, finished: 0, helpQueue: [], reviewQueue: [], stuck: [], failures: [], progress: learners };
  for (const [learnerId, p] of Object.entries(learners)) {
    (counts[p.phase] ??= {})[p.state] = (counts[p.phase][p.state] ?? 0) + 1;
    if (FINISHED.includes(p.state)) out.finished++;
    if (p.state === 'helpRequested') out.helpQueue.push({ learnerId, phase: p.phase, since: p.since, detail: p.detail });
    if (p.state === 'awaitingReview') out.reviewQueue.push({ learnerId, phase: p.phase, since: p.since });
    if (p.state === 'stuck') out.stuck.push({ learnerId, phase: p.phase, stepId: p.stepId, since: p.since, detail: p.detail });
    if (p.state === 'failed') out.failures.push({ learnerId, phase: p.phase, since: p.since, reason: p.detail });
  }
  for (const q of [out.helpQueue, out.reviewQueue, out.stuck, out.failures]) q.sort((a, b) => a.since.localeCompare(b.since));
  return out;
}
