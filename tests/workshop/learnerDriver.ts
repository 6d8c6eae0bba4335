import { ApiCallError, type LearnerStatus, type WorkshopApi } from '../../cli/apiClient';
import { loadCliPack } from '../../cli/cliPacks';
import type { QuestionStep, ScenarioPack } from '../../scenarios/schema';

/**
 * A test's hand on one learner: wait for a position, and answer / submit / say done for the
 * current step the way the pack asks. Uses the learner API only.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function answerFor(pack: ScenarioPack, step: QuestionStep): string {
  const words = [`${pack.businessContext.organisation}: ${step.answer.criteria.map((c) => c.keywords[0]).join(', ')}.`];
  while (words.join(' ').split(/\s+/).length < step.answer.minWords + 3) words.push('This answer is grounded in the business context and its constraints.');
  return words.join(' ');
}

export class LearnerDriver {
  private constructor(
    readonly api: WorkshopApi,
    readonly runId: string,
    readonly learnerId: string,
    readonly pack: ScenarioPack,
  ) {}

  /** Play the instructor too: approve the learner's reviews while walking (the api needs the instructor key). */
  approveReviews = true;

  static async create(api: WorkshopApi, runId: string, learnerId: string, packId: string): Promise<LearnerDriver> {
    return new LearnerDriver(api, runId, learnerId, (await loadCliPack(packId)).pack);
  }

  status(): Promise<LearnerStatus> {
    return this.api.learnerStatus(this.runId, this.learnerId);
  }

  /** Wait until the learner is at `stepId` in `state` (default: waiting for the learner). */
  at(stepId: string, state = 'awaitingLearner', timeoutMs = 60_000): Promise<LearnerStatus> {
    return until(`${this.learnerId} at ${stepId} (${state})`, async () => {
      const s = await this.status();
      return s.position?.stepId === stepId && s.position.state === state ? s : undefined;
    }, timeoutMs);
  }

  /** Act on the step `s` shows (default: the current one) if it is the learner's turn; returns the step acted on. */
  async actOnce(seen?: LearnerStatus): Promise<string | undefined> {
    const s = seen ?? (await this.status());
    const p = s.position;
    if (!p?.stepId) return undefined;
    const step = this.pack.phases.flatMap((ph) => ph.steps).find((x) => x.id === p.stepId);
    if (!step) return undefined;
    try {
      if (p.state === 'awaitingLearner' && step.kind === 'question') await this.api.answer(this.runId, this.learnerId, answerFor(this.pack, step), step.id);
      else if (p.state === 'awaitingLearner' && step.kind === 'deliverable') await this.api.submit(this.runId, this.learnerId, step.title, `https://example.com/${this.learnerId}/${step.id}`, step.id);
      else if ((p.state === 'awaitingLearner' && step.kind === 'task') || p.state === 'awaitingFix') await this.api.done(this.runId, this.learnerId, step.id);
      else if (p.state === 'changesRequested') await this.api.submit(this.runId, this.learnerId, `${step.title} v2`, `https://example.com/${this.learnerId}/${step.id}/v2`, step.id);
      else if (p.state === 'awaitingReview' && this.approveReviews) await this.api.review(this.runId, this.learnerId, 'approve', 'ok', p.round ?? undefined);
      else return undefined;
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 409) return undefined; // moved on meanwhile
      throw err;
    }
    return step.id;
  }

  /** Walk until the learner reaches `stepId` (acting on every step before it), or the predicate holds. */
  async walkTo(stepId: string, state = 'awaitingLearner', timeoutMs = 90_000): Promise<LearnerStatus> {
    const acted = new Set<string>();
    return until(`${this.learnerId} to walk to ${stepId}`, async () => {
      const s = await this.status();
      const p = s.position;
      if (p?.stepId === stepId && p.state === state) return s;
      const key = `${p?.phase}|${p?.attempt}|${p?.stepId}|${p?.state}|${p?.stepAttempt}`;
      if (!acted.has(key) && p?.stepId !== stepId) {
        const did = await this.actOnce(s);
        if (did) acted.add(key);
      }
      return undefined;
    }, timeoutMs, 150);
  }

  /** Walk to the end of the workshop (the journey completed). */
  async finish(timeoutMs = 90_000): Promise<LearnerStatus> {
    const acted = new Set<string>();
    return until(`${this.learnerId} to finish`, async () => {
      const s = await this.status();
      if (s.journey?.state === 'completed') return s;
      const p = s.position;
      const key = `${p?.phase}|${p?.attempt}|${p?.stepId}|${p?.state}|${p?.stepAttempt}`;
      if (!acted.has(key) && (await this.actOnce(s))) acted.add(key);
      return undefined;
    }, timeoutMs, 150);
  }
}
