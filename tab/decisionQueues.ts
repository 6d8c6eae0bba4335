import type { DecisionRow } from '../activities/recordDecision';
import type { PhasePosition } from '../http/position';
import type { RunReport } from '../orchestrations/cohortView';
import type { Step } from '../scenarios/schema';
import type { CheckResult } from '../machines/phaseMachine';
import type { DashboardAnswerItem, DashboardDecision, DashboardDisputeItem, DashboardFailureItem, DashboardQueueItem, DashboardReport, DashboardReviewItem, PhaseId } from './dashboardTypes';

/**
 * The dashboard's dispute, answer-review and peer-review panels and its run report (issue 15 items 4 and 6), from
 * what the workshop already keeps: each learner's phase position (their checkpoint — the phase machine's own
 * dispute / answer-review / peer-review records) and the instructor's decisions (WorkshopDecisions). Pure.
 */

/** At most this many decisions travel with each answer; the rest are in the run report of GET /api/runs/{runId}. */
export const REPORT_DECISIONS = 200;

type Steps = ReadonlyMap<string, Step>;
type Named = (learnerId: string) => string;

/** The learner's open dispute, with the failed checks' evidence, or nothing. */
export function disputeItem(base: DashboardQueueItem, p: PhasePosition | undefined): DashboardDisputeItem | null {
  const d = p?.state === 'disputed' && p.dispute?.outcome === 'open' ? p.dispute : null;
  if (!d) return null;
  return { ...base, stepId: p!.stepId, attempt: d.attempt, note: d.note, checks: failedChecks(d.checks) };
}

function failedChecks(checks: readonly CheckResult[]): DashboardDisputeItem['checks'] {
  return checks.filter((c) => !c.passed).map((c) => ({ checkId: c.checkId, message: c.message ?? null, evidence: (c.evidence ?? []).map((e) => ({ ...e })), fix: c.fix ?? c.hint ?? null }));
}

/** A failed learner; when checks failed the phase on their last attempt, that attempt and the checks' evidence. */
export function failureItem(base: DashboardQueueItem, p: PhasePosition | undefined): DashboardFailureItem {
  const f = p?.state === 'failed' ? p.failure : null;
  if (f?.kind !== 'validation') return { ...base, kind: f?.kind ?? null, attempt: null, checks: [] };
  return { ...base, stepId: f.stepId, kind: f.kind, attempt: p!.lastValidation?.attempt ?? p!.stepAttempt, checks: failedChecks(f.checks ?? p!.lastValidation?.checks ?? []) };
}

/** The learner's answer waiting for a person, beside the question's criteria, or nothing. */
export function answerItem(base: DashboardQueueItem, p: PhasePosition | undefined, steps: Steps): DashboardAnswerItem | null {
  const r = p?.state === 'answerInReview' && p.answerReview?.outcome === 'open' ? p.answerReview : null;
  if (!r) return null;
  const step = p!.stepId ? steps.get(p!.stepId) : undefined;
  const question = step?.kind === 'question' ? step.answer : undefined;
  return {
    ...base,
    stepId: p!.stepId,
    round: r.round,
    answer: r.answer,
    note: r.note,
    criteria: (question?.criteria ?? []).map((c) => ({ id: c.id, description: c.description, metByKeywords: !r.missing.includes(c.id) })),
    minWords: question?.minWords ?? null,
    tooShort: r.missing.includes('min-words'),
  };
}

/** Peers' notes on the round of the design now under review. */
export function peerReviewsOf(p: PhasePosition | undefined, named: Named): DashboardReviewItem['peerReviews'] {
  if (!p || p.round === null) return [];
  return p.peerReviews.filter((r) => r.round === p.round).map((r) => ({ reviewerId: r.reviewerId, reviewerName: named(r.reviewerId), notes: r.notes, scores: { ...r.scores } }));
}

/** The run report's view: decisions newest first (bounded), counts by outcome, and the cohort's closing figures. */
export function reportOf(rows: readonly DecisionRow[], named: Named, steps: Steps, final: RunReport | null): DashboardReport {
  const counts: DashboardReport['counts'] = { overridden: 0, rechecked: 0, returned: 0, accepted: 0 };
  for (const r of rows) counts[r.decision.outcome]++;
  const decisions = rows
    .slice(-REPORT_DECISIONS)
    .reverse()
    .map((r): DashboardDecision => {
      const d = r.decision;
      return {
        learnerId: r.learnerId,
        name: named(r.learnerId),
        phase: r.phase as PhaseId,
        stepId: d.stepId,
        stepTitle: steps.get(d.stepId)?.title ?? d.stepId,
        at: r.at,
        kind: d.kind,
        outcome: d.outcome,
        attempt: d.kind === 'dispute' ? d.attempt : d.round,
        by: d.by,
        reason: d.reason,
        items: d.kind === 'dispute' ? d.checkIds : d.criteriaMetByPerson,
      };
    });
  return {
    decisions,
    total: rows.length,
    counts,
    final: final ? { endedAt: final.endedAt, endReason: final.endReason, completed: final.completed, ended: final.ended, learners: final.learners } : null,
  };
}
