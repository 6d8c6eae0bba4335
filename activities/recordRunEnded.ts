import { z } from 'zod';
import { defineActivity } from './activity';
import { markRunEnded } from '../storage/runRegistry';

export const RecordRunEndedInput = z.object({ runId: z.string().min(1), endedAt: z.string().datetime({ offset: true }), reason: z.string().optional() });
export type RecordRunEndedInput = z.infer<typeof RecordRunEndedInput>;

/**
 * The cohort has finished: mark the run ended in WorkshopRuns, so the sweeper removes any learner
 * environment a journey could not tear down itself. Idempotent (the first end time stays).
 */
export const recordRunEnded = defineActivity(RecordRunEndedInput, async function recordRunEnded(input): Promise<{ status: string }> {
  const run = await markRunEnded(input.runId, { endedAt: input.endedAt, ...(input.reason ? { reason: input.reason } : {}) });
  return { status: run.status };
});
