import type { Logger } from 'pino';
import { z } from 'zod';
import { defineActivity } from './activity';
import { armClients, armLogger, type ArmClients } from '../azure/armClients';
import { classifyArmError, PermanentArmError } from '../azure/armErrors';
import { learnerResourceGroupName, TAGS } from '../azure/environmentNames';
import { clientsForLearner, forgetPlacement } from './subscriptionPool';

export const TeardownInput = z
  .object({
    /** Instance id + step; teardown is naturally idempotent, the key is for the logs. */
    idempotencyKey: z.string().min(1).max(400).optional(),
    /** The group; default: the deterministic name from runId + learnerId (as provisionEnvironment made it). */
    resourceGroupName: z.string().min(1).max(90).optional(),
    /** When given, the group must belong to this run (its `workshop-run` tag): a stale id cannot delete another run's group. */
    runId: z.string().min(1).max(200).optional(),
    learnerId: z.string().min(1).max(200).optional(),
    /** When given, the group must hold this pack (its `workshop-pack` tag). */
    packId: z.string().min(1).optional(),
    /** Why, for the log: 'phase-complete', 'budget', 'run-ended', 'expired', 'instructor', … */
    reason: z.string().max(200).default('requested'),
  })
  .refine((i) => i.resourceGroupName || (i.runId && i.learnerId), { message: 'give resourceGroupName, or runId and learnerId' });
export type TeardownInput = z.input<typeof TeardownInput>;

export interface TeardownResult {
  resourceGroupName: string;
  /** True when this call deleted the group; false when it was already gone (a no-op). */
  deleted: boolean;
  alreadyGone: boolean;
}

export interface TeardownOptions {
  abortSignal?: AbortSignal;
  clients?: ArmClients;
  log?: Logger;
}

/**
 * Deletes the learner's resource group and waits for ARM to finish (the SDK's LRO poller).
 * A group that is already gone is a no-op; a group without the `workshop-pack` tag is never
 * deleted, whatever the caller asks (it is not a workshop environment).
 */
export const teardown = defineActivity(TeardownInput, async function teardown(input, _context?: unknown, options: TeardownOptions = {}): Promise<TeardownResult> {
  const rgName = input.resourceGroupName ?? learnerResourceGroupName(input.runId!, input.learnerId!);
  const clients = options.clients ?? (await clientsForLearner(input.runId, input.learnerId, () => armClients()));
  const log = (options.log ?? armLogger()).child({ resourceGroup: rgName, runId: input.runId, key: input.idempotencyKey });
  const ctx = { what: `tearing down resource group ${rgName}`, resourceGroupName: rgName };
  const gone = { resourceGroupName: rgName, deleted: false, alreadyGone: true };
  try {
    const rg = await clients.resources.resourceGroups.get(rgName, { abortSignal: options.abortSignal }).catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
    if (!rg) {
      log.info({ reason: input.reason }, 'teardown: resource group already gone');
      return gone;
    }
    const tags = rg.tags ?? {};
    if (tags[TAGS.pack] === undefined) {
      throw new PermanentArmError(
        `Resource group ${rgName} has no ${TAGS.pack} tag, so it is not a workshop environment and was not deleted; check the group name.`,
        'NotAWorkshopGroup',
      );
    }
    if (input.packId !== undefined && tags[TAGS.pack] !== input.packId) {
      throw new PermanentArmError(`Resource group ${rgName} holds pack "${tags[TAGS.pack]}", not "${input.packId}"; it was not deleted.`, 'PackMismatch');
    }
    if (input.runId !== undefined && tags[TAGS.run] !== input.runId) {
      throw new PermanentArmError(
        `Resource group ${rgName} belongs to run "${tags[TAGS.run]}", not "${input.runId}"; it was not deleted.`,
        'RunMismatch',
      );
    }
    const poller = clients.resources.resourceGroups.delete(rgName, { abortSignal: options.abortSignal, updateIntervalInMs: clients.pollIntervalMs });
    try {
      await poller.pollUntilDone({ abortSignal: options.abortSignal });
    } catch (err) {
      // Someone else (the sweeper, a second attempt) finished the delete first.
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    log.info({ reason: input.reason, pack: tags[TAGS.pack], learner: tags[TAGS.learner] }, 'teardown: resource group deleted');
    // The learner's next environment is placed afresh (its old subscription may be full by then).
    if (input.runId && input.learnerId) await forgetPlacement(input.runId, input.learnerId);
    return { resourceGroupName: rgName, deleted: true, alreadyGone: false };
  } catch (err) {
    if (options.abortSignal?.aborted || err instanceof PermanentArmError) throw err;
    const classified = classifyArmError(err, ctx);
    log.warn({ err: { name: classified.name, code: classified.code, message: classified.message } }, 'teardown failed');
    throw classified;
  }
});
