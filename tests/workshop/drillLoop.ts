import { parseArgs } from 'node:util';
import type { RehearsalReport } from '../../cli/rehearse';
import { ApiCallError, type WorkshopApi } from '../../cli/apiClient';
import type { RunStatusResponse } from '../../http/runsApi';
import { PHASES } from '../../machines/journeyMachine';
import { startWorkshopCli } from './workshopCli';

/** Phases reached by the whole cohort (a learner's phase index, +1 once finished). */
export function cohortProgress(s: RunStatusResponse): number {
  return s.learners.reduce((n, l) => n + Math.max(0, (PHASES as readonly string[]).indexOf(l.phase)) + (l.state === 'completed' ? 1 : 0), 0);
}

/**
 * The drills' schedule: `count` restarts at evenly spaced shares of the cohort's progress, so all of them fall
 * inside the run on any machine. Returns each restart's downtime; stops early when `done()` says the
 * rehearsal has exited.
 */
export async function restartAtProgress(opts: {
  watcher: WorkshopApi;
  runId: string;
  learners: number;
  count: number;
  done: () => boolean;
  restart: () => Promise<void>;
  log: (line: string) => void;
  what: string;
}): Promise<number[]> {
  const total = opts.learners * PHASES.length;
  const downtimes: number[] = [];
  for (let k = 1; k <= opts.count; k++) {
    const threshold = Math.floor((k * total) / (opts.count + 1));
    let s: RunStatusResponse | null = null;
    while (!opts.done()) {
      s = await opts.watcher.runStatus(opts.runId).catch((err: unknown) => {
        if (err instanceof ApiCallError && err.status === 404) return null;
        throw err;
      });
      if (s && cohortProgress(s) >= threshold) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (opts.done()) break;
    const t = Date.now();
    await opts.restart();
    downtimes.push(Date.now() - t);
    opts.log(`${opts.what} ${k}/${opts.count} at progress ${cohortProgress(s!)}/${total} (down ${Date.now() - t} ms)`);
  }
  return downtimes;
}

/** "n state: outcome/outcome/…" per distinct journey outcome of the run's learners. */
export async function outcomesOf(watcher: WorkshopApi, runId: string): Promise<{ final: RunStatusResponse; summary: string }> {
  const final = await watcher.runStatus(runId);
  const outcomes = new Map<string, number>();
  for (const l of final.learners) {
    const detail = await watcher.learnerDetail(runId, l.learnerId);
    const key = `${detail.journey?.state}: ${PHASES.map((p) => detail.journey?.outcomes[p] ?? '-').join('/')}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  return { final, summary: [...outcomes].map(([k, n]) => `${n} ${k}`).join('; ') };
}

/** The drills' command line: `--learners`, `--restarts`, `--scenario`, `--throttle`, `--time-scale`. */
export function drillArgs(defaults: { timeScale: string }): { learners: number; restarts: number; scenario: string; throttle: number; timeScale: string; at: () => string } {
  const { values } = parseArgs({
    options: {
      learners: { type: 'string', default: '20' },
      restarts: { type: 'string', default: '10' },
      scenario: { type: 'string', default: 'cross-region' },
      throttle: { type: 'string', default: '0.3' },
      'time-scale': { type: 'string', default: defaults.timeScale },
    },
  });
  const t0 = Date.now();
  return {
    learners: Number(values.learners),
    restarts: Number(values.restarts),
    scenario: values.scenario,
    throttle: Number(values.throttle),
    timeScale: values['time-scale'],
    at: () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`,
  };
}

/** The rehearsal's own account of a drill, one line (or its stderr when it printed no report). */
export function rehearsalLine(report: RehearsalReport | undefined, stderr: string): string {
  return report
    ? `  rehearsal: completed ${report.completed}, attached ${report.attached}, ${report.polls} polls; retried ${report.retries.api} API calls, ${report.retries.arm} ARM calls, ${report.retries.armReloads} emulator re-reads; ${report.instructorRetries} refused instructor actions; resumes by the simulated instructor ${report.resumes.length}, skips ${report.skips.length}`
    : `  rehearsal output was not a report; stderr:\n${stderr}`;
}

/** `workshop rehearse` (the real CLI, `args` after the command name) in a child process with exactly `env`; its report once it has exited. */
export function spawnRehearsal(args: string[], env: NodeJS.ProcessEnv): { done: () => boolean; finished: Promise<{ code: number | null; report?: RehearsalReport; stderr: string }> } {
  let done = false;
  const finished = startWorkshopCli(args, env).done.then(({ code, stdout, stderr }) => {
    done = true;
    let report: RehearsalReport | undefined;
    try {
      report = JSON.parse(stdout) as RehearsalReport;
    } catch {
      report = undefined;
    }
    return { code, report, stderr };
  });
  return { done: () => done, finished };
}
