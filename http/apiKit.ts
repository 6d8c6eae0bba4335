import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import pino, { type Logger } from 'pino';
import type { z } from 'zod';

/**
 * The small kit every workshop API handler uses: a typed error that becomes the HTTP answer, body
 * parsing that says what was wrong and where, and one wrapper that turns both into responses.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Issue {
  /** Where in the body, e.g. `roster[3].email`; `(body)` for the body as a whole. */
  path: string;
  message: string;
}

export function issuePath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(body)';
}

export function zodIssues(error: z.ZodError): Issue[] {
  return error.issues.map((i) => ({ path: issuePath(i.path), message: i.message }));
}

/** Parse the JSON body with `schema`; 400 names every problem with its place in the body. */
export async function readBody<S extends z.ZodType>(request: HttpRequest, schema: S): Promise<z.infer<S>> {
  const text = await request.text();
  let data: unknown = {};
  if (text.trim() !== '') {
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new ApiError(400, `The request body is not valid JSON: ${(err as Error).message}.`);
    }
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error);
    throw new ApiError(400, `The request body is not valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}.`, { issues });
  }
  return parsed.data;
}

/** Route parameters come from the URL; check them like a body. */
export function param(request: HttpRequest, name: string, pattern: RegExp, what: string): string {
  const value = request.params[name];
  if (!value || !pattern.test(value)) throw new ApiError(400, `"${value ?? ''}" in the URL is not ${what}.`);
  return value;
}

let log: Logger | undefined;
export function apiLogger(): Logger {
  log ??= pino({ level: process.env.LOG_LEVEL ?? 'info' }).child({ component: 'workshopApi' });
  return log;
}

const BROKEN_CONNECTION = ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE'];

/** A storage error that means "not now" rather than "wrong": the embedded store's StoreUnavailableError, or the service's 503. */
function unavailable(err: unknown): boolean {
  const e = err as { status?: number; statusCode?: number; name?: string; message?: string };
  // The durable client reports the task hub's 503 only in its message ("unexpected status code: 503").
  // A connection to the task hub that broke (reset, refused, timed out) is "not now" too: the caller may retry.
  return (
    e?.name === 'StoreUnavailableError' ||
    e?.status === 503 ||
    e?.statusCode === 503 ||
    /unexpected status code: 503\b/.test(e?.message ?? '') ||
    BROKEN_CONNECTION.includes((e as { code?: string } | undefined)?.code ?? '')
  );
}

/** The store's own words when the error carries them (the durable client wraps them in JSON). */
function storeMessage(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  const inner = /Details: (\{.*\})$/s.exec(message);
  if (inner) {
    try {
      const parsed = JSON.parse(inner[1]!) as { error?: unknown; message?: unknown };
      if (typeof parsed.error === 'string') return parsed.error;
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON after all: the whole message says it
    }
  }
  return message;
}

/** Wrap a handler: ApiError → its status + `{ error, ...details }`; anything else → 500, logged. */
export function route(name: string, handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (err) {
      if (err instanceof ApiError) return { status: err.status, jsonBody: { error: err.message, ...err.details } };
      if (unavailable(err)) {
        // The store could not take the write (disk full, I/O error, throttled): nothing was done; the client may retry.
        apiLogger().warn({ err, route: name, url: request.url }, 'store unavailable');
        return { status: 503, headers: { 'retry-after': '5' }, jsonBody: { error: storeMessage(err), retryable: true } };
      }
      apiLogger().error({ err, route: name, url: request.url }, 'workshop API request failed');
      return { status: 500, jsonBody: { error: `Internal error in ${name}: ${(err as Error).message}` } };
    }
  };
}
