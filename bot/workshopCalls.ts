import { HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { learnerToken } from '../http/apiAuth';
import { route } from '../http/apiKit';
import { learnersHandlers } from '../http/learnersApi';
import { runsHandlers } from '../http/runsApi';
import { apiKeys } from '../http/workshopService';

/**
 * The bot acts through the workshop API's own handlers, in process: a Teams command becomes the
 * same request the CLI would send (`POST /api/runs/{runId}/broadcast`, `POST …/learners/{id}/answer`)
 * and runs the same code — validation, grading, "nothing was changed" refusals, the role check of
 * the API key. The bot decides *who* the Teams user is (instructor of the run, or which learner);
 * it then calls with the instructor key or that learner's own learner token, so a learner's Teams
 * message can never reach an instructor route even if the bot's own check were wrong (403 there too).
 */
export type ApiCaller = { role: 'instructor' } | { role: 'learner'; runId: string; learnerId: string };

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T & { error?: string };
}

type Target =
  | { kind: 'runs'; method: 'GET' | 'POST' }
  | { kind: 'runStatus'; runId: string }
  | { kind: 'runAction'; runId: string; action: string; method: 'GET' | 'POST' }
  | { kind: 'learner'; runId: string; learnerId: string; action?: string; method: 'GET' | 'POST' }
  | { kind: 'scenarios' };

const handlers = {
  runs: route('workshopRuns', runsHandlers.runs),
  runStatus: route('workshopRunStatus', runsHandlers.runStatus),
  runAction: route('workshopRunAction', runsHandlers.runAction),
  learner: route('workshopLearner', learnersHandlers.learnerAction),
  scenarios: route('workshopScenarios', (request) => runsHandlers.scenarios(request)),
};

function keyFor(caller: ApiCaller): string {
  const keys = apiKeys();
  if (!keys.instructorKey || !keys.learnerKey) throw new Error('The workshop API keys are not configured (INSTRUCTOR_API_KEY, LEARNER_API_KEY); the bot acts through the API and needs them.');
  return caller.role === 'instructor' ? keys.instructorKey : learnerToken(keys.learnerKey, caller.runId, caller.learnerId);
}

export async function callWorkshopApi<T = Record<string, unknown>>(invocation: InvocationContext, caller: ApiCaller, target: Target, body?: unknown): Promise<ApiAnswer<T>> {
  let path: string;
  let params: Record<string, string> = {};
  let method: string;
  switch (target.kind) {
    case 'runs':
      path = '/api/runs';
      method = target.method;
      break;
    case 'runStatus':
      path = `/api/runs/${target.runId}`;
      params = { runId: target.runId };
      method = 'GET';
      break;
    case 'runAction':
      path = `/api/runs/${target.runId}/${target.action}`;
      params = { runId: target.runId, action: target.action };
      method = target.method;
      break;
    case 'learner':
      path = `/api/runs/${target.runId}/learners/${target.learnerId}${target.action ? `/${target.action}` : ''}`;
      params = { runId: target.runId, learnerId: target.learnerId, ...(target.action ? { action: target.action } : {}) };
      method = target.method;
      break;
    case 'scenarios':
      path = '/api/scenarios';
      method = 'GET';
      break;
  }
  const request = new HttpRequest({
    method,
    url: `http://bot.internal${path}`,
    headers: { 'x-api-key': keyFor(caller), 'content-type': 'application/json' },
    params,
    body: body === undefined ? undefined : { string: JSON.stringify(body) },
  });
  const res: HttpResponseInit = await handlers[target.kind](request, invocation);
  return { status: res.status ?? 200, body: (res.jsonBody ?? {}) as ApiAnswer<T>['body'] };
}
