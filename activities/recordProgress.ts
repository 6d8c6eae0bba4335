import type { TransactionAction } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { defineActivity } from './activity';
import { PHASES } from '../machines/journeyMachine';
import { applyProgress, initialProgress, LEARNER_STATES, type LearnerProgress, type ProgressReport } from '../machines/progress';
import { isStatus, PROGRESS_TABLE, workshopTable } from '../storage/workshopTables';

/**
 * The cohort's per-learner progress (WorkshopProgress). It lives in a table, not in the cohort's custom
 * status: Durable Functions caps a custom status at 16 KB of UTF-16, which a roster of a few dozen learners
 * would outgrow. The learners' own reports write it as they are delivered (writeReportedProgress, from
 * signalInstance); the cohort writes what only it decides (learners ended with the run) with recordProgress.
 */
const Progress = z.object({
  learnerId: z.string().min(1),
  phase: z.enum(PHASES),
  state: z.enum(LEARNER_STATES),
  stepId: z.string().nullish(),
  since: z.string(),
  detail: z.string().nullish(),
  helpCount: z.number().int().nonnegative().default(0),
  attempt: z.number().int().nonnegative().nullish(),
});
export const RecordProgressInput = z.object({
  runId: z.string().min(1),
  learners: z.array(Progress).max(5_000),
});
export type RecordProgressInput = z.infer<typeof RecordProgressInput>;

const MAX_BATCH = 100;

export const recordProgress = defineActivity(RecordProgressInput, async function recordProgress(input): Promise<{ written: number }> {
  if (!input.learners.length) return { written: 0 };
  const table = await workshopTable(PROGRESS_TABLE);
  const actions: TransactionAction[] = input.learners.map(({ learnerId, ...p }) => [
    'upsert',
    toEntity(input.runId, learnerId, { ...p, stepId: p.stepId ?? null, detail: p.detail ?? undefined, attempt: p.attempt ?? undefined }),
    'Replace',
  ]);
  for (let i = 0; i < actions.length; i += MAX_BATCH) await table.submitTransaction(actions.slice(i, i + MAX_BATCH));
  return { written: actions.length };
});

function toEntity(runId: string, learnerId: string, p: LearnerProgress) {
  return {
    partitionKey: runId,
    rowKey: learnerId,
    Phase: p.phase,
    State: p.state,
    StepId: p.stepId ?? '',
    Since: p.since,
    Detail: (p.detail ?? '').slice(0, 4_000),
    HelpCount: p.helpCount,
    Attempt: p.attempt ?? 0,
    UpdatedAt: new Date().toISOString(),
  };
}

function fromEntity(r: Record<string, unknown>): LearnerProgress {
  return {
    phase: r.Phase as LearnerProgress['phase'],
    state: r.State as LearnerProgress['state'],
    stepId: (r.StepId as string) || null,
    since: r.Since as string,
    ...(r.Detail ? { detail: r.Detail as string } : {}),
    helpCount: Number(r.HelpCount ?? 0),
    ...(Number(r.Attempt) > 0 ? { attempt: Number(r.Attempt) } : {}),
  };
}

/**
 * Apply a learner's progress report to their row, by the cohort's rule (applyProgress): a stale report
 * changes nothing. Optimistic concurrency (ETag), so two reports racing for one learner both count.
 */
export async function writeReportedProgress(runId: string, report: ProgressReport): Promise<void> {
  const table = await workshopTable(PROGRESS_TABLE);
  for (let attempt = 0; attempt < 8; attempt++) {
    let row: Record<string, unknown> | undefined;
    try {
      row = await table.getEntity<Record<string, unknown>>(runId, report.learnerId);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    // No row yet: as the cohort starts a learner, from before any report.
    const after = applyProgress(row ? fromEntity(row) : initialProgress(''), report);
    if (!after) return;
    const entity = toEntity(runId, report.learnerId, after);
    try {
      if (row) await table.updateEntity(entity, 'Replace', { etag: row.etag as string });
      else await table.createEntity(entity);
      return;
    } catch (err) {
      if (!isStatus(err, 409, 412)) throw err; // written in between: read again and re-apply
    }
  }
  throw new Error(`Progress of learner ${report.learnerId} in run ${runId} kept conflicting; retry.`);
}

/** Every learner's progress row in a run (a learner with no row has not reported yet). */
export async function readProgress(runId: string): Promise<Map<string, LearnerProgress>> {
  const table = await workshopTable(PROGRESS_TABLE);
  const out = new Map<string, LearnerProgress>();
  for await (const r of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${runId}` } })) out.set(r.rowKey as string, fromEntity(r));
  return out;
}
