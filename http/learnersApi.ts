import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { readOutbox, type OutboxMessage } from '../activities/notify';
import { learnerResourceGroupName } from '../azure/environmentNames';
import { PHASES } from '../machines/journeyMachine';
import type { PhaseName } from '../machines/phaseMachine';
import { journeyInstanceId } from '../contracts/ids';
import type { ScenarioPack } from '../scenarios/schema';
import { learnerToken, requireInstructor, requireLearnerOrInstructor, type Caller } from './apiAuth';
import { ApiError, param, readBody } from './apiKit';
import { disputeHandlers } from './disputesApi';
import { peerReviewHandlers } from './peerReviewApi';
import { refuseWhileParked } from './parkApi';
import { readDecisions } from '../activities/recordDecision';
import { gradeAnswer, requirePack, stepOf, stepText } from './packs';
import { journeyPosition } from './position';
import { refuse, targetStep } from './stepGuards';
import {
  activePhase,
  apiKeys,
  commandRun,
  isFinished,
  LEARNER_ID_IN_URL,
  loadLearner,
  raiseJourneyEvent,
  raisePhaseEvent,
  requireRunning,
  resumeLearner,
  RUN_ID,
  statusOf,
  type Client,
  type LearnerState,
  type RuntimeStatus,
} from './workshopService';

/**
 * Routes for one learner: /api/runs/{runId}/learners/{learnerId}[/{action}]
 *
 * Learner (own learner token, or the instructor key acting for them):
 *   POST answer {answer, stepId?} | done {stepId?} | submit {name, uri, stepId?} | help {message}
 *        dispute {note, …} | review-answer {answer, note?, …}   (disputesApi.ts)
 *        peer-review {learnerId, notes, scores, round?}   (peerReviewApi.ts; GET peer-reviews lists what the learner may review)
 *   GET  status | messages[?after=ISO] | evidence
 * Instructor:
 *   GET  (detail) | token
 *   POST resume {from?} | skip {phase?, reason?} | review {decision, comment?, round?} | help-answer {answer} | extend {minutes}
 *        dispute-decision {decision, reason?, …} | answer-decision {decision, comment, …}   (disputesApi.ts)
 *
 * Learner events name the step they answer (the current one when left out), so a repeated "done"
 * can never complete the step after it: it is refused with 409, or ignored by the phase machine
 * when the two requests race.
 */

const stepId = z.string().min(1).max(100).optional();
const AnswerBody = z.strictObject({ answer: z.string().trim().min(1, { message: 'the answer is empty' }).max(20_000), stepId });
const DoneBody = z.strictObject({ stepId });
const SubmitBody = z.strictObject({ name: z.string().min(1).max(200), uri: z.string().url({ message: 'give the deliverable as a link (https://…)' }).max(2000), stepId });
const HelpBody = z.strictObject({ message: z.string().trim().min(1, { message: 'say what you need help with' }).max(2000) });
const ResumeBody = z.strictObject({ from: z.enum(['start', 'failedStep']).default('failedStep') });
const SkipBody = z.strictObject({ phase: z.enum(PHASES).optional(), reason: z.string().min(1).max(500).optional() });
const ReviewBody = z
  .strictObject({ decision: z.enum(['approve', 'changes']), comment: z.string().trim().min(1).max(5000).optional(), round: z.number().int().positive().optional() })
  .refine((b) => b.decision === 'approve' || !!b.comment, { message: 'requesting changes needs a comment saying what to change', path: ['comment'] });
const HelpAnswerBody = z.strictObject({ answer: z.string().trim().min(1).max(5000) });
const ExtendBody = z.strictObject({ minutes: z.number().positive().max(600), by: z.string().min(1).max(200).default('instructor') });

const FRESH = new Set(['detail', 'resume', 'skip', 'extend', 'peer-reviews', 'peer-review']);

function withText(pack: ScenarioPack, m: OutboxMessage): OutboxMessage & { text?: { title: string; prompt: string; hints: string[] } } {
  const sid = typeof m.body.stepId === 'string' ? m.body.stepId : null;
  const text = m.kind === 'prompt' ? stepText(pack, sid) : undefined;
  return text ? { ...m, text } : m;
}

/** What a learner route handler gets: the caller, the learner's state, and how to say "accepted". */
export interface LearnerCall {
  request: HttpRequest;
  client: Client;
  s: LearnerState;
  caller: Caller;
  runId: string;
  learnerId: string;
  accepted(what: string, extra?: Record<string, unknown>): HttpResponseInit;
}
type Route = { method: 'GET' | 'POST'; run: (c: LearnerCall) => Promise<HttpResponseInit> };

const LEARNER_ROUTES: Record<string, Route> = {
  answer: { method: 'POST', run: answer },
  done: { method: 'POST', run: done },
  submit: { method: 'POST', run: submit },
  help: { method: 'POST', run: help },
  dispute: { method: 'POST', run: disputeHandlers.dispute },
  'review-answer': { method: 'POST', run: disputeHandlers.reviewAnswer },
  evidence: { method: 'GET', run: disputeHandlers.evidence },
  'peer-reviews': { method: 'GET', run: peerReviewHandlers.peerReviews },
  'peer-review': { method: 'POST', run: peerReviewHandlers.peerReview },
  status: { method: 'GET', run: async (c) => ({ status: 200, jsonBody: await learnerStatus(c.client, c.s, c.caller) }) },
  messages: { method: 'GET', run: messages },
};
const INSTRUCTOR_ROUTES: Record<string, Route> = {
  detail: { method: 'GET', run: detail },
  token: { method: 'GET', run: async (c) => ({ status: 200, jsonBody: { runId: c.runId, learnerId: c.learnerId, token: learnerToken(apiKeys().learnerKey!, c.runId, c.learnerId) } }) },
  resume: { method: 'POST', run: resume },
  skip: { method: 'POST', run: skip },
  review: { method: 'POST', run: review },
  'help-answer': { method: 'POST', run: helpAnswer },
  extend: { method: 'POST', run: extend },
  'dispute-decision': { method: 'POST', run: disputeHandlers.decideDispute },
  'answer-decision': { method: 'POST', run: disputeHandlers.decideAnswer },
};

async function learnerAction(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const runId = param(request, 'runId', RUN_ID, 'a run id');
  const learnerId = param(request, 'learnerId', LEARNER_ID_IN_URL, 'a learner id');
  const action = request.params.action ?? 'detail';
  const keys = apiKeys();
  const learnerRoute = Object.hasOwn(LEARNER_ROUTES, action) ? LEARNER_ROUTES[action] : undefined;
  const instructorRoute = Object.hasOwn(INSTRUCTOR_ROUTES, action) ? INSTRUCTOR_ROUTES[action] : undefined;
  const route = learnerRoute ?? instructorRoute;
  if (!route) throw new ApiError(404, `There is no learner action "${action}". Learner: ${Object.keys(LEARNER_ROUTES).join(', ')}; instructor: ${Object.keys(INSTRUCTOR_ROUTES).join(', ')}.`);
  const caller = learnerRoute ? requireLearnerOrInstructor(request, keys, runId, learnerId) : requireInstructor(request, keys);
  if (request.method !== route.method) throw new ApiError(405, `Use ${route.method} for /api/runs/{runId}/learners/{learnerId}${action === 'detail' ? '' : `/${action}`}.`);

  if (request.method === 'POST') await refuseWhileParked(runId, action);
  const client = df.getClient(context);
  // Learner actions use the run's cached plan and roster; instructor views and run-level actions read it fresh.
  const s = await loadLearner(client, runId, learnerId, FRESH.has(action));
  const accepted = (what: string, extra: Record<string, unknown> = {}): HttpResponseInit => ({ status: 202, jsonBody: { runId, learnerId, accepted: what, ...extra } });
  return route.run({ request, client, s, caller, runId, learnerId, accepted });
}

async function answer({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, AnswerBody);
  const p = await activePhase(client, s);
  const sid = targetStep(p, body.stepId, 'answer');
  if (!p.accepts.includes('ANSWER')) refuse(p, 'answer', p.stepKind === 'task' ? 'say "done" when the task is done' : 'this step takes no answer');
  const pack = (await requirePack(s.info.plan.packId)).pack;
  const step = stepOf(pack, sid);
  if (step?.kind === 'question') {
    const grade = gradeAnswer(step, body.answer);
    if (!grade.ok) {
      const short = grade.words < grade.minWords ? `it has ${grade.words} words and needs at least ${grade.minWords}` : '';
      const missing = grade.met.length < grade.needed ? `it covers ${grade.met.length} of the ${grade.needed} points needed; not yet: ${grade.missing.map((m) => m.description).join('; ')}` : '';
      throw new ApiError(
        422,
        `The answer to "${step.title}" is not complete: ${[short, missing].filter(Boolean).join('; ')}. Improve it and answer again, or if you think it covers the points in other words, ` +
          `send it to the instructor (POST …/review-answer with the same answer); nothing was recorded.`,
        { grade, hints: step.hints ?? [], sendToInstructor: { action: 'review-answer', method: 'POST', body: { answer: body.answer, stepId: sid, note: '(optional) why it covers the points' } } },
      );
    }
  }
  await raisePhaseEvent(client, s, p, { type: 'ANSWER', stepId: sid, answer: body.answer });
  return accepted('answer', { stepId: sid, phase: p.phase });
}

async function done({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, DoneBody);
  const p = await activePhase(client, s);
  const sid = targetStep(p, body.stepId, 'done');
  if (!p.accepts.includes('DONE')) {
    refuse(
      p,
      'say "done"',
      p.stepKind === 'question'
        ? p.state === 'answerInReview'
          ? 'your answer is with the instructor'
          : 'this step wants an answer'
        : p.stepKind === 'deliverable'
          ? 'this step wants a deliverable (submit)'
          : p.state === 'validating'
            ? 'your environment is being checked'
            : p.state === 'provisioning'
              ? 'your environment is being deployed'
              : 'the instructor is reviewing',
    );
  }
  await raisePhaseEvent(client, s, p, { type: 'DONE', stepId: sid });
  return accepted('done', { stepId: sid, phase: p.phase });
}

async function submit({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, SubmitBody);
  const p = await activePhase(client, s);
  const sid = targetStep(p, body.stepId, 'submit');
  if (!p.accepts.includes('SUBMIT')) refuse(p, 'submit a deliverable', p.state === 'awaitingReview' ? 'your design is with the instructor for review' : 'this step takes no deliverable');
  await raisePhaseEvent(client, s, p, { type: 'SUBMIT', stepId: sid, deliverable: { name: body.name, uri: body.uri } });
  return accepted('submit', { stepId: sid, phase: p.phase });
}

async function help({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, HelpBody);
  const p = await activePhase(client, s);
  if (p.helpPending) throw new ApiError(409, `Your earlier request for help ("${p.helpPending.message}") is still open; the instructor will answer it. Nothing was changed.`);
  await raisePhaseEvent(client, s, p, { type: 'HELP', message: body.message });
  return accepted('help', { phase: p.phase, stepId: p.stepId });
}

async function messages({ request, s, runId, learnerId }: LearnerCall): Promise<HttpResponseInit> {
  const pack = (await requirePack(s.info.plan.packId)).pack;
  const after = request.query.get('after') ?? '';
  const list = (await readOutbox(runId, { learnerId })).filter((m) => m.createdAt > after).map((m) => withText(pack, m));
  return { status: 200, jsonBody: { runId, learnerId, messages: list } };
}

async function detail({ client, s, caller, runId, learnerId }: LearnerCall): Promise<HttpResponseInit> {
  const status = await learnerStatus(client, s, caller);
  const recent = (await readOutbox(runId, { learnerId })).slice(-20);
  const checkpoint = s.checkpoint ? { journeyVersion: s.checkpoint.journeyVersion, phaseVersion: s.checkpoint.phaseVersion, summary: s.checkpoint.summary, updatedAt: s.checkpoint.updatedAt } : null;
  return { status: 200, jsonBody: { ...status, checkpoint, messages: recent } };
}

async function resume({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, ResumeBody);
  const outcome = await resumeLearner(client, s, body.from);
  return accepted('resume', { ...outcome });
}

async function skip({ request, client, s, learnerId, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, SkipBody);
  requireRunning(s.run!, 'skipping a phase');
  const journey = journeyPosition(s.checkpoint);
  if (!journey || journey.state === 'completed' || journey.state === 'ended') throw new ApiError(409, `Learner "${learnerId}" ${journey ? `has ${journey.state} the workshop` : 'has not started yet'}; there is no phase to skip.`);
  const phase: PhaseName = journey.state === 'failed' && journey.failure ? journey.failure.phase : journey.current;
  if (body.phase && body.phase !== phase) throw new ApiError(409, `Learner "${learnerId}" is in phase "${phase}", not "${body.phase}"; only the current (or failed) phase can be skipped. Nothing was changed.`);
  await raiseJourneyEvent(client, s, { type: 'SKIP_PHASE', phase, reason: body.reason ?? 'skipped by the instructor' });
  return accepted('skip', { phase });
}

async function review({ request, client, s, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, ReviewBody);
  const p = await activePhase(client, s);
  if (p.state !== 'awaitingReview' || p.round === null) refuse(p, 'review', p.state === 'changesRequested' ? 'the learner is still working on the requested changes' : 'no review is waiting for this learner');
  if (body.round !== undefined && body.round !== p.round) throw new ApiError(409, `Review round ${body.round} is over; the learner's design is in round ${p.round}. Nothing was changed.`, { position: p });
  const event =
    body.decision === 'approve'
      ? { type: 'REVIEW_APPROVED' as const, stepId: p.stepId!, round: p.round, ...(body.comment ? { comment: body.comment } : {}) }
      : { type: 'REVIEW_CHANGES_REQUESTED' as const, stepId: p.stepId!, round: p.round, comment: body.comment! };
  await raisePhaseEvent(client, s, p, event);
  return accepted(body.decision === 'approve' ? 'approve' : 'changes', { stepId: p.stepId, round: p.round, phase: p.phase });
}

async function helpAnswer({ request, client, s, learnerId, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, HelpAnswerBody);
  const p = await activePhase(client, s);
  if (!p.helpPending) throw new ApiError(409, `Learner "${learnerId}" has no open help request. Nothing was changed.`, { position: p });
  await raisePhaseEvent(client, s, p, { type: 'HELP_ANSWERED', answer: body.answer });
  return accepted('help-answer', { phase: p.phase, question: p.helpPending.message });
}

async function extend({ request, client, s, learnerId, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, ExtendBody);
  await commandRun(client, s.run!, { type: 'extend', by: body.by, minutes: body.minutes, learnerId });
  return accepted('extend', { minutes: body.minutes });
}

async function learnerStatus(client: Client, s: LearnerState, caller: Caller) {
  const { runId } = s.info;
  const { learnerId } = s.learner;
  const p = s.position;
  const pack = (await requirePack(s.info.plan.packId)).pack;
  const journey = journeyPosition(s.checkpoint);
  const journeyStatus = await statusOf(client, journeyInstanceId(runId, learnerId));
  return {
    runId,
    learner: s.learner,
    ...(s.run ? { runStatus: s.run.runtimeStatus, progress: s.run.view?.progress[learnerId] ?? null } : {}),
    journey: journey ? { ...journey, instanceId: journeyInstanceId(runId, learnerId), runtimeStatus: (journeyStatus?.runtimeStatus as RuntimeStatus | undefined) ?? null } : null,
    position: p ?? null,
    step: p && p.state !== 'completed' ? stepText(pack, p.stepId) ?? null : null,
    environment: { resourceGroupName: learnerResourceGroupName(runId, learnerId) },
    /** Said while the learner waits on a person: their dispute or answer is with the instructor. */
    withInstructor: p?.state === 'disputed' ? 'dispute' : p?.state === 'answerInReview' ? 'answer' : null,
    /** The instructor's decisions on this learner's disputes and answers (overrides, accepted answers, returns). */
    decisions: await readDecisions(runId, learnerId),
    ...(caller.role === 'instructor' ? { journeyAlive: !isFinished(journeyStatus?.runtimeStatus as RuntimeStatus | undefined) } : {}),
  };
}

export const learnersHandlers = { learnerAction };
