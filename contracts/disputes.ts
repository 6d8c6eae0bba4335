import { z } from 'zod';
import type { Decision, PhaseEvent } from '../machines/phaseMachine';

/**
 * What crosses the boundary for disputes, answer reviews and peer reviews: the phase events the API raises (a learner's
 * "I did it" / "review my answer", the instructor's decisions) and the decision the run keeps. The machine
 * declares the TypeScript types; these schemas are held to them (`satisfies`), so the two cannot drift.
 */
const stepId = z.string().min(1).max(100);
const by = z.string().trim().min(1).max(200);
const text = (max: number) => z.string().trim().min(1).max(max);

export const DisputeEvents = {
  DISPUTE: z.strictObject({ type: z.literal('DISPUTE'), stepId, attempt: z.number().int().positive(), note: text(2000) }),
  ANSWER_FOR_REVIEW: z.strictObject({
    type: z.literal('ANSWER_FOR_REVIEW'),
    stepId,
    answer: text(20_000),
    note: text(2000).optional(),
    missing: z.array(z.string().min(1)).max(50),
  }),
  DISPUTE_OVERRIDDEN: z.strictObject({ type: z.literal('DISPUTE_OVERRIDDEN'), stepId, attempt: z.number().int().positive(), by, reason: text(2000) }),
  DISPUTE_RECHECK: z.strictObject({ type: z.literal('DISPUTE_RECHECK'), stepId, attempt: z.number().int().positive(), by }),
  DISPUTE_RETURNED: z.strictObject({ type: z.literal('DISPUTE_RETURNED'), stepId, attempt: z.number().int().positive(), by, comment: text(2000) }),
  ANSWER_ACCEPTED: z.strictObject({ type: z.literal('ANSWER_ACCEPTED'), stepId, round: z.number().int().positive(), by, comment: text(2000) }),
  ANSWER_RETURNED: z.strictObject({ type: z.literal('ANSWER_RETURNED'), stepId, round: z.number().int().positive(), by, comment: text(2000) }),
  PEER_REVIEWED: z.strictObject({
    type: z.literal('PEER_REVIEWED'),
    stepId,
    round: z.number().int().positive(),
    reviewerId: z.string().min(1).max(100),
    notes: text(5000),
    scores: z.record(z.string().min(1).max(60), z.enum(['meets', 'notYet'])),
  }),
} satisfies { [K in DisputeEventType]: z.ZodType<Extract<PhaseEvent, { type: K }>> };

export type DisputeEventType = 'DISPUTE' | 'ANSWER_FOR_REVIEW' | 'DISPUTE_OVERRIDDEN' | 'DISPUTE_RECHECK' | 'DISPUTE_RETURNED' | 'ANSWER_ACCEPTED' | 'ANSWER_RETURNED' | 'PEER_REVIEWED';
export type DisputeEvent = Extract<PhaseEvent, { type: DisputeEventType }>;

/** Build one of these events, checked: a bad field is a bug in the caller, named here rather than ignored by the machine. */
export function disputeEvent<K extends DisputeEventType>(type: K, fields: Omit<Extract<PhaseEvent, { type: K }>, 'type'>): Extract<PhaseEvent, { type: K }> {
  return DisputeEvents[type].parse({ type, ...fields }) as Extract<PhaseEvent, { type: K }>;
}

export const DecisionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('dispute'),
    stepId,
    attempt: z.number().int().positive(),
    outcome: z.enum(['overridden', 'rechecked', 'returned']),
    by,
    reason: text(2000),
    checkIds: z.array(z.string()),
  }),
  z.strictObject({
    kind: z.literal('answer'),
    stepId,
    round: z.number().int().positive(),
    outcome: z.enum(['accepted', 'returned']),
    by,
    reason: text(2000),
    criteriaMetByPerson: z.array(z.string()),
  }),
]) satisfies z.ZodType<Decision>;
