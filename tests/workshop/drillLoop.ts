import { ApiCallError, type WorkshopApi } from '../../cli/apiClient';
import type { RunStatusResponse } from '../../http/runsApi';
import { PHASES } from '../../machines/journeyMachine';

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
