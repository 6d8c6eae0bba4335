import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { readParkRows, readRunPark, writeRunPark, type RunParkRow } from '../storage/parkTable';
import { ApiError, apiLogger, readBody } from './apiKit';
import { commandRun, requireRunning, type Client, type Run } from './workshopService';

/**
 * Park a run for the night and resume it in the morning (issue 15 item 5; orchestrations/parking.ts):
 *   POST /api/runs/{run}/park   {by?}   every unfinished learner holds at their step (timeboxes stop), each
 *                                       environment is saved (ARM export template) and torn down: cost stops
 *   POST /api/runs/{run}/unpark {by?}   environments restored through the provisioning scheduler; learners continue
 *   GET  /api/runs/{run}/parking        the park's state and figures: environments saved, torn down, restored
 * Whether the run is parked is the WorkshopParking `~run` row, written before the cohort is told, so a second
 * park (or an unpark of a run that is not parked) is refused at once with what to do.
 */
const ParkBody = z.strictObject({ by: z.string().min(1).max(200).default('instructor') });

export async function parkRun(request: HttpRequest, client: Client, run: Run): Promise<HttpResponseInit> {
  const body = await readBody(request, ParkBody);
  requireRunning(run, 'parking');
  const { runId } = run;
  if (run.view?.ended) throw new ApiError(409, `Run "${runId}" has ended (${run.view.endReason ?? 'ended'}); there is nothing to park. Nothing was changed.`);
  if (run.view?.paused) throw new ApiError(409, `Run "${runId}" is paused; resume it first (POST /api/runs/${runId}/resume), then park it. Nothing was changed.`);
  const before = await readRunPark(runId);
  if (before?.state === 'parked') {
    throw new ApiError(409, `Run "${runId}" is already parked (since ${before.parkedAt}, by ${before.parkedBy}); resume it with POST /api/runs/${runId}/unpark. Nothing was changed.`, { parking: before });
  }
  const row: RunParkRow = { seq: (before?.seq ?? 0) + 1, state: 'parked', parkedAt: new Date().toISOString(), parkedBy: body.by };
  await writeRunPark(runId, row);
  try {
    await commandRun(client, run, { type: 'park', by: body.by, seq: row.seq });
  } catch (err) {
    // The cohort was not told: the row must not say parked.
    if (before) await writeRunPark(runId, before);
    else await writeRunPark(runId, { ...row, state: 'resumed', resumedAt: row.parkedAt, resumedBy: 'nobody (the park was refused)' });
    throw err;
  }
  apiLogger().info({ runId, seq: row.seq, by: body.by }, 'run parked');
  return {
    status: 202,
    jsonBody: { runId, accepted: 'park', seq: row.seq, message: `Parking run "${runId}": every unfinished learner holds at their step and their environment is saved and torn down. Resume with POST /api/runs/${runId}/unpark.` },
  };
}

export async function unparkRun(request: HttpRequest, client: Client, run: Run): Promise<HttpResponseInit> {
  const body = await readBody(request, ParkBody);
  requireRunning(run, 'resuming a parked run');
  const { runId } = run;
  const before = await readRunPark(runId);
  if (before?.state !== 'parked') {
    throw new ApiError(409, `Run "${runId}" is not parked${before ? ` (it was resumed at ${before.resumedAt} by ${before.resumedBy})` : ''}; park it first with POST /api/runs/${runId}/park. Nothing was changed.`);
  }
  const row: RunParkRow = { ...before, state: 'resumed', resumedAt: new Date().toISOString(), resumedBy: body.by };
  await writeRunPark(runId, row);
  try {
    await commandRun(client, run, { type: 'unpark', by: body.by, seq: row.seq });
  } catch (err) {
    await writeRunPark(runId, before);
    throw err;
  }
  apiLogger().info({ runId, seq: row.seq, by: body.by }, 'run unparked');
  return { status: 202, jsonBody: { runId, accepted: 'unpark', seq: row.seq, message: `Resuming run "${runId}": environments are restored through the deployment scheduler and every learner continues at their step.` } };
}

export interface ParkingReport {
  runId: string;
  parking: RunParkRow | null;
  /** For the current (or last) park. */
  environments: { saved: number; tornDown: number; parked: number; restoring: number; restored: number; resourcesSaved: number; restoreMsMax: number; restoreMsTotal: number; notExported: number };
  learners: Array<{ learnerId: string; state: string; saved: boolean; resources: number; restoreMs: number | null; notExported: string[] }>;
}

export async function parkingReport(run: Run): Promise<HttpResponseInit> {
  const [parking, rows] = await Promise.all([readRunPark(run.runId), readParkRows(run.runId)]);
  const current = [...rows].filter(([, r]) => r.seq === parking?.seq);
  const env: ParkingReport['environments'] = { saved: 0, tornDown: 0, parked: 0, restoring: 0, restored: 0, resourcesSaved: 0, restoreMsMax: 0, restoreMsTotal: 0, notExported: 0 };
  for (const [, r] of current) {
    if (r.saved) env.saved++;
    if (r.tornDown) env.tornDown++;
    if (r.state === 'parked') env.parked++;
    if (r.state === 'restoring') env.restoring++;
    if (r.state === 'restored') env.restored++;
    env.resourcesSaved += r.resources ?? 0;
    env.restoreMsMax = Math.max(env.restoreMsMax, r.restoreMs ?? 0);
    env.restoreMsTotal += r.restoreMs ?? 0;
    env.notExported += r.notExported?.length ?? 0;
  }
  const body: ParkingReport = {
    runId: run.runId,
    parking: parking ?? null,
    environments: env,
    // A learner with nothing saved has nothing to restore: resumed with the run.
    learners: current.map(([learnerId, r]) => ({ learnerId, state: !r.saved && r.state === 'parked' && parking?.state === 'resumed' ? 'resumed' : r.state, saved: r.saved, resources: r.resources ?? 0, restoreMs: r.restoreMs ?? null, notExported: r.notExported ?? [] })),
  };
  return { status: 200, jsonBody: body };
}

/** Learner events while the run is parked are refused: nothing would happen until the morning. */
export async function refuseWhileParked(runId: string, action: string): Promise<void> {
  const park = await readRunPark(runId);
  if (park?.state !== 'parked') return;
  throw new ApiError(409, `Run "${runId}" is parked for the night (since ${park.parkedAt}); your progress and environment are saved. "${action}" is possible again once the instructor resumes the run. Nothing was changed.`, { parked: park });
}
