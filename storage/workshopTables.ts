import type { TablePort } from './tables';
import { appTable } from './appTables';

/**
 * The workshop's own state in Table storage (beside the Durable task hub's tables):
 *  - WorkshopCheckpoints: PartitionKey runId, RowKey learnerId — the learner's journey snapshot and
 *    completed phase results, plus the running phase's snapshot; what `resume` restarts from.
 *  - WorkshopOutbox: PartitionKey runId, RowKey message key — every notification, written once per
 *    key (so a retried activity does not notify twice), delivered by a sender (Teams) later.
 *  - WorkshopProgress: PartitionKey runId, RowKey learnerId — the cohort's view of each learner (phase,
 *    state, step, since, help count), written as each report is delivered to the cohort (signalInstance)
 *    by the cohort's own rule, and by the cohort's fan-out for what it alone decides (learners ended with the run).
 */
export const CHECKPOINTS_TABLE = 'WorkshopCheckpoints';
export const PROGRESS_TABLE = 'WorkshopProgress';
export const OUTBOX_TABLE = 'WorkshopOutbox';

export function workshopTable(name: string): Promise<TablePort> {
  return appTable(name);
}

export function isStatus(err: unknown, ...codes: number[]): boolean {
  return codes.includes((err as { statusCode?: number }).statusCode ?? 0);
}

/** One row of a workshop table, or undefined when there is none (404). */
export async function readRow(tableName: string, partitionKey: string, rowKey: string): Promise<Record<string, unknown> | undefined> {
  const table = await workshopTable(tableName);
  try {
    return await table.getEntity<Record<string, unknown>>(partitionKey, rowKey);
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

/** Table property strings are capped at 32K chars; long JSON is split over numbered columns. */
const CHUNK = 30_000;
export function packJson(prefix: string, value: unknown): Record<string, string | number> {
  const text = JSON.stringify(value ?? null);
  const out: Record<string, string | number> = { [`${prefix}Parts`]: Math.max(1, Math.ceil(text.length / CHUNK)) };
  for (let i = 0; i * CHUNK < text.length || i === 0; i++) out[`${prefix}${i}`] = text.slice(i * CHUNK, (i + 1) * CHUNK);
  return out;
}
export function unpackJson<T>(prefix: string, row: Record<string, unknown>): T | undefined {
  const parts = Number(row[`${prefix}Parts`] ?? 0);
  if (!parts) return undefined;
  let text = '';
  for (let i = 0; i < parts; i++) text += String(row[`${prefix}${i}`] ?? '');
  return JSON.parse(text) as T;
}
