import { readFileSync } from 'node:fs';
import { ResourceManagementClient, type GenericResource } from '@azure/arm-resources';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { TAGS } from '../activities/environmentNames';

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

export class RehearsalArm {
  readonly client: ResourceManagementClient;

  constructor(readonly access: ArmAccess) {
    this.client = new ResourceManagementClient(credential(access.token), access.subscriptionId, {
      endpoint: access.url,
      credentials: { scopes: ['https://management.azure.com/.default'] },
      ...(access.caCert ? { tlsOptions: { ca: pem(access.caCert) } } : {}),
    });
  }

  /** Takes the learner's resource group name with a group of another "scenario": provisioning refuses it. */
  async blockProvisioning(resourceGroupName: string, location: string): Promise<void> {
    await this.client.resourceGroups.createOrUpdate(resourceGroupName, { location, tags: { [TAGS.pack]: BLOCKER_PACK, purpose: 'rehearsal: makes this learner\'s provisioning fail' } });
  }

  async isBlocked(resourceGroupName: string): Promise<boolean> {
    const rg = await this.client.resourceGroups.get(resourceGroupName).catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
    return rg?.tags?.[TAGS.pack] === BLOCKER_PACK;
  }

  /** Removes the blocking group (what the instructor does before resuming the learner). */
  async unblock(resourceGroupName: string): Promise<void> {
    if (!(await this.isBlocked(resourceGroupName))) return;
    await this.client.resourceGroups.delete(resourceGroupName).pollUntilDone();
  }

  async groupExists(resourceGroupName: string): Promise<boolean> {
    try {
      await this.client.resourceGroups.get(resourceGroupName);
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw err;
    }
  }

  /** Groups of a run that still exist (teardown should leave none). */
  async runGroups(runId: string): Promise<string[]> {
    const out: string[] = [];
    for await (const rg of this.client.resourceGroups.list({ filter: `tagName eq '${TAGS.run}' and tagValue eq '${runId.replace(/'/g, "''")}'` })) {
      if (rg.name) out.push(rg.name);
    }
    return out;
  }

  /** Changes the setting `check` looks at to a value it refuses; returns what to restore. */
  async breakSetting(resourceGroupName: string, check: PropertyCheck, apiVersion: string): Promise<BrokenSetting | undefined> {
    const pattern = check.namePattern ? new RegExp(check.namePattern) : undefined;
    let target: GenericResource | undefined;
    for await (const r of this.client.resources.listByResourceGroup(resourceGroupName)) {
      if (r.type?.toLowerCase() === check.resourceType.toLowerCase() && (!pattern || pattern.test(r.name ?? ''))) {
        target = r;
        break;
      }
    }
    if (!target?.id) return undefined;
    const original = await this.client.resources.getById(target.id, apiVersion);
    const changed = structuredClone(original) as Record<string, unknown>;
    setPath(changed, check.property, wrongValue(check.expected));
    await this.client.resources.createOrUpdateById(target.id, apiVersion, changed as GenericResource).pollUntilDone();
    return { checkId: check.id, resourceId: target.id, apiVersion, original };
  }

  async restore(broken: BrokenSetting): Promise<void> {
    await this.client.resources.createOrUpdateById(broken.resourceId, broken.apiVersion, broken.original).pollUntilDone();
  }
}
