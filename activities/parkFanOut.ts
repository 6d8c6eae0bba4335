import type { InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { defineActivity } from './activity';
import { EVENTS, journeyInstanceId } from '../contracts/ids';
import type { ParkSignal } from '../contracts/messages';
import { readProgress } from '../storage/progressTable';
import { readRoster } from '../storage/runRoster';
import { signalInstance } from './signalInstance';

/**
 * The cohort's park / unpark fan-out over its roster (like cohortFanOut, and for the same reason: the cohort keeps
 * nothing per learner): every unfinished learner's journey is told PARK or UNPARK with the park's number, and
 * passes it to the phase it runs (orchestrations/parking.ts). Raising the same signal twice is harmless (the
 * phase ignores a park it is already in), so a retry is safe.
 */
export const ParkFanOutInput = z.object({
  runId: z.string().min(1),
  op: z.enum(['park', 'unpark']),
  seq: z.number().int().positive(),
});
export type ParkFanOutInput = z.infer<typeof ParkFanOutInput>;

const CONCURRENCY = 25;

export const parkFanOut = defineActivity(ParkFanOutInput, async function parkFanOut(input, context: InvocationContext): Promise<{ signalled: number }> {
  const [roster, progress] = await Promise.all([readRoster(input.runId), readProgress(input.runId)]);
  const unfinished = roster.filter((l) => !['completed', 'ended'].includes(progress.get(l.learnerId)?.state ?? 'starting'));
  const data: ParkSignal = { type: input.op === 'park' ? 'PARK' : 'UNPARK', seq: input.seq };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < unfinished.length; i = next++) {
      await signalInstance({ op: 'raise', instanceId: journeyInstanceId(input.runId, unfinished[i]!.learnerId), event: EVENTS.journey, data }, context);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, unfinished.length) }, worker));
  return { signalled: unfinished.length };
});
