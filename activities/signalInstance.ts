import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { defineActivity } from './activity';
import { EVENTS, phaseInstanceId, runIdOfCohortInstanceId } from '../contracts/ids';
import { COHORT_REPORTS, type ProgressReport } from '../machines/progress';
import type { ProvisionRequest } from '../contracts/messages';
import { readLearnerProgress, wouldApplyProgress, writeReportedProgress } from '../storage/progressTable';
import { claimPoolEnvironment } from './environmentPool';

/**
 * Orchestration-to-orchestration signalling through the DurableClient: raise an event, start an
 * instance (idempotent: an instance already running under that id counts as started) or terminate.
 * Orchestrations cannot do this themselves without entities; an activity can, and may be retried.
 */
export const SignalInput = z.discriminatedUnion('op', [
  z.object({ op: z.literal('raise'), instanceId: z.string().min(1), event: z.string().min(1), data: z.unknown() }),
  z.object({ op: z.literal('start'), instanceId: z.string().min(1), orchestrator: z.string().min(1), input: z.unknown() }),
  z.object({ op: z.literal('terminate'), instanceId: z.string().min(1), reason: z.string() }),
  z.object({ op: z.literal('suspend'), instanceId: z.string().min(1), reason: z.string() }),
  z.object({ op: z.literal('resume'), instanceId: z.string().min(1), reason: z.string() }),
]);
export type SignalInput = z.infer<typeof SignalInput>;
export type SignalResult = { ok: true } | { ok: false; reason: 'gone' | 'exists' };

export const signalInstance = defineActivity(SignalInput, async function signalInstance(input, context: InvocationContext): Promise<SignalResult> {
  const client = df.getClient(context);
  // A learner's progress report to the cohort updates the learner's WorkshopProgress row (by the cohort's own
  // rule), so the cohort does not have to write one per report; only the reports it acts on (COHORT_REPORTS: a
  // learner finished, a phase failed) are raised to it as well.
  const runId = input.op === 'raise' && input.event === EVENTS.cohort ? runIdOfCohortInstanceId(input.instanceId) : undefined;
  const type = runId ? (input as { data?: { type?: unknown } }).data?.type : undefined;
  let data = input.op === 'raise' ? input.data : undefined;
  const report = runId && type === 'progress' ? (data as ProgressReport) : undefined;
  if (runId && report && !COHORT_REPORTS.includes(report.state)) {
    await writeReportedProgress(runId, report);
    return { ok: true };
  }
  // A report the row would not take (it arrived after a later one) is marked stale for the cohort.
  if (runId && report && !(await wouldApplyProgress(runId, report))) data = { ...report, stale: true };
  else if (runId && type === 'provisionRequest') data = await markStaleRequest(runId, data as ProvisionRequest);
  try {
    if (input.op === 'raise') await client.raiseEvent(input.instanceId, input.event, data);
    else if (input.op === 'terminate') await client.terminate(input.instanceId, input.reason);
    else if (input.op === 'suspend') await client.suspend(input.instanceId, input.reason);
    else if (input.op === 'resume') await client.resume(input.instanceId, input.reason);
    else await client.startNew(input.orchestrator, { instanceId: input.instanceId, input: input.input });
    // The row after the event: once the store shows a learner finished, the cohort has their report in its
    // inbox already (it completes when the store says everyone finished, and handles what it received first).
    if (runId && report) await writeReportedProgress(runId, report);
    return { ok: true };
  } catch (err) {
    const message = (err as Error).message;
    // Finished or never started targets are an expected race (a learner finished while the
    // instructor clicked): report it instead of failing the caller.
    if (/\b(404|410)\b|No instance with ID/.test(message)) return { ok: false, reason: 'gone' };
    if (/\b409\b/.test(message)) return { ok: false, reason: input.op === 'start' ? 'exists' : 'gone' };
    throw err;
  }
});

/**
 * A provisioning request whose phase had already ended when it was delivered (its failure was reported
 * first, or the learner finished) is marked stale: the cohort, which keeps no per-learner state, does not
 * queue it for nobody.
 */
async function markStaleRequest(runId: string, request: ProvisionRequest): Promise<ProvisionRequest> {
  const p = await readLearnerProgress(runId, request.learnerId);
  if (!p) return withClaim(runId, request);
  const finished = p.state === 'completed' || p.state === 'ended';
  const failedHere = p.state === 'failed' && p.attempt !== undefined && phaseInstanceId(runId, request.learnerId, p.phase, p.attempt) === request.phaseInstanceId;
  return finished || failedHere ? { ...request, stale: true } : withClaim(runId, request);
}

/** A learner of the run's hot-start pool claims their environment as their phase asks for it; the cohort hears what it was. */
async function withClaim(runId: string, request: ProvisionRequest): Promise<ProvisionRequest> {
  const was = await claimPoolEnvironment(runId, request.learnerId);
  return was ? { ...request, hotStart: was } : request;
}

export const SignalManyInput = z.object({ ops: z.array(SignalInput).max(500) });
export type SignalManyInput = z.infer<typeof SignalManyInput>;

/**
 * Many signals in one activity call: a fan-out over a cohort (start its journeys, broadcast, pause)
 * costs the calling orchestration two history events instead of two per learner.
 */
export const signalMany = defineActivity(SignalManyInput, async function signalMany(input, context: InvocationContext): Promise<SignalResult[]> {
  return Promise.all(input.ops.map((op) => signalInstance(op, context)));
});
