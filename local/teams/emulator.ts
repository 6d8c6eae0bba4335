import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { SqliteDatabase } from '../../storage/sqlite';
import { TeamsEmulatorState } from './persistence';
import pino, { type Logger } from 'pino';
import { newSigningKey, publicJwk, signJwt, verifyJwt, type JwtClaims, type SigningKey } from './jwt';
import { prng } from '../prng';
import { outlastClientKeepAlive } from '../keepAlive';

/**
 * The local stand-in for Microsoft Teams and the Bot Connector service.
 *
 * - **Token issuer.** It has its own RSA key, published the Bot Framework way
 *   (`/.well-known/openidconfiguration` + `/.well-known/keys`), signs every activity it posts to the
 *   bot (`iss`, `aud` = the bot's app id, `exp`, `serviceurl`), and issues the bot's outbound tokens
 *   (client-credentials grant at `/botframework.com/oauth2/v2.0/token`). The bot validates the
 *   inbound tokens with the Teams SDK's real validator, pointed here by its `cloud` option.
 * - **Connector.** The bot's REST calls under `<serviceUrl>v3/…` with the real shapes: send
 *   (`POST …/activities`), reply, update in place (`PUT …/activities/{id}`), delete, create a
 *   conversation (`POST /v3/conversations`), members. Calls without a token it issued get 401.
 * - **Faults.** 429 with `Retry-After` on a configured share of sends (seeded, so tests repeat).
 * - **Records** every call and every conversation's activities with their versions (tests read them).
 * - **Web chat** at `/chat`: pick a user of the directory and talk to the bot; cards are rendered
 *   with the `adaptivecards` renderer and their actions go back as `invoke` activities.
 */

export interface DirectoryUser {
  /** Teams user id (`29:…`), what the bot sees in `from.id`. */
  id: string;
  aadObjectId: string;
  name: string;
  /** User principal name (sign-in name), also used as email. */
  upn: string;
  /** A hint for the web chat's user picker; Teams itself has no roles. */
  kind?: 'instructor' | 'learner' | 'user';
}

export interface StoredActivity {
  /** Bumped on every change, so pollers ask for `after=<seq>`. */
  seq: number;
  id: string;
  conversationId: string;
  fromBot: boolean;
  type: string;
  from: { id: string; name?: string };
  text?: string;
  attachments?: Array<{ contentType: string; content?: unknown }>;
  replyToId?: string;
  /** 1 when posted; +1 for every update in place. */
  version: number;
  /** Earlier versions, oldest first. */
  history: Array<{ version: number; text?: string; attachments?: StoredActivity['attachments']; at: string }>;
  createdAt: string;
  updatedAt: string;
  deleted?: boolean;
}

export interface RecordedCall {
  at: string;
  method: string;
  path: string;
  conversationId?: string;
  activityId?: string;
  status: number;
  body?: unknown;
  /** Set on 429s the emulator injected. */
  throttled?: boolean;
}

export interface InboundRecord {
  at: string;
  activity: Record<string, unknown>;
  status: number;
  body: unknown;
}

export interface Faults {
  /** Share (0..1) of connector sends/updates/creates answered with 429. */
  rate429?: number;
  /** Retry-After seconds sent with an injected 429 (may be fractional, e.g. 0.2, to keep tests short). */
  retryAfterSeconds?: number;
  /** Seed of the fault dice, so a test sees the same storm each run. */
  seed?: number;
}

export interface TeamsEmulatorOptions {
  port?: number;
  /** The bot's messaging endpoint (`http://127.0.0.1:7071/api/messages`); settable later. */
  botEndpoint?: string;
  appId?: string;
  appSecret?: string;
  tenantId?: string;
  botName?: string;
  users?: DirectoryUser[];
  faults?: Faults;
  logger?: Logger;
  /** Keep conversations, team, secret and port in the embedded store (across restarts); in memory without it. */
  database?: SqliteDatabase;
}

export interface SendResult {
  status: number;
  body: unknown;
}

export interface TeamsEmulator {
  url: string;
  /** What the bot is told to call (`serviceUrl` of every activity): `<url>/teams/`. */
  serviceUrl: string;
  openIdMetadataUrl: string;
  tokenIssuer: string;
  /** Client-credentials token endpoint for the bot's outbound calls. */
  tokenEndpoint: string;
  appId: string;
  appSecret: string;
  tenantId: string;
  team: { id: string; name: string };
  users(): DirectoryUser[];
  addUser(user: Partial<DirectoryUser> & { name: string; upn: string }): DirectoryUser;
  user(idOrUpn: string): DirectoryUser;
  setBotEndpoint(url: string): void;
  setFaults(faults: Faults): void;
  /** The user's 1:1 conversation with the bot (created on first use, like Teams). */
  personalConversationId(userIdOrUpn: string): string;
  /** The user installs the app / opens the chat: `installationUpdate` + `conversationUpdate`. */
  install(userIdOrUpn: string): Promise<SendResult>;
  /** The app is added to the team: `conversationUpdate` (membersAdded: the bot) in the General channel. */
  installInTeam(by: string): Promise<SendResult>;
  /** The user types `text` in their chat with the bot (or in the team channel with `channel: true`). */
  say(userIdOrUpn: string, text: string, opts?: { channel?: boolean; attachments?: unknown[] }): Promise<SendResult>;
  /** The user presses an `Action.Execute` button of the card `cardActivityId`. */
  invoke(userIdOrUpn: string, cardActivityId: string, action: { verb: string; data?: Record<string, unknown> }): Promise<SendResult>;
  /** Post any activity with any Authorization header, or none when it is left out (tests: forged / expired / wrong audience). */
  postRaw(activity: Record<string, unknown>, authorization?: string): Promise<SendResult>;
  /** A signed inbound activity for `user` (what `say` posts), without posting it. */
  buildMessage(userIdOrUpn: string, text: string): Record<string, unknown>;
  /** A token like the ones the emulator sends, with claims overridden; `forged` signs with a key nobody published (same kid). */
  mintToken(claims?: JwtClaims, opts?: { forged?: boolean }): string;
  /** Activities of a conversation, oldest first. */
  transcript(conversationId: string): StoredActivity[];
  activity(conversationId: string, activityId: string): StoredActivity | undefined;
  calls: RecordedCall[];
  inbound: InboundRecord[];
  stats(): { sends: number; updates: number; creates: number; throttled: number; unauthorized: number };
  stop(): Promise<void>;
}

const BOT_AUDIENCE = 'https://api.botframework.com';


function guidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A directory user with Teams-looking ids derived from the UPN (stable across restarts). */
export function directoryUser(name: string, upn: string, kind: DirectoryUser['kind'] = 'user'): DirectoryUser {
  const aadObjectId = guidFrom(`aad:${upn.toLowerCase()}`);
  return { id: `29:${Buffer.from(aadObjectId).toString('base64url').slice(0, 40)}`, aadObjectId, name, upn: upn.toLowerCase(), kind };
}

/** The local directory: an instructor and three learners (add more on the web chat page or with addUser). */
export const DEFAULT_USERS: DirectoryUser[] = [
  directoryUser('Ines Instructor', 'ines@contoso.example', 'instructor'),
  directoryUser('Ada Lovelace', 'ada@contoso.example', 'learner'),
  directoryUser('Brian Kernighan', 'brian@contoso.example', 'learner'),
  directoryUser('Grace Hopper', 'grace@contoso.example', 'learner'),
];

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  if ((req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpProblem(400, 'BadSyntax', 'The request body is not valid JSON.');
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(text);
}

type Conversation = { id: string; type: 'personal' | 'channel'; userId?: string; activities: StoredActivity[] };
type NewActivity = Omit<StoredActivity, 'seq' | 'version' | 'history' | 'createdAt' | 'updatedAt' | 'conversationId'>;

/**
 * The emulator's state and its three faces: the token issuer, the connector the bot calls, and the web chat
 * with its API. `startTeamsEmulator` starts one and hands out the {@link TeamsEmulator} view of it.
 */
class Emulator {
  readonly log: Logger;
  readonly key: SigningKey = newSigningKey();
  readonly appId: string;
  readonly state: TeamsEmulatorState<StoredActivity> | undefined;
  readonly saved: ReturnType<TeamsEmulatorState<StoredActivity>['settings']> | undefined;
  readonly appSecret: string;
  readonly tenantId: string;
  readonly botName: string;
  botEndpoint: string;
  faults: Required<Faults>;
  roll: () => number;
  readonly users = new Map<string, DirectoryUser>();
  readonly team: { id: string; name: string };
  readonly conversations = new Map<string, Conversation>();
  readonly personal = new Map<string, string>();
  seq = 0;
  /** Writes of this request's changes; a reply waits for them, so what the bot was told is on disk. */
  readonly saving: Array<Promise<void>> = [];
  readonly calls: RecordedCall[] = [];
  readonly inbound: InboundRecord[] = [];
  url = '';
  readonly counters = { sends: 0, updates: 0, creates: 0, throttled: 0, unauthorized: 0 };
  readonly server: Server;
  readonly acScript = path.join(require.resolve('adaptivecards/package.json'), '..', 'dist', 'adaptivecards.min.js');

  constructor(opts: TeamsEmulatorOptions) {
    this.log = (opts.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' })).child({ component: 'teamsEmulator' });
    this.appId = opts.appId ?? guidFrom('workshop-bot-local');
    this.state = opts.database ? TeamsEmulatorState.open<StoredActivity>(opts.database) : undefined;
    this.saved = this.state?.settings();
    this.appSecret = opts.appSecret ?? this.saved?.appSecret ?? randomBytes(18).toString('base64url');
    this.tenantId = opts.tenantId ?? guidFrom('contoso-tenant');
    this.botName = opts.botName ?? 'Workshop';
    this.botEndpoint = opts.botEndpoint ?? '';
    this.faults = { rate429: 0, retryAfterSeconds: 1, seed: 1, ...opts.faults };
    this.roll = prng(this.faults.seed);
    for (const u of opts.users ?? DEFAULT_USERS) this.users.set(u.id, u);
    this.team = this.saved?.team ?? { id: `19:${randomBytes(12).toString('hex')}@thread.tacv2`, name: 'Workshop cohort' };
    this.conversations.set(this.team.id, { id: this.team.id, type: 'channel', activities: [] });
    for (const c of this.state?.conversations() ?? []) {
      this.conversations.set(c.id, c);
      if (c.type === 'personal' && c.userId) this.personal.set(c.userId, c.id);
      for (const a of c.activities) this.seq = Math.max(this.seq, a.seq);
    }
    this.server = outlastClientKeepAlive(
      createServer((req, res) => {
        this.handle(req, res).catch((err: unknown) => {
          if (err instanceof HttpProblem) return send(res, err.status, { error: { code: err.code, message: err.message } });
          this.log.error({ err, url: req.url }, 'teams emulator request failed');
          if (!res.headersSent) send(res, 500, { error: { code: 'InternalError', message: (err as Error).message } });
        });
      }),
    );
  }

  /** Listens on the port asked for, else this data directory's previous port (any port when that one is taken). */
  async listen(port: number | undefined): Promise<void> {
    const { server, log, saved } = this;
    const bound = await new Promise<number>((resolve, reject) => {
      const listen = (p: number, fallback: boolean): void => {
        server.once('error', (err: NodeJS.ErrnoException) => {
          // The port this data directory used before is taken: any port will do, though the bot's stored references name the old one.
          if (fallback && err.code === 'EADDRINUSE') {
            log.warn({ port: p }, 'the connector emulator cannot have its previous port back; conversations the bot knows by the old address need a new message first');
            listen(0, false);
          } else reject(err);
        });
        server.listen(p, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
      };
      listen(port ?? saved?.port ?? 0, port === undefined && saved?.port !== undefined);
    });
    this.url = `http://127.0.0.1:${bound}`;
    if (this.state) await this.state.saveSettings({ port: bound, team: this.team, appSecret: this.appSecret });
  }

  // ── directory, conversations and their activities ──

  saveActivity(a: StoredActivity): void {
    if (this.state) this.saving.push(this.state.saveActivity(a));
  }

  async persisted(): Promise<void> {
    while (this.saving.length) await Promise.all(this.saving.splice(0));
  }

  findUser(idOrUpn: string): DirectoryUser {
    const byId = this.users.get(idOrUpn);
    if (byId) return byId;
    const lower = idOrUpn.toLowerCase();
    for (const u of this.users.values()) if (u.upn === lower || u.aadObjectId === lower) return u;
    throw new HttpProblem(404, 'NotFound', `No user "${idOrUpn}" in the emulator's directory. Users: ${[...this.users.values()].map((u) => u.upn).join(', ')}.`);
  }

  personalId(user: DirectoryUser): string {
    let id = this.personal.get(user.id);
    if (!id) {
      id = `a:${createHash('sha256').update(`${this.appId}|${user.id}`).digest('base64url').slice(0, 48)}`;
      this.personal.set(user.id, id);
      this.conversations.set(id, { id, type: 'personal', userId: user.id, activities: [] });
      if (this.state) this.saving.push(this.state.saveConversation({ id, type: 'personal', userId: user.id }));
    }
    return id;
  }

  addUser(u: Partial<DirectoryUser> & { name: string; upn: string }): DirectoryUser {
    const user = { ...directoryUser(u.name, u.upn, u.kind ?? 'user'), ...(u.id ? { id: u.id } : {}), ...(u.aadObjectId ? { aadObjectId: u.aadObjectId } : {}) };
    this.users.set(user.id, user);
    return user;
  }

  setFaults(f: Faults): void {
    this.faults = { ...this.faults, ...f };
    this.roll = prng(this.faults.seed);
  }

  store(conversationId: string, a: NewActivity): StoredActivity {
    const conv = this.conversations.get(conversationId);
    if (!conv) throw new HttpProblem(404, 'ConversationNotFound', `Conversation ${conversationId} does not exist.`);
    const now = new Date().toISOString();
    const stored: StoredActivity = { ...a, conversationId, seq: ++this.seq, version: 1, history: [], createdAt: now, updatedAt: now };
    conv.activities.push(stored);
    this.saveActivity(stored);
    return stored;
  }

  updateStored(a: StoredActivity, next: { text?: string; attachments?: StoredActivity['attachments'] }): void {
    a.history.push({ version: a.version, text: a.text, attachments: a.attachments, at: a.updatedAt });
    a.version += 1;
    a.text = next.text;
    a.attachments = next.attachments;
    a.updatedAt = new Date().toISOString();
    a.seq = ++this.seq;
    this.saveActivity(a);
  }

  // ── the token issuer and what the emulator posts to the bot ──

  serviceUrl(): string {
    return `${this.url}/teams/`;
  }

  tokenIssuer(): string {
    return `${this.url}/issuer`;
  }

  inboundToken(): string {
    const now = Math.floor(Date.now() / 1000);
    return signJwt({ iss: this.tokenIssuer(), aud: this.appId, nbf: now - 5, iat: now, exp: now + 3600, serviceurl: this.serviceUrl() }, this.key);
  }

  mintToken(claims: JwtClaims = {}, o: { forged?: boolean } = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const k = o.forged ? newSigningKey(this.key.kid) : this.key;
    return signJwt({ iss: this.tokenIssuer(), aud: this.appId, nbf: now - 5, iat: now, exp: now + 3600, serviceurl: this.serviceUrl(), ...claims }, k);
  }

  baseActivity(user: DirectoryUser, conversationId: string, channel: boolean): Record<string, unknown> {
    const { tenantId, team, appId } = this;
    return {
      id: `f:${randomUUID()}`,
      timestamp: new Date().toISOString(),
      localTimestamp: new Date().toISOString(),
      serviceUrl: this.serviceUrl(),
      channelId: 'msteams',
      from: { id: user.id, name: user.name, aadObjectId: user.aadObjectId },
      conversation: channel
        ? { isGroup: true, conversationType: 'channel', tenantId, id: conversationId, name: team.name }
        : { conversationType: 'personal', tenantId, id: conversationId },
      recipient: { id: `28:${appId}`, name: this.botName },
      locale: 'en-US',
      entities: [{ type: 'clientInfo', locale: 'en-US', country: 'GB', platform: 'Web', timezone: 'Europe/London' }],
      channelData: channel ? { tenant: { id: tenantId }, team: { id: team.id, name: team.name, aadGroupId: guidFrom(team.id) }, channel: { id: team.id, name: 'General' } } : { tenant: { id: tenantId } },
    };
  }

  userMessage(user: DirectoryUser, conversationId: string, text: string, channel: boolean, attachments?: unknown[]): Record<string, unknown> {
    return {
      ...this.baseActivity(user, conversationId, channel),
      type: 'message',
      text,
      textFormat: 'plain',
      ...(attachments?.length ? { attachments } : {}),
    };
  }

  async postToBot(activity: Record<string, unknown>, authorization: string | undefined = `Bearer ${this.inboundToken()}`): Promise<SendResult> {
    if (!this.botEndpoint) throw new HttpProblem(503, 'NoBot', 'The emulator does not know the bot endpoint yet (setBotEndpoint).');
    const res = await fetch(this.botEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(activity),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* plain text body */
    }
    this.inbound.push({ at: new Date().toISOString(), activity, status: res.status, body });
    return { status: res.status, body };
  }

  applyInvokeResponse(conversationId: string, cardId: string, body: unknown): void {
    const r = body as { statusCode?: number; type?: string; value?: unknown } | undefined;
    if (r?.type !== 'application/vnd.microsoft.card.adaptive' || !r.value) return;
    const a = this.conversations.get(conversationId)?.activities.find((x) => x.id === cardId);
    if (a) this.updateStored(a, { attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content: r.value }] });
  }

  async install(who: string): Promise<SendResult> {
    const user = this.findUser(who);
    const convId = this.personalId(user);
    const r = await this.postToBot({ ...this.baseActivity(user, convId, false), type: 'installationUpdate', action: 'add' });
    if (r.status >= 300) return r;
    return this.postToBot({ ...this.baseActivity(user, convId, false), type: 'conversationUpdate', membersAdded: [{ id: `28:${this.appId}` }], channelData: { tenant: { id: this.tenantId }, eventType: 'membersAdded' } });
  }

  async installInTeam(who: string): Promise<SendResult> {
    const user = this.findUser(who);
    const base = this.baseActivity(user, this.team.id, true);
    return this.postToBot({ ...base, type: 'conversationUpdate', membersAdded: [{ id: `28:${this.appId}` }], channelData: { ...(base.channelData as object), eventType: 'teamMemberAdded' } });
  }

  async sayAs(who: string, text: string, o: { channel?: boolean; attachments?: unknown[] } = {}): Promise<SendResult> {
    const user = this.findUser(who);
    const convId = o.channel ? this.team.id : this.personalId(user);
    const activity = this.userMessage(user, convId, text, !!o.channel, o.attachments);
    this.store(convId, { id: activity.id as string, fromBot: false, type: 'message', from: { id: user.id, name: user.name }, text });
    await this.persisted();
    return this.postToBot(activity);
  }

  async invokeAs(who: string, cardActivityId: string, action: { verb: string; data?: Record<string, unknown> }, channel = false): Promise<SendResult> {
    const user = this.findUser(who);
    const convId = channel ? this.team.id : this.personalId(user);
    const activity = { ...this.baseActivity(user, convId, channel), type: 'invoke', name: 'adaptiveCard/action', replyToId: cardActivityId, value: { action: { type: 'Action.Execute', verb: action.verb, data: action.data ?? {} }, trigger: 'manual' } };
    const r = await this.postToBot(activity);
    if (r.status === 200) this.applyInvokeResponse(convId, cardActivityId, r.body);
    await this.persisted();
    return r;
  }

  // ── connector REST (the bot's outgoing calls) ──

  requireBotToken(req: IncomingMessage): void {
    const auth = req.headers.authorization;
    const fail = (why: string): never => {
      this.counters.unauthorized++;
      throw new HttpProblem(401, 'Unauthorized', `Authorization has been denied for this request: ${why}.`);
    };
    if (!auth?.startsWith('Bearer ')) fail('no bearer token');
    const checked = verifyJwt(auth!.slice(7), [this.key]);
    if (!checked.ok) return fail(checked.reason);
    if (checked.claims.aud !== BOT_AUDIENCE) fail(`audience ${String(checked.claims.aud)} is not ${BOT_AUDIENCE}`);
    if (checked.claims.appid !== this.appId) fail(`token is for app ${String(checked.claims.appid)}, not ${this.appId}`);
  }

  maybeThrottle(res: ServerResponse, rec: Omit<RecordedCall, 'status' | 'at'>): boolean {
    const { faults } = this;
    if (faults.rate429 <= 0 || this.roll() >= faults.rate429) return false;
    this.counters.throttled++;
    this.calls.push({ ...rec, at: new Date().toISOString(), status: 429, throttled: true });
    send(res, 429, { error: { code: 'TooManyRequests', message: 'The bot is sending too fast; retry after the Retry-After interval.' } }, { 'retry-after': String(faults.retryAfterSeconds) });
    return true;
  }

  memberOf(u: DirectoryUser): Record<string, unknown> {
    return {
      id: u.id,
      name: u.name,
      aadObjectId: u.aadObjectId,
      email: u.upn,
      userPrincipalName: u.upn,
      givenName: u.name.split(' ')[0],
      surname: u.name.split(' ').slice(1).join(' '),
      tenantId: this.tenantId,
      userRole: 'user',
    };
  }

  record(method: string, sub: string, status: number, extra: Partial<RecordedCall>, body?: unknown): void {
    this.calls.push({ at: new Date().toISOString(), method, path: `/v3/${sub}`, status, body, ...extra });
  }

  async connector(req: IncomingMessage, res: ServerResponse, sub: string): Promise<void> {
    const method = req.method ?? 'GET';
    this.requireBotToken(req);
    let m: RegExpExecArray | null;
    if (sub === 'conversations' && method === 'POST') return this.createConversation(req, res, sub);
    if ((m = /^conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(sub))) {
      const conversationId = decodeURIComponent(m[1]);
      const activityId = m[2] ? decodeURIComponent(m[2]) : undefined;
      const conv = this.conversations.get(conversationId);
      if (!conv) throw new HttpProblem(404, 'ConversationNotFound', `Conversation ${conversationId} does not exist.`);
      if (method === 'POST') return this.postActivity(req, res, sub, conversationId, activityId);
      if (method === 'PUT' && activityId) return this.updateActivity(req, res, sub, conv, activityId);
      if (method === 'DELETE' && activityId) return this.deleteActivity(res, sub, conv, activityId);
    }
    if ((m = /^conversations\/([^/]+)\/(members|pagedmembers)(?:\/([^/]+))?$/.exec(sub)) && method === 'GET') return this.members(res, sub, m);
    throw new HttpProblem(404, 'NotFound', `The connector emulator does not serve ${method} /v3/${sub}.`);
  }

  /** POST /v3/conversations: a 1:1 conversation, with its first activity when the bot gives one. */
  async createConversation(req: IncomingMessage, res: ServerResponse, sub: string): Promise<void> {
    const method = 'POST';
    const body = (await readJson(req)) as { members?: Array<{ id: string }>; isGroup?: boolean; tenantId?: string; activity?: Record<string, unknown> };
    if (this.maybeThrottle(res, { method, path: '/v3/conversations', body })) return;
    const member = body.members?.[0];
    if (!member || body.isGroup) throw new HttpProblem(400, 'BadArgument', 'Only 1:1 conversations can be created here: give exactly one member and isGroup false.');
    const user = this.findUser(member.id);
    const id = this.personalId(user);
    this.counters.creates++;
    let activityId: string | undefined;
    if (body.activity) {
      activityId = this.store(id, { id: `1:${randomUUID()}`, fromBot: true, type: String(body.activity.type ?? 'message'), from: { id: `28:${this.appId}`, name: this.botName }, text: body.activity.text as string, attachments: body.activity.attachments as StoredActivity['attachments'] }).id;
    }
    this.record(method, sub, 201, { conversationId: id, activityId }, body);
    await this.persisted();
    send(res, 201, { id, ...(activityId ? { activityId } : {}) });
  }

  /** POST …/activities[/{replyTo}]: send, or reply. */
  async postActivity(req: IncomingMessage, res: ServerResponse, sub: string, conversationId: string, activityId: string | undefined): Promise<void> {
    const method = 'POST';
    const body = (await readJson(req)) as Record<string, unknown>;
    if (this.maybeThrottle(res, { method, path: `/v3/${sub}`, conversationId, body })) return;
    const stored = this.store(conversationId, {
      id: `1:${randomUUID()}`,
      fromBot: true,
      type: String(body.type ?? 'message'),
      from: { id: `28:${this.appId}`, name: this.botName },
      text: body.text as string | undefined,
      attachments: body.attachments as StoredActivity['attachments'],
      replyToId: activityId ?? (body.replyToId as string | undefined),
    });
    this.counters.sends++;
    this.record(method, sub, 201, { conversationId, activityId: stored.id }, body);
    await this.persisted();
    send(res, 201, { id: stored.id });
  }

  /** PUT …/activities/{id}: update in place, only what this bot sent. */
  async updateActivity(req: IncomingMessage, res: ServerResponse, sub: string, conv: Conversation, activityId: string): Promise<void> {
    const method = 'PUT';
    const conversationId = conv.id;
    const body = (await readJson(req)) as Record<string, unknown>;
    const existing = conv.activities.find((a) => a.id === activityId && a.fromBot && !a.deleted);
    if (!existing) throw new HttpProblem(404, 'ActivityNotFound', `Activity ${activityId} was not sent by this bot in ${conversationId}.`);
    if (this.maybeThrottle(res, { method, path: `/v3/${sub}`, conversationId, activityId, body })) return;
    this.updateStored(existing, { text: body.text as string | undefined, attachments: body.attachments as StoredActivity['attachments'] });
    this.counters.updates++;
    this.record(method, sub, 200, { conversationId, activityId }, body);
    await this.persisted();
    send(res, 200, { id: activityId });
  }

  /** DELETE …/activities/{id} */
  async deleteActivity(res: ServerResponse, sub: string, conv: Conversation, activityId: string): Promise<void> {
    const existing = conv.activities.find((a) => a.id === activityId);
    if (existing) {
      existing.deleted = true;
      existing.seq = ++this.seq;
      this.saveActivity(existing);
    }
    this.record('DELETE', sub, 200, { conversationId: conv.id, activityId });
    await this.persisted();
    send(res, 200, {});
  }

  /** GET …/members[/{id}] and …/pagedmembers */
  members(res: ServerResponse, sub: string, m: RegExpExecArray): void {
    const conversationId = decodeURIComponent(m[1]);
    const conv = this.conversations.get(conversationId);
    if (!conv) throw new HttpProblem(404, 'ConversationNotFound', `Conversation ${conversationId} does not exist.`);
    const members = conv.type === 'personal' ? [this.findUser(conv.userId!)] : [...this.users.values()];
    this.record('GET', sub, 200, { conversationId });
    if (m[3]) {
      const who = decodeURIComponent(m[3]);
      const member = members.find((u) => u.id === who || u.aadObjectId === who || u.upn === who.toLowerCase());
      if (!member) throw new HttpProblem(404, 'MemberNotFound', `${who} is not a member of ${conversationId}.`);
      send(res, 200, this.memberOf(member));
    } else if (m[2] === 'pagedmembers') send(res, 200, { members: members.map((u) => this.memberOf(u)) });
    else send(res, 200, members.map((u) => this.memberOf(u)));
  }

  // ── the web chat page and its API ──

  async api(req: IncomingMessage, res: ServerResponse, sub: string, q: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    if (sub === 'state' && method === 'GET') {
      send(res, 200, { users: [...this.users.values()], team: this.team, botEndpoint: this.botEndpoint, serviceUrl: this.serviceUrl(), appId: this.appId, tenantId: this.tenantId });
      return;
    }
    if (sub === 'users' && method === 'POST') {
      const body = (await readJson(req)) as { name?: string; upn?: string; kind?: DirectoryUser['kind'] };
      if (!body.name || !body.upn || !/^[^@\s]+@[^@\s]+$/.test(body.upn)) throw new HttpProblem(400, 'BadArgument', 'Give a name and a upn like "ann@contoso.example".');
      send(res, 201, this.addUser({ name: body.name, upn: body.upn, kind: body.kind }));
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = /^users\/([^/]+)\/activities$/.exec(sub)) && method === 'GET') {
      const user = this.findUser(decodeURIComponent(m[1]));
      const after = Number(q.get('after') ?? 0);
      const convId = this.personalId(user);
      send(res, 200, { conversationId: convId, activities: this.conversations.get(convId)!.activities.filter((a) => a.seq > after), seq: this.seq });
      return;
    }
    if (sub === 'activities' && method === 'GET') {
      // Every conversation's bot activities changed since `after`, with the user of a 1:1 chat: one poll for a
      // whole cohort (npm run bench:cohort watches 1,000 learners' prompts arrive without 1,000 pollers).
      const after = Number(q.get('after') ?? 0);
      const out: Array<Omit<StoredActivity, 'history'> & { upn?: string }> = [];
      for (const c of this.conversations.values()) {
        const upn = c.userId ? this.users.get(c.userId)?.upn : undefined;
        for (const a of c.activities) {
          if (a.seq <= after || !a.fromBot) continue;
          const { history: _history, ...rest } = a;
          out.push({ ...rest, ...(upn ? { upn } : {}) });
        }
      }
      send(res, 200, { activities: out.sort((x, y) => x.seq - y.seq), seq: this.seq });
      return;
    }
    if (sub === 'team/activities' && method === 'GET') {
      const after = Number(q.get('after') ?? 0);
      send(res, 200, { conversationId: this.team.id, activities: this.conversations.get(this.team.id)!.activities.filter((a) => a.seq > after), seq: this.seq });
      return;
    }
    if (sub === 'say' && method === 'POST') {
      const body = (await readJson(req)) as { user?: string; text?: string; channel?: boolean };
      if (!body.user || !body.text?.trim()) throw new HttpProblem(400, 'BadArgument', 'Give user and text.');
      send(res, 200, await this.sayAs(body.user, body.text, { channel: body.channel }));
      return;
    }
    if (sub === 'invoke' && method === 'POST') {
      const body = (await readJson(req)) as { user?: string; cardActivityId?: string; verb?: string; data?: Record<string, unknown>; channel?: boolean };
      if (!body.user || !body.cardActivityId || !body.verb) throw new HttpProblem(400, 'BadArgument', 'Give user, cardActivityId and verb.');
      send(res, 200, await this.invokeAs(body.user, body.cardActivityId, { verb: body.verb, data: body.data }, body.channel));
      return;
    }
    if (sub === 'install' && method === 'POST') {
      const body = (await readJson(req)) as { user?: string; team?: boolean };
      if (!body.user) throw new HttpProblem(400, 'BadArgument', 'Give user.');
      send(res, 200, body.team ? await this.installInTeam(body.user) : await this.install(body.user));
      return;
    }
    if (sub === 'calls' && method === 'GET') {
      send(res, 200, { calls: this.calls, stats: { ...this.counters } });
      return;
    }
    if (sub === 'faults' && method === 'GET') {
      send(res, 200, this.faults);
      return;
    }
    if (sub === 'faults' && method === 'POST') {
      this.setFaults((await readJson(req)) as Faults);
      send(res, 200, this.faults);
      return;
    }
    throw new HttpProblem(404, 'NotFound', `No emulator API ${method} /_emulator/${sub}.`);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { url, appId } = this;
    const u = new URL(req.url ?? '/', 'http://x');
    const p = u.pathname;
    if (p === '/.well-known/openidconfiguration' || p === '/v1/.well-known/openidconfiguration') {
      send(res, 200, {
        issuer: this.tokenIssuer(),
        authorization_endpoint: `${url}/authorize`,
        jwks_uri: `${url}/.well-known/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      });
      return;
    }
    if (p === '/.well-known/keys' || p === '/v1/.well-known/keys') {
      send(res, 200, { keys: [publicJwk(this.key)] });
      return;
    }
    if (/^\/[^/]+\/oauth2\/v2\.0\/token$/.test(p) && req.method === 'POST') {
      const form = (await readJson(req)) as Record<string, string>;
      if (form.grant_type !== 'client_credentials' || form.client_id !== appId || form.client_secret !== this.appSecret) {
        send(res, 401, { error: 'invalid_client', error_description: `AADSTS7000215: Invalid client secret provided for ${form.client_id ?? '(no client_id)'}.` });
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const token = signJwt({ iss: `${url}/botframework.com/`, aud: BOT_AUDIENCE, appid: appId, azp: appId, tid: this.tenantId, nbf: now - 5, iat: now, exp: now + 3600 }, this.key);
      send(res, 200, { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: token });
      return;
    }
    if (p.startsWith('/teams/v3/')) return this.connector(req, res, p.slice('/teams/v3/'.length));
    if (p.startsWith('/_emulator/')) return this.api(req, res, p.slice('/_emulator/'.length), u.searchParams);
    if (p === '/' || p === '/chat' || p === '/chat/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(readFileSync(path.join(__dirname, 'webchat.html')));
      return;
    }
    if (p === '/chat/webchat.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(readFileSync(path.join(__dirname, 'webchat.js')));
      return;
    }
    if (p === '/chat/adaptivecards.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' }).end(readFileSync(this.acScript));
      return;
    }
    throw new HttpProblem(404, 'NotFound', `Nothing at ${p}. The web chat is at /chat.`);
  }

  /** What tests and the local stack hold: the {@link TeamsEmulator} interface over this emulator. */
  view(): TeamsEmulator {
    const { url } = this;
    return {
      url,
      serviceUrl: this.serviceUrl(),
      openIdMetadataUrl: `${url}/.well-known/openidconfiguration`,
      tokenIssuer: this.tokenIssuer(),
      tokenEndpoint: `${url}/botframework.com/oauth2/v2.0/token`,
      appId: this.appId,
      appSecret: this.appSecret,
      tenantId: this.tenantId,
      team: this.team,
      users: () => [...this.users.values()],
      addUser: (u) => this.addUser(u),
      user: (who) => this.findUser(who),
      setBotEndpoint: (e) => (this.botEndpoint = e),
      setFaults: (f) => this.setFaults(f),
      personalConversationId: (who) => this.personalId(this.findUser(who)),
      install: (who) => this.install(who),
      installInTeam: (who) => this.installInTeam(who),
      say: (who, text, o) => this.sayAs(who, text, o),
      invoke: (who, cardActivityId, action) => this.invokeAs(who, cardActivityId, action),
      postRaw: (activity, authorization) => this.postToBot(activity, authorization ?? ''),
      buildMessage: (who, text) => {
        const user = this.findUser(who);
        return this.userMessage(user, this.personalId(user), text, false);
      },
      mintToken: (claims, o) => this.mintToken(claims, o),
      transcript: (id) => [...(this.conversations.get(id)?.activities ?? [])],
      activity: (cid, aid) => this.conversations.get(cid)?.activities.find((a) => a.id === aid),
      calls: this.calls,
      inbound: this.inbound,
      stats: () => ({ ...this.counters }),
      stop: async () => {
        this.server.closeAllConnections();
        await new Promise<void>((r) => this.server.close(() => r()));
      },
    };
  }
}

export async function startTeamsEmulator(opts: TeamsEmulatorOptions = {}): Promise<TeamsEmulator> {
  const emulator = new Emulator(opts);
  await emulator.listen(opts.port);
  emulator.log.info({ url: emulator.url, appId: emulator.appId, tenantId: emulator.tenantId }, 'teams connector emulator listening');
  return emulator.view();
}
