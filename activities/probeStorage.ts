import { z } from 'zod';
import { defineActivity } from './activity';
import { tableClient } from '../storage/appTables';

export const ProbeStorageInput = z.object({ key: z.string().min(1).max(200) });
export type ProbeStorageInput = z.infer<typeof ProbeStorageInput>;
export interface ProbeStorageResult {
  table: string;
  wrote: string;
  readBack: string;
  ok: boolean;
}

const TABLE = 'HostSelfCheck';

/**
 * Write a row to the app's Table storage and read it back: proves the app can reach its state store
 * with its own identity. Idempotent: the row is keyed by the caller's key and overwritten on retry.
 */
export const probeStorage = defineActivity(ProbeStorageInput, async function probeStorage(input): Promise<ProbeStorageResult> {
  const client = tableClient(TABLE);
  await client.createTable();
  const wrote = `probe:${input.key}`;
  await client.upsertEntity({ partitionKey: 'probe', rowKey: input.key, value: wrote }, 'Replace');
  const row = await client.getEntity<{ value: string }>('probe', input.key);
  return { table: TABLE, wrote, readBack: row.value, ok: row.value === wrote };
});
