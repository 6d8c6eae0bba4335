import type { IncomingMessage, ServerResponse } from 'node:http';
import { TERMINAL_STATUSES, type RuntimeStatus } from './history';
import { EngineError, type DurableEngine } from './engine';
import type { InstanceQuery } from './store';

/**
 * The Durable Functions HTTP management API (`/runtime/webhooks/durabletask/...`) with Azure's routes,
 * status codes and bodies, so `DurableClient` (pointed here through `rpcBaseUrl`) and curl scripts
 * written against Azure work unchanged.
 */

export const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask/';
/** Request bodies past this are refused before they are parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;
const STATUSES: RuntimeStatus[] = ['Pending', 'Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Terminated', 'Suspended'];

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit, so the client gets the 413 instead of a reset connection.
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  if (size > limit) throw new HttpError(413, `The request body is ${size} bytes; the limit is ${limit} bytes.`);
  return Buffer.concat(chunks).toString('utf8');
}

/** Validate that a body is JSON (or empty) and return it as JSON text. */
export function jsonBody(text: string, what: string): string | undefined {
  if (text.trim() === '') return undefined;
  try {
    JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `${what} is not valid JSON: ${(err as Error).message}. Send a JSON value, e.g. {"approved": true} or "text in quotes".`);
  }
  return text;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

/**
 * Path segments, percent-decoded. A malformed escape (`%E0%A4%A`, `%ZZ`) is the client's mistake: 400
 * naming the segment, before any function (and its key check) runs.
 */
export function decodePathSegments(path: string): string[] {
  return path.split('/').map(decodePathSegment);
}

export function decodePathSegment(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    throw new HttpError(400, `The path segment "${seg}" has malformed percent-encoding: every % must start a UTF-8 byte written as %XX (e.g. %2F for "/").`);
  }
}

/** Durable Functions instance ids: 1-256 characters, none of / \ # ? or a control character (Azure Storage keys). */
const INSTANCE_ID = /^[^/\\#?\u0000-\u001f\u007f-\u009f]{1,256}$/;

/** An id no instance can have is a bad request, not a lookup (the store cannot even be asked about it). */
export function checkInstanceId(id: string): void {
  if (!INSTANCE_ID.test(id)) throw new HttpError(400, `Instance id "${id}" is not valid: use 1-256 characters without / \\ # ? or control characters.`);
}

function parseDate(v: string | null, name: string): Date | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new HttpError(400, `Query parameter ${name}="${v}" is not an ISO-8601 date.`);
  return d;
}

function parseQuery(url: URL, continuationToken?: string): InstanceQuery {
  const statusParam = url.searchParams.get('runtimeStatus');
  const runtimeStatus = statusParam
    ? statusParam.split(',').map((s) => {
        const match = STATUSES.find((x) => x.toLowerCase() === s.trim().toLowerCase());
        if (!match) throw new HttpError(400, `runtimeStatus "${s}" is not one of ${STATUSES.join(', ')}.`);
        return match;
      })
    : undefined;
  const topParam = url.searchParams.get('top');
  const top = topParam ? Number(topParam) : undefined;
  if (top !== undefined && (!Number.isInteger(top) || top < 1 || top > 1000)) throw new HttpError(400, `top="${topParam}" must be a whole number from 1 to 1000.`);
  return {
    runtimeStatus,
    createdTimeFrom: parseDate(url.searchParams.get('createdTimeFrom'), 'createdTimeFrom'),
    createdTimeTo: parseDate(url.searchParams.get('createdTimeTo'), 'createdTimeTo'),
    instanceIdPrefix: url.searchParams.get('instanceIdPrefix') ?? undefined,
    top,
    continuationToken,
  };
}

export function managementUrls(baseUrl: string, hubName: string, instanceId: string): Record<string, string> {
  const inst = `${baseUrl}${WEBHOOK_PREFIX}instances/${encodeURIComponent(instanceId)}`;
  const q = `taskHub=${hubName}&connection=Storage&code=`;
  return {
    id: instanceId,
    statusQueryGetUri: `${inst}?${q}`,
    sendEventPostUri: `${inst}/raiseEvent/{eventName}?${q}`,
    terminatePostUri: `${inst}/terminate?reason={text}&${q}`,
    rewindPostUri: `${inst}/rewind?reason={text}&${q}`,
    purgeHistoryDeleteUri: `${inst}?${q}`,
    suspendPostUri: `${inst}/suspend?reason={text}&${q}`,
    resumePostUri: `${inst}/resume?reason={text}&${q}`,
  };
}

/** The client binding data the Functions host gives `df.getClient(context)`, pointing at this host. */
export function durableClientInput(baseUrl: string, hubName: string): Record<string, unknown> {
  const placeholder = 'INSTANCEID';
  const urls = managementUrls(baseUrl, hubName, placeholder);
  return {
    taskHubName: hubName,
    creationUrls: {
      createNewInstancePostUri: `${baseUrl}${WEBHOOK_PREFIX}orchestrators/{functionName}[/{instanceId}]?code=`,
      createAndWaitOnNewInstancePostUri: `${baseUrl}${WEBHOOK_PREFIX}orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=`,
    },
    managementUrls: urls,
    baseUrl: `${baseUrl}${WEBHOOK_PREFIX.slice(0, -1)}`,
    requiredQueryStringParameters: 'code=',
    rpcBaseUrl: `${baseUrl}${WEBHOOK_PREFIX}`,
  };
}

function statusCodeFor(status: RuntimeStatus): number {
  if (status === 'Completed') return 200;
  if (status === 'Failed' || status === 'Terminated') return 400;
  return 202;
}

/** One management request: what every route reads. */
interface ManagementRequest {
  engine: DurableEngine;
  baseUrl: string;
  hubName: string;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  method: string;
  parts: string[];
}

/** Handle one management API request; `path` is the part after the webhook prefix. */
export async function handleManagement(engine: DurableEngine, baseUrl: string, hubName: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname.slice(WEBHOOK_PREFIX.length).replace(/\/+$/, '');
  const method = (req.method ?? 'GET').toUpperCase();
  try {
    const r: ManagementRequest = { engine, baseUrl, hubName, req, res, url, method, parts: decodePathSegments(path) };
    const { parts } = r;
    if (parts[0] === 'orchestrators') return await startOrchestration(r);
    if (parts[0] !== 'instances') throw new HttpError(404, `Unknown management route "${url.pathname}". See README: Durable management API.`);
    if (parts.length === 1 || parts[1] === '') return await manyInstances(r);
    checkInstanceId(parts[1]);
    if (!parts[2]) return await oneInstance(r, parts[1]);
    return await instanceOperation(r, parts[1], parts[2]);
  } catch (err) {
    if (err instanceof HttpError || err instanceof EngineError) {
      sendError(res, err.status, err.message);
      return;
    }
    throw err;
  }
}

/** POST orchestrators/{name}[/{instanceId}] */
async function startOrchestration({ engine, baseUrl, hubName, req, res, method, parts }: ManagementRequest): Promise<void> {
  if (method !== 'POST') throw new HttpError(405, 'Start an orchestration with POST orchestrators/{functionName}[/{instanceId}].');
  if (!parts[1] || parts.length > 3) throw new HttpError(404, 'Use POST orchestrators/{functionName}[/{instanceId}].');
  if (parts[2] !== undefined) checkInstanceId(parts[2]);
  const input = jsonBody(await readBody(req), 'The orchestration input');
  const id = await engine.startNew(parts[1], { instanceId: parts[2], input });
  const links = managementUrls(baseUrl, hubName, id);
  sendJson(res, 202, links, { Location: links.statusQueryGetUri, 'Retry-After': '10' });
}

/** GET/DELETE instances (query / purge many) */
async function manyInstances({ engine, req, res, url, method }: ManagementRequest): Promise<void> {
  const q = parseQuery(url, req.headers['x-ms-continuation-token'] as string | undefined);
  if (method === 'GET') {
    const { items, continuationToken } = await engine.list(q);
    const showInput = url.searchParams.get('showInput') !== 'false';
    sendJson(res, 200, showInput ? items : items.map((i) => ({ ...i, input: null })), continuationToken ? { 'x-ms-continuation-token': continuationToken } : {});
    return;
  }
  if (method === 'DELETE') {
    if (q.runtimeStatus?.some((s) => !TERMINAL_STATUSES.includes(s))) {
      throw new HttpError(400, `Only ${TERMINAL_STATUSES.join(', ')} instances can be purged.`);
    }
    const instancesDeleted = await engine.purgeMany(q);
    if (instancesDeleted === 0) sendJson(res, 404, { instancesDeleted: 0 });
    else sendJson(res, 200, { instancesDeleted });
    return;
  }
  throw new HttpError(405, `${method} is not supported on instances.`);
}

/** GET/DELETE instances/{id} (status / purge) */
async function oneInstance({ engine, res, url, method }: ManagementRequest, instanceId: string): Promise<void> {
  if (method === 'GET') {
    const status = await engine.getStatus(instanceId, {
      showHistory: url.searchParams.get('showHistory') === 'true',
      showHistoryOutput: url.searchParams.get('showHistoryOutput') === 'true',
      showInput: url.searchParams.get('showInput') !== 'false',
    });
    if (!status) throw new HttpError(404, `No orchestration instance with id "${instanceId}" exists.`);
    sendJson(res, statusCodeFor(status.runtimeStatus), status);
    return;
  }
  if (method === 'DELETE') {
    const instancesDeleted = await engine.purge(instanceId);
    sendJson(res, 200, { instancesDeleted });
    return;
  }
  throw new HttpError(405, `${method} is not supported on instances/{id}.`);
}

/** POST instances/{id}/{raiseEvent/{name} | terminate | suspend | resume | rewind} */
async function instanceOperation({ engine, req, res, url, method, parts }: ManagementRequest, instanceId: string, op: string): Promise<void> {
  if (method !== 'POST') throw new HttpError(405, `Use POST for instances/{id}/${op}.`);
  const reason = url.searchParams.get('reason') ?? undefined;
  switch (op) {
    case 'raiseEvent': {
      if (!parts[3]) throw new HttpError(400, 'Name the event: POST instances/{id}/raiseEvent/{eventName}.');
      const data = jsonBody(await readBody(req), `The data for event "${parts[3]}"`);
      const key = req.headers['idempotency-key'];
      await engine.raiseEvent(instanceId, parts[3], data, typeof key === 'string' ? key : undefined);
      break;
    }
    case 'terminate':
      await engine.terminate(instanceId, reason);
      break;
    case 'suspend':
      await engine.suspend(instanceId, reason);
      break;
    case 'resume':
      await engine.resume(instanceId, reason);
      break;
    case 'rewind':
      try {
        await engine.rewind(instanceId, reason);
      } catch (err) {
        // DurableClient.rewind makes its Error from the body itself (`new Error(response.data)`): Azure sends
        // a JSON string there, so an object would read "[object Object]".
        if (!(err instanceof EngineError)) throw err;
        const azure = err.status === 412 ? 'The rewind operation is only supported on failed orchestration instances. ' : '';
        sendJson(res, err.status, `${azure}${err.message}`);
        return;
      }
      break;
    default:
      throw new HttpError(404, `Unknown operation "${op}". Use raiseEvent, terminate, suspend, resume or rewind.`);
  }
  res.writeHead(202).end();
}
