import type { InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { defineActivity } from './activity';
import { OUTBOX_TABLE, isStatus, packJson, unpackJson, workshopTable } from '../storage/workshopTables';

/**
 * The one notification port: orchestrations say *what* to tell *whom*; this activity records it
 * in the durable outbox (Tables), once per idempotency key. Delivery (Teams cards, the web chat,
 * the CLI) reads the outbox; nothing in orchestrations/ knows about Teams.
 */
export const Recipient = z.discriminatedUnion('role', [
  z.object({ role: z.literal('learner'), learnerId: z.string().min(1) }),
  z.object({ role: z.literal('instructor') }),
]);
export type Recipient = z.infer<typeof Recipient>;

export const NotifyInput = z.object({
  runId: z.string().min(1),
  /** Idempotency key: instance id + step; the same key is one message however often it is sent. */
  key: z.string().min(1).max(500),
  to: Recipient,
  /** What happened, e.g. 'prompt', 'hint', 'help', 'review', 'failed', 'broadcast'. */
  kind: z.string().min(1),
  /** Structured content; the sender renders it (card, chat line). */
  body: z.record(z.string(), z.unknown()),
});
export type NotifyInput = z.infer<typeof NotifyInput>;

export interface OutboxMessage extends NotifyInput {
  createdAt: string;
  status: 'pending' | 'sent' | 'failed';
}

function rowKey(key: string): string {
  // RowKey may not contain / \ # ? or control characters.
  return key.replace(/[/\\#?\u0000-\u001f\u007f]/g, '_');
}

/** An outbox row the notify activity has just committed (`pending`), as its in-process listeners get it. */
export interface OutboxWrite {
  runId: string;
  rowKey: string;
  role: 'learner' | 'instructor';
  learnerId: string;
  kind: string;
  createdAt: string;
  body: Record<string, unknown>;
}
/**
 * Told of every row this process commits, with the activity's invocation (whose DurableClient binding the
 * listener may use). Called synchronously after the commit: a listener must not throw or block (the Teams
 * sender only queues the row and wakes its pump, bot/outboxPump.ts).
 */
export type OutboxListener = (row: OutboxWrite, context: InvocationContext | undefined) => void;
const listeners = new Set<OutboxListener>();

/** Listen to the outbox rows this process writes (deliver on write); returns the way to stop listening. */
export function onOutboxWritten(listener: OutboxListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export const notify = defineActivity(NotifyInput, async function notify(input, context?: InvocationContext): Promise<{ key: string; duplicate: boolean }> {
  const table = await workshopTable(OUTBOX_TABLE);
  const row: OutboxWrite = {
    runId: input.runId,
    rowKey: rowKey(input.key),
    role: input.to.role,
    learnerId: input.to.role === 'learner' ? input.to.learnerId : '',
    kind: input.kind,
    createdAt: new Date().toISOString(),
    body: input.body,
  };
  try {
    await table.createEntity({
      partitionKey: row.runId,
      rowKey: row.rowKey,
      Role: row.role,
      LearnerId: row.learnerId,
      Kind: row.kind,
      Status: 'pending',
      CreatedAt: row.createdAt,
      ...packJson('Body', input.body),
    });
    // Only a fresh row: a duplicate was announced by the call that wrote it, and the sender's sweep finds it anyway.
    for (const listener of listeners) listener(row, context);
    return { key: input.key, duplicate: false };
  } catch (err) {
    if (isStatus(err, 409)) return { key: input.key, duplicate: true };
    throw err;
  }
});

/** Messages of a run, oldest first; for a learner, or the instructor's. */
export async function readOutbox(runId: string, filter: { learnerId?: string; role?: 'learner' | 'instructor' } = {}): Promise<OutboxMessage[]> {
  const table = await workshopTable(OUTBOX_TABLE);
  const out: OutboxMessage[] = [];
  const clauses = [`PartitionKey eq '${runId.replace(/'/g, "''")}'`];
  if (filter.learnerId) clauses.push(`LearnerId eq '${filter.learnerId.replace(/'/g, "''")}'`);
  if (filter.role) clauses.push(`Role eq '${filter.role}'`);
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: clauses.join(' and ') } })) {
    out.push({
      runId,
      key: row.rowKey as string,
      to: row.Role === 'learner' ? { role: 'learner', learnerId: row.LearnerId as string } : { role: 'instructor' },
      kind: row.Kind as string,
      body: unpackJson<Record<string, unknown>>('Body', row) ?? {},
      createdAt: row.CreatedAt as string,
      status: row.Status as OutboxMessage['status'],
    });
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export const NotifyManyInput = z.object({ messages: z.array(NotifyInput).max(500) });

/** Many notifications in one activity call (a broadcast to a cohort), each still once per key. */
export const notifyMany = defineActivity(NotifyManyInput, async function notifyMany(input, context?: InvocationContext): Promise<Array<{ key: string; duplicate: boolean }>> {
  return Promise.all(input.messages.map((m) => notify(m, context)));
});
