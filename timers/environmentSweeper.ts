import type { InvocationContext, Timer } from '@azure/functions';
import type { ResourceGroup } from '@azure/arm-resources';
import type { Logger } from 'pino';
import { appSettings } from '../config';
import { armClients, armClientsFor, armLogger, armSettings, type ArmClients } from '../azure/armClients';
import { costVerdict, environmentFromTags, type CostVerdict, type EnvironmentCost, type TeardownReason } from '../azure/costGuard';
import { TAGS } from '../azure/environmentNames';
import { getRun, markBudgetWarned, type WorkshopRun } from '../storage/runRegistry';
import { poolSubscriptionIds } from '../activities/subscriptionPool';
import { notify } from '../activities/notify';

/** The app setting SWEEPER_SCHEDULE (default every five minutes, config.ts), resolved by the host from `%NAME%`. */
export const SWEEPER_SCHEDULE = '%SWEEPER_SCHEDULE%';

export interface SweepOptions {
  now?: Date;
  log?: Logger;
  clients?: ArmClients;
  /** Wait for each deletion to finish (tests); the timer only starts them and lets ARM finish. */
  waitForDeletion?: boolean;
  /** Look up a run (default: the WorkshopRuns table). */
  getRun?: (runId: string) => Promise<WorkshopRun | undefined>;
}

export interface SweepReport {
  checked: number;
  deleted: Array<{ resourceGroupName: string; runId?: string; reason: TeardownReason }>;
  kept: Array<{ resourceGroupName: string; runId?: string }>;
  /** Runs whose instructor is to be warned about the budget (first crossing only). */
  warned: Array<{ runId: string; spentUsd: number; budgetUsd: number }>;
  failed: Array<{ resourceGroupName: string; error: string }>;
}

/**
 * The periodic sweeper: deletes workshop resource groups (tag `workshop-pack`) whose run has ended,
 * whose expiry tag has passed, or whose run is over budget, and logs each one it deletes.
 * Groups without the tag are never touched; a group of an unknown run goes only at its expiry (the
 * run's record may simply not be written yet).
 */
export async function sweepWorkshopGroups(opts: SweepOptions = {}): Promise<SweepReport> {
  const settings = appSettings();
  const now = opts.now ?? new Date();
  const log = (opts.log ?? armLogger()).child({ component: 'sweeper' });
  const clients = opts.clients ?? armClients(settings);
  const lookup = opts.getRun ?? getRun;
  const report: SweepReport = { checked: 0, deleted: [], kept: [], warned: [], failed: [] };

  const byRun = new Map<string, ResourceGroup[]>();
  // Each group with the clients of its subscription: LEARNER_SUBSCRIPTION_ID, and every subscription a run's pool placed environments in.
  const home = new Map<ResourceGroup, ArmClients>();
  for (const source of await sweptSubscriptions(clients, opts.clients !== undefined)) {
    for await (const rg of source.resources.resourceGroups.list()) {
      const tags = rg.tags ?? {};
      if (!rg.name || tags[TAGS.pack] === undefined) continue;
      if (rg.properties?.provisioningState?.toLowerCase() === 'deleting') continue;
      report.checked++;
      home.set(rg, source);
      const runId = tags[TAGS.run] ?? '';
      byRun.set(runId, [...(byRun.get(runId) ?? []), rg]);
    }
  }

  for (const [runId, groups] of byRun) {
    const run = runId ? await lookup(runId) : undefined;
    const envs: EnvironmentCost[] = [];
    const decisions = new Map<string, TeardownReason>();
    for (const rg of groups) {
      const env = environmentFromTags(rg.name!, rg.tags ?? {});
      if (env) envs.push(env);
      const expires = Date.parse(rg.tags?.[TAGS.expires] ?? '');
      if (Number.isFinite(expires) && expires <= now.getTime()) decisions.set(rg.name!, 'expired');
    }
    const verdict = costVerdict(
      envs,
      {
        ...(run ? { status: run.status } : {}),
        ...(run?.endsAt ? { endsAt: run.endsAt } : {}),
        ...((run?.budgetUsd ?? settings.RUN_BUDGET_USD) !== undefined ? { budgetUsd: run?.budgetUsd ?? settings.RUN_BUDGET_USD } : {}),
        warnFraction: settings.RUN_BUDGET_WARN_FRACTION,
        ...(run?.budgetWarnedAt ? { warnedAt: run.budgetWarnedAt } : {}),
      },
      now,
    );
    // The run's end and its budget need a record of the run; without one only expiry applies.
    if (run) for (const t of verdict.teardown) decisions.set(t.resourceGroupName, t.reason);
    if (run?.status === 'ended') for (const rg of groups) decisions.set(rg.name!, 'run-ended');
    if (run && verdict.warn) {
      report.warned.push({ runId, spentUsd: verdict.spentUsd, budgetUsd: verdict.budgetUsd });
      await warnInstructor(runId, verdict, now, log);
    }

    for (const rg of groups) {
      const name = rg.name!;
      const reason = decisions.get(name);
      const fields = { resourceGroup: name, runId: runId || undefined, learner: rg.tags?.[TAGS.learner], pack: rg.tags?.[TAGS.pack] };
      if (!reason) {
        report.kept.push({ resourceGroupName: name, ...(runId ? { runId } : {}) });
        continue;
      }
      try {
        const owner = home.get(rg) ?? clients;
        const poller = owner.resources.resourceGroups.delete(name, { updateIntervalInMs: owner.pollIntervalMs });
        if (opts.waitForDeletion) await poller.pollUntilDone();
        else await poller.submitted();
        report.deleted.push({ resourceGroupName: name, ...(runId ? { runId } : {}), reason });
        log.info({ ...fields, reason, expires: rg.tags?.[TAGS.expires] }, 'sweeper deleted a workshop resource group');
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) continue; // gone meanwhile
        report.failed.push({ resourceGroupName: name, error: (err as Error).message });
        log.error({ ...fields, reason, err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'sweeper could not delete a workshop resource group');
      }
    }
  }
  log.info({ checked: report.checked, deleted: report.deleted.length, kept: report.kept.length, failed: report.failed.length }, 'sweep finished');
  return report;
}

/** The subscriptions to sweep: the given clients' one, plus (unless a test pinned the clients) every pool subscription. */
async function sweptSubscriptions(clients: ArmClients, pinned: boolean): Promise<ArmClients[]> {
  if (pinned) return [clients];
  const others = (await poolSubscriptionIds()).filter((id) => id !== clients.subscriptionId.toLowerCase());
  return [clients, ...others.map((id) => armClientsFor(id))];
}

/** The run is near its budget: tell the instructor once (keyed by run) and record that they were told. */
async function warnInstructor(runId: string, verdict: CostVerdict, now: Date, log: Logger): Promise<void> {
  log.warn({ runId, spentUsd: verdict.spentUsd, budgetUsd: verdict.budgetUsd, fraction: verdict.fraction }, 'run has used most of its environment budget');
  // The instructor hears it where they hear everything else: the run's outbox (Teams, CLI, dashboard).
  // Keyed by run, so a sweep that repeats before markBudgetWarned lands does not warn twice.
  await notify({
    runId,
    key: `budget-warning:${runId}`,
    to: { role: 'instructor' },
    kind: 'budgetWarning',
    body: {
      spentUsd: Math.round(verdict.spentUsd * 100) / 100,
      budgetUsd: verdict.budgetUsd,
      fraction: Math.round(verdict.fraction * 100) / 100,
      burnUsdPerHour: Math.round(verdict.burnUsdPerHour * 100) / 100,
      ...(verdict.budgetReachedAt ? { budgetReachedAt: verdict.budgetReachedAt } : {}),
      message: `Run ${runId} has used ${Math.round(verdict.fraction * 100)} % of its $${verdict.budgetUsd} environment budget; environments are torn down when it is reached. End the run or raise the budget.`,
    },
  }).catch((err: unknown) => log.error({ err, runId }, 'could not notify the instructor of the budget warning'));
  await markBudgetWarned(runId, now.toISOString()).catch((err: unknown) => log.error({ err, runId }, 'could not record the budget warning'));
}

/** The timer-triggered function (registered in registry.ts). */
export async function environmentSweeper(_timer: Timer, _context: InvocationContext): Promise<void> {
  if (!armSettings().subscriptionId) {
    armLogger().debug({ component: 'sweeper' }, 'no learner subscription configured (LEARNER_SUBSCRIPTION_ID); nothing to sweep');
    return;
  }
  await sweepWorkshopGroups();
}
