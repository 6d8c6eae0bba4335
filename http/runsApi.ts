import { LearnerSubscriptions } from '../activities/subscriptionPool';
import { capacityShortfall, environmentCapacity } from './quotaCheck';
import { randomBytes } from 'node:crypto';
import { readDecisions, type DecisionRow } from '../activities/recordDecision';
import { setRunPeerReview } from './peerReviewApi';
import { parkingReport, parkRun, unparkRun } from './parkApi';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { readOutbox } from '../activities/notify';
import { forgetRun, markRunStarted, WORKSHOP_RUNS_TABLE } from '../storage/runRegistry';
import { appSettings } from '../config';
import { tableClient } from '../storage/appTables';
import { loadPackWithTemplate, packsDir, type ArmTemplateResource } from '../scenarios/packFiles';
import { cohortInstanceId, phaseInstanceId } from '../contracts/ids';
import type { Learner } from '../contracts/messages';
import type { CohortInput } from '../orchestrations/workshopTypes';
import { learnersThatFit, MAX_PAYLOAD_BYTES } from './cohortLimit';
import { forgetRoster, saveRoster } from '../storage/runRoster';
import type { RunReport } from '../orchestrations/cohortRun';
import { formatProblem, listPacks } from '../scenarios/loadPack';
import type { ScenarioPack } from '../scenarios/schema';
import { planFromPack } from '../scenarios/plan';
import { learnerToken, requireInstructor } from './apiAuth';
import { ApiError, apiLogger, param, readBody } from './apiKit';
import { requirePack } from './packs';
import { formatRosterProblem, parseRoster, RosterError, rosterFromObjects } from './roster';
import { apiKeys, commandRun, loadRun, RUN_ID, statusOf } from './workshopService';
import { HotStartOption, hotStartFor, StartsAt } from './hotStart';

/**
 * Instructor routes for a whole run:
 *   POST /api/runs                      start a run (pack + roster + instructors + options)
 *   GET  /api/runs                      the runs on this task hub
 *   GET  /api/runs/{runId}              live status: the cohort view and the learner list
 *   GET  /api/runs/{runId}/messages     the instructor's messages (help, reviews, failures, report)
 *   POST /api/runs/{runId}/pause | resume | broadcast | extend | end
 *   GET  /api/scenarios                 the scenario packs (and any that fail validation)
 */

const by = z.string().min(1).max(200).default('instructor');

export const StartRunBody = z.strictObject({
  runId: z.string().regex(RUN_ID, { message: 'a run id is 1-40 lowercase letters, digits and inner hyphens' }).optional(),
  scenario: z.string().min(1, { message: 'name the scenario pack, e.g. "lakehouse"' }),
  /** CSV or JSON text of a roster file, or the learners as objects. */
  roster: z.union([z.string().min(1, { message: 'the roster is empty' }), z.array(z.unknown()).min(1, { message: 'the roster names no learners' })]),
  /** The roster's file name, for messages ("roster.csv row 14, ..."). */
  rosterName: z.string().min(1).max(200).optional(),
  instructors: z.array(z.string().min(1).max(200)).min(1, { message: 'name at least one instructor' }).max(50),
  /** Multiplies every timebox: 1 for a real run, e.g. 0.01 for a rehearsal. */
  timeScale: z.number().positive().max(10).default(1),
  budgetUsd: z.number().positive().optional(),
  /** Journeys started per batch. */
  batchSize: z.number().int().min(1).max(100).default(10),
  /** Values for the pack's `instructor` environment parameters (e.g. hybrid's onPremGatewayIp). */
  parameters: z.record(z.string().min(1).max(100), z.unknown()).default({}),
  /** The learner subscriptions (and regions) environments are spread over; absent = LEARNER_SUBSCRIPTION_ID. */
  learnerSubscriptions: LearnerSubscriptions.optional(),
  /** Start even when the learner subscriptions' quotas cannot hold every learner's environment (checkQuotaHolds). */
  allowQuotaShortfall: z.boolean().default(false),
  /** Deploy environments ahead (true, a fraction of the roster, { fraction } or { poolSize }): http/hotStart.ts. */
  hotStart: HotStartOption.optional(),
  /** The session's start: the journeys start then, a hot-start pool its lead time before. */
  startsAt: StartsAt.optional(),
});
export type StartRunBody = z.input<typeof StartRunBody>;

export interface StartRunResponse {
  runId: string;
  instanceId: string;
  scenario: { id: string; title: string };
  timeScale: number;
  learners: Array<Learner & { token: string }>;
  statusUrl: string;
  hotStart?: import('./hotStart').HotStartSummary;
  startsAt?: string;
}

function newRunId(packId: string): string {
  return `${packId.slice(0, 20)}-${Date.now().toString(36).slice(-5)}${randomBytes(2).toString('hex')}`;
}

async function startRun(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  requireInstructor(request, apiKeys());
  const body = await readBody(request, StartRunBody);
  const loaded = await requirePack(body.scenario);
  const rosterName = body.rosterName ?? (typeof body.roster === 'string' ? 'roster' : 'roster.json');
  let roster: Learner[];
  try {
    roster = typeof body.roster === 'string' ? parseRoster(body.roster, rosterName) : rosterFromObjects(body.roster, rosterName);
  } catch (err) {
    if (err instanceof RosterError) {
      throw new ApiError(400, `The roster has problems:\n${err.message}`, { problems: err.problems.map((p) => formatRosterProblem(err.file, p)) });
    }
    throw err;
  }
  const environmentParameters = runParameters(loaded.pack, body.parameters);
  const environmentWrites = await templateWrites(loaded.pack.id);
  const plan = {
    ...planFromPack(loaded.pack, { timeScale: body.timeScale, ...(body.learnerSubscriptions ? { learnerSubscriptions: body.learnerSubscriptions } : {}) }),
    ...(Object.keys(environmentParameters).length ? { environmentParameters } : {}),
    ...(environmentWrites ? { environmentWrites } : {}),
  };
  checkCohortFits(roster, plan);
  await checkQuotaHolds(body, loaded.pack.id, roster.length, environmentParameters);
  const hot = await hotStartFor(body, loaded.pack, plan, roster.length);
  const runId = body.runId ?? newRunId(loaded.pack.id);
  checkInstanceIds(runId, roster);
  const instanceId = cohortInstanceId(runId);
  const client = df.getClient(context);
  if (await statusOf(client, instanceId)) throw new ApiError(409, `Run "${runId}" already exists; choose another run id (or leave it out to get a fresh one).`);
  const input: CohortInput = { runId, plan, learners: roster.length, instructors: body.instructors, batchSize: body.batchSize, ...(body.budgetUsd ? { budgetUsd: body.budgetUsd } : {}), ...hot.input };
  await markRunStarted({ runId, packId: loaded.pack.id, ...(body.budgetUsd ? { budgetUsd: body.budgetUsd } : {}) });
  try {
    // The roster goes to the store, not into the cohort's input (which stays the same size for any roster).
    await saveRoster(runId, roster);
    await client.startNew('cohortRun', { instanceId, input });
  } catch (err) {
    // The run did not start: its registry row and roster must not outlive the refusal.
    await forgetRun(runId).catch((e: unknown) => apiLogger().warn({ err: e, runId }, 'could not remove the registry row of a run that did not start'));
    await forgetRoster(runId).catch((e: unknown) => apiLogger().warn({ err: e, runId }, 'could not remove the roster of a run that did not start'));
    const message = (err as Error).message;
    if (/\b409\b/.test(message)) throw new ApiError(409, `Run "${runId}" already exists; choose another run id.`);
    if (/\b413\b/.test(message)) throw new ApiError(413, `The run's input is too large for the task hub (${roster.length} learners); split the cohort into smaller runs.`);
    throw err;
  }
  apiLogger().info({ runId, instanceId, packId: loaded.pack.id, learners: roster.length, timeScale: body.timeScale }, 'run started');
  const { learnerKey } = apiKeys();
  const response: StartRunResponse = {
    runId,
    instanceId,
    scenario: { id: loaded.pack.id, title: loaded.pack.title },
    timeScale: body.timeScale,
    learners: roster.map((l) => ({ ...l, token: learnerToken(learnerKey!, runId, l.learnerId) })),
    statusUrl: new URL(`/api/runs/${runId}`, request.url).href,
    ...hot.response,
  };
  return { status: 202, jsonBody: response, headers: { Location: response.statusUrl } };
}

/**
 * ARM writes one deployment of the pack costs: the group, the deployment and every resource the
 * template declares (copy loops by their count). The cohort's provisioning scheduler spends the
 * subscription's write budget by it, so a one-account drill is not paced like a lakehouse.
 */
async function templateWrites(packId: string): Promise<number | undefined> {
  const { template } = await loadPackWithTemplate(packId).catch(() => ({ template: undefined }));
  if (!template) return undefined;
  const list = Array.isArray(template.resources) ? template.resources : Object.values(template.resources ?? {});
  let writes = 2;
  const visit = (resources: ArmTemplateResource[] | undefined): void => {
    for (const r of resources ?? []) {
      const count = (r.copy as { count?: unknown } | undefined)?.count;
      writes += typeof count === 'number' ? count : 1;
      visit(r.resources);
    }
  };
  visit(list);
  return writes;
}

/** Refuses (422) a run whose learners' environments the subscriptions' quotas cannot hold now, unless told to start anyway. */
async function checkQuotaHolds(body: z.infer<typeof StartRunBody>, packId: string, learners: number, runParameters: Record<string, unknown>): Promise<void> {
  const log = apiLogger();
  const verdict = await environmentCapacity({ packId, learners, runParameters, ...(body.learnerSubscriptions ? { subscriptions: body.learnerSubscriptions } : {}), log });
  const shortfall = verdict && capacityShortfall(verdict);
  if (!shortfall) return;
  if (body.allowQuotaShortfall) {
    log.warn({ packId, learners, fits: verdict.fits, places: verdict.places }, 'run started past its quota (allowQuotaShortfall)');
    return;
  }
  throw new ApiError(422, shortfall, { capacity: { fits: verdict.fits, learners, places: verdict.places, unread: verdict.unread } });
}

export function checkCohortFits(roster: Learner[], plan: CohortInput['plan']): void {
  const fit = learnersThatFit(roster, plan);
  if (fit >= roster.length) return;
  throw new ApiError(
    413,
    `A run of ${roster.length} learners could outgrow the cohort orchestration's state (with every learner waiting for a deployment at once, its input must fit ${MAX_PAYLOAD_BYTES.toLocaleString('en')} bytes); ` +
      `with this pack and roster at most ${fit} learners fit in one run. Split the roster into runs of at most ${fit} learners.`,
    { maxLearners: fit },
  );
}

/**
 * The Durable Task Scheduler takes instance ids of at most 100 characters; a run's longest is a phase's,
 * `run-<run>-learner-<learner>-implementation-<attempt>`. Refused up front on that backend, naming the
 * learner, instead of failing when that learner reaches Implementation.
 */
const DTS_MAX_INSTANCE_ID = 100;
export function checkInstanceIds(runId: string, roster: Learner[], settings = appSettings()): void {
  if (settings.AzureFunctionsJobHost__extensions__durableTask__storageProvider__type !== 'azureManaged') return;
  const tooLong = roster.filter((l) => phaseInstanceId(runId, l.learnerId, 'implementation', 99).length > DTS_MAX_INSTANCE_ID);
  if (!tooLong.length) return;
  const room = DTS_MAX_INSTANCE_ID - phaseInstanceId(runId, '', 'implementation', 99).length;
  throw new ApiError(
    400,
    `On the Durable Task Scheduler instance ids are at most ${DTS_MAX_INSTANCE_ID} characters; with run id "${runId}" learner ids may have ${Math.max(0, room)}, ` +
      `but ${tooLong.map((l) => `"${l.learnerId}"`).slice(0, 5).join(', ')}${tooLong.length > 5 ? ` and ${tooLong.length - 5} more` : ''} are longer. Use a shorter run id or give those learners shorter ids (the roster's learnerId column).`,
    { learnerIdChars: Math.max(0, room) },
  );
}

function fits(type: string, v: unknown): boolean {
  if (type === 'string' || type === 'securestring') return typeof v === 'string';
  if (type === 'int') return Number.isInteger(v);
  if (type === 'bool') return typeof v === 'boolean';
  if (type === 'array') return Array.isArray(v);
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The run's values for the pack's instructor parameters: only those, of their type, none missing. */
export function runParameters(pack: ScenarioPack, given: Record<string, unknown>): Record<string, unknown> {
  const declared = Object.entries(pack.environment.parameters).filter(([, p]) => p.source === 'instructor');
  const problems: string[] = [];
  for (const [name, value] of Object.entries(given)) {
    const p = pack.environment.parameters[name];
    if (!p || p.source !== 'instructor') {
      problems.push(`parameters.${name}: "${pack.id}" takes no instructor parameter "${name}"; it takes ${declared.map(([n]) => n).join(', ') || 'none'}`);
    } else if (!fits(p.type, value)) {
      problems.push(`parameters.${name}: expected a ${p.type}, got ${JSON.stringify(value)}`);
    }
  }
  for (const [name, p] of declared) {
    if (given[name] === undefined && p.default === undefined) problems.push(`parameters.${name}: "${pack.id}" needs it (${p.description})`);
  }
  if (problems.length) throw new ApiError(400, `The run's parameters do not fit scenario "${pack.id}": ${problems.join('; ')}.`, { problems });
  return given;
}

async function listRuns(request: HttpRequest): Promise<HttpResponseInit> {
  requireInstructor(request, apiKeys());
  // The WorkshopRuns table (one row per run) rather than a scan of every instance on the task hub.
  const table = tableClient(WORKSHOP_RUNS_TABLE);
  const runs: Array<Record<string, unknown>> = [];
  try {
    for await (const row of table.listEntities<Record<string, unknown>>()) {
      runs.push({ runId: row.partitionKey, status: row.status, packId: row.packId, startedAt: row.startedAt, endedAt: row.endedAt ?? null });
    }
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err; // no table yet: no runs
  }
  runs.sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt)));
  return { status: 200, jsonBody: { runs } };
}

export interface RunStatusResponse {
  runId: string;
  instanceId: string;
  runtimeStatus: string;
  scenario: { id: string; title: string };
  view: import('../orchestrations/cohortRun').CohortView | null;
  learners: Array<Learner & { phase: string; state: string; stepId: string | null; since: string | null; attempt: number | null; helpCount: number }>;
  /** The cohort's report once the run is over, with the instructor's decisions on disputes and answers (overrides included). */
  report: (RunReport & { decisions: DecisionRow[] }) | null;
  createdTime: string;
  lastUpdatedTime: string;
}

async function runStatus(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  requireInstructor(request, apiKeys());
  const runId = param(request, 'runId', RUN_ID, 'a run id');
  const run = await loadRun(df.getClient(context), runId);
  const progress = run.view?.progress ?? {};
  const body: RunStatusResponse = {
    runId,
    instanceId: run.instanceId,
    runtimeStatus: run.runtimeStatus,
    scenario: { id: run.input.plan.packId, title: run.input.plan.title },
    view: run.view,
    learners: run.input.roster.map((l) => {
      const p = progress[l.learnerId];
      return { ...l, phase: p?.phase ?? 'requirements', state: p?.state ?? 'starting', stepId: p?.stepId ?? null, since: p?.since ?? null, attempt: p?.attempt ?? null, helpCount: p?.helpCount ?? 0 };
    }),
    report: run.runtimeStatus === 'Completed' && run.status.output ? { ...(run.status.output as RunReport), decisions: await readDecisions(runId) } : null,
    createdTime: String(run.status.createdTime),
    lastUpdatedTime: String(run.status.lastUpdatedTime),
  };
  return { status: 200, jsonBody: body };
}

const BroadcastBody = z.strictObject({ message: z.string().min(1).max(2000), by, key: z.string().min(1).max(100).optional() });
const ExtendBody = z.strictObject({ minutes: z.number().positive().max(600), by });
const EndBody = z.strictObject({ reason: z.string().min(1).max(500).default('ended by the instructor'), by });
const PauseBody = z.strictObject({ by });

/** POST /api/runs/{runId}/{action}; GET /api/runs/{runId}/messages */
async function runAction(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  requireInstructor(request, apiKeys());
  const runId = param(request, 'runId', RUN_ID, 'a run id');
  const action = request.params.action;
  const client = df.getClient(context);
  const run = await loadRun(client, runId);
  if (request.method === 'GET') {
    if (action === 'parking') return parkingReport(run);
    if (action !== 'messages') throw new ApiError(404, `GET /api/runs/${runId}/${action} does not exist; GET .../messages lists the instructor's messages (.../parking: the overnight park).`);
    const after = request.query.get('after') ?? '';
    const kind = request.query.get('kind');
    const messages = (await readOutbox(runId, { role: 'instructor' })).filter((m) => m.createdAt > after && (!kind || m.kind === kind));
    return { status: 200, jsonBody: { runId, messages } };
  }
  switch (action) {
    case 'pause':
    case 'resume': {
      const body = await readBody(request, PauseBody);
      await commandRun(client, run, { type: action, by: body.by });
      return { status: 202, jsonBody: { runId, accepted: action, message: `${action === 'pause' ? 'Pausing' : 'Resuming'} every unfinished learner of run "${runId}".` } };
    }
    case 'broadcast': {
      const body = await readBody(request, BroadcastBody);
      const key = body.key ?? `broadcast-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
      await commandRun(client, run, { type: 'broadcast', by: body.by, message: body.message, key });
      return { status: 202, jsonBody: { runId, accepted: 'broadcast', key, learners: run.input.roster.length } };
    }
    case 'extend': {
      const body = await readBody(request, ExtendBody);
      await commandRun(client, run, { type: 'extend', by: body.by, minutes: body.minutes });
      return { status: 202, jsonBody: { runId, accepted: 'extend', minutes: body.minutes } };
    }
    case 'end': {
      const body = await readBody(request, EndBody);
      await commandRun(client, run, { type: 'end', by: body.by, reason: body.reason });
      return { status: 202, jsonBody: { runId, accepted: 'end', reason: body.reason } };
    }
    case 'peer-review':
      return setRunPeerReview(request, run);
    case 'park':
      return parkRun(request, client, run);
    case 'unpark':
      return unparkRun(request, client, run);
    default:
      throw new ApiError(404, `There is no run action "${action}". Actions: pause, resume, broadcast, extend, end, peer-review, park, unpark (POST) and messages, parking (GET).`);
  }
}

async function scenarios(request: HttpRequest): Promise<HttpResponseInit> {
  requireInstructor(request, apiKeys());
  const { packs, failures } = await listPacks(packsDir());
  return {
    status: 200,
    jsonBody: {
      scenarios: packs.map((p) => ({ id: p.pack.id, title: p.pack.title, durationHours: p.pack.durationHours, complexity: p.pack.complexity, serviceCount: p.pack.serviceCount })),
      problems: failures.map((f) => ({ file: f.file, problems: f.problems.map(formatProblem) })),
    },
  };
}

export const runsHandlers = {
  runs: (request: HttpRequest, context: InvocationContext) => (request.method === 'POST' ? startRun(request, context) : listRuns(request)),
  runStatus,
  runAction,
  scenarios,
};
