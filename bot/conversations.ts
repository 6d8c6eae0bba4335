import type { TablePort } from '../storage/tables';
import { isStatus } from '../storage/workshopTables';
import { appTable } from '../storage/appTables';

/**
 * `BotConversations`: what the bot needs to reach people later (proactive messages).
 *  - PartitionKey `user`, RowKey = the user's AAD object id: their Teams user id, UPN, name, tenant,
 *    and — once they talked to the bot or installed the app — their 1:1 conversation id and the
 *    service URL it lives at. Users known only as team members have no conversation yet; the sender
 *    creates one (`POST /v3/conversations`) when it first has something for them.
 *  - PartitionKey `team`, RowKey = team id: teams the app is installed in (for rosters from members).
 * Written on every inbound activity (cheap upsert, the service URL can change), read by the sender.
 */
export const BOT_CONVERSATIONS_TABLE = 'BotConversations';

export interface TeamsUser {
  aadObjectId: string;
  userId: string;
  name: string;
  upn: string;
  tenantId: string;
  conversationId?: string;
  serviceUrl?: string;
  /** The run this user's commands go to when they name none (set by start / use). */
  currentRunId?: string;
}

export interface TeamRef {
  teamId: string;
  name: string;
  conversationId: string;
  serviceUrl: string;
  tenantId: string;
  installedAt: string;
}

export function conversationsTable(): Promise<TablePort> {
  return appTable(BOT_CONVERSATIONS_TABLE);
}

const key = (id: string): string => id.toLowerCase().replace(/[/\\#?\u0000-\u001f\u007f]/g, '_');

function toUser(row: Record<string, unknown>): TeamsUser {
  return {
    aadObjectId: row.rowKey as string,
    userId: row.UserId as string,
    name: (row.Name as string) ?? '',
    upn: (row.Upn as string) ?? '',
    tenantId: (row.TenantId as string) ?? '',
    conversationId: (row.ConversationId as string) || undefined,
    serviceUrl: (row.ServiceUrl as string) || undefined,
    currentRunId: (row.CurrentRunId as string) || undefined,
  };
}

/** Record (merge) what an activity told us about a user. */
export async function saveUser(u: Partial<TeamsUser> & { aadObjectId: string; userId: string }): Promise<void> {
  const table = await conversationsTable();
  const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = { partitionKey: 'user', rowKey: key(u.aadObjectId), UserId: u.userId, UpdatedAt: new Date().toISOString() };
  if (u.name) entity.Name = u.name;
  if (u.upn) entity.Upn = u.upn.toLowerCase();
  if (u.tenantId) entity.TenantId = u.tenantId;
  if (u.conversationId) entity.ConversationId = u.conversationId;
  if (u.serviceUrl) entity.ServiceUrl = u.serviceUrl;
  if (u.currentRunId) entity.CurrentRunId = u.currentRunId;
  await table.upsertEntity(entity, 'Merge');
}

export async function getUser(aadObjectId: string): Promise<TeamsUser | undefined> {
  const table = await conversationsTable();
  try {
    return toUser(await table.getEntity<Record<string, unknown>>('user', key(aadObjectId)));
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

/** A user by UPN / email (case-insensitive). */
export async function findUserByUpn(upn: string): Promise<TeamsUser | undefined> {
  const table = await conversationsTable();
  const filter = `PartitionKey eq 'user' and Upn eq '${upn.toLowerCase().replace(/'/g, "''")}'`;
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) return toUser(row);
  return undefined;
}

/** A user named by an instructor list entry or roster: an AAD object id or a UPN. */
export async function findUser(idOrUpn: string): Promise<TeamsUser | undefined> {
  return idOrUpn.includes('@') ? findUserByUpn(idOrUpn) : getUser(idOrUpn);
}

export async function saveTeam(t: TeamRef): Promise<void> {
  const table = await conversationsTable();
  await table.upsertEntity(
    { partitionKey: 'team', rowKey: key(t.teamId), TeamId: t.teamId, Name: t.name, ConversationId: t.conversationId, ServiceUrl: t.serviceUrl, TenantId: t.tenantId, InstalledAt: t.installedAt },
    'Merge',
  );
}

export async function getTeam(teamId: string): Promise<TeamRef | undefined> {
  const table = await conversationsTable();
  try {
    const row = await table.getEntity<Record<string, unknown>>('team', key(teamId));
    return { teamId: row.TeamId as string, name: row.Name as string, conversationId: row.ConversationId as string, serviceUrl: row.ServiceUrl as string, tenantId: row.TenantId as string, installedAt: row.InstalledAt as string };
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

/** The most recently installed team (a roster "from the team" in a 1:1 chat uses it). */
export async function latestTeam(): Promise<TeamRef | undefined> {
  const table = await conversationsTable();
  let best: TeamRef | undefined;
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq 'team'` } })) {
    const t = { teamId: row.TeamId as string, name: row.Name as string, conversationId: row.ConversationId as string, serviceUrl: row.ServiceUrl as string, tenantId: row.TenantId as string, installedAt: row.InstalledAt as string };
    if (!best || t.installedAt > best.installedAt) best = t;
  }
  return best;
}
