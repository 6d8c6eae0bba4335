import type { InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { defineActivity } from './activity';
import { EVENTS, journeyInstanceId, phaseInstanceId } from '../contracts/ids';
import type { JourneyInput, RunPlan } from '../contracts/messages';
import type { LearnerProgress, LearnerState } from '../machines/progress';
import { notifyMany, type NotifyInput } from './notify';
import { readProgress, writeReportedProgress } from '../storage/progressTable';
import { readRoster, readRosterSlice } from '../storage/runRoster';
import { signalInstance, type SignalInput, type SignalResult } from './signalInstance';

/**
 * The cohort's fan-outs over its roster, as activities that read the roster (WorkshopRoster) and the
 * learners' progress (WorkshopProgress) from the store: the cohort orchestration carries neither, so its
 * input, custom status and history stay the same size for 10 learners or 1,000 (issue 14). Each call costs
 * the cohort two history events whatever the roster's size. Every fan-out is idempotent (starting a
 * started journey, raising the same command twice, writing the same outbox key), so a retry is safe.
 */

const FINISHED: readonly LearnerState[] = ['completed', 'ended'];
/** Signals sent at once: the management API and the connector are not flooded by one fan-out. */
const CONCURRENCY = 25;
/** notifyMany takes at most this many messages per call. */
const NOTIFY_BATCH = 500;

async function inParallel<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await run(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return out;
}

const signalAll = (ops: SignalInput[], context: InvocationContext): Promise<SignalResult[]> => inParallel(ops, (op) => signalInstance(op, context));

export const StartJourneysInput = z.object({
  runId: z.string().min(1),
  plan: z.custom<RunPlan>((v) => typeof v === 'object' && v !== null && typeof (v as RunPlan).packId === 'string', 'a run plan'),
  from: z.number().int().nonnegative(),
  count: z.number().int().positive().max(1_000),
  /** The run is parked (its park number): these learners start held (orchestrations/parking.ts). */
  parked: z.number().int().positive().optional(),
});

/** Starts the journeys of learners `from` … `from + count - 1` of the roster (one batch of the cohort's start). */
export const startJourneys = defineActivity(StartJourneysInput, async function startJourneys(input, context: InvocationContext): Promise<{ started: number }> {
  const batch = await readRosterSlice(input.runId, input.from, input.count);
  await signalAll(
    batch.map((l) => ({
      op: 'start' as const,
      instanceId: journeyInstanceId(input.runId, l.learnerId),
      orchestrator: 'learnerJourney',
      input: { runId: input.runId, learnerId: l.learnerId, plan: input.plan, version: 0, ...(input.parked ? { parked: input.parked } : {}) } satisfies JourneyInput,
    })),
    context,
  );
  return { started: batch.length };
});

const FanOutAction = z.discriminatedUnion('op', [
  /** Pause or resume unfinished learners: their journey and the phase it runs. */
  z.object({ op: z.enum(['suspend', 'resume']), reason: z.string() }),
  z.object({ op: z.literal('extend'), minutes: z.number().positive() }),
  /** The run ends: started journeys stop their phases; learners never started (or not yet reporting) end here. */
  z.object({ op: z.literal('end'), reason: z.string(), at: z.string(), started: z.number().int().nonnegative() }),
  z.object({ op: z.literal('broadcast'), key: z.string().min(1), message: z.string(), by: z.string() }),
]);

export const CohortFanOutInput = z.object({
  runId: z.string().min(1),
  /** One learner instead of every unfinished one (extend). */
  learnerId: z.string().min(1).optional(),
  action: FanOutAction,
});
export type CohortFanOutInput = z.infer<typeof CohortFanOutInput>;

/** Learners the roster has, with their progress (none: not reported yet). */
async function learnersOf(runId: string): Promise<Array<{ learnerId: string; index: number; progress?: LearnerProgress }>> {
  const [roster, rows] = await Promise.all([readRoster(runId), readProgress(runId)]);
  return roster.map((l, index) => ({ learnerId: l.learnerId, index, progress: rows.get(l.learnerId) }));
}

export const cohortFanOut = defineActivity(CohortFanOutInput, async function cohortFanOut(input, context: InvocationContext): Promise<{ signalled: number }> {
  const { runId, action } = input;
  if (action.op === 'broadcast') {
    const roster = await readRoster(runId);
    const messages: NotifyInput[] = roster.map((l) => ({ runId, key: `${action.key}:${l.learnerId}`, to: { role: 'learner', learnerId: l.learnerId }, kind: 'broadcast', body: { message: action.message, by: action.by } }));
    for (let i = 0; i < messages.length; i += NOTIFY_BATCH) await notifyMany({ messages: messages.slice(i, i + NOTIFY_BATCH) });
    return { signalled: messages.length };
  }
  const all = await learnersOf(runId);
  const unfinished = all.filter((l) => !FINISHED.includes(l.progress?.state ?? 'starting') && (!input.learnerId || l.learnerId === input.learnerId));
  if (action.op === 'end') return endLearners(runId, action, unfinished, context);
  const ops: SignalInput[] = unfinished.flatMap((l): SignalInput[] => {
    const journey = journeyInstanceId(runId, l.learnerId);
    if (action.op === 'extend') return [{ op: 'raise', instanceId: journey, event: EVENTS.journey, data: { type: 'EXTEND', phase: l.progress?.phase ?? 'requirements', minutes: action.minutes } }];
    const phase = l.progress?.attempt ? [phaseInstanceId(runId, l.learnerId, l.progress.phase, l.progress.attempt)] : [];
    return [journey, ...phase].map((instanceId) => ({ op: action.op, instanceId, reason: action.reason }));
  });
  await signalAll(ops, context);
  return { signalled: ops.length };
});

async function endLearners(
  runId: string,
  action: Extract<CohortFanOutInput['action'], { op: 'end' }>,
  unfinished: Array<{ learnerId: string; index: number; progress?: LearnerProgress }>,
  context: InvocationContext,
): Promise<{ signalled: number }> {
  const started = unfinished.filter((l) => l.index < action.started);
  await signalAll(
    started.map((l) => ({ op: 'raise' as const, instanceId: journeyInstanceId(runId, l.learnerId), event: EVENTS.journey, data: { type: 'END', reason: action.reason } })),
    context,
  );
  // Learners never started, and journeys that have not reported yet (never started or already gone), cannot
  // report back: they end here, by the progress rule (a learner who finished meanwhile stays finished).
  const silent = unfinished.filter((l) => l.index >= action.started || (l.progress?.state ?? 'starting') === 'starting');
  await inParallel(silent, (l) =>
    writeReportedProgress(runId, {
      type: 'progress',
      learnerId: l.learnerId,
      phase: l.progress?.phase ?? 'requirements',
      state: 'ended',
      stepId: l.progress?.stepId ?? null,
      // Not older than the row, or the rule would take it for a stale report.
      at: l.progress && l.progress.since > action.at ? l.progress.since : action.at,
    }),
  );
  return { signalled: started.length };
}

export const CohortTallyInput = z.object({ runId: z.string().min(1) });

/** Learners per phase and state from the store, and how many have finished (the cohort's "are we done?" and report). */
export const cohortTally = defineActivity(CohortTallyInput, async function cohortTally(input): Promise<{ learners: number; finished: number; completed: number; ended: number; perPhase: Record<string, Record<string, number>> }> {
  const all = await learnersOf(input.runId);
  const perPhase: Record<string, Record<string, number>> = {};
  let completed = 0;
  let ended = 0;
  for (const l of all) {
    const phase = l.progress?.phase ?? 'requirements';
    const state = l.progress?.state ?? 'starting';
    (perPhase[phase] ??= {})[state] = (perPhase[phase][state] ?? 0) + 1;
    if (state === 'completed') completed++;
    if (state === 'ended') ended++;
  }
  return { learners: all.length, finished: completed + ended, completed, ended, perPhase };
});

