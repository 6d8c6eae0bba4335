import { z } from 'zod';
import { defineActivity } from './activity';
import { armLogger } from '../azure/armClients';
import { addToPool, claimed, listPool, poolOutcome, updatePoolEnvironment, type PoolStatus } from '../storage/environmentPool';
import { readRosterSlice } from '../storage/runRoster';
import { readLearnerProgress } from '../storage/progressTable';
import { PHASES } from '../machines/journeyMachine';
import { teardown } from './teardown';

/**
 * Hot start's activities (orchestrations/hotStart.ts decides, these read and write the pool's table,
 * storage/environmentPool.ts): take the next learners of the roster into the pool, record what a pool
 * deployment did, tear the unclaimed environments down at the run's end.
 */

export const PoolLearnersInput = z.object({
  runId: z.string().min(1).max(200),
  /** Roster position to start at (0-based) and how many to take; never past `poolSize`. */
  from: z.number().int().min(0),
  count: z.number().int().min(1).max(200),
  poolSize: z.number().int().min(1),
  /** The phase of the pooled provision step: a learner already in it (or past it) deploys their own, and takes no place in the pool. */
  phase: z.enum(PHASES),
});

/**
 * The next `count` learners of the roster enter the pool (rows `queued`); returned are those to deploy for now —
 * not a learner who asked for their environment already (their phase deploys it, on demand) or has finished.
 */
export const poolLearners = defineActivity(PoolLearnersInput, async function poolLearners(input): Promise<{ learnerIds: string[]; next: number }> {
  const count = Math.max(0, Math.min(input.count, input.poolSize - input.from));
  const slice = count ? await readRosterSlice(input.runId, input.from, count) : [];
  const at = new Date().toISOString();
  const taken: Array<{ learnerId: string; index: number }> = [];
  for (const [i, l] of slice.entries()) {
    const progress = await readLearnerProgress(input.runId, l.learnerId);
    const gone = progress && (progress.state === 'completed' || progress.state === 'ended' || PHASES.indexOf(progress.phase) >= PHASES.indexOf(input.phase));
    if (!gone) taken.push({ learnerId: l.learnerId, index: input.from + i });
  }
  await addToPool(input.runId, taken, at);
  const learnerIds: string[] = [];
  for (const l of taken) {
    // Still queued: nobody claimed it since (a claim comes with the learner's provisioning request).
    const row = await updatePoolEnvironment(input.runId, l.learnerId, () => undefined);
    if (row.before?.status === 'queued') learnerIds.push(l.learnerId);
  }
  return { learnerIds, next: input.from + slice.length };
});

export const RecordPoolEnvironmentInput = z.object({
  runId: z.string().min(1).max(200),
  learnerId: z.string().min(1).max(200),
  status: z.enum(['deploying', 'ready', 'failed']),
  subscriptionId: z.string().optional(),
  resourceGroupName: z.string().optional(),
  hourlyCostUsd: z.number().min(0).optional(),
  error: z.string().max(2_000).optional(),
});

/** A pool deployment started, succeeded or failed: its row says so (a claimed or torn-down row keeps its status). */
export const recordPoolEnvironment = defineActivity(RecordPoolEnvironmentInput, async function recordPoolEnvironment(input): Promise<{ status?: PoolStatus }> {
  const { runId, learnerId, status, ...facts } = input;
  const at = new Date().toISOString();
  const { after } = await updatePoolEnvironment(runId, learnerId, (row) => poolOutcome(row, status, at, facts));
  return after ? { status: after.status } : {};
});

/**
 * The learner's phase asked for its environment: their pool row (if any) is claimed, and what it said before
 * is returned — the same answer to a repeated delivery (`claimedFrom`), so a retried request decides alike.
 */
export async function claimPoolEnvironment(runId: string, learnerId: string): Promise<PoolStatus | undefined> {
  const at = new Date().toISOString();
  const { before, after } = await updatePoolEnvironment(runId, learnerId, (row) => claimed(row, at));
  if (!before) return undefined;
  if (after) return before.status;
  return before.status === 'claimed' ? before.claimedFrom : before.status;
}

export const TeardownPoolInput = z.object({ runId: z.string().min(1).max(200), packId: z.string().min(1), reason: z.string().max(200).default('run-ended') });

/**
 * The run is over: every pool environment nobody claimed is torn down (a deploying one too: deleting its
 * group cancels the deployment) and its row says so. Claimed ones are their learners' (the journey tears them down).
 */
export const teardownPool = defineActivity(TeardownPoolInput, async function teardownPool(input): Promise<{ tornDown: string[]; failed: Array<{ learnerId: string; error: string }> }> {
  const log = armLogger().child({ runId: input.runId, component: 'hot-start' });
  const out = { tornDown: [] as string[], failed: [] as Array<{ learnerId: string; error: string }> };
  for (const env of await listPool(input.runId)) {
    if (env.status === 'claimed') continue;
    try {
      // Marked first (with the row's ETag): a claim that comes after finds it final and deploys on demand, never into a group being deleted unseen.
      const at = new Date().toISOString();
      const { after } = await updatePoolEnvironment(input.runId, env.learnerId, (row) => (row.status === 'claimed' || row.status === 'tornDown' ? undefined : { ...row, status: 'tornDown', since: at, tornDownAt: at }));
      // Torn down already (an earlier try of this activity): the teardown again is a no-op or finishes it.
      if (after?.status !== 'tornDown' && env.status !== 'tornDown') continue;
      await teardown({ runId: input.runId, learnerId: env.learnerId, packId: input.packId, reason: `hot-start pool: ${input.reason}`, idempotencyKey: `${input.runId}:pool:${env.learnerId}:teardown` });
      out.tornDown.push(env.learnerId);
    } catch (err) {
      const error = (err as Error).message;
      log.error({ learnerId: env.learnerId, err: { message: error } }, 'could not tear down an unclaimed pool environment; the sweeper removes it at the run\'s end');
      out.failed.push({ learnerId: env.learnerId, error });
    }
  }
  log.info({ tornDown: out.tornDown.length, failed: out.failed.length }, 'unclaimed pool environments torn down');
  return out;
});
