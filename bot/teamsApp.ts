import { AsyncLocalStorage } from 'node:async_hooks';
import type { InvocationContext } from '@azure/functions';
import { cloudFromName, withOverrides, type CloudEnvironment } from '@microsoft/teams.api';
import { App, type HttpRouteHandler, type IHttpServerAdapter, type IHttpServerRequest, type IHttpServerResponse } from '@microsoft/teams.apps';
import type { ILogger, LogLevel } from '@microsoft/teams.common';
import pino, { type Logger } from 'pino';
import { botSettings, type BotSettings } from './settings';

/**
 * The Teams SDK `App`, mounted on the Functions host rather than on its own Express server: the
 * `httpServerAdapter` option hands us the SDK's messaging route (`registerRoute('POST',
 * '/api/messages', handler)`), and the `/api/messages` HTTP function (messagesFunction.ts) calls it
 * with the request's body and headers. Everything in between — Bot Framework JWT validation against
 * the cloud's OpenID keys, the activity pipeline, invoke responses — is the SDK's own code.
 *
 * Pointed at the local connector emulator with configuration only: `cloud` (openIdMetadataUrl and
 * tokenIssuer are the emulator's) for inbound validation, and the `token` option for outbound calls
 * (a client-credentials grant at the emulator's token endpoint instead of MSAL against Entra ID).
 */
export const MESSAGES_PATH = '/api/messages';

/** The adapter that lets our own host deliver requests to the SDK's routes. */
export class FunctionsHostAdapter implements IHttpServerAdapter {
  private readonly routes = new Map<string, HttpRouteHandler>();
  registerRoute(method: 'POST', path: string, handler: HttpRouteHandler): void {
    this.routes.set(`${method} ${path}`, handler);
  }
  async dispatch(path: string, request: IHttpServerRequest): Promise<IHttpServerResponse> {
    const handler = this.routes.get(`POST ${path}`);
    if (!handler) return { status: 404, body: { error: `The Teams app serves no route ${path}.` } };
    return handler(request);
  }
}

/** What a bot handler may need from the Functions invocation it runs in (the DurableClient binding). */
export interface TurnScope {
  invocation: InvocationContext;
}
export const turnScope = new AsyncLocalStorage<TurnScope>();

let botLog: Logger | undefined;
/** An error as a log field: axios errors carry whole requests and tokens, keep what helps. */
export function errInfo(err: unknown): Record<string, unknown> {
  const e = err as { message?: string; response?: { status?: number; data?: unknown }; config?: { method?: string; url?: string } };
  return { message: e?.message ?? String(err), ...(e?.response ? { status: e.response.status, data: e.response.data } : {}), ...(e?.config?.url ? { request: `${e.config.method?.toUpperCase()} ${e.config.url}` } : {}) };
}

export function botLogger(): Logger {
  botLog ??= pino({ level: process.env.LOG_LEVEL ?? 'info' }).child({ component: 'teamsBot' });
  return botLog;
}

/** The SDK's logger interface over pino, so SDK lines are structured like ours. */
function sdkLogger(log: Logger, name = 'teams'): ILogger {
  const line = (level: 'debug' | 'info' | 'warn' | 'error' | 'trace', msg: unknown[]): void => {
    const err = msg.find((m) => m instanceof Error);
    const text = msg
      .filter((m) => !(m instanceof Error))
      .map((m) => (typeof m === 'string' ? m : JSON.stringify(m)))
      .join(' ');
    log[level]({ sdk: name, ...(err ? { err: errInfo(err) } : {}) }, text.length > 2000 ? `${text.slice(0, 2000)}…` : text);
  };
  return {
    debug: (...m) => line('debug', m),
    info: (...m) => line('debug', m), // the SDK's info lines are per-activity chatter
    warn: (...m) => line('warn', m),
    error: (...m) => line('error', m),
    trace: (...m) => line('trace', m),
    log: (level: LogLevel, ...m) => line(level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'debug', m),
    child: (child: string) => sdkLogger(log, `${name}/${child}`),
  };
}

function cloudOf(s: BotSettings): CloudEnvironment {
  const base = cloudFromName(s.cloud);
  if (!s.openIdMetadataUrl) return base;
  return withOverrides(base, { openIdMetadataUrl: s.openIdMetadataUrl, tokenIssuer: s.tokenIssuer });
}

/** Client-credentials grant against a local token endpoint (the emulator's); cached until near expiry. */
function localTokenProvider(s: BotSettings): (scope: string | string[]) => Promise<string> {
  let cached: { token: string; until: number } | undefined;
  return async (scope) => {
    if (cached && cached.until > Date.now()) return cached.token;
    const res = await fetch(s.tokenEndpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: s.appId, client_secret: s.appSecret!, scope: Array.isArray(scope) ? scope.join(' ') : scope }).toString(),
    });
    const body = (await res.json()) as { access_token?: string; expires_in?: number; error_description?: string };
    if (!res.ok || !body.access_token) throw new Error(`Token endpoint ${s.tokenEndpoint} refused the bot's credentials: HTTP ${res.status} ${body.error_description ?? ''}`);
    cached = { token: body.access_token, until: Date.now() + ((body.expires_in ?? 3600) - 300) * 1000 };
    return cached.token;
  };
}

export interface BotRuntime {
  app: App;
  adapter: FunctionsHostAdapter;
  settings: BotSettings;
}

let current: { key: string; runtime: Promise<BotRuntime> } | undefined;
type Setup = (app: App, settings: BotSettings) => void;
let setupHandlers: Setup | undefined;

/** handlers.ts registers the bot's routes here (kept apart so this file has no workshop imports). */
export function onAppCreated(setup: Setup): void {
  setupHandlers = setup;
}

/**
 * The App for the current settings (created once; again if the settings change, e.g. a test that
 * starts a new emulator). Undefined when BOT_APP_ID is not set.
 */
export function botRuntime(): Promise<BotRuntime> | undefined {
  const settings = botSettings();
  if (!settings) return undefined;
  const key = JSON.stringify(settings);
  if (current?.key === key) return current.runtime;
  const runtime = (async () => {
    const adapter = new FunctionsHostAdapter();
    const local = !!settings.tokenEndpoint;
    const app = new App({
      clientId: settings.appId,
      tenantId: settings.tenantId,
      ...(local ? { token: localTokenProvider(settings) } : settings.appSecret ? { clientSecret: settings.appSecret } : { managedIdentityClientId: settings.managedIdentityClientId }),
      httpServerAdapter: adapter,
      messagingEndpoint: MESSAGES_PATH,
      serviceUrl: settings.serviceUrl,
      cloud: cloudOf(settings),
      dangerouslyAllowUnauthenticatedRequests: false,
      logger: sdkLogger(botLogger()),
    });
    setupHandlers?.(app, settings);
    await app.initialize();
    return { app, adapter, settings };
  })();
  current = { key, runtime };
  runtime.catch(() => {
    if (current?.runtime === runtime) current = undefined;
  });
  return runtime;
}
