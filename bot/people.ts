import { WORKSHOP_RUNS_TABLE } from '../storage/runRegistry';
import { isStatus } from '../storage/workshopTables';
import { tableClient } from '../storage/appTables';
import { loadRun, type Client } from '../http/workshopService';
import type { Learner } from '../contracts/messages';
import type { RunInput } from '../orchestrations/workshopTypes';
import type { TeamsUser } from './conversations';

/**
 * Who a Teams user is in the workshop. Instructors of a run are the Teams users its `instructors`
 * list names — by AAD object id or by UPN (case-insensitive). A learner is the roster entry whose
 * email is the user's UPN. A run's roster and instructors never change, so a run's input is read
 * from its cohort instance once per process.
 */
export interface RunInfo {
  runId: string;
  input: RunInput;
  startedAt: string;
}

const inputs = new Map<string, RunInput>();

export async function runInput(client: Client, runId: string): Promise<RunInput> {
  const cached = inputs.get(runId);
  if (cached) return cached;
  const run = await loadRun(client, runId);
  inputs.set(runId, run.input);
  return run.input;
}

/** Runs that are on (WorkshopRuns rows with status `running`), newest first. */
export async function activeRuns(client: Client): Promise<RunInfo[]> {
  const table = tableClient(WORKSHOP_RUNS_TABLE);
  const rows: Array<{ runId: string; startedAt: string }> = [];
  try {
    for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `status eq 'running'` } })) {
      rows.push({ runId: row.partitionKey as string, startedAt: String(row.startedAt ?? '') });
    }
  } catch (err) {
    if (!isStatus(err, 404)) throw err; // no table yet: no runs
  }
  rows.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  const out: RunInfo[] = [];
  for (const r of rows) {
    try {
      out.push({ ...r, input: await runInput(client, r.runId) });
    } catch {
      // A registry row whose instance is gone (purged) is not a run anyone can act on.
    }
  }
  return out;
}

const norm = (s: string | undefined): string => (s ?? '').trim().toLowerCase();

export function namesUser(list: readonly string[], user: Pick<TeamsUser, 'aadObjectId' | 'upn'>): boolean {
  const ids = new Set([norm(user.aadObjectId), norm(user.upn)].filter(Boolean));
  return list.some((entry) => ids.has(norm(entry)));
}

export function isInstructor(input: RunInput, user: Pick<TeamsUser, 'aadObjectId' | 'upn'>): boolean {
  return namesUser(input.instructors, user);
}

export function learnerIn(input: RunInput, user: Pick<TeamsUser, 'upn'>): Learner | undefined {
  const upn = norm(user.upn);
  if (!upn) return undefined;
  return input.roster.find((l) => norm(l.email) === upn);
}

export function learnerName(input: RunInput, learnerId: string): string {
  return input.roster.find((l) => l.learnerId === learnerId)?.name ?? learnerId;
}

/** Forget cached inputs (tests that restart with a fresh store). */
export function forgetRuns(): void {
  inputs.clear();
}
