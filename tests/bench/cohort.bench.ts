/**
 * `npm run bench:cohort` — the product at cohort sizes: simulated learners walk all four phases of a run on the
 * local stack (`npm start`'s entry, local/start.ts, as a child process group on its own data directory), and the
 * bench prints, per size, what an instructor and an operator would ask: how long, how fast the engine went, how
 * soon a learner sees the next prompt after acting, how much memory and CPU the stack used, how big the largest
 * orchestration state got, how many store rows and history events each learner cost. Not a test: no assertion,
 * figures only, written to bench/results.json (key "cohort", merged with whatever else the file holds).
 *
 * How a learner acts (the way a real one does): the prompt arrives as a card in the learner's Teams chat (the
 * connector emulator records it, with the time it arrived); the learner reads where they are and acts through the
 * workshop API with their own learner token (tests/workshop/learnerDriver.ts: answer, submit, done), and the
 * simulated instructor approves each architecture review as it comes up. Learners act as soon as their prompt
 * arrives: "on time". The time scale keeps every timebox far away (the measure is the product, not the clock).
 *
 * Action → prompt: from the moment the learner's API call is sent to the moment the connector emulator received the
 * bot's card for the learner's next step (both clocks of this machine). Everything between is the product: the
 * API, the durable engine and its store, the phase machine, the outbox and the Teams sender with its rate limits.
 *
 * Modes. `--no-arm` (the default for 100, 300 and 1,000 learners): the learners never touch their environments,
 * as `workshop rehearse --no-arm`; the engine still deploys and checks each learner's environment against the
 * stack's ARM emulator, because every pack's Implementation phase starts with its foundation deployment.
 * `arm` (200 learners): the learners also do their implementation work in their environments through the ARM REST
 * API before saying done, as `workshop rehearse` does with ARM access (cli/rehearsalArm.ts), on a pack that has
 * learner work (default lakehouse). A size above MAX_LEARNERS_PER_RUN is reported as skipped, not run.
 *
 * Usage: npm run bench:cohort -- [--sizes 100,300,1000,200:arm] [--time-scale 10] [--concurrency 16]
 *          [--scenario drill] [--arm-scenario lakehouse] [--keep]
 * The stack runs at its defaults except TEAMS_SENDER_SCHEDULE and BOT_APP_SENDS_PER_SECOND, which pass through when
 * set (the Teams sender's tick bounds action → prompt: `TEAMS_SENDER_SCHEDULE='* * * * * *'` shows by how much).
 */
import { DatabaseSync } from 'node:sqlite';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { ApiCallError, WorkshopApi, type LearnerStatus } from '../../cli/apiClient';
import { loadCliPack } from '../../cli/cliPacks';
import { environmentNeed } from '../../activities/subscriptionPool';
import { RehearsalArm, type ArmAccess } from '../../cli/rehearsalArm';
import { cohortInstanceId } from '../../contracts/ids';
import { MAX_LEARNERS_PER_RUN } from '../../http/cohortLimit';
import { EventType } from '../../local/durable/history';
import { freePort } from '../../local/ports';
import { storeFile } from '../../storage/sqlite';
import { HostProcess, REPO } from '../crash/harness';
import { LearnerDriver } from '../workshop/learnerDriver';
import { f0, f1, groupCpuMs, groupMemory, load, mb, pct, sleep, table } from './kit';

// ---- command line -------------------------------------------------------------------------------

interface SizeSpec {
  learners: number;
  arm: boolean;
}

const args = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,300,1000,200:arm' },
    'time-scale': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    scenario: { type: 'string', default: 'drill' },
    'arm-scenario': { type: 'string', default: 'lakehouse' },
    'no-arm': { type: 'boolean', default: false },
    subscriptions: { type: 'string', default: 'auto' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  allowPositionals: false,
}).values;

function usageError(message: string): never {
  process.stderr.write(`bench:cohort: ${message}\nUsage: npm run bench:cohort -- [--sizes 100,300,1000,200:arm] [--time-scale 10] [--concurrency 16] [--scenario drill] [--arm-scenario lakehouse] [--no-arm] [--subscriptions auto|N] [--keep]\n`);
  process.exit(2);
}

function parseSizes(text: string, noArm: boolean): SizeSpec[] {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+)(?::(arm|no-arm))?\s*$/.exec(part);
    if (!m || Number(m[1]) < 1) usageError(`--sizes: "${part}" is not a learner count, optionally followed by :arm or :no-arm (e.g. 100,200:arm)`);
    return { learners: Number(m[1]), arm: !noArm && m[2] === 'arm' };
  });
}

if (args.help) usageError('help');
const SIZES = parseSizes(args.sizes!, args['no-arm']!);
const TIME_SCALE = Number(args['time-scale']);
if (!(TIME_SCALE > 0 && TIME_SCALE <= 10)) usageError(`--time-scale must be a number in (0, 10] (the API's limit), got "${args['time-scale']}"`);
const CONCURRENCY = Number(args.concurrency);
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) usageError(`--concurrency must be a whole number of at least 1, got "${args.concurrency}"`);
/** The drill pack lives with the tests, the shipped packs in scenarios/packs: the stack and the drivers read the one that has it. */
function packsDirFor(scenario: string): string {
  const test = path.join(REPO, 'tests', 'workshop', 'packs');
  return existsSync(path.join(test, `${scenario}.yaml`)) ? test : path.join(REPO, 'scenarios', 'packs');
}
/**
 * Where a size's environments go. Azure's default quota is 250 storage accounts per region per subscription, and
 * the emulator holds every subscription to it (a run the quotas cannot hold is refused at start): one subscription
 * does not take 1,000 drill environments (one storage account each) or 200 lakehouse ones (two each). `auto`:
 *  - no-arm sizes get one subscription per 200 storage accounts the roster needs, all named in the run's
 *    `learnerSubscriptions`, as an instructor would for a 1,000-seat event;
 *  - arm sizes stay in one subscription with its storage quota raised to what the roster needs (a granted quota
 *    increase), because the learners' own implementation work (RehearsalArm) goes to the stack's one subscription.
 */
const SUBSCRIPTIONS = args.subscriptions === 'auto' ? undefined : Number(args.subscriptions);
if (SUBSCRIPTIONS !== undefined && !(Number.isInteger(SUBSCRIPTIONS) && SUBSCRIPTIONS >= 1 && SUBSCRIPTIONS <= 20)) usageError(`--subscriptions must be "auto" or a whole number from 1 to 20, got "${args.subscriptions}"`);
interface Placement {
  subscriptions: number;
  /** ARM_EMULATOR_QUOTAS for the stack, when a quota is raised. */
  quotas?: string;
}
async function placementFor(spec: SizeSpec, scenario: string): Promise<Placement> {
  const loaded = await loadCliPack(scenario, packsDirFor(scenario));
  const perEnvironment = loaded.template ? (environmentNeed(loaded.template as { resources?: unknown })['microsoft.storage/storageaccounts'] ?? 0) : 0;
  const accounts = spec.learners * perEnvironment;
  if (SUBSCRIPTIONS !== undefined) return { subscriptions: SUBSCRIPTIONS };
  if (spec.arm) return accounts > 200 ? { subscriptions: 1, quotas: `1:StorageAccounts=${accounts + 50}` } : { subscriptions: 1 };
  return { subscriptions: Math.min(20, Math.max(1, Math.ceil(accounts / 200))) };
}
const RESULTS_FILE = path.join(REPO, 'bench', 'results.json');
/** A learner nobody heard from in this long gets looked at (a card the learner could not act on yet, the last step). */
const SWEEP_MS = 5_000;
const RUN_DEADLINE_MS = 90 * 60_000;
const INSTRUCTOR = { name: 'Ines Instructor', upn: 'ines@contoso.example' };

// ---- what one size measures ----------------------------------------------------------------------

interface EngineCounters {
  episodes: number;
  activitiesRun: number;
  maxEpisodesInFlight: number;
  historyEvents: number;
  historyByType: Record<string, number>;
  store: { commits: number; writes: number };
}

interface Action {
  learnerId: string;
  stepId: string;
  state: string;
  at: number;
  /** The API's answer (202) came this long after the call was sent. */
  ackMs: number;
  /** Found by the periodic look rather than by a card arriving. */
  swept: boolean;
}

interface Prompt {
  stepId: string;
  at: number;
}

interface Spread {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
}

export interface SizeResult {
  learners: number;
  mode: 'no-arm' | 'arm';
  scenario: string;
  /** Emulated learner subscriptions the run spread its environments over. */
  subscriptions?: number;
  /** A raised emulator quota (ARM_EMULATOR_QUOTAS), when the size needed one. */
  quotas?: string;
  skipped?: string;
  error?: string;
  completed?: number;
  wallMs?: number;
  steps?: number;
  stepsPerSec?: number;
  activities?: number;
  actions?: number;
  actionToPromptMs?: { p50: number; p90: number; p99: number; max: number; count: number; unmatched: number };
  /** The same pairs up to the prompt's outbox row: the engine without the Teams sender. */
  actionToOutboxMs?: Spread;
  /** Only the pairs whose prompt is for the very next step: no review, deployment or check in between. */
  directToPromptMs?: Spread;
  directToOutboxMs?: Spread;
  actionAckMs?: { p50: number; p99: number };
  sweptActions?: number;
  /** Looks repeated because the learner's status did not show the step of the card that had arrived. */
  lagRetries?: number;
  /** Learners who deployed their implementation work through the ARM REST API (arm mode). */
  armWork?: number;
  peakRssBytes?: number;
  idleRssBytes?: number;
  stackCpuMs?: number;
  cpuMsPerLearner?: number;
  /** CPU of the idle stack per second (its timers), and the cost per learner without it. */
  idleCpuMsPerSec?: number;
  netCpuMsPerLearner?: number;
  actionToPromptByStep?: Record<string, { n: number; p50: number; p99: number }>;
  stepsPerLearner?: number;
  historyEventsPerLearner?: number;
  historyByTypePerLearner?: Record<string, number>;
  storeCommits?: number;
  storeWritesPerLearner?: number;
  largest?: {
    historyEvents: { instanceId: string; events: number };
    cohortHistoryEvents: number;
    inputBytes: { instanceId: string; bytes: number };
    cohortInputBytes: number;
    customStatusBytes: { instanceId: string; bytes: number };
    cohortCustomStatusBytes: number;
  };
  storeRows?: Record<string, number>;
  storeRowsPerLearner?: number;
  storeFileBytes?: number;
  teams?: { sends: number; updates: number; creates: number; throttled: number };
  timeboxHits?: number;
  loadAverage?: number[];
}

const utf8 = (s: unknown): number => (s === null || s === undefined ? 0 : Buffer.byteLength(typeof s === 'string' ? s : JSON.stringify(s), 'utf8'));

/** GET, tried again (a few times, backing off) when the connection breaks or times out — a poller must outlast a hiccup; an HTTP error is final. */
async function getJson<T>(url: string, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      if (attempt >= tries) throw err;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      continue;
    }
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return (await res.json()) as T;
  }
}

async function postJson(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** The step a bot card is about: step cards carry it in their actions' data. */
function stepIdOfCard(attachments: unknown): string | undefined {
  return /"stepId":"([^"]+)"/.exec(JSON.stringify(attachments ?? []))?.[1];
}

// ---- the stack ----------------------------------------------------------------------------------

interface Stack {
  proc: HostProcess;
  pgid: number;
  dir: string;
  dataDir: string;
  url: string;
  teamsUrl: string;
  keys: { instructor: string; learner: string };
  armAccess(): ArmAccess & { subscriptionIds: string[] };
  engine(): Promise<EngineCounters>;
}

async function startStack(packsDir: string, placement: Placement, log: (line: string) => void): Promise<Stack> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-cohort-'));
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const keys = { instructor: `bench-instructor-${process.pid}-0123456789abcdef`, learner: `bench-learner-signing-${process.pid}-0123456789abcdef` };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    WORKSHOP_DATA_DIR: dataDir,
    INSTRUCTOR_API_KEY: keys.instructor,
    LEARNER_API_KEY: keys.learner,
    SCENARIO_PACKS_DIR: packsDir,
    LOG_LEVEL: 'warn',
    ARM_EMULATOR_SUBSCRIPTIONS: String(placement.subscriptions),
    ...(placement.quotas ? { ARM_EMULATOR_QUOTAS: placement.quotas } : {}),
  };
  // The stack's own emulators, nothing inherited from the shell but the two sender settings (printed in the header).
  for (const k of ['ARM_ENDPOINT', 'ARM_TOKEN', 'ARM_CA_CERT', 'LEARNER_SUBSCRIPTION_ID', 'BOT_APP_ID', 'AzureWebJobsStorage']) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('ARM_FAULT_') || k.startsWith('TEAMS_FAULT_') || k === 'FAULT_DURATION_SECONDS') delete env[k];
  const proc = new HostProcess(env, path.join(dir, 'stack-stderr.log'), path.join(REPO, 'local', 'start.ts'), { ready: 'local stack is up', group: true });
  await proc.start();
  // The banner follows the ready line in the same write; wait until the web chat's address is in it.
  let teamsUrl: string | undefined;
  for (let i = 0; i < 100 && !teamsUrl; i++) {
    teamsUrl = /Teams web chat\s+(http:\/\/127\.0\.0\.1:\d+)\/chat/.exec(proc.stdout)?.[1];
    if (!teamsUrl) await sleep(50);
  }
  if (!teamsUrl) throw new Error(`the stack did not print the Teams web chat address; it printed:\n${proc.stdout}`);
  const url = `http://127.0.0.1:${port}`;
  log(`stack up: ${url}, connector emulator ${teamsUrl}, data ${dataDir}`);
  return {
    proc,
    pgid: proc.child!.pid!,
    dir,
    dataDir,
    url,
    teamsUrl,
    keys,
    armAccess: () => {
      // What `npm start` writes for `workshop rehearse` (cli/workshop.ts localArmAccess reads the same file).
      const saved = JSON.parse(readFileSync(path.join(dataDir, 'arm', 'emulator.json'), 'utf8')) as { url: string; token: string; subscriptionId: string; subscriptionIds?: string[]; caFile: string };
      return { url: saved.url, token: saved.token, subscriptionId: saved.subscriptionId, subscriptionIds: saved.subscriptionIds ?? [saved.subscriptionId], caCert: readFileSync(saved.caFile, 'utf8') };
    },
    engine: async () => (await getJson<{ engine: EngineCounters }>(`${url}/admin/host/status`)).engine,
  };
}

// ---- one size -------------------------------------------------------------------------------------

async function runSize(spec: SizeSpec, log: (line: string) => void): Promise<SizeResult> {
  const scenario = spec.arm ? args['arm-scenario']! : args.scenario!;
  const placement = await placementFor(spec, scenario);
  const base: SizeResult = { learners: spec.learners, mode: spec.arm ? 'arm' : 'no-arm', scenario, subscriptions: placement.subscriptions, ...(placement.quotas ? { quotas: placement.quotas } : {}) };
  if (spec.learners > MAX_LEARNERS_PER_RUN) return { ...base, skipped: `skipped: above MAX_LEARNERS_PER_RUN (${MAX_LEARNERS_PER_RUN})` };
  const packsDir = packsDirFor(scenario);
  process.env.SCENARIO_PACKS_DIR = packsDir; // the learner drivers read the same packs as the stack
  const stack = await startStack(packsDir, placement, log);
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, groupMemory(stack.pgid).rss)), 500);
  let ok = false;
  try {
    const result = await drive(spec, scenario, stack, log, () => peak);
    ok = true;
    return { ...base, ...result };
  } finally {
    clearInterval(sampler);
    await stack.proc.kill9().catch(() => undefined);
    if (ok && !args.keep) rmSync(stack.dir, { recursive: true, force: true });
    else log(`the stack's stderr and data are kept in ${stack.dir}`);
  }
}

type Measured = Omit<SizeResult, 'learners' | 'mode' | 'scenario'>;

async function drive(spec: SizeSpec, scenario: string, stack: Stack, log: (line: string) => void, peakRss: () => number): Promise<Measured> {
  const n = spec.learners;
  const width = Math.max(4, String(n).length);
  const roster = Array.from({ length: n }, (_, i) => {
    const id = `l${String(i + 1).padStart(width, '0')}`;
    return { learnerId: id, name: `Learner ${id.slice(1)}`, email: `${id}@contoso.example` };
  });
  const byUpn = new Map(roster.map((r) => [r.email, r.learnerId]));

  // The cohort is a Teams team: every learner in the directory, the app added to the team (the bot learns the
  // members, as in Teams), so the sender can open each learner's 1:1 chat. Setup, not measured.
  await pool(roster, 8, async (r) => void (await postJson(`${stack.teamsUrl}/_emulator/users`, { name: r.name, upn: r.email, kind: 'learner' })));
  await postJson(`${stack.teamsUrl}/_emulator/install`, { user: INSTRUCTOR.upn, team: true });

  const api = new WorkshopApi({ url: stack.url, instructorKey: stack.keys.instructor });
  const loaded = await loadCliPack(scenario, packsDirFor(scenario));
  const planSteps = loaded.pack.phases.flatMap((ph) => ph.steps);
  const order = new Map(planSteps.map((st, i) => [st.id, i]));
  /** Steps the learner gets no card for: the engine's own (deploy, check) and the instructor's review. */
  const cardless = new Set(planSteps.filter((st) => st.kind === 'provision' || st.kind === 'validate' || st.kind === 'review').map((st) => st.id));
  const drivers = new Map<string, LearnerDriver>();
  for (const r of roster) drivers.set(r.learnerId, await LearnerDriver.create(api, 'bench', r.learnerId, scenario));
  const arm = spec.arm ? new RehearsalArm(stack.armAccess()) : undefined;
  const idle = groupMemory(stack.pgid);
  // The idle stack's own CPU (the Teams sender's and the sweeper's timers), to tell it from the cohort's.
  const idleCpu0 = groupCpuMs(stack.pgid);
  const idleT0 = performance.now();
  await sleep(5_000);
  const idleCpuMsPerSec = (groupCpuMs(stack.pgid) - idleCpu0) / ((performance.now() - idleT0) / 1000);

  const engine0 = await stack.engine();
  const cpu0 = groupCpuMs(stack.pgid);
  const t0 = performance.now();
  const wall0 = Date.now();
  const subscriptionIds = stack.armAccess().subscriptionIds;
  const learnerSubscriptions = subscriptionIds.length > 1 ? subscriptionIds.map((subscriptionId) => ({ subscriptionId })) : undefined;
  const start = await api.startRun({ runId: 'bench', scenario, roster, rosterName: 'bench roster', instructors: [INSTRUCTOR.upn], timeScale: TIME_SCALE, ...(learnerSubscriptions ? { learnerSubscriptions } : {}) });
  for (const l of start.learners) api.setLearnerToken(l.learnerId, l.token);
  log(`run started: ${n} learners, ${scenario}, time scale ${TIME_SCALE}, ${subscriptionIds.length} learner subscription(s)${arm ? ', learners do their implementation work through ARM' : ''}`);

  const prompts = new Map<string, Prompt[]>(roster.map((r) => [r.learnerId, []]));
  const actions: Action[] = [];
  const acted = new Map<string, Set<string>>(roster.map((r) => [r.learnerId, new Set()]));
  const implemented = new Set<string>();
  const lastLook = new Map<string, number>();
  const finished = new Set<string>();
  const queued = new Set<string>();
  const queue: Array<{ learnerId: string; swept: boolean; wantStep?: string; tries?: number }> = [];
  let lagRetries = 0;
  let armWork = 0;
  const cardsSeen = new Set<string>();
  let seq = 0;
  let timeboxHits = 0;
  let done = false;
  let failure: Error | undefined;
  const sizes = { cohortHistory: 0, cohortInput: 0, cohortCustomStatus: 0 };

  const enqueue = (learnerId: string, swept: boolean, wantStep?: string, tries = 0) => {
    if (finished.has(learnerId) || queued.has(learnerId)) return;
    queued.add(learnerId);
    queue.push({ learnerId, swept, wantStep, tries });
  };

  /** One look by one learner: where am I, and if it is my turn (or the instructor's review), act. */
  const look = async (learnerId: string, swept: boolean, wantStep?: string, tries = 0): Promise<void> => {
    lastLook.set(learnerId, Date.now());
    const driver = drivers.get(learnerId)!;
    let s: LearnerStatus;
    try {
      s = await driver.status();
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 404) return; // the journey is not there yet
      throw err;
    }
    if (s.journey?.state === 'completed') {
      finished.add(learnerId);
      return;
    }
    const p = s.position;
    // The card is out before the learner's status shows its step (the checkpoint is written by another activity):
    // look again shortly, as a person would who clicks before the page caught up.
    if (wantStep && p?.stepId !== wantStep && tries < 40) {
      lagRetries++;
      setTimeout(() => enqueue(learnerId, swept, wantStep, tries + 1), 250);
      return;
    }
    if (!p?.stepId) return;
    const key = `${p.phase}|${p.attempt}|${p.stepId}|${p.state}|${p.stepAttempt}`;
    const mine = acted.get(learnerId)!;
    if (mine.has(key)) return;
    // A Teams learner acts on the card in front of them: not before the step's card has arrived.
    if (!cardless.has(p.stepId) && !prompts.get(learnerId)!.some((pr) => pr.stepId === p.stepId)) return;
    const step = planSteps.find((x) => x.id === p.stepId);
    if (arm && loaded.template && step?.kind === 'task' && p.phase === 'implementation' && p.state === 'awaitingLearner' && !implemented.has(learnerId)) {
      implemented.add(learnerId);
      if (await arm.implementTasks(learnerResourceGroupName('bench', learnerId), loaded.template as Record<string, unknown> & { parameters?: Record<string, { type?: string }> })) armWork++;
    }
    const at = Date.now();
    const did = await driver.actOnce(s);
    if (!did) return;
    mine.add(key);
    actions.push({ learnerId, stepId: did, state: p.state, at, ackMs: Date.now() - at, swept });
  };

  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (!done) {
      const item = queue.shift();
      if (!item) {
        await sleep(20);
        continue;
      }
      queued.delete(item.learnerId);
      await look(item.learnerId, item.swept, item.wantStep, item.tries).catch((err: unknown) => (failure ??= err as Error));
    }
  });

  // Prompts as they reach Teams: a new step card in a learner's chat is that learner's cue to look and act.
  const watcher = (async () => {
    while (!done) {
      const page = await getJson<{ activities: Array<{ id: string; seq: number; version: number; createdAt: string; upn?: string; attachments?: unknown }>; seq: number }>(`${stack.teamsUrl}/_emulator/activities?after=${seq}`).catch((err: unknown) => {
        failure ??= err as Error;
        return { activities: [], seq };
      });
      seq = page.seq;
      for (const a of page.activities) {
        if (cardsSeen.has(a.id)) continue;
        cardsSeen.add(a.id);
        if (a.upn === INSTRUCTOR.upn) {
          // A review card: the instructor opens that learner and decides (LearnerDriver approves as the instructor).
          const about = /"learnerId":"([^"]+)"/.exec(JSON.stringify(a.attachments ?? []))?.[1];
          if (about && drivers.has(about)) enqueue(about, false);
          continue;
        }
        const learnerId = a.upn ? byUpn.get(a.upn) : undefined;
        if (!learnerId) continue;
        const text = JSON.stringify(a.attachments ?? []);
        if (text.includes('⏰') || text.includes('⛔')) timeboxHits++; // a timebox warning or a phase stopped: not on time
        const stepId = stepIdOfCard(a.attachments);
        if (!stepId) continue;
        prompts.get(learnerId)!.push({ stepId, at: Date.parse(a.createdAt) });
        enqueue(learnerId, false, stepId);
      }
      await sleep(200);
    }
  })();

  // The cohort's own state while it runs: it continues as new, so its executions' histories are gone afterwards.
  const cohortId = cohortInstanceId('bench');
  const sampleCohort = async (): Promise<string> => {
    const s = await getJson<{ runtimeStatus: string; input: unknown; customStatus: unknown; historyEvents?: Array<{ EventType: string }> }>(
      `${stack.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(cohortId)}?showHistory=true&showInput=true`,
    );
    const events = (s.historyEvents ?? []).filter((e) => e.EventType !== 'OrchestratorStarted' && e.EventType !== 'OrchestratorCompleted').length;
    sizes.cohortHistory = Math.max(sizes.cohortHistory, events);
    sizes.cohortInput = Math.max(sizes.cohortInput, utf8(s.input));
    sizes.cohortCustomStatus = Math.max(sizes.cohortCustomStatus, utf8(s.customStatus));
    return s.runtimeStatus;
  };

  let lastReport = Date.now();
  try {
    for (;;) {
      if (failure) throw failure;
      if (performance.now() - t0 > RUN_DEADLINE_MS) throw new Error(`the run did not finish within ${RUN_DEADLINE_MS / 60_000} min: ${finished.size}/${n} learners finished`);
      const runtimeStatus = await sampleCohort();
      if (runtimeStatus === 'Completed') break;
      if (runtimeStatus === 'Failed' || runtimeStatus === 'Terminated') throw new Error(`the cohort orchestration is ${runtimeStatus}`);
      const now = Date.now();
      for (const r of roster) if (now - (lastLook.get(r.learnerId) ?? wall0) > Math.max(SWEEP_MS, (n / 40) * 1000)) enqueue(r.learnerId, true);
      if (now - lastReport > 15_000) {
        lastReport = now;
        log(`  ${f0((now - wall0) / 1000)} s: ${actions.length} actions, ${finished.size}/${n} learners finished, stack RSS ${mb(groupMemory(stack.pgid).rss)}, load ${load()}`);
      }
      await sleep(2_000);
    }
  } finally {
    done = true;
    await Promise.all([...workers, watcher]);
  }
  const wallMs = performance.now() - t0;
  const cpuMs = groupCpuMs(stack.pgid) - cpu0;
  const engine1 = await stack.engine();
  const peak = Math.max(peakRss(), groupMemory(stack.pgid).rss, groupMemory(stack.pgid).hwm);
  log(`run completed in ${f1(wallMs / 1000)} s; measuring sizes and rows`);

  // Every prompt after every action: the first step card for another step that reached the learner's chat after the call.
  // The learner's next prompt: the first card, after the call, of a step after the one acted on (cards of earlier
  // steps can still be on their way when the Teams sender is behind).
  const later = (a: Action) => (pr: Prompt) => pr.at >= a.at && (order.get(pr.stepId) ?? -1) > (order.get(a.stepId) ?? Infinity);
  // Direct: the prompt is for the step right after the one acted on (the machine moves on). The others wait on
  // the engine's and other people's work in between: the instructor's review, the deployment, the checks.
  const direct = (a: Action, pr: Prompt) => order.get(pr.stepId) === (order.get(a.stepId) ?? -2) + 1;
  const latencies: number[] = [];
  const directLatencies: number[] = [];
  const perStep = new Map<string, number[]>();
  const unmatchedSteps: Record<string, number> = {};
  for (const a of actions) {
    const next = prompts.get(a.learnerId)!.filter(later(a)).sort((x, y) => x.at - y.at)[0];
    if (next) {
      latencies.push(next.at - a.at);
      if (direct(a, next)) directLatencies.push(next.at - a.at);
      const key = `${a.stepId}→${next.stepId}`;
      perStep.set(key, [...(perStep.get(key) ?? []), next.at - a.at]);
    } else unmatchedSteps[a.stepId] = (unmatchedSteps[a.stepId] ?? 0) + 1;
  }
  const byStep = Object.fromEntries([...perStep].map(([k, xs]) => [k, { n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) }]));
  // The engine's share: the same pairs, to the moment the phase wrote the prompt into the outbox (what the Teams
  // sender then delivers on its timer, within Teams' rate limits).
  const outboxPrompts = new Map<string, Prompt[]>();
  await pool(roster, 8, async (r) => {
    const { messages } = await api.learnerMessages('bench', r.learnerId);
    outboxPrompts.set(r.learnerId, messages.filter((m) => m.kind === 'prompt' && typeof m.body.stepId === 'string').map((m) => ({ stepId: m.body.stepId as string, at: Date.parse(m.createdAt) })));
  });
  const engineLatencies: number[] = [];
  const engineDirect: number[] = [];
  for (const a of actions) {
    const next = outboxPrompts.get(a.learnerId)!.filter(later(a)).sort((x, y) => x.at - y.at)[0];
    if (next) engineLatencies.push(next.at - a.at);
    if (next && direct(a, next)) engineDirect.push(next.at - a.at);
  }
  const spread = (xs: number[]) => ({ p50: pct(xs, 50), p90: pct(xs, 90), p99: pct(xs, 99), max: xs.length ? Math.max(...xs) : NaN, count: xs.length });
  const unmatched = Object.values(unmatchedSteps).reduce((x, y) => x + y, 0);
  if (unmatched) log(`actions with no later prompt, by step: ${JSON.stringify(unmatchedSteps)}`);
  const view = await api.runStatus('bench');
  const completed = view.learners.filter((l) => l.state === 'completed').length;

  const largest = await largestState(stack, cohortId, sizes);
  const teams = await getJson<{ stats: SizeResult['teams'] }>(`${stack.teamsUrl}/_emulator/calls`).then((r) => r.stats);
  await stack.proc.kill9();
  const rows = storeRows(stack.dataDir);
  const rowTotal = Object.values(rows).reduce((a, b) => a + b, 0);
  const steps = engine1.episodes - engine0.episodes;
  const historyEvents = engine1.historyEvents - engine0.historyEvents;
  const byType: Record<string, number> = {};
  for (const [k, v] of Object.entries(engine1.historyByType)) {
    const d = v - (engine0.historyByType[k] ?? 0);
    if (d) byType[EventType[Number(k)] ?? k] = d / n;
  }
  return {
    completed,
    wallMs,
    lagRetries,
    armWork,
    steps,
    stepsPerSec: steps / (wallMs / 1000),
    activities: engine1.activitiesRun - engine0.activitiesRun,
    actions: actions.length,
    actionToPromptMs: { p50: pct(latencies, 50), p90: pct(latencies, 90), p99: pct(latencies, 99), max: Math.max(...latencies), count: latencies.length, unmatched },
    actionToOutboxMs: spread(engineLatencies),
    directToPromptMs: spread(directLatencies),
    directToOutboxMs: spread(engineDirect),
    actionAckMs: { p50: pct(actions.map((a) => a.ackMs), 50), p99: pct(actions.map((a) => a.ackMs), 99) },
    sweptActions: actions.filter((a) => a.swept).length,
    peakRssBytes: peak,
    idleRssBytes: idle.rss,
    stackCpuMs: cpuMs,
    cpuMsPerLearner: cpuMs / n,
    idleCpuMsPerSec,
    netCpuMsPerLearner: (cpuMs - idleCpuMsPerSec * (wallMs / 1000)) / n,
    actionToPromptByStep: byStep,
    stepsPerLearner: steps / n,
    historyEventsPerLearner: historyEvents / n,
    historyByTypePerLearner: byType,
    storeCommits: engine1.store.commits - engine0.store.commits,
    storeWritesPerLearner: (engine1.store.writes - engine0.store.writes) / n,
    largest,
    storeRows: rows,
    storeRowsPerLearner: rowTotal / n,
    storeFileBytes: ['', '-wal'].reduce((a, s) => a + (existsSync(storeFile(stack.dataDir) + s) ? readFileSync(storeFile(stack.dataDir) + s).length : 0), 0),
    teams,
    timeboxHits,
    loadAverage: loadavg(),
  };
}

/** The largest history (events of one execution), input and custom status of any instance of the run, at the end. */
async function largestState(stack: Stack, cohortId: string, sampled: { cohortHistory: number; cohortInput: number; cohortCustomStatus: number }): Promise<NonNullable<SizeResult['largest']>> {
  const durable = `${stack.url}/runtime/webhooks/durabletask`;
  const ids: Array<{ instanceId: string; input: unknown; customStatus: unknown }> = [];
  let token: string | null = null;
  do {
    const res: Response = await fetch(`${durable}/instances?instanceIdPrefix=${encodeURIComponent('run-bench')}&top=500&showInput=true`, { headers: token ? { 'x-ms-continuation-token': token } : {} });
    ids.push(...((await res.json()) as typeof ids));
    token = res.headers.get('x-ms-continuation-token');
  } while (token);
  let history = { instanceId: cohortId, events: sampled.cohortHistory };
  let input = { instanceId: cohortId, bytes: sampled.cohortInput };
  let custom = { instanceId: cohortId, bytes: sampled.cohortCustomStatus };
  for (const i of ids) {
    if (utf8(i.input) > input.bytes) input = { instanceId: i.instanceId, bytes: utf8(i.input) };
    if (utf8(i.customStatus) > custom.bytes) custom = { instanceId: i.instanceId, bytes: utf8(i.customStatus) };
  }
  await pool(ids, 8, async (i) => {
    const s = await getJson<{ historyEvents?: Array<{ EventType: string }> }>(`${durable}/instances/${encodeURIComponent(i.instanceId)}?showHistory=true&showInput=false`);
    const events = (s.historyEvents ?? []).filter((e) => e.EventType !== 'OrchestratorStarted' && e.EventType !== 'OrchestratorCompleted').length;
    if (events > history.events) history = { instanceId: i.instanceId, events };
  });
  return { historyEvents: history, cohortHistoryEvents: sampled.cohortHistory, inputBytes: input, cohortInputBytes: sampled.cohortInput, customStatusBytes: custom, cohortCustomStatusBytes: sampled.cohortCustomStatus };
}

/** Rows in the stack's store after the run (the stack is gone; opening the file replays its WAL). */
function storeRows(dataDir: string): Record<string, number> {
  const db = new DatabaseSync(storeFile(dataDir));
  try {
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    const rows: Record<string, number> = {
      'task hub: instances': count('SELECT COUNT(*) AS n FROM dt_instances'),
      'task hub: history': count('SELECT COUNT(*) AS n FROM dt_history'),
      'task hub: inbox': count('SELECT COUNT(*) AS n FROM dt_inbox'),
    };
    for (const r of db.prepare('SELECT tbl, COUNT(*) AS n FROM app_entities GROUP BY tbl ORDER BY tbl').all() as Array<{ tbl: string; n: number }>) rows[`table ${r.tbl}`] = r.n;
    return rows;
  } finally {
    db.close();
  }
}

// ---- report --------------------------------------------------------------------------------------

const GOALS = { learners: 1000, p99Ms: 100, rssBytes: 1024 ** 3, flatWithin: 0.2 };

function printSize(r: SizeResult): void {
  console.log(`\n## ${r.learners} learners, ${r.mode} (${r.scenario})`);
  if (r.skipped || r.error) {
    console.log(r.skipped ?? `failed: ${r.error}`);
    return;
  }
  const l = r.largest!;
  const lat = r.actionToPromptMs!;
  console.log(
    table([
      ['figure', 'value'],
      ['learners through all four phases', `${r.completed} / ${r.learners}${r.mode === 'arm' ? ` (${r.armWork} did their implementation work through ARM)` : ''}`],
      ['learner subscriptions', `${r.subscriptions ?? 1}${r.quotas ? ` (quota raised: ${r.quotas})` : ''}`],
      ['wall time', `${f1(r.wallMs! / 1000)} s`],
      ['orchestration steps (episodes) / steps/s', `${f0(r.steps!)} / ${f0(r.stepsPerSec!)}`],
      ['activities run', f0(r.activities!)],
      ['learner actions (found by the periodic look)', `${f0(r.actions!)} (${f0(r.sweptActions!)}); status behind the card ${f0(r.lagRetries!)} times`],
      ['action → next prompt at the connector, p50 / p90 / p99 / max', `${f0(lat.p50)} / ${f0(lat.p90)} / ${f0(lat.p99)} / ${f0(lat.max)} ms (${lat.count} pairs${lat.unmatched ? `, ${lat.unmatched} actions with no later prompt` : ''})`],
      ['action → next prompt in the outbox (engine only), p50 / p90 / p99', `${f0(r.actionToOutboxMs!.p50)} / ${f0(r.actionToOutboxMs!.p90)} / ${f0(r.actionToOutboxMs!.p99)} ms (${r.actionToOutboxMs!.count} pairs)`],
      ['  the next step directly: at the connector / in the outbox, p50 / p99', `${f0(r.directToPromptMs!.p50)} / ${f0(r.directToPromptMs!.p99)} ms; ${f0(r.directToOutboxMs!.p50)} / ${f0(r.directToOutboxMs!.p99)} ms (${r.directToPromptMs!.count} pairs)`],
      ['action → API answer (202), p50 / p99', `${f0(r.actionAckMs!.p50)} / ${f0(r.actionAckMs!.p99)} ms`],
      ['whole stack RSS idle / peak', `${mb(r.idleRssBytes!)} / ${mb(r.peakRssBytes!)}`],
      ['largest history (events of one execution)', `${f0(l.historyEvents.events)} (${l.historyEvents.instanceId}); cohort ${f0(l.cohortHistoryEvents)}`],
      ['largest orchestration input', `${f0(l.inputBytes.bytes)} B (${l.inputBytes.instanceId}); cohort ${f0(l.cohortInputBytes)} B`],
      ['largest custom status', `${f0(l.customStatusBytes.bytes)} B (${l.customStatusBytes.instanceId}); cohort ${f0(l.cohortCustomStatusBytes)} B`],
      ['store rows per learner (after the run)', f1(r.storeRowsPerLearner!)],
      ['history events written per learner', f1(r.historyEventsPerLearner!)],
      ['store writes per learner / commits', `${f1(r.storeWritesPerLearner!)} / ${f0(r.storeCommits!)}`],
      ['cost per learner: stack CPU ms / steps', `${f0(r.cpuMsPerLearner!)} / ${f1(r.stepsPerLearner!)} (CPU without the idle stack's ${f0(r.idleCpuMsPerSec!)} ms/s: ${f0(r.netCpuMsPerLearner!)})`],
      ['Teams sends / updates / conversations created / 429s', `${f0(r.teams!.sends)} / ${f0(r.teams!.updates)} / ${f0(r.teams!.creates)} / ${f0(r.teams!.throttled)}`],
      ['timebox warnings or phases stopped (cards to learners)', String(r.timeboxHits)],
      ['store file', mb(r.storeFileBytes!)],
    ], 'left'),
  );
  console.log(`store rows: ${Object.entries(r.storeRows!).map(([k, v]) => `${k} ${f0(v)}`).join(', ')}`);
  console.log(`action → next prompt by step (p50/p99 ms, n): ${Object.entries(r.actionToPromptByStep!).map(([k, v]) => `${k} ${f0(v.p50)}/${f0(v.p99)} (${v.n})`).join(', ')}`);
  console.log(`history events per learner by type: ${Object.entries(r.historyByTypePerLearner!).map(([k, v]) => `${k} ${f1(v)}`).join(', ')}`);
}

/** One column per size: the table README quotes. */
function printSummary(results: SizeResult[]): void {
  const head = ['figure', ...results.map((r) => `${f0(r.learners)}${r.mode === 'arm' ? ' arm' : ''}`)];
  const cell = (r: SizeResult, f: (r: SizeResult) => string) => (r.skipped ? 'skipped' : r.error ? 'failed' : f(r));
  const row = (label: string, f: (r: SizeResult) => string) => [label, ...results.map((r) => cell(r, f))];
  console.log(
    table([
      head,
      row('completed', (r) => `${r.completed}/${r.learners}`),
      row('learner subscriptions', (r) => String(r.subscriptions ?? 1)),
      row('wall time s', (r) => f0(r.wallMs! / 1000)),
      row('steps/s', (r) => f0(r.stepsPerSec!)),
      row('action → prompt p50 ms', (r) => f0(r.actionToPromptMs!.p50)),
      row('action → prompt p99 ms', (r) => f0(r.actionToPromptMs!.p99)),
      row('  to the outbox p50 / p99 ms', (r) => `${f0(r.actionToOutboxMs!.p50)} / ${f0(r.actionToOutboxMs!.p99)}`),
      row('next step directly: prompt p50 / p99 ms', (r) => `${f0(r.directToPromptMs!.p50)} / ${f0(r.directToPromptMs!.p99)}`),
      row('  to the outbox p50 / p99 ms', (r) => `${f0(r.directToOutboxMs!.p50)} / ${f0(r.directToOutboxMs!.p99)}`),
      row('stack peak RSS', (r) => mb(r.peakRssBytes!)),
      row('largest history (events)', (r) => f0(r.largest!.historyEvents.events)),
      row('cohort input / custom status B', (r) => `${f0(r.largest!.cohortInputBytes)} / ${f0(r.largest!.cohortCustomStatusBytes)}`),
      row('largest input B', (r) => f0(r.largest!.inputBytes.bytes)),
      row('store rows / learner', (r) => f0(r.storeRowsPerLearner!)),
      row('history events / learner', (r) => f0(r.historyEventsPerLearner!)),
      row('CPU ms / learner', (r) => f0(r.cpuMsPerLearner!)),
      row('  without idle timers', (r) => f0(r.netCpuMsPerLearner!)),
      row('steps / learner', (r) => f1(r.stepsPerLearner!)),
    ]),
  );
  for (const r of results) if (r.skipped) console.log(`${r.learners}: ${r.skipped}`);
}

function verdicts(results: SizeResult[]): string[] {
  const ran = results.filter((r) => !r.skipped && !r.error);
  const noArm = ran.filter((r) => r.mode === 'no-arm');
  const biggest = results.filter((r) => r.learners >= GOALS.learners);
  const out: string[] = [];
  const thousand = biggest.find((r) => !r.skipped && !r.error && r.completed === r.learners);
  out.push(
    thousand
      ? `MET      ${GOALS.learners} learners complete (${thousand.completed}/${thousand.learners} in ${f0(thousand.wallMs! / 1000)} s)`
      : `NOT MET  ${GOALS.learners} learners complete: ${biggest.length ? biggest.map((r) => r.skipped ?? r.error ?? `${r.completed}/${r.learners}`).join('; ') : 'not run (--sizes)'}`,
  );
  // The goal is about the product answering a learner: judged on the pairs where nothing but the engine and the bot
  // stand between the action and the next prompt; the pairs across a review or a deployment are printed beside it.
  const worstP99 = Math.max(...ran.map((r) => r.directToPromptMs!.p99));
  out.push(
    `${worstP99 < GOALS.p99Ms ? 'MET    ' : 'NOT MET'}  p99 action → next prompt < ${GOALS.p99Ms} ms at the connector (next step directly): ${ran.map((r) => `${r.learners}${r.mode === 'arm' ? ' arm' : ''}: ${f0(r.directToPromptMs!.p99)} ms (engine to the outbox ${f0(r.directToOutboxMs!.p99)} ms; all pairs ${f0(r.actionToPromptMs!.p99)} ms)`).join(', ') || 'nothing ran'}`,
  );
  const worstRss = Math.max(...ran.map((r) => r.peakRssBytes!));
  out.push(`${worstRss < GOALS.rssBytes ? 'MET    ' : 'NOT MET'}  whole stack < 1 GB: ${ran.map((r) => `${r.learners}${r.mode === 'arm' ? ' arm' : ''}: ${mb(r.peakRssBytes!)}`).join(', ') || 'nothing ran'}`);
  if (noArm.length >= 2) {
    const flat = (key: 'cpuMsPerLearner' | 'stepsPerLearner') => {
      const xs = noArm.map((r) => r[key]!);
      const spread = Math.max(...xs) / Math.min(...xs) - 1;
      return { spread, ok: spread <= GOALS.flatWithin, text: noArm.map((r) => `${r.learners}: ${key === 'cpuMsPerLearner' ? f0(r[key]!) : f1(r[key]!)}`).join(', ') };
    };
    const cpu = flat('cpuMsPerLearner');
    const steps = flat('stepsPerLearner');
    out.push(`${cpu.ok && steps.ok ? 'MET    ' : 'NOT MET'}  cost per learner flat within 20 % (no-arm sizes): CPU ms ${cpu.text} (spread ${f0(cpu.spread * 100)} %); steps ${steps.text} (spread ${f0(steps.spread * 100)} %)`);
  } else out.push('n/a      cost per learner flat within 20 %: needs two no-arm sizes that ran');
  return out;
}

/** bench/results.json holds other benchmarks' figures too: replace only this bench's key. */
function writeResults(entry: Record<string, unknown>): void {
  let existing: Record<string, unknown> = {};
  if (existsSync(RESULTS_FILE)) {
    try {
      existing = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${path.relative(REPO, RESULTS_FILE)} is not JSON (${(err as Error).message}); fix or move it, the bench will not overwrite it`);
    }
  }
  writeFileSync(RESULTS_FILE, JSON.stringify({ ...existing, cohort: entry }, null, 2) + '\n');
}

async function main(): Promise<void> {
  const began = performance.now();
  const log = (line: string) => console.log(`[${f1((performance.now() - began) / 1000)} s, load ${load()}] ${line}`);
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? '?'}), ${mb(totalmem())} RAM, node ${process.version}`;
  console.log(`cohort bench: ${machine}; load average ${load()}`);
  console.log(`Teams sender: TEAMS_SENDER_SCHEDULE ${process.env.TEAMS_SENDER_SCHEDULE ?? '(default, every 2 s)'}, BOT_APP_SENDS_PER_SECOND ${process.env.BOT_APP_SENDS_PER_SECOND ?? '(default 30)'}`);
  console.log(`sizes ${SIZES.map((s) => `${s.learners}${s.arm ? ':arm' : ''}`).join(', ')}; time scale ${TIME_SCALE}; ${CONCURRENCY} learners act at once at most; MAX_LEARNERS_PER_RUN ${MAX_LEARNERS_PER_RUN}`);
  const results: SizeResult[] = [];
  for (const spec of SIZES) {
    log(`size ${spec.learners} (${spec.arm ? 'arm' : 'no-arm'})`);
    try {
      results.push(await runSize(spec, log));
    } catch (err) {
      log(`size ${spec.learners} failed: ${(err as Error).stack ?? err}`);
      results.push({ learners: spec.learners, mode: spec.arm ? 'arm' : 'no-arm', scenario: spec.arm ? args['arm-scenario']! : args.scenario!, error: (err as Error).message });
    }
    const last = results[results.length - 1]!;
    if (last.skipped) log(`${spec.learners} learners: ${last.skipped}`);
  }
  for (const r of results) printSize(r);
  console.log('\n## Summary');
  printSummary(results);
  const lines = verdicts(results);
  console.log(`\n## Goals (this machine: ${machine}; load average now ${load()})`);
  for (const l of lines) console.log(l);
  writeResults({ date: new Date().toISOString(), machine, senderSchedule: process.env.TEAMS_SENDER_SCHEDULE ?? null, appSendsPerSecond: process.env.BOT_APP_SENDS_PER_SECOND ?? null, timeScale: TIME_SCALE, concurrency: CONCURRENCY, maxLearnersPerRun: MAX_LEARNERS_PER_RUN, sizes: results, goals: lines, seconds: (performance.now() - began) / 1000 });
  console.log(`\nwrote ${path.relative(REPO, RESULTS_FILE)} (key "cohort"); bench finished in ${f1((performance.now() - began) / 1000)} s`);
  process.exit(results.some((r) => r.error) ? 1 : 0);
}

void main();
