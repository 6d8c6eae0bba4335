/**
 * The local Azure Resource Manager: a loopback HTTPS server that speaks the part of the ARM REST API
 * the activities use, with ARM's api-versions, status codes, LRO headers and error envelope, so the
 * real `@azure/arm-resources` and `@azure/arm-resourcesdeployments` clients run unchanged against it.
 *
 * ```ts
 * const arm = await startArmEmulator({ database });                    // the embedded store (storage/sqlite.ts)
 * const options = { endpoint: arm.url, tlsOptions: { ca: arm.caCertPem } };  // trust this cert, in this client only
 * const rg = new ResourceManagementClient(arm.credential, arm.subscriptionId, options);
 * const deployments = new DeploymentsClient(arm.credential, arm.subscriptionId, options);
 * ```
 *
 * See README.md ("The local ARM emulator") for what is supported and how faults are configured.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { Logger } from 'pino';
import { generateEmulatorCert, type EmulatorCert } from './cert';
import { exportGroupTemplate } from './exportTemplate';
import { ArmError } from './errors';
import { FaultInjector, type ArmFaults } from './faults';
import { ARM_TEMPLATE_LIMITS } from './limits';
import { groupId, lower } from './ids';
import { ArmStore, type GroupRecord } from './store';
import type { SqliteDatabase } from '../../storage/sqlite';
import { ResourceService } from './resources';
import { DeploymentService } from './deployments';
import { outlastClientKeepAlive } from '../keepAlive';
import { validateDeploymentTimes, type DeploymentTimes } from './durations';
import { QuotaBook, USAGE_PROVIDERS, type QuotaSetting } from './quotas';

export type { ArmFaults } from './faults';
export type { DeploymentTimes } from './durations';
export type { QuotaSetting } from './quotas';

/** One subscription the emulator serves, with its own quotas (Azure's defaults where not set). */
export interface EmulatedSubscription {
  id: string;
  displayName?: string;
  quotas?: QuotaSetting[];
}

export const DEFAULT_SUBSCRIPTION_ID = '00000000-0000-4000-8000-00000000a2e0';
export const EMULATOR_TENANT_ID = '00000000-0000-4000-8000-0000000e7a47';
/** The api-versions the emulator's own routes answer with (what the SDK clients send). */
export const API_VERSIONS = { resources: '2025-04-01', deployments: '2026-06-01' } as const;

export interface ArmEmulatorOptions {
  /** Azurite (or Azure) Table storage connection string; the emulator's state lives there. */
  /** The embedded store the emulator keeps its state in. */
  database: SqliteDatabase;
  /** 0 or omitted: a free loopback port. */
  port?: number;
  /** The first (default) subscription; DEFAULT_SUBSCRIPTION_ID when omitted and `subscriptions` is not given. */
  subscriptionId?: string;
  /** Every subscription served (a pool of learner subscriptions); the first is `subscriptionId`. */
  subscriptions?: EmulatedSubscription[];
  /** Realistic deployment times (durations.ts), scaled; off when omitted: resources are written at once. */
  deploymentTimes?: DeploymentTimes;
  /** The bearer token to accept; a random one per start when omitted. */
  token?: string;
  /** The TLS certificate (self-signed, for 127.0.0.1) to serve; a fresh one per start when omitted. localEnv.ts `armIdentity` keeps one per data directory. */
  cert?: EmulatorCert;
  faults?: ArmFaults;
  logger?: Logger;
}

export interface ArmEmulatorStats {
  /** Most deployments Running (or Accepted) at the same moment since start / resetStats(). */
  maxConcurrentDeployments: number;
  /** Deployments Running (or Accepted) right now. */
  activeDeployments: number;
  /** Deployments started (each accepted PUT that began a run). */
  deploymentsStarted: number;
  /** Every request received, rejected ones included. */
  requests: number;
  /** Requests answered 429. */
  throttled: number;
  /** Requests answered 500 by the serverErrors fault. */
  serverErrors: number;
  /** Write requests (PUT, PATCH, DELETE, POST) received, throttled ones included. */
  writes: number;
  /** Deployments started, per subscription id (lower case). */
  deploymentsBySubscription: Record<string, number>;
  /** Deployments refused or failed for a quota (preflight or during the run), per subscription id (lower case). */
  quotaRefusals: Record<string, number>;
}

export interface ArmEmulator {
  /** `https://127.0.0.1:<port>` — the client's `endpoint`. */
  url: string;
  port: number;
  /** The first subscription (what LEARNER_SUBSCRIPTION_ID is set to locally). */
  subscriptionId: string;
  /** Every subscription served, first one first. */
  subscriptionIds: string[];
  tenantId: string;
  /** The bearer token the emulator accepts. */
  token: string;
  /** A TokenCredential handing out `token`, for the SDK clients. */
  credential: TokenCredential;
  /** The self-signed certificate (PEM) made at start; pass as `tlsOptions.ca` to the clients. */
  caCertPem: string;
  stats: ArmEmulatorStats;
  setFaults(faults: ArmFaults): void;
  /** Turn realistic deployment times on (a scale > 0) or off (undefined / 0); running deployments re-read it. */
  setDeploymentTimes(times: DeploymentTimes | undefined): void;
  /** Replace one subscription's quota settings (a granted quota request, or a lowered one for a test). */
  setQuotas(subscriptionId: string, quotas: QuotaSetting[]): void;
  resetStats(): void;
  /** Resolves when every state change so far is in Table storage. */
  flush(): Promise<void>;
  /** Stops accepting requests, pauses running deployments (they resume at the next start) and flushes. */
  stop(): Promise<void>;
}

/** Client options that make an Azure SDK management client talk to the emulator. */
export function emulatorClientOptions(arm: Pick<ArmEmulator, 'url' | 'caCertPem'>): { endpoint: string; tlsOptions: { ca: string } } {
  return { endpoint: arm.url, tlsOptions: { ca: arm.caCertPem } };
}

/** A TokenCredential that always returns `token` (the emulator's; never a real one). */
export function staticTokenCredential(token: string): TokenCredential {
  return {
    getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3600_000, tokenType: 'Bearer' }),
  };
}

/** Everything a request handler needs. */
export interface RequestContext {
  method: string;
  /** Path segments, empty ones removed (`//subscriptions/...` from `{+resourceId}` templates is fine). */
  segs: string[];
  query: URLSearchParams;
  apiVersion: string;
  body: unknown;
  baseUrl: string;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const WRITE_METHODS = new Set(['PUT', 'PATCH', 'DELETE', 'POST']);
const MAX_BODY = ARM_TEMPLATE_LIMITS.requestBytes;
/** A too-large body up to this size is read and dropped (keeping the connection); a bigger one closes it. */
const DRAIN_LIMIT = 64 * 1024 * 1024;
const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha|-privatepreview)?$/i;
const RG_NAME = /^[-\w._()]{1,90}$/u;

export async function startArmEmulator(opts: ArmEmulatorOptions): Promise<ArmEmulator> {
  const subscriptionList = subscriptionsOf(opts);
  const token = opts.token ?? `arm-emulator.${randomBytes(24).toString('base64url')}`;
  const log = opts.logger;
  validateDeploymentTimes(opts.deploymentTimes);
  const cert = opts.cert ?? (await generateEmulatorCert());
  const faults = new FaultInjector(opts.faults);
  const stats: ArmEmulatorStats = { maxConcurrentDeployments: 0, activeDeployments: 0, deploymentsStarted: 0, requests: 0, throttled: 0, serverErrors: 0, writes: 0, deploymentsBySubscription: {}, quotaRefusals: {} };
  const st: EmulatorState = { subscriptionList, hosts: new Map(), faults, stats, token, log, timing: { times: opts.deploymentTimes }, baseUrl: '' };
  // One set of services per subscription: its own groups, resources, deployments and quotas, in its own rows of the store.
  for (const sub of subscriptionList) {
    const store = await ArmStore.open(opts.database, sub.id);
    const env: EmulatorEnv = { subscriptionId: sub.id, tenantId: EMULATOR_TENANT_ID, store, faults, stats, log, quotas: new QuotaBook(sub.id, sub.quotas), times: () => st.timing.times };
    const resources = new ResourceService(env);
    const deployments = new DeploymentService(env, resources);
    st.hosts.set(lower(sub.id), { sub, env, resources, deployments, groups: new GroupService(env, resources, deployments) });
  }

  const server: Server = outlastClientKeepAlive(
    createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      void handle(st, req, res);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  st.baseUrl = `https://127.0.0.1:${port}`;
  for (const h of allHosts(st)) {
    await h.groups.resumeDeletes();
    h.deployments.resumeAfterRestart();
  }
  log?.info({ url: st.baseUrl, subscriptions: subscriptionList.map((x) => x.id), deploymentTimeScale: opts.deploymentTimes?.scale ?? 0 }, 'ARM emulator listening');
  return emulatorApi(st, server, port, cert);
}

/** What the emulator's request handling and control API share. */
interface EmulatorState {
  subscriptionList: EmulatedSubscription[];
  hosts: Map<string, SubscriptionHost>;
  faults: FaultInjector;
  stats: ArmEmulatorStats;
  token: string;
  log?: Logger;
  timing: { times: DeploymentTimes | undefined };
  /** Set once the server listens. */
  baseUrl: string;
}

function allHosts(st: EmulatorState): SubscriptionHost[] {
  return [...st.hosts.values()];
}

/** The handle a test or the local stack holds: address, credentials, stats and the control methods. */
function emulatorApi(st: EmulatorState, server: Server, port: number, cert: EmulatorCert): ArmEmulator {
  const { subscriptionList, stats, token } = st;
  return {
    url: st.baseUrl,
    port,
    subscriptionId: subscriptionList[0].id,
    subscriptionIds: subscriptionList.map((x) => x.id),
    tenantId: EMULATOR_TENANT_ID,
    token,
    credential: staticTokenCredential(token),
    caCertPem: cert.cert,
    stats,
    setFaults: (f) => {
      st.faults.set(f);
      for (const h of allHosts(st)) h.deployments.faultsChanged();
    },
    setDeploymentTimes: (t) => setDeploymentTimes(st, t),
    setQuotas: (id, quotas) => {
      const h = st.hosts.get(lower(id));
      if (!h) throw new Error(`ARM emulator: no subscription ${id} (it serves ${subscriptionList.map((x) => x.id).join(', ')})`);
      h.sub = { ...h.sub, quotas };
      h.env.quotas = new QuotaBook(h.sub.id, quotas);
    },
    resetStats: () => {
      Object.assign(stats, { maxConcurrentDeployments: stats.activeDeployments, deploymentsStarted: 0, requests: 0, throttled: 0, serverErrors: 0, writes: 0, deploymentsBySubscription: {}, quotaRefusals: {} });
    },
    flush: async () => {
      await Promise.all(allHosts(st).map((h) => h.env.store.flush()));
    },
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      for (const h of allHosts(st)) {
        await h.deployments.pause();
        await h.groups.idle();
        await h.env.store.flush();
      }
    },
  };
}

async function handle(st: EmulatorState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  st.stats.requests++;
  const requestId = randomUUID();
  const headers: Record<string, string> = {
    'x-ms-request-id': requestId,
    'x-ms-correlation-request-id': String(req.headers['x-ms-correlation-request-id'] ?? requestId),
    'x-ms-routing-request-id': `LOCAL:${requestId}`,
  };
  const method = (req.method ?? 'GET').toUpperCase();
  const isWrite = WRITE_METHODS.has(method);
  if (isWrite) st.stats.writes++;
  try {
    const rawBody = await readBody(req);
    authenticate(req.headers.authorization, st.token);
    // `{+resourceId}` templates send `//subscriptions/...`; as a relative URL that would name a host.
    const url = new URL((req.url ?? '/').replace(/^\/+/, '/'), st.baseUrl);
    const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (segs.length === 1 && lower(segs[0]) === 'subscriptions' && method === 'GET') {
      send(res, 200, { value: allHosts(st).map((h) => subscriptionBody(h.sub)) }, headers, method);
      return;
    }
    // The emulator's own control route (not ARM's): a rehearsal sets deployment times to its run's time scale.
    if (segs.length === 2 && segs[0] === '_emulator' && segs[1] === 'deploymentTimes') {
      send(res, 200, deploymentTimesRoute(st, method, rawBody), headers, method);
      return;
    }
    const host = authorize(segs, st.hosts, method);
    const apiVersion = url.searchParams.get('api-version') ?? '';
    if (!apiVersion) throw new ArmError(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
    if (!API_VERSION.test(apiVersion)) {
      throw new ArmError(400, 'InvalidApiVersionParameter', `The api-version '${apiVersion}' is invalid. The supported versions are dates like '${API_VERSIONS.resources}'.`);
    }
    injectRequestFault(st, isWrite, host, requestId, headers['x-ms-correlation-request-id']);
    const ctx: RequestContext = { method, segs, query: url.searchParams, apiVersion, body: jsonBody(rawBody, method), baseUrl: st.baseUrl };
    const reply = await route(ctx, host);
    send(res, reply.status, reply.body, { ...headers, ...reply.headers }, method);
  } catch (e) {
    if (e instanceof ArmError) {
      send(res, e.status, e.body(), { ...headers, ...e.headers }, method);
    } else {
      st.log?.error({ err: e, url: req.url, method }, 'ARM emulator: unexpected error');
      const err = new ArmError(500, 'InternalServerError', `ARM emulator failed: ${(e as Error).message}`);
      send(res, 500, err.body(), headers, method);
    }
  }
}

/** A throttle or server error the fault settings call for on this request, thrown as ARM answers it. */
function injectRequestFault(st: EmulatorState, isWrite: boolean, host: SubscriptionHost, requestId: string, correlationId: string): void {
  const fault = st.faults.onRequest(isWrite);
  if (fault?.kind === 'throttle') {
    st.stats.throttled++;
    throw new ArmError(
      429,
      'SubscriptionRequestsThrottled',
      `Number of '${isWrite ? 'write' : 'read'}' requests for subscription '${host.sub.id}' actor '${EMULATOR_TENANT_ID}' exceeded. Please try again after '${fault.retryAfterSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
      undefined,
      { 'Retry-After': String(fault.retryAfterSeconds), [`x-ms-ratelimit-remaining-subscription-${isWrite ? 'writes' : 'reads'}`]: '0' },
    );
  }
  if (fault?.kind === 'serverError') {
    st.stats.serverErrors++;
    throw new ArmError(
      500,
      'InternalServerError',
      `Encountered internal server error. Diagnostic information: timestamp '${new Date().toISOString()}', subscription id '${host.sub.id}', tracking id '${requestId}', request correlation id '${correlationId}'.`,
    );
  }
}

/** The request's JSON body (none for GET, HEAD and DELETE); content that is not JSON is ARM's InvalidRequestContent. */
function jsonBody(rawBody: Buffer, method: string): unknown {
  if (rawBody.length === 0 || method === 'GET' || method === 'HEAD' || method === 'DELETE') return undefined;
  try {
    return JSON.parse(rawBody.toString('utf8'));
  } catch (e) {
    throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: '${(e as Error).message}'.`);
  }
}

function setDeploymentTimes(st: EmulatorState, t: DeploymentTimes | undefined): void {
  validateDeploymentTimes(t);
  st.timing.times = t;
  for (const h of allHosts(st)) h.deployments.faultsChanged();
}

function deploymentTimesRoute(st: EmulatorState, method: string, rawBody: Buffer): { scale: number } {
  if (method === 'PUT') {
    let scale: unknown;
    try {
      scale = (JSON.parse(rawBody.toString('utf8') || '{}') as { scale?: unknown }).scale;
    } catch {
      scale = undefined;
    }
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale < 0) {
      throw new ArmError(400, 'InvalidRequestContent', 'PUT /_emulator/deploymentTimes takes { "scale": <number >= 0> } (1 = Azure\'s typical deployment times, 0.01 = 1/100 of them, 0 = off).');
    }
    setDeploymentTimes(st, scale > 0 ? { scale } : undefined);
  } else if (method !== 'GET') {
    throw methodNotAllowed(method);
  }
  return { scale: st.timing.times?.scale ?? 0 };
}

async function route(ctx: RequestContext, host: SubscriptionHost): Promise<Reply> {
  const { segs, method } = ctx;
  const { groups, resources, deployments } = host;
  if (segs.length === 2) {
    if (method !== 'GET') throw methodNotAllowed(method);
    return { status: 200, body: subscriptionBody(host.sub) };
  }
  const third = lower(segs[2]);
  if (third === 'operationresults' && segs.length === 4) return groups.operationResult(ctx, segs[3]);
  if (third === 'resources' && segs.length === 3) return resources.listSubscription(ctx);
  // Usages - List: /subscriptions/{s}/providers/{namespace}/locations/{location}/usages
  if (third === 'providers' && segs.length === 7 && lower(segs[4]) === 'locations' && lower(segs[6]) === 'usages' && (USAGE_PROVIDERS as readonly string[]).includes(lower(segs[3]))) {
    if (method !== 'GET') throw methodNotAllowed(method);
    return { status: 200, body: { value: host.env.quotas.usages(segs[3], normaliseLocation(segs[5]), resources.countedResources()) } };
  }
  if (third === 'providers' && segs.length <= 4 && method === 'GET') return resources.providers(ctx, segs[3]);
  if (third !== 'resourcegroups') {
    throw new ArmError(400, 'InvalidResourceType', `The resource type '${segs[2]}' could not be found in the namespace 'Microsoft.Resources' for api version '${ctx.apiVersion}'.`);
  }
  if (segs.length === 3) {
    if (method !== 'GET') throw methodNotAllowed(method);
    return groups.list(ctx);
  }
  const rg = segs[3];
  if (segs.length === 4) return groups.handle(ctx, rg);
  if (segs.length === 5 && lower(segs[4]) === 'resources') {
    if (method !== 'GET') throw methodNotAllowed(method);
    return resources.listGroup(ctx, groups.require(rg));
  }
  if (segs.length === 5 && lower(segs[4]) === 'exporttemplate') {
    if (method !== 'POST') throw methodNotAllowed(method);
    const group = groups.require(rg);
    return exportGroupTemplate(group, [...host.env.store.resources.values()].filter((r) => lower(r.resourceGroup) === lower(group.name)), ctx.body);
  }
  if (lower(segs[4]) === 'providers' && segs.length >= 7 && lower(segs[5]) === 'microsoft.resources' && lower(segs[6]) === 'deployments') {
    return deployments.handle(ctx, groups.require(rg), segs.slice(7));
  }
  // ARM's older form, which the SDK's deploymentOperations client still uses: …/resourcegroups/{rg}/deployments/{name}/operations
  if (lower(segs[4]) === 'deployments') return deployments.handle(ctx, groups.require(rg), segs.slice(5));
  if (lower(segs[4]) === 'providers') return resources.handle(ctx, groups.require(rg), segs.slice(4));
  throw new ArmError(404, 'NotFound', `No route for ${method} ${'/' + segs.join('/')}.`);
}

export interface EmulatorEnv {
  subscriptionId: string;
  tenantId: string;
  store: ArmStore;
  faults: FaultInjector;
  stats: ArmEmulatorStats;
  log?: Logger;
  /** This subscription's quotas (replaced by setQuotas). */
  quotas: QuotaBook;
  /** The emulator's deployment-time setting, read at each resource (it can change while deployments run). */
  times: () => DeploymentTimes | undefined;
}

interface SubscriptionHost {
  sub: EmulatedSubscription;
  env: EmulatorEnv;
  resources: ResourceService;
  deployments: DeploymentService;
  groups: GroupService;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function subscriptionsOf(opts: ArmEmulatorOptions): EmulatedSubscription[] {
  const list = opts.subscriptions?.length ? [...opts.subscriptions] : [{ id: opts.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID }];
  if (opts.subscriptionId && lower(list[0].id) !== lower(opts.subscriptionId)) {
    if (list.some((x) => lower(x.id) === lower(opts.subscriptionId!))) throw new Error(`ARM emulator: subscriptionId ${opts.subscriptionId} must be the first of subscriptions`);
    list.unshift({ id: opts.subscriptionId });
  }
  const seen = new Set<string>();
  for (const x of list) {
    if (!GUID.test(x.id)) throw new Error(`ARM emulator: subscription id "${x.id}" is not a GUID`);
    if (seen.has(lower(x.id))) throw new Error(`ARM emulator: subscription ${x.id} is listed twice`);
    seen.add(lower(x.id));
  }
  return list;
}

function subscriptionBody(sub: EmulatedSubscription): Record<string, unknown> {
  return { id: `/subscriptions/${sub.id}`, subscriptionId: sub.id, tenantId: EMULATOR_TENANT_ID, displayName: sub.displayName ?? 'Workshop ARM emulator', state: 'Enabled' };
}

export function methodNotAllowed(method: string): ArmError {
  return new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${method}'.`);
}

function authenticate(header: string | undefined, token: string): void {
  if (!header) {
    throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", undefined, {
      'WWW-Authenticate': `Bearer authorization_uri="https://login.microsoftonline.com/${EMULATOR_TENANT_ID}", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
    });
  }
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m || m[1] !== token) {
    throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.', undefined, {
      'WWW-Authenticate': `Bearer authorization_uri="https://login.microsoftonline.com/${EMULATOR_TENANT_ID}", error="invalid_token", error_description="The access token is invalid."`,
    });
  }
}

function authorize<H>(segs: string[], hosts: Map<string, H>, method: string): H {
  if (segs.length < 2 || lower(segs[0]) !== 'subscriptions') {
    throw new ArmError(404, 'NotFound', 'The ARM emulator serves subscription-scoped paths only (/subscriptions/{subscriptionId}/...).');
  }
  const host = hosts.get(lower(segs[1]));
  if (!host) {
    const scope = '/' + segs.join('/');
    throw new ArmError(
      403,
      'AuthorizationFailed',
      `The client '${EMULATOR_TENANT_ID}' with object id '${EMULATOR_TENANT_ID}' does not have authorization to perform action '${actionName(segs, method)}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }
  return host;
}

function actionName(segs: string[], method: string): string {
  const verb = method === 'GET' || method === 'HEAD' ? 'read' : method === 'DELETE' ? 'delete' : method === 'POST' ? 'action' : 'write';
  const provider = segs.findLastIndex((s) => lower(s) === 'providers');
  if (provider >= 0 && segs[provider + 1]) {
    const typeSegs = segs.slice(provider + 2).filter((_, i) => i % 2 === 0);
    return `${segs[provider + 1]}/${typeSegs.join('/')}/${verb}`;
  }
  return segs.length > 3 ? `Microsoft.Resources/subscriptions/resourceGroups/${verb}` : `Microsoft.Resources/subscriptions/${verb}`;
}

/**
 * The body, up to the request limit. A bigger body is still read to its end (and thrown away) before the
 * 413 is sent, so the connection stays in step and the client's next request on it works; a body beyond
 * DRAIN_LIMIT is not worth reading: the 413 then says `Connection: close` and the socket is closed.
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const tooLarge = (close: boolean) =>
      new ArmError(
        413,
        'RequestEntityTooLarge',
        `The request content size exceeds the maximum allowed of ${MAX_BODY.toLocaleString('en-US')} bytes${close ? '' : ` (it was ${size.toLocaleString('en-US')} bytes)`}. Make the template smaller or split it into nested deployments.`,
        undefined,
        close ? { Connection: 'close' } : {},
      );
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
      else if (size > DRAIN_LIMIT && !settled) {
        settled = true;
        req.pause();
        reject(tooLarge(true));
      }
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      if (size > MAX_BODY) reject(tooLarge(false));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (settled) return;
      settled = true;
      reject(e);
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>, method: string): void {
  if (res.headersSent) return;
  const out: Record<string, string> = { ...headers, 'Cache-Control': 'no-cache', Expires: '-1', Pragma: 'no-cache' };
  let payload = '';
  if (body !== undefined && method !== 'HEAD') {
    payload = JSON.stringify(body);
    out['Content-Type'] = 'application/json; charset=utf-8';
  }
  res.writeHead(status, out).end(payload);
}

// ─── resource groups ──────────────────────────────────────────────────────────────────────────

class GroupService {
  private readonly deletes = new Set<Promise<void>>();

  constructor(
    private readonly env: EmulatorEnv,
    private readonly resources: ResourceService,
    private readonly deployments: DeploymentService,
  ) {}

  get(name: string): GroupRecord | undefined {
    return this.env.store.groups.get(lower(name));
  }

  /** The group, or ARM's 404 for a missing one (also for children of a missing group). */
  require(name: string): GroupRecord {
    const g = this.get(name);
    if (!g) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`);
    return g;
  }

  list(ctx: RequestContext): Reply {
    const filter = parseTagFilter(ctx.query.get('$filter'));
    const value = [...this.env.store.groups.values()]
      .map((g) => g.body)
      .filter((b) => !filter || Object.entries(b.tags ?? {}).some(([k, v]) => lower(k) === lower(filter.name) && (filter.value === undefined || v === filter.value)));
    return { status: 200, body: { value } };
  }

  async handle(ctx: RequestContext, name: string): Promise<Reply> {
    switch (ctx.method) {
      case 'GET':
        return { status: 200, body: this.require(name).body };
      case 'HEAD':
        return { status: this.get(name) ? 204 : 404 };
      case 'PUT':
        return this.put(name, ctx.body);
      case 'PATCH':
        return this.patch(name, ctx.body);
      case 'DELETE':
        return this.delete(ctx, name);
      default:
        throw methodNotAllowed(ctx.method);
    }
  }

  private async put(name: string, body: unknown): Promise<Reply> {
    if (!RG_NAME.test(name) || name.endsWith('.')) {
      throw new ArmError(
        400,
        'InvalidResourceGroup',
        `The provided resource group name '${name}' has these invalid characters or length. The name can be up to 90 characters long and can include alphanumeric, underscore, parentheses, hyphen, period (except at end), and Unicode characters that match the allowed characters.`,
      );
    }
    const b = (body ?? {}) as { location?: unknown; tags?: unknown; managedBy?: unknown };
    if (typeof b.location !== 'string' || !b.location) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
    const tags = checkTags(b.tags);
    const location = normaliseLocation(b.location);
    const existing = this.get(name);
    if (existing?.body.properties.provisioningState === 'Deleting') {
      throw new ArmError(409, 'ResourceGroupBeingDeleted', `The resource group '${existing.name}' is in deprovisioning state and cannot perform this operation.`);
    }
    if (existing && existing.body.location !== location) {
      throw new ArmError(409, 'InvalidResourceGroupLocation', `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.body.location}'.`);
    }
    const stored = existing?.name ?? name;
    const rec: GroupRecord = {
      name: stored,
      body: {
        id: groupId(this.env.subscriptionId, stored),
        name: stored,
        type: 'Microsoft.Resources/resourceGroups',
        location,
        ...(typeof b.managedBy === 'string' ? { managedBy: b.managedBy } : {}),
        ...(tags ? { tags } : {}),
        properties: { provisioningState: 'Succeeded' },
      },
    };
    await this.env.store.setGroup(rec);
    return { status: existing ? 200 : 201, body: rec.body };
  }

  private async patch(name: string, body: unknown): Promise<Reply> {
    const existing = this.require(name);
    const b = (body ?? {}) as { tags?: unknown; managedBy?: unknown };
    const rec: GroupRecord = structuredClone(existing);
    if (b.tags !== undefined) rec.body.tags = checkTags(b.tags) ?? {};
    if (typeof b.managedBy === 'string') rec.body.managedBy = b.managedBy;
    await this.env.store.setGroup(rec);
    return { status: 200, body: rec.body };
  }

  private async delete(ctx: RequestContext, name: string): Promise<Reply> {
    const existing = this.require(name);
    let rec = existing;
    if (existing.body.properties.provisioningState !== 'Deleting') {
      rec = structuredClone(existing);
      rec.body.properties.provisioningState = 'Deleting';
      rec.deleteOperation = randomUUID();
      await this.env.store.setGroup(rec);
      this.startDelete(rec.name);
    }
    return { status: 202, headers: this.pollHeaders(ctx, rec) };
  }

  private pollHeaders(ctx: Pick<RequestContext, 'baseUrl' | 'apiVersion'>, rec: GroupRecord): Record<string, string> {
    const token = Buffer.from(JSON.stringify({ rg: rec.name, op: rec.deleteOperation })).toString('base64url');
    return { Location: `${ctx.baseUrl}/subscriptions/${this.env.subscriptionId}/operationresults/${token}?api-version=${ctx.apiVersion}`, 'Retry-After': '0' };
  }

  /** `Location` polling of a group delete: 202 while it runs, 200 once the group is gone. */
  operationResult(ctx: RequestContext, token: string): Reply {
    let op: { rg?: string; op?: string } = {};
    try {
      op = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof op;
    } catch {
      throw new ArmError(404, 'OperationNotFound', `The operation '${token}' could not be found.`);
    }
    if (typeof op.rg !== 'string') throw new ArmError(404, 'OperationNotFound', `The operation '${token}' could not be found.`);
    const g = this.get(op.rg);
    if (g && g.deleteOperation === op.op && g.body.properties.provisioningState === 'Deleting') return { status: 202, headers: this.pollHeaders(ctx, g) };
    return { status: 200 };
  }

  private startDelete(name: string): void {
    const run = (async () => {
      const rgKey = lower(name);
      // A deployment that cannot be cancelled cleanly must not keep its group in Deleting forever: it is deleted below either way.
      await this.deployments.cancelGroup(name).catch((e: unknown) => this.env.log?.warn({ err: e, resourceGroup: name }, 'ARM emulator: cancelling deployments before a group delete failed; deleting them anyway'));
      await this.resources.deleteGroupContents(name);
      for (const d of [...this.env.store.deployments.values()]) if (lower(d.resourceGroup) === rgKey) await this.env.store.deleteDeployment(d.id);
      await this.env.store.deleteGroup(name);
    })().catch((e: unknown) => this.env.log?.error({ err: e, resourceGroup: name }, 'ARM emulator: resource group delete failed'));
    this.deletes.add(run);
    void run.finally(() => this.deletes.delete(run));
  }

  /** Finish deletes that a stop interrupted. */
  async resumeDeletes(): Promise<void> {
    for (const g of this.env.store.groups.values()) if (g.body.properties.provisioningState === 'Deleting') this.startDelete(g.name);
  }

  async idle(): Promise<void> {
    await Promise.all([...this.deletes]);
  }
}

/** `tagName eq 'k'` or `tagName eq 'k' and tagValue eq 'v'` (what the SDK's list `filter` option sends). */
function parseTagFilter(filter: string | null): { name: string; value?: string } | undefined {
  if (!filter) return undefined;
  const m = /^\s*tagName\s+eq\s+'((?:[^']|'')*)'(?:\s+and\s+tagValue\s+eq\s+'((?:[^']|'')*)')?\s*$/i.exec(filter);
  if (!m) throw new ArmError(400, 'InvalidFilterInQueryString', `Invalid $filter '${filter}' specified in the query string. Resource groups can be filtered by tagName and tagValue.`);
  return { name: m[1].replace(/''/g, "'"), value: m[2]?.replace(/''/g, "'") };
}

export function checkTags(tags: unknown): Record<string, string> | undefined {
  if (tags === undefined || tags === null) return undefined;
  if (typeof tags !== 'object' || Array.isArray(tags)) throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'tags must be an object of strings'.");
  const out: Record<string, string> = {};
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > 50) throw new ArmError(400, 'InvalidTagCount', `The number of tags (${entries.length}) exceeds the limit of 50.`);
  for (const [k, v] of entries) {
    if (k.length > 512 || /[<>%&\\?/]/.test(k)) throw new ArmError(400, 'InvalidTagNameCharacters', `The tag names '${k}' have reserved characters '<,>,%,&,\\,?,/' or control characters.`);
    if (typeof v !== 'string') throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: 'tag '${k}' must have a string value'.`);
    if (v.length > 256) throw new ArmError(400, 'InvalidTagValueLength', `The tag value '${v.slice(0, 20)}…' exceeds the maximum length of 256.`);
    out[k] = v;
  }
  return out;
}

/** ARM stores locations as lower-case names without spaces: "West Europe" → "westeurope". */
export function normaliseLocation(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}
