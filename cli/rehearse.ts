import { learnerResourceGroupName } from '../azure/environmentNames';
import type { RunStatusResponse } from '../http/runsApi';
import type { PhasePosition } from '../http/position';
import type { PhaseName } from '../machines/phaseMachine';
import type { RunReport } from '../orchestrations/cohortRun';
import type { QuestionStep, ScenarioPack, Step } from '../scenarios/schema';
import { ApiCallError, type WorkshopApi } from './apiClient';
import { loadCliPack } from './cliPacks';
import { RehearsalArm, type ArmAccess, type BrokenSetting, type PropertyCheck } from './rehearsalArm';
import type { RetryInfo } from './retry';

/**
 * `workshop rehearse`: a cohort of simulated learners walks a whole workshop through the API, with
 * a simulated instructor, so a real instructor can watch (and practise on) a run before the day.
 *
 * Who does what (learner i of n):
 *  - i % 5 == 0  "reviewSentBack": the instructor sends the architecture review back once, then approves;
 *  - i % 5 == 1  "wrong": answers the first question badly (the API refuses it with what is missing),
 *                and once breaks a setting a validation check looks at (through the ARM REST API),
 *                so validation fails; then fixes it and says done again;
 *  - learner 2   "failing": its provisioning fails — a resource group of another scenario holds its
 *                group's name (through the ARM REST API) — until the instructor removes it and resumes;
 *                without ARM access its Implementation timebox runs out instead, and is resumed;
 *  - i % 5 == 3  "helpSeeker": asks for help in the Design phase; the instructor answers;
 *  - i % 5 == 4  (and 2 beyond the first cohort of five) "slow": waits a few polls before every action.
 * Everyone else answers, submits and says done as prompted. The simulated instructor approves every
 * other review, answers every help request and resumes every failure.
 *
 * A bad day does not end it: calls that get no answer (the host restarting), 429 and 5xx are retried
 * (cli/retry.ts: Retry-After obeyed, back-off with jitter, for `retryForMs`), ARM calls likewise (and
 * the ARM address is read again when the emulator restarts), an instructor action the run refuses is
 * tried again at a later look, and `attach` (or a `runId` that already exists) picks a run up where
 * an earlier rehearsal left it.
 */
export type Profile = 'reviewSentBack' | 'wrong' | 'failing' | 'helpSeeker' | 'slow';

/** A rehearsal asked for something that cannot be (no such run to attach to, flags missing): printed without a stack. */
export class RehearsalInputError extends Error {
  override name = 'RehearsalInputError';
}

export function profileOf(index: number): Profile {
  if (index === 2) return 'failing';
  return (['reviewSentBack', 'wrong', 'slow', 'helpSeeker', 'slow'] as const)[index % 5];
}

export interface RehearseOptions {
  api: WorkshopApi;
  /** Required unless attaching (then it must match the run's, when given). */
  scenario?: string;
  /** Required unless attaching (then the run's roster decides). */
  learners?: number;
  timeScale?: number;
  /** Start the run under this id; if a run with this id exists already, attach to it. */
  runId?: string;
  /** Attach to this existing run instead of starting one. */
  attach?: string;
  /** Keep retrying a failing API or ARM call this long (ms) before giving up; default 5 minutes. */
  retryForMs?: number;
  /** ARM access for breaking/fixing environments and the failing provisioning; without it, see above. */
  arm?: ArmAccess;
  packsDir?: string;
  pollMs?: number;
  slowPolls?: number;
  timeoutMs?: number;
  /** Parallel API calls per poll. */
  concurrency?: number;
  batchSize?: number;
  /** Values for the pack's instructor parameters; missing required ones get rehearsal values. */
  parameters?: Record<string, unknown>;
  onStatus?: (status: RunStatusResponse) => void;
  log?: (line: string) => void;
}

export interface RehearsalReport {
  runId: string;
  /** The rehearsal picked up a run that existed already (`attach`, or a `runId` that was taken). */
  attached: boolean;
  /** Calls tried again: workshop API (host away, 429, 5xx) and ARM (throttled, restarted). */
  retries: { api: number; arm: number; armReloads: number };
  /** Instructor actions the run refused at first and that were tried again later. */
  instructorRetries: number;
  scenario: string;
  learners: number;
  timeScale: number;
  durationMs: number;
  polls: number;
  completed: boolean;
  profiles: Record<string, Profile>;
  /** Phases each learner passed or skipped, in order. */
  phasesDone: Record<string, PhaseName[]>;
  reviewsSentBack: Array<{ learnerId: string; phase: string; round: number }>;
  reviewsApproved: Array<{ learnerId: string; phase: string; round: number }>;
  helpAnswered: Array<{ learnerId: string; question: string }>;
  wrongAnswers: Array<{ learnerId: string; stepId: string; status: number }>;
  brokenSettings: Array<{ learnerId: string; checkId: string }>;
  validationRetries: Array<{ learnerId: string; stepId: string }>;
  resumes: Array<{ learnerId: string; phase: string; reason: string; action: string }>;
  skips: Array<{ learnerId: string; phase: string }>;
  provisioningBlocked: string[];
  /** Learners who did their implementation work through ARM. */
  implemented: string[];
  /** Groups of the run still in the (emulated) subscription after the run; teardown leaves none. */
  remainingGroups: string[] | null;
  runReport: RunReport | null;
  notes: string[];
}

const PHASE_ORDER: PhaseName[] = ['requirements', 'design', 'implementation', 'validation'];
const MAX_RESUMES = 4;
/** How long after acceptance an action that changed nothing is done again (see `accepted`); a resume or a review shows within seconds. */
const STALE_MS = 30_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

function goodAnswer(pack: ScenarioPack, step: QuestionStep): string {
  const points = step.answer.criteria.map((c) => `${c.keywords[0]} (${c.description.toLowerCase()})`);
  const words = [`For ${pack.businessContext.organisation} my answer covers ${points.join('; ')}.`];
  const filler = 'This follows from the business context, the constraints we were given and the outcome the organisation wants to reach.';
  while (words.join(' ').split(/\s+/).length < step.answer.minWords + 5) words.push(filler);
  return words.join(' ');
}

/** A stand-in for an instructor parameter nobody gave: documentation addresses, harmless values. */
function rehearsalValue(type: string, description: string): unknown {
  if (type === 'int') return 1;
  if (type === 'bool') return false;
  if (type === 'array') return [];
  if (type === 'object') return {};
  if (/\bIP\b|address/i.test(description)) return '203.0.113.10'; // TEST-NET-3, never routed
  return 'rehearsal';
}

/** The first propertyEquals check of the validate step right after `taskId`, if there is one. */
function breakableAfter(pack: ScenarioPack, taskId: string): { validateId: string; check: PropertyCheck } | undefined {
  for (const phase of pack.phases) {
    const i = phase.steps.findIndex((s) => s.id === taskId);
    if (i < 0) continue;
    const next = phase.steps[i + 1];
    if (next?.kind !== 'validate') return undefined;
    // A switch (true/false) is the safest thing to flip: any other value is still a valid setting.
    const candidates = next.checks
      .map((id) => pack.environment.checks.find((x) => x.id === id))
      .filter((c): c is Extract<ScenarioPack['environment']['checks'][number], { kind: 'propertyEquals' }> => c?.kind === 'propertyEquals' && c.resourceType.toLowerCase() !== 'microsoft.resources/resourcegroups')
      .sort((a, b) => Number(typeof b.expected === 'boolean') - Number(typeof a.expected === 'boolean'));
    const c = candidates[0];
    if (c) return { validateId: next.id, check: { id: c.id, resourceType: c.resourceType, namePattern: c.namePattern, property: c.property, expected: c.expected } };
  }
  return undefined;
}

interface Sim {
  learnerId: string;
  profile: Profile;
  /** The view entry (phase|attempt|step|state) that needs nothing more from this learner. */
  handledView: string | null;
  seenView: string | null;
  seenAtPoll: number;
  checkedAtPoll: number;
  acted: Set<string>;
  wrongDone: boolean;
  askedHelp: boolean;
  broken: BrokenSetting | null;
  brokeOnce: boolean;
  implemented: boolean;
}

/** What the whole rehearsal shares: its settings, the pack, ARM access, and what it reports. */
interface Setup {
  opts: RehearseOptions;
  api: WorkshopApi;
  log: (line: string) => void;
  started: number;
  timeScale: number;
  pollMs: number;
  slowPolls: number;
  concurrency: number;
  deadline: number;
  retryForMs: number;
  retries: RehearsalReport['retries'];
  /** Call once the workshop API answers: ends an outage's log line. */
  apiAnswered(): void;
  scenarioId: string;
  attachedStatus: RunStatusResponse | undefined;
  pack: ScenarioPack;
  loaded: Awaited<ReturnType<typeof loadCliPack>>;
  steps: Map<string, Step>;
  arm: RehearsalArm | undefined;
  notes: string[];
}

/** A rehearsal under way: the setup, its run and the simulated learners. */
interface Rehearsal extends Setup {
  runId: string;
  attached: boolean;
  sims: Sim[];
  report: RehearsalReport;
}

export async function rehearse(opts: RehearseOptions): Promise<RehearsalReport> {
  const setup = await prepare(opts);
  const { runId, roster, attached } = await startOrAttach(setup);
  const sims: Sim[] = roster.map((l, i) => newSim(l.learnerId, profileOf(i)));
  const r: Rehearsal = { ...setup, runId, attached: attached !== undefined, sims, report: newReport(setup, runId, attached !== undefined, sims) };
  await blockFailingLearner(r);
  const instructor = newInstructor();
  const last = await pollUntilDone(r, instructor);
  const { report } = r;
  report.completed = true;
  report.runReport = last?.report ?? null;
  await pool(sims, r.concurrency, async (sim) => {
    const detail = await r.api.learnerDetail(runId, sim.learnerId);
    const outcomes = detail.journey?.outcomes ?? {};
    report.phasesDone[sim.learnerId] = PHASE_ORDER.filter((phase) => outcomes[phase] === 'passed' || outcomes[phase] === 'skipped');
  });
  if (r.arm) report.remainingGroups = await r.arm.runGroups(runId);
  report.durationMs = Date.now() - r.started;
  return report;
}

/** Settings, retries (one log line per outage), the pack and ARM access; the run to attach to, when asked. */
async function prepare(opts: RehearseOptions): Promise<Setup> {
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  const api = opts.api;
  const retryForMs = opts.retryForMs ?? 5 * 60_000;
  const retries = { api: 0, arm: 0, armReloads: 0 };
  // One line per outage, not one per waiting learner: say when the API stops answering and when it is back.
  let outage: { since: number; reason: string } | undefined;
  const onApiRetry = (info: RetryInfo): void => {
    retries.api++;
    if (!outage) {
      outage = { since: Date.now(), reason: info.reason };
      log(`workshop API: ${info.reason} on ${info.what}; retrying${info.retryAfterMs !== undefined ? ` after ${info.retryAfterMs} ms (Retry-After)` : ' with back-off'} for up to ${Math.round(retryForMs / 1000)} s`);
    }
  };
  const apiAnswered = (): void => {
    if (!outage) return;
    log(`workshop API answers again after ${((Date.now() - outage.since) / 1000).toFixed(1)} s (${outage.reason})`);
    outage = undefined;
  };
  api.setRetry({ retryForMs, onRetry: onApiRetry });
  const attachTo = opts.attach;
  if (!attachTo && (opts.learners === undefined || !Number.isInteger(opts.learners) || opts.learners < 1)) throw new RehearsalInputError(`--learners must be a whole number of at least 1, got ${opts.learners}`);
  if (!attachTo && !opts.scenario) throw new RehearsalInputError('--scenario is required (unless you --attach to a run).');
  const attachedStatus = attachTo ? await existingRun(api, opts, attachTo) : undefined;
  const scenarioId = attachedStatus?.scenario.id ?? opts.scenario!;
  const loaded = await loadCliPack(scenarioId, opts.packsDir);
  const pack = loaded.pack;
  const arm = opts.arm
    ? new RehearsalArm(opts.arm, {
        retry: { retryForMs, onRetry: () => retries.arm++ },
        onReload: (a) => {
          retries.armReloads++;
          log(`ARM: the emulator moved; now using ${a.url}`);
        },
      })
    : undefined;
  const notes: string[] = [];
  if (!arm) {
    notes.push(
      'No ARM access (--arm-url/--arm-token or the local stack file): learners cannot do their Implementation work in their environments, so checks that need it fail ' +
        '(the instructor resumes, then skips them); the wrong learner only answers badly, and the failing learner runs out of time instead of failing provisioning.',
    );
  }
  return {
    opts,
    api,
    log,
    started,
    timeScale: opts.timeScale ?? 0.05,
    pollMs: opts.pollMs ?? 300,
    slowPolls: opts.slowPolls ?? 3,
    concurrency: opts.concurrency ?? 8,
    deadline: started + (opts.timeoutMs ?? 30 * 60_000),
    retryForMs,
    retries,
    apiAnswered,
    scenarioId,
    attachedStatus,
    pack,
    loaded,
    steps: new Map<string, Step>(pack.phases.flatMap((p) => p.steps.map((s) => [s.id, s] as const))),
    arm,
    notes,
  };
}

/** The run as it stands, for attaching: its pack and roster come from the run itself. */
async function existingRun(api: WorkshopApi, opts: RehearseOptions, runId: string): Promise<RunStatusResponse> {
  const status = await api.runStatus(runId).catch((err: unknown) => {
    if (err instanceof ApiCallError && err.status === 404) throw new RehearsalInputError(`Cannot attach to run "${runId}": there is no such run (workshop run list shows the runs).`);
    throw err;
  });
  if (opts.scenario && status.scenario.id !== opts.scenario) throw new RehearsalInputError(`Cannot attach to run "${runId}": it runs scenario "${status.scenario.id}", not "${opts.scenario}".`);
  return status;
}

type RosterEntry = { learnerId: string; name: string; email?: string };

/** Starts the run with a generated roster, or attaches to the one asked for (or to ours, when its id is taken). */
async function startOrAttach(s: Setup): Promise<{ runId: string; roster: RosterEntry[]; attached: RunStatusResponse | undefined }> {
  const { api, opts, log, pack } = s;
  let attached = s.attachedStatus;
  if (!attached) {
    const width = String(opts.learners).length;
    const roster = Array.from({ length: opts.learners! }, (_, i): RosterEntry => {
      const n = String(i + 1).padStart(Math.max(2, width), '0');
      return { learnerId: `learner-${n}`, name: `Rehearsal Learner ${n}`, email: `learner-${n}@rehearsal.example` };
    });
    try {
      const start = await api.startRun({
        parameters: rehearsalParameters(s),
        ...(opts.runId ? { runId: opts.runId } : {}),
        scenario: s.scenarioId,
        roster,
        rosterName: 'rehearsal roster',
        instructors: ['rehearsal-instructor'],
        timeScale: s.timeScale,
        ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
      });
      for (const l of start.learners) api.setLearnerToken(l.learnerId, l.token);
      log(`run ${start.runId} started: ${pack.title}, ${opts.learners} simulated learners, time scale ${s.timeScale}`);
      return { runId: start.runId, roster, attached: undefined };
    } catch (err) {
      // The run id is taken: an earlier rehearsal with this id (or our own start, whose answer a restart lost).
      if (!(err instanceof ApiCallError && err.status === 409 && opts.runId)) throw err;
      log(`run ${opts.runId} exists already: attaching to it`);
      attached = await existingRun(api, opts, opts.runId);
    }
  }
  const runId = attached.runId;
  const roster = attached.learners.map((l): RosterEntry => ({ learnerId: l.learnerId, name: l.name, ...(l.email ? { email: l.email } : {}) }));
  await pool(roster, s.concurrency, async (l) => api.setLearnerToken(l.learnerId, (await api.learnerToken(runId, l.learnerId)).token));
  if (opts.learners !== undefined && opts.learners !== roster.length) s.notes.push(`Attached to run ${runId}: its roster has ${roster.length} learners (--learners ${opts.learners} was ignored).`);
  s.notes.push(`Attached to run ${runId} (${attached.runtimeStatus}); counts in this report are what this rehearsal did after attaching.`);
  log(`attached to run ${runId}: ${pack.title}, ${roster.length} learners, ${attached.runtimeStatus}`);
  return { runId, roster, attached };
}

/** The pack's instructor parameters: as given, else a rehearsal value (said in the report's notes). */
function rehearsalParameters(s: Setup): Record<string, unknown> {
  const parameters = { ...(s.opts.parameters ?? {}) };
  for (const [name, p] of Object.entries(s.pack.environment.parameters)) {
    if (p.source !== 'instructor' || p.default !== undefined || parameters[name] !== undefined) continue;
    parameters[name] = rehearsalValue(p.type, p.description);
    s.notes.push(`Parameter ${name} (${p.description}) was not given; the rehearsal uses ${JSON.stringify(parameters[name])}.`);
  }
  return parameters;
}

function newSim(learnerId: string, profile: Profile): Sim {
  return { learnerId, profile, handledView: null, seenView: null, seenAtPoll: 0, checkedAtPoll: 0, acted: new Set(), wrongDone: false, askedHelp: false, broken: null, brokeOnce: false, implemented: false };
}

function newReport(s: Setup, runId: string, attached: boolean, sims: Sim[]): RehearsalReport {
  return {
    runId,
    attached,
    retries: s.retries,
    instructorRetries: 0,
    scenario: s.pack.id,
    learners: sims.length,
    timeScale: s.timeScale,
    durationMs: 0,
    polls: 0,
    completed: false,
    profiles: Object.fromEntries(sims.map((sim) => [sim.learnerId, sim.profile])),
    phasesDone: {},
    reviewsSentBack: [],
    reviewsApproved: [],
    helpAnswered: [],
    wrongAnswers: [],
    brokenSettings: [],
    validationRetries: [],
    resumes: [],
    skips: [],
    provisioningBlocked: [],
    implemented: [],
    remainingGroups: null,
    runReport: null,
    notes: s.notes,
  };
}

/** The failing learner's resource group name is taken by another scenario's group, so its provisioning fails. */
async function blockFailingLearner(r: Rehearsal): Promise<void> {
  const failing = r.sims.find((sim) => sim.profile === 'failing');
  if (!failing || !r.arm) return;
  const rg = learnerResourceGroupName(r.runId, failing.learnerId);
  if (!r.attached) {
    await r.arm.blockProvisioning(rg, 'westeurope');
    r.report.provisioningBlocked.push(failing.learnerId);
    r.log(`${failing.learnerId}: resource group name ${rg} is taken by another scenario's group, so its provisioning will fail`);
  } else if (await r.arm.isBlocked(rg)) {
    // The earlier rehearsal blocked it and stopped before the instructor removed the block.
    r.report.provisioningBlocked.push(failing.learnerId);
  }
}

/** Polls the run, letting the instructor and then the learners act, until it completes; the last status seen. */
async function pollUntilDone(r: Rehearsal, instructor: Instructor): Promise<RunStatusResponse | undefined> {
  const { api, runId, report } = r;
  let poll = 0;
  let last: RunStatusResponse | undefined;
  for (;;) {
    if (Date.now() > r.deadline) {
      report.durationMs = Date.now() - r.started;
      report.polls = poll;
      const where = last?.learners.map((l) => `${l.learnerId}: ${l.phase}/${l.state}${l.stepId ? ` @${l.stepId}` : ''}`).join('; ');
      throw Object.assign(new Error(`The rehearsal did not finish within ${Math.round((r.opts.timeoutMs ?? 0) / 1000)} s. Learners: ${where}`), { report });
    }
    poll++;
    const status = await api.runStatus(runId);
    r.apiAnswered();
    last = status;
    r.opts.onStatus?.(status);
    if (status.runtimeStatus === 'Completed') break;
    if (status.runtimeStatus === 'Failed' || status.runtimeStatus === 'Terminated') throw Object.assign(new Error(`Run ${runId} is ${status.runtimeStatus}.`), { report });
    await instructorTick(r, instructor, status);
    await pool(
      r.sims.filter((s) => {
        const e = status.learners.find((l) => l.learnerId === s.learnerId);
        return e && e.state !== 'completed' && e.state !== 'ended';
      }),
      r.concurrency,
      (sim) => learnerTick(r, sim, status.learners.find((l) => l.learnerId === sim.learnerId)!, poll),
    );
    await sleep(r.pollMs);
  }
  report.polls = poll;
  return last;
}

/** Calls that the run may refuse because it moved on meanwhile: 409 is an answer, not a failure. */
async function attempt(r: Setup, what: string, fn: () => Promise<unknown>): Promise<'ok' | number> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (err instanceof ApiCallError && (err.status === 409 || err.status === 422)) {
      r.log(`${what}: ${err.status} ${String(err.body.error ?? '').split('\n')[0].slice(0, 160)}`);
      return err.status;
    }
    throw err;
  }
}

/** Where a step stands in the workshop, to tell a checkpoint behind the cohort's view from one ahead of it. */
function stepOrder(pack: ScenarioPack, phase: string, stepId: string | null): number {
  const i = PHASE_ORDER.indexOf(phase as PhaseName);
  const ph = pack.phases.find((x) => x.id === phase);
  return i * 1000 + (ph && stepId ? ph.steps.findIndex((x) => x.id === stepId) : -1);
}

// ── the simulated learner ──

async function learnerTick(r: Rehearsal, sim: Sim, entry: RunStatusResponse['learners'][number], poll: number): Promise<void> {
  if (['completed', 'ended', 'failed', 'starting', 'awaitingReview'].includes(entry.state)) return;
  const view = `${entry.phase}|${entry.attempt}|${entry.stepId}|${entry.state}`;
  if (view !== sim.seenView) {
    sim.seenView = view;
    sim.seenAtPoll = poll;
  }
  const kind = entry.stepId ? r.steps.get(entry.stepId)?.kind : undefined;
  // A validate step's outcome (passed, or "fix and say done") does not always change the view.
  const polling = kind === 'validate' && poll % 2 === 0;
  // Look again now and then even when nothing seems to change: the cohort's view can lag.
  if (view === sim.handledView && !polling && poll - sim.checkedAtPoll < 10) return;
  if (sim.profile === 'slow' && poll - sim.seenAtPoll < r.slowPolls) return;

  sim.checkedAtPoll = poll;
  const status = await r.api.learnerStatus(r.runId, sim.learnerId);
  const p = status.position;
  if (!p) return;
  // The checkpoint behind the view: look again next poll. Ahead of it: the learner acts on it.
  if ((p.stepId !== entry.stepId || p.phase !== entry.phase) && stepOrder(r.pack, p.phase, p.stepId) < stepOrder(r.pack, entry.phase, entry.stepId)) return;
  // The failing learner without ARM access stalls in Implementation until its timebox runs out.
  if (sim.profile === 'failing' && !r.arm && p.phase === 'implementation' && p.stepKind === 'task' && !r.report.resumes.some((x) => x.learnerId === sim.learnerId)) return;
  const key = `${p.phase}|${p.attempt}|${p.stepId}|${p.state}|${p.stepAttempt}`;
  if (sim.acted.has(key)) {
    sim.handledView = view;
    return;
  }
  if (sim.profile === 'helpSeeker' && !sim.askedHelp && p.phase === 'design' && !p.helpPending) {
    sim.askedHelp = true;
    await attempt(r, `${sim.learnerId} help`, () => r.api.help(r.runId, sim.learnerId, `How detailed should the "${status.step?.title ?? p.stepId}" deliverable be for the review?`));
  }
  const done = await act(r, sim, p);
  if (done !== 'wait') sim.acted.add(key);
  if (done === 'acted' || done === 'nothing') sim.handledView = view;
}

type ActOutcome = 'acted' | 'nothing' | 'wait' | 'refused';

async function act(r: Rehearsal, sim: Sim, p: PhasePosition): Promise<ActOutcome> {
  const step = p.stepId ? r.steps.get(p.stepId) : undefined;
  const id = sim.learnerId;
  if (!step) return 'nothing';
  const { api, runId } = r;
  const call = async (what: string, fn: () => Promise<unknown>): Promise<ActOutcome> => ((await attempt(r, `${id} ${what} ${step.id}`, fn)) === 'ok' ? 'acted' : 'refused');
  switch (p.state) {
    case 'awaitingLearner':
      if (step.kind === 'question') {
        if (sim.profile === 'wrong' && !sim.wrongDone) {
          sim.wrongDone = true;
          const outcome = await attempt(r, `${id} wrong answer ${step.id}`, () => api.answer(runId, id, 'Not sure yet, maybe a database?', step.id));
          r.report.wrongAnswers.push({ learnerId: id, stepId: step.id, status: outcome === 'ok' ? 202 : outcome });
        }
        return call('answer', () => api.answer(runId, id, goodAnswer(r.pack, step), step.id));
      }
      if (step.kind === 'deliverable') return call('submit', () => api.submit(runId, id, step.title, `https://designs.rehearsal.example/${runId}/${id}/${step.id}`, step.id));
      if (step.kind === 'task') {
        await implementationWork(r, sim, p, step.id);
        return call('done', () => api.done(runId, id, step.id));
      }
      return 'nothing';
    case 'awaitingFix': {
      r.report.validationRetries.push({ learnerId: id, stepId: step.id });
      if (sim.broken && r.arm) {
        await r.arm.restore(sim.broken);
        r.log(`${id}: restored "${sim.broken.checkId}" after validation failed`);
        sim.broken = null;
      }
      return call('done (after fixing)', () => api.done(runId, id, step.id));
    }
    case 'changesRequested':
      return call('resubmit', () => api.submit(runId, id, `${step.title} (revised)`, `https://designs.rehearsal.example/${runId}/${id}/${step.id}/revised-${p.stepAttempt}`, step.id));
    default:
      return 'wait';
  }
}

/**
 * Before a learner reports an Implementation task done: the work itself in the environment (once), and, for
 * the wrong learner, a setting broken that a later validation check reads.
 */
async function implementationWork(r: Rehearsal, sim: Sim, p: PhasePosition, stepId: string): Promise<void> {
  const { arm, loaded, runId } = r;
  const id = sim.learnerId;
  if (!arm || p.phase !== 'implementation') return;
  if (!sim.implemented && loaded.template) {
    // The learner's implementation work, once, before the first task is reported done.
    sim.implemented = true;
    if (await arm.implementTasks(learnerResourceGroupName(runId, id), loaded.template as Record<string, unknown> & { parameters?: Record<string, { type?: string }> })) {
      r.report.implemented.push(id);
      r.log(`${id}: did the implementation work in its environment (reference solution, jobs and triggers started)`);
    }
  }
  if (sim.profile !== 'wrong' || sim.brokeOnce) return;
  const target = breakableAfter(r.pack, stepId);
  const apiVersion = target ? loaded.apiVersions.get(target.check.resourceType.toLowerCase()) : undefined;
  if (!target || !apiVersion) return;
  sim.brokeOnce = true;
  sim.broken =
    (await arm.breakSetting(learnerResourceGroupName(runId, id), target.check, apiVersion).catch((err: unknown) => {
      r.notes.push(`${id} could not break "${target.check.id}": ${(err as Error).message.slice(0, 200)}`);
      return undefined;
    })) ?? null;
  if (sim.broken) {
    r.report.brokenSettings.push({ learnerId: id, checkId: target.check.id });
    r.log(`${id}: broke "${target.check.id}" (${target.check.property}) before saying done`);
  }
}

// ── the simulated instructor ──

interface Instructor {
  sentBack: Set<string>;
  answered: Set<string>;
  /**
   * Instructor actions the run accepted, by what they answered (learner, phase, attempt, round…),
   * with the time of acceptance. An accepted action whose effect never shows — the learner is still
   * in the very same place STALE_MS later, as when a restart lost the raised event — is done
   * again, as an instructor watching the dashboard would; a repeat the run no longer needs is refused.
   */
  accepted: Map<string, number>;
  done: Map<string, { view: string; tick: number }>;
  ticks: number;
}

function newInstructor(): Instructor {
  return { sentBack: new Set(), answered: new Set(), accepted: new Map(), done: new Map(), ticks: 0 };
}

function awaitingEffect(r: Rehearsal, ins: Instructor, key: string): boolean {
  const at = ins.accepted.get(key);
  if (at === undefined) return false;
  if (Date.now() - at < STALE_MS) return true;
  r.report.instructorRetries++;
  r.log(`instructor: ${key} was accepted ${Math.round((Date.now() - at) / 1000)} s ago and nothing changed; doing it again`);
  ins.accepted.delete(key);
  return false;
}

async function instructorTick(r: Rehearsal, ins: Instructor, status: RunStatusResponse): Promise<void> {
  const tick = ++ins.ticks;
  const work = status.learners.filter((l) => ['awaitingReview', 'helpRequested', 'failed', 'changesRequested', 'working', 'stuck'].includes(l.state));
  await pool(work, r.concurrency, (entry) => instructorLook(r, ins, entry, tick));
}

/** The instructor looks at one learner: answers help, decides a review, resumes (or skips) a failure. */
async function instructorLook(r: Rehearsal, ins: Instructor, entry: RunStatusResponse['learners'][number], tick: number): Promise<void> {
  const sim = r.sims.find((s) => s.learnerId === entry.learnerId)!;
  const needsLook = entry.state === 'awaitingReview' || entry.state === 'helpRequested' || entry.state === 'failed' || (sim.profile === 'helpSeeker' && sim.askedHelp && !ins.answered.has(sim.learnerId));
  // `since` moves whenever the learner's state changes (a second review round looks the same otherwise).
  const view = `${entry.phase}|${entry.attempt}|${entry.stepId}|${entry.state}|${entry.since}`;
  const seen = ins.done.get(entry.learnerId);
  // Looked at already: look again when the view changes, or now and then (the view can lag the checkpoint).
  if (!needsLook || (seen?.view === view && tick - seen.tick < 10)) return;
  const detail = await r.api.learnerDetail(r.runId, entry.learnerId);
  if (detail.position?.stepId === entry.stepId || entry.state === 'failed') ins.done.set(entry.learnerId, { view, tick });
  const p = detail.position;
  const id = entry.learnerId;
  // An action counts as done only once the run accepted it. A refusal (the learner's journey was
  // between instances, a restart lost the phase, …) leaves it to be tried at the next look, which
  // comes at the next tick rather than ten ticks later.
  const refused = (what: string): void => {
    r.report.instructorRetries++;
    ins.done.delete(id);
    r.log(`instructor: ${what} for ${id} was refused; will try again`);
  };
  if (p?.helpPending && !awaitingEffect(r, ins, `help ${id}|${p.phase}|${p.helpPending.message}`)) {
    const ok = await attempt(r, `instructor answers ${id}`, () => r.api.answerHelp(r.runId, id, 'Enough that a colleague could build it: name every service, how they connect, and who may access what.'));
    if (ok === 'ok') {
      ins.accepted.set(`help ${id}|${p.phase}|${p.helpPending.message}`, Date.now());
      ins.answered.add(id);
      r.report.helpAnswered.push({ learnerId: id, question: p.helpPending.message });
    } else refused('answering help');
  }
  if (p?.state === 'awaitingReview' && p.round !== null) await decideReview(r, ins, sim, p, refused);
  const journey = detail.journey;
  if (journey?.state === 'failed' && journey.failure) await handleFailure(r, ins, id, journey.failure, journey.attempts[journey.failure.phase], refused);
}

/** The reviewSentBack learner's first review goes back with changes; every other review is approved. */
async function decideReview(r: Rehearsal, ins: Instructor, sim: Sim, p: PhasePosition, refused: (what: string) => void): Promise<void> {
  const id = sim.learnerId;
  const round = p.round!;
  const key = `review ${id}|${p.phase}|${p.attempt}|${round}`;
  if (awaitingEffect(r, ins, key)) return;
  if (sim.profile === 'reviewSentBack' && !ins.sentBack.has(id)) {
    const ok = await attempt(r, `instructor sends back ${id}`, () =>
      r.api.review(r.runId, id, 'changes', 'Trade-offs: say why this ingestion pattern over the alternatives, and give a monthly cost estimate with its main drivers.', round),
    );
    if (ok === 'ok') {
      ins.accepted.set(key, Date.now());
      ins.sentBack.add(id);
      r.report.reviewsSentBack.push({ learnerId: id, phase: p.phase, round });
    } else refused('sending the review back');
    return;
  }
  const ok = await attempt(r, `instructor approves ${id}`, () => r.api.review(r.runId, id, 'approve', 'Meets the rubric: trade-offs, alternatives, scalability, cost and operations are covered.', round));
  if (ok === 'ok') {
    ins.accepted.set(key, Date.now());
    r.report.reviewsApproved.push({ learnerId: id, phase: p.phase, round });
  } else refused('approving the review');
}

type JourneyFailure = NonNullable<NonNullable<Awaited<ReturnType<WorkshopApi['learnerDetail']>>['journey']>['failure']>;

/** A failed phase is resumed (after removing what blocks the failing learner's provisioning), or skipped after MAX_RESUMES. */
async function handleFailure(r: Rehearsal, ins: Instructor, id: string, failure: JourneyFailure, attemptNo: number | undefined, refused: (what: string) => void): Promise<void> {
  const { api, arm, runId, report } = r;
  const key = `failure ${id}|${failure.phase}|${attemptNo}`;
  if (awaitingEffect(r, ins, key)) return;
  const count = report.resumes.filter((x) => x.learnerId === id).length;
  if (count >= MAX_RESUMES) {
    const ok = await attempt(r, `instructor skips ${failure.phase} for ${id}`, () => api.skip(runId, id, { phase: failure.phase, reason: 'failed too often in the rehearsal' }));
    if (ok === 'ok') {
      ins.accepted.set(key, Date.now());
      report.skips.push({ learnerId: id, phase: failure.phase });
    } else refused(`skipping ${failure.phase}`);
    return;
  }
  if (arm && report.provisioningBlocked.includes(id) && (await arm.isBlocked(learnerResourceGroupName(runId, id)))) {
    r.log(`instructor: removes the group blocking ${id}'s provisioning`);
    await arm.unblock(learnerResourceGroupName(runId, id));
  }
  let res: Record<string, unknown> | undefined;
  const ok = await attempt(r, `instructor resumes ${id}`, async () => (res = await api.resume(runId, id, 'failedStep')));
  if (ok === 'ok' && res) {
    ins.accepted.set(key, Date.now());
    report.resumes.push({ learnerId: id, phase: failure.phase, reason: failure.reason.message, action: String(res.action) });
    r.log(`instructor resumed ${id} in ${failure.phase}: ${failure.reason.message.slice(0, 140)}`);
  } else refused(`resuming ${failure.phase}`);
}
