import { odata } from '@azure/data-tables';
import { applyProgress, initialProgress, type LearnerProgress, type ProgressReport } from '../machines/progress';
import { isStatus, PROGRESS_TABLE, readRow, workshopTable } from './workshopTables';

/**
 * The cohort's per-learner progress (WorkshopProgress). It lives in a table, not in the cohort's custom
 * status: Durable Functions caps a custom status at 16 KB of UTF-16, which a roster of a few dozen learners
 * would outgrow. The learners' own reports write it as they are delivered (writeReportedProgress, from
 * signalInstance); what the cohort alone decides (learners ended with the run) the cohort's fan-out writes
 * by the same rule (activities/cohortFanOut.ts).
 */
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
 * changes nothing (false). Optimistic concurrency (ETag), so two reports racing for one learner both count.
 * The same report applied again (a retried delivery) applies again, unchanged: true.
 */
export async function writeReportedProgress(runId: string, report: ProgressReport): Promise<boolean> {
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
    if (!after) return false;
    const entity = toEntity(runId, report.learnerId, after);
    try {
      if (row) await table.updateEntity(entity, 'Replace', { etag: row.etag as string });
      else await table.createEntity(entity);
      return true;
    } catch (err) {
      if (!isStatus(err, 409, 412)) throw err; // written in between: read again and re-apply
    }
  }
  throw new Error(`Progress of learner ${report.learnerId} in run ${runId} kept conflicting; retry.`);
}

/** Whether the learner's row would take this report now (false: it is older than what the row has). */
export async function wouldApplyProgress(runId: string, report: ProgressReport): Promise<boolean> {
  return applyProgress((await readLearnerProgress(runId, report.learnerId)) ?? initialProgress(''), report) !== undefined;
}

/** One learner's progress row, if they have reported. */
export async function readLearnerProgress(runId: string, learnerId: string): Promise<LearnerProgress | undefined> {
  const row = await readRow(PROGRESS_TABLE, runId, learnerId);
  return row && fromEntity(row);
}

/** Every learner's progress row in a run (a learner with no row has not reported yet). */
export async function readProgress(runId: string): Promise<Map<string, LearnerProgress>> {
  const table = await workshopTable(PROGRESS_TABLE);
  const out = new Map<string, LearnerProgress>();
  for await (const r of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${runId}` } })) out.set(r.rowKey as string, fromEntity(r));
  return out;
}
