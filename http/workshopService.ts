import * as df from 'durable-functions';
import { hotStartView } from '../storage/environmentPool';
import { transition } from 'xstate';
import { readCheckpoint, type Checkpoint } from '../activities/recordCheckpoint';
import { appSettings } from '../config';
import { journeyMachine, persistJourneySnapshot, restoreJourneySnapshot, type JourneyEvent } from '../machines/journeyMachine';
import { persistPhaseSnapshot, phaseMachine, phaseView, restorePhaseSnapshot } from '../machines/phaseMachine';
import type { CheckOverride, PersistedPhaseSnapshot, PhaseEvent, PhaseName, ResumeFrom } from '../machines/phaseMachine';
import { readProgress } from '../storage/progressTable';
import { expandView, type CohortSummary, type CohortView } from '../orchestrations/cohortRun';
import { EVENTS, cohortInstanceId, journeyInstanceId, phaseInstanceId } from '../contracts/ids';
import type { CohortCommand, JourneyInput, Learner, ProvisionDone } from '../contracts/messages';
import type { CohortInput, RunInput } from '../orchestrations/workshopTypes';
import { readRoster } from '../storage/runRoster';
import { ApiError, apiLogger } from './apiKit';
import type { ApiKeys } from './apiAuth';
import { journeyCheckpoint, journeyPosition, phasePosition, type JourneyCheckpoint, type PhasePosition } from './position';

/**
 * What the workshop API does with the Durable client: find a run and a learner, send events to the
 * right instance, and resume a learner. Every route goes through here, so the rules ("an event for
 * a finished phase is refused", "a lost journey restarts from its checkpoint") live in one place.
 */
export type Client = ReturnType<typeof df.getClient>;
export type RuntimeStatus = `${df.OrchestrationRuntimeStatus}`;

export const RUN_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
export const LEARNER_ID_IN_URL = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const FINISHED: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];

export function apiKeys(): ApiKeys {
  const s = appSettings();
  return { instructorKey: s.INSTRUCTOR_API_KEY, learnerKey: s.LEARNER_API_KEY };
}

export function isFinished(status: RuntimeStatus | undefined): boolean {
  return status === undefined || FINISHED.includes(status);
}

/** An instance's status, or undefined when there is no such instance (never started, or purged). */
export async function statusOf(client: Client, instanceId: string, showInput = false): Promise<df.DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput, showHistory: false, showHistoryOutput: false });
  } catch (err) {
    if (/\b404\b/.test((err as Error).message)) return undefined;
    throw err;
  }
}

export interface Run {
  runId: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: RunInput;
  view: CohortView | null;
  status: df.DurableOrchestrationStatus;
}

export async function loadRun(client: Client, runId: string): Promise<Run> {
  const instanceId = cohortInstanceId(runId);
  const status = await statusOf(client, instanceId, true);
  if (!status || status.name !== 'cohortRun') {
    infoCache.delete(runId);
    throw new ApiError(404, `There is no run "${runId}". Start one with POST /api/runs (workshop run start).`);
  }
  // The roster is in the store (WorkshopRoster), not in the cohort's input.
  const input: RunInput = { ...(status.input as CohortInput), roster: await readRoster(runId) };
  const run: Run = {
    runId,
    instanceId,
    runtimeStatus: status.runtimeStatus as RuntimeStatus,
    input,
    view: await viewOf(runId, input, status.customStatus),
    status,
  };
  remember(run);
  return run;
}

/** The cohort's summary (its custom status) joined with every learner's progress row. */
async function viewOf(runId: string, input: RunInput, customStatus: unknown): Promise<CohortView | null> {
  if (!customStatus || typeof customStatus !== 'object') return null;
  const view = expandView(customStatus as CohortSummary, input.roster, await readProgress(runId));
  return input.hotStart ? { ...view, hotStart: await hotStartView(runId, input.hotStart, input.startsAt) } : view;
}

/** What never changes in a run: its pack plan and roster. Learner routes read it from a short cache. */
export interface RunInfo {
  runId: string;
  instanceId: string;
  plan: CohortInput['plan'];
  roster: Learner[];
}

const INFO_TTL_MS = 30_000;
const infoCache = new Map<string, { info: RunInfo; at: number }>();

function remember(run: Run): RunInfo {
  const info: RunInfo = { runId: run.runId, instanceId: run.instanceId, plan: run.input.plan, roster: run.input.roster };
  infoCache.set(run.runId, { info, at: Date.now() });
  if (infoCache.size > 200) infoCache.delete(infoCache.keys().next().value!);
  return info;
}

/**
 * The run's plan and roster. Learners act many times a minute; reading the cohort instance (its
 * input carries the whole cohort's state) for each of those would cost more than the action.
 */
export async function runInfo(client: Client, runId: string): Promise<RunInfo> {
  const hit = infoCache.get(runId);
  if (hit && Date.now() - hit.at < INFO_TTL_MS) return hit.info;
  return remember(await loadRun(client, runId));
}

export function rosterLearner(run: RunInfo, learnerId: string): Learner {
  const learner = run.roster.find((l) => l.learnerId === learnerId);
  if (!learner) throw new ApiError(404, `Run "${run.runId}" has no learner "${learnerId}". Its learners: ${run.roster.map((l) => l.learnerId).join(', ')}.`);
  return learner;
}

export function requireRunning(run: Run, what: string): void {
  if (isFinished(run.runtimeStatus)) throw new ApiError(409, `Run "${run.runId}" is ${run.runtimeStatus}; ${what} is only possible while it runs. Nothing was changed.`);
}

/** An instructor command to the cohort instance. */
export async function commandRun(client: Client, run: Run, command: CohortCommand): Promise<void> {
  requireRunning(run, `"${command.type}"`);
  await client.raiseEvent(run.instanceId, EVENTS.cohort, command);
  apiLogger().info({ runId: run.runId, instanceId: run.instanceId, command: command.type, by: command.by }, 'run command raised');
}

export interface LearnerState {
  info: RunInfo;
  /** The run as it is now; read only for routes that need its status (`fresh`). */
  run?: Run;
  learner: Learner;
  checkpoint: Checkpoint | undefined;
  position: PhasePosition | undefined;
}

export async function loadLearner(client: Client, runId: string, learnerId: string, fresh = false): Promise<LearnerState> {
  const run = fresh ? await loadRun(client, runId) : undefined;
  let info = run ? remember(run) : await runInfo(client, runId);
  if (!run && !info.roster.some((l) => l.learnerId === learnerId)) {
    infoCache.delete(runId); // a cached roster is never wrong about who is in it, but check before a 404
    info = await runInfo(client, runId);
  }
  const learner = rosterLearner(info, learnerId);
  const checkpoint = await readCheckpoint(runId, learnerId);
  return { info, run, learner, checkpoint, position: phasePosition(checkpoint) };
}

/** The learner's running phase, or 409 saying why there is none to talk to. */
export async function activePhase(client: Client, s: LearnerState): Promise<PhasePosition> {
  const p = s.position;
  const who = `Learner "${s.learner.learnerId}"`;
  if (!p) throw new ApiError(409, `${who} has not started a phase yet (the run starts learners in batches); try again in a moment. Nothing was changed.`);
  if (p.state === 'completed') {
    const journey = journeyPosition(s.checkpoint);
    const next = journey?.state === 'completed' ? 'has finished the workshop' : `finished phase "${p.phase}"; the next phase is starting`;
    throw new ApiError(409, `${who} ${next}, so there is no step to act on. Nothing was changed.`, { position: p });
  }
  if (p.state === 'failed') {
    throw new ApiError(409, `${who}'s phase "${p.phase}" failed at step "${p.failure?.stepId}" (${p.failure?.message}); it waits for a resume. Nothing was changed.`, { position: p });
  }
  const status = await statusOf(client, p.instanceId);
  if (isFinished(status?.runtimeStatus as RuntimeStatus | undefined)) {
    throw new ApiError(409, `${who}'s phase instance ${p.instanceId} is ${status?.runtimeStatus ?? 'gone'}; the event would be lost. Resume the learner first (workshop resume). Nothing was changed.`, {
      position: p,
    });
  }
  return p;
}

/** Send a phase event to the learner's running phase instance. */
export async function raisePhaseEvent(client: Client, s: LearnerState, position: PhasePosition, event: PhaseEvent): Promise<void> {
  await client.raiseEvent(position.instanceId, EVENTS.phase, event);
  apiLogger().info({ runId: s.info.runId, learnerId: s.learner.learnerId, instanceId: position.instanceId, event: event.type, stepId: 'stepId' in event ? event.stepId : undefined }, 'phase event raised');
}

export async function raiseJourneyEvent(client: Client, s: LearnerState, event: JourneyEvent): Promise<void> {
  const instanceId = journeyInstanceId(s.info.runId, s.learner.learnerId);
  const status = await statusOf(client, instanceId);
  if (isFinished(status?.runtimeStatus as RuntimeStatus | undefined)) {
    throw new ApiError(409, `Learner "${s.learner.learnerId}"'s journey instance is ${status?.runtimeStatus ?? 'gone'}; resume the learner first (workshop resume). Nothing was changed.`);
  }
  await client.raiseEvent(instanceId, EVENTS.journey, event);
  apiLogger().info({ runId: s.info.runId, learnerId: s.learner.learnerId, instanceId, event: event.type }, 'journey event raised');
}

export interface ResumeOutcome {
  action: 'raised' | 'restarted';
  instanceId: string;
  phase: PhaseName;
  detail: string;
}

/**
 * Resume a learner. A journey that is alive and waiting in `failed` gets the RESUME event. A journey
 * instance that is gone (failed, terminated, purged, lost with its host) is started again from the
 * learner's checkpoint: completed phases stay completed, and a phase that was running when the
 * journey was lost is recorded as failed by the journey machine and started again (its provisioning
 * finds the learner's existing deployment and adopts it, so a healthy environment is not re-created).
 */
export async function resumeLearner(client: Client, s: LearnerState, from: ResumeFrom, override?: CheckOverride): Promise<ResumeOutcome> {
  const { runId } = s.info;
  const { learnerId } = s.learner;
  requireRunning(s.run ?? (await loadRun(client, runId)), 'resuming a learner');
  const journeyId = journeyInstanceId(runId, learnerId);
  const status = await statusOf(client, journeyId);
  const runtime = status?.runtimeStatus as RuntimeStatus | undefined;
  const journey = journeyPosition(s.checkpoint);

  if (runtime === 'Completed') throw new ApiError(409, `Learner "${learnerId}" has finished the workshop (${journey?.state ?? 'completed'}); there is nothing to resume.`);
  if (runtime && !isFinished(runtime)) {
    if (journey?.state !== 'failed' || !journey.failure) {
      const where = s.position ? `phase "${s.position.phase}", ${s.position.state}${s.position.stepId ? ` at step "${s.position.stepId}"` : ''}` : 'starting';
      throw new ApiError(409, `Learner "${learnerId}" is not failed (${where}); there is nothing to resume. Nothing was changed.`);
    }
    await client.raiseEvent(journeyId, EVENTS.journey, { type: 'RESUME', from, by: 'instructor', ...(override ? { override } : {}) } satisfies JourneyEvent);
    apiLogger().info({ runId, learnerId, instanceId: journeyId, from }, 'journey resumed');
    return { action: 'raised', instanceId: journeyId, phase: journey.failure.phase, detail: `resumed phase "${journey.failure.phase}" from ${from === 'start' ? 'its first step' : `the failed step "${journey.failure.reason.stepId}"`}` };
  }
  return restartJourney(client, s, from, runtime, override);
}

/** The journey instance is gone: start it again from the checkpoint. */
async function restartJourney(client: Client, s: LearnerState, from: ResumeFrom, runtime: RuntimeStatus | undefined, override?: CheckOverride): Promise<ResumeOutcome> {
  const { runId } = s.info;
  const { learnerId } = s.learner;
  const journeyId = journeyInstanceId(runId, learnerId);
  const saved = journeyCheckpoint(s.checkpoint);
  if (runtime) await client.purgeInstanceHistory(journeyId).catch(() => undefined);
  const base: JourneyInput = { runId, learnerId, plan: s.info.plan, version: 0 };
  if (!saved) {
    await client.startNew('learnerJourney', { instanceId: journeyId, input: base });
    return { action: 'restarted', instanceId: journeyId, phase: 'requirements', detail: 'the journey had not checkpointed yet; started it from the beginning' };
  }
  if (saved.snapshot.status === 'done') throw new ApiError(409, `Learner "${learnerId}" has finished the workshop; there is nothing to resume.`);

  const current = saved.snapshot.context.current;
  const resumed =
    saved.snapshot.value !== 'failed'
      ? await failLostPhase(client, s, saved, from, runtime)
      : { ...saved, detail: `restarted the journey; phase "${current}" resumes from ${from === 'start' ? 'its first step' : 'the failed step'}` };
  const input: JourneyInput = { ...base, journey: resumed.snapshot, lastPhase: resumed.lastPhase, version: (s.checkpoint?.journeyVersion ?? -1) + 1, resume: { from, by: 'instructor', ...(override ? { override } : {}) } };
  await client.startNew('learnerJourney', { instanceId: journeyId, input });
  apiLogger().info({ runId, learnerId, instanceId: journeyId, from, phase: current, previous: runtime ?? 'purged' }, 'journey restarted from checkpoint');
  return { action: 'restarted', instanceId: journeyId, phase: current, detail: resumed.detail };
}

/**
 * Lost mid-phase. The journey machine records the phase as failed, so RESUME starts a new attempt of it from
 * the phase's last checkpoint (its step attempts carry on, so the cohort's provisioning scheduler and the
 * deployment's idempotency key see a retry, not a new learner).
 */
async function failLostPhase(client: Client, s: LearnerState, saved: JourneyCheckpoint, from: ResumeFrom, runtime: RuntimeStatus | undefined): Promise<JourneyCheckpoint & { detail: string }> {
  const { runId } = s.info;
  const { learnerId } = s.learner;
  const current = saved.snapshot.context.current;
  const attempt = saved.snapshot.context.attempts[current];
  const orphan = phaseInstanceId(runId, learnerId, current, attempt);
  const orphanStatus = await statusOf(client, orphan);
  if (orphanStatus && !isFinished(orphanStatus.runtimeStatus as RuntimeStatus)) await client.terminate(orphan, 'its learner journey was lost; resumed by the instructor');
  const lost = `The learner's journey instance was lost (${runtime ?? 'purged'}) during phase "${current}"; resumed from the last checkpoint by the instructor.`;
  const position = s.position;
  const phaseSaved = s.checkpoint?.phase;
  const phaseSnapshot = phaseSaved && position && phaseSaved.name === current && phaseSaved.attempt === attempt ? await failInFlightStep(client, s, phaseSaved.snapshot as PersistedPhaseSnapshot, position, lost) : undefined;
  const stepId = position?.phase === current ? (position.stepId ?? `${current}#${attempt}`) : `${current}#${attempt}`;
  const [failed] = transition(journeyMachine, restoreJourneySnapshot(saved.snapshot), {
    type: 'PHASE_FAILED',
    phase: current,
    reason: { kind: 'provision', stepId, message: lost, learnerMayResume: false },
  });
  return {
    snapshot: persistJourneySnapshot(failed),
    lastPhase: phaseSnapshot ? { phase: current, snapshot: phaseSnapshot } : undefined,
    detail: phaseSnapshot
      ? `restarted the journey; phase "${current}" continues from its checkpoint at step "${stepId}"${phaseView(restorePhaseSnapshot(phaseSnapshot)).state === 'failed' && from === 'start' ? ' (from its first step, as asked)' : ''}`
      : `restarted the journey; phase "${current}" had no checkpoint yet and starts from its first step (completed phases are kept)`,
  };
}

/**
 * What was in flight when the journey was lost will not report back: feed the phase machine that outcome, so a
 * resume runs it again (provisioning adopts the deployment it started), and free the cohort scheduler's slot a
 * lost deployment attempt held.
 */
async function failInFlightStep(client: Client, s: LearnerState, saved: PersistedPhaseSnapshot, position: PhasePosition, lost: string): Promise<PersistedPhaseSnapshot> {
  const stepId = position.stepId ?? '';
  const inFlight: PhaseEvent | undefined =
    position.state === 'provisioning'
      ? { type: 'PROVISION_FAILED', stepId, attempt: position.stepAttempt, message: lost }
      : position.state === 'validating'
        ? { type: 'VALIDATION_FAILED', stepId, attempt: position.stepAttempt, checks: [{ checkId: 'validation-run', passed: false, message: lost }] }
        : undefined;
  let phaseSnapshot = saved;
  if (inFlight) {
    const [next] = transition(phaseMachine, restorePhaseSnapshot(phaseSnapshot), inFlight);
    phaseSnapshot = persistPhaseSnapshot(next);
  }
  if (position.state === 'provisioning') {
    const provisionDone: ProvisionDone = { type: 'provisionDone', learnerId: s.learner.learnerId, stepId, attempt: position.stepAttempt, outcome: 'permanent', message: lost };
    await client.raiseEvent(cohortInstanceId(s.info.runId), EVENTS.cohort, provisionDone);
  }
  return phaseSnapshot;
}
