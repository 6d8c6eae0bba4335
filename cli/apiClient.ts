import type { RunStatusResponse, StartRunBody, StartRunResponse } from '../http/runsApi';
import type { ParkingReport } from '../http/parkApi';
import type { OutboxMessage } from '../activities/notify';
import type { PhasePosition, JourneyPosition } from '../http/position';
import type { DecisionRow } from '../activities/recordDecision';
import type { AnswerReviewRecord, CheckEvidence, DisputeRecord } from '../machines/phaseMachine';
import { networkErrorCode, parseRetryAfter, RETRY_STATUSES, withRetry, type Retryable, type RetryPolicy } from './retry';

/**
 * The workshop API over HTTP, as the CLI and the rehearsal use it. Every call is a plain `fetch`
 * with the caller's key; a non-2xx answer becomes an ApiCallError carrying the status and the API's
 * message, so callers can tell "refused as a repeat" (409) from "wrong key" (401/403). With a `retry`
 * policy (cli/retry.ts) a call that got no answer, a 429 or a 5xx is tried again until the policy's
 * budget is spent; without one every failure is the caller's at once.
 */
export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown>,
    /** The answer's Retry-After, in ms (429 and 503). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

export interface ApiClientOptions {
  url: string;
  /** The instructor key, for instructor routes (and learner routes acting for a learner). */
  instructorKey?: string;
  /** Learner tokens by learner id, for learner routes. */
  learnerTokens?: Record<string, string>;
  fetch?: typeof fetch;
  /** Retry unanswered calls, 429 and 5xx (see cli/retry.ts); omitted = no retries. */
  retry?: RetryPolicy;
  /** Give up on one request after this long (ms); with a retry policy it is then tried again. Default 60 s. */
  timeoutMs?: number;
}

/** Which failures of a workshop API call are worth another try (the rest are answers). */
export function retryableApiFailure(err: unknown): Retryable | undefined {
  if (err instanceof ApiCallError) return RETRY_STATUSES.has(err.status) ? { reason: `HTTP ${err.status}`, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) } : undefined;
  if ((err as { name?: string }).name === 'TimeoutError') return { reason: 'no answer in time' };
  const code = networkErrorCode(err);
  return code ? { reason: code } : undefined;
}

export interface LearnerStatus {
  runId: string;
  learner: { learnerId: string; name: string; email?: string };
  /** Instructor views only. */
  runStatus?: string;
  journey: (JourneyPosition & { instanceId: string; runtimeStatus: string | null }) | null;
  position: PhasePosition | null;
  step: { title: string; prompt: string; hints: string[] } | null;
  /** Instructor views only: the cohort's view of the learner. */
  progress?: { phase: string; state: string; stepId: string | null; since: string; attempt?: number; helpCount: number } | null;
  environment: { resourceGroupName: string };
  /** Whose turn it is while the learner waits on a person: their dispute or answer is with the instructor. */
  withInstructor: 'dispute' | 'answer' | null;
  /** The instructor's decisions on the learner's disputes and answers. */
  decisions: DecisionRow[];
}

/** What `GET …/learners/{id}/evidence` shows: the failed checks side by side with the learner's note, the answer under review. */
export interface Evidence {
  runId: string;
  learnerId: string;
  position: { phase: string; stepId: string | null; stepKind: string | null; state: string; attempt: number };
  validation: { attempt: number; passed: boolean; failed: Array<{ checkId: string; message?: string; evidence: CheckEvidence[]; fix: string | null }> } | null;
  dispute: DisputeRecord | null;
  answerReview: (AnswerReviewRecord & { criteria: Array<{ id: string; description: string; metByKeywords: boolean }> }) | null;
  decisions: DecisionRow[];
}

export type Message = OutboxMessage & { text?: { title: string; prompt: string; hints: string[] } };

export class WorkshopApi {
  readonly url: string;
  private readonly opts: ApiClientOptions;

  constructor(opts: ApiClientOptions) {
    this.opts = opts;
    this.url = opts.url.replace(/\/+$/, '');
  }

  /** Retry from now on with `policy` (undefined: stop retrying). */
  setRetry(policy: RetryPolicy | undefined): void {
    this.opts.retry = policy;
  }

  setLearnerToken(learnerId: string, token: string): void {
    this.opts.learnerTokens = { ...this.opts.learnerTokens, [learnerId]: token };
  }

  call<T>(method: 'GET' | 'POST', path: string, body?: unknown, key?: string): Promise<T> {
    const once = () => this.callOnce<T>(method, path, body, key);
    return this.opts.retry ? withRetry(`${method} /api/${path}`, this.opts.retry, retryableApiFailure, once) : once();
  }

  private async callOnce<T>(method: 'GET' | 'POST', path: string, body?: unknown, key?: string): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers['x-api-key'] = key;
    const res = await (this.opts.fetch ?? fetch)(`${this.url}/api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000),
    });
    const text = await res.text();
    let data: Record<string, unknown> = {};
    try {
      data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      data = { error: text };
    }
    if (!res.ok) throw new ApiCallError(res.status, `${method} /api/${path}: HTTP ${res.status}: ${String(data.error ?? text)}`, data, parseRetryAfter(res.headers.get('retry-after')));
    return data as T;
  }

  private instructor(): string {
    if (!this.opts.instructorKey) throw new Error('No instructor key: pass --key or set WORKSHOP_INSTRUCTOR_KEY.');
    return this.opts.instructorKey;
  }

  /** The learner's own token when known, else the instructor key (acting for the learner). */
  private learner(learnerId: string): string {
    return this.opts.learnerTokens?.[learnerId] ?? this.instructor();
  }

  // ── instructor ──
  startRun(body: StartRunBody): Promise<StartRunResponse> {
    return this.call('POST', 'runs', body, this.instructor());
  }
  listRuns(): Promise<{ runs: Array<Record<string, unknown>> }> {
    return this.call('GET', 'runs', undefined, this.instructor());
  }
  runStatus(runId: string): Promise<RunStatusResponse> {
    return this.call('GET', `runs/${enc(runId)}`, undefined, this.instructor());
  }
  instructorMessages(runId: string, after = ''): Promise<{ messages: Message[] }> {
    return this.call('GET', `runs/${enc(runId)}/messages${after ? `?after=${encodeURIComponent(after)}` : ''}`, undefined, this.instructor());
  }
  runCommand(runId: string, action: 'pause' | 'resume' | 'broadcast' | 'extend' | 'end' | 'park' | 'unpark', body: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/${action}`, body, this.instructor());
  }
  /** The overnight park's state and figures (http/parkApi.ts). */
  parking(runId: string): Promise<ParkingReport> {
    return this.call('GET', `runs/${enc(runId)}/parking`, undefined, this.instructor());
  }
  learnerDetail(runId: string, learnerId: string): Promise<LearnerStatus & { messages: Message[] }> {
    return this.call('GET', `runs/${enc(runId)}/learners/${enc(learnerId)}`, undefined, this.instructor());
  }
  learnerToken(runId: string, learnerId: string): Promise<{ token: string }> {
    return this.call('GET', `runs/${enc(runId)}/learners/${enc(learnerId)}/token`, undefined, this.instructor());
  }
  resume(runId: string, learnerId: string, from: 'start' | 'failedStep' = 'failedStep'): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/resume`, { from }, this.instructor());
  }
  skip(runId: string, learnerId: string, body: { phase?: string; reason?: string } = {}): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/skip`, body, this.instructor());
  }
  review(runId: string, learnerId: string, decision: 'approve' | 'changes', comment?: string, round?: number): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/review`, { decision, ...(comment ? { comment } : {}), ...(round ? { round } : {}) }, this.instructor());
  }
  answerHelp(runId: string, learnerId: string, answer: string): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/help-answer`, { answer }, this.instructor());
  }
  extendLearner(runId: string, learnerId: string, minutes: number): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/extend`, { minutes }, this.instructor());
  }
  decideDispute(runId: string, learnerId: string, body: { decision: 'override' | 'recheck' | 'return'; reason?: string; attempt?: number; by?: string }): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/dispute-decision`, body, this.instructor());
  }
  decideAnswer(runId: string, learnerId: string, body: { decision: 'accept' | 'return'; comment: string; round?: number; by?: string }): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/answer-decision`, body, this.instructor());
  }
  scenarios(): Promise<{ scenarios: Array<{ id: string; title: string }>; problems: Array<{ file: string; problems: string[] }> }> {
    return this.call('GET', 'scenarios', undefined, this.instructor());
  }

  // ── learner ──
  answer(runId: string, learnerId: string, answer: string, stepId?: string): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/answer`, { answer, ...(stepId ? { stepId } : {}) }, this.learner(learnerId));
  }
  done(runId: string, learnerId: string, stepId?: string): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/done`, stepId ? { stepId } : {}, this.learner(learnerId));
  }
  submit(runId: string, learnerId: string, name: string, uri: string, stepId?: string): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/submit`, { name, uri, ...(stepId ? { stepId } : {}) }, this.learner(learnerId));
  }
  help(runId: string, learnerId: string, message: string): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/help`, { message }, this.learner(learnerId));
  }
  /** "I did it": send the last failed validation of the current step to the instructor. */
  dispute(runId: string, learnerId: string, note: string, opts: { stepId?: string; attempt?: number } = {}): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/dispute`, { note, ...opts }, this.learner(learnerId));
  }
  /** Send an answer the keyword criteria refused to the instructor. */
  reviewAnswer(runId: string, learnerId: string, answer: string, opts: { note?: string; stepId?: string } = {}): Promise<Record<string, unknown>> {
    return this.call('POST', `runs/${enc(runId)}/learners/${enc(learnerId)}/review-answer`, { answer, ...opts }, this.learner(learnerId));
  }
  evidence(runId: string, learnerId: string): Promise<Evidence> {
    return this.call('GET', `runs/${enc(runId)}/learners/${enc(learnerId)}/evidence`, undefined, this.learner(learnerId));
  }
  learnerStatus(runId: string, learnerId: string): Promise<LearnerStatus> {
    return this.call('GET', `runs/${enc(runId)}/learners/${enc(learnerId)}/status`, undefined, this.learner(learnerId));
  }
  learnerMessages(runId: string, learnerId: string, after = ''): Promise<{ messages: Message[] }> {
    return this.call('GET', `runs/${enc(runId)}/learners/${enc(learnerId)}/messages${after ? `?after=${encodeURIComponent(after)}` : ''}`, undefined, this.learner(learnerId));
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
