import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { getRun, setPeerReview } from '../storage/runRegistry';
import { disputeEvent } from '../contracts/disputes';
import type { ReviewStep } from '../scenarios/schema';
import { ApiError, readBody } from './apiKit';
import type { LearnerCall } from './learnersApi';
import { requirePack, stepOf } from './packs';
import { journeyPosition, type PhasePosition } from './position';
import { activePhase, loadLearner, raisePhaseEvent, requireRunning, type LearnerState, type Run } from './workshopService';

/**
 * Peer review of designs (issue 15 item 6): when the instructor's queue of designs is long, a run may let learners
 * who passed Design review a peer's design against the pack's rubric. The instructor still decides; the peer's notes
 * reach them beside the submission (the phase machine's PEER_REVIEWED).
 *   POST /api/runs/{run}/peer-review {enabled, minQueue?}      instructor: on from `minQueue` designs waiting, or off
 *   GET  …/learners/{reviewer}/peer-reviews                     the reviewer: designs they may review, with the rubric
 *   POST …/learners/{reviewer}/peer-review {learnerId, notes, scores, round?}
 */
const PeerReviewSetting = z.strictObject({ enabled: z.boolean(), minQueue: z.number().int().min(1).max(1000).default(3) });
const PeerReviewBody = z.strictObject({
  learnerId: z.string().min(1).max(100),
  round: z.number().int().positive().optional(),
  notes: z.string().trim().min(1, { message: 'write your notes for the instructor' }).max(5000),
  scores: z.record(z.string(), z.enum(['meets', 'notYet'])),
});
const MAX_OFFERED = 10;

export async function setRunPeerReview(request: HttpRequest, run: Run): Promise<HttpResponseInit> {
  const body = await readBody(request, PeerReviewSetting);
  requireRunning(run, 'changing peer review');
  await setPeerReview(run.runId, body.enabled ? body.minQueue : null);
  return { status: 200, jsonBody: { runId: run.runId, peerReview: body.enabled ? { enabled: true, minQueue: body.minQueue } : { enabled: false } } };
}

/** Designs waiting for the instructor, oldest first (the cohort's review queue, design phase). */
function designsWaiting(s: LearnerState): string[] {
  return (s.run?.view?.reviewQueue ?? []).filter((q) => q.phase === 'design').map((q) => q.learnerId);
}

/** The reviewer may review peers now: the run allows it, its queue is long enough, and they passed Design. */
async function requireReviewer(s: LearnerState, learnerId: string): Promise<string[]> {
  requireRunning(s.run!, 'peer review');
  const minQueue = (await getRun(s.info.runId))?.peerReviewMinQueue ?? 0;
  if (minQueue <= 0) throw new ApiError(409, `Peer review is off for run "${s.info.runId}"; the instructor turns it on (POST /api/runs/${s.info.runId}/peer-review). Nothing was changed.`);
  if (journeyPosition(s.checkpoint)?.outcomes.design !== 'passed') {
    throw new ApiError(403, `Only learners who passed Design review their peers' designs, and "${learnerId}" has not passed it yet. Nothing was changed.`);
  }
  const waiting = designsWaiting(s);
  if (waiting.length < minQueue) throw new ApiError(409, `The instructor's queue is short (${waiting.length} design(s) waiting; peers help from ${minQueue}). Nothing was changed.`);
  return waiting.filter((id) => id !== learnerId);
}

function isDesignReview(p: PhasePosition | undefined): boolean {
  return p?.phase === 'design' && p.stepKind === 'review' && p.state === 'awaitingReview' && p.round !== null;
}

async function peerReviews({ client, s, runId, learnerId }: LearnerCall): Promise<HttpResponseInit> {
  const candidates = await requireReviewer(s, learnerId);
  const pack = (await requirePack(s.info.plan.packId)).pack;
  const designs = [];
  for (const id of candidates) {
    if (designs.length >= MAX_OFFERED) break;
    const p = (await loadLearner(client, runId, id)).position;
    if (!p || !isDesignReview(p) || p.peerReviews.some((r) => r.round === p.round && r.reviewerId === learnerId)) continue;
    const step = stepOf(pack, p.stepId!) as ReviewStep;
    designs.push({ learnerId: id, stepId: p.stepId, round: p.round, deliverables: p.deliverables, rubric: step.rubric, minCriteriaMet: step.minCriteriaMet });
  }
  return { status: 200, jsonBody: { runId, reviewer: learnerId, designs } };
}

async function peerReview({ request, client, s, runId, learnerId, accepted }: LearnerCall): Promise<HttpResponseInit> {
  const body = await readBody(request, PeerReviewBody);
  if (body.learnerId === learnerId) throw new ApiError(409, 'A design cannot be peer-reviewed by its own author. Nothing was changed.');
  await requireReviewer(s, learnerId);
  const target = await loadLearner(client, runId, body.learnerId);
  const p = await activePhase(client, target);
  if (!isDesignReview(p)) throw new ApiError(409, `Learner "${body.learnerId}"'s design is not waiting for review (phase "${p.phase}", ${p.state}). Nothing was changed.`, { position: p });
  if (body.round !== undefined && body.round !== p.round) throw new ApiError(409, `Review round ${body.round} is over; "${body.learnerId}"'s design is in round ${p.round}. Nothing was changed.`);
  if (p.peerReviews.some((r) => r.round === p.round && r.reviewerId === learnerId)) throw new ApiError(409, `You already reviewed round ${p.round} of "${body.learnerId}"'s design. Nothing was changed.`);
  const step = stepOf((await requirePack(s.info.plan.packId)).pack, p.stepId!) as ReviewStep;
  const criteria = step.rubric.map((r) => r.criterion as string);
  const unknown = Object.keys(body.scores).filter((c) => !criteria.includes(c));
  const unscored = criteria.filter((c) => !(c in body.scores));
  if (unknown.length || unscored.length) {
    const what = [unknown.length ? `not in the rubric: ${unknown.join(', ')}` : '', unscored.length ? `not scored: ${unscored.join(', ')}` : ''].filter(Boolean).join('; ');
    throw new ApiError(400, `scores: score every rubric criterion of "${p.stepId}" (${criteria.join(', ')}) as "meets" or "notYet"; ${what}. Nothing was changed.`);
  }
  await raisePhaseEvent(client, target, p, disputeEvent('PEER_REVIEWED', { stepId: p.stepId!, round: p.round!, reviewerId: learnerId, notes: body.notes, scores: body.scores }));
  return accepted('peer-review', { reviewed: body.learnerId, stepId: p.stepId, round: p.round });
}

export const peerReviewHandlers = { peerReviews, peerReview };
