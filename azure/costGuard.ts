/**
 * The cost guard: what a run has spent on learner environments so far, against its budget, and
 * what to do about it. Pure (no I/O, no clock: `now` is passed in), so the sweeper (an activity-side
 * timer) and a monitor orchestration (with `context.df.currentUtcDateTime`) reach the same verdicts.
 *
 * Spend is an estimate: each environment costs its pack's `environment.hourlyCostUsd` for every
 * hour from creation until it is torn down (or `now`). That is what the catalogue's cost tables
 * give; the real bill lags by hours, so guarding on it would be too late.
 */

import { TAGS } from './environmentNames';

export interface EnvironmentCost {
  resourceGroupName: string;
  hourlyCostUsd: number;
  /** ISO time the environment was created (the group's `workshop-created` tag). */
  createdAt: string;
  /** ISO time it was torn down; running when absent. */
  tornDownAt?: string;
  /** The group's `workshop-expires` tag. */
  expiresAt?: string;
  /** Its pack's development-cost maximum (`workshop-budget-usd`): the default budget share. */
  budgetShareUsd?: number;
}

export interface RunCostState {
  /** 'running' or 'ended' (from the WorkshopRuns table); unknown when the run has no record. */
  status?: 'running' | 'ended';
  /** ISO end of the run (scheduled or actual). Environments go at the run's end. */
  endsAt?: string;
  /** The run's budget; when absent, the sum of the environments' budget shares. */
  budgetUsd?: number;
  /** Warn at this share of the budget (default 0.8). */
  warnFraction?: number;
  /** ISO time the instructor was already warned (warn once). */
  warnedAt?: string;
}

export type TeardownReason = 'budget' | 'run-ended' | 'expired';

export interface CostVerdict {
  spentUsd: number;
  budgetUsd: number;
  /** spent / budget (0 when there is no budget). */
  fraction: number;
  /** Spend per hour of the environments still running. */
  burnUsdPerHour: number;
  /** True while spend is between the warn fraction and the budget, unless `warnedAt` says the warning went out. */
  warn: boolean;
  /** Environments to tear down now, each with the reason. */
  teardown: Array<{ resourceGroupName: string; reason: TeardownReason }>;
  /** When the budget will be reached at the current burn, if it has not been. */
  budgetReachedAt?: string;
  /** The next time the verdict can change by the clock alone (warn, budget, an expiry, the run's end). */
  nextCheckAt?: string;
}

const HOUR = 3_600_000;
export const DEFAULT_WARN_FRACTION = 0.8;

export function spentUsd(envs: readonly EnvironmentCost[], now: Date): number {
  let total = 0;
  for (const e of envs) {
    const from = Date.parse(e.createdAt);
    const to = Math.min(now.getTime(), e.tornDownAt ? Date.parse(e.tornDownAt) : Infinity);
    if (Number.isFinite(from) && to > from) total += (e.hourlyCostUsd * (to - from)) / HOUR;
  }
  return round2(total);
}

/** The verdict for one run's environments at `now`. */
export function costVerdict(envs: readonly EnvironmentCost[], run: RunCostState, now: Date): CostVerdict {
  const t = now.getTime();
  const running = envs.filter((e) => !e.tornDownAt || Date.parse(e.tornDownAt) > t);
  const spent = spentUsd(envs, now);
  const budget = run.budgetUsd ?? round2(envs.reduce((a, e) => a + (e.budgetShareUsd ?? 0), 0));
  const fraction = budget > 0 ? spent / budget : 0;
  const warnAt = run.warnFraction ?? DEFAULT_WARN_FRACTION;
  const burn = round2(running.reduce((a, e) => a + e.hourlyCostUsd, 0));
  const ended = run.status === 'ended' || (run.endsAt !== undefined && Date.parse(run.endsAt) <= t);
  const overBudget = budget > 0 && spent >= budget;

  const teardown: CostVerdict['teardown'] = [];
  for (const e of running) {
    const expired = e.expiresAt !== undefined && Date.parse(e.expiresAt) <= t;
    const reason: TeardownReason | undefined = ended ? 'run-ended' : overBudget ? 'budget' : expired ? 'expired' : undefined;
    if (reason) teardown.push({ resourceGroupName: e.resourceGroupName, reason });
  }

  const candidates: number[] = [];
  let budgetReachedAt: string | undefined;
  if (budget > 0 && !overBudget && burn > 0) {
    const reach = t + ((budget - spent) / burn) * HOUR;
    budgetReachedAt = new Date(Math.ceil(reach)).toISOString();
    candidates.push(reach);
    if (fraction < warnAt) candidates.push(t + ((budget * warnAt - spent) / burn) * HOUR);
  }
  if (!ended && run.endsAt) candidates.push(Date.parse(run.endsAt));
  for (const e of running) if (e.expiresAt && Date.parse(e.expiresAt) > t) candidates.push(Date.parse(e.expiresAt));
  const next = candidates.filter((c) => Number.isFinite(c) && c > t).sort((a, b) => a - b)[0];

  return {
    spentUsd: spent,
    budgetUsd: budget,
    fraction: round4(fraction),
    burnUsdPerHour: burn,
    // Past the budget the teardown is the news; the warning is for the window before it.
    warn: budget > 0 && fraction >= warnAt && !overBudget && !run.warnedAt,
    teardown,
    ...(budgetReachedAt ? { budgetReachedAt } : {}),
    ...(next !== undefined ? { nextCheckAt: new Date(Math.ceil(next)).toISOString() } : {}),
  };
}

/** Reads the cost facts of an environment from its resource group's tags (see `TAGS`). */
export function environmentFromTags(resourceGroupName: string, tags: Record<string, string>): EnvironmentCost | undefined {
  const created = tags[TAGS.created];
  if (!created || !Number.isFinite(Date.parse(created))) return undefined;
  const hourly = Number(tags[TAGS.hourlyUsd]);
  const share = Number(tags[TAGS.budgetUsd]);
  return {
    resourceGroupName,
    hourlyCostUsd: Number.isFinite(hourly) ? hourly : 0,
    createdAt: created,
    ...(tags[TAGS.expires] ? { expiresAt: tags[TAGS.expires] } : {}),
    ...(Number.isFinite(share) ? { budgetShareUsd: share } : {}),
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
