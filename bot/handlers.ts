import type { HotStartView } from '../contracts/messages';
import { hotStartLines, poolSentence, type HotStartSummary } from '../http/hotStart';
import type { Client as ApiClient } from '@microsoft/teams.api';
import type { App, IActivityContext } from '@microsoft/teams.apps';
import * as df from 'durable-functions';
import type { Client } from '../http/workshopService';
import type { Learner } from '../contracts/messages';
import {
  answerReviewCard,
  attachment,
  disputeCard,
  failureCard,
  helpRequestCard,
  listCard,
  peerReviewCard,
  reviewCard,
  runStatusCard,
  startRunCard,
  type AnswerReviewRequest,
  type Card,
  type DisputedCheck,
  type DisputeRequest,
  type FailureNotice,
  type PeerReviewOffer,
  type ReviewRequest,
  type StepCardState,
} from './cards';
import { getTeam, getUser, latestTeam, saveTeam, saveUser, type TeamsUser } from './conversations';
import { INSTRUCTOR_USAGE, LEARNER_USAGE, isInstructorCommand, parseCommand, type Command } from './commands';
import { activeRuns, isInstructor, learnerIn, learnerName, namesUser, type RunInfo } from './people';
import type { BotSettings } from './settings';
import { addNote, freshStepState, readStepCard, showStepCard, type StepRef } from './stepCards';
import { backoffMs, retryAfterMs } from './rateLimiter';
import { reviewRequestOf } from './sender';
import { botLogger, errInfo, onAppCreated, turnScope } from './teamsApp';
import { callWorkshopApi, type ApiAnswer } from './workshopCalls';

/**
 * What the bot does with each inbound activity (after the SDK has validated its token):
 * remember the user and their conversation (for proactive messages), then route text commands and
 * card buttons. Roles come from the run: a run's instructors are the Teams users its instructor
 * list names; anything else a learner sends as an instructor action is refused, logged and changes
 * nothing. Learner and instructor actions go through the workshop API's handlers (workshopCalls.ts).
 */

type Activity = Record<string, unknown> & {
  type: string;
  name?: string;
  text?: string;
  value?: unknown;
  replyToId?: string;
  serviceUrl: string;
  from: { id: string; name?: string; aadObjectId?: string };
  recipient: { id: string };
  conversation: { id: string; conversationType?: string; tenantId?: string };
  channelData?: { tenant?: { id?: string }; team?: { id: string; name?: string }; eventType?: string };
  membersAdded?: Array<{ id: string }>;
  action?: string;
  attachments?: Array<{ contentType: string; content?: unknown }>;
};
// The SDK's activity union is wide; the fields read here are declared above and checked where used.
type Ctx = Omit<IActivityContext, 'activity'> & { activity: Activity; api: ApiClient };

interface Who {
  user: TeamsUser;
  runs: RunInfo[];
  instructing: RunInfo[];
  learning: Array<{ run: RunInfo; learner: Learner }>;
  mayStart: boolean;
}

interface Turn {
  ctx: Ctx;
  client: Client;
  invocation: NonNullable<ReturnType<typeof turnScope.getStore>>['invocation'];
  settings: BotSettings;
  who: Who;
}

type InvokeAnswer = { statusCode: number; type: string; value: unknown };
const messageResponse = (text: string): InvokeAnswer => ({ statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: text });
const cardResponse = (card: Card): InvokeAnswer => ({ statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value: attachment(card).content });

const log = () => botLogger();

onAppCreated((app: App, settings: BotSettings) => {
  // One route for every activity; the return value is the invoke response for card actions.
  // (The SDK types route handlers per activity type; ours takes them all, so it is typed loosely here.)
  const on = app.on.bind(app) as (name: 'activity', cb: (ctx: unknown) => Promise<unknown>) => App;
  on('activity', async (ctx) => {
    const scope = turnScope.getStore();
    if (!scope) throw new Error('A bot turn ran outside the /api/messages function (no invocation in scope).');
    return handle(ctx as Ctx, scope.invocation, settings);
  });
});

async function handle(ctx: Ctx, invocation: Turn['invocation'], settings: BotSettings): Promise<InvokeAnswer | undefined> {
  const a = ctx.activity;
  const client = df.getClient(invocation);
  const user = await rememberUser(ctx);
  const runs = await activeRuns(client);
  const who: Who = {
    user,
    runs,
    instructing: runs.filter((r) => isInstructor(r.input, user)),
    learning: runs.flatMap((run) => {
      const learner = learnerIn(run.input, user);
      return learner ? [{ run, learner }] : [];
    }),
    mayStart: namesUser(settings.instructors, user),
  };
  const turn: Turn = { ctx, client, invocation, settings, who };

  if (a.type === 'installationUpdate' || a.type === 'conversationUpdate') {
    await onInstall(turn);
    return undefined;
  }
  if (a.type === 'invoke' && a.name === 'adaptiveCard/action') {
    const value = (a.value ?? {}) as { action?: { verb?: string; data?: Record<string, unknown> } };
    return onAction(turn, value.action?.verb ?? '', value.action?.data ?? {});
  }
  if (a.type === 'message') {
    // Action.Submit (older clients) arrives as a message whose value carries the data.
    if (a.value && typeof a.value === 'object' && 'verb' in (a.value as object)) {
      const { verb, ...data } = a.value as Record<string, unknown>;
      const r = await onAction(turn, String(verb), data);
      if (r && typeof r.value === 'string') await ctx.send(r.value);
      return undefined;
    }
    await onText(turn, parseCommand(a.text ?? ''));
  }
  return undefined;
}

async function rememberUser(ctx: Ctx): Promise<TeamsUser> {
  const a = ctx.activity;
  const aad = a.from.aadObjectId ?? a.from.id;
  const known = await getUser(aad);
  let upn = known?.upn;
  if (!upn) {
    try {
      const m = await ctx.api.conversations.members(a.conversation.id).getById(a.from.id);
      upn = (m.userPrincipalName ?? m.email ?? '').toLowerCase() || undefined;
    } catch (err) {
      log().warn({ err: errInfo(err), user: aad }, 'could not read the user’s UPN from the conversation members');
    }
  }
  const personal = a.conversation.conversationType === 'personal';
  const tenantId = a.conversation.tenantId ?? a.channelData?.tenant?.id ?? known?.tenantId ?? '';
  const next: TeamsUser = {
    ...(known ?? { aadObjectId: aad, userId: a.from.id, name: a.from.name ?? '', upn: upn ?? '', tenantId }),
    userId: a.from.id,
    name: a.from.name ?? known?.name ?? '',
    upn: upn ?? '',
    tenantId,
    ...(personal ? { conversationId: a.conversation.id, serviceUrl: a.serviceUrl } : {}),
  };
  await saveUser(next);
  return next;
}

/**
 * A reply within the turn. Teams throttles replies like any send: a 429 is retried after its
 * Retry-After (briefly — the user is waiting; the turn fails after a few tries).
 */
async function withRetry<T>(what: string, op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const e = err as { response?: { status?: number; headers?: Record<string, string> } };
      if (e.response?.status !== 429 || attempt >= 5) throw err;
      const wait = Math.min(3_000, backoffMs(attempt, retryAfterMs(e.response.headers?.['retry-after'])));
      log().info({ what, attempt, waitMs: wait }, 'reply throttled (429); retrying');
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

async function say(turn: Turn, text: string, card?: Card): Promise<void> {
  await withRetry('reply', () => turn.ctx.send(card ? { type: 'message', text, attachments: [attachment(card)] } : { type: 'message', text, textFormat: 'markdown' }));
}

function usage(turn: Turn): string {
  const lines = turn.who.instructing.length || turn.who.mayStart ? INSTRUCTOR_USAGE : LEARNER_USAGE;
  return ['Here is what I understand:', ...lines.map((l) => `- ${l}`)].join('\n');
}

async function onInstall(turn: Turn): Promise<void> {
  const a = turn.ctx.activity;
  const botAdded = a.type === 'installationUpdate' ? a.action === 'add' : (a.membersAdded ?? []).some((m) => m.id === a.recipient.id);
  if (!botAdded) return;
  const team = a.channelData?.team;
  if (team) {
    await saveTeam({ teamId: team.id, name: team.name ?? 'team', conversationId: a.conversation.id, serviceUrl: a.serviceUrl, tenantId: a.conversation.tenantId ?? a.channelData?.tenant?.id ?? '', installedAt: new Date().toISOString() });
    await rememberTeamMembers(turn, { conversationId: a.conversation.id, serviceUrl: a.serviceUrl, tenantId: a.channelData?.tenant?.id ?? '' });
    await say(turn, `Hi ${team.name ?? 'team'}! I run hands-on architecture workshops. Instructors: message me **start** to begin a run with this team's members.`);
    return;
  }
  if (a.type === 'installationUpdate') return; // the conversationUpdate that follows says hello
  await say(turn, `Hi ${turn.who.user.name || 'there'}! ${turn.who.learning.length ? 'Your workshop steps will arrive here as cards.' : ''}\n\n${usage(turn)}`);
}

/** Team members become known users (no conversation yet): the sender can open a 1:1 chat with them. */
async function rememberTeamMembers(turn: Turn, team: { conversationId: string; serviceUrl: string; tenantId: string }): Promise<Array<{ name: string; upn: string; aadObjectId: string }>> {
  const members = await turn.ctx.api.conversations.members(team.conversationId).get();
  const out: Array<{ name: string; upn: string; aadObjectId: string }> = [];
  for (const m of members) {
    const upn = (m.userPrincipalName ?? m.email ?? '').toLowerCase();
    const aad = m.aadObjectId ?? m.id;
    if (!upn) continue;
    const known = await getUser(aad);
    await saveUser({ aadObjectId: aad, userId: m.id, name: m.name ?? upn, upn, tenantId: known?.tenantId || team.tenantId, ...(known?.conversationId ? {} : { serviceUrl: team.serviceUrl }) });
    out.push({ name: m.name ?? upn, upn, aadObjectId: aad });
  }
  return out;
}

// ── refusals (403 semantics) ────────────────────────────────────────────────────────────────

function refuse(turn: Turn, action: string, why: string, runId?: string): string {
  const u = turn.who.user;
  log().warn({ event: 'teams.forbidden', status: 403, action, runId, user: u.aadObjectId, upn: u.upn, learnerOf: turn.who.learning.map((l) => `${l.run.runId}/${l.learner.learnerId}`) }, 'refused an action the user may not take');
  return `⛔ ${why} Nothing was changed.`;
}

function roleSummary(who: Who): string {
  if (who.learning.length) return `you are a learner (${who.learning.map((l) => `“${l.learner.learnerId}” in run ${l.run.runId}`).join(', ')})`;
  return 'you are not an instructor of any running run';
}

/** The run an instructor command is for, or a refusal. */
function instructorRun(turn: Turn, action: string, explicit?: string): RunInfo | string {
  const { who } = turn;
  if (explicit) {
    const run = who.runs.find((r) => r.runId === explicit);
    if (!run) return `There is no running run “${explicit}”. Runs you instruct: ${who.instructing.map((r) => r.runId).join(', ') || 'none'}.`;
    if (!isInstructor(run.input, who.user)) return refuse(turn, action, `“${action}” is for the instructors of run ${explicit}, and ${roleSummary(who)}.`, explicit);
    return run;
  }
  const current = who.instructing.find((r) => r.runId === who.user.currentRunId) ?? who.instructing[0];
  if (!current) return refuse(turn, action, `“${action}” is an instructor command, and ${roleSummary(who)}.`);
  return current;
}

function findLearner(run: RunInfo, name: string): Learner | undefined {
  const n = name.toLowerCase();
  return run.input.roster.find((l) => l.learnerId === n || l.email?.toLowerCase() === n || l.name.toLowerCase() === n || l.name.toLowerCase().split(' ')[0] === n);
}

const apiText = (r: ApiAnswer, ok: string): string => (r.status < 300 ? ok : `⚠ ${r.body.error ?? `The workshop API answered ${r.status}.`}`);

// ── text commands ───────────────────────────────────────────────────────────────────────────

async function onText(turn: Turn, cmd: Command): Promise<void> {
  if (cmd.verb === 'usage') return say(turn, usage(turn));
  if (cmd.verb === 'unknown') return say(turn, cmd.problem ?? `I did not understand “${cmd.text.slice(0, 80)}”.\n\n${usage(turn)}`);
  // '' = the command already answered with cards.
  const reply = isInstructorCommand(cmd) ? await instructorText(turn, cmd) : await learnerText(turn, cmd);
  if (reply) await say(turn, reply);
}

async function learnerText(turn: Turn, cmd: Command): Promise<string> {
  const mine = turn.who.learning.find((l) => l.run.runId === turn.who.user.currentRunId) ?? turn.who.learning[0];
  if (!mine) return turn.who.instructing.length ? usage(turn) : 'You are not a learner in any running workshop. If you should be, ask your instructor to check the roster (it must have your Teams sign-in address).';
  const caller = { role: 'learner' as const, runId: mine.run.runId, learnerId: mine.learner.learnerId };
  const status = await callWorkshopApi<{ position?: { phase: string; stepId: string | null; stepKind: string | null; state: string } | null; step?: { title: string } | null }>(turn.invocation, caller, {
    kind: 'learner',
    runId: caller.runId,
    learnerId: caller.learnerId,
    action: 'status',
    method: 'GET',
  });
  const p = status.body.position;
  if (cmd.verb === 'peerReview') return offerPeerReviews(turn, mine.run, caller.learnerId);
  if (cmd.verb === 'progress') {
    if (status.status >= 300) return apiText(status, '');
    return p ? `You are in **${p.phase}**, step **${status.body.step?.title ?? p.stepId ?? '—'}** (${p.state}).` : 'Your workshop is starting; your first step will arrive here shortly.';
  }
  if (!p?.stepId) return 'There is no step waiting for you right now; your next step will arrive here.';
  const ref: StepRef = { runId: caller.runId, learnerId: caller.learnerId, phase: p.phase, stepId: p.stepId };
  const act = cmd.verb === 'answer' ? { verb: 'answer', answer: cmd.text } : cmd.verb === 'submit' ? { verb: 'submit', name: cmd.name, uri: cmd.uri } : cmd.verb === 'help' ? { verb: 'help', helpMessage: cmd.message } : { verb: cmd.verb };
  const hasCard = !!(await readStepCard(ref))?.activityId;
  return learnerAct(turn, mine.run, ref, act, hasCard);
}

/** The designs this learner may review now, one card each (the API says why not, when they may not). */
async function offerPeerReviews(turn: Turn, run: RunInfo, learnerId: string): Promise<string> {
  const caller = { role: 'learner' as const, runId: run.runId, learnerId };
  type Design = { learnerId: string; stepId: string; round: number; deliverables: Record<string, Array<{ name: string; uri: string }>>; rubric: PeerReviewOffer['rubric'] };
  const r = await callWorkshopApi<{ designs?: Design[] }>(turn.invocation, caller, { kind: 'learner', runId: run.runId, learnerId, action: 'peer-reviews', method: 'GET' });
  if (r.status >= 300) return apiText(r, '');
  const designs = r.body.designs ?? [];
  if (!designs.length) return 'No design is waiting for a peer review right now.';
  for (const d of designs.slice(0, 5)) {
    const deliverables = Object.entries(d.deliverables).flatMap(([stepId, list]) => list.map((x) => ({ stepId, name: x.name, uri: x.uri })));
    await say(turn, '', peerReviewCard({ runId: run.runId, learnerId, reviewee: d.learnerId, revieweeName: learnerName(run.input, d.learnerId), stepId: d.stepId, round: d.round, deliverables, rubric: d.rubric }));
  }
  return '';
}

/** A learner sends a peer review from its card: the scores and notes to the API, then the card resolved in place. */
async function sendPeerReview(turn: Turn, learnerId: string, data: Record<string, unknown>): Promise<string> {
  const o = data as unknown as PeerReviewOffer;
  const scores = Object.fromEntries(o.rubric.map((c) => [c.criterion, data[`score_${c.criterion}`]]).filter(([, v]) => v === 'meets' || v === 'notYet'));
  const notes = String(data.notes ?? '').trim();
  if (!notes || Object.keys(scores).length < o.rubric.length) return 'Score every criterion and write your notes first.';
  const r = await callWorkshopApi(turn.invocation, { role: 'learner', runId: o.runId, learnerId }, { kind: 'learner', runId: o.runId, learnerId, action: 'peer-review', method: 'POST' }, { learnerId: o.reviewee, round: o.round, notes, scores });
  const cardId = turn.ctx.activity.replyToId;
  if (r.status < 300 && cardId) {
    const card = peerReviewCard(o, `✔ Sent to the instructor: “${notes}”`);
    await withRetry('peer review card', () => turn.ctx.api.conversations.activities(turn.ctx.activity.conversation.id).update(cardId, { type: 'message', attachments: [attachment(card)] })).catch((err: unknown) => log().warn({ err: errInfo(err), runId: o.runId }, 'peer review card not updated'));
  }
  return apiText(r, 'Thanks — your review is with the instructor.');
}

/** A learner's step action, as its handler sees it: the step, the caller, the action's fields. */
interface StepAction {
  turn: Turn;
  run: RunInfo;
  ref: StepRef;
  caller: { role: 'learner'; runId: string; learnerId: string };
  /** The step card is updated in place (false: the action came as text and the learner has no card to update). */
  updateCard: boolean;
  /** A text field of the action, trimmed ('' when absent). */
  str(k: string): string;
  /** The learner route of the workshop API for `action`. */
  target(action: string): { kind: 'learner'; runId: string; learnerId: string; action: string; method: 'POST' };
}

/** What an accepted step action did: the reply, and how the step card changes (applied when it is updated). */
interface StepOutcome {
  reply: string;
  change: (s: StepCardState) => StepCardState;
}

/** A string is the whole answer (the action was refused before the API, or needs no card); nothing is logged or updated. */
type StepHandler = (a: StepAction) => Promise<string | StepOutcome>;

/** The API's refusal as a note on the step card. */
const refusalNote = (r: ApiAnswer, kind: 'info' | 'problem' = 'info') => ({ kind, text: r.body.error ?? 'Not accepted.', id: `r${Date.now()}` });

async function answerStep(a: StepAction): Promise<string | StepOutcome> {
  const answer = a.str('answer');
  if (!answer) return 'Write your answer in the box first.';
  const r = await callWorkshopApi(a.turn.invocation, a.caller, a.target('answer'), { answer, stepId: a.ref.stepId });
  const reply = r.status === 422 ? `${apiText(r, '')}\n\nIf it covers the points in other words, press **Send to the instructor instead** on the card.` : apiText(r, 'Thanks — your answer is recorded.');
  return {
    reply,
    change: (s) =>
      r.status < 300
        ? { ...s, status: 'answered', answer, refusedAnswer: false }
        : addNote({ ...s, answer, refusedAnswer: s.refusedAnswer || r.status === 422 }, refusalNote(r, r.status === 422 ? 'problem' : 'info')),
  };
}

async function reviewAnswerStep(a: StepAction): Promise<string | StepOutcome> {
  const answer = a.str('answer');
  if (!answer) return 'Write your answer in the box first.';
  const note = a.str('reviewNote');
  const r = await callWorkshopApi<{ accepted?: string }>(a.turn.invocation, a.caller, a.target('review-answer'), { answer, stepId: a.ref.stepId, ...(note ? { note } : {}) });
  const direct = r.body.accepted === 'answer';
  return {
    reply: apiText(r, direct ? 'Your answer meets the criteria after all — it is recorded.' : 'Sent to your instructor; their decision will appear on this card.'),
    change: (s) => (r.status < 300 ? { ...s, answer, refusedAnswer: false, status: direct ? 'answered' : 'withInstructor' } : addNote(s, refusalNote(r))),
  };
}

async function disputeStep(a: StepAction): Promise<string | StepOutcome> {
  const note = a.str('disputeNote') || a.str('note');
  if (!note) return 'Say what you did and where to look in the box first, then press “I did it”.';
  const r = await callWorkshopApi(a.turn.invocation, a.caller, a.target('dispute'), { note, stepId: a.ref.stepId });
  return {
    reply: apiText(r, 'Sent to your instructor with what the check read; their decision will appear on this card.'),
    change: (s) => (r.status < 300 ? { ...s, status: 'withInstructor', disputable: false } : addNote(s, refusalNote(r))),
  };
}

async function doneStep(a: StepAction): Promise<string | StepOutcome> {
  const r = await callWorkshopApi(a.turn.invocation, a.caller, a.target('done'), { stepId: a.ref.stepId });
  return { reply: apiText(r, 'Great — checking it now.'), change: (s) => (r.status < 300 ? { ...s, status: 'done' } : addNote(s, refusalNote(r))) };
}

async function submitStep(a: StepAction): Promise<string | StepOutcome> {
  const name = a.str('name');
  const uri = a.str('uri');
  if (!name || !uri) return 'Give the deliverable a name and a link first.';
  const r = await callWorkshopApi(a.turn.invocation, a.caller, a.target('submit'), { name, uri, stepId: a.ref.stepId });
  return {
    reply: apiText(r, 'Submitted — your instructor will review it.'),
    change: (s) => (r.status < 300 ? { ...s, status: 'submitted', deliverable: { name, uri } } : addNote({ ...s, deliverable: { name, uri } }, refusalNote(r, 'problem'))),
  };
}

async function helpStep(a: StepAction): Promise<string | StepOutcome> {
  const message = a.str('helpMessage') || a.str('message');
  if (!message) return 'Say what is blocking you in the “Stuck?” box, then press Ask for help.';
  const r = await callWorkshopApi(a.turn.invocation, a.caller, a.target('help'), { message });
  return {
    reply: apiText(r, 'Your instructor has been asked; the answer will come here.'),
    change: (s) => (r.status < 300 ? addNote(s, { kind: 'help', text: message, id: `h${Date.now()}` }) : addNote(s, refusalNote(r))),
  };
}

/** The next hint: revealed on the card (the reply is the hint the card showed), or read without a card. */
async function hintStep(a: StepAction): Promise<string | StepOutcome> {
  if (!a.updateCard) {
    const fresh = await freshStepState(a.run.input.plan, a.ref, undefined, 1);
    const shown = (await readStepCard(a.ref))?.state.revealed ?? 0;
    return fresh.hints[shown] ? `💡 ${fresh.hints[shown]}` : 'There are no hints for this step.';
  }
  const out: StepOutcome = {
    reply: '',
    change: (s) => {
      if (s.revealed >= s.hints.length) {
        out.reply = 'There are no more hints for this step; ask for help if you are stuck.';
        return s;
      }
      out.reply = `💡 ${s.hints[s.revealed]}`;
      return { ...s, revealed: s.revealed + 1 };
    },
  };
  return out;
}

const STEP_ACTIONS = new Map<string, StepHandler>([
  ['answer', answerStep],
  ['reviewAnswer', reviewAnswerStep],
  ['dispute', disputeStep],
  ['done', doneStep],
  ['submit', submitStep],
  ['help', helpStep],
  ['hint', hintStep],
]);

/** A learner acts on a step (button or text): the API call, then the step card updated in place. */
async function learnerAct(turn: Turn, run: RunInfo, ref: StepRef, act: Record<string, unknown> & { verb: string }, updateCard: boolean): Promise<string> {
  const handler = STEP_ACTIONS.get(act.verb);
  if (!handler) return `Unknown action “${act.verb}”.`;
  const out = await handler({
    turn,
    run,
    ref,
    caller: { role: 'learner', runId: ref.runId, learnerId: ref.learnerId },
    updateCard,
    str: (k) => (typeof act[k] === 'string' ? (act[k] as string).trim() : ''),
    target: (action) => ({ kind: 'learner', runId: ref.runId, learnerId: ref.learnerId, action, method: 'POST' }),
  });
  if (typeof out === 'string') return out;
  if (updateCard) await updateStepCard(turn, run, ref, out.change);
  log().info({ runId: ref.runId, learnerId: ref.learnerId, stepId: ref.stepId, action: act.verb }, 'learner acted from Teams');
  return out.reply;
}

/** The learner's step card, changed in place; a card that cannot be updated is logged (the action itself went through). */
async function updateStepCard(turn: Turn, run: RunInfo, ref: StepRef, change: StepOutcome['change']): Promise<void> {
  const where = { conversationId: turn.ctx.activity.conversation.id, serviceUrl: turn.ctx.activity.serviceUrl };
  try {
    await withRetry('step card', () => showStepCard(turn.ctx.api, where, ref, async (cur) => change(cur ?? (await freshStepState(run.input.plan, ref, undefined, 1)))));
  } catch (err) {
    log().warn({ err: errInfo(err), runId: ref.runId, learnerId: ref.learnerId, stepId: ref.stepId }, 'step card not updated');
  }
}

async function instructorText(turn: Turn, cmd: Command): Promise<string> {
  if (cmd.verb === 'start') {
    const r = await startRun(turn, cmd);
    if (r.card) await say(turn, r.text, r.card);
    return r.card ? '' : r.text;
  }
  if (cmd.verb === 'runs') {
    if (!turn.who.instructing.length) return refuse(turn, 'runs', `“runs” is an instructor command, and ${roleSummary(turn.who)}.`);
    return ['Runs you instruct:', ...turn.who.instructing.map((r) => `- **${r.runId}** — ${r.input.plan.title}, ${r.input.roster.length} learners, started ${r.startedAt.slice(0, 16)}${r.runId === turn.who.user.currentRunId ? ' (current)' : ''}`)].join('\n');
  }
  const run = instructorRun(turn, cmd.verb, cmd.verb === 'status' || cmd.verb === 'use' ? cmd.runId : undefined);
  if (typeof run === 'string') return run;
  const by = turn.who.user.upn || turn.who.user.aadObjectId;
  const inst = { role: 'instructor' as const };
  const runAction = (action: string) => ({ kind: 'runAction' as const, runId: run.runId, action, method: 'POST' as const });
  const learnerAction = (learnerId: string, action: string) => ({ kind: 'learner' as const, runId: run.runId, learnerId, action, method: 'POST' as const });
  const learnerOrRefusal = (name: string): Learner | string => findLearner(run, name) ?? `Run ${run.runId} has no learner “${name}”. Learners: ${run.input.roster.map((l) => l.learnerId).join(', ')}.`;
  log().info({ runId: run.runId, command: cmd.verb, by }, 'instructor command from Teams');
  switch (cmd.verb) {
    case 'use':
      await saveUser({ ...turn.who.user, currentRunId: run.runId });
      return `Your commands now go to run **${run.runId}**.`;
    case 'status': {
      const card = await statusCard(turn, run.runId);
      if (typeof card === 'string') return card;
      await say(turn, '', card);
      return '';
    }
    case 'helpQueue':
    case 'reviews': {
      const cards = await queueCards(turn, run, cmd.verb);
      for (const c of cards) await say(turn, '', c);
      return '';
    }
    case 'broadcast': {
      const r = await callWorkshopApi(turn.invocation, inst, runAction('broadcast'), { message: cmd.message, by });
      return apiText(r, `📣 Sent to the ${run.input.roster.length} learners of run ${run.runId}.`);
    }
    case 'extend': {
      if (cmd.learner) {
        const l = learnerOrRefusal(cmd.learner);
        if (typeof l === 'string') return l;
        return apiText(await callWorkshopApi(turn.invocation, inst, learnerAction(l.learnerId, 'extend'), { minutes: cmd.minutes, by }), `⏰ ${l.name} has ${cmd.minutes} more minutes.`);
      }
      return apiText(await callWorkshopApi(turn.invocation, inst, runAction('extend'), { minutes: cmd.minutes, by }), `⏰ Everyone in run ${run.runId} has ${cmd.minutes} more minutes.`);
    }
    case 'end':
      return apiText(await callWorkshopApi(turn.invocation, inst, runAction('end'), { reason: cmd.reason ?? `ended by ${by} from Teams`, by }), `🏁 Ending run ${run.runId}; learner environments will be torn down.`);
    case 'park':
    case 'unpark':
      return apiText(await callWorkshopApi(turn.invocation, inst, runAction(cmd.verb), { by }), cmd.verb === 'park' ? `🌙 Parking run ${run.runId}: everyone holds at their step; environments are saved and torn down (say **unpark** in the morning).` : `☀ Resuming run ${run.runId}: environments are restored and everyone continues at their step.`);
    case 'approve':
    case 'changes': {
      const l = learnerOrRefusal(cmd.learner);
      if (typeof l === 'string') return l;
      const body = cmd.verb === 'approve' ? { decision: 'approve', ...(cmd.comment ? { comment: cmd.comment } : {}) } : { decision: 'changes', comment: cmd.comment };
      return apiText(await callWorkshopApi(turn.invocation, inst, learnerAction(l.learnerId, 'review'), body), cmd.verb === 'approve' ? `✔ Approved ${l.name}'s design.` : `✎ Asked ${l.name} for changes.`);
    }
    case 'reply': {
      const l = learnerOrRefusal(cmd.learner);
      if (typeof l === 'string') return l;
      return apiText(await callWorkshopApi(turn.invocation, inst, learnerAction(l.learnerId, 'help-answer'), { answer: cmd.answer }), `💬 Answer sent to ${l.name}.`);
    }
    case 'resume': {
      const l = learnerOrRefusal(cmd.learner);
      if (typeof l === 'string') return l;
      const r = await callWorkshopApi<{ detail?: string }>(turn.invocation, inst, learnerAction(l.learnerId, 'resume'), { from: cmd.from });
      return apiText(r, `▶ ${l.name}: ${r.body.detail ?? 'resumed'}.`);
    }
  }
  return usage(turn);
}

async function statusCard(turn: Turn, runId: string): Promise<Card | string> {
  const r = await callWorkshopApi<{
    runtimeStatus: string;
    scenario: { title: string };
    view: { paused: boolean; helpQueue: unknown[]; reviewQueue: unknown[]; failures: unknown[]; hotStart?: HotStartView } | null;
    learners: Array<{ learnerId: string; name: string; phase: string; state: string; stepId: string | null; since: string | null }>;
  }>(turn.invocation, { role: 'instructor' }, { kind: 'runStatus', runId });
  if (r.status >= 300) return apiText(r, '');
  const b = r.body;
  return runStatusCard({
    runId,
    title: b.scenario.title,
    runtimeStatus: b.runtimeStatus,
    paused: !!b.view?.paused,
    learners: b.learners,
    helpQueue: b.view?.helpQueue.length ?? 0,
    reviewQueue: b.view?.reviewQueue.length ?? 0,
    failures: b.view?.failures.length ?? 0,
    ...(b.view?.hotStart ? { hotStart: poolSentence(b.view.hotStart) } : {}),
  });
}

/** The help queue or the review queue as actionable cards (the latest request of each learner waiting). */
async function queueCards(turn: Turn, run: RunInfo, which: 'helpQueue' | 'reviews'): Promise<Card[]> {
  const status = await callWorkshopApi<{ view: { helpQueue: Array<{ learnerId: string }>; reviewQueue: Array<{ learnerId: string }> } | null }>(turn.invocation, { role: 'instructor' }, { kind: 'runStatus', runId: run.runId });
  const waiting = new Set((which === 'helpQueue' ? status.body.view?.helpQueue : status.body.view?.reviewQueue)?.map((q) => q.learnerId) ?? []);
  const msgs = await callWorkshopApi<{ messages: Array<{ kind: string; body: Record<string, unknown>; createdAt: string }> }>(turn.invocation, { role: 'instructor' }, { kind: 'runAction', runId: run.runId, action: 'messages', method: 'GET' });
  // The review queue holds design reviews, disputed checks and answers sent for review: the latest of those is what waits.
  const kinds = which === 'helpQueue' ? ['help'] : ['review', 'peerReview', 'dispute', 'answerReview'];
  const latest = new Map<string, Record<string, unknown> & { kind: string }>();
  for (const m of msgs.body.messages ?? []) {
    const lid = String(m.body.learnerId ?? '');
    if (kinds.includes(m.kind) && waiting.has(lid)) latest.set(lid, { ...m.body, kind: m.kind });
  }
  const title = which === 'helpQueue' ? `🙋 Help queue — run ${run.runId}` : `📐 Waiting for you (reviews, disputed checks, answers) — run ${run.runId}`;
  const cards: Card[] = [listCard(title, [...waiting].map((l) => `• ${learnerName(run.input, l)}`), which === 'helpQueue' ? 'Nobody is waiting for help.' : 'No design is waiting for review.')];
  for (const [learnerId, body] of [...latest].slice(0, 10)) {
    const who = learnerName(run.input, learnerId);
    const phase = String(body.phase ?? '');
    const stepId = String(body.stepId ?? '');
    if (which === 'helpQueue') cards.push(helpRequestCard({ runId: run.runId, learnerId, learnerName: who, phase, stepId: (body.stepId as string) ?? null, message: String(body.message ?? '') }));
    else if (body.kind === 'dispute') cards.push(disputeCard({ runId: run.runId, learnerId, learnerName: who, phase, stepId, attempt: Number(body.attempt ?? 1), note: String(body.note ?? ''), checks: (body.checks ?? []) as DisputedCheck[] }));
    else if (body.kind === 'answerReview') {
      cards.push(answerReviewCard({ runId: run.runId, learnerId, learnerName: who, phase, stepId, round: Number(body.round ?? 1), answer: String(body.answer ?? ''), note: (body.note as string | null) ?? null, missing: (body.missing ?? []) as string[] }));
    } else cards.push(reviewCard(reviewRequestOf(run.input, run.runId, body.kind, body)));
  }
  return cards;
}

async function startRun(turn: Turn, cmd: Extract<Command, { verb: 'start' }>): Promise<{ text: string; card?: Card }> {
  if (!turn.who.mayStart) return { text: refuse(turn, 'start', `Only the workshop's instructors (BOT_INSTRUCTORS) can start runs, and ${roleSummary(turn.who)}.`) };
  const a = turn.ctx.activity;
  const channelTeam = a.channelData?.team ? await getTeam(a.channelData.team.id) : undefined;
  const team = channelTeam ?? (await latestTeam());
  if (!cmd.scenario) {
    const s = await callWorkshopApi<{ scenarios: Array<{ id: string; title: string }> }>(turn.invocation, { role: 'instructor' }, { kind: 'scenarios' });
    return { text: 'Pick a scenario and the learners:', card: startRunCard({ scenarios: s.body.scenarios ?? [], teamName: team?.name }) };
  }
  const me = turn.who.user.upn || turn.who.user.aadObjectId;
  const instructors = [...new Set([me, ...cmd.instructors.map((i) => i.trim().toLowerCase()).filter(Boolean)])];
  let roster: unknown[] | string;
  let rosterName = 'roster.csv';
  const source = cmd.rosterSource ?? (cmd.csv || a.attachments?.length ? 'csv' : 'team');
  if (source === 'team') {
    if (!team) return { text: 'I am not in a team yet: add the app to your team (then “start <scenario> team”), or paste a CSV roster on the lines after the command.' };
    const members = await rememberTeamMembers(turn, { conversationId: team.conversationId, serviceUrl: team.serviceUrl, tenantId: team.tenantId });
    roster = members.filter((m) => !instructors.includes(m.upn) && !instructors.includes(m.aadObjectId)).map((m) => ({ name: m.name, email: m.upn }));
    rosterName = `${team.name} members`;
    if (!roster.length) return { text: `${team.name} has no members other than the instructors.` };
  } else {
    const csv = cmd.csv ?? (await attachedCsv(a));
    if (!csv) return { text: 'Paste the roster CSV on the lines after the command (name,email), or attach a .csv file.' };
    roster = csv;
  }
  const body = { scenario: cmd.scenario, roster, rosterName, instructors, ...(cmd.timeScale ? { timeScale: cmd.timeScale } : {}), ...(cmd.runId ? { runId: cmd.runId } : {}), ...(cmd.hotStart ? { hotStart: cmd.hotStart } : {}) };
  const r = await callWorkshopApi<{ runId: string; scenario: { title: string }; learners: unknown[]; hotStart?: HotStartSummary }>(turn.invocation, { role: 'instructor' }, { kind: 'runs', method: 'POST' }, body);
  if (r.status >= 300) return { text: apiText(r, '') };
  await saveUser({ ...turn.who.user, currentRunId: r.body.runId });
  log().info({ runId: r.body.runId, by: me, learners: r.body.learners.length }, 'run started from Teams');
  const hot = r.body.hotStart ? `\n\n${hotStartLines(r.body.hotStart).join('\n\n')}` : '';
  return { text: `🚀 Started run **${r.body.runId}** — ${r.body.scenario.title} with ${r.body.learners.length} learners. Their first steps are on the way. Say **status** to follow along.${hot}` };
}

async function attachedCsv(a: Activity): Promise<string | undefined> {
  for (const att of a.attachments ?? []) {
    if (att.contentType === 'text/csv' && typeof att.content === 'string') return att.content;
    const info = att.content as { downloadUrl?: string; fileType?: string } | undefined;
    if (att.contentType === 'application/vnd.microsoft.teams.file.download.info' && info?.downloadUrl && (info.fileType ?? 'csv').toLowerCase() === 'csv') {
      const res = await fetch(info.downloadUrl);
      if (res.ok) return res.text();
    }
  }
  return undefined;
}

// ── card buttons (Action.Execute → invoke adaptiveCard/action) ──────────────────────────────

const LEARNER_ACTIONS = new Set(['answer', 'done', 'submit', 'hint', 'help', 'dispute', 'reviewAnswer']);

const runIdOf = (data: Record<string, unknown>): string | undefined => (typeof data.runId === 'string' ? data.runId : undefined);

async function onAction(turn: Turn, verb: string, data: Record<string, unknown>): Promise<InvokeAnswer> {
  if (verb === 'peerReview') return peerReviewPress(turn, data);
  if (LEARNER_ACTIONS.has(verb)) return learnerPress(turn, verb, data);
  if (verb === 'startRun') return startRunPress(turn, data);
  return instructorPress(turn, verb, data);
}

/** A peer review card is sent by the learner it was offered to, and nobody else. */
async function peerReviewPress(turn: Turn, data: Record<string, unknown>): Promise<InvokeAnswer> {
  const runId = runIdOf(data);
  const mine = turn.who.learning.find((l) => l.run.runId === runId && l.learner.learnerId === data.learnerId);
  if (!mine) return messageResponse(refuse(turn, 'peerReview', `This review card is for learner “${String(data.learnerId)}” of run ${runId}; ${roleSummary(turn.who)}.`, runId));
  return messageResponse(await sendPeerReview(turn, mine.learner.learnerId, data));
}

/** A step card's button, pressed by the learner the card belongs to (anyone else is refused). */
async function learnerPress(turn: Turn, verb: string, data: Record<string, unknown>): Promise<InvokeAnswer> {
  const runId = runIdOf(data);
  const mine = turn.who.learning.find((l) => l.run.runId === runId && l.learner.learnerId === data.learnerId);
  if (!mine) return messageResponse(refuse(turn, verb, `This card belongs to learner “${String(data.learnerId)}” of run ${runId}; ${roleSummary(turn.who)}.`, runId));
  const ref: StepRef = { runId: mine.run.runId, learnerId: mine.learner.learnerId, phase: String(data.phase), stepId: String(data.stepId) };
  // The card that was pressed is the step's card: it is updated in place whether the press came as an invoke or a message.
  return messageResponse(await learnerAct(turn, mine.run, ref, { ...data, verb }, true));
}

/** The start card's form, as the `start` command would have it. */
async function startRunPress(turn: Turn, data: Record<string, unknown>): Promise<InvokeAnswer> {
  const cmd: Extract<Command, { verb: 'start' }> = {
    verb: 'start',
    scenario: String(data.scenario ?? '') || undefined,
    rosterSource: data.rosterSource === 'team' ? 'team' : 'csv',
    csv: typeof data.rosterCsv === 'string' && data.rosterCsv.trim() ? data.rosterCsv : undefined,
    timeScale: Number(data.timeScale) > 0 ? Number(data.timeScale) : undefined,
    instructors: String(data.instructors ?? '').split(',').filter((s) => s.trim()),
  };
  if (!cmd.scenario) return messageResponse('Pick a scenario first.');
  const r = await startRun(turn, cmd);
  return messageResponse(r.text);
}

/** An instructor card's button, as its handler sees it: the run (one the user instructs), the learner, the card's data. */
interface CardPress {
  turn: Turn;
  run: RunInfo;
  data: Record<string, unknown>;
  learnerId: string;
  by: string;
  /** Replace the pressed card with its decided form. */
  resolve(card: Card): Promise<void>;
}

type CardHandler = (p: CardPress) => Promise<InvokeAnswer>;
const INSTRUCTOR = { role: 'instructor' as const };
const learnerPost = (p: CardPress, action: string) => ({ kind: 'learner' as const, runId: p.run.runId, learnerId: p.learnerId, action, method: 'POST' as const });

const statusPress: CardHandler = async (p) => {
  const card = await statusCard(p.turn, p.run.runId);
  return typeof card === 'string' ? messageResponse(card) : cardResponse(card);
};

/** The queue's list answers the press; the request cards follow as messages. */
const queuePress =
  (which: 'helpQueue' | 'reviews'): CardHandler =>
  async (p) => {
    const cards = await queueCards(p.turn, p.run, which);
    for (const c of cards.slice(1)) await say(p.turn, '', c);
    return cardResponse(cards[0]);
  };

const helpAnswerPress: CardHandler = async (p) => {
  const { data, learnerId, run } = p;
  const answer = String(data.answer ?? '').trim();
  if (!answer) return messageResponse('Write the answer first.');
  const r = await callWorkshopApi(p.turn.invocation, INSTRUCTOR, learnerPost(p, 'help-answer'), { answer });
  if (r.status < 300) await p.resolve(helpRequestCard({ runId: run.runId, learnerId, learnerName: String(data.learnerName ?? learnerId), phase: String(data.phase ?? ''), stepId: (data.stepId as string) ?? null, message: String(data.message ?? '') }, `💬 Answered by ${p.by}: “${answer}”`));
  return messageResponse(apiText(r, 'Answer sent.'));
};

const reviewPress =
  (decision: 'approve' | 'changes'): CardHandler =>
  async (p) => {
    const { data, by } = p;
    const comment = String(data.comment ?? '').trim();
    if (decision === 'changes' && !comment) return messageResponse('Say what to change in the comment box first.');
    const r = await callWorkshopApi(p.turn.invocation, INSTRUCTOR, learnerPost(p, 'review'), { decision, ...(comment ? { comment } : {}), ...(data.round ? { round: Number(data.round) } : {}) });
    if (r.status < 300) await p.resolve(reviewCard(data as unknown as ReviewRequest, decision === 'approve' ? `✔ Approved by ${by}${comment ? `: “${comment}”` : ''}` : `✎ Changes requested by ${by}: “${comment}”`));
    return messageResponse(apiText(r, decision === 'approve' ? 'Approved.' : 'Changes requested.'));
  };

const disputePress =
  (decision: 'override' | 'recheck' | 'return'): CardHandler =>
  async (p) => {
    const { data, by } = p;
    const reason = String(data.reason ?? '').trim();
    if (decision !== 'recheck' && !reason) return messageResponse(decision === 'override' ? 'Say why it passes in the Reason box first (it goes into the run report).' : 'Say what the learner should fix in the Reason box first.');
    const r = await callWorkshopApi(p.turn.invocation, INSTRUCTOR, learnerPost(p, 'dispute-decision'), { decision, ...(reason ? { reason } : {}), ...(data.attempt ? { attempt: Number(data.attempt) } : {}), by });
    const done = { override: `✔ Marked passed by ${by}: “${reason}”`, recheck: `↻ Checks re-run at ${by}'s request`, return: `↩ Returned by ${by}: “${reason}”` }[decision];
    // The same decision comes from a dispute card or from the failure card of checks that failed on their last attempt.
    if (r.status < 300) await p.resolve(data.failure ? failureCard(data as unknown as FailureNotice, done) : disputeCard(data as unknown as DisputeRequest, done));
    return messageResponse(apiText(r, done));
  };

const answerPress =
  (decision: 'accept' | 'return'): CardHandler =>
  async (p) => {
    const { data, by } = p;
    const comment = String(data.comment ?? '').trim();
    if (!comment) return messageResponse(decision === 'accept' ? 'Say why the answer covers the criteria in the comment box first (it is recorded).' : 'Say what the answer misses in the comment box first.');
    const r = await callWorkshopApi(p.turn.invocation, INSTRUCTOR, learnerPost(p, 'answer-decision'), { decision, comment, round: Number(data.round ?? 1), by });
    const done = decision === 'accept' ? `✔ Accepted by ${by}: “${comment}”` : `↩ Returned by ${by}: “${comment}”`;
    if (r.status < 300) await p.resolve(answerReviewCard(data as unknown as AnswerReviewRequest, done));
    return messageResponse(apiText(r, done));
  };

const resumePress: CardHandler = async (p) => {
  const { data, learnerId, run } = p;
  const r = await callWorkshopApi<{ detail?: string }>(p.turn.invocation, INSTRUCTOR, learnerPost(p, 'resume'), { from: data.from === 'start' ? 'start' : 'failedStep' });
  if (r.status < 300) await p.resolve(failureCard({ runId: run.runId, learnerId, learnerName: String(data.learnerName ?? learnerId), phase: String(data.phase ?? ''), stepId: String(data.stepId ?? ''), message: String(data.message ?? '') }, `▶ Resumed by ${p.by}: ${r.body.detail ?? ''}`));
  return messageResponse(apiText(r, `Resumed: ${r.body.detail ?? ''}`));
};

/** The instructor card buttons, by verb. */
const INSTRUCTOR_CARD_ACTIONS = new Map<string, CardHandler>([
  ['status', statusPress],
  ['helpQueue', queuePress('helpQueue')],
  ['reviews', queuePress('reviews')],
  ['helpAnswer', helpAnswerPress],
  ['approve', reviewPress('approve')],
  ['changes', reviewPress('changes')],
  ['disputeOverride', disputePress('override')],
  ['disputeRecheck', disputePress('recheck')],
  ['disputeReturn', disputePress('return')],
  ['answerAccept', answerPress('accept')],
  ['answerReturn', answerPress('return')],
  ['resume', resumePress],
]);

/** Instructor actions: the run named in the card's data must be one the user instructs. */
async function instructorPress(turn: Turn, verb: string, data: Record<string, unknown>): Promise<InvokeAnswer> {
  const run = instructorRun(turn, verb, runIdOf(data) ?? '(none)');
  if (typeof run === 'string') return messageResponse(run);
  const learnerId = String(data.learnerId ?? '');
  const by = turn.who.user.name || turn.who.user.upn;
  log().info({ runId: run.runId, action: verb, learnerId, by }, 'instructor card action from Teams');
  const handler = INSTRUCTOR_CARD_ACTIONS.get(verb);
  if (!handler) return messageResponse(`Unknown action “${verb}”.`);
  return handler({ turn, run, data, learnerId, by, resolve: (card) => resolveCard(turn, run, card) });
}

/** The pressed instructor card, replaced by its decided form; a card that cannot be updated is logged (the decision went through). */
async function resolveCard(turn: Turn, run: RunInfo, card: Card): Promise<void> {
  const cardId = turn.ctx.activity.replyToId;
  if (!cardId) return;
  try {
    await withRetry('instructor card', () => turn.ctx.api.conversations.activities(turn.ctx.activity.conversation.id).update(cardId, { type: 'message', attachments: [attachment(card)] }));
  } catch (err) {
    log().warn({ err: errInfo(err), runId: run.runId, cardId }, 'instructor card not updated');
  }
}
