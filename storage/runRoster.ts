import { odata, type TransactionAction } from '@azure/data-tables';
import type { Learner } from '../contracts/messages';
import { isStatus, workshopTable } from './workshopTables';

/**
 * A run's roster, in the `WorkshopRoster` table (PartitionKey = runId, RowKey = the learner's place in the
 * roster, zero-padded so rows list in roster order). The roster is not in the cohort orchestration's
 * input: a payload that grows with the cohort would cap a run (Azure Storage moves large inputs to blobs on
 * every continue-as-new; the Durable Task Scheduler refuses payloads over 1 MB), so the cohort carries the
 * count and reads learners from here in batches (activities/cohortFanOut.ts). Written once, before the
 * run's orchestration starts, and never changed after: readers may cache it.
 */
export const ROSTER_TABLE = 'WorkshopRoster';
/** One table transaction holds at most 100 actions, all in one partition. */
const BATCH = 100;
/** Rosters kept in memory (immutable once written), most recently used last, by store and run. */
const CACHE_RUNS = 64;
const cache = new Map<string, Learner[]>();
const cacheKey = (table: { url: string }, runId: string) => `${table.url}|${runId}`;

function rowKey(index: number): string {
  return String(index).padStart(6, '0');
}

function toEntity(runId: string, index: number, l: Learner) {
  return { partitionKey: runId, rowKey: rowKey(index), LearnerId: l.learnerId, Name: l.name, ...(l.email ? { Email: l.email } : {}) };
}

function fromEntity(r: Record<string, unknown>): Learner {
  return { learnerId: String(r.LearnerId), name: String(r.Name), ...(r.Email ? { email: String(r.Email) } : {}) };
}

/** Writes a run's roster (idempotent: the same rows again replace themselves). */
export async function saveRoster(runId: string, roster: readonly Learner[]): Promise<void> {
  const table = await workshopTable(ROSTER_TABLE);
  const actions: TransactionAction[] = roster.map((l, i) => ['upsert', toEntity(runId, i, l), 'Replace']);
  for (let i = 0; i < actions.length; i += BATCH) await table.submitTransaction(actions.slice(i, i + BATCH));
  remember(cacheKey(table, runId), [...roster]);
}

/** The whole roster of a run, in roster order; empty when the run has none stored. */
export async function readRoster(runId: string): Promise<Learner[]> {
  const table = await workshopTable(ROSTER_TABLE);
  const hit = cache.get(cacheKey(table, runId));
  if (hit) {
    remember(cacheKey(table, runId), hit);
    return hit;
  }
  const rows: Array<{ key: string; learner: Learner }> = [];
  for await (const r of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${runId}` } })) {
    rows.push({ key: String(r.rowKey), learner: fromEntity(r) });
  }
  const roster = rows.sort((a, b) => a.key.localeCompare(b.key)).map((r) => r.learner);
  if (roster.length) remember(cacheKey(table, runId), roster);
  return roster;
}

/** `count` learners from place `from` (0-based) on, in roster order. */
export async function readRosterSlice(runId: string, from: number, count: number): Promise<Learner[]> {
  const table = await workshopTable(ROSTER_TABLE);
  const hit = cache.get(cacheKey(table, runId));
  if (hit) return hit.slice(from, from + count);
  const out: Array<{ key: string; learner: Learner }> = [];
  const filter = odata`PartitionKey eq ${runId} and RowKey ge ${rowKey(from)} and RowKey lt ${rowKey(from + count)}`;
  for await (const r of table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) out.push({ key: String(r.rowKey), learner: fromEntity(r) });
  return out.sort((a, b) => a.key.localeCompare(b.key)).map((r) => r.learner);
}

/** Removes a run's roster (a run that did not start). */
export async function forgetRoster(runId: string): Promise<void> {
  const table = await workshopTable(ROSTER_TABLE);
  cache.delete(cacheKey(table, runId));
  const keys: string[] = [];
  for await (const r of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${runId}`, select: ['RowKey'] } })) keys.push(String(r.rowKey));
  for (let i = 0; i < keys.length; i += BATCH) {
    await table.submitTransaction(keys.slice(i, i + BATCH).map((k): TransactionAction => ['delete', { partitionKey: runId, rowKey: k }])).catch((err: unknown) => {
      if (!isStatus(err, 404)) throw err;
    });
  }
}

function remember(key: string, roster: Learner[]): void {
  cache.delete(key);
  cache.set(key, roster);
  while (cache.size > CACHE_RUNS) cache.delete(cache.keys().next().value!);
}
