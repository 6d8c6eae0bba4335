import type * as df from 'durable-functions';
import { z } from 'zod';
import { runActivity, type ActivityResult } from '../activities';

export const HostSelfCheckInput = z
  .object({ confirmWithinSeconds: z.number().int().min(1).max(86_400).default(300) })
  .default({ confirmWithinSeconds: 300 });

export interface HostSelfCheckResult {
  storage: ActivityResult<'probeStorage'>;
  confirmed: boolean;
  confirmation: unknown;
  timedOut: boolean;
}

/**
 * An operator's end-to-end check of a deployment: an activity round-trip to Table storage (with
 * retries), then a wait for a human `confirm` event raced against a durable timer — the same
 * pattern every learner prompt uses — so one run exercises activities, retries, timers and events.
 */
export function* hostSelfCheck(context: df.OrchestrationContext): Generator<df.Task, HostSelfCheckResult, unknown> {
  const input = HostSelfCheckInput.parse(context.df.getInput() ?? undefined);
  context.df.setCustomStatus({ stage: 'probing-storage' });
  const storage = yield* runActivity(context, 'probeStorage', { key: context.df.instanceId });

  context.df.setCustomStatus({ stage: 'awaiting-confirm', storageOk: storage.ok });
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + input.confirmWithinSeconds * 1000);
  const timer = context.df.createTimer(deadline);
  const confirm = context.df.waitForExternalEvent('confirm');
  const winner = yield context.df.Task.any([confirm, timer]);
  const confirmed = winner === confirm;
  if (confirmed) timer.cancel();
  context.df.setCustomStatus({ stage: 'done', storageOk: storage.ok });
  return { storage, confirmed, confirmation: confirmed ? confirm.result : null, timedOut: !confirmed };
}
