import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getClient, type Client } from '@azure-rest/core-client';
import { ResourceManagementClient, type GenericResource } from '@azure/arm-resources';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { TAGS } from '../azure/environmentNames';
import { NETWORK_ERROR_CODES, parseRetryAfter, RETRY_STATUSES, withRetry, type Retryable, type RetryPolicy } from './retry';

/**
 * What the rehearsal's simulated learners do to their environments, through the Resource Manager
 * REST API with the real SDK client (the same calls a learner makes from the portal or the az CLI):
 * break a setting a validation check looks at and put it back, and — for the learner whose
 * provisioning is meant to fail — hold the learner's resource group name with a group that belongs
 * to another scenario, so the deployment is refused until the instructor removes it.
 */
export interface ArmAccess {
  url: string;
  token: string;
  /** PEM text or the path of a PEM file (the local emulator's self-signed CA). */
  caCert?: string;
  subscriptionId: string;
  /**
   * Reads the access again — the local stack rewrites `.data/arm/emulator.json` when its emulator
   * restarts — after a failure a restart explains (no connection, token refused, certificate changed).
   */
  reload?: () => ArmAccess | undefined;
}

/** TLS failures that mean "this is not the certificate we were told to trust": a restarted emulator with a new CA. */
const CERT_ERROR_CODES = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED']);

type ArmFailure = Retryable & { reload: boolean };

/**
 * Which failures of a Resource Manager call are worth another try. The SDK's own pipeline already
 * retries 429/503 (obeying Retry-After), 5xx and dropped connections a few times; this is the outer
 * loop for when those few are not enough (a long throttling storm, an emulator restart).
 */
export function classifyArmFailure(err: unknown): ArmFailure | undefined {
  const e = err as { statusCode?: number; code?: string; retryAfterMs?: number; response?: { headers?: { get(name: string): string | undefined } } };
  if (e?.statusCode !== undefined) {
    if (RETRY_STATUSES.has(e.statusCode)) {
      const retryAfterMs = e.retryAfterMs ?? parseRetryAfter(e.response?.headers?.get('retry-after'));
      return { reason: `HTTP ${e.statusCode}`, reload: false, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    }
    return e.statusCode === 401 ? { reason: 'HTTP 401 (token refused)', reload: true } : undefined;
  }
  if (e?.code && NETWORK_ERROR_CODES.has(e.code)) return { reason: e.code, reload: true };
  if (e?.code && CERT_ERROR_CODES.has(e.code)) return { reason: e.code, reload: true };
  return undefined;
}

export interface PropertyCheck {
  id: string;
  resourceType: string;
  namePattern?: string;
  property: string;
  expected: string | number | boolean | null;
}

export interface BrokenSetting {
  checkId: string;
  resourceId: string;
  apiVersion: string;
  original: GenericResource;
}

export const BLOCKER_PACK = 'rehearsal-blocker';

function credential(token: string): TokenCredential {
  return { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

function pem(value: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

/** `a.b[1].c` → ['a', 'b', 1, 'c'] */
function pathParts(path: string): Array<string | number> {
  return path.split('.').flatMap((seg) => {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(seg);
    if (!m) return [seg];
    return [m[1], ...[...m[2].matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]))];
  });
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = pathParts(path);
  let node = target as Record<string | number, unknown>;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = node[parts[i]];
    if (typeof next !== 'object' || next === null) node[parts[i]] = typeof parts[i + 1] === 'number' ? [] : {};
    node = node[parts[i]] as Record<string | number, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

/** A value the check does not accept. */
export function wrongValue(expected: PropertyCheck['expected']): unknown {
  if (typeof expected === 'boolean') return !expected;
  if (typeof expected === 'number') return expected + 1;
  if (expected === null) return 'set-by-rehearsal';
  return `${expected}-changed-by-rehearsal`;
}

export interface RehearsalArmOptions {
  /** The outer retry (see classifyArmFailure); default: keep trying for 5 minutes. */
  retry?: RetryPolicy;
  /** Retries of the SDK's own pipeline per call (its default is 3, too few for a throttling storm). */
  sdkRetries?: number;
  /** Told when the access was read again and changed (the emulator restarted elsewhere). */
  onReload?: (access: ArmAccess) => void;
}

export class RehearsalArm {
  client!: ResourceManagementClient;
  deployments!: DeploymentsClient;
  private raw!: Client;
  private access: ArmAccess;
  private caPem: string | undefined;
  private readonly policy: RetryPolicy;
  /** Calls retried by the outer loop, and the times the access changed on reload. */
  readonly counts = { retries: 0, reloads: 0 };

  constructor(
    access: ArmAccess,
    private readonly options: RehearsalArmOptions = {},
  ) {
    this.access = access;
    const outer = options.retry ?? { retryForMs: 5 * 60_000 };
    this.policy = {
      ...outer,
      onRetry: (info) => {
        this.counts.retries++;
        outer.onRetry?.(info);
      },
    };
    this.connect();
  }

  get url(): string {
    return this.access.url;
  }

  private connect(): void {
    const access = this.access;
    this.caPem = access.caCert ? pem(access.caCert) : undefined;
    const options = {
      endpoint: access.url,
      credentials: { scopes: ['https://management.azure.com/.default'] },
      retryOptions: { maxRetries: this.options.sdkRetries ?? 6, retryDelayInMs: 500, maxRetryDelayInMs: 8_000 },
      ...(this.caPem ? { tlsOptions: { ca: this.caPem } } : {}),
    };
    this.client = new ResourceManagementClient(credential(access.token), access.subscriptionId, options);
    this.deployments = new DeploymentsClient(credential(access.token), access.subscriptionId, options);
    this.raw = getClient(access.url, credential(access.token), options);
  }

  /** Reads the access again; reconnects when the address, token or certificate changed. */
  private reload(): boolean {
    let next: ArmAccess | undefined;
    try {
      next = this.access.reload?.();
    } catch {
      return false; // the file is being rewritten: the next retry reads it again
    }
    if (!next) return false;
    const nextPem = next.caCert ? pem(next.caCert) : undefined;
    if (next.url === this.access.url && next.token === this.access.token && nextPem === this.caPem && next.subscriptionId === this.access.subscriptionId) return false;
    this.access = { ...next, reload: next.reload ?? this.access.reload };
    this.connect();
    this.counts.reloads++;
    this.options.onReload?.(this.access);
    return true;
  }

  /** One Resource Manager step, retried through throttling storms and emulator restarts. */
  private retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(
      what,
      this.policy,
      (err) => {
        const failure = classifyArmFailure(err);
        if (!failure) return undefined;
        const changed = failure.reload ? this.reload() : false;
        // A refused token or certificate is only worth another try when the access changed.
        if (failure.reason.startsWith('HTTP 401') || CERT_ERROR_CODES.has(failure.reason)) return changed ? failure : undefined;
        return failure;
      },
      fn,
    );
  }

  /**
   * A learner's implementation work, done the way a learner with the finished design would: deploy
   * the pack's template again into the learner's group with its reference solution switched on
   * (role assignments, diagnostic settings, policies... on the resources already there), then do
   * what no template does — start the jobs and triggers, wire object replication.
   */
  async implementTasks(resourceGroupName: string, template: Record<string, unknown> & { parameters?: Record<string, { type?: string }> }): Promise<boolean> {
    if (!template.parameters?.deployReferenceSolution) return false;
    const foundation = await this.retrying(`list deployments of ${resourceGroupName}`, async () => {
      let found: { properties?: { parameters?: Record<string, unknown> } } | undefined;
      for await (const d of this.deployments.deployments.listByResourceGroup(resourceGroupName)) {
        if (d.properties?.provisioningState === 'Succeeded' && d.name !== 'rehearsal-learner-work') found = d;
      }
      return found;
    });
    if (!foundation) return false;
    const parameters: Record<string, { value: unknown }> = {};
    for (const [name, def] of Object.entries(template.parameters)) {
      const given = (foundation.properties?.parameters?.[name] as { value?: unknown } | undefined)?.value;
      // Secure values are never echoed back by ARM; the learner sets their own.
      if (given !== undefined) parameters[name] = { value: given };
      else if (def.type?.toLowerCase() === 'securestring') parameters[name] = { value: `Rh${randomBytes(9).toString('base64url')}!7a` };
    }
    // The learner grants themselves what the finished design needs (an Entra admin, for example):
    // the run knows no object id for a simulated learner, so it stands in with a fresh one.
    if (template.parameters.learnerObjectId && !parameters.learnerObjectId?.value) parameters.learnerObjectId = { value: randomUUID() };
    parameters.deployReferenceSolution = { value: true };
    // A PUT of the same deployment is idempotent, so a lost poll (emulator restart) is answered by putting it again.
    await this.retrying(`deploy rehearsal-learner-work to ${resourceGroupName}`, () =>
      this.deployments.deployments.createOrUpdate(resourceGroupName, 'rehearsal-learner-work', { properties: { mode: 'Incremental', template, parameters } }, { updateIntervalInMs: 100 }).pollUntilDone(),
    );
    await this.runtimeActions(resourceGroupName, String(parameters.namePrefix?.value ?? ''));
    return true;
  }

  private ids(resourceGroupName: string, type: string): Promise<string[]> {
    return this.retrying(`list ${type} in ${resourceGroupName}`, async () => {
      const out: string[] = [];
      for await (const r of this.client.resources.listByResourceGroup(resourceGroupName)) if (r.type?.toLowerCase() === type.toLowerCase() && r.id) out.push(r.id);
      return out;
    });
  }

  private call(method: 'post' | 'put' | 'get', path: string, apiVersion: string, body?: unknown): Promise<Record<string, unknown>> {
    return this.retrying(`${method.toUpperCase()} ${path}`, async () => {
      const req = this.raw.pathUnchecked(path);
      const res = await (method === 'get' ? req.get({ queryParameters: { 'api-version': apiVersion } }) : req[method]({ queryParameters: { 'api-version': apiVersion }, body: body ?? {} }));
      const status = Number(res.status);
      if (status >= 300) {
        throw Object.assign(new Error(`${method.toUpperCase()} ${path}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`), {
          statusCode: status,
          retryAfterMs: parseRetryAfter(res.headers['retry-after']),
        });
      }
      return (res.body ?? {}) as Record<string, unknown>;
    });
  }

  /** What no template does for the learner: start what is created stopped, wire object replication. */
  private async runtimeActions(resourceGroupName: string, prefix: string): Promise<void> {
    for (const job of await this.ids(resourceGroupName, 'Microsoft.StreamAnalytics/streamingjobs')) await this.call('post', `${job}/start`, '2020-03-01');
    for (const factory of await this.ids(resourceGroupName, 'Microsoft.DataFactory/factories')) {
      const triggers = ((await this.call('get', `${factory}/triggers`, '2018-06-01')).value ?? []) as Array<{ id: string }>;
      for (const t of triggers) await this.call('post', `${t.id}/start`, '2018-06-01');
    }
    const accounts = await this.ids(resourceGroupName, 'Microsoft.Storage/storageAccounts');
    const pri = accounts.find((a) => a.endsWith(`/${prefix}pri`));
    const sec = accounts.find((a) => a.endsWith(`/${prefix}sec`));
    if (pri && sec) {
      // Cross-region: replicate the primary's market data to the secondary (destination policy first, as ARM requires).
      const rules = [{ sourceContainer: 'market-data', destinationContainer: 'market-data', filters: { prefixMatch: [] } }];
      const dest = (await this.call('put', `${sec}/objectReplicationPolicies/default`, '2023-05-01', { properties: { sourceAccount: pri, destinationAccount: sec, rules } })) as { properties: { policyId: string; rules: unknown } };
      await this.call('put', `${pri}/objectReplicationPolicies/${dest.properties.policyId}`, '2023-05-01', { properties: { sourceAccount: pri, destinationAccount: sec, rules: dest.properties.rules } });
    }
  }

  /** Takes the learner's resource group name with a group of another "scenario": provisioning refuses it. */
  async blockProvisioning(resourceGroupName: string, location: string): Promise<void> {
    await this.retrying(`create blocking group ${resourceGroupName}`, () =>
      this.client.resourceGroups.createOrUpdate(resourceGroupName, { location, tags: { [TAGS.pack]: BLOCKER_PACK, purpose: 'rehearsal: makes this learner\'s provisioning fail' } }),
    );
  }

  async isBlocked(resourceGroupName: string): Promise<boolean> {
    const rg = await this.retrying(`read group ${resourceGroupName}`, () =>
      this.client.resourceGroups.get(resourceGroupName).catch((err: { statusCode?: number }) => {
        if (err.statusCode === 404) return undefined;
        throw err;
      }),
    );
    return rg?.tags?.[TAGS.pack] === BLOCKER_PACK;
  }

  /** Removes the blocking group (what the instructor does before resuming the learner). */
  async unblock(resourceGroupName: string): Promise<void> {
    if (!(await this.isBlocked(resourceGroupName))) return;
    await this.retrying(`delete blocking group ${resourceGroupName}`, () =>
      this.client.resourceGroups
        .delete(resourceGroupName)
        .pollUntilDone()
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode === 404) return; // gone: an earlier attempt's delete finished
          throw err;
        }),
    );
  }

  async groupExists(resourceGroupName: string): Promise<boolean> {
    return this.retrying(`read group ${resourceGroupName}`, async () => {
      try {
        await this.client.resourceGroups.get(resourceGroupName);
        return true;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return false;
        throw err;
      }
    });
  }

  /** Groups of a run that still exist (teardown should leave none). */
  runGroups(runId: string): Promise<string[]> {
    return this.retrying(`list groups of run ${runId}`, async () => {
      const out: string[] = [];
      for await (const rg of this.client.resourceGroups.list({ filter: `tagName eq '${TAGS.run}' and tagValue eq '${runId.replace(/'/g, "''")}'` })) {
        if (rg.name) out.push(rg.name);
      }
      return out;
    });
  }

  /** Changes the setting `check` looks at to a value it refuses; returns what to restore. */
  async breakSetting(resourceGroupName: string, check: PropertyCheck, apiVersion: string): Promise<BrokenSetting | undefined> {
    const pattern = check.namePattern ? new RegExp(check.namePattern) : undefined;
    const target = await this.retrying(`list resources of ${resourceGroupName}`, async () => {
      for await (const r of this.client.resources.listByResourceGroup(resourceGroupName)) {
        if (r.type?.toLowerCase() === check.resourceType.toLowerCase() && (!pattern || pattern.test(r.name ?? ''))) return r;
      }
      return undefined;
    });
    if (!target?.id) return undefined;
    const id = target.id;
    const original = await this.retrying(`read ${id}`, () => this.client.resources.getById(id, apiVersion));
    const changed = structuredClone(original) as Record<string, unknown>;
    setPath(changed, check.property, wrongValue(check.expected));
    await this.retrying(`change ${id}`, () => this.client.resources.createOrUpdateById(id, apiVersion, changed as GenericResource).pollUntilDone());
    return { checkId: check.id, resourceId: id, apiVersion, original };
  }

  async restore(broken: BrokenSetting): Promise<void> {
    await this.retrying(`restore ${broken.resourceId}`, () => this.client.resources.createOrUpdateById(broken.resourceId, broken.apiVersion, broken.original).pollUntilDone());
  }
}
