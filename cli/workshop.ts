#!/usr/bin/env -S npx tsx
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { LOCAL_DEFAULT_KEYS } from '../http/apiAuth';
import { MAX_LEARNERS_PER_RUN } from '../http/cohortLimit';
import { formatRosterProblem, parseRoster, RosterError } from '../http/roster';
import type { RunStatusResponse } from '../http/runsApi';
import { formatProblem, listPacks, loadPackFile, PackError } from '../scenarios/loadPack';
import { ApiCallError, WorkshopApi, type Evidence } from './apiClient';
import { cliPacksDir } from './cliPacks';
import { ProgressView, summaryLine } from './progressView';
import { hotStartLines, poolSentence } from '../http/hotStart';
import { rehearse, RehearsalInputError, type RehearsalReport } from './rehearse';
import type { ArmAccess } from './rehearsalArm';
import type { LearnerSubscriptionRef } from '../contracts/messages';

/**
 * `workshop` — the instructor's (and, for rehearsals, the learner's) command line over the workshop
 * HTTP API. Run it as `npm run workshop -- <command>`, `npx tsx cli/workshop.ts <command>` or the
 * `workshop` bin. `workshop --help` lists the commands.
 */

const DEFAULT_URL = 'http://127.0.0.1:7071';

interface GlobalOptions {
  url: string;
  key?: string;
  token?: string;
  json?: boolean;
}

/** A problem the user can fix: printed without a stack trace, exit code 1. */
class UserError extends Error {}

function isLoopback(url: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

function number(what: string, opts: { integer?: boolean; min?: number; max?: number } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
      throw new InvalidArgumentError(`${what} must be ${opts.integer ? 'a whole number' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}${opts.max !== undefined ? ` and <= ${opts.max}` : ''}.`);
    }
    return n;
  };
}

/** `--hot-start` alone (the whole roster) or `--hot-start=0.7` (a share of it). */
function hotStartFraction(value: string): number {
  const f = Number(value);
  if (!Number.isFinite(f) || f <= 0 || f > 1) throw new InvalidArgumentError(`--hot-start takes a share of the roster above 0 and at most 1 (0.7 = 70 %), got "${value}"; leave the value out for the whole roster.`);
  return f;
}

/** `--param name=value` (repeatable); a value that parses as JSON is taken as JSON (numbers, true, [..]). */
function collectParam(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const i = value.indexOf('=');
  if (i < 1) throw new InvalidArgumentError(`--param takes name=value, got "${value}".`);
  const raw = value.slice(i + 1);
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // plain text
  }
  return { ...previous, [value.slice(0, i)]: parsed };
}

/**
 * `--learner-subscription <id>[@region,region]` (repeatable): one learner subscription of the run's pool, with the
 * regions environments may go to in it (default: the pack's). The API checks the rest (GUIDs, duplicates).
 */
export function collectLearnerSubscription(value: string, previous: LearnerSubscriptionRef[] = []): LearnerSubscriptionRef[] {
  const m = /^([0-9a-fA-F-]{36})(?:@([a-z0-9]+(?:,[a-z0-9]+)*))?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`--learner-subscription takes <subscription id>[@region,region], e.g. 0b1c…@westeurope,northeurope; got "${value}".`);
  return [...previous, { subscriptionId: m[1], ...(m[2] ? { locations: m[2].split(',') } : {}) }];
}

function print(out: unknown, json: boolean | undefined, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(out, null, 2)}\n` : `${text()}\n`);
}

function statusTable(status: RunStatusResponse): string {
  const rows = status.learners.map((l) => `  ${l.learnerId.padEnd(22)} ${l.phase.padEnd(15)} ${l.state.padEnd(17)} ${l.stepId ?? ''}`);
  const v = status.view;
  const queues = v
    ? [
        ...v.reviewQueue.map((q) => `  review waiting: ${q.learnerId} (${q.phase}) since ${q.since}`),
        ...v.helpQueue.map((q) => `  help asked:     ${q.learnerId} (${q.phase}) since ${q.since}`),
        ...v.failures.map((q) => `  FAILED:         ${q.learnerId} (${q.phase}): ${q.reason ?? ''}`),
        ...v.stuck.map((q) => `  stuck:          ${q.learnerId} (${q.phase}) at ${q.stepId ?? ''}: ${q.detail ?? ''}`),
      ]
    : [];
  return [summaryLine(status), ...(v?.hotStart ? [poolSentence(v.hotStart)] : []), `  ${'learner'.padEnd(22)} ${'phase'.padEnd(15)} ${'state'.padEnd(17)} step`, ...rows, ...queues].join('\n');
}

/** ARM access for the rehearsal: flags, then the environment, then the local stack's file. */
function armAccess(o: { armUrl?: string; armToken?: string; armCa?: string; armSubscription?: string; arm?: boolean }, url: string): ArmAccess | undefined {
  if (o.arm === false) return undefined;
  const env = process.env;
  const given = o.armUrl ?? env.ARM_ENDPOINT;
  if (given) {
    const token = o.armToken ?? env.ARM_TOKEN ?? env.ARM_EMULATOR_TOKEN;
    const subscriptionId = o.armSubscription ?? env.LEARNER_SUBSCRIPTION_ID ?? env.ARM_SUBSCRIPTION_ID;
    if (!token || !subscriptionId) throw new UserError('--arm-url needs --arm-token and --arm-subscription (or ARM_TOKEN and LEARNER_SUBSCRIPTION_ID).');
    return { url: given, token, subscriptionId, caCert: o.armCa ?? env.ARM_CA_CERT ?? env.ARM_EMULATOR_CA_PEM };
  }
  if (!isLoopback(url)) return undefined;
  const file = path.resolve(env.WORKSHOP_DATA_DIR ?? path.join(__dirname, '..', '.data'), 'arm', 'emulator.json');
  if (!existsSync(file)) return undefined;
  return localArmAccess(file);
}

/**
 * The local stack's ARM emulator as `npm start` wrote it down. `reload` reads the file again: after a
 * restart the emulator may listen elsewhere (its saved port was taken) and the rehearsal follows it.
 */
export function localArmAccess(file: string): ArmAccess {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { url: string; token: string; subscriptionId: string; caFile: string };
  // The CA file's text, not its path: a restarted emulator may have rewritten it.
  return { url: saved.url, token: saved.token, subscriptionId: saved.subscriptionId, caCert: readFileSync(saved.caFile, 'utf8'), reload: () => localArmAccess(file) };
}

export function buildProgram(): Command {
  const program = new Command('workshop')
    .description('Run hands-on cloud architecture workshops: start a cohort run, watch it, review, resume, rehearse.')
    .addOption(new Option('--url <url>', 'the workshop API').env('WORKSHOP_URL').default(DEFAULT_URL))
    .addOption(new Option('--key <key>', 'instructor API key (default on a local stack: the local default key)').env('WORKSHOP_INSTRUCTOR_KEY'))
    .addOption(new Option('--token <token>', 'a learner token, for learner commands (default: act with the instructor key)').env('WORKSHOP_LEARNER_TOKEN'))
    .option('--json', 'print JSON instead of text')
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const api = (learnerId?: string): WorkshopApi => {
    const g = globals();
    const key = g.key ?? process.env.INSTRUCTOR_API_KEY ?? (isLoopback(g.url) ? LOCAL_DEFAULT_KEYS.instructor : undefined);
    const client = new WorkshopApi({ url: g.url, instructorKey: key });
    if (learnerId && g.token) client.setLearnerToken(learnerId, g.token);
    return client;
  };
  const json = () => globals().json;
  const cli: Cli = { api, json, globals };
  addRunCommands(program, cli);
  addLearnerCommandsForInstructors(program, cli);
  addLearnerCommands(program, cli);
  addPackCommands(program, cli);
  addRehearseCommand(program, cli);

  return program;
}

/** What every command's action needs: the API client (as the instructor, or as a learner with --token), --json, the global options. */
interface Cli {
  api(learnerId?: string): WorkshopApi;
  json(): boolean | undefined;
  globals(): GlobalOptions;
}

/** workshop run …: start and steer cohort runs. */
function addRunCommands(program: Command, cli: Cli): void {
  const { api, json } = cli;
  const run = program.command('run').description('start and steer cohort runs');
  addRunStart(run, cli);
  addRunStatus(run, cli);
  addRunParkCommands(run, cli);
  run
    .command('list')
    .description('runs started on this deployment')
    .action(async () => {
      const res = await api().listRuns();
      print(res, json(), () => res.runs.map((r) => `${String(r.runId).padEnd(34)} ${String(r.packId ?? '').padEnd(14)} ${String(r.status).padEnd(8)} started ${String(r.startedAt)}`).join('\n') || 'No runs yet.');
    });

  run
    .command('messages <run>')
    .description("the instructor's messages: help requests, reviews, failures, the run report")
    .action(async (runId: string) => {
      const res = await api().instructorMessages(runId);
      print(res, json(), () => res.messages.map((m) => `${m.createdAt} ${m.kind.padEnd(14)} ${JSON.stringify(m.body).slice(0, 160)}`).join('\n') || 'No messages.');
    });

  for (const action of ['pause', 'resume'] as const) {
    run
      .command(`${action} <run>`)
      .description(action === 'pause' ? 'pause every unfinished learner (timers and events wait)' : 'resume a paused run')
      .action(async (runId: string) => {
        const res = await api().runCommand(runId, action);
        print(res, json(), () => String(res.message ?? `${action}: accepted`));
      });
  }
  run
    .command('broadcast <run> <message...>')
    .description('send a message to every learner of the run')
    .action(async (runId: string, words: string[]) => {
      const res = await api().runCommand(runId, 'broadcast', { message: words.join(' ') });
      print(res, json(), () => `Broadcast to ${String(res.learners)} learners.`);
    });
  run
    .command('extend <run> <minutes>')
    .description("extend every unfinished learner's current timebox")
    .action(async (runId: string, minutes: string) => {
      const res = await api().runCommand(runId, 'extend', { minutes: number('minutes', { min: 0.01 })(minutes) });
      print(res, json(), () => `Extended by ${minutes} min.`);
    });
  run
    .command('end <run>')
    .description('end the run: stop every journey and tear environments down')
    .option('--reason <text>', 'why', 'ended by the instructor')
    .action(async (runId: string, o: { reason: string }) => {
      const res = await api().runCommand(runId, 'end', { reason: o.reason });
      print(res, json(), () => `Ending run ${runId}: ${o.reason}`);
    });
}

/** workshop run park | unpark | parking: a run across days (http/parkApi.ts). */
function addRunParkCommands(run: Command, cli: Cli): void {
  const { api, json } = cli;
  run
    .command('park <run>')
    .description('park the run for the night: every learner holds at their step, environments are saved and torn down (cost stops)')
    .option('--by <name>', 'who parks it', 'instructor')
    .action(async (runId: string, o: { by: string }) => {
      const res = await api().runCommand(runId, 'park', { by: o.by });
      print(res, json(), () => String(res.message));
    });
  run
    .command('unpark <run>')
    .description('resume a parked run: environments are restored and every learner continues at their step')
    .option('--by <name>', 'who resumes it', 'instructor')
    .action(async (runId: string, o: { by: string }) => {
      const res = await api().runCommand(runId, 'unpark', { by: o.by });
      print(res, json(), () => String(res.message));
    });
  run
    .command('parking <run>')
    .description("the overnight park: environments saved, torn down and restored, per learner")
    .action(async (runId: string) => {
      const r = await api().parking(runId);
      print(r, json(), () => {
        if (!r.parking) return `Run ${runId} has never been parked.`;
        const e = r.environments;
        const head =
          r.parking.state === 'parked'
            ? `Run ${runId} is parked since ${r.parking.parkedAt} (by ${r.parking.parkedBy}).`
            : `Run ${runId} was parked ${r.parking.parkedAt} and resumed ${r.parking.resumedAt ?? ''} (by ${r.parking.resumedBy ?? '?'}).`;
        const sums = `  environments saved ${e.saved} (${e.resourcesSaved} resources), torn down ${e.tornDown}, restored ${e.restored}${e.restoring ? `, restoring ${e.restoring}` : ''}; slowest restore ${(e.restoreMsMax / 1000).toFixed(1)} s`;
        const rows = r.learners.map((l) => `  ${l.learnerId.padEnd(24)} ${l.state.padEnd(10)} ${l.saved ? `saved, ${l.resources} resources` : 'nothing to save'}${l.restoreMs ? `, restored in ${(l.restoreMs / 1000).toFixed(1)} s` : ''}${l.notExported.length ? `; not exported: ${l.notExported.join(', ')}` : ''}`);
        return [head, sums, ...rows].join('\n');
      });
    });
}

/** workshop run start: the roster is checked here first, so a malformed one starts nothing. */
function addRunStart(run: Command, cli: Cli): void {
  const { api, json } = cli;
  run
    .command('start')
    .description('start a cohort run of a scenario for a roster')
    .requiredOption('--scenario <id>', 'scenario pack id, e.g. lakehouse (see: workshop scenarios list)')
    .requiredOption('--roster <file>', 'roster file, CSV (name,email[,learnerId]) or JSON')
    .option('--instructor <name...>', 'instructors of the run', ['instructor'])
    .option('--time-scale <factor>', 'multiply every timebox (0.01 for a quick rehearsal)', number('--time-scale', { min: 0.0001, max: 10 }), 1)
    .option('--budget <usd>', 'budget for learner environments (USD)', number('--budget', { min: 0.01 }))
    .option('--run-id <id>', 'run id (default: generated)')
    .option('--batch-size <n>', 'journeys started per batch', number('--batch-size', { integer: true, min: 1, max: 100 }))
    .option('--param <name=value>', "a value for one of the pack's instructor parameters (repeatable), e.g. --param onPremGatewayIp=203.0.113.10", collectParam)
    .option('--learner-subscription <id[@regions]>', 'spread environments over these learner subscriptions by quota headroom (repeatable), e.g. <guid>@westeurope,northeurope', collectLearnerSubscription)
    .option('--allow-quota-shortfall', 'start even when the learner subscriptions\' quotas cannot hold every learner\'s environment (refused otherwise, with the numbers)')
    .option('--hot-start [fraction]', 'deploy environments ahead while learners do Requirements and Design: for the whole roster, or a share of it (--hot-start=0.7); the rest deploy on demand', hotStartFraction)
    .option('--starts-at <iso>', 'the session starts then (ISO date-time with zone): journeys start at it, a --hot-start pool its lead time before')
    .action(async (o: { scenario: string; roster: string; instructor: string[]; timeScale: number; budget?: number; runId?: string; batchSize?: number; param?: Record<string, unknown>; learnerSubscription?: LearnerSubscriptionRef[]; allowQuotaShortfall?: boolean; hotStart?: true | number; startsAt?: string }) => {
      let text: string;
      try {
        text = await readFile(o.roster, 'utf8');
      } catch (err) {
        throw new UserError(`Cannot read the roster ${o.roster}: ${(err as Error).message}`);
      }
      const name = path.basename(o.roster);
      try {
        parseRoster(text, name); // refuse a malformed roster before anything is started
      } catch (err) {
        if (err instanceof RosterError) throw new UserError(`The roster has problems; nothing was started:\n${err.problems.map((p) => `  ${formatRosterProblem(name, p)}`).join('\n')}`);
        throw err;
      }
      const res = await api().startRun({ scenario: o.scenario, roster: text, rosterName: name, instructors: o.instructor, timeScale: o.timeScale, parameters: o.param ?? {}, ...(o.budget ? { budgetUsd: o.budget } : {}), ...(o.runId ? { runId: o.runId } : {}), ...(o.batchSize ? { batchSize: o.batchSize } : {}), ...(o.learnerSubscription ? { learnerSubscriptions: o.learnerSubscription } : {}), ...(o.hotStart !== undefined ? { hotStart: o.hotStart } : {}), ...(o.startsAt ? { startsAt: o.startsAt } : {}), ...(o.allowQuotaShortfall ? { allowQuotaShortfall: true } : {}) });
      print(res, json(), () =>
        [
          `Started run ${res.runId}: ${res.scenario.title} for ${res.learners.length} learners (time scale ${res.timeScale}).`,
          ...(res.startsAt ? [`The session starts ${res.startsAt}; learners get their first prompt then.`] : []),
          ...(res.hotStart ? hotStartLines(res.hotStart) : []),
          `Learner tokens (give each learner theirs; learners send it as x-api-key):`,
          ...res.learners.map((l) => `  ${l.learnerId.padEnd(22)} ${l.name.padEnd(28)} ${l.token}`),
          `Watch it: workshop run status ${res.runId} --watch`,
        ].join('\n'),
      );
    });
}

/** workshop run status [--watch]. */
function addRunStatus(run: Command, cli: Cli): void {
  const { api, json } = cli;
  run
    .command('status <run>')
    .description('the run: every learner\'s phase and state, review/help queues, failures')
    .option('--watch', 'keep watching, with live progress bars per phase, until the run finishes')
    .option('--interval <ms>', 'poll interval with --watch', number('--interval', { integer: true, min: 100 }), 1000)
    .action(async (runId: string, o: { watch?: boolean; interval: number }) => {
      const client = api();
      if (!o.watch) {
        const status = await client.runStatus(runId);
        print(status, json(), () => statusTable(status));
        return;
      }
      // Watching outlasts a restarting stack like a rehearsal does (cli/retry.ts).
      client.setRetry({ retryForMs: 300_000 });
      const view = new ProgressView();
      let stop = false;
      process.once('SIGINT', () => (stop = true));
      let status = await client.runStatus(runId);
      while (!stop) {
        view.update(status);
        if (status.runtimeStatus !== 'Running' && status.runtimeStatus !== 'Pending') break;
        await new Promise((r) => setTimeout(r, o.interval));
        status = await client.runStatus(runId);
      }
      view.stop();
      print(status, json(), () => statusTable(status));
    });
}

/** What an instructor does to one learner: resume, skip, review, answer help, extend. */
function addLearnerCommandsForInstructors(program: Command, cli: Cli): void {
  const { api, json } = cli;
  program
    .command('resume <run> <learner>')
    .description("resume a learner whose phase failed (or whose journey instance was lost) from the checkpoint")
    .addOption(new Option('--from <where>', 'restart the failed phase from its first step, or from the failed step').choices(['start', 'failedStep']).default('failedStep'))
    .action(async (runId: string, learnerId: string, o: { from: 'start' | 'failedStep' }) => {
      const res = await api().resume(runId, learnerId, o.from);
      print(res, json(), () => `Resumed ${learnerId}: ${String(res.detail)}.`);
    });
  program
    .command('skip <run> <learner>')
    .description("skip a learner's current (or failed) phase")
    .option('--phase <phase>', 'the phase you expect to skip (refused if the learner is elsewhere)')
    .option('--reason <text>', 'why')
    .action(async (runId: string, learnerId: string, o: { phase?: string; reason?: string }) => {
      const res = await api().skip(runId, learnerId, { ...(o.phase ? { phase: o.phase } : {}), ...(o.reason ? { reason: o.reason } : {}) });
      print(res, json(), () => `Skipped phase ${String(res.phase)} for ${learnerId}.`);
    });
  const review = program.command('review').description('decide an architecture review');
  review
    .command('approve <run> <learner>')
    .option('--comment <text>', 'feedback for the learner')
    .option('--round <n>', 'the review round you are deciding (refused if it is over)', number('--round', { integer: true, min: 1 }))
    .action(async (runId: string, learnerId: string, o: { comment?: string; round?: number }) => {
      const res = await api().review(runId, learnerId, 'approve', o.comment, o.round);
      print(res, json(), () => `Approved ${learnerId}'s ${String(res.phase)} review (round ${String(res.round)}).`);
    });
  review
    .command('changes <run> <learner>')
    .requiredOption('--comment <text>', 'what to change')
    .option('--round <n>', 'the review round you are deciding', number('--round', { integer: true, min: 1 }))
    .action(async (runId: string, learnerId: string, o: { comment: string; round?: number }) => {
      const res = await api().review(runId, learnerId, 'changes', o.comment, o.round);
      print(res, json(), () => `Sent ${learnerId}'s review back (round ${String(res.round)}): ${o.comment}`);
    });
  program
    .command('help-answer <run> <learner> <answer...>')
    .description("answer a learner's help request")
    .action(async (runId: string, learnerId: string, words: string[]) => {
      const res = await api().answerHelp(runId, learnerId, words.join(' '));
      print(res, json(), () => `Answered ${learnerId}'s question "${String(res.question)}".`);
    });
  const dispute = program.command('dispute').description("decide a learner's disputed check (see: workshop learner evidence)");
  for (const [decision, about] of [
    ['override', 'mark the disputed checks passed (needs --reason; it goes into the run report)'],
    ['recheck', 'run the checks again, without using up one of the learner’s attempts'],
    ['return', 'give the dispute back to the learner (needs --reason: what to fix)'],
  ] as const) {
    dispute
      .command(`${decision} <run> <learner>`)
      .description(about)
      .option('--reason <text>', decision === 'recheck' ? 'not needed' : 'why (recorded with your name)')
      .option('--attempt <n>', 'the validation attempt you decide (refused if it is not the open one)', number('--attempt', { integer: true, min: 1 }))
      .option('--by <name>', 'who decides', 'instructor')
      .action(async (runId: string, learnerId: string, o: { reason?: string; attempt?: number; by: string }) => {
        const res = await api().decideDispute(runId, learnerId, { decision, ...(o.reason ? { reason: o.reason } : {}), ...(o.attempt ? { attempt: o.attempt } : {}), by: o.by });
        print(res, json(), () => `${learnerId}'s dispute of attempt ${String(res.attempt)}: ${decision}.`);
      });
  }
  const answerReview = program.command('answer-review').description('decide an answer a learner sent for review');
  for (const decision of ['accept', 'return'] as const) {
    answerReview
      .command(`${decision} <run> <learner>`)
      .requiredOption('--comment <text>', decision === 'accept' ? 'why it covers the criteria (recorded)' : 'what it misses')
      .option('--round <n>', 'the round you decide', number('--round', { integer: true, min: 1 }))
      .option('--by <name>', 'who decides', 'instructor')
      .action(async (runId: string, learnerId: string, o: { comment: string; round?: number; by: string }) => {
        const res = await api().decideAnswer(runId, learnerId, { decision, comment: o.comment, ...(o.round ? { round: o.round } : {}), by: o.by });
        print(res, json(), () => `${learnerId}'s answer (round ${String(res.round)}): ${decision}ed.`);
      });
  }
  program
    .command('extend <run> <learner> <minutes>')
    .description("extend one learner's current timebox")
    .action(async (runId: string, learnerId: string, minutes: string) => {
      const res = await api().extendLearner(runId, learnerId, number('minutes', { min: 0.01 })(minutes));
      print(res, json(), () => `Extended ${learnerId} by ${minutes} min.`);
    });
}

/** workshop learner …: act as (or look at) one learner. */
function addLearnerCommands(program: Command, cli: Cli): void {
  const learner = program.command('learner').description('act as (or look at) one learner');
  addLearnerViews(learner, cli);
  addLearnerStepWork(learner, cli);
  addLearnerAppeals(learner, cli);
}

/** workshop learner show|status|messages|token: look at one learner. */
function addLearnerViews(learner: Command, cli: Cli): void {
  const { api, json } = cli;
  learner
    .command('show <run> <learner>')
    .description('instructor view: position, journey, checkpoint, recent messages')
    .action(async (runId: string, learnerId: string) => {
      const res = await api().learnerDetail(runId, learnerId);
      print(res, json(), () => JSON.stringify(res, null, 2));
    });
  learner
    .command('status <run> <learner>')
    .description("the learner's current step and what to do")
    .action(async (runId: string, learnerId: string) => {
      const res = await api(learnerId).learnerStatus(runId, learnerId);
      print(res, json(), () => {
        const p = res.position;
        if (!p) return `${learnerId}: not started yet.`;
        return [`${learnerId}: phase ${p.phase} (attempt ${p.attempt}), ${p.state}${p.stepId ? ` at step ${p.stepId} (${p.stepKind}, ${p.stepIndex + 1}/${p.steps})` : ''}`, res.step ? `  ${res.step.title}: ${res.step.prompt.trim()}` : '', p.failure ? `  failed: ${p.failure.message}` : '']
          .filter(Boolean)
          .join('\n');
      });
    });
  learner
    .command('messages <run> <learner>')
    .description("the learner's messages: prompts, hints, review feedback, answers to help")
    .action(async (runId: string, learnerId: string) => {
      const res = await api(learnerId).learnerMessages(runId, learnerId);
      print(res, json(), () => res.messages.map((m) => `${m.createdAt} ${m.kind.padEnd(16)} ${m.text ? `${m.text.title}: ${m.text.prompt.trim().slice(0, 120)}` : JSON.stringify(m.body).slice(0, 160)}`).join('\n') || 'No messages.');
    });
  learner
    .command('token <run> <learner>')
    .description("the learner's token (instructor key required)")
    .action(async (runId: string, learnerId: string) => {
      const res = await api().learnerToken(runId, learnerId);
      print(res, json(), () => res.token);
    });
}

/** workshop learner done|answer|submit: work through the current step as the learner. */
function addLearnerStepWork(learner: Command, cli: Cli): void {
  const { api, json } = cli;
  learner
    .command('done <run> <learner>')
    .description('say the current task is done')
    .option('--step <id>', 'the step you are done with (refused if it is not the current one)')
    .action(async (runId: string, learnerId: string, o: { step?: string }) => {
      const res = await api(learnerId).done(runId, learnerId, o.step);
      print(res, json(), () => `Done with ${String(res.stepId)}.`);
    });
  learner
    .command('answer <run> <learner> [answer...]')
    .description('answer the current question')
    .option('--step <id>', 'the question you answer')
    .option('--file <path>', 'read the answer from a file')
    .action(async (runId: string, learnerId: string, words: string[], o: { step?: string; file?: string }) => {
      const text = o.file ? await readFile(o.file, 'utf8') : words.join(' ');
      if (!text.trim()) throw new UserError('Give the answer as arguments or with --file.');
      const res = await api(learnerId).answer(runId, learnerId, text, o.step);
      print(res, json(), () => `Answered ${String(res.stepId)}.`);
    });
  learner
    .command('submit <run> <learner>')
    .description('submit a deliverable (a link)')
    .requiredOption('--name <name>', 'what it is')
    .requiredOption('--uri <uri>', 'where it is')
    .option('--step <id>', 'the deliverable step')
    .action(async (runId: string, learnerId: string, o: { name: string; uri: string; step?: string }) => {
      const res = await api(learnerId).submit(runId, learnerId, o.name, o.uri, o.step);
      print(res, json(), () => `Submitted ${o.name} for ${String(res.stepId)}.`);
    });
}

/** workshop learner dispute|review-answer|evidence|help: when a check or an answer is refused, or the learner is stuck. */
function addLearnerAppeals(learner: Command, cli: Cli): void {
  const { api, json } = cli;
  learner
    .command('dispute <run> <learner> <note...>')
    .description('"I did it": send the last failed check of the current step to the instructor, with what you did')
    .action(async (runId: string, learnerId: string, words: string[]) => {
      const res = await api(learnerId).dispute(runId, learnerId, words.join(' '));
      print(res, json(), () => `Sent ${String(res.stepId)} (attempt ${String(res.attempt)}) to the instructor.`);
    });
  learner
    .command('review-answer <run> <learner> [answer...]')
    .description('send an answer the criteria refused to the instructor')
    .option('--note <text>', 'why it covers the points in other words')
    .option('--file <path>', 'read the answer from a file')
    .action(async (runId: string, learnerId: string, words: string[], o: { note?: string; file?: string }) => {
      const text = o.file ? await readFile(o.file, 'utf8') : words.join(' ');
      if (!text.trim()) throw new UserError('Give the answer as arguments or with --file.');
      const res = await api(learnerId).reviewAnswer(runId, learnerId, text, o.note ? { note: o.note } : {});
      print(res, json(), () => (res.accepted === 'answer' ? `It meets the criteria: recorded as the answer to ${String(res.stepId)}.` : `Sent to the instructor (round ${String(res.round)}).`));
    });
  learner
    .command('evidence <run> <learner>')
    .description('the failed checks (resource, property, observed, expected, fix), the open dispute or answer review, the decisions')
    .action(async (runId: string, learnerId: string) => {
      const res = await api(learnerId).evidence(runId, learnerId);
      print(res, json(), () => evidenceText(learnerId, res));
    });
  learner
    .command('help <run> <learner> <message...>')
    .description('ask the instructor for help')
    .action(async (runId: string, learnerId: string, words: string[]) => {
      const res = await api(learnerId).help(runId, learnerId, words.join(' '));
      print(res, json(), () => `Asked for help (phase ${String(res.phase)}).`);
    });
}

/** The evidence as text: the failed checks with what they observed, the open dispute or answer review, the decisions. */
function evidenceText(learnerId: string, res: Evidence): string {
  const lines = [`${learnerId}: ${res.position.phase} / ${res.position.stepId} (${res.position.state})`];
  for (const c of res.validation?.failed ?? []) {
    lines.push(`  ✗ ${c.checkId} (attempt ${res.validation!.attempt}): ${c.message ?? ''}`);
    for (const e of c.evidence) lines.push(`      ${e.resource} · ${e.property}: observed ${e.observed}, expected ${e.expected}`);
    if (c.fix) lines.push(`      fix: ${c.fix}`);
  }
  if (res.dispute) lines.push(`  dispute of attempt ${res.dispute.attempt} (${res.dispute.outcome}): "${res.dispute.note}"`);
  if (res.answerReview) lines.push(`  answer round ${res.answerReview.round} (${res.answerReview.outcome}): "${res.answerReview.answer.slice(0, 200)}"`);
  for (const d of res.decisions) lines.push(`  ${d.at} ${d.decision.kind} ${d.decision.stepId}: ${d.decision.outcome} by ${d.decision.by} — ${d.decision.reason}`);
  return lines.join('\n');
}

/** Scenario packs and rosters, checked from local files. */
function addPackCommands(program: Command, cli: Cli): void {
  const { json } = cli;
  const scenarios = program.command('scenarios').description('scenario packs');
  scenarios
    .command('list')
    .description('the packs in the packs folder, and any that do not validate')
    .option('--packs-dir <dir>', 'packs folder (default: SCENARIO_PACKS_DIR or scenarios/packs)')
    .action(async (o: { packsDir?: string }) => {
      const { packs, failures } = await listPacks(cliPacksDir(o.packsDir));
      const out = { scenarios: packs.map((p) => ({ id: p.pack.id, title: p.pack.title, durationHours: p.pack.durationHours, file: p.file })), problems: failures.map((f) => ({ file: f.file, problems: f.problems.map(formatProblem) })) };
      print(out, json(), () =>
        [...packs.map((p) => `${p.pack.id.padEnd(14)} ${p.pack.title} (${p.pack.durationHours.min}-${p.pack.durationHours.max} h, ${p.pack.serviceCount}+ services)`), ...failures.map((f) => `INVALID ${f.file}: ${f.problems.length} problem(s); run workshop scenarios validate ${f.file}`)].join('\n'),
      );
      if (failures.length) process.exitCode = 1;
    });
  scenarios
    .command('validate <file...>')
    .description('check pack files; prints every problem as file:line:col path: message')
    .action(async (files: string[]) => {
      const results: Array<{ file: string; ok: boolean; id?: string; problems: string[] }> = [];
      for (const file of files) {
        try {
          const loaded = await loadPackFile(file);
          results.push({ file, ok: true, id: loaded.pack.id, problems: [] });
        } catch (err) {
          if (!(err instanceof PackError)) throw err;
          results.push({ file, ok: false, problems: err.problems.map(formatProblem) });
        }
      }
      print(results, json(), () => results.map((r) => (r.ok ? `${r.file}: ok (pack "${r.id}")` : `${r.file}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}\n${r.problems.map((p) => `  ${p}`).join('\n')}`)).join('\n'));
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });
  program
    .command('roster-check <file>')
    .description('check a roster file (CSV or JSON) without starting anything')
    .action(async (file: string) => {
      const name = path.basename(file);
      try {
        const learners = parseRoster(await readFile(file, 'utf8'), name);
        print(learners, json(), () => `${name}: ${learners.length} learners: ${learners.map((l) => l.learnerId).join(', ')}`);
      } catch (err) {
        if (err instanceof RosterError) throw new UserError(err.problems.map((p) => formatRosterProblem(name, p)).join('\n'));
        throw err;
      }
    });
}

/** workshop rehearse: a whole workshop with simulated learners and instructor. */
function addRehearseCommand(program: Command, cli: Cli): void {
  const { api, json, globals } = cli;
  program
    .command('rehearse')
    .description('simulated learners (some slow, some wrong, one failing) and a simulated instructor walk a whole workshop; survives restarts of the stack, and --attach picks up a run an earlier rehearsal left')
    .option('--scenario <id>', 'scenario pack id (required unless --attach)')
    .option('--learners <n>', 'how many simulated learners (required unless --attach)', number('--learners', { integer: true, min: 1, max: MAX_LEARNERS_PER_RUN }))
    .option('--time-scale <factor>', 'multiply every timebox', number('--time-scale', { min: 0.0001, max: 10 }), 0.05)
    .option('--run-id <id>', 'run id (default: generated); if that run exists already, the rehearsal attaches to it')
    .option('--attach <run>', 'attach to an existing run (one an earlier rehearsal started) and take it to the end')
    .option('--retry-for <seconds>', 'keep retrying when the stack does not answer (restarting), throttles or fails with 5xx, this long per call', number('--retry-for', { min: 0 }), 300)
    .option('--packs-dir <dir>', 'where the simulated learners read the pack (default: SCENARIO_PACKS_DIR or scenarios/packs)')
    .option('--poll <ms>', 'how often the simulation looks at the run', number('--poll', { integer: true, min: 50 }), 300)
    .option('--timeout <seconds>', 'give up after this long', number('--timeout', { min: 1 }), 1800)
    .option('--arm-url <url>', 'Resource Manager endpoint, to break/fix environments like a learner (default: ARM_ENDPOINT, or the local stack\'s emulator)')
    .option('--arm-token <token>', 'bearer token for --arm-url (default: ARM_TOKEN)')
    .option('--arm-ca <pem-file>', 'CA certificate to trust for --arm-url (default: ARM_CA_CERT)')
    .option('--arm-subscription <id>', 'subscription of the learner environments (default: LEARNER_SUBSCRIPTION_ID)')
    .option('--no-arm', "do not touch environments: the failing learner runs out of time instead (use a small --time-scale), and checks that need the learners' Implementation work fail until the instructor skips them")
    .option('--param <name=value>', "a value for one of the pack's instructor parameters (repeatable; missing ones get rehearsal values)", collectParam)
    .option('--quiet', 'no progress bars or log lines')
    .action(async (o: { scenario?: string; learners?: number; timeScale: number; runId?: string; attach?: string; retryFor: number; packsDir?: string; poll: number; timeout: number; armUrl?: string; armToken?: string; armCa?: string; armSubscription?: string; arm?: boolean; quiet?: boolean; param?: Record<string, unknown> }) => {
      const g = globals();
      if (!o.attach && (!o.scenario || o.learners === undefined)) throw new UserError('rehearse needs --scenario and --learners (or --attach <run> to pick up an existing run).');
      if (o.attach && o.runId && o.attach !== o.runId) throw new UserError(`--attach ${o.attach} and --run-id ${o.runId} name different runs; give one.`);
      const view = o.quiet ? undefined : new ProgressView();
      const logs: string[] = [];
      let report: RehearsalReport;
      try {
        report = await rehearse({
          api: api(),
          scenario: o.scenario,
          learners: o.learners,
          timeScale: o.timeScale,
          runId: o.runId,
          attach: o.attach,
          retryForMs: o.retryFor * 1000,
          packsDir: o.packsDir,
          pollMs: o.poll,
          timeoutMs: o.timeout * 1000,
          arm: armAccess(o, g.url),
          parameters: o.param,
          onStatus: (s) => view?.update(s),
          log: (line) => {
            logs.push(line);
            if (!o.quiet && !process.stderr.isTTY) process.stderr.write(`  ${line}\n`);
          },
        });
      } finally {
        view?.stop();
      }
      print(report, json(), () => rehearsalSummary(report));
    });
}

function rehearsalSummary(report: RehearsalReport): string {
  return [
    `Rehearsal ${report.runId} (${report.scenario}, ${report.learners} learners, time scale ${report.timeScale}${report.attached ? ', attached' : ''}) finished in ${(report.durationMs / 1000).toFixed(1)} s.`,
    `  retried: ${report.retries.api} workshop API calls, ${report.retries.arm} ARM calls${report.retries.armReloads ? ` (ARM address re-read ${report.retries.armReloads}×)` : ''}, ${report.instructorRetries} refused instructor actions`,
    `  through all four phases: ${Object.values(report.phasesDone).filter((p) => p.length === 4).length}/${report.learners}`,
    `  reviews sent back: ${report.reviewsSentBack.map((r) => r.learnerId).join(', ') || 'none'}; approved: ${report.reviewsApproved.length}`,
    `  help answered: ${report.helpAnswered.map((h) => h.learnerId).join(', ') || 'none'}`,
    `  wrong answers refused: ${report.wrongAnswers.length}; settings broken and fixed: ${report.brokenSettings.map((b) => `${b.learnerId}/${b.checkId}`).join(', ') || 'none'}`,
    `  resumed by the instructor: ${report.resumes.map((r) => `${r.learnerId} (${r.phase}: ${r.reason.slice(0, 80)})`).join('; ') || 'none'}`,
    `  environments left after teardown: ${report.remainingGroups === null ? 'not checked (no ARM access)' : report.remainingGroups.length}`,
    ...report.notes.map((n) => `  note: ${n}`),
  ].join('\n');
}

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof UserError || err instanceof RehearsalInputError) {
      process.stderr.write(`${err.message}\n`);
    } else if (err instanceof ApiCallError) {
      const hint = err.status === 401 ? ' (check --key / WORKSHOP_INSTRUCTOR_KEY, or --token for a learner)' : '';
      process.stderr.write(`${String(err.body.error ?? err.message)}${hint}\n`);
    } else if ((err as { code?: string }).code === 'ECONNREFUSED' || /fetch failed/.test((err as Error).message)) {
      process.stderr.write(`Cannot reach the workshop API at ${program.opts<GlobalOptions>().url}: is the stack running (npm start)?\n`);
    } else {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    }
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
