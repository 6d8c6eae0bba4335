import { z } from 'zod';
import { DecisionSchema } from '../contracts/disputes';
import { PHASES } from '../machines/journeyMachine';
import type { Decision, PhaseName } from '../machines/phaseMachine';
import { defineActivity } from './activity';
import { packJson, unpackJson, workshopTable } from '../storage/workshopTables';

/**
 * WorkshopDecisions: PartitionKey runId, RowKey learner|phase|step|kind|attempt-or-round — every decision an
 * instructor took on a learner's dispute or answer (override, re-run, return, accept), as the run report and
 * the learner's record show them. The key is the decision's own identity (attempts and rounds only grow), so a
 * retried activity writes the same row again instead of a second one.
 */
export const DECISIONS_TABLE = 'WorkshopDecisions';

export const RecordDecisionInput = z.object({
  runId: z.string().min(1).max(200),
  learnerId: z.string().min(1).max(200),
  phase: z.enum(PHASES),
  /** Orchestration time of the decision (ISO). */
  at: z.string().datetime({ offset: true }),
  decision: DecisionSchema,
});
export type RecordDecisionInput = z.input<typeof RecordDecisionInput>;

export interface DecisionRow {
  runId: string;
  learnerId: string;
  phase: PhaseName;
  at: string;
  decision: Decision;
}

function rowKey(learnerId: string, phase: string, d: Decision): string {
  return [learnerId, phase, d.stepId, d.kind, d.kind === 'dispute' ? d.attempt : d.round].join('|');
}

export const recordDecision = defineActivity(RecordDecisionInput, async function recordDecision(input): Promise<{ key: string }> {
  const table = await workshopTable(DECISIONS_TABLE);
  const key = rowKey(input.learnerId, input.phase, input.decision);
  await table.upsertEntity({ partitionKey: input.runId, rowKey: key, LearnerId: input.learnerId, Phase: input.phase, At: input.at, ...packJson('Decision', input.decision) }, 'Replace');
  return { key };
});

/** A run's decisions (one learner's, if given), oldest first. */
export async function readDecisions(runId: string, learnerId?: string): Promise<DecisionRow[]> {
  const table = await workshopTable(DECISIONS_TABLE);
  const clauses = [`PartitionKey eq '${runId.replace(/'/g, "''")}'`];
  if (learnerId) clauses.push(`LearnerId eq '${learnerId.replace(/'/g, "''")}'`);
  const out: DecisionRow[] = [];
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: clauses.join(' and ') } })) {
    const decision = unpackJson<Decision>('Decision', row);
    if (decision) out.push({ runId, learnerId: String(row.LearnerId), phase: row.Phase as PhaseName, at: String(row.At), decision });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}
