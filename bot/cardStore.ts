import type { TablePort } from '../storage/tables';
import { isStatus } from '../storage/workshopTables';
import { appTable } from '../storage/appTables';
import type { ProgressState, StepCardState } from './cards';

/**
 * `BotCards`: the cards the bot keeps updating in place. One row per learner + step
 * (PartitionKey `runId|learnerId`, RowKey `step|<phase>|<stepId>`) and one progress card per
 * learner (RowKey `progress`), each with the activity id Teams gave the card, the conversation it
 * is in, and the state it renders from. Read-modify-write is ETag-checked (the sender and a
 * learner's button press may change the same card at once).
 */
export const BOT_CARDS_TABLE = 'BotCards';

export interface CardRow<S> {
  activityId?: string;
  conversationId?: string;
  serviceUrl?: string;
  state: S;
}

function cardsTable(): Promise<TablePort> {
  return appTable(BOT_CARDS_TABLE);
}

const clean = (s: string): string => s.replace(/[/\\#?\u0000-\u001f\u007f]/g, '_');
export const cardPartition = (runId: string, learnerId: string): string => clean(`${runId}|${learnerId}`);
export const stepCardKey = (phase: string, stepId: string): string => clean(`step|${phase}|${stepId}`);
export const PROGRESS_KEY = 'progress';

export async function readCard<S>(runId: string, learnerId: string, rowKey: string): Promise<(CardRow<S> & { etag: string }) | undefined> {
  const table = await cardsTable();
  try {
    const row = await table.getEntity<Record<string, unknown>>(cardPartition(runId, learnerId), rowKey);
    return {
      activityId: (row.ActivityId as string) || undefined,
      conversationId: (row.ConversationId as string) || undefined,
      serviceUrl: (row.ServiceUrl as string) || undefined,
      state: JSON.parse(row.State as string) as S,
      etag: row.etag as string,
    };
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

/**
 * Change a card's row: `change` gets the current row (or undefined) and returns the new one.
 * Retried on a concurrent change (412/409). Returns the row written.
 */
export async function changeCard<S>(runId: string, learnerId: string, rowKey: string, change: (current: CardRow<S> | undefined) => CardRow<S>): Promise<CardRow<S>> {
  const table = await cardsTable();
  for (let attempt = 0; ; attempt++) {
    const current = await readCard<S>(runId, learnerId, rowKey);
    const next = change(current);
    const entity = {
      partitionKey: cardPartition(runId, learnerId),
      rowKey,
      ActivityId: next.activityId ?? '',
      ConversationId: next.conversationId ?? '',
      ServiceUrl: next.serviceUrl ?? '',
      State: JSON.stringify(next.state),
      UpdatedAt: new Date().toISOString(),
    };
    try {
      if (current) await table.updateEntity(entity, 'Replace', { etag: current.etag });
      else await table.createEntity(entity);
      return next;
    } catch (err) {
      if (!isStatus(err, 409, 412) || attempt >= 20) throw err;
    }
  }
}

export type StepCardRow = CardRow<StepCardState>;
export type ProgressRow = CardRow<ProgressState & { stepId: string; stepStartedAt: string }>;
