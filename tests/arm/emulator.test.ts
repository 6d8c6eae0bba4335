/**
 * The local ARM emulator through the real `@azure/arm-resources` / `@azure/arm-resourcesdeployments`
 * clients (and raw HTTPS where the wire itself is the point): authentication, resource groups,
 * deployments as long-running operations, adopting a running deployment, template errors, persistence
 * across a restart, and the configured faults. Deployments are held and released by changing the
 * slow-deployment fault, never by waiting on the clock.
 */
import { request } from 'node:https';
import { ResourceManagementClient } from '@azure/arm-resources';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { openTestDatabase } from '../helpers/database';
import { emulatorClientOptions, startArmEmulator, staticTokenCredential, type ArmEmulator } from '../../local/arm/emulator';

const SUBSCRIPTION = '3f1b7a52-0c9d-4e8a-9b61-2d4c5e6f7a80';
const HOLD = { slowDeployment: { perResourceMs: 600_000 } };

let db: ReturnType<typeof openTestDatabase>;
let arm: ArmEmulator;

function clients(emulator: ArmEmulator = arm, subscriptionId = emulator.subscriptionId) {
  const options = { ...emulatorClientOptions(emulator), retryOptions: { maxRetries: 10, retryDelayInMs: 5, maxRetryDelayInMs: 20 } };
  const deploymentsClient = new DeploymentsClient(emulator.credential, subscriptionId, options);
  return {
    rm: new ResourceManagementClient(emulator.credential, subscriptionId, options),
    deployments: deploymentsClient.deployments,
    operations: deploymentsClient.deploymentOperations,
  };
}

async function raw(method: string, path: string, opts: { body?: unknown; token?: string | null } = {}) {
  const url = new URL(path, arm.url);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? arm.token}`;
  return new Promise<{ status: number; body: any; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = request(url, { method, ca: arm.caCertPem, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
  });
}

async function until(what: string, predicate: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Two identities, the second depending on the first, plus outputs: a small, real template. */
const identities = {
  $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
  contentVersion: '1.0.0.0',
  parameters: { prefix: { type: 'string' }, tier: { type: 'string', defaultValue: 'a', allowedValues: ['a', 'b'] } },
  variables: { first: "[format('{0}-id-1', parameters('prefix'))]" },
  resources: [
    { type: 'Microsoft.ManagedIdentity/userAssignedIdentities', apiVersion: '2023-01-31', name: "[variables('first')]", location: '[resourceGroup().location]', tags: { tier: "[parameters('tier')]" } },
    {
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
      apiVersion: '2023-01-31',
      name: "[concat(parameters('prefix'), '-id-2')]",
      location: '[resourceGroup().location]',
      dependsOn: ["[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('first'))]"],
      tags: { peer: "[reference(variables('first')).principalId]" },
    },
  ],
  outputs: {
    firstPrincipalId: { type: 'string', value: "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('first')), '2023-01-31').principalId]" },
    suffix: { type: 'string', value: '[uniqueString(resourceGroup().id)]' },
  },
};
const deployment = (template: unknown = identities, parameters: Record<string, unknown> = { prefix: 'wk1' }) => ({
  properties: { mode: 'Incremental' as const, template, parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { value: v }])) },
});

beforeAll(async () => {
  db = openTestDatabase();
  arm = await startArmEmulator({ database: db.database, subscriptionId: SUBSCRIPTION });
});

afterAll(async () => {
  await arm?.stop();
  await db?.dispose();
});

beforeEach(() => {
  arm.setFaults({});
  arm.resetStats();
});

describe('authentication', () => {
  test('a request without a bearer token is refused with 401 AuthenticationFailed in ARM’s error envelope', async () => {
    const res = await raw('GET', `/subscriptions/${SUBSCRIPTION}/resourcegroups?api-version=2025-04-01`, { token: null });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." } });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer authorization_uri=/);
  });

  test('a wrong token is refused with 401 InvalidAuthenticationToken, also through the SDK', async () => {
    expect((await raw('GET', `/subscriptions/${SUBSCRIPTION}/resourcegroups?api-version=2025-04-01`, { token: 'not-the-token' })).body.error.code).toBe('InvalidAuthenticationToken');
    const wrong = new ResourceManagementClient(staticTokenCredential('not-the-token'), SUBSCRIPTION, emulatorClientOptions(arm));
    await expect(wrong.resourceGroups.get('anything')).rejects.toMatchObject({ statusCode: 401, code: 'InvalidAuthenticationToken' });
  });

  test('another subscription is refused with 403 AuthorizationFailed', async () => {
    const other = clients(arm, '11111111-2222-3333-4444-555555555555');
    await expect(other.rm.resourceGroups.createOrUpdate('rg', { location: 'westeurope' })).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
  });

  test('the certificate is trusted only by clients given caCertPem', async () => {
    const untrusting = new ResourceManagementClient(arm.credential, SUBSCRIPTION, { endpoint: arm.url, retryOptions: { maxRetries: 0 } });
    await expect(untrusting.resourceGroups.get('anything')).rejects.toThrow(/self[- ]signed|certificate/i);
  });
});

describe('resource groups', () => {
  test('create, read, tag and list by tag; delete is a 202 + Location operation, after which the group is 404', async () => {
    const { rm } = clients();
    const created = await rm.resourceGroups.createOrUpdate('ws-run1-ada', { location: 'West Europe', tags: { 'workshop-pack': 'lakehouse', 'workshop-run': 'run1' } });
    expect(created).toMatchObject({ name: 'ws-run1-ada', location: 'westeurope', tags: { 'workshop-pack': 'lakehouse', 'workshop-run': 'run1' }, properties: { provisioningState: 'Succeeded' } });
    await rm.resourceGroups.createOrUpdate('ws-run1-bob', { location: 'westeurope', tags: { 'workshop-pack': 'hybrid' } });
    const lakehouse: string[] = [];
    for await (const g of rm.resourceGroups.list({ filter: "tagName eq 'workshop-pack' and tagValue eq 'lakehouse'" })) lakehouse.push(g.name!);
    expect(lakehouse).toEqual(['ws-run1-ada']);
    expect((await rm.resourceGroups.checkExistence('ws-run1-ada')).body).toBe(true);

    await clients().deployments.createOrUpdate('ws-run1-bob', 'd1', deployment(), { updateIntervalInMs: 5 });
    const del = await raw('DELETE', `/subscriptions/${SUBSCRIPTION}/resourcegroups/ws-run1-bob?api-version=2025-04-01`);
    expect(del.status).toBe(202);
    const location = String(del.headers.location);
    expect(location).toMatch(new RegExp(`^${arm.url}/subscriptions/${SUBSCRIPTION}/operationresults/`));
    await until('the delete to finish', async () => (await raw('GET', location.slice(arm.url.length))).status === 200);
    await expect(rm.resourceGroups.get('ws-run1-bob')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
    const gone = await raw('GET', `/subscriptions/${SUBSCRIPTION}/resourceGroups/ws-run1-bob/providers/Microsoft.ManagedIdentity/userAssignedIdentities/wk1-id-1?api-version=2023-01-31`);
    expect(gone.status).toBe(404);

    await rm.resourceGroups.delete('ws-run1-ada', { updateIntervalInMs: 5 });
    expect((await rm.resourceGroups.checkExistence('ws-run1-ada')).body).toBe(false);
  });
});

describe('deployments', () => {
  test('a deployment runs as an LRO (201 + Azure-AsyncOperation, Accepted → Running → Succeeded) and reports outputs and output resources', async () => {
    const { rm, deployments } = clients();
    await rm.resourceGroups.createOrUpdate('rg-deploy', { location: 'uksouth' });
    arm.setFaults(HOLD);
    const put = await raw('PUT', `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg-deploy/providers/Microsoft.Resources/deployments/wire?api-version=2026-06-01`, { body: deployment() });
    expect(put.status).toBe(201);
    expect(put.body.properties.provisioningState).toBe('Accepted');
    const statusUrl = String(put.headers['azure-asyncoperation']).slice(arm.url.length);
    expect(statusUrl).toMatch(/\/deployments\/wire\/operationStatuses\/\w+\?api-version=2026-06-01$/);
    await until('Running', async () => (await raw('GET', statusUrl)).body.status === 'Running');
    arm.setFaults({});
    await until('Succeeded', async () => (await raw('GET', statusUrl)).body.status === 'Succeeded');

    const done = await deployments.get('rg-deploy', 'wire');
    const firstId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-deploy/providers/Microsoft.ManagedIdentity/userAssignedIdentities/wk1-id-1`;
    expect(done.properties).toMatchObject({ provisioningState: 'Succeeded', mode: 'Incremental', parameters: { prefix: { type: 'String', value: 'wk1' }, tier: { type: 'String', value: 'a' } } });
    expect(done.properties?.outputResources?.map((r) => r.id)).toEqual([firstId, firstId.replace('-id-1', '-id-2')]);
    const first = await clients().rm.resources.getById(firstId, '2023-01-31');
    expect((done.properties?.outputs as any).firstPrincipalId.value).toBe((first.properties as any).principalId);
    expect((done.properties?.outputs as any).suffix.value).toMatch(/^[a-z2-7]{13}$/);
    const second = await clients().rm.resources.getById(firstId.replace('-id-1', '-id-2'), '2023-01-31');
    expect(second.tags?.peer).toBe((first.properties as any).principalId);
  });

  test('a second PUT of a running deployment is refused with 409 DeploymentActive; the caller adopts the running one and no second run starts', async () => {
    const { rm, deployments } = clients();
    await rm.resourceGroups.createOrUpdate('rg-adopt', { location: 'westeurope' });
    arm.setFaults(HOLD);
    const first = deployments.createOrUpdate('rg-adopt', 'ws-lakehouse-step1', deployment(), { updateIntervalInMs: 5 });
    await first.submitted();
    await expect(deployments.createOrUpdate('rg-adopt', 'ws-lakehouse-step1', deployment(), { updateIntervalInMs: 5 })).rejects.toMatchObject({
      statusCode: 409,
      code: 'DeploymentActive',
      message: expect.stringMatching(/^Unable to edit or replace deployment 'ws-lakehouse-step1': previous deployment from '.+' is still active/),
    });
    const running = await deployments.get('rg-adopt', 'ws-lakehouse-step1');
    expect(['Accepted', 'Running']).toContain(running.properties?.provisioningState);
    arm.setFaults({});
    expect((await first).properties?.provisioningState).toBe('Succeeded');
    expect(arm.stats.deploymentsStarted).toBe(1);
    // Once finished, the same name may be deployed again (ARM re-runs it; the resources are unchanged).
    expect((await deployments.createOrUpdate('rg-adopt', 'ws-lakehouse-step1', deployment(), { updateIntervalInMs: 5 })).properties?.provisioningState).toBe('Succeeded');
    expect(arm.stats.deploymentsStarted).toBe(2);
  });

  test('an unsupported template function fails the deployment with InvalidTemplate naming the function; nothing is deployed', async () => {
    const { rm, deployments } = clients();
    await rm.resourceGroups.createOrUpdate('rg-badfn', { location: 'westeurope' });
    const bad = { ...identities, resources: [{ ...identities.resources[0], location: "[pickZones('Microsoft.Compute', 'virtualMachines', resourceGroup().location)]" }] };
    await expect(deployments.createOrUpdate('rg-badfn', 'bad', deployment(bad), { updateIntervalInMs: 5 })).rejects.toMatchObject({
      statusCode: 400,
      code: 'InvalidTemplate',
      message: expect.stringContaining("The template function 'pickZones' is not valid"),
    });
    const validate = await raw('POST', `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg-badfn/providers/Microsoft.Resources/deployments/bad/validate?api-version=2026-06-01`, { body: deployment(bad) });
    expect(validate.status).toBe(400);
    expect(validate.body.error.message).toContain("'pickZones'");
    expect(arm.stats.deploymentsStarted).toBe(0);
  });

  test('template parameters are checked before deploying: allowedValues, unknown and missing parameters', async () => {
    const { rm, deployments } = clients();
    await rm.resourceGroups.createOrUpdate('rg-params', { location: 'westeurope' });
    const attempt = (p: Record<string, unknown>) => deployments.createOrUpdate('rg-params', 'p', deployment(identities, p), { updateIntervalInMs: 5 });
    await expect(attempt({ prefix: 'x', tier: 'c' })).rejects.toMatchObject({ code: 'InvalidTemplate', message: expect.stringContaining("The value 'c' is not part of the allowed value(s): 'a,b'") });
    await expect(attempt({ prefix: 'x', colour: 'red' })).rejects.toMatchObject({ code: 'InvalidTemplate', message: expect.stringContaining("The template parameters 'colour'") });
    await expect(attempt({})).rejects.toMatchObject({ code: 'InvalidTemplate', message: expect.stringContaining("The value for the template parameter 'prefix' is not provided") });
  });

  test('a resource type configured to fail ends the deployment Failed with DeploymentFailed and a detail naming the resource', async () => {
    const { rm, deployments } = clients();
    await rm.resourceGroups.createOrUpdate('rg-failing', { location: 'westeurope' });
    arm.setFaults({ failingResourceTypes: ['Microsoft.ManagedIdentity/userAssignedIdentities'] });
    await expect(deployments.createOrUpdate('rg-failing', 'f', deployment(), { updateIntervalInMs: 5 })).rejects.toThrow(/DeploymentFailed/);
    const failed = await deployments.get('rg-failing', 'f');
    expect(failed.properties?.provisioningState).toBe('Failed');
    expect(failed.properties?.error).toMatchObject({
      code: 'DeploymentFailed',
      details: [{ code: 'ResourceDeploymentFailure', target: expect.stringMatching(/userAssignedIdentities\/wk1-id-1$/), message: expect.stringContaining("terminal provisioning state 'Failed'") }],
    });
    const states: string[] = [];
    for await (const op of clients().operations.list('rg-failing', 'f')) states.push(`${op.properties?.provisioningState} ${op.properties?.targetResource?.resourceName}`);
    expect(states).toEqual(['Failed wk1-id-1']);
  });
});

describe('faults', () => {
  test('about the configured fraction of writes is throttled with 429 + Retry-After, and the SDK’s retry policy rides it out', async () => {
    const { rm } = clients();
    arm.setFaults({ seed: 7, throttle: { fraction: 0.3, retryAfterSeconds: 0 } });
    for (let i = 0; i < 60; i++) await rm.resourceGroups.createOrUpdate(`rg-throttle-${i}`, { location: 'westeurope', tags: { i: String(i) } });
    const names: string[] = [];
    for await (const g of rm.resourceGroups.list({ filter: "tagName eq 'i'" })) names.push(g.name!);
    expect(names).toHaveLength(60);
    const rate = arm.stats.throttled / arm.stats.writes;
    expect(rate).toBeGreaterThan(0.2);
    expect(rate).toBeLessThan(0.4);

    arm.setFaults({ throttle: { fraction: 1, retryAfterSeconds: 17 } });
    const refused = await raw('PUT', `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg-throttle-x?api-version=2025-04-01`, { body: { location: 'westeurope' } });
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('17');
    expect(refused.body.error).toMatchObject({ code: 'SubscriptionRequestsThrottled', message: expect.stringContaining("Please try again after '17' seconds") });
    expect((await raw('GET', `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg-throttle-1?api-version=2025-04-01`)).status).toBe(200);
  });

  test('a burst of 500s is retried through by the SDK', async () => {
    const { rm } = clients();
    arm.setFaults({ serverErrors: { every: 5, length: 3 } });
    for (let i = 0; i < 10; i++) await rm.resourceGroups.createOrUpdate(`rg-burst-${i}`, { location: 'westeurope' });
    expect(arm.stats.serverErrors).toBeGreaterThanOrEqual(10);
    const failed = await raw('PUT', `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg-burst-x?api-version=2025-04-01`, { body: { location: 'westeurope' } });
    if (failed.status === 500) expect(failed.body.error.code).toBe('InternalServerError');
  });

  test('a quota fault refuses the deployment up front with InvalidTemplateDeployment / QuotaExceeded, or fails it later with OperationNotAllowed', async () => {
    const { rm, deployments } = clients();
    await rm.resourceGroups.createOrUpdate('rg-quota', { location: 'westeurope' });
    arm.setFaults({ quota: { resourceType: 'Microsoft.ManagedIdentity/userAssignedIdentities', limit: 4 } });
    const res = await raw('PUT', `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg-quota/providers/Microsoft.Resources/deployments/q?api-version=2026-06-01`, { body: deployment() });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'InvalidTemplateDeployment',
      message: expect.stringMatching(/^The template deployment 'q' is not valid according to the validation procedure\. The tracking id is '[0-9a-f-]{36}'\. See inner errors for details\.$/),
      details: [{ code: 'QuotaExceeded', message: expect.stringMatching(/^Operation could not be completed as it results in exceeding approved userAssignedIdentities quota\. .*Location: westeurope, Current Limit: 4, Current Usage: 4, Additional Required: 1/) }],
    });
    await expect(deployments.createOrUpdate('rg-quota', 'q', deployment(), { updateIntervalInMs: 5 })).rejects.toMatchObject({ statusCode: 400, code: 'InvalidTemplateDeployment' });

    arm.setFaults({ quota: { at: 'provision', code: 'OperationNotAllowed' } });
    await expect(deployments.createOrUpdate('rg-quota', 'q', deployment(), { updateIntervalInMs: 5 })).rejects.toThrow(/DeploymentFailed/);
    const failed = await deployments.get('rg-quota', 'q');
    expect(failed.properties?.error?.details?.[0]).toMatchObject({ code: 'OperationNotAllowed', message: expect.stringContaining('exceeding approved') });
  });

  test('stats.maxConcurrentDeployments records how many deployments were running at once', async () => {
    const { rm, deployments } = clients();
    arm.setFaults(HOLD);
    const runs = [];
    for (let i = 0; i < 3; i++) {
      await rm.resourceGroups.createOrUpdate(`rg-conc-${i}`, { location: 'westeurope' });
      runs.push(deployments.createOrUpdate(`rg-conc-${i}`, 'd', deployment(), { updateIntervalInMs: 5 }));
    }
    await until('three deployments running', () => arm.stats.activeDeployments === 3);
    arm.setFaults({});
    for (const r of runs) expect((await r).properties?.provisioningState).toBe('Succeeded');
    // A client can read Succeeded a moment before the run's bookkeeping ends (the record is written first).
    await until('the runs to end', () => arm.stats.activeDeployments === 0);
    expect(arm.stats).toMatchObject({ maxConcurrentDeployments: 3, activeDeployments: 0, deploymentsStarted: 3 });
  });
});

test('state survives an emulator restart, and a deployment running at the stop finishes after the start', async () => {
  const { rm, deployments } = clients();
  await rm.resourceGroups.createOrUpdate('rg-restart', { location: 'westeurope', tags: { 'workshop-pack': 'hybrid' } });
  await deployments.createOrUpdate('rg-restart', 'done', deployment(identities, { prefix: 'keep' }), { updateIntervalInMs: 5 });
  const id = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-restart/providers/Microsoft.ManagedIdentity/userAssignedIdentities/keep-id-1`;
  await rm.resources.updateById(id, '2023-01-31', { tags: { changed: 'by-learner' } });
  arm.setFaults(HOLD);
  const interrupted = deployments.createOrUpdate('rg-restart', 'interrupted', deployment(identities, { prefix: 'late' }), { updateIntervalInMs: 5 });
  await interrupted.submitted();
  await until('the deployment to run', () => arm.stats.activeDeployments === 1);
  await arm.stop();
  interrupted.catch(() => undefined);

  arm = await startArmEmulator({ database: db.database, subscriptionId: SUBSCRIPTION });
  const after = clients();
  expect((await after.rm.resourceGroups.get('rg-restart')).tags).toEqual({ 'workshop-pack': 'hybrid' });
  expect((await after.rm.resources.getById(id, '2023-01-31')).tags).toEqual({ changed: 'by-learner' });
  expect((await after.deployments.get('rg-restart', 'done')).properties?.outputResources).toHaveLength(2);
  await until('the interrupted deployment to finish', async () => (await after.deployments.get('rg-restart', 'interrupted')).properties?.provisioningState === 'Succeeded');
  const names: string[] = [];
  for await (const r of after.rm.resources.listByResourceGroup('rg-restart')) names.push(r.name!);
  expect(names.sort()).toEqual(['keep-id-1', 'keep-id-2', 'late-id-1', 'late-id-2']);
});
