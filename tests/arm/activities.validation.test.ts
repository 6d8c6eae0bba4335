import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentArmError } from '../../azure/armErrors';
import { provisionEnvironment, type ProvisionEnvironmentResult } from '../../activities/provisionEnvironment';
import { parseResourceId, runValidation, type CheckOutcome } from '../../activities/runValidation';
import { loadPackWithTemplate, templateApiVersions } from '../../scenarios/packFiles';
import { teardown } from '../../activities/teardown';
import { INSTRUCTOR_PARAMETERS, learnerObjectId, listAll, startArmTestEnv, type ArmTestEnv } from './armTestEnv';

let env: ArmTestEnv;
let hybrid: ProvisionEnvironmentResult;
let versions: Map<string, string>;

beforeAll(async () => {
  env = await startArmTestEnv();
  hybrid = await provisionEnvironment({
    idempotencyKey: 'validation:ada:foundation',
    runId: 'run-val',
    learnerId: 'ada',
    packId: 'hybrid',
    learnerObjectId: learnerObjectId(),
    parameters: INSTRUCTOR_PARAMETERS.hybrid,
  });
  versions = templateApiVersions((await loadPackWithTemplate('hybrid')).template);
});
afterAll(async () => {
  await env?.stop();
});

/** The learner changes a resource through the REST API, as with the portal or the CLI. */
async function idOf(type: string): Promise<string> {
  const id = hybrid.resourceIds.find((r) => parseResourceId(r)?.type.toLowerCase() === type.toLowerCase());
  if (!id) throw new Error(`the hybrid deployment created no ${type}`);
  return id;
}
async function setProperty(type: string, property: string, value: unknown): Promise<void> {
  const id = await idOf(type);
  const apiVersion = versions.get(type.toLowerCase())!;
  const current = await env.clients.rest.get<Record<string, unknown> & { properties?: Record<string, unknown> }>(id, apiVersion);
  expect(current.status).toBe(200);
  const body = { ...current.body, properties: { ...(current.body.properties ?? {}), [property]: value } };
  const [ns, kind] = type.split('/') as [string, string];
  await env.clients.resources.resources.createOrUpdate(hybrid.resourceGroupName, ns, '', kind, parseResourceId(id)!.name, apiVersion, body).pollUntilDone();
}
async function validate(checkIds: string[]): Promise<Record<string, CheckOutcome>> {
  const r = await runValidation({ idempotencyKey: 'v', packId: 'hybrid', runId: 'run-val', learnerId: 'ada', checkIds });
  return Object.fromEntries(r.checks.map((c) => [c.checkId, c]));
}

describe('runValidation against the live (emulated) environment', () => {
  it('reports pass, fail with the learner hint, and "resource missing" distinctly', async () => {
    await setProperty('Microsoft.Sql/servers', 'minimalTlsVersion', '1.2');
    let r = await validate(['rg-tagged', 'sql-tls12', 'sql-server-exists']);
    expect(r['rg-tagged']).toMatchObject({ status: 'pass', passed: true });
    expect(r['rg-tagged']!.hint).toBeUndefined();
    expect(r['sql-tls12']).toMatchObject({ status: 'pass', passed: true });

    await setProperty('Microsoft.Sql/servers', 'minimalTlsVersion', '1.0');
    r = await validate(['sql-tls12']);
    expect(r['sql-tls12']).toMatchObject({ status: 'fail', passed: false });
    expect(r['sql-tls12']!.message).toMatch(/minimalTlsVersion is "1\.0" \(expected "1\.2"\)/);
    expect(r['sql-tls12']!.hint).toMatch(/TLS 1\.0\/1\.1.*minimum TLS version to 1\.2/);
    // What a dispute shows: the resource, the property read, observed and expected, and how to fix it.
    const sqlName = parseResourceId(await idOf('Microsoft.Sql/servers'))!.name;
    expect(r['sql-tls12']!.evidence).toEqual([{ resource: sqlName, property: 'properties.minimalTlsVersion', observed: '"1.0"', expected: '"1.2"' }]);
    expect(r['sql-tls12']!.fix).toBe("In the server's Networking → Connectivity settings set the minimum TLS version to 1.2.");

    const factory = await idOf('Microsoft.DataFactory/factories');
    await env.clients.resources.resources.delete(hybrid.resourceGroupName, 'Microsoft.DataFactory', '', 'factories', parseResourceId(factory)!.name, versions.get('microsoft.datafactory/factories')!).pollUntilDone();
    r = await validate(['adf-exists', 'adf-diagnostics', 'sql-tls12']);
    expect(r['adf-exists']).toMatchObject({ status: 'missing', passed: false });
    expect(r['adf-exists']!.message).toMatch(/^Resource missing: No Microsoft\.DataFactory\/factories in the resource group\./);
    expect(r['adf-exists']!.hint).toMatch(/register the self-hosted integration runtime/);
    expect(r['adf-exists']!.evidence).toEqual([{ resource: 'Microsoft.DataFactory/factories', property: '(exists)', observed: `none in resource group ${hybrid.resourceGroupName}`, expected: 'at least one' }]);
    expect(r['adf-diagnostics']!.status).toBe('missing');
    expect(r['sql-tls12']!.status).toBe('fail');
  });

  it("runs a validate step's checks by step id, every kind of check answering", async () => {
    const pack = (await loadPackWithTemplate('hybrid')).pack;
    const step = pack.phases.flatMap((p) => p.steps).find((s) => s.kind === 'validate')!;
    const r = await runValidation({ packId: 'hybrid', runId: 'run-val', learnerId: 'ada', stepId: step.id });
    expect(r.checks.map((c) => c.checkId)).toEqual(pack.environment.checks.filter((c) => step.kind === 'validate' && step.checks.includes(c.id)).map((c) => c.id));
    for (const c of r.checks) {
      expect(['pass', 'fail', 'missing']).toContain(c.status);
      expect(c.message.length).toBeGreaterThan(10);
      if (c.status !== 'pass') {
        expect(c.hint).toBeTruthy();
        expect(c.fix).toBeTruthy();
        // Every failed check of every kind says what it read: at least one resource / property / observed / expected.
        expect(c.evidence!.length).toBeGreaterThan(0);
        for (const e of c.evidence!) for (const field of ['resource', 'property', 'observed', 'expected'] as const) expect(e[field], `${c.checkId}.${field}`).toBeTruthy();
      } else expect(c.evidence).toBeUndefined();
    }
  });

  it('every check is "resource missing" when the group does not exist', async () => {
    const r = await runValidation({ packId: 'hybrid', resourceGroupName: 'ws-never-provisioned', checkIds: ['rg-tagged', 'sql-tls12'] });
    expect(r.passed).toBe(false);
    expect(r.counts).toEqual({ pass: 0, fail: 0, missing: 2 });
    expect(r.checks[0]!.message).toMatch(/Resource missing: Resource group ws-never-provisioned does not exist/);
  });
});

describe('teardown', () => {
  it('removes the group and everything in it; a second teardown is a no-op', async () => {
    const first = await teardown({ idempotencyKey: 't1', runId: 'run-val', learnerId: 'ada', reason: 'test' });
    expect(first).toEqual({ resourceGroupName: hybrid.resourceGroupName, deleted: true, alreadyGone: false });
    await expect(env.clients.resources.resourceGroups.get(hybrid.resourceGroupName)).rejects.toMatchObject({ statusCode: 404 });
    const sql = await idOf('Microsoft.Sql/servers');
    expect((await env.clients.rest.get(sql, versions.get('microsoft.sql/servers')!)).status).toBe(404);
    const everywhere = await listAll(env.clients.resources.resources.list());
    expect(everywhere.filter((r) => r.id!.toLowerCase().includes(`/resourcegroups/${hybrid.resourceGroupName.toLowerCase()}/`))).toEqual([]);

    const second = await teardown({ idempotencyKey: 't1', runId: 'run-val', learnerId: 'ada', reason: 'test' });
    expect(second).toEqual({ resourceGroupName: hybrid.resourceGroupName, deleted: false, alreadyGone: true });
  });

  it('refuses to delete a group that is not a workshop environment', async () => {
    await env.clients.resources.resourceGroups.createOrUpdate('shared-network', { location: 'westeurope', tags: { owner: 'platform' } });
    await expect(teardown({ resourceGroupName: 'shared-network' })).rejects.toBeInstanceOf(PermanentArmError);
    await expect(teardown({ resourceGroupName: 'shared-network' })).rejects.toThrow(/no workshop-pack tag/);
    expect((await env.clients.resources.resourceGroups.get('shared-network')).tags).toEqual({ owner: 'platform' });
  });
});
