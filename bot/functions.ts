import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { HttpDef, TimerDef } from '../functionDefs';
import './handlers';
import { sweepOutbox } from './outboxPump';
import { missingExpiry } from './tokenExpiry';
import { botLogger, botRuntime, MESSAGES_PATH, turnScope } from './teamsApp';

/**
 * The bot's functions for `registry.ts` (both hosts):
 *  - `teamsMessages`: POST /api/messages, the Bot Framework messaging endpoint. The Teams SDK's own
 *    route (auth included) runs inside it; the Functions host's key check is off (`anonymous`)
 *    because the Bot Connector authenticates with its JWT, which the SDK validates.
 *  - `teamsOutboxSender`: the sweep of the Teams sender (TEAMS_SENDER_SCHEDULE, every 2 s by default): scans the
 *    workshop outbox for every pending row and has the pump send them (outboxPump.ts). Rows are delivered on write
 *    (the notify activity wakes the pump in its own process); the sweep sends what that missed.
 */
const MAX_BODY = 1024 * 1024;

async function messages(request: HttpRequest, invocation: InvocationContext): Promise<HttpResponseInit> {
  const started = botRuntime();
  if (!started) return { status: 503, jsonBody: { error: 'The Teams bot is not configured: set BOT_APP_ID (and BOT_APP_SECRET or a managed identity) in the app settings.' } };
  const { adapter } = await started;
  const text = await request.text();
  if (text.length > MAX_BODY) return { status: 413, jsonBody: { error: 'Activity too large.' } };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { status: 400, jsonBody: { error: 'The request body is not a JSON activity.' } };
  }
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => (headers[k.toLowerCase()] = v));
  const noExpiry = missingExpiry(headers.authorization);
  if (noExpiry) {
    botLogger().warn({ type: (body as { type?: string }).type, error: noExpiry }, 'inbound activity refused');
    return { status: 401, jsonBody: { error: noExpiry } };
  }
  const res = await turnScope.run({ invocation }, () => adapter.dispatch(MESSAGES_PATH, { body, headers }));
  if (res.status >= 400) botLogger().warn({ status: res.status, type: (body as { type?: string }).type, error: res.body }, 'inbound activity refused');
  return res.body === undefined || res.body === null ? { status: res.status } : { status: res.status, jsonBody: res.body };
}

async function sender(_timer: Timer, invocation: InvocationContext): Promise<void> {
  if (!botRuntime()) return;
  await sweepOutbox(df.getClient(invocation), 10_000);
}

/** The app setting TEAMS_SENDER_SCHEDULE (default every 2 s, config.ts): `%NAME%` is resolved by the host, as Azure Functions does. */
export const TEAMS_SENDER_SCHEDULE = '%TEAMS_SENDER_SCHEDULE%';

export const botFunctions: Array<HttpDef | TimerDef> = [
  { kind: 'http', name: 'teamsMessages', route: 'messages', methods: ['POST'], authLevel: 'anonymous', durableClient: true, handler: messages },
  { kind: 'timer', name: 'teamsOutboxSender', schedule: TEAMS_SENDER_SCHEDULE, durableClient: true, handler: sender },
];
