import type { Client as ApiClient } from '@microsoft/teams.api';
import { requirePack, stepText } from '../http/packs';
import type { RunPlan } from '../contracts/messages';
import { attachment, progressCard, stepCard, type StepCardState, type StepNote } from './cards';
import { changeCard, PROGRESS_KEY, readCard, stepCardKey, type ProgressRow, type StepCardRow } from './cardStore';

/**
 * A learner's step card and progress card: built from the pack (title, prompt, hints) and the run's
 * plan (step position, timebox), changed through BotCards, and sent as a new message the first
 * time and as an update of the same activity ever after.
 */
export interface Where {
  conversationId: string;
  serviceUrl: string;
}

export interface StepRef {
  runId: string;
  learnerId: string;
  phase: string;
  stepId: string;
}

export async function freshStepState(plan: RunPlan, ref: StepRef, kind: string | undefined, attempt: number): Promise<StepCardState> {
  const pack = (await requirePack(plan.packId)).pack;
  const text = stepText(pack, ref.stepId) ?? { title: ref.stepId, prompt: '', hints: [] };
  const steps = plan.phases[ref.phase as keyof RunPlan['phases']]?.steps ?? [];
  const index = steps.findIndex((s) => s.id === ref.stepId);
  const defKind = steps[index]?.kind;
  return {
    ...ref,
    kind: kind ?? (defKind === 'validate' ? 'task' : (defKind ?? 'task')),
    title: text.title,
    prompt: text.prompt,
    hints: text.hints,
    revealed: 0,
    attempt,
    stepIndex: Math.max(0, index),
    steps: steps.length,
    status: 'open',
    notes: [],
  };
}

export function addNote(state: StepCardState, note: StepNote): StepCardState {
  if (state.notes.some((n) => n.id === note.id)) return state;
  return { ...state, notes: [...state.notes, note].slice(-8) };
}

export const cardActivity = (state: StepCardState) => ({ type: 'message' as const, attachments: [attachment(stepCard(state))] });

/**
 * Update a card in place; false when the message is gone (deleted by the user, or a local
 * emulator restarted), so the caller posts the card again instead of losing the update.
 */
async function updated(api: ApiClient, conversationId: string, activityId: string, activity: ReturnType<typeof cardActivity>): Promise<boolean> {
  try {
    await api.conversations.activities(conversationId).update(activityId, activity);
    return true;
  } catch (err) {
    if ((err as { response?: { status?: number } }).response?.status === 404) return false;
    throw err;
  }
}

/**
 * Put a step card on screen: update the card in place when the step already has one, post it
 * otherwise (and remember its activity id). `send` is the operation the caller wants rate-limited
 * (the sender) or not (a button press).
 */
export async function showStepCard(
  api: ApiClient,
  where: Where,
  ref: StepRef,
  change: (current: StepCardState | undefined) => Promise<StepCardState> | StepCardState,
): Promise<{ activityId: string; updated: boolean; state: StepCardState }> {
  const key = stepCardKey(ref.phase, ref.stepId);
  const before = await readCard<StepCardState>(ref.runId, ref.learnerId, key);
  const state = await change(before?.state);
  if (before?.activityId && before.conversationId && (await updated(api, before.conversationId, before.activityId, cardActivity(state)))) {
    await changeCard<StepCardState>(ref.runId, ref.learnerId, key, (cur) => ({ ...(cur ?? before), state }));
    return { activityId: before.activityId, updated: true, state };
  }
  const sent = await api.conversations.activities(where.conversationId).create(cardActivity(state));
  await changeCard<StepCardState>(ref.runId, ref.learnerId, key, () => ({ activityId: sent.id, conversationId: where.conversationId, serviceUrl: where.serviceUrl, state }));
  return { activityId: sent.id, updated: false, state };
}

export async function readStepCard(ref: StepRef): Promise<StepCardRow | undefined> {
  return readCard<StepCardState>(ref.runId, ref.learnerId, stepCardKey(ref.phase, ref.stepId));
}

/** Refresh the learner's progress card (post it the first time); returns its activity id. */
export async function showProgress(
  api: ApiClient,
  where: Where,
  plan: RunPlan,
  ref: StepRef,
  opts: { at: string; status: string; extendMinutes?: number; msLeft?: number },
): Promise<string> {
  const pack = (await requirePack(plan.packId)).pack;
  const steps = plan.phases[ref.phase as keyof RunPlan['phases']]?.steps ?? [];
  const index = Math.max(0, steps.findIndex((s) => s.id === ref.stepId));
  const before = await readCard<ProgressRow['state']>(ref.runId, ref.learnerId, PROGRESS_KEY);
  const sameStep = before?.state.stepId === ref.stepId && before.state.phase === ref.phase;
  const stepStartedAt = sameStep ? before!.state.stepStartedAt : opts.at;
  const timebox = steps[index]?.timeboxMinutes ?? 0;
  let dueAt: string | null = sameStep ? before!.state.dueAt : timebox > 0 ? new Date(Date.parse(stepStartedAt) + timebox * 60_000).toISOString() : null;
  if (opts.msLeft !== undefined) dueAt = new Date(Date.parse(opts.at) + opts.msLeft).toISOString();
  if (opts.extendMinutes && dueAt) dueAt = new Date(Date.parse(dueAt) + opts.extendMinutes * 60_000).toISOString();
  const state: ProgressRow['state'] = {
    runId: ref.runId,
    learnerId: ref.learnerId,
    title: pack.title,
    phase: ref.phase,
    stepId: ref.stepId,
    stepTitle: stepText(pack, ref.stepId)?.title ?? ref.stepId,
    stepIndex: index,
    steps: steps.length,
    dueAt,
    asOf: opts.at,
    status: opts.status,
    stepStartedAt,
  };
  const activity = { type: 'message' as const, attachments: [attachment(progressCard(state))] };
  if (before?.activityId && before.conversationId && (await updated(api, before.conversationId, before.activityId, activity))) {
    await changeCard(ref.runId, ref.learnerId, PROGRESS_KEY, (cur) => ({ ...(cur ?? before), state }));
    return before.activityId;
  }
  const sent = await api.conversations.activities(where.conversationId).create(activity);
  await changeCard(ref.runId, ref.learnerId, PROGRESS_KEY, () => ({ activityId: sent.id, conversationId: where.conversationId, serviceUrl: where.serviceUrl, state }));
  return sent.id;
}
