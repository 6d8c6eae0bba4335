import type { DashboardRun, RunListItem } from '../dashboardTypes';
import { credentialHeaders } from './teamsHost';

/**
 * The page's calls: the dashboard read model (conditional GET) and the workshop API's instructor
 * routes for actions. Same origin as the page, so no CORS and relative URLs: the page is served
 * at <host>/api/tab/, the API at <host>/api/.
 */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const API = new URL('../', location.href.replace(/[?#].*$/, '')).pathname; // "/api/" under the page's "/api/tab/"

async function call<T>(key: string, method: 'GET' | 'POST', path: string, body?: unknown, extra: Record<string, string> = {}): Promise<{ status: number; data: T | null; etag: string | null }> {
  let res: Response;
  try {
    res = await fetch(`${API}${path}`, {
      method,
      headers: { ...credentialHeaders(key), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiProblem(0, `The workshop app cannot be reached (${(err as Error).message}).`);
  }
  if (res.status === 304) return { status: 304, data: null, etag: res.headers.get('etag') };
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text.slice(0, 300) };
  }
  if (!res.ok) {
    const message = (data as { error?: string } | null)?.error ?? `HTTP ${res.status}`;
    throw new ApiProblem(res.status, message);
  }
  return { status: res.status, data: data as T, etag: res.headers.get('etag') };
}

export function listRuns(key: string): Promise<RunListItem[]> {
  return call<{ runs: RunListItem[] }>(key, 'GET', 'runs').then((r) => r.data?.runs ?? []);
}

/**
 * The run's read model; `null` when it has not changed since `etag`. With an `etag` the answer may be a
 * delta against it (`run.delta` set: only the learners that changed) — `applyDelta` in model.ts merges it.
 */
export async function loadDashboard(key: string, runId: string, etag: string | null): Promise<{ run: DashboardRun | null; etag: string | null }> {
  const since = etag ? `?since=${encodeURIComponent(etag)}` : '';
  const r = await call<DashboardRun>(key, 'GET', `dashboard/runs/${encodeURIComponent(runId)}${since}`, undefined, etag ? { 'if-none-match': etag } : {});
  return { run: r.data, etag: r.etag };
}

const learnerPath = (runId: string, learnerId: string, action: string) => `runs/${encodeURIComponent(runId)}/learners/${encodeURIComponent(learnerId)}/${action}`;

export const actions = {
  resume: (key: string, runId: string, learnerId: string, from: 'failedStep' | 'start' = 'failedStep') => call(key, 'POST', learnerPath(runId, learnerId, 'resume'), { from }),
  approve: (key: string, runId: string, learnerId: string, round: number | null, comment?: string) =>
    call(key, 'POST', learnerPath(runId, learnerId, 'review'), { decision: 'approve', ...(comment ? { comment } : {}), ...(round ? { round } : {}) }),
  requestChanges: (key: string, runId: string, learnerId: string, round: number | null, comment: string) =>
    call(key, 'POST', learnerPath(runId, learnerId, 'review'), { decision: 'changes', comment, ...(round ? { round } : {}) }),
  answerHelp: (key: string, runId: string, learnerId: string, answer: string) => call(key, 'POST', learnerPath(runId, learnerId, 'help-answer'), { answer }),
  extendLearner: (key: string, runId: string, learnerId: string, minutes: number, by: string) => call(key, 'POST', learnerPath(runId, learnerId, 'extend'), { minutes, by }),
  /** A disputed check: mark passed (reason required), re-run, or return with a comment (`reason` carries it). */
  decideDispute: (key: string, runId: string, learnerId: string, decision: 'override' | 'recheck' | 'return', attempt: number, by: string, reason?: string) =>
    call(key, 'POST', learnerPath(runId, learnerId, 'dispute-decision'), { decision, attempt, by, ...(reason ? { reason } : {}) }),
  /** An answer sent for review: accept (the criteria met by a person) or return, with a comment either way. */
  decideAnswer: (key: string, runId: string, learnerId: string, decision: 'accept' | 'return', round: number, by: string, comment: string) =>
    call(key, 'POST', learnerPath(runId, learnerId, 'answer-decision'), { decision, round, by, comment }),
  extendRun: (key: string, runId: string, minutes: number, by: string) => call(key, 'POST', `runs/${encodeURIComponent(runId)}/extend`, { minutes, by }),
};
