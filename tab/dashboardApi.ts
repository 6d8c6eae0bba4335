import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { armClients, armSettings } from '../azure/armClients';
import { costVerdict, environmentFromTags, type EnvironmentCost } from '../azure/costGuard';
import { TAGS } from '../azure/environmentNames';
import { readCheckpoints, type Checkpoint } from '../activities/recordCheckpoint';
import { readDecisions, type DecisionRow } from '../activities/recordDecision';
import type { RunReport } from '../orchestrations/cohortView';
import { getRun } from '../storage/runRegistry';
import { appSettings } from '../config';
import { requireInstructor } from '../http/apiAuth';
import { param } from '../http/apiKit';
import { requirePack } from '../http/packs';
import { journeyPosition, phasePosition } from '../http/position';
import { apiKeys, loadRun, RUN_ID, type Run } from '../http/workshopService';
import type { PersistedPhaseSnapshot, PhaseName } from '../machines/phaseMachine';
import type { ScenarioPack, Step } from '../scenarios/schema';
import { answerItem, disputeItem, failureItem, peerReviewsOf, reportOf } from './decisionQueues';
import { deltaOf, ReadModelVersions, versionOf } from './dashboardDelta';
import type { DashboardAnswerItem, DashboardCell, DashboardCost, DashboardDisputeItem, DashboardHotStart, DashboardLearner, DashboardQueueItem, DashboardReviewItem, DashboardRun, PhaseId } from './dashboardTypes';

/**
 * GET /api/dashboard/runs/{runId} (instructor key): the dashboard's read model of one run, built from
 * what the workshop already keeps — the cohort instance's custom status (learner states, queues,
 * provisioning), the learners' checkpoints (where in the phase, timebox, validation runs, review
 * round, deliverables) and the learner environments' cost tags in Resource Manager — so a page
 * refresh is one request. Read-only: actions go to the workshop API itself.
 *
 * Answers carry an ETag of their content (without `serverTime`); a poll with If-None-Match gets
 * 304 and no body while nothing changed. A poll with `?since=<the ETag it holds>` gets only the
 * learners that changed since that answer when this process remembers it (dashboardDelta.ts), else
 * the full answer.
 */
const PHASES: readonly PhaseId[] = ['requirements', 'design', 'implementation', 'validation'];
const PHASE_TITLES: Record<PhaseId, string> = {
  requirements: 'Requirements Analysis',
  design: 'Architecture Design',
  implementation: 'Implementation',
  validation: 'Validation & Testing',
};
/** Resource Manager is asked about a run's environments at most this often (per process). */
const COST_TTL_MS = 15_000;
const COST_TIMEOUT_MS = 8_000;

export async function dashboardRun(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  requireInstructor(request, apiKeys());
  const runId = param(request, 'runId', RUN_ID, 'a run id');
  const body = await readModel(runId, () => df.getClient(context));
  const version = versionOf(body);
  versions.remember(runId, version);
  const headers = { ETag: version.etag, 'Cache-Control': 'no-cache', Vary: 'x-api-key' };
  if (request.headers.get('if-none-match') === version.etag) return { status: 304, headers };
  const since = request.query.get('since');
  const base = since ? versions.find(runId, since) : undefined;
  return { status: 200, jsonBody: base ? deltaOf(body, version, base) : body, headers };
}

const versions = new ReadModelVersions();

/**
 * One build of a run's read model serves every poll of that run for SHARE_MS. Building it reads every
 * learner's checkpoint and progress row: at 1,000 learners about 120–500 ms of this process's time on a
 * loaded 2-core machine (tests/browser/dashboardScale.test.ts prints it). With a room's worth of
 * instructors and assistants each polling every 2 s, that cost is paid once per SHARE_MS, not per page;
 * an answer is then at most SHARE_MS older than the store, next to the page's own 2 s poll.
 */
const SHARE_MS = 1_500;
const KEEP_SHARED = 50;
const shared = new Map<string, { at: number; value: Promise<DashboardRun> }>();

function readModel(runId: string, client: () => ReturnType<typeof df.getClient>): Promise<DashboardRun> {
  const hit = shared.get(runId);
  if (hit && Date.now() - hit.at < SHARE_MS) return hit.value;
  const value = (async () => {
    const run = await loadRun(client(), runId);
    const [checkpoints, pack, decisions] = await Promise.all([readCheckpoints(runId), requirePack(run.input.plan.packId).then((p) => p.pack).catch(() => undefined), readDecisions(runId)]);
    return buildDashboard(run, checkpoints, pack, await runCost(run, pack), new Date(), decisions);
  })();
  shared.delete(runId);
  shared.set(runId, { at: Date.now(), value });
  if (shared.size > KEEP_SHARED) shared.delete(shared.keys().next().value!);
  // A failure is shared only with the polls that were already waiting for it: the next one tries again.
  value.catch(() => shared.get(runId)?.value === value && shared.delete(runId));
  return value;
}

/** Pure: the read model from the run's status, its checkpoints and the pack (for titles). */
export function buildDashboard(run: Run, checkpoints: readonly Checkpoint[], pack: ScenarioPack | undefined, cost: DashboardCost, now = new Date(), decisions: readonly DecisionRow[] = []): DashboardRun {
  const view = run.view;
  const byLearner = new Map(checkpoints.map((c) => [c.learnerId, c]));
  const stepInfo = new Map<string, { title: string; phase: string }>();
  const steps = new Map<string, Step>();
  for (const phase of pack?.phases ?? []) for (const s of phase.steps) (stepInfo.set(s.id, { title: s.title, phase: phase.id }), steps.set(s.id, s));
  const phaseTitles = new Map((pack?.phases ?? []).map((p) => [p.id, p.title] as const));
  const learners = run.input.roster.map((l) => learnerRow(run, l, byLearner.get(l.learnerId), stepInfo));
  const names = new Map(learners.map((l) => [l.learnerId, l.name] as const));
  const named = (id: string) => names.get(id) ?? id;
  const final = run.runtimeStatus === 'Completed' && run.status.output ? (run.status.output as RunReport) : null;
  return {
    runId: run.runId,
    instanceId: run.instanceId,
    runtimeStatus: run.runtimeStatus,
    scenario: { id: run.input.plan.packId, title: run.input.plan.title },
    phases: PHASES.map((id) => ({ id, title: phaseTitles.get(id) ?? PHASE_TITLES[id] })),
    startedAt: view?.startedAt ?? null,
    paused: view?.paused ?? false,
    ended: view?.ended ?? false,
    endReason: view?.endReason ?? null,
    learners,
    counts: { learners: run.input.roster.length, started: view?.started ?? 0, finished: view?.finished ?? 0 },
    ...queuesOf(run.runId, view, learners, byLearner, stepInfo, steps),
    report: reportOf(decisions, named, steps, final),
    provisioning: view?.provisioning ?? null,
    ...hotStartOf(view),
    cost,
    serverTime: now.toISOString(),
  };
}

/** The pool's counts for the dashboard's hot-start panel (the per-environment list stays in the API's view). */
function hotStartOf(view: Run['view']): { hotStart?: DashboardHotStart } {
  const hs = view?.hotStart;
  if (!hs) return {};
  const { environments: _list, stepId: _step, ...counts } = hs;
  return { hotStart: counts };
}

type StepInfo = ReadonlyMap<string, { title: string; phase: string }>;
type RosterEntry = Run['input']['roster'][number];

/** One learner's row: where they are (checkpoint first, the cohort's view as fallback), their step, timebox and checks. */
function learnerRow(run: Run, l: RosterEntry, checkpoint: Checkpoint | undefined, stepInfo: StepInfo): DashboardLearner {
  const progress = run.view?.progress[l.learnerId];
  const { position, journey } = positionsOf(run.runId, checkpoint);
  const snapshot = checkpoint?.phase?.snapshot as PersistedPhaseSnapshot | undefined;
  const ctx = snapshot?.context;
  const phase = (progress?.phase ?? position?.phase ?? 'requirements') as PhaseId;
  // The checkpoint is where the learner is now; the cohort's view can be a moment behind it.
  const samePhase = position && position.phase === phase;
  const stepId = (samePhase ? position.stepId : null) ?? progress?.stepId ?? null;
  const stepDef = stepId ? run.input.plan.phases[phase as PhaseName]?.steps.find((s) => s.id === stepId) : undefined;
  const timebox = ctx?.timebox && ctx.timebox.stepId === stepId && (ctx.timebox.warnId !== null || ctx.timebox.expireId !== null) ? ctx.timebox : null;
  const validations = stepId && stepDef?.kind === 'validate' ? (ctx?.validations[stepId] ?? []) : [];
  const failed = validations.filter((v) => !v.passed);
  const last = validations.at(-1);
  const failure = samePhase && position.failure ? position.failure : null;
  return {
    learnerId: l.learnerId,
    name: l.name,
    ...(l.email ? { email: l.email } : {}),
    phase,
    state: progress?.state ?? 'starting',
    phaseState: samePhase ? position.state : null,
    stepId,
    stepTitle: stepId ? (stepInfo.get(stepId)?.title ?? stepId) : null,
    stepKind: stepDef?.kind ?? (samePhase ? position.stepKind : null),
    stepNumber: samePhase && position.state !== 'completed' ? position.stepIndex + 1 : null,
    steps: samePhase ? position.steps : (run.input.plan.phases[phase as PhaseName]?.steps.length ?? null),
    since: progress?.since ?? null,
    timeboxMs: timebox ? timebox.totalMs + Math.round(timebox.extendedMinutes * 60_000) : null,
    failedChecks: failed.length,
    maxAttempts: stepDef?.kind === 'validate' ? (ctx?.attemptLimit[stepId!] ?? stepDef.maxAttempts ?? null) : null,
    failingChecks: last && !last.passed ? last.checks.filter((c) => !c.passed).map((c) => c.checkId) : [],
    detail: progress?.detail ?? null,
    failure: failure ? { kind: failure.kind, stepId: failure.stepId, message: failure.message, learnerMayResume: failure.learnerMayResume } : null,
    helpPending: samePhase ? (position.helpPending?.message ?? null) : null,
    helpCount: progress?.helpCount ?? 0,
    reviewRound: samePhase ? position.round : null,
    cells: phaseCells(phase, progress?.state, journey),
  };
}

/** The row's four phase cells: the journey's outcomes, else what the cohort's view says of the current phase. */
function phaseCells(phase: PhaseId, state: string | undefined, journey: ReturnType<typeof positionsOf>['journey']): DashboardCell[] {
  return PHASES.map((p) => {
    const outcome = journey?.outcomes[p];
    if (outcome === 'passed' || outcome === 'skipped') return { phase: p, state: outcome };
    if (state === 'completed' && p !== phase && PHASES.indexOf(p) < PHASES.indexOf(phase)) return { phase: p, state: 'passed' };
    if (p === phase) return { phase: p, state: state === 'completed' ? 'passed' : state === 'failed' || journey?.failure?.phase === p ? 'failed' : 'current' };
    return { phase: p, state: 'notStarted' };
  });
}

/**
 * The help, review, dispute, answer-review and failure queues, each item named from the learner rows. The cohort
 * counts a learner whose dispute or answer is with the instructor as awaiting review; their checkpoint says which,
 * and they go to the dispute or answer queue (with the evidence or the criteria), not to the design reviews.
 */
function queuesOf(runId: string, view: Run['view'], learners: readonly DashboardLearner[], byLearner: ReadonlyMap<string, Checkpoint>, stepInfo: StepInfo, steps: ReadonlyMap<string, Step>) {
  const named = new Map(learners.map((l) => [l.learnerId, l]));
  const item = (learnerId: string, phase: PhaseName, since: string | null, text: string): DashboardQueueItem => ({
    learnerId,
    name: named.get(learnerId)?.name ?? learnerId,
    phase,
    stepId: named.get(learnerId)?.stepId ?? null,
    since,
    text,
  });
  const positionOf = (learnerId: string) => positionsOf(runId, byLearner.get(learnerId)).position;
  const helpQueue = (view?.helpQueue ?? []).map((h) => item(h.learnerId, h.phase, h.since, named.get(h.learnerId)?.helpPending ?? h.detail ?? 'asked for help'));
  const waiting = new Map((view?.reviewQueue ?? []).map((r) => [r.learnerId, r] as const));
  const disputeQueue: DashboardDisputeItem[] = [];
  const answerQueue: DashboardAnswerItem[] = [];
  for (const l of learners) {
    if (l.phaseState !== 'disputed' && l.phaseState !== 'answerInReview') continue;
    const p = positionOf(l.learnerId);
    const since = waiting.get(l.learnerId)?.since ?? null;
    const title = l.stepTitle ?? l.stepId ?? 'the step';
    const dispute = disputeItem(item(l.learnerId, l.phase, since, `disputes a failed check of “${title}” (attempt ${p?.dispute?.attempt ?? '?'})`), p);
    if (dispute) disputeQueue.push(dispute);
    const answer = answerItem(item(l.learnerId, l.phase, since, `sent the answer to “${title}” for review (round ${p?.answerReview?.round ?? '?'})`), p, steps);
    if (answer) answerQueue.push(answer);
  }
  const oldestFirst = (a: DashboardQueueItem, b: DashboardQueueItem) => (a.since ?? '~').localeCompare(b.since ?? '~');
  const decided = new Set([...disputeQueue, ...answerQueue].map((q) => q.learnerId));
  const reviewQueue: DashboardReviewItem[] = (view?.reviewQueue ?? [])
    .filter((r) => !decided.has(r.learnerId) && !['disputed', 'answerInReview'].includes(named.get(r.learnerId)?.phaseState ?? ''))
    .map((r) => {
      const learner = named.get(r.learnerId);
      const snapshot = byLearner.get(r.learnerId)?.phase?.snapshot as PersistedPhaseSnapshot | undefined;
      const deliverables = Object.entries(snapshot?.context.deliverables ?? {}).flatMap(([step, list]) => {
        const latest = list.at(-1);
        return latest ? [{ step: stepInfo.get(step)?.title ?? step, name: latest.name, uri: latest.uri }] : [];
      });
      const peerReviews = peerReviewsOf(positionOf(r.learnerId), (id) => named.get(id)?.name ?? id);
      return { ...item(r.learnerId, r.phase, r.since, `${learner?.stepTitle ?? 'review'}${learner?.reviewRound ? `, round ${learner.reviewRound}` : ''}`), round: learner?.reviewRound ?? null, deliverables, peerReviews };
    });
  const failures = (view?.failures ?? []).map((f) => failureItem(item(f.learnerId, f.phase, f.since, named.get(f.learnerId)?.failure?.message ?? f.reason ?? 'failed'), positionOf(f.learnerId)));
  return { helpQueue, reviewQueue, disputeQueue: disputeQueue.sort(oldestFirst), answerQueue: answerQueue.sort(oldestFirst), failures };
}

/**
 * Where a learner is, from their checkpoint — memoised per checkpoint write. Working it out restores the
 * phase and journey machines' snapshots (xstate), 30–80 µs a learner: at 1,000 learners that was a third
 * of a build, redone every poll for learners who had not moved. A checkpoint write changes its version
 * or its UpdatedAt, so the key below changes with every write and a stale position is never served.
 */
type Positions = { position: ReturnType<typeof phasePosition>; journey: ReturnType<typeof journeyPosition> };
const positionMemo = new Map<string, Map<string, { key: string; value: Positions }>>();
const KEEP_MEMO_RUNS = 20;

function positionsOf(runId: string, checkpoint: Checkpoint | undefined): Positions {
  if (!checkpoint) return { position: undefined, journey: undefined };
  let run = positionMemo.get(runId);
  if (!run) {
    positionMemo.set(runId, (run = new Map()));
    if (positionMemo.size > KEEP_MEMO_RUNS) positionMemo.delete(positionMemo.keys().next().value!);
  }
  const key = `${checkpoint.phase?.instanceId ?? ''}|${checkpoint.phaseVersion}|${checkpoint.journeyVersion}|${checkpoint.updatedAt}`;
  const hit = run.get(checkpoint.learnerId);
  if (hit?.key === key) return hit.value;
  const value = { position: phasePosition(checkpoint), journey: journeyPosition(checkpoint) };
  run.set(checkpoint.learnerId, { key, value });
  return value;
}

const costCache = new Map<string, { at: number; value: Promise<DashboardCost> }>();

/**
 * Spend so far against the budget, the way the cost guard (`azure/costGuard.ts`) counts it:
 * each environment's hourly estimate from its `workshop-created` tag until now. Environments
 * already torn down are gone from Resource Manager and no longer counted (the guard sees the same).
 */
async function runCost(run: Run, pack: ScenarioPack | undefined): Promise<DashboardCost> {
  const hit = costCache.get(run.runId);
  if (hit && Date.now() - hit.at < COST_TTL_MS) return hit.value;
  const value = readRunCost(run, pack);
  costCache.set(run.runId, { at: Date.now(), value });
  const result = await value;
  // A failed read is not kept: the next refresh tries again.
  if (!result.available) costCache.delete(run.runId);
  return result;
}

async function readRunCost(run: Run, pack: ScenarioPack | undefined): Promise<DashboardCost> {
  const settings = appSettings();
  if (!armSettings(settings).subscriptionId) return { available: false, reason: 'No learner subscription is configured (LEARNER_SUBSCRIPTION_ID), so there are no environments to cost.' };
  try {
    const clients = armClients(settings);
    const envs: EnvironmentCost[] = [];
    const filter = `tagName eq '${TAGS.run}' and tagValue eq '${run.runId.replace(/'/g, "''")}'`;
    const abortSignal = AbortSignal.timeout(COST_TIMEOUT_MS);
    let deleting = 0;
    for await (const rg of clients.resources.resourceGroups.list({ filter, abortSignal })) {
      if (!rg.name || rg.tags?.[TAGS.pack] === undefined) continue;
      if (rg.properties?.provisioningState?.toLowerCase() === 'deleting') deleting++;
      const env = environmentFromTags(rg.name, rg.tags ?? {});
      if (env) envs.push(env);
    }
    const record = await getRun(run.runId).catch(() => undefined);
    const share = pack?.cost.developmentUsd.max;
    const [budgetUsd, budgetSource]: [number, 'run' | 'setting' | 'pack'] =
      record?.budgetUsd !== undefined
        ? [record.budgetUsd, 'run']
        : run.input.budgetUsd !== undefined
          ? [run.input.budgetUsd, 'run']
          : settings.RUN_BUDGET_USD !== undefined
            ? [settings.RUN_BUDGET_USD, 'setting']
            : [(share ?? 0) * run.input.roster.length, 'pack'];
    const now = new Date();
    const verdict = costVerdict(
      envs,
      {
        ...(record ? { status: record.status } : {}),
        ...(record?.endsAt ? { endsAt: record.endsAt } : {}),
        budgetUsd,
        warnFraction: settings.RUN_BUDGET_WARN_FRACTION,
      },
      now,
    );
    return {
      available: true,
      spentUsd: verdict.spentUsd,
      budgetUsd: verdict.budgetUsd,
      budgetSource,
      fraction: verdict.fraction,
      burnUsdPerHour: verdict.burnUsdPerHour,
      environments: envs.length,
      running: envs.length - deleting,
      warn: budgetUsd > 0 && verdict.fraction >= settings.RUN_BUDGET_WARN_FRACTION,
      budgetReachedAt: verdict.budgetReachedAt ?? null,
      asOf: now.toISOString(),
    };
  } catch (err) {
    return { available: false, reason: `Resource Manager could not be read for the run's environments: ${(err as Error).message}` };
  }
}
