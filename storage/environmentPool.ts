import type { HotStartView, PoolSummary } from '../contracts/messages';
import { isStatus, readRow, workshopTable } from './workshopTables';

/**
 * Hot start's pool of learner environments deployed ahead (WorkshopEnvironmentPool: PartitionKey runId,
 * RowKey learnerId). One row per pooled learner, so the cohort keeps none of it: it holds only the live line
 * of the provisioning scheduler (bounded by its slots), and reads or writes the rows through activities.
 *
 * A row's life: queued (in the pool, not deploying yet) → deploying → ready, or failed; claimed once the
 * learner's Implementation asked for its environment (whatever the row said then: `claimedFrom`); tornDown
 * when the run ended with it unclaimed. claimed and tornDown are final: a pool deployment that reports
 * after them only fills in its facts (readyAt, subscription).
 */
export const ENVIRONMENT_POOL_TABLE = 'WorkshopEnvironmentPool';

export const POOL_STATUSES = ['queued', 'deploying', 'ready', 'failed', 'claimed', 'tornDown'] as const;
export type PoolStatus = (typeof POOL_STATUSES)[number];

export interface PoolEnvironment {
  learnerId: string;
  status: PoolStatus;
  /** ISO time the row took its status. */
  since: string;
  /** The roster position the pool took it from (0-based). */
  index: number;
  subscriptionId?: string;
  resourceGroupName?: string;
  hourlyCostUsd?: number;
  /** ISO: the deployment succeeded (the environment costs from here while nobody uses it). */
  readyAt?: string;
  claimedAt?: string;
  /** What the row said when the learner claimed it. */
  claimedFrom?: PoolStatus;
  tornDownAt?: string;
  error?: string;
}

function toEntity(runId: string, e: PoolEnvironment): { partitionKey: string; rowKey: string } & Record<string, unknown> {
  const { learnerId, ...rest } = e;
  return { partitionKey: runId, rowKey: learnerId, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
}

function fromEntity(r: Record<string, unknown>): PoolEnvironment {
  const { partitionKey: _p, rowKey, etag: _e, timestamp: _t, ...rest } = r as Record<string, unknown> & { rowKey: string };
  return { learnerId: rowKey, ...(rest as Omit<PoolEnvironment, 'learnerId'>) };
}

/** Rows for learners entering the pool (status queued); a learner already in it keeps their row. */
export async function addToPool(runId: string, learners: Array<{ learnerId: string; index: number }>, at: string): Promise<void> {
  const table = await workshopTable(ENVIRONMENT_POOL_TABLE);
  for (const l of learners) {
    try {
      await table.createEntity(toEntity(runId, { learnerId: l.learnerId, index: l.index, status: 'queued', since: at }));
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
  }
}

export async function readPoolEnvironment(runId: string, learnerId: string): Promise<PoolEnvironment | undefined> {
  const row = await readRow(ENVIRONMENT_POOL_TABLE, runId, learnerId);
  return row && fromEntity(row);
}

export async function listPool(runId: string): Promise<PoolEnvironment[]> {
  const table = await workshopTable(ENVIRONMENT_POOL_TABLE);
  const out: PoolEnvironment[] = [];
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${runId.replace(/'/g, "''")}'` } })) out.push(fromEntity(row));
  return out.sort((a, b) => a.index - b.index);
}

const FINAL: ReadonlySet<PoolStatus> = new Set(['claimed', 'tornDown']);

/**
 * Change a pooled learner's row by `change` (which gets the row and returns the new one, or undefined to leave
 * it), with the row's ETag: two writers (the pool's deployment and the learner's claim) cannot undo each other.
 * No row: the learner is not in the pool; nothing is written.
 */
export async function updatePoolEnvironment(
  runId: string,
  learnerId: string,
  change: (row: PoolEnvironment) => PoolEnvironment | undefined,
): Promise<{ before?: PoolEnvironment; after?: PoolEnvironment }> {
  const table = await workshopTable(ENVIRONMENT_POOL_TABLE);
  for (let attempt = 0; attempt < 20; attempt++) {
    let raw: Record<string, unknown>;
    try {
      raw = await table.getEntity<Record<string, unknown>>(runId, learnerId);
    } catch (err) {
      if (isStatus(err, 404)) return {};
      throw err;
    }
    const before = fromEntity(raw);
    const after = change(before);
    if (!after) return { before };
    try {
      await table.updateEntity(toEntity(runId, after), 'Replace', { etag: raw.etag as string });
      return { before, after };
    } catch (err) {
      if (!isStatus(err, 412, 409)) throw err;
    }
  }
  throw new Error(`The hot-start pool row of learner "${learnerId}" in run "${runId}" kept changing under this write (20 tries); try again.`);
}

/** What the pool's own deployment learned: its status and facts; a final row keeps its status. */
export function poolOutcome(row: PoolEnvironment, status: 'deploying' | 'ready' | 'failed', at: string, facts: Partial<PoolEnvironment> = {}): PoolEnvironment {
  const merged = { ...row, ...facts, ...(status === 'ready' ? { readyAt: row.readyAt ?? at } : {}) };
  if (FINAL.has(row.status)) return merged;
  return { ...merged, status, since: at, ...(status === 'failed' ? {} : { error: undefined }) };
}

/** The learner asked for their environment: the row is claimed (once; a repeated claim changes nothing). */
export function claimed(row: PoolEnvironment, at: string): PoolEnvironment | undefined {
  if (FINAL.has(row.status)) return undefined;
  return { ...row, status: 'claimed', since: at, claimedAt: at, claimedFrom: row.status };
}

/** The pool at `now`, for the instructor (run view, dashboard, Teams). Pure. */
export function poolSummary(envs: readonly PoolEnvironment[], now: Date): PoolSummary {
  const count = (s: PoolStatus) => envs.filter((e) => e.status === s).length;
  // As the cost guard counts spend (azure/costGuard.ts: hourly estimate × hours), over the idle stretch only.
  const t = now.getTime();
  let idleUsd = 0;
  for (const e of envs) {
    if (!e.readyAt || !e.hourlyCostUsd) continue;
    const end = Math.min(t, Date.parse(e.claimedAt ?? e.tornDownAt ?? now.toISOString()));
    const from = Date.parse(e.readyAt);
    if (end > from) idleUsd += (e.hourlyCostUsd * (end - from)) / 3_600_000;
  }
  return {
    size: envs.length,
    queued: count('queued'),
    deploying: count('deploying'),
    ready: count('ready'),
    claimed: count('claimed'),
    failed: count('failed'),
    tornDown: count('tornDown'),
    claimedReady: envs.filter((e) => e.status === 'claimed' && e.claimedFrom === 'ready').length,
    idleCostUsd: Math.round(idleUsd * 100) / 100,
    idleUsdPerHour: Math.round(envs.filter((e) => e.status === 'ready').reduce((a, e) => a + (e.hourlyCostUsd ?? 0), 0) * 100) / 100,
  };
}

/** The run view's hot-start section: the plan, the pool's counts and idle cost at `now`, each environment. */
export async function hotStartView(runId: string, plan: { stepId: string; provisionAt: string }, startsAt: string | undefined, now = new Date()): Promise<HotStartView> {
  const envs = await listPool(runId);
  return {
    stepId: plan.stepId,
    provisionAt: plan.provisionAt,
    ...(startsAt ? { startsAt } : {}),
    ...poolSummary(envs, now),
    environments: envs.map((e) => ({
      learnerId: e.learnerId,
      status: e.status,
      since: e.since,
      ...(e.subscriptionId ? { subscriptionId: e.subscriptionId } : {}),
      ...(e.readyAt ? { readyAt: e.readyAt } : {}),
      ...(e.claimedAt ? { claimedAt: e.claimedAt } : {}),
      ...(e.claimedFrom ? { claimedFrom: e.claimedFrom } : {}),
      ...(e.error ? { error: e.error } : {}),
    })),
  };
}
