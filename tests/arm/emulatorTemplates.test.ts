/**
 * The four shipped ARM templates, deployed through the real SDK clients into the local ARM emulator,
 * judged by the packs' own checks (a small evaluator below that reads resources over ARM's REST API
 * the way a validator must: list the group, GET by id, child collections, extension resources).
 *  - The foundation (deployReferenceSolution=false) passes the checks of the step right after provisioning.
 *  - The reference solution (true), plus what no template can do (start a job and a trigger, object
 *    replication), passes every check of the pack.
 *  - A learner changing a resource through the REST API makes a check fail, and changing it back passes.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { ResourceManagementClient } from '@azure/arm-resources';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openTestDatabase } from '../helpers/database';
import { emulatorClientOptions, startArmEmulator, type ArmEmulator } from '../../local/arm/emulator';
import { listPacks, type LoadedPack } from '../../scenarios/loadPack';
import type { Check } from '../../scenarios/schema';
import { packIdsIn } from '../../scenarios/loadPack';

let db: ReturnType<typeof openTestDatabase>;
let arm: ArmEmulator;
let rm: ResourceManagementClient;
let deployments: DeploymentsClient;
let packs: readonly LoadedPack[];

beforeAll(async () => {
  db = openTestDatabase();
  arm = await startArmEmulator({ database: db.database });
  const options = { ...emulatorClientOptions(arm), retryOptions: { retryDelayInMs: 10, maxRetryDelayInMs: 100 } };
  rm = new ResourceManagementClient(arm.credential, arm.subscriptionId, options);
  deployments = new DeploymentsClient(arm.credential, arm.subscriptionId, options);
  packs = (await listPacks(path.join(__dirname, '../../scenarios/packs'))).packs;
});

afterAll(async () => {
  await arm?.stop();
  await db?.dispose();
});

// ─── REST helper (what a validator does with the SDK's pipeline; plain https keeps it visible) ──

async function armCall(method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; body: any; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL(pathAndQuery, arm.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: arm.caCertPem, headers: { authorization: `Bearer ${arm.token}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const versionCache = new Map<string, string>();
async function apiVersionOf(type: string): Promise<string> {
  const [ns, ...rest] = type.split('/');
  const key = type.toLowerCase();
  if (!versionCache.has(key)) {
    const res = await armCall('GET', `/subscriptions/${arm.subscriptionId}/providers/${ns}?api-version=2025-04-01`);
    for (const t of res.body?.resourceTypes ?? []) versionCache.set(`${ns}/${t.resourceType}`.toLowerCase(), t.apiVersions[0]);
  }
  const v = versionCache.get(key);
  if (!v) throw new Error(`no api-version known for ${type} (${rest.join('/')})`);
  return v;
}

// ─── a check evaluator, after scenarios/schema.ts's checkSchema doc comment ──────────────────

interface Found {
  id: string;
  name: string;
  body: any;
}

const fullName = (id: string) => {
  const segs = id.split('/').filter(Boolean);
  const p = segs.map((s) => s.toLowerCase()).lastIndexOf('providers');
  return segs.slice(p + 2).filter((_, i) => i % 2 === 1).join('/');
};

async function resourcesOf(rg: string, type: string): Promise<Found[]> {
  if (type === 'Microsoft.Resources/resourceGroups') {
    const g = await armCall('GET', `/subscriptions/${arm.subscriptionId}/resourcegroups/${rg}?api-version=2025-04-01`);
    return [{ id: g.body.id, name: g.body.name, body: g.body }];
  }
  const segs = type.split('/');
  if (segs.length === 2) {
    const out: Found[] = [];
    for await (const r of rm.resources.listByResourceGroup(rg, { filter: `resourceType eq '${type}'` })) {
      const full = await armCall('GET', `${r.id}?api-version=${await apiVersionOf(type)}`);
      out.push({ id: r.id!, name: fullName(r.id!), body: full.body });
    }
    return out;
  }
  const parents = await resourcesOf(rg, segs.slice(0, -1).join('/'));
  const out: Found[] = [];
  for (const p of parents) {
    const list = await armCall('GET', `${p.id}/${segs.at(-1)}?api-version=${await apiVersionOf(type)}`);
    for (const r of list.body?.value ?? []) out.push({ id: r.id, name: fullName(r.id), body: r });
  }
  return out;
}

function valueAt(body: any, property: string): unknown {
  let cur = body;
  for (const part of property.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    if (cur === undefined || cur === null) return undefined;
    cur = part.startsWith('[') ? cur[Number(part.slice(1, -1))] : cur[part];
  }
  return cur;
}

async function evaluate(rg: string, check: Check): Promise<{ pass: boolean; why: string }> {
  const pattern = check.namePattern ? new RegExp(check.namePattern) : undefined;
  const matching = (await resourcesOf(rg, check.resourceType)).filter((r) => !pattern || pattern.test(r.name));
  const fail = (why: string) => ({ pass: false, why });
  switch (check.kind) {
    case 'exists':
      return matching.length >= check.minCount ? { pass: true, why: '' } : fail(`found ${matching.length} of ${check.minCount}`);
    case 'propertyEquals':
    case 'propertyMatches': {
      if (matching.length === 0) return fail('resource missing');
      for (const r of matching) {
        const v = valueAt(r.body, check.property);
        const ok = check.kind === 'propertyEquals' ? v === check.expected : v !== undefined && new RegExp(check.pattern).test(String(v));
        if (!ok) return fail(`${r.name}: ${check.property} = ${JSON.stringify(v)}`);
      }
      return { pass: true, why: '' };
    }
    case 'tagPresent': {
      if (matching.length === 0) return fail('resource missing');
      const bad = matching.find((r) => !(check.tag in (r.body.tags ?? {})) || (check.value !== undefined && r.body.tags[check.tag] !== check.value));
      return bad ? fail(`${bad.name}: tags ${JSON.stringify(bad.body.tags)}`) : { pass: true, why: '' };
    }
    case 'diagnosticSetting': {
      if (matching.length === 0) return fail('resource missing');
      for (const r of matching) {
        const settings = (await armCall('GET', `${r.id}/providers/Microsoft.Insights/diagnosticSettings?api-version=2021-05-01-preview`)).body.value as any[];
        const ok = settings.some((s) => s.properties.workspaceId && check.categories.every((c) => s.properties.logs?.some((l: any) => l.category === c && l.enabled)));
        if (!ok) return fail(`${r.name}: no setting sends ${check.categories.join(', ')} to Log Analytics`);
      }
      return { pass: true, why: '' };
    }
    case 'privateEndpoint': {
      if (matching.length === 0) return fail('resource missing');
      for (const r of matching) {
        const conns = (r.body.properties.privateEndpointConnections ?? []) as any[];
        const conn = conns.find((c) => c.properties.groupIds?.includes(check.groupId) && (!check.requireApproved || c.properties.privateLinkServiceConnectionState?.status === 'Approved'));
        if (!conn) return fail(`${r.name}: no ${check.requireApproved ? 'approved ' : ''}private endpoint connection for ${check.groupId}`);
        if (check.privateDnsZone) {
          const zone = (await resourcesOf(rg, 'Microsoft.Network/privateDnsZones')).find((z) => z.name === check.privateDnsZone);
          const records = zone ? ((await armCall('GET', `${zone.id}/A?api-version=2024-06-01`)).body.value as any[]) : [];
          if (!records.some((a) => a.name === r.name)) return fail(`${r.name}: no A record in ${check.privateDnsZone}`);
        }
      }
      return { pass: true, why: '' };
    }
    case 'roleAssignment': {
      if (matching.length === 0) return fail('resource missing');
      const principals = await resourcesOf(rg, check.principalResourceType);
      if (principals.length === 0) return fail(`no ${check.principalResourceType}`);
      for (const p of principals) {
        const principalId = p.body.identity?.principalId ?? p.body.properties?.principalId;
        let holds = false;
        for (const r of matching) {
          const assignments = (await armCall('GET', `${r.id}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()`)).body.value as any[];
          holds ||= assignments.some((a) => a.properties.principalId === principalId && (!check.roleDefinitionId || a.properties.roleDefinitionId.endsWith(check.roleDefinitionId)));
        }
        if (!holds) return fail(`${p.name} lacks ${check.role}`);
      }
      return { pass: true, why: '' };
    }
  }
}

async function failingChecks(rg: string, checks: readonly Check[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of checks) {
    const r = await evaluate(rg, c);
    if (!r.pass) out.push(`${c.id}: ${r.why}`);
  }
  return out;
}

// ─── deploying a pack ──────────────────────────────────────────────────────────────────────────

function parametersFor(lp: LoadedPack, reference: boolean): Record<string, { value: unknown }> {
  const out: Record<string, { value: unknown }> = {};
  for (const [name, p] of Object.entries(lp.pack.environment.parameters)) {
    let value: unknown;
    if (p.source === 'fixed') value = p.value;
    else if (p.source === 'instructor' || p.source === 'learner') value = p.default;
    else if (p.generator === 'namePrefix') value = `w${lp.pack.id.replace(/[^a-z]/g, '').slice(0, 5)}7q`;
    else if (p.generator === 'password') value = 'Wk9!pA7#xL2$qR5m';
    else if (p.generator === 'sharedKey') value = 'c2hhcmVka2V5Zm9ydGhld29ya3Nob3A';
    else if (p.generator === 'learnerObjectId') value = '6f1e9c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b';
    else if (p.generator === 'addressSpace') value = '10.7.0.0/16';
    if (name === 'onPremGatewayIp') value = '51.140.10.20';
    if (name === 'deployReferenceSolution') value = reference;
    out[name] = { value };
  }
  return out;
}

async function deployPack(lp: LoadedPack, rg: string, reference: boolean) {
  const template = JSON.parse(readFileSync(lp.templatePath, 'utf8'));
  const location = String((lp.pack.environment.parameters.location ?? lp.pack.environment.parameters.primaryLocation)?.default ?? 'westeurope');
  await rm.resourceGroups.createOrUpdate(rg, { location, tags: { 'workshop-run': 'test-run', 'workshop-learner': 'ada' } });
  return deployments.deployments.createOrUpdate(
    rg,
    `foundation-${reference ? 'reference' : 'learner'}`,
    { properties: { mode: 'Incremental', template, parameters: parametersFor(lp, reference) } },
    { updateIntervalInMs: 10 },
  );
}

const checksOfStep = (lp: LoadedPack, stepId: string) => {
  const step = lp.pack.phases.flatMap((p) => p.steps).find((s) => s.id === stepId);
  if (step?.kind !== 'validate') throw new Error(`${lp.pack.id}: ${stepId} is not a validate step`);
  return lp.pack.environment.checks.filter((c) => step.checks.includes(c.id));
};

/** What no template can do: start what is created stopped, and create object replication (it needs the destination's policy id). */
async function learnerRuntimeActions(lp: LoadedPack, rg: string): Promise<void> {
  const base = `/subscriptions/${arm.subscriptionId}/resourceGroups/${rg}/providers`;
  for (const job of await resourcesOf(rg, 'Microsoft.StreamAnalytics/streamingjobs')) {
    expect((await armCall('POST', `${job.id}/start?api-version=2020-03-01`, {})).status).toBe(200);
  }
  for (const trigger of await resourcesOf(rg, 'Microsoft.DataFactory/factories/triggers')) {
    expect((await armCall('POST', `${trigger.id}/start?api-version=2018-06-01`)).status).toBe(200);
  }
  if (lp.pack.id === 'cross-region') {
    const prefix = parametersFor(lp, true).namePrefix.value;
    const [pri, sec] = [`${base}/Microsoft.Storage/storageAccounts/${prefix}pri`, `${base}/Microsoft.Storage/storageAccounts/${prefix}sec`];
    const rules = [{ sourceContainer: 'market-data', destinationContainer: 'market-data', filters: { prefixMatch: [] } }];
    const dest = await armCall('PUT', `${sec}/objectReplicationPolicies/default?api-version=2023-05-01`, { properties: { sourceAccount: pri.replace(/^\/\//, '/'), destinationAccount: sec, rules } });
    expect(dest.status).toBe(201);
    const policyId = dest.body.properties.policyId;
    expect(dest.body.name).toBe(policyId);
    const src = await armCall('PUT', `${pri}/objectReplicationPolicies/${policyId}?api-version=2023-05-01`, {
      properties: { sourceAccount: pri, destinationAccount: sec, rules: dest.body.properties.rules },
    });
    expect(src.status).toBe(201);
  }
}

/**
 * Later implementation checks the foundation already satisfies, by design: the ML workspace is linked
 * to the registry at creation (the learner confirms it), Cosmos DB's consistency is Session (the learner
 * confirms it), and Application Insights is created workspace-based (classic resources can no longer be
 * created). Every other later check waits for the learner.
 */
const ALREADY_DONE_BY_FOUNDATION: Record<string, string[]> = {
  lakehouse: [],
  'ml-scoring': ['aml-linked-acr'],
  'cross-region': ['cosmos-session-consistency', 'appinsights-workspace-based'],
  hybrid: [],
};

describe.each(packIdsIn())('the %s template', (id) => {
  test('deploys the foundation, which passes the checks run right after provisioning; the later checks fail until the learner works', async () => {
    const lp = packs.find((p) => p.pack.id === id)!;
    const rg = `ws-${id}-foundation`;
    const result = await deployPack(lp, rg, false);
    expect(result.properties?.provisioningState).toBe('Succeeded');
    expect(result.properties?.outputResources?.length).toBeGreaterThan(8);
    const implementation = lp.pack.phases.find((p) => p.id === 'implementation')!;
    const firstCheckStep = implementation.steps.find((s) => s.kind === 'validate')!;
    expect(await failingChecks(rg, checksOfStep(lp, firstCheckStep.id))).toEqual([]);
    const later = implementation.steps.filter((s) => s.kind === 'validate' && s.id !== firstCheckStep.id).flatMap((s) => checksOfStep(lp, s.id));
    const failing = new Set((await failingChecks(rg, later)).map((f) => f.split(':')[0]));
    expect(ALREADY_DONE_BY_FOUNDATION[id], `add "${id}" to ALREADY_DONE_BY_FOUNDATION: the later checks its foundation already passes`).toBeDefined();
    expect(later.filter((c) => !failing.has(c.id)).map((c) => c.id)).toEqual(ALREADY_DONE_BY_FOUNDATION[id]);
    const group = await rm.resourceGroups.get(rg);
    expect(group.tags).toMatchObject({ 'workshop-pack': id, 'workshop-run': 'test-run', 'workshop-learner': 'ada' });
  });

  test('the reference solution, after the learner-only runtime actions, passes every check of the pack', async () => {
    const lp = packs.find((p) => p.pack.id === id)!;
    const rg = `ws-${id}-reference`;
    const result = await deployPack(lp, rg, true);
    expect(result.properties?.provisioningState).toBe('Succeeded');
    await learnerRuntimeActions(lp, rg);
    expect(await failingChecks(rg, lp.pack.environment.checks)).toEqual([]);
  });
});

test('a learner who changes a resource through the REST API fails a check, and passes it again after changing it back', async () => {
  const lp = packs.find((p) => p.pack.id === 'lakehouse')!;
  const rg = 'ws-lakehouse-reference';
  const check = lp.pack.environment.checks.find((c) => c.id === 'adls-no-public-blob')!;
  const lake = (await resourcesOf(rg, 'Microsoft.Storage/storageAccounts')).find((r) => r.name.endsWith('lake'))!;
  await rm.resources.updateById(lake.id, '2023-05-01', { properties: { allowBlobPublicAccess: true } } as never);
  expect(await evaluate(rg, check)).toEqual({ pass: false, why: `${lake.name}: properties.allowBlobPublicAccess = true` });
  const current = await rm.resources.getById(lake.id, '2023-05-01');
  await rm.resources.createOrUpdateById(lake.id, '2023-05-01', { ...current, properties: { ...(current.properties as object), allowBlobPublicAccess: false } });
  expect((await evaluate(rg, check)).pass).toBe(true);

  // A job stopped by hand fails "asa-running" with the learner's hint to act on.
  const job = (await resourcesOf(rg, 'Microsoft.StreamAnalytics/streamingjobs'))[0];
  await armCall('POST', `${job.id}/stop?api-version=2020-03-01`);
  const asa = lp.pack.environment.checks.find((c) => c.id === 'asa-running')!;
  expect(await evaluate(rg, asa)).toMatchObject({ pass: false, why: expect.stringContaining('"Stopped"') });
});
