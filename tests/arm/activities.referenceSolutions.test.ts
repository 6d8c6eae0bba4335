import { getClient, type Client } from '@azure-rest/core-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { provisionEnvironment } from '../../activities/provisionEnvironment';
import { runValidation } from '../../activities/runValidation';
import { loadPackWithTemplate } from '../../scenarios/packFiles';
import { INSTRUCTOR_PARAMETERS, startArmTestEnv, type ArmTestEnv } from './armTestEnv';
import { packIdsIn } from '../../scenarios/loadPack';

/**
 * runValidation against whole environments: the foundation as provisioned passes the checks of the
 * pack's first validate step and fails most of the rest; the pack's reference solution (its template
 * with deployReferenceSolution, plus what only a learner can do at runtime) passes every check.
 */
let env: ArmTestEnv;
let raw: Client;
beforeAll(async () => {
  env = await startArmTestEnv();
  raw = getClient(env.arm.url, env.arm.credential, { tlsOptions: { ca: env.arm.caCertPem } });
});
afterAll(async () => {
  await env?.stop();
});

const PACKS = packIdsIn();
const referenceGroups = new Map<string, string>();

async function post(path: string, apiVersion: string, body: unknown = {}): Promise<void> {
  const res = await raw.pathUnchecked(path).post({ queryParameters: { 'api-version': apiVersion }, body });
  expect(Number(res.status)).toBeLessThan(300);
}
async function put(path: string, apiVersion: string, body: unknown): Promise<{ properties: { policyId: string; rules: unknown } }> {
  const res = await raw.pathUnchecked(path).put({ queryParameters: { 'api-version': apiVersion }, body });
  expect(Number(res.status)).toBeLessThan(300);
  return res.body as { properties: { policyId: string; rules: unknown } };
}
async function idsOfType(rg: string, type: string): Promise<string[]> {
  const out: string[] = [];
  for await (const r of env.clients.resources.resources.listByResourceGroup(rg)) if (r.type?.toLowerCase() === type.toLowerCase()) out.push(r.id!);
  return out;
}

/** What no template does for the learner: start what is created stopped, wire object replication. */
async function learnerRuntimeActions(packId: string, rg: string, prefix: string): Promise<void> {
  for (const job of await idsOfType(rg, 'Microsoft.StreamAnalytics/streamingjobs')) await post(`${job}/start`, '2020-03-01');
  for (const factory of await idsOfType(rg, 'Microsoft.DataFactory/factories')) {
    const triggers = (await env.clients.rest.list<{ id: string }>(`${factory}/triggers`, '2018-06-01')) ?? [];
    for (const t of triggers) await post(`${t.id}/start`, '2018-06-01');
  }
  if (packId === 'cross-region') {
    const base = `/subscriptions/${env.clients.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts`;
    const [pri, sec] = [`${base}/${prefix}pri`, `${base}/${prefix}sec`];
    const rules = [{ sourceContainer: 'market-data', destinationContainer: 'market-data', filters: { prefixMatch: [] } }];
    const dest = await put(`${sec}/objectReplicationPolicies/default`, '2023-05-01', { properties: { sourceAccount: pri, destinationAccount: sec, rules } });
    await put(`${pri}/objectReplicationPolicies/${dest.properties.policyId}`, '2023-05-01', { properties: { sourceAccount: pri, destinationAccount: sec, rules: dest.properties.rules } });
  }
}

describe('runValidation over the shipped packs', () => {
  for (const packId of PACKS) {
    it(`${packId}: the foundation passes its first validate step and fails most later checks; the reference solution passes every check`, async () => {
      const { pack, template } = await loadPackWithTemplate(packId);
      const validateSteps = pack.phases.flatMap((p) => p.steps).filter((s) => s.kind === 'validate');
      const [first, ...later] = validateSteps;

      // The foundation, as a learner receives it, through the activity.
      const foundation = await provisionEnvironment({
        idempotencyKey: `ref:${packId}:foundation`,
        runId: 'ref',
        learnerId: `${packId}-foundation`,
        packId,
        learnerObjectId: '6f1e9c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b',
        parameters: INSTRUCTOR_PARAMETERS[packId] ?? {},
      });
      const atStart = await runValidation({ packId, resourceGroupName: foundation.resourceGroupName, stepId: first!.id });
      expect(atStart.checks.filter((c) => !c.passed).map((c) => `${c.checkId}: ${c.message}`)).toEqual([]);
      const laterIds = later.flatMap((s) => (s.kind === 'validate' ? s.checks : []));
      const beforeWork = await runValidation({ packId, resourceGroupName: foundation.resourceGroupName, checkIds: laterIds });
      expect(beforeWork.counts.fail + beforeWork.counts.missing).toBeGreaterThan(laterIds.length / 2);

      // The reference solution: the same template with deployReferenceSolution, deployed straight through ARM.
      const rg = learnerResourceGroupName('ref', `${packId}-reference`);
      const params = Object.fromEntries(
        Object.entries((await env.clients.deployments.deployments.get(foundation.resourceGroupName, foundation.deploymentName)).properties?.parameters ?? {}).map(([k, v]) => [
          k,
          { value: (v as { value?: unknown }).value },
        ]),
      ) as Record<string, { value: unknown }>;
      for (const [k, v] of Object.entries(params)) if (v.value === undefined) params[k] = { value: 'Wk9!pA7#xL2$qR5m' }; // secure values are not echoed
      params.deployReferenceSolution = { value: true };
      const prefix = String(params.namePrefix!.value).replace(/.$/, 'r'); // global names must not clash with the foundation's
      params.namePrefix = { value: prefix };
      await env.clients.resources.resourceGroups.createOrUpdate(rg, { location: foundation.location, tags: { 'workshop-pack': packId, 'workshop-run': 'ref' } });
      const deployed = await env.clients.deployments.deployments.createOrUpdate(rg, 'reference', { properties: { mode: 'Incremental', template, parameters: params } }, { updateIntervalInMs: 20 }).pollUntilDone();
      expect(deployed.properties?.provisioningState).toBe('Succeeded');
      await learnerRuntimeActions(packId, rg, prefix);

      const all = await runValidation({ packId, resourceGroupName: rg });
      expect(all.checks.filter((c) => !c.passed).map((c) => `${c.checkId} (${c.status}): ${c.message}`)).toEqual([]);
      expect(all.passed).toBe(true);
      expect(all.checks.length).toBe(pack.environment.checks.length);
      referenceGroups.set(packId, rg);
    });
  }

  it('hybrid: a disabled log category, a removed role assignment and a removed private endpoint each fail their check', async () => {
    const rg = referenceGroups.get('hybrid');
    expect(rg).toBeDefined();
    const del = async (id: string, apiVersion: string) => expect(Number((await raw.pathUnchecked(id).delete({ queryParameters: { 'api-version': apiVersion } })).status)).toBeLessThan(300);

    const [gateway] = await idsOfType(rg!, 'Microsoft.Network/virtualNetworkGateways');
    const [setting] = (await env.clients.rest.list<{ id: string; properties: { logs: Array<{ category: string; enabled: boolean }> } }>(`${gateway}/providers/Microsoft.Insights/diagnosticSettings`, '2021-05-01-preview'))!;
    const logs = setting!.properties.logs.map((l) => (l.category === 'IKEDiagnosticLog' ? { ...l, enabled: false } : l));
    await put(setting!.id, '2021-05-01-preview', { properties: { ...setting!.properties, logs } });

    const [vault] = await idsOfType(rg!, 'Microsoft.KeyVault/vaults');
    const assignments = (await env.clients.rest.list<{ id: string; properties: { roleDefinitionId: string } }>(`${vault}/providers/Microsoft.Authorization/roleAssignments`, '2022-04-01'))!;
    for (const a of assignments.filter((x) => x.properties.roleDefinitionId.endsWith('4633458b-17de-408a-b874-0445c86b69e6'))) await del(a.id, '2022-04-01');

    for (const pe of await idsOfType(rg!, 'Microsoft.Network/privateEndpoints')) await del(pe, '2023-11-01');

    const r = await runValidation({ packId: 'hybrid', resourceGroupName: rg!, checkIds: ['vpn-diagnostics', 'adf-mi-keyvault', 'sql-private-endpoint', 'kv-diagnostics'] });
    const by = Object.fromEntries(r.checks.map((c) => [c.checkId, c]));
    expect(by['vpn-diagnostics']).toMatchObject({ status: 'fail', message: expect.stringMatching(/does not send IKEDiagnosticLog to Log Analytics/) });
    expect(by['adf-mi-keyvault']).toMatchObject({ status: 'fail', message: expect.stringMatching(/identity does not hold Key Vault Secrets User/) });
    expect(by['sql-private-endpoint']).toMatchObject({ status: 'fail', message: expect.stringMatching(/no private endpoint for sqlServer/) });
    expect(by['kv-diagnostics']).toMatchObject({ status: 'pass' });
  });
});
