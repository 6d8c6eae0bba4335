import { z } from 'zod';
import { defineActivity } from './activity';
import { CHECKPOINTS_TABLE, isStatus, packJson, unpackJson, workshopTable } from '../storage/workshopTables';

/**
 * Write a learner's checkpoint: the journey machine snapshot with the completed phases' results,
 * and the running phase's snapshot. `version` is monotonic per learner (the orchestration counts
 * transitions), so a late retry of an older checkpoint never overwrites a newer one.
 */
export const RecordCheckpointInput = z.object({
  runId: z.string().min(1),
  learnerId: z.string().min(1),
  version: z.number().int().nonnegative(),
  scope: z.enum(['journey', 'phase']),
  journey: z.unknown().optional(),
  phase: z
    .object({
      name: z.string(),
      attempt: z.number().int().positive(),
      instanceId: z.string(),
      snapshot: z.unknown(),
    })
    .optional(),
  summary: z.record(z.string(), z.unknown()).default({}),
});
export type RecordCheckpointInput = z.infer<typeof RecordCheckpointInput>;

export interface Checkpoint {
  runId: string;
  learnerId: string;
  journeyVersion: number;
  phaseVersion: number;
  journey?: unknown;
  phase?: RecordCheckpointInput['phase'];
  summary: Record<string, unknown>;
  updatedAt: string;
}

export const recordCheckpoint = defineActivity(RecordCheckpointInput, async function recordCheckpoint(input): Promise<{ written: boolean }> {
  const table = await workshopTable(CHECKPOINTS_TABLE);
  const versionColumn = input.scope === 'journey' ? 'JourneyVersion' : 'PhaseVersion';
  // Every phase instance counts its versions from 0, so a phase checkpoint is ordered first by the
  // phase and its attempt (a later phase, or a new attempt, supersedes the one before) and only then
  // by version within the instance.
  const order = input.scope === 'phase' && input.phase ? phaseOrder(input.phase.name, input.phase.attempt) : undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    let existing: Record<string, unknown> | undefined;
    try {
      existing = await table.getEntity<Record<string, unknown>>(input.runId, input.learnerId);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    if (existing && isStale(existing, versionColumn, input.version, order)) return { written: false };
    const entity = {
      partitionKey: input.runId,
      rowKey: input.learnerId,
      [versionColumn]: input.version,
      ...(order !== undefined ? { PhaseOrder: order } : {}),
      UpdatedAt: new Date().toISOString(),
      ...(input.scope === 'journey' ? packJson('Journey', input.journey) : packJson('Phase', input.phase)),
      ...packJson(input.scope === 'journey' ? 'JourneySummary' : 'PhaseSummary', input.summary),
    };
    try {
      if (existing) await table.updateEntity(entity, 'Merge', { etag: existing.etag as string });
      else await table.createEntity(entity);
      return { written: true };
    } catch (err) {
      if (!isStatus(err, 409, 412)) throw err; // someone wrote in between: re-read and compare versions
    }
  }
  throw new Error(`Checkpoint for learner ${input.learnerId} in run ${input.runId} kept conflicting; retry.`);
});

const PHASE_INDEX: Record<string, number> = { requirements: 0, design: 1, implementation: 2, validation: 3 };

function phaseOrder(name: string, attempt: number): number {
  return (PHASE_INDEX[name] ?? 0) * 1_000_000 + attempt;
}

function isStale(existing: Record<string, unknown>, versionColumn: string, version: number, order: number | undefined): boolean {
  const storedVersion = Number(existing[versionColumn] ?? -1);
  if (order === undefined) return storedVersion >= version;
  const storedOrder = Number(existing.PhaseOrder ?? -1);
  return storedOrder > order || (storedOrder === order && storedVersion >= version);
}

export async function readCheckpoint(runId: string, learnerId: string): Promise<Checkpoint | undefined> {
  const table = await workshopTable(CHECKPOINTS_TABLE);
  try {
    const row = await table.getEntity<Record<string, unknown>>(runId, learnerId);
    return toCheckpoint(row);
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

export async function readCheckpoints(runId: string): Promise<Checkpoint[]> {
  const table = await workshopTable(CHECKPOINTS_TABLE);
  const out: Checkpoint[] = [];
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${runId.replace(/'/g, "''")}'` } })) {
    out.push(toCheckpoint(row));
  }
  return out;
}

function toCheckpoint(row: Record<string, unknown>): Checkpoint {
  return {
    runId: row.partitionKey as string,
    learnerId: row.rowKey as string,
    journeyVersion: Number(row.JourneyVersion ?? -1),
    phaseVersion: Number(row.PhaseVersion ?? -1),
    journey: unpackJson('Journey', row),
    phase: unpackJson('Phase', row),
    summary: { ...(unpackJson<Record<string, unknown>>('JourneySummary', row) ?? {}), ...(unpackJson<Record<string, unknown>>('PhaseSummary', row) ?? {}) },
    updatedAt: row.UpdatedAt as string,
  };
}
