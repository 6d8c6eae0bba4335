import type { TablePort } from '../storage/tables';
import type { Client as ApiClient } from '@microsoft/teams.api';
import type { Logger } from 'pino';
import type { OutboxWrite } from '../activities/notify';
import { OUTBOX_TABLE, isStatus, unpackJson } from '../storage/workshopTables';
import { appTable } from '../storage/appTables';
import type { Client } from '../http/workshopService';
import type { RunInput } from '../orchestrations/workshopTypes';
import { readDecisions } from '../activities/recordDecision';
import type { CheckEvidence, Decision, PeerReviewRecord } from '../machines/phaseMachine';
import { answerReviewCard, attachment, disputeCard, failureCard, helpRequestCard, noticeCard, phaseTitle, reviewCard, type Card, type DisputedCheck, type ReviewRequest, type StepCardState } from './cards';
import { findUser, findUserByUpn, saveUser, type TeamsUser } from './conversations';
import { learnerName, runInput } from './people';
import { backoffMs, retryAfterMs, SlidingWindowLimiter, TEAMS_CONVERSATION_LIMITS } from './rateLimiter';
import { addNote, freshStepState, showProgress, showStepCard, type StepRef } from './stepCards';
import { botLogger, botRuntime, errInfo, type BotRuntime } from './teamsApp';

/**
 * The proactive sender: drains the workshop outbox (WorkshopOutbox rows `pending` → `sent`) into
 * Teams. The outbox rows in Tables are the queue, so a restart loses nothing. A pass is started by the
 * pump (outboxPump.ts): for one recipient's rows as soon as the notify activity writes one in this process
 * (deliver on write), and for every pending row the `teamsOutboxSender` timer's full scan finds (the sweep).
 *
 * Exactly once: every (message, recipient) pair has a row in `BotDeliveries` that a sender must
 * *claim* (create, or an ETag-checked update) before it calls the connector, and that records the
 * activity id Teams returned. A second sender (another instance, or an old host still finishing
 * its tick) finds the claim and leaves the pair alone; a retry after a restart finds `sent` and
 * does not post again. The one window left is a crash between the connector's 2xx and the record
 * (milliseconds): the claim then expires and the message is sent again — at-least-once there,
 * because Teams has no idempotency key for new activities (updates in place are idempotent).
 *
 * Rate limits: per conversation Teams' published bot limits, per app BOT_APP_SENDS_PER_SECOND.
 * A 429 blocks that conversation for Retry-After (doubling on repeats), puts the pair back to
 * `pending` with a not-before time, and stops that conversation's queue for this tick so its
 * messages stay in order. Other conversations carry on.
 */
export const BOT_DELIVERIES_TABLE = 'BotDeliveries';
const CLAIM_MS = 60_000;

export interface DrainOptions {
  client: Client;
  /** The rows to serve, oldest first per conversation (the pump's woken ones); every pending row when absent (a full scan). */
  messages?: OutboxRow[];
  /** Stop claiming new sends after this long (the next pass carries on). */
  budgetMs?: number;
  /** Conversations served at once. */
  concurrency?: number;
  log?: Logger;
}

/**
 * What became of a row in a pass: `done` (sent, or failed for good: no longer pending), `waiting` (nobody to send it
 * to yet), `resume` (left for the budget: carry on), or `{ retryAt }` (throttled, failed for now,
 * claimed by another sender: not before then, epoch ms).
 */
export type RowOutcome = 'done' | 'waiting' | 'resume' | { retryAt: number };

export interface DrainResult {
  sent: number;
  throttled: number;
  failed: number;
  /** Messages that have nobody to go to yet (the recipient never talked to the bot). */
  waiting: number;
  /** Pairs left for a later tick (claimed elsewhere, backing off, out of budget). */
  deferred: number;
  /** Per row the pass looked at, what became of it. */
  outcome: Map<OutboxRow, RowOutcome>;
}

/** A pending WorkshopOutbox row, as the notify activity wrote it. */
export type OutboxRow = OutboxWrite;

interface Item {
  msg: OutboxRow;
  user: TeamsUser;
  input: RunInput;
  /** `main`: the message itself; `progress`: the learner's progress card refresh that goes with it. */
  part: 'main' | 'progress';
  deliveryKey: string;
}

/** Learner messages that also move the progress card: a separate send, claimed and recorded on its own. */
const WITH_PROGRESS = new Set(['prompt', 'timeboxWarning', 'timeboxExtended']);

type Claim = { kind: 'claimed'; etag: string; throttles: number } | { kind: 'sent' } | { kind: 'failed' } | { kind: 'busy'; until: number } | { kind: 'later'; until: number };

const conversationLimiters = new Map<string, SlidingWindowLimiter>();
let appLimiter: { perSecond: number; limiter: SlidingWindowLimiter } | undefined;

function limiterFor(conversationId: string): SlidingWindowLimiter {
  let l = conversationLimiters.get(conversationId);
  if (!l) conversationLimiters.set(conversationId, (l = new SlidingWindowLimiter(TEAMS_CONVERSATION_LIMITS)));
  return l;
}
function appLimit(perSecond: number): SlidingWindowLimiter {
  if (appLimiter?.perSecond !== perSecond) appLimiter = { perSecond, limiter: new SlidingWindowLimiter([{ ms: 1_000, max: perSecond }]) };
  return appLimiter.limiter;
}

function table(name: string): Promise<TablePort> {
  return appTable(name);
}

const safeKey = (s: string): string => s.replace(/[/\\#?\u0000-\u001f\u007f]/g, '_');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every pending row, oldest first: the timer's full scan (the safety net of deliver on write). */
export async function pendingMessages(): Promise<OutboxRow[]> {
  const outbox = await table(OUTBOX_TABLE);
  const out: OutboxRow[] = [];
  for await (const row of outbox.listEntities<Record<string, unknown>>({ queryOptions: { filter: `Status eq 'pending'` } })) {
    out.push({
      runId: row.partitionKey as string,
      rowKey: row.rowKey as string,
      role: row.Role === 'learner' ? 'learner' : 'instructor',
      learnerId: (row.LearnerId as string) ?? '',
      kind: row.Kind as string,
      createdAt: row.CreatedAt as string,
      body: unpackJson<Record<string, unknown>>('Body', row) ?? {},
    });
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.rowKey.localeCompare(b.rowKey));
}

async function markOutbox(msg: OutboxRow, status: 'sent' | 'failed', detail?: string): Promise<void> {
  const outbox = await table(OUTBOX_TABLE);
  await outbox.updateEntity({ partitionKey: msg.runId, rowKey: msg.rowKey, Status: status, DeliveredAt: new Date().toISOString(), ...(detail ? { DeliveryDetail: detail.slice(0, 1000) } : {}) }, 'Merge');
}

async function claim(deliveryKey: string, runId: string): Promise<Claim> {
  const t = await table(BOT_DELIVERIES_TABLE);
  const now = Date.now();
  const pk = safeKey(runId);
  const rk = safeKey(deliveryKey);
  try {
    const res = await t.createEntity({ partitionKey: pk, rowKey: rk, State: 'sending', ClaimUntil: now + CLAIM_MS, Throttles: 0 });
    return { kind: 'claimed', etag: res.etag!, throttles: 0 };
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
  }
  const row = await t.getEntity<Record<string, unknown>>(pk, rk);
  const state = row.State as string;
  if (state === 'sent') return { kind: 'sent' };
  if (state === 'failed') return { kind: 'failed' };
  if (state === 'sending' && Number(row.ClaimUntil) > now) return { kind: 'busy', until: Number(row.ClaimUntil) };
  if (state === 'pending' && Number(row.NotBefore ?? 0) > now) return { kind: 'later', until: Number(row.NotBefore) };
  try {
    const res = await t.updateEntity({ partitionKey: pk, rowKey: rk, State: 'sending', ClaimUntil: now + CLAIM_MS }, 'Merge', { etag: row.etag as string });
    return { kind: 'claimed', etag: res.etag!, throttles: Number(row.Throttles ?? 0) };
  } catch (err) {
    if (isStatus(err, 412)) return { kind: 'busy', until: now + CLAIM_MS };
    throw err;
  }
}

async function settle(item: Item, etag: string, fields: Record<string, unknown>): Promise<void> {
  const t = await table(BOT_DELIVERIES_TABLE);
  await t.updateEntity({ partitionKey: safeKey(item.msg.runId), rowKey: safeKey(item.deliveryKey), ...fields }, 'Merge', { etag });
}

/** The Teams users a message is for; empty while nobody can be reached. */
async function recipients(msg: OutboxRow, input: RunInput): Promise<TeamsUser[]> {
  if (msg.role === 'learner') {
    const learner = input.roster.find((l) => l.learnerId === msg.learnerId);
    const user = learner?.email ? await findUserByUpn(learner.email) : undefined;
    return user ? [user] : [];
  }
  const found = await Promise.all(input.instructors.map((i) => findUser(i)));
  const unique = new Map<string, TeamsUser>();
  for (const u of found) if (u) unique.set(u.aadObjectId, u);
  return [...unique.values()];
}

function httpStatus(err: unknown): number | undefined {
  const e = err as { response?: { status?: number }; status?: number; statusCode?: number };
  return e.response?.status ?? e.statusCode ?? e.status;
}
function retryAfterOf(err: unknown): number | undefined {
  const h = (err as { response?: { headers?: Record<string, string> | { get?(k: string): string } } }).response?.headers;
  const v = h && typeof (h as { get?: unknown }).get === 'function' ? (h as { get(k: string): string }).get('retry-after') : (h as Record<string, string> | undefined)?.['retry-after'];
  return retryAfterMs(v);
}

/** Make sure the user has a 1:1 conversation with the bot (create it the first time; Teams returns the existing one). */
async function ensureConversation(rt: BotRuntime, api: ApiClient, user: TeamsUser): Promise<TeamsUser> {
  if (user.conversationId) return user;
  const res = await api.conversations.create({
    isGroup: false,
    bot: { id: `28:${rt.settings.appId}` },
    members: [{ id: user.userId, name: user.name, role: 'user' }],
    tenantId: user.tenantId,
    channelData: { tenant: { id: user.tenantId } },
  } as Parameters<ApiClient['conversations']['create']>[0]);
  const next = { ...user, conversationId: res.id, serviceUrl: user.serviceUrl ?? api.serviceUrl };
  await saveUser(next);
  return next;
}

const message = (card: Card) => ({ type: 'message' as const, attachments: [attachment(card)] });

/** One message being rendered for one user: where it goes, its body's fields, and how to post a new card. */
interface Rendering {
  api: ApiClient;
  where: { conversationId: string; serviceUrl: string };
  msg: OutboxRow;
  input: RunInput;
  b: Record<string, unknown>;
  /** A text field of the body ('' when absent). */
  str(k: string): string;
  phase: string;
  ref(stepId: string): StepRef;
  /** Post a new card; its activity id. */
  send(card: Card): Promise<string>;
}

/** Render and send one message to one user; returns the activity id Teams gave it. */
async function perform(rt: BotRuntime, api: ApiClient, item: Item): Promise<string> {
  const { msg, input, user } = item;
  const where = { conversationId: user.conversationId!, serviceUrl: user.serviceUrl ?? rt.settings.serviceUrl };
  const b = msg.body;
  const str = (k: string): string => (typeof b[k] === 'string' ? (b[k] as string) : '');
  const phase = str('phase') || 'requirements';
  const r: Rendering = {
    api,
    where,
    msg,
    input,
    b,
    str,
    phase,
    ref: (stepId) => ({ runId: msg.runId, learnerId: msg.learnerId, phase, stepId }),
    send: async (card) => (await api.conversations.activities(where.conversationId).create(message(card))).id,
  };
  if (item.part === 'progress') return progressRefresh(r);
  return msg.role === 'learner' ? learnerMessage(r) : instructorMessage(r);
}

/** The learner's progress card, moved by a prompt or a timebox change. */
async function progressRefresh({ api, where, msg, input, b, str, ref }: Rendering): Promise<string> {
  const warning = msg.kind === 'timeboxWarning';
  return showProgress(api, where, input.plan, ref(str('stepId')), {
    at: msg.createdAt,
    status: msg.kind === 'prompt' ? 'working' : warning ? 'time is running out' : `extended by ${b.minutes} min`,
    ...(warning ? { msLeft: Number(b.msLeft ?? 0) } : msg.kind === 'timeboxExtended' ? { extendMinutes: Number(b.minutes ?? 0) } : {}),
  });
}

/** A message for a learner: step prompts and what happens to a step update the step card in place; the rest are notices. */
async function learnerMessage(r: Rendering): Promise<string> {
  const { msg, b, str, phase, send } = r;
  switch (msg.kind) {
    case 'prompt':
      return promptOnCard(r);
    case 'hint':
    case 'changesRequested':
      return noteOnCard(r);
    case 'withInstructor':
    case 'decided': {
      const change = msg.kind === 'withInstructor' ? (s: StepCardState): StepCardState => ({ ...s, status: 'withInstructor', disputable: false }) : decidedOnCard(b.decision as Decision, msg.rowKey);
      return changeStepCard(r, change);
    }
    case 'timeboxWarning':
    case 'timeboxExtended': {
      return send(noticeCard(msg.kind === 'timeboxWarning' ? '⏰ Time is running out' : '⏰ More time', msg.kind === 'timeboxWarning' ? `About ${Math.max(1, Math.round(Number(b.msLeft ?? 0) / 60_000))} min left for this step.` : `Your instructor gave you ${b.minutes} more minutes.`, 'warning'));
    }
    case 'helpAnswered':
      return send(noticeCard('💬 Your instructor answered', str('answer'), 'good'));
    case 'broadcast':
      return send(noticeCard(`📣 From ${str('by') || 'your instructor'}`, str('message')));
    case 'failed': {
      const f = (b.failure ?? {}) as { stepId?: string; message?: string };
      return send(noticeCard(`⛔ ${phaseTitle(phase)} stopped`, `${f.message ?? 'The phase failed.'} Your instructor has been told and can resume you.`, 'attention'));
    }
    case 'skipped':
      return send(noticeCard(`⏭ ${phaseTitle(phase)} skipped`, str('message') || 'Your instructor skipped this phase for you.'));
    default:
      return send(noticeCard(msg.kind, summary(b)));
  }
}

/** A step prompt opens the step's card (a repeated attempt reopens it). */
async function promptOnCard({ api, where, input, b, str, ref }: Rendering): Promise<string> {
  const stepId = str('stepId');
  const attempt = Number(b.attempt ?? 1);
  const kind = str('kind') || undefined;
  const shown = await showStepCard(api, where, ref(stepId), async (cur) => {
    const base = cur ?? (await freshStepState(input.plan, ref(stepId), kind, attempt));
    return { ...base, kind: kind ?? base.kind, attempt: Math.max(attempt, base.attempt), status: 'open' };
  });
  return shown.activityId;
}

/** A hint (with the failed checks' evidence) or the instructor's requested changes, as a note on the step card. */
async function noteOnCard({ api, where, input, msg, b, str, ref }: Rendering): Promise<string> {
  const stepId = str('stepId');
  const evidence = ((b.evidence ?? []) as CheckEvidence[]).map((e) => ` (${e.resource} · ${e.property}: observed ${e.observed}, expected ${e.expected})`).join('');
  const note = msg.kind === 'hint' ? { kind: 'hint' as const, text: `${str('hint')}${evidence}`, id: msg.rowKey } : { kind: 'changes' as const, text: str('comment') || 'See the instructor’s comment.', id: msg.rowKey };
  // A failed check may be disputed ("I did it") until that run's dispute is decided.
  const shown = await showStepCard(api, where, ref(stepId), async (cur) => ({ ...addNote(cur ?? (await freshStepState(input.plan, ref(stepId), undefined, 1)), note), ...(msg.kind === 'hint' ? { disputable: true } : {}) }));
  return shown.activityId;
}

/** The step card, changed by what happened to the step (with the instructor, or decided). */
async function changeStepCard({ api, where, input, str, ref }: Rendering, change: (s: StepCardState) => StepCardState): Promise<string> {
  const stepId = str('stepId');
  const shown = await showStepCard(api, where, ref(stepId), async (cur) => change(cur ?? (await freshStepState(input.plan, ref(stepId), undefined, 1))));
  return shown.activityId;
}

/** A message for the instructors: requests to act on as cards, the rest as notices. */
async function instructorMessage({ msg, input, b, str, phase, send }: Rendering): Promise<string> {
  const learnerId = str('learnerId');
  const who = learnerId ? learnerName(input, learnerId) : '';
  switch (msg.kind) {
    case 'help':
      return send(helpRequestCard({ runId: msg.runId, learnerId, learnerName: who, phase, stepId: str('stepId') || null, message: str('message') }));
    case 'review':
    case 'peerReview':
      return send(reviewCard(reviewRequestOf(input, msg.runId, msg.kind, b)));
    case 'failed': {
      const f = (b.failure ?? b.reason ?? {}) as { stepId?: string; message?: string; checks?: DisputedCheck[] };
      const checks = Array.isArray(f.checks) ? f.checks : undefined;
      return send(failureCard({ runId: msg.runId, learnerId, learnerName: who, phase: str('phase') || phase, stepId: f.stepId ?? str('stepId'), message: f.message ?? summary(b), ...(checks?.length ? { checks } : {}) }));
    }
    case 'dispute':
      return send(disputeCard({ runId: msg.runId, learnerId, learnerName: who, phase, stepId: str('stepId'), attempt: Number(b.attempt ?? 1), note: str('note'), checks: (b.checks ?? []) as DisputedCheck[] }));
    case 'answerReview':
      return send(answerReviewCard({ runId: msg.runId, learnerId, learnerName: who, phase, stepId: str('stepId'), round: Number(b.round ?? 1), answer: str('answer'), note: str('note') || null, missing: (b.missing ?? []) as string[] }));
    case 'stuck':
      return send(noticeCard(`🐢 ${who} may be stuck`, `Run ${msg.runId}, ${phaseTitle(phase)}, step ${str('stepId')}: about ${Math.max(0, Math.round(Number(b.msLeft ?? 0) / 60_000))} min of the timebox left.`, 'warning'));
    case 'overdue':
      return send(noticeCard(`⏰ ${who} is waiting for you`, `Run ${msg.runId}, ${phaseTitle(phase)}, step ${str('stepId')}: the step's time is up while their ${str('about') === 'dispute' ? 'disputed check' : 'answer'} waits for your decision. The step is held (${Math.max(1, Math.round(Number(b.heldMs ?? 0) / 60_000))} min at a time) until you decide; say **reviews** to see it.`, 'warning'));
    case 'runReport': {
      // The cohort's report counts learners; the decisions people took on checks and answers are kept beside it.
      const decisions = await readDecisions(msg.runId);
      const lines = decisions.map(({ learnerId: l, decision: d }) => `${learnerName(input, l)}: ${d.kind === 'dispute' ? `check ${d.checkIds.join(', ')} at ${d.stepId}` : `answer to ${d.stepId}`} ${d.outcome} by ${d.by} (“${d.reason}”)`);
      return send(noticeCard(`🏁 Run ${msg.runId} finished`, [summary(b), ...(lines.length ? ['Decisions on disputes and answers:', ...lines] : [])].join('\n\n'), 'good'));
    }
    default:
      return send(noticeCard(`Run ${msg.runId}: ${msg.kind}`, summary(b)));
  }
}

/** A design review for the instructor, from a `review` message or a `peerReview` one (the peer's notes beside the submission). */
export function reviewRequestOf(input: RunInput, runId: string, kind: string, b: Record<string, unknown>): ReviewRequest {
  const learnerId = String(b.learnerId ?? '');
  const byStep = (b.deliverables ?? {}) as Record<string, Array<{ name: string; uri: string }>>;
  const deliverables = Object.entries(byStep).flatMap(([stepId, list]) => list.map((d) => ({ stepId, name: d.name, uri: d.uri })));
  const peer = kind === 'peerReview' ? (b.review as PeerReviewRecord | undefined) : undefined;
  return {
    runId,
    learnerId,
    learnerName: learnerName(input, learnerId),
    phase: String(b.phase ?? ''),
    stepId: String(b.stepId ?? ''),
    round: Number(b.round ?? 1),
    deliverables,
    ...(peer ? { peerNotes: [{ reviewer: learnerName(input, peer.reviewerId), notes: peer.notes, scores: { ...peer.scores } }] } : {}),
  };
}

/** How the instructor's decision changes the learner's step card. */
function decidedOnCard(d: Decision, id: string): (s: StepCardState) => StepCardState {
  const text = `${d.by} ${d.kind === 'dispute' ? { overridden: 'marked the check passed', rechecked: 'is running the checks again', returned: 'returned your dispute' }[d.outcome] : { accepted: 'accepted your answer', returned: 'returned your answer' }[d.outcome]}${d.outcome === 'rechecked' ? '' : `: “${d.reason}”`}`;
  const status: StepCardState['status'] | undefined = d.outcome === 'overridden' ? 'closed' : d.outcome === 'accepted' ? 'answered' : d.outcome === 'rechecked' ? 'checking' : undefined;
  return (s) => ({ ...addNote(s, { kind: 'decision', text, id }), disputable: false, ...(status ? { status } : {}) });
}

function summary(b: Record<string, unknown>): string {
  return Object.entries(b)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(' · ')
    .slice(0, 1500);
}

/** One pass of the drain: the runtime, its limits and budget, and what it has done so far. */
interface Drain {
  rt: BotRuntime;
  log: Logger;
  deadline: number;
  app: SlidingWindowLimiter;
  apiFor(serviceUrl: string | undefined): ApiClient;
  result: DrainResult;
  /** Per outbox message, the `user|part` deliveries that are over (sent, or failed for good). */
  done: Map<OutboxRow, Set<string>>;
  /** Why a message's deliveries were left, when not for the budget (then `resume`). */
  left: Map<OutboxRow, { retryAt: number }>;
}

/** A claim held by another sender is looked at again this soon (it is usually released within milliseconds). */
const BUSY_RECHECK_MS = 500;

/** One pass over the outbox: send what can be sent now within the limits and the time budget. */
export async function drainOutbox(opts: DrainOptions): Promise<DrainResult> {
  const result: DrainResult = { sent: 0, throttled: 0, failed: 0, waiting: 0, deferred: 0, outcome: new Map() };
  const started = botRuntime();
  if (!started) return result;
  const rt = await started;
  const apis = new Map<string, ApiClient>();
  const drain: Drain = {
    rt,
    log: opts.log ?? botLogger(),
    deadline: Date.now() + (opts.budgetMs ?? 10_000),
    app: appLimit(rt.settings.appSendsPerSecond),
    apiFor: (serviceUrl) => {
      const url = serviceUrl ?? rt.settings.serviceUrl;
      let a = apis.get(url);
      if (!a) apis.set(url, (a = rt.app.api.clone({ serviceUrl: url })));
      return a;
    },
    result,
    done: new Map(),
    left: new Map(),
  };

  const messages = opts.messages ?? (await pendingMessages());
  if (!messages.length) return result;
  const { queues, targets } = await queueByConversation(drain, opts, messages);
  const entries = [...queues.entries()];
  let next = 0;
  const workers = Array.from({ length: Math.min(opts.concurrency ?? 8, entries.length) }, async () => {
    while (next < entries.length) {
      const [conversationId, items] = entries[next++];
      await serveConversation(drain, conversationId, items);
    }
  });
  await Promise.all(workers);

  for (const [msg, want] of targets) {
    const got = drain.done.get(msg);
    if (got && [...want].every((u) => got.has(u))) {
      await markOutbox(msg, 'sent');
      result.outcome.set(msg, 'done');
    } else result.outcome.set(msg, drain.left.get(msg) ?? 'resume');
  }
  // A pass per woken recipient is one line per message at most: debug; a full scan's pass is the summary of a tick.
  const { outcome: _perRow, ...counts } = result;
  if (result.sent || result.throttled || result.failed) drain.log[opts.messages ? 'debug' : 'info']({ ...counts }, 'teams outbox drained');
  return result;
}

/**
 * Who each message goes to, by conversation in creation order (`queues`), and the deliveries that make each
 * message sent (`targets`). A message whose run is gone fails; one with no reachable recipient yet waits.
 */
async function queueByConversation(drain: Drain, opts: DrainOptions, messages: OutboxRow[]): Promise<{ queues: Map<string, Item[]>; targets: Map<OutboxRow, Set<string>> }> {
  const { result } = drain;
  const queues = new Map<string, Item[]>();
  const targets = new Map<OutboxRow, Set<string>>();
  for (const msg of messages) {
    let input: RunInput;
    try {
      input = await runInput(opts.client, msg.runId);
    } catch (err) {
      if (/There is no run/.test((err as Error).message)) {
        await markOutbox(msg, 'failed', `run ${msg.runId} no longer exists`);
        result.failed++;
        result.outcome.set(msg, 'done');
        continue;
      }
      throw err;
    }
    const wanted = await recipients(msg, input);
    if (!wanted.length) {
      result.waiting++;
      result.outcome.set(msg, 'waiting');
      continue;
    }
    const users = await reachable(drain, msg, wanted);
    if (!users.length) {
      result.deferred++;
      result.outcome.set(msg, { retryAt: Date.now() + backoffMs(1, undefined) });
      continue;
    }
    const parts: Item['part'][] = msg.role === 'learner' && WITH_PROGRESS.has(msg.kind) ? ['main', 'progress'] : ['main'];
    targets.set(msg, new Set(users.flatMap((u) => parts.map((p) => `${u.aadObjectId}|${p}`))));
    for (const user of users) {
      const q = queues.get(user.conversationId!) ?? [];
      for (const part of parts) q.push({ msg, user, input, part, deliveryKey: `${msg.rowKey}|${user.aadObjectId}${part === 'main' ? '' : `|${part}`}` });
      queues.set(user.conversationId!, q);
    }
  }
  return { queues, targets };
}

/** The users with a conversation the bot can post to (opened now if need be); the others are tried next pass. */
async function reachable(drain: Drain, msg: OutboxRow, users: TeamsUser[]): Promise<TeamsUser[]> {
  const resolved: TeamsUser[] = [];
  for (const u of users) {
    try {
      resolved.push(await ensureConversation(drain.rt, drain.apiFor(u.serviceUrl), u));
    } catch (err) {
      drain.log.warn({ err: errInfo(err), runId: msg.runId, user: u.aadObjectId }, 'could not open a conversation with the user; will retry');
    }
  }
  return resolved;
}

/** The conversation's items from `from` on wait: not before `retryAt`, or (absent) as soon as the pump carries on. */
function leave(drain: Drain, items: Item[], from: number, retryAt?: number): void {
  if (retryAt === undefined) return; // `resume` is what a message without a reason gets
  for (const item of items.slice(from)) {
    const was = drain.left.get(item.msg)?.retryAt ?? 0;
    drain.left.set(item.msg, { retryAt: Math.max(was, retryAt) });
  }
}

function finished(drain: Drain, item: Item): void {
  const s = drain.done.get(item.msg) ?? new Set<string>();
  s.add(`${item.user.aadObjectId}|${item.part}`);
  drain.done.set(item.msg, s);
}

/** One conversation's messages, in order: a message that cannot go now holds back the ones after it. */
async function serveConversation(drain: Drain, conversationId: string, items: Item[]): Promise<void> {
  const conv = limiterFor(conversationId);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const c = await claim(item.deliveryKey, item.msg.runId);
    if (c.kind === 'sent' || c.kind === 'failed') {
      finished(drain, item);
      continue;
    }
    if (c.kind !== 'claimed') {
      drain.result.deferred++;
      leave(drain, items, i, c.kind === 'busy' ? Math.min(c.until, Date.now() + BUSY_RECHECK_MS) : c.until);
      return; // keep this conversation's order: later messages wait for this one
    }
    if (!(await waitForLimits(drain, conv, item, c.etag))) return;
    const next = await send(drain, conv, conversationId, item, c);
    if (typeof next === 'object') {
      leave(drain, items, i, next.retryAt);
      return;
    }
    if (next === 'again') i--;
  }
}

/**
 * Passes waiting for an app-wide send slot, in line: the slot that frees goes to the pass that has waited longest,
 * not to whichever sleeper's timer fires first (with many passes waiting at the app's limit, that race spread the
 * waits: the bench's p99 grew while its p50 stayed).
 */
let appLine: Promise<unknown> = Promise.resolve();

/** Waits until both the conversation's and the app's limits allow a send; false (and the claim given back) past the budget. */
async function waitForLimits(drain: Drain, conv: SlidingWindowLimiter, item: Item, etag: string): Promise<boolean> {
  // The conversation's own limit (and a 429's block) first, out of the line: it holds back only this conversation.
  if (!(await waitWithin(drain, item, etag, () => conv.waitMs(Date.now())))) return false;
  const turn = appLine.then(async () => {
    if (!(await waitWithin(drain, item, etag, () => Math.max(conv.waitMs(Date.now()), drain.app.waitMs(Date.now()))))) return false;
    conv.take(Date.now());
    drain.app.take(Date.now());
    return true;
  });
  appLine = turn.catch(() => undefined);
  return turn;
}

/** Sleeps until `waitMs()` says 0; false (and the claim given back) when that would pass the budget. */
async function waitWithin(drain: Drain, item: Item, etag: string, waitMs: () => number): Promise<boolean> {
  let wait = waitMs();
  while (wait > 0) {
    if (Date.now() + wait > drain.deadline) {
      await settle(item, etag, { State: 'pending', NotBefore: 0, ClaimUntil: 0 });
      drain.result.deferred++;
      return false;
    }
    await sleep(wait);
    wait = waitMs();
  }
  return true;
}

/**
 * Sends one claimed item and records the outcome: `next` (sent, or refused for good), `again` (throttled and
 * waited out within the budget: send it again), `{ retryAt }` (leave the rest of the conversation until then).
 */
async function send(drain: Drain, conv: SlidingWindowLimiter, conversationId: string, item: Item, c: Extract<Claim, { kind: 'claimed' }>): Promise<'next' | 'again' | { retryAt: number }> {
  const { result, log } = drain;
  const fields = { runId: item.msg.runId, learnerId: item.msg.learnerId || undefined, kind: item.msg.kind, part: item.part, key: item.msg.rowKey, conversationId };
  try {
    const activityId = await perform(drain.rt, drain.apiFor(item.user.serviceUrl), item);
    await settle(item, c.etag, { State: 'sent', ActivityId: activityId, ConversationId: conversationId, SentAt: new Date().toISOString() });
    finished(drain, item);
    result.sent++;
    log.debug({ ...fields, activityId }, 'teams message delivered');
    return 'next';
  } catch (err) {
    const status = httpStatus(err);
    if (status === 429) {
      const throttles = c.throttles + 1;
      const delay = backoffMs(throttles, retryAfterOf(err));
      conv.block(Date.now() + delay);
      await settle(item, c.etag, { State: 'pending', NotBefore: Date.now() + delay, ClaimUntil: 0, Throttles: throttles });
      result.throttled++;
      log.info({ ...fields, throttles, delayMs: delay }, 'teams throttled the bot (429); backing off');
      // Wait it out in this tick when the budget allows (the conversation keeps its order), else leave it to the next.
      if (Date.now() + delay >= drain.deadline) return { retryAt: Date.now() + delay };
      await sleep(delay);
      return 'again';
    }
    if (status !== undefined && status >= 400 && status < 500 && status !== 408) {
      await settle(item, c.etag, { State: 'failed', LastError: `HTTP ${status}: ${(err as Error).message}`.slice(0, 1000) });
      finished(drain, item);
      result.failed++;
      log.error({ ...fields, status, err: errInfo(err) }, 'teams refused the message; not retrying');
      return 'next';
    }
    const throttles = c.throttles + 1;
    const retryAt = Date.now() + backoffMs(throttles, undefined);
    await settle(item, c.etag, { State: 'pending', NotBefore: retryAt, ClaimUntil: 0, Throttles: throttles, LastError: String((err as Error).message).slice(0, 1000) });
    result.deferred++;
    log.warn({ ...fields, err: errInfo(err) }, 'teams send failed; will retry');
    return { retryAt };
  }
}
