import type { TablePort } from './tables';
import { z } from 'zod';
import { appTable } from './appTables';

/**
 * The `WorkshopRuns` table: one row per cohort run (PartitionKey = runId, RowKey = "run").
 * The workshop core writes it (run started / ended); the sweeper and the cost guard read it to
 * know whether a run's environments may still exist. Call these from activities (they do I/O).
 */
export const WORKSHOP_RUNS_TABLE = 'WorkshopRuns';
const ROW = 'run';

export const RunStatus = z.enum(['running', 'ended']);
export type RunStatus = z.infer<typeof RunStatus>;

/** The row as stored (Table entity). */
export interface WorkshopRunRow {
  partitionKey: string;
  rowKey: typeof ROW;
  status: RunStatus;
  packId?: string;
  /** ISO. */
  startedAt: string;
  /** ISO: when the run is scheduled to end (environments go at the end). */
  endsAt?: string;
  /** ISO: when it actually ended. */
  endedAt?: string;
  endReason?: string;
  /** The run's budget for learner environments (USD); absent = RUN_BUDGET_USD / the packs' shares. */
  budgetUsd?: number;
  /** ISO: when the instructor was warned about the budget (warn once). */
  budgetWarnedAt?: string;
  /**
   * Peer review of designs: learners who passed Design may review a peer's design once this many designs wait for
   * the instructor; 0 or absent = off (a Merge upsert cannot remove a property, so "off" is stored as 0).
   */
  peerReviewMinQueue?: number;
}

/** The run as callers see it: the row's fields, keyed by run id instead of the table keys. */
export type WorkshopRun = Omit<WorkshopRunRow, 'partitionKey' | 'rowKey'> & { runId: string };

export const MarkRunStartedInput = z.object({
  runId: z.string().min(1).max(200),
  packId: z.string().min(1).optional(),
  startedAt: z.string().datetime({ offset: true }).optional(),
  endsAt: z.string().datetime({ offset: true }).optional(),
  budgetUsd: z.number().positive().optional(),
});
export type MarkRunStartedInput = z.input<typeof MarkRunStartedInput>;

function runsTable(): Promise<TablePort> {
  return appTable(WORKSHOP_RUNS_TABLE);
}

/** Records a run as running. Idempotent: a repeat keeps the first start time and an ended run stays ended. */
export async function markRunStarted(raw: MarkRunStartedInput): Promise<WorkshopRun> {
  const input = MarkRunStartedInput.parse(raw);
  const table = await runsTable();
  const existing = await getRun(input.runId);
  if (existing?.status === 'ended') return existing;
  const row: WorkshopRunRow = {
    partitionKey: input.runId,
    rowKey: ROW,
    status: 'running',
    startedAt: existing?.startedAt ?? input.startedAt ?? new Date().toISOString(),
    ...(input.packId ? { packId: input.packId } : {}),
    ...(input.endsAt ? { endsAt: input.endsAt } : {}),
    ...(input.budgetUsd !== undefined ? { budgetUsd: input.budgetUsd } : {}),
  };
  await table.upsertEntity(row, 'Merge');
  return (await getRun(input.runId))!;
}

/** Records a run as ended (its environments may all be removed). Idempotent: the first end time stays. */
export async function markRunEnded(runId: string, opts: { endedAt?: string; reason?: string } = {}): Promise<WorkshopRun> {
  const table = await runsTable();
  const existing = await getRun(runId);
  if (existing?.status === 'ended') return existing;
  await table.upsertEntity(
    {
      partitionKey: runId,
      rowKey: ROW,
      status: 'ended',
      startedAt: existing?.startedAt ?? opts.endedAt ?? new Date().toISOString(),
      endedAt: opts.endedAt ?? new Date().toISOString(),
      ...(opts.reason ? { endReason: opts.reason } : {}),
    },
    'Merge',
  );
  return (await getRun(runId))!;
}

/** Forgets a run whose start failed after it was registered (so a refused start leaves nothing behind). */
export async function forgetRun(runId: string): Promise<void> {
  const table = await runsTable();
  await table.deleteEntity(runId, ROW).catch((err: { statusCode?: number }) => {
    if (err.statusCode !== 404) throw err;
  });
}

/** Remembers that the instructor was warned about the run's budget. */
export async function markBudgetWarned(runId: string, at: string): Promise<void> {
  const table = await runsTable();
  await table.updateEntity({ partitionKey: runId, rowKey: ROW, budgetWarnedAt: at }, 'Merge').catch((err: { statusCode?: number }) => {
    if (err.statusCode !== 404) throw err; // no record of the run: nothing to remember it on
  });
}

/** Turns peer review on (from `minQueue` designs waiting) or off (null) for a run the registry knows. */
export async function setPeerReview(runId: string, minQueue: number | null): Promise<void> {
  const table = await runsTable();
  await table.updateEntity({ partitionKey: runId, rowKey: ROW, peerReviewMinQueue: minQueue ?? 0 }, 'Merge');
}

export async function getRun(runId: string): Promise<WorkshopRun | undefined> {
  const table = await runsTable();
  try {
    const row = await table.getEntity<Omit<WorkshopRunRow, 'partitionKey' | 'rowKey'>>(runId, ROW);
    const status = RunStatus.safeParse(row.status);
    return {
      runId,
      status: status.success ? status.data : 'running',
      startedAt: row.startedAt,
      ...(row.packId ? { packId: row.packId } : {}),
      ...(row.endsAt ? { endsAt: row.endsAt } : {}),
      ...(row.endedAt ? { endedAt: row.endedAt } : {}),
      ...(row.endReason ? { endReason: row.endReason } : {}),
      ...(typeof row.budgetUsd === 'number' ? { budgetUsd: row.budgetUsd } : {}),
      ...(row.budgetWarnedAt ? { budgetWarnedAt: row.budgetWarnedAt } : {}),
      ...(typeof row.peerReviewMinQueue === 'number' ? { peerReviewMinQueue: row.peerReviewMinQueue } : {}),
    };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}
