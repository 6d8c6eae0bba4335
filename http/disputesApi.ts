import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { readDecisions } from '../activities/recordDecision';
import { disputeEvent } from '../contracts/disputes';
import type { PhaseEvent } from '../machines/phaseMachine';
import type { QuestionStep } from '../scenarios/schema';
import { ApiError, readBody } from './apiKit';
import type { LearnerCall } from './learnersApi';
import { gradeAnswer, requirePack, stepOf } from './packs';
import type { PhasePosition } from './position';
import { refuse, targetStep } from './stepGuards';
import { activePhase, raisePhaseEvent, resumeLearner, type LearnerState } from './workshopService';

/**
 * Checks a learner can dispute, answers a person can accept — the learner routes
 *   POST dispute {note, stepId?, attempt?}          "I did it": the last failed validation goes to the instructor
 *   POST review-answer {answer, note?, stepId?}     an answer the keyword criteria refused goes to the instructor
 *   GET  evidence                                   the failed checks (resource, property, observed, expected, fix)
 *                                                   beside the learner's note, the answer under review, the decisions
 * and the instructor's
 *   POST dispute-decision {decision: override|recheck|return, reason?, attempt?, by?}
 *   POST answer-decision {decision: accept|return, comment, round?, by?}
 * The phase machine decides (its guards drop a late or repeated event); these routes refuse up front, with 409 and
 * where the learner is, what the machine would ignore, so nobody is told "accepted" for nothing.
 */
const stepId = z.string().min(1).max(100).optional();
const note = z.string().trim().min(1, { message: 'say what you did and where to look (the note is empty)' }).max(2000);
const by = z.string().trim().min(1).max(200).default('instructor');
const DisputeBody = z.strictObject({ note, stepId, attempt: z.number().int().positive().optional() });
const ReviewAnswerBody = z.strictObject({ answer: z.string().trim().min(1, { message: 'the answer is empty' }).max(20_000), note: note.optional(), stepId });
const DisputeDecisionBody = z
  .strictObject({ decision: z.enum(['override', 'recheck', 'return']), reason: z.string().trim().min(1).max(2000).optional(), attempt: z.number().int().positive().optional(), by })
  .refine((b) => b.decision === 'recheck' || !!b.reason, {
    message: 'overriding needs the reason (what you saw instead of the check); returning needs a comment telling the learner what to fix',
    path: ['reason'],
  });
const AnswerDecisionBody = z.strictObject({
  decision: z.enum(['accept', 'return']),
  comment: z.string().trim().min(1, { message: 'say why the answer covers the criteria (accept) or what it is missing (return)' }).max(2000),
  round: z.number().int().positive().optional(),
  by,
});

function disputeRefusal(p: PhasePosition): string {
  if (p.state === 'disputed') return `your dispute of validation attempt ${p.dispute?.attempt} is already with the instructor`;
  if (p.state === 'validating') return 'your environment is being checked; a check can be disputed once it has failed';
  if (p.stepKind === 'validate' && p.state === 'awaitingFix' && p.dispute?.attempt === p.stepAttempt) {
    return `the instructor ${p.dispute.outcome} your dispute of attempt ${p.stepAttempt}${p.dispute.reason ? ` ("${p.dispute.reason}")` : ''}; fix it and say "done" to run the checks again`;
  }
  return 'this step has no failed check to dispute';
}

async function dispute({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, DisputeBody);
  const p = await activePhase(client, s);
  const sid = targetStep(p, body.stepId, 'dispute');
  if (!p.accepts.includes('DISPUTE')) refuse(p, 'dispute a check', disputeRefusal(p));
  if (body.attempt !== undefined && body.attempt !== p.stepAttempt) {
    throw new ApiError(409, `Validation attempt ${body.attempt} of step "${sid}" is not the last one; attempt ${p.stepAttempt} is, and only it can be disputed. Nothing was changed.`, { position: p });
  }
  await raisePhaseEvent(client, s, p, disputeEvent('DISPUTE', { stepId: sid, attempt: p.stepAttempt, note: body.note }));
  const failed = (p.lastValidation?.checks ?? []).filter((c) => !c.passed).map((c) => c.checkId);
  return accepted('dispute', { stepId: sid, phase: p.phase, attempt: p.stepAttempt, checks: failed });
}

async function reviewAnswer({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, ReviewAnswerBody);
  const p = await activePhase(client, s);
  const sid = targetStep(p, body.stepId, 'review-answer');
  if (!p.accepts.includes('ANSWER_FOR_REVIEW')) {
    refuse(p, 'send an answer to the instructor', p.state === 'answerInReview' ? `your answer (round ${p.answerReview?.round}) is already with the instructor` : 'this step takes no answer');
  }
  const step = stepOf((await requirePack(s.info.plan.packId)).pack, sid) as QuestionStep;
  const grade = gradeAnswer(step, body.answer);
  if (grade.ok) {
    // Nobody need wait for a person: an answer that meets the criteria is recorded at once.
    await raisePhaseEvent(client, s, p, { type: 'ANSWER', stepId: sid, answer: body.answer });
    return accepted('answer', { stepId: sid, phase: p.phase, detail: 'The answer meets the criteria, so it was recorded as your answer; it did not need the instructor.' });
  }
  const missing = [...grade.missing.map((m) => m.id), ...(grade.words < grade.minWords ? ['min-words'] : [])];
  await raisePhaseEvent(client, s, p, disputeEvent('ANSWER_FOR_REVIEW', { stepId: sid, answer: body.answer, ...(body.note ? { note: body.note } : {}), missing }));
  return accepted('review-answer', { stepId: sid, phase: p.phase, round: (p.answerReview?.round ?? 0) + 1, missing });
}

async function evidence({ s, runId, learnerId }: LearnerCall): Promise<HttpResponseInit> {
  const p = s.position;
  if (!p) throw new ApiError(409, `Learner "${learnerId}" has not started a phase yet; there is nothing to show. Try again in a moment.`);
  const step = p.stepId ? stepOf((await requirePack(s.info.plan.packId)).pack, p.stepId) : undefined;
  const v = p.lastValidation;
  const review = p.answerReview;
  return {
    status: 200,
    jsonBody: {
      runId,
      learnerId,
      position: { phase: p.phase, stepId: p.stepId, stepKind: p.stepKind, state: p.state, attempt: p.stepAttempt },
      validation: v && { attempt: v.attempt, passed: v.passed, failed: v.checks.filter((c) => !c.passed).map(({ checkId, message, evidence: e, fix }) => ({ checkId, message, evidence: e ?? [], fix: fix ?? null })) },
      dispute: p.dispute,
      answerReview: review && {
        ...review,
        criteria: step?.kind === 'question' ? step.answer.criteria.map((c) => ({ id: c.id, description: c.description, metByKeywords: !review.missing.includes(c.id) })) : [],
      },
      decisions: await readDecisions(runId, learnerId),
    },
  };
}

async function decideDispute({ request, client, s, learnerId, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, DisputeDecisionBody);
  if (s.position?.state === 'failed' && s.position.failure?.kind === 'validation') return decideFailedChecks(s, client, body, accepted);
  const p = await activePhase(client, s);
  const open = p.state === 'disputed' && p.dispute?.outcome === 'open' ? p.dispute : undefined;
  if (!open) refuse(p, 'decide a dispute', p.dispute && p.dispute.outcome !== 'open' ? `learner "${learnerId}"'s last dispute (attempt ${p.dispute.attempt}) was already ${p.dispute.outcome} by ${p.dispute.by}` : `learner "${learnerId}" has no open dispute`);
  if (body.attempt !== undefined && body.attempt !== open.attempt) throw new ApiError(409, `The open dispute is about validation attempt ${open.attempt}, not ${body.attempt}. Nothing was changed.`, { position: p });
  const common = { stepId: p.stepId!, attempt: open.attempt, by: body.by };
  const event: PhaseEvent =
    body.decision === 'override'
      ? disputeEvent('DISPUTE_OVERRIDDEN', { ...common, reason: body.reason! })
      : body.decision === 'recheck'
        ? disputeEvent('DISPUTE_RECHECK', common)
        : disputeEvent('DISPUTE_RETURNED', { ...common, comment: body.reason! });
  await raisePhaseEvent(client, s, p, event);
  return accepted(`dispute-${body.decision}`, { stepId: p.stepId, phase: p.phase, attempt: open.attempt, checks: open.checks.map((c) => c.checkId) });
}

/**
 * The checks failed the phase on their last attempt (nothing left to dispute): the instructor marks them passed, and
 * the phase resumes after the step (RESUME with the override), or re-runs them (a plain resume at the failed step).
 */
async function decideFailedChecks(s: LearnerState, client: LearnerCall['client'], body: z.infer<typeof DisputeDecisionBody>, accepted: LearnerCall['accepted']): Promise<HttpResponseInit> {
  const p = s.position!;
  if (body.decision === 'return') refuse(p, 'return a dispute', 'the checks failed the phase on their last attempt and no dispute is open; mark them passed (override) or run them again (recheck)');
  const attempt = p.lastValidation?.attempt ?? p.stepAttempt;
  if (body.attempt !== undefined && body.attempt !== attempt) throw new ApiError(409, `The checks failed on attempt ${attempt}, not ${body.attempt}. Nothing was changed.`, { position: p });
  const outcome = await resumeLearner(client, s, 'failedStep', body.decision === 'override' ? { by: body.by, reason: body.reason! } : undefined);
  const checks = (p.lastValidation?.checks ?? []).filter((c) => !c.passed).map((c) => c.checkId);
  return accepted(`dispute-${body.decision}`, { stepId: p.stepId, phase: p.phase, attempt, checks, resumed: outcome.detail });
}

async function decideAnswer({ request, client, s, learnerId, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, AnswerDecisionBody);
  const p = await activePhase(client, s);
  const open = p.state === 'answerInReview' && p.answerReview?.outcome === 'open' ? p.answerReview : undefined;
  if (!open) refuse(p, 'decide on an answer', p.answerReview && p.answerReview.outcome !== 'open' ? `learner "${learnerId}"'s last answer (round ${p.answerReview.round}) was already ${p.answerReview.outcome}` : `learner "${learnerId}" has no answer waiting for review`);
  if (body.round !== undefined && body.round !== open.round) throw new ApiError(409, `The answer waiting is round ${open.round}, not ${body.round}. Nothing was changed.`, { position: p });
  const fields = { stepId: p.stepId!, round: open.round, by: body.by, comment: body.comment };
  await raisePhaseEvent(client, s, p, body.decision === 'accept' ? disputeEvent('ANSWER_ACCEPTED', fields) : disputeEvent('ANSWER_RETURNED', fields));
  return accepted(`answer-${body.decision}`, { stepId: p.stepId, phase: p.phase, round: open.round, criteriaMetByPerson: body.decision === 'accept' ? open.missing : [] });
}

export const disputeHandlers = { dispute, reviewAnswer, evidence, decideDispute, decideAnswer };
