import { isStatus, packJson, unpackJson, readRow, workshopTable } from './workshopTables';

/**
 * A run parked overnight (issue 15 item 5), in the store rather than in the cohort's state (whose size must not
 * grow with the roster): WorkshopParking, PartitionKey runId.
 *  - RowKey `~run`: whether the run is parked (the API's 409s read it, written before the cohort is told).
 *  - RowKey learnerId: that learner's environment for the park with sequence `seq`: what was saved (the group's
 *    exported template, the runtime actions to replay), whether it was torn down, and how the restore went.
 */
export const PARKING_TABLE = 'WorkshopParking';
const RUN_ROW = '~run';

export interface RunParkRow {
  /** How many times the run was parked; the current (or last) park's number. */
  seq: number;
  state: 'parked' | 'resumed';
  parkedAt: string;
  parkedBy: string;
  resumedAt?: string;
  resumedBy?: string;
}

/** A resource's runtime state the template cannot carry (a started job): replayed after the restore. */
export interface RuntimeAction {
  resourceId: string;
  apiVersion: string;
  action: 'start' | 'pause';
}

/** An extension resource ARM's export leaves out (a role assignment, a diagnostic setting), saved on its own. */
export interface SavedExtension {
  id: string;
  type: string;
  apiVersion: string;
  properties: Record<string, unknown>;
  /** A role assignment for a managed identity of the environment: that resource's id (its principal changes when re-created). */
  principalOf?: string;
}

export interface LearnerParkRow {
  seq: number;
  /** saving: the export is stored, the group not yet deleted; parked: gone; restoring / restored: the next day. */
  state: 'saving' | 'parked' | 'restoring' | 'restored';
  /** False when the learner had no environment (or was mid-deployment: it is deployed again instead). */
  saved: boolean;
  /** Compute stopped before the delete (not stored: the result's figure). */
  paused?: number;
  /** The group existed at park time and was deleted. */
  tornDown?: boolean;
  subscriptionId?: string;
  resourceGroup?: string;
  location?: string;
  template?: Record<string, unknown>;
  actions?: RuntimeAction[];
  extensions?: SavedExtension[];
  /** Resources in the exported template, and those ARM could not export (extension resources). */
  resources?: number;
  notExported?: string[];
  parkedAt?: string;
  restoredAt?: string;
  restoreMs?: number;
  restoredResources?: number;
}

export async function readRunPark(runId: string): Promise<RunParkRow | undefined> {
  const table = await workshopTable(PARKING_TABLE);
  try {
    const r = await table.getEntity<Record<string, unknown>>(runId, RUN_ROW);
    return {
      seq: Number(r.Seq),
      state: r.State as RunParkRow['state'],
      parkedAt: String(r.ParkedAt),
      parkedBy: String(r.ParkedBy),
      ...(r.ResumedAt ? { resumedAt: String(r.ResumedAt), resumedBy: String(r.ResumedBy ?? '') } : {}),
    };
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

export async function writeRunPark(runId: string, row: RunParkRow): Promise<void> {
  const table = await workshopTable(PARKING_TABLE);
  await table.upsertEntity(
    {
      partitionKey: runId,
      rowKey: RUN_ROW,
      Seq: row.seq,
      State: row.state,
      ParkedAt: row.parkedAt,
      ParkedBy: row.parkedBy,
      ResumedAt: row.resumedAt ?? '',
      ResumedBy: row.resumedBy ?? '',
    },
    'Replace',
  );
}

function toEntity(runId: string, learnerId: string, row: LearnerParkRow): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  return {
    partitionKey: runId,
    rowKey: learnerId,
    Seq: row.seq,
    State: row.state,
    Saved: row.saved,
    TornDown: row.tornDown ?? false,
    SubscriptionId: row.subscriptionId ?? '',
    ResourceGroup: row.resourceGroup ?? '',
    Location: row.location ?? '',
    ...(row.template ? packJson('Template', row.template) : {}),
    ...(row.extensions?.length ? packJson('Extensions', row.extensions) : {}),
    Actions: JSON.stringify(row.actions ?? []),
    Resources: row.resources ?? 0,
    NotExported: JSON.stringify(row.notExported ?? []),
    ParkedAt: row.parkedAt ?? '',
    RestoredAt: row.restoredAt ?? '',
    RestoreMs: row.restoreMs ?? 0,
    RestoredResources: row.restoredResources ?? 0,
  };
}

function fromEntity(r: Record<string, unknown>): LearnerParkRow {
  const template = unpackJson<Record<string, unknown>>('Template', r);
  const extensions = unpackJson<SavedExtension[]>('Extensions', r);
  return {
    seq: Number(r.Seq),
    state: r.State as LearnerParkRow['state'],
    saved: r.Saved === true || r.Saved === 'true',
    tornDown: r.TornDown === true || r.TornDown === 'true',
    ...(r.SubscriptionId ? { subscriptionId: String(r.SubscriptionId) } : {}),
    ...(r.ResourceGroup ? { resourceGroup: String(r.ResourceGroup) } : {}),
    ...(r.Location ? { location: String(r.Location) } : {}),
    ...(template ? { template } : {}),
    actions: JSON.parse(String(r.Actions || '[]')) as RuntimeAction[],
    ...(extensions ? { extensions } : {}),
    resources: Number(r.Resources ?? 0),
    notExported: JSON.parse(String(r.NotExported || '[]')) as string[],
    ...(r.ParkedAt ? { parkedAt: String(r.ParkedAt) } : {}),
    ...(r.RestoredAt ? { restoredAt: String(r.RestoredAt) } : {}),
    ...(Number(r.RestoreMs) ? { restoreMs: Number(r.RestoreMs) } : {}),
    ...(Number(r.RestoredResources) ? { restoredResources: Number(r.RestoredResources) } : {}),
  };
}

export async function readLearnerPark(runId: string, learnerId: string): Promise<LearnerParkRow | undefined> {
  const row = await readRow(PARKING_TABLE, runId, learnerId);
  return row && fromEntity(row);
}

export async function writeLearnerPark(runId: string, learnerId: string, row: LearnerParkRow): Promise<void> {
  const table = await workshopTable(PARKING_TABLE);
  await table.upsertEntity(toEntity(runId, learnerId, row), 'Replace');
}

/** Every learner row of the run (the run row left out): for the figures and the fan-outs. */
export async function readParkRows(runId: string): Promise<Map<string, LearnerParkRow>> {
  const table = await workshopTable(PARKING_TABLE);
  const out = new Map<string, LearnerParkRow>();
  try {
    for await (const r of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${runId.replace(/'/g, "''")}'` } })) {
      if (r.rowKey !== RUN_ROW) out.set(String(r.rowKey), fromEntity(r));
    }
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
  }
  return out;
}
