/**
 * `npm run bench:hotstart` — hot start against deploying on demand, on the hybrid pack (its VPN gateway is the
 * slowest deployment of the four packs, ~37 min), printed side by side: how long learners waited for their
 * environment when they entered Implementation (p50 / p95 / max), and what the pool's environments cost while
 * deployed and unclaimed. Not a test: figures only (no assertion), not part of `npm test`.
 *
 * How: the local stack in this process (the durable host on the embedded store, the app's real registry, the ARM
 * emulator with realistic deployment times scaled by the run's time scale, so a 35-minute gateway takes 42 s at
 * the default 0.02). Per mode (below) one run of `--learners` simulated learners: each spends a seeded share
 * (`--think`, default 0.5–0.8) of every Requirements and Design step's timebox before acting, as a person does
 * (the simulated instructor likewise on the architecture review); so Requirements + Design take 45–72 workshop
 * minutes, longer than the slowest deployment (a learner acting at the very end of a timebox would fail the phase). Once every learner is past the provision step the run is ended
 * and the bench checks that no environment of the run is left.
 *
 * "Waited for an environment": from the moment the learner entered Implementation (their architecture review was
 * approved) to the moment their deployment had finished in ARM (its `timestamp` when Succeeded), 0 when it was
 * finished before they arrived. Also shown: the time the learner's provision step took as seen through the API
 * (arrival to the next step, engine and polling included). Times are real seconds and, divided by the time
 * scale, workshop minutes. Idle cost: each pool environment's hourly estimate from ready to claimed (or torn
 * down), in workshop hours.
 *
 * Modes (`--modes`, default all three): `demand` (no hot start), `hot` (hot start at run start), `scheduled` (hot start
 * with `startsAt` the API's lead time ahead: the pool starts deploying at once, the learners at `startsAt`).
 *
 * Usage: npm run bench:hotstart -- [--learners 10,20] [--modes demand,hot,scheduled] [--time-scale 0.02] [--think 0.5-0.8] [--seed 7] [--fraction 1]
 */
import { parseArgs } from 'node:util';
import { armClients } from '../../azure/armClients';
import { deploymentEstimateMs } from '../../azure/deploymentTimes';
import { deploymentName, learnerResourceGroupName, TAGS } from '../../azure/environmentNames';
import { ApiCallError, type WorkshopApi } from '../../cli/apiClient';
import { loadCliPack } from '../../cli/cliPacks';
import type { HotStartView } from '../../contracts/messages';
import { prng } from '../../local/prng';
import { loadPackWithTemplate } from '../../scenarios/packFiles';
import { answerFor, until } from '../workshop/learnerDriver';
import { startWorkshopStack, type WorkshopStack } from '../workshop/workshopStack';
import { f1, load, pct, sleep, table } from './kit';

const { values: args } = parseArgs({
  options: {
    learners: { type: 'string', default: '10,20' },
    'time-scale': { type: 'string', default: '0.02' },
    think: { type: 'string', default: '0.5-0.8' },
    seed: { type: 'string', default: '7' },
    fraction: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'demand,hot,scheduled' },
  },
});
const SCENARIO = 'hybrid';
const PARAMS = { onPremGatewayIp: '203.0.113.10' };
const SCALE = Number(args['time-scale']);
const [THINK_MIN, THINK_MAX] = args.think!.split('-').map(Number) as [number, number];
const SIZES = args.learners!.split(',').map(Number);
const FRACTION = Number(args.fraction);
type Mode = 'on demand' | 'hot start' | 'hot start, startsAt';
const MODE_NAMES: Record<string, Mode> = { demand: 'on demand', hot: 'hot start', scheduled: 'hot start, startsAt' };
const MODES = args.modes!.split(',').map((m) => {
  const mode = MODE_NAMES[m.trim()];
  if (!mode) throw new Error(`--modes takes demand, hot and scheduled (comma-separated), got "${m}"`);
  return mode;
});
/** Each learner looks at their status this often (20 learners: 50 calls a second). */
const POLL_MS = 400;

interface LearnerResult {
  learnerId: string;
  arrivedAt: number;
  deployedAt: number;
  passedAt: number;
  /** The provision step's timebox ran out while the learner waited (their phase failed there): the wait is at least passedAt − arrivedAt. */
  timedOut?: boolean;
}

interface ModeResult {
  mode: Mode;
  learners: number;
  waitsMs: number[];
  stepMs: number[];
  /** Learners whose provision step's timebox ran out while they waited (their wait counts up to then: a lower bound). */
  timedOut: number;
  deploymentsStarted: number;
  pool?: HotStartView;
  idleWorkshopHours: number;
  idleCostUsd: number;
  leftAfterEnd: number;
  wallMs: number;
}

type Pack = Awaited<ReturnType<typeof loadCliPack>>['pack'];

/** One learner: think, act, until past the provision step; when they arrived and when their environment was ready. */
async function walkLearner(api: WorkshopApi, runId: string, learnerId: string, pack: Pack, provisionStep: string, rand: () => number): Promise<LearnerResult> {
  const steps = pack.phases.flatMap((p) => p.steps);
  const order = steps.map((s) => s.id);
  const past = order.indexOf(provisionStep);
  let lastActionAt = Date.now();
  let arrivedAt: number | undefined;
  const acted = new Set<string>();
  let seen = '';
  let seenAt = Date.now();
  for (;;) {
    const s = await api.learnerStatus(runId, learnerId);
    const where = `${s.position?.phase}/${s.position?.stepId}/${s.position?.state}`;
    if (where !== seen) [seen, seenAt] = [where, Date.now()];
    else if (Date.now() - seenAt > 60_000) {
      log(`${learnerId} has been at ${where} for a minute: ${JSON.stringify(s).slice(0, 600)}`);
      seenAt = Date.now();
    }
    const p = s.position;
    if (p?.failure && p.stepId === provisionStep) {
      log(`${runId} ${learnerId}: the provision step's timebox ran out while waiting for the environment`);
      return { learnerId, arrivedAt: arrivedAt ?? lastActionAt, deployedAt: NaN, passedAt: Date.now(), timedOut: true };
    }
    if (p?.failure) throw new Error(`${runId} ${learnerId} failed at ${p.stepId}: ${JSON.stringify(p.failure).slice(0, 300)} (a smaller --think, or a machine less loaded)`);
    const at = p?.stepId ? order.indexOf(p.stepId) : -1;
    if (at >= past) arrivedAt ??= lastActionAt;
    if (at > past) {
      log(`${runId} ${learnerId} past ${provisionStep} after ${sec(Date.now() - arrivedAt!)}`);
      const rg = learnerResourceGroupName(runId, learnerId);
      const dep = await armClients().deployments.deployments.get(rg, deploymentName(pack.id, `${runId}:${learnerId}:${provisionStep}`));
      return { learnerId, arrivedAt: arrivedAt!, deployedAt: Date.parse(String(dep.properties?.timestamp)), passedAt: Date.now() };
    }
    const key = `${p?.phase}|${p?.stepId}|${p?.state}|${p?.stepAttempt}`;
    const step = steps.find((x) => x.id === p?.stepId);
    if (!step || acted.has(key) || at >= past || !['awaitingLearner', 'awaitingReview', 'changesRequested'].includes(p!.state)) {
      await sleep(POLL_MS);
      continue;
    }
    await sleep(step.timeboxMinutes * 60_000 * SCALE * (THINK_MIN + (THINK_MAX - THINK_MIN) * rand()));
    try {
      if (p!.state === 'awaitingReview') await api.review(runId, learnerId, 'approve', 'ok', p!.round ?? undefined);
      else if (step.kind === 'question') await api.answer(runId, learnerId, answerFor(pack, step), step.id);
      else if (step.kind === 'deliverable') await api.submit(runId, learnerId, step.title, `https://example.com/${learnerId}/${step.id}`, step.id);
      else await api.done(runId, learnerId, step.id);
      lastActionAt = Date.now();
      acted.add(key);
    } catch (err) {
      // 409: the learner moved on meanwhile (or not yet): look again.
      if (!(err instanceof ApiCallError && err.status === 409)) throw new Error(`${learnerId} at ${step.id} (${p!.state}): ${(err as Error).message}`);
      log(`${learnerId} at ${step.id} (${p!.state}): 409 ${(err as Error).message.slice(0, 200)}`);
    }
  }
}

/** Workshop hours the pool's environments sat deployed and unclaimed, and what that cost at their hourly estimates. */
function idleOf(pool: HotStartView | undefined, hourlyUsd: number): { hours: number; usd: number } {
  let ms = 0;
  for (const e of pool?.environments ?? []) {
    if (!e.readyAt) continue;
    const end = Date.parse(e.claimedAt ?? (e as { tornDownAt?: string }).tornDownAt ?? e.since);
    ms += Math.max(0, end - Date.parse(e.readyAt));
  }
  const hours = ms / SCALE / 3_600_000;
  return { hours, usd: hours * hourlyUsd };
}

async function runMode(w: WorkshopStack, n: number, mode: Mode, pack: Pack, provisionStep: string, hourlyUsd: number): Promise<ModeResult> {
  const hot = mode !== 'on demand';
  const runId = `bench-${hot ? 'hot' : 'cold'}-${n}-${Date.now().toString(36).slice(-4)}`;
  const roster = ['name,email', ...Array.from({ length: n }, (_, i) => `Learner ${i + 1},l${i + 1}@example.com`)].join('\n');
  w.arm.resetStats();
  const t0 = Date.now();
  // Scheduled: the session starts after the lead time the API derives (asked for with a far start, then the real one).
  const lead = mode === 'hot start, startsAt' ? await leadMs(w, n, runId) : 0;
  const startsAt = lead ? { startsAt: new Date(Date.now() + lead).toISOString() } : {};
  const started = await w.api.startRun({ runId, scenario: SCENARIO, roster, instructors: ['ian'], parameters: PARAMS, timeScale: SCALE, ...(hot ? { hotStart: FRACTION } : {}), ...startsAt });
  if (started.startsAt) {
    log(`${runId}: the pool deploys from ${started.hotStart?.provisionAt}, the session starts ${started.startsAt}`);
    await until(`${runId}'s session`, async () => ((await w.api.runStatus(runId)).view?.started ? true : undefined), lead + 120_000, 500);
  }
  const rand = prng(Number(args.seed));
  const seeds = started.learners.map(() => Math.floor(rand() * 2 ** 31));
  const results = await Promise.all(started.learners.map((l, i) => walkLearner(w.api, runId, l.learnerId, pack, provisionStep, prng(seeds[i]!))));
  const deploymentsStarted = w.arm.stats.deploymentsStarted;
  log(`${runId}: every learner past the provision step; ending the run`);
  await w.api.runCommand(runId, 'end', { reason: 'bench over' });
  await until(`${runId} completed`, async () => ((await w.api.runStatus(runId)).runtimeStatus === 'Completed' ? true : undefined), 300_000, 500);
  const pool = (await w.api.runStatus(runId)).view?.hotStart;
  let left = 0;
  for await (const rg of armClients().resources.resourceGroups.list()) if (rg.tags?.[TAGS.run] === runId && rg.properties?.provisioningState?.toLowerCase() !== 'deleting') left++;
  const idle = idleOf(pool, hourlyUsd);
  return {
    mode,
    learners: n,
    waitsMs: results.map((r) => Math.max(0, (r.timedOut ? r.passedAt : r.deployedAt) - r.arrivedAt)),
    timedOut: results.filter((r) => r.timedOut).length,
    stepMs: results.map((r) => r.passedAt - r.arrivedAt),
    deploymentsStarted,
    ...(pool ? { pool } : {}),
    idleWorkshopHours: idle.hours,
    idleCostUsd: idle.usd,
    leftAfterEnd: left,
    wallMs: Date.now() - t0,
  };
}

/** The lead time the API gives a pool of `n` (from a throwaway run scheduled far ahead, ended at once). */
async function leadMs(w: WorkshopStack, n: number, runId: string): Promise<number> {
  const roster = ['name,email', ...Array.from({ length: n }, (_, i) => `Learner ${i + 1},l${i + 1}@example.com`)].join('\n');
  const probe = await w.api.startRun({ runId: `${runId}-lead`, scenario: SCENARIO, roster, instructors: ['ian'], parameters: PARAMS, timeScale: SCALE, hotStart: FRACTION, startsAt: new Date(Date.now() + 86_400_000).toISOString() });
  await w.api.runCommand(probe.runId, 'end', { reason: 'lead-time probe' });
  return probe.hotStart!.leadMinutes * 60_000;
}

function sec(ms: number): string {
  return `${f1(ms / 1000)} s`;
}
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const wmin = (ms: number) => `${f1(ms / SCALE / 60_000)} min`;

function print(results: ModeResult[], deployMs: number): void {
  const cols = results.map((r) => `${r.mode}, ${r.learners}`);
  const row = (label: string, f: (r: ModeResult) => string) => [label, ...results.map(f)];
  console.log(
    table([
      ['', ...cols],
      row('waited for an environment p50', (r) => `${sec(pct(r.waitsMs, 50))} = ${wmin(pct(r.waitsMs, 50))}`),
      row('waited for an environment p95', (r) => `${sec(pct(r.waitsMs, 95))} = ${wmin(pct(r.waitsMs, 95))}`),
      row('waited for an environment max', (r) => `${sec(Math.max(...r.waitsMs))} = ${wmin(Math.max(...r.waitsMs))}`),
      row('learners who waited at all', (r) => `${r.waitsMs.filter((x) => x > 0).length}/${r.learners}`),
      row('provision step timed out waiting', (r) => `${r.timedOut}/${r.learners}`),
      row('provision step via API p50/p95', (r) => `${sec(pct(r.stepMs, 50))} / ${sec(pct(r.stepMs, 95))}`),
      row('idle pool environments', (r) => (r.pool ? `${f1(r.idleWorkshopHours)} env-h` : '-')),
      row('idle pool cost (workshop time)', (r) => (r.pool ? `$${r.idleCostUsd.toFixed(2)}` : '$0.00')),
      row('pool claimed ready / size', (r) => (r.pool ? `${r.pool.claimedReady}/${r.pool.size}` : '-')),
      row('deployments started', (r) => String(r.deploymentsStarted)),
      row('environments left after end', (r) => String(r.leftAfterEnd)),
      row('wall time', (r) => sec(r.wallMs)),
    ]),
  );
  console.log(`\na learner whose provision step timed out counts the wait until then (a lower bound).`);
  console.log(`one hybrid deployment: ~${f1(deployMs / 60_000)} min in Azure (${sec(deployMs * SCALE)} here); Requirements + Design at ${THINK_MIN}–${THINK_MAX} of their timeboxes: ${Math.round(90 * THINK_MIN)}–${Math.round(90 * THINK_MAX)} min; time scale ${SCALE}; load ${load()}`);
}

async function main(): Promise<void> {
  const w = await startWorkshopStack({ maxActivities: 32, maxOrchestrators: 32 });
  const { pack } = await loadCliPack(SCENARIO);
  const { template } = await loadPackWithTemplate(SCENARIO);
  const provisionStep = pack.phases.flatMap((p) => p.steps).find((s) => s.kind === 'provision')!.id;
  w.arm.setDeploymentTimes({ scale: SCALE });
  process.env.ARM_POLL_INTERVAL_MS = '250';
  const results: ModeResult[] = [];
  try {
    for (const n of SIZES) {
      for (const mode of MODES) {
        log(`${n} learners, ${mode} …`);
        results.push(await runMode(w, n, mode, pack, provisionStep, pack.environment.hourlyCostUsd));
      }
    }
  } finally {
    await w.stop();
  }
  print(results, deploymentEstimateMs(template));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
