import { readFileSync } from 'node:fs';
import { getClient, type Client, type ClientOptions } from '@azure-rest/core-client';
import { ResourceManagementClient } from '@azure/arm-resources';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { DefaultAzureCredential, type AccessToken, type TokenCredential } from '@azure/identity';
import pino, { type Logger } from 'pino';
import { appSettings, type AppSettings } from '../config';

/**
 * Resource Manager clients for the learner subscription, built from app settings only:
 * - Azure: `LEARNER_SUBSCRIPTION_ID` and nothing else — public ARM endpoint, `DefaultAzureCredential`
 *   (the Function App's managed identity);
 * - local: `ARM_ENDPOINT` + `ARM_TOKEN` + `ARM_CA_CERT` point the same SDK clients at the ARM emulator.
 * No code path asks "am I local?": the settings decide the endpoint, the credential and the trust.
 */
export const PUBLIC_ARM_ENDPOINT = 'https://management.azure.com';

export interface ArmClients {
  subscriptionId: string;
  endpoint: string;
  /** `@azure/arm-resources`: resource groups, resources, providers. */
  resources: ResourceManagementClient;
  /** `@azure/arm-resourcesdeployments`: template deployments (moved out of arm-resources in v8). */
  deployments: DeploymentsClient;
  /** The same pipeline (auth, retries, TLS) for ARM paths the generated clients do not model. */
  rest: ArmRest;
  /** LRO poll interval when ARM sends no Retry-After; undefined = the SDK's default. */
  pollIntervalMs: number | undefined;
}

export interface ArmRestResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string>;
}

export interface ArmRest {
  /** GET an ARM path; resolves for any status so callers decide what 404 means. */
  get<T = unknown>(path: string, apiVersion: string, query?: Record<string, string>, abortSignal?: AbortSignal): Promise<ArmRestResponse<T>>;
  /** GET a list (`{ value, nextLink }`), following nextLink; undefined when the collection itself is 404/400/405 (not supported). */
  list<T = unknown>(path: string, apiVersion: string, query?: Record<string, string>, abortSignal?: AbortSignal): Promise<T[] | undefined>;
  /** POST a resource action (`…/start`); resolves for any status. */
  post<T = unknown>(path: string, apiVersion: string, body?: unknown, abortSignal?: AbortSignal): Promise<ArmRestResponse<T>>;
}

/** Extra client options (tests add pipeline policies to observe requests). */
export type ArmClientExtras = Pick<ClientOptions, 'additionalPolicies' | 'retryOptions'>;

/** Clients per settings (one per learner subscription of a pool); a handful at most, so never evicted. */
const cached = new Map<string, ArmClients>();

/** The ARM settings (the local stack sets the same names for its emulator). */
export function armSettings(settings: AppSettings = appSettings()): { endpoint: string; subscriptionId?: string; token?: string; caCert?: string; pollIntervalMs?: number } {
  return {
    endpoint: (settings.ARM_ENDPOINT ?? PUBLIC_ARM_ENDPOINT).replace(/\/+$/, ''),
    subscriptionId: settings.LEARNER_SUBSCRIPTION_ID,
    token: settings.ARM_TOKEN,
    caCert: settings.ARM_CA_CERT,
    pollIntervalMs: settings.ARM_POLL_INTERVAL_MS,
  };
}

export function armClients(settings: AppSettings = appSettings(), extras?: ArmClientExtras): ArmClients {
  const key = JSON.stringify(armSettings(settings));
  const hit = extras ? undefined : cached.get(key);
  if (hit) return hit;
  const clients = createArmClients(settings, extras);
  if (!extras) cached.set(key, clients);
  return clients;
}

/** The same clients for another learner subscription of the run's pool (same endpoint, credential and trust). */
export function armClientsFor(subscriptionId: string, settings: AppSettings = appSettings()): ArmClients {
  return armClients({ ...settings, LEARNER_SUBSCRIPTION_ID: subscriptionId });
}

/** ARM's remaining write budget per subscription, from the last response that said (`x-ms-ratelimit-remaining-subscription-writes`). */
const writeBudget = new Map<string, { remaining: number; at: number }>();

/** The last write budget ARM reported for the subscription, if it is at most `maxAgeMs` old. */
export function lastWriteBudget(subscriptionId: string, maxAgeMs = 60_000, now = Date.now()): number | undefined {
  const b = writeBudget.get(subscriptionId.toLowerCase());
  return b && now - b.at <= maxAgeMs ? b.remaining : undefined;
}

function createArmClients(settings: AppSettings, extras: ArmClientExtras = {}): ArmClients {
  const arm = armSettings(settings);
  const subscriptionId = arm.subscriptionId;
  if (!subscriptionId || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(subscriptionId)) {
    throw new Error(
      `LEARNER_SUBSCRIPTION_ID is ${subscriptionId ? `"${subscriptionId}", not a subscription GUID` : 'not set'}: set it to the subscription learner environments are deployed into (README, "Learner environments (ARM)").`,
    );
  }
  const credential = arm.token ? staticTokenCredential(arm.token) : new DefaultAzureCredential();
  const ca = arm.caCert ? readPem(arm.caCert) : undefined;
  const options: ClientOptions = {
    endpoint: arm.endpoint,
    additionalPolicies: [{ policy: keepErrorBodies, position: 'perCall' }, ...(extras.additionalPolicies ?? [])],
    // The token's audience is the ARM resource, whatever host serves it (public cloud or emulator).
    credentials: { scopes: [`${PUBLIC_ARM_ENDPOINT}/.default`] },
    ...(ca ? { tlsOptions: { ca } } : {}),
    ...(extras.retryOptions ? { retryOptions: extras.retryOptions } : {}),
  };
  const resources = new ResourceManagementClient(credential, subscriptionId, options);
  const deployments = new DeploymentsClient(credential, subscriptionId, options);
  const restClient = getClient(arm.endpoint, credential, options);
  return { subscriptionId, endpoint: arm.endpoint, resources, deployments, rest: armRest(restClient), pollIntervalMs: arm.pollIntervalMs };
}

/** A credential that always presents the same bearer token (the local emulator accepts its own). */
export function staticTokenCredential(token: string): TokenCredential {
  return {
    getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
}

function readPem(value: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new Error(`ARM_CA_CERT is neither PEM text nor a readable PEM file ("${value}"): ${(err as Error).message}`);
  }
}

function armRest(client: Client): ArmRest {
  const get = async <T>(path: string, apiVersion: string, query: Record<string, string> = {}, abortSignal?: AbortSignal): Promise<ArmRestResponse<T>> => {
    const hasVersion = /[?&]api-version=/.test(path);
    const res = await client.pathUnchecked(path).get({
      queryParameters: hasVersion ? query : { 'api-version': apiVersion, ...query },
      abortSignal,
      skipUrlEncoding: true,
    });
    return { status: Number(res.status), body: res.body as T, headers: res.headers as Record<string, string> };
  };
  return {
    get,
    async post<T>(path: string, apiVersion: string, body?: unknown, abortSignal?: AbortSignal): Promise<ArmRestResponse<T>> {
      const res = await client.pathUnchecked(path).post({ queryParameters: { 'api-version': apiVersion }, abortSignal, skipUrlEncoding: true, ...(body !== undefined ? { body, contentType: 'application/json' } : {}) });
      return { status: Number(res.status), body: res.body as T, headers: res.headers as Record<string, string> };
    },
    async list<T>(path: string, apiVersion: string, query?: Record<string, string>, abortSignal?: AbortSignal): Promise<T[] | undefined> {
      const out: T[] = [];
      let next: string | undefined = path;
      let first = true;
      while (next) {
        const res: ArmRestResponse<{ value?: T[]; nextLink?: string }> = await get(next, apiVersion, first ? query : {}, abortSignal);
        if (first && [400, 404, 405].includes(res.status)) return undefined;
        if (res.status < 200 || res.status > 299) throw armHttpError(res, `GET ${path}`);
        out.push(...(res.body?.value ?? []));
        next = res.body?.nextLink;
        first = false;
      }
      return out;
    },
  };
}

type PipelinePolicy = NonNullable<ClientOptions['additionalPolicies']>[number]['policy'];

/*
 * The SDK's long-running-operation helpers throw a RestError without the response body for a
 * failed initial request, and ARM puts the real cause of a rejected deployment (a quota, a policy)
 * inside that body (`error.details`). This policy keeps the body of every final error response,
 * by request, so {@link armErrorBodyOf} can recover it from the error's `request`. It also notes the write
 * budget ARM reports on each response, for the placement of environments over several subscriptions.
 */
const errorBodies = new WeakMap<object, unknown>();
const keepErrorBodies: PipelinePolicy = {
  name: 'keepArmErrorBodies',
  async sendRequest(request, next) {
    const response = await next(request);
    const remaining = response.headers.get('x-ms-ratelimit-remaining-subscription-writes');
    const sub = /\/subscriptions\/([0-9a-f-]{36})/i.exec(request.url)?.[1];
    if (remaining !== undefined && sub && Number.isFinite(Number(remaining))) writeBudget.set(sub.toLowerCase(), { remaining: Number(remaining), at: Date.now() });
    if (response.status >= 400 && response.bodyAsText) {
      try {
        errorBodies.set(request, JSON.parse(response.bodyAsText));
      } catch {
        // Not JSON: nothing ARM-shaped to keep.
      }
    }
    return response;
  },
};

/** The ARM error body (`{ code, message, details }`) of a failed SDK call, when the response had one. */
export function armErrorBodyOf(err: unknown): { code?: string; message?: string; details?: unknown[] } | undefined {
  const request = (err as { request?: object } | undefined)?.request;
  const body = request ? (errorBodies.get(request) as { error?: { code?: string; message?: string; details?: unknown[] } } | undefined) : undefined;
  return body?.error;
}

/** An Error shaped like the SDK's RestError (statusCode, code, response headers), for raw calls. */
export function armHttpError(res: ArmRestResponse<unknown>, what: string): Error & { statusCode: number; code?: string; retryAfterSeconds?: number } {
  const body = res.body as { error?: { code?: string; message?: string } } | undefined;
  const err = new Error(`${what}: HTTP ${res.status}${body?.error ? ` ${body.error.code}: ${body.error.message}` : ''}`) as Error & {
    statusCode: number;
    code?: string;
    retryAfterSeconds?: number;
  };
  err.statusCode = res.status;
  err.code = body?.error?.code;
  const ra = Number(res.headers['retry-after']);
  if (Number.isFinite(ra)) err.retryAfterSeconds = ra;
  return err;
}

/** The app's ARM log: one JSON object per line (pino). */
let armLog: Logger | undefined;
export function armLogger(): Logger {
  armLog ??= pino({ level: appSettings().LOG_LEVEL ?? 'info', base: { component: 'learner-environments' } });
  return armLog;
}

/** Wait `ms`, or reject when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
