/**
 * The ARM emulator's realistic deployment times and its subscription pool: deployments last as long as
 * their resources' dependency graph at Azure's typical durations (scaled), moving Accepted → Running →
 * Succeeded; several subscriptions, each with its own resources and per-region quotas, exposed through the
 * usage APIs and enforced the way ARM does (preflight 400 with a QuotaExceeded detail; a failed deployment
 * when two deployments race for the last unit). Deployments are held and released by changing the
 * deployment-time scale, never by waiting on the clock; durations are asserted as lower bounds only.
 */
import { request } from 'node:https';
import { ResourceManagementClient } from '@azure/arm-resources';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openTestDatabase } from '../helpers/database';
import { emulatorClientOptions, startArmEmulator, type ArmEmulator } from '../../local/arm/emulator';
import { provisionDelayMs, typicalProvisionMs } from '../../local/arm/durations';
import { listAll } from './armTestEnv';

const SUBS = ['7a000000-0000-4000-8000-000000000001', '7a000000-0000-4000-8000-000000000002', '7a000000-0000-4000-8000-000000000003'];
const SCALE = 0.001;

let db: ReturnType<typeof openTestDatabase>;
let arm: ArmEmulator;

function clients(subscriptionId: string) {
  const options = { ...emulatorClientOptions(arm), retryOptions: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 20 } };
  const d = new DeploymentsClient(arm.credential, subscriptionId, options);
  return { rm: new ResourceManagementClient(arm.credential, subscriptionId, options), deployments: d.deployments, operations: d.deploymentOperations };
}

async function raw(method: string, path: string, body?: unknown) {
  const url = new URL(path, arm.url);
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(url, { method, ca: arm.caCertPem, headers: { 'content-type': 'application/json', authorization: `Bearer ${arm.token}` } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function until(what: string, predicate: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** A VPN gateway behind its virtual network and public IP, and a storage account beside them. */
const gatewayTemplate = {
  $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
  contentVersion: '1.0.0.0',
  parameters: { prefix: { type: 'string' } },
  resources: [
    {
      type: 'Microsoft.Network/virtualNetworks',
      apiVersion: '2024-05-01',
      name: "[format('{0}-vnet', parameters('prefix'))]",
      location: '[resourceGroup().location]',
      properties: { addressSpace: { addressPrefixes: ['10.20.0.0/16'] }, subnets: [{ name: 'GatewaySubnet', properties: { addressPrefix: '10.20.255.0/27' } }] },
    },
    { type: 'Microsoft.Network/publicIPAddresses', apiVersion: '2024-05-01', name: "[format('{0}-gwip', parameters('prefix'))]", location: '[resourceGroup().location]', sku: { name: 'Standard' }, properties: { publicIPAllocationMethod: 'Static' } },
    {
      type: 'Microsoft.Network/virtualNetworkGateways',
      apiVersion: '2024-05-01',
      name: "[format('{0}-gw', parameters('prefix'))]",
      location: '[resourceGroup().location]',
      properties: {
        gatewayType: 'Vpn',
        vpnType: 'RouteBased',
        sku: { name: 'VpnGw1AZ', tier: 'VpnGw1AZ' },
        ipConfigurations: [
          {
            name: 'default',
            properties: {
              subnet: { id: "[resourceId('Microsoft.Network/virtualNetworks/subnets', format('{0}-vnet', parameters('prefix')), 'GatewaySubnet')]" },
              publicIPAddress: { id: "[resourceId('Microsoft.Network/publicIPAddresses', format('{0}-gwip', parameters('prefix')))]" },
            },
          },
        ],
      },
      dependsOn: ["[resourceId('Microsoft.Network/virtualNetworks', format('{0}-vnet', parameters('prefix')))]", "[resourceId('Microsoft.Network/publicIPAddresses', format('{0}-gwip', parameters('prefix')))]"],
    },
    { type: 'Microsoft.Storage/storageAccounts', apiVersion: '2023-05-01', name: "[format('{0}st', parameters('prefix'))]", location: '[resourceGroup().location]', kind: 'StorageV2', sku: { name: 'Standard_LRS' } },
  ],
};

/** One storage account, in the group's region. */
const storageTemplate = {
  $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
  contentVersion: '1.0.0.0',
  parameters: { name: { type: 'string' } },
  resources: [{ type: 'Microsoft.Storage/storageAccounts', apiVersion: '2023-05-01', name: "[parameters('name')]", location: '[resourceGroup().location]', kind: 'StorageV2', sku: { name: 'Standard_LRS' } }],
};

const deployBody = (template: unknown, parameters: Record<string, unknown>) => ({ properties: { mode: 'Incremental', template, parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { value: v }])) } });
const depPath = (sub: string, rg: string, name: string) => `/subscriptions/${sub}/resourcegroups/${rg}/providers/Microsoft.Resources/deployments/${name}?api-version=2026-06-01`;

beforeAll(async () => {
  db = openTestDatabase();
  arm = await startArmEmulator({
    database: db.database,
    subscriptions: [{ id: SUBS[0] }, { id: SUBS[1], quotas: [{ quota: 'Microsoft.Storage/storageAccounts', limit: 1, location: 'westeurope' }] }, { id: SUBS[2], displayName: 'pool 3' }],
  });
});
afterAll(async () => {
  await arm?.stop();
  await db?.dispose();
});

describe('realistic deployment times', () => {
  test('typical durations: off by default, scaled when on, per region for Cosmos DB', () => {
    expect(provisionDelayMs(undefined, 'Microsoft.Network/virtualNetworkGateways')).toBe(0);
    expect(provisionDelayMs({ scale: 0 }, 'Microsoft.Network/virtualNetworkGateways')).toBe(0);
    expect(typicalProvisionMs('Microsoft.Network/virtualNetworkGateways')).toBeGreaterThanOrEqual(30 * 60_000);
    expect(provisionDelayMs({ scale: 0.01 }, 'Microsoft.Network/virtualNetworkGateways')).toBe(Math.round(typicalProvisionMs('Microsoft.Network/virtualNetworkGateways') * 0.01));
    const cosmos = (n: number) => typicalProvisionMs('Microsoft.DocumentDB/databaseAccounts', { properties: { locations: Array.from({ length: n }, (_, i) => ({ locationName: `r${i}` })) } });
    expect(cosmos(3)).toBe(3 * cosmos(1));
  });

  test('the emulator\'s control route sets and reads the scale (a rehearsal sets it to its run\'s time scale)', async () => {
    expect((await raw('GET', '/_emulator/deploymentTimes')).body).toEqual({ scale: 0 });
    expect((await raw('PUT', '/_emulator/deploymentTimes', { scale: 0.05 })).body).toEqual({ scale: 0.05 });
    expect((await raw('GET', '/_emulator/deploymentTimes')).body).toEqual({ scale: 0.05 });
    const bad = await raw('PUT', '/_emulator/deploymentTimes', { scale: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/takes \{ "scale": <number >= 0> \}/);
    expect((await raw('PUT', '/_emulator/deploymentTimes', { scale: 0 })).body).toEqual({ scale: 0 });
  });

  test('a deployment goes Accepted → Running → Succeeded, and lasts as long as its slowest dependency chain', async () => {
    const { rm, deployments, operations } = clients(SUBS[0]);
    await rm.resourceGroups.createOrUpdate('times', { location: 'westeurope' });
    // Held in Accepted (5 s × 1000), then Running (the network at Azure's own speed), then released at 1/1000.
    arm.setDeploymentTimes({ scale: 1000 });
    const put = await raw('PUT', depPath(SUBS[0], 'times', 'gw'), deployBody(gatewayTemplate, { prefix: 'tt' }));
    expect(put.status).toBe(201);
    expect(put.body.properties.provisioningState).toBe('Accepted');
    expect((await deployments.get('times', 'gw')).properties?.provisioningState).toBe('Accepted');
    arm.setDeploymentTimes({ scale: 1 });
    await until('Running', async () => (await deployments.get('times', 'gw')).properties?.provisioningState === 'Running');
    expect(await listAll(rm.resources.listByResourceGroup('times'))).toEqual([]); // nothing is there while it deploys
    arm.setDeploymentTimes({ scale: SCALE });
    await until('Succeeded', async () => (await deployments.get('times', 'gw')).properties?.provisioningState === 'Succeeded');

    const ops = await listAll(operations.list('times', 'gw'));
    const span = (type: string) => {
      const p = ops.find((o) => o.properties?.targetResource?.resourceType === type)!.properties!;
      const end = new Date(p.timestamp!).getTime();
      const ms = Number(/^PT([\d.]+)S$/.exec(String(p.duration))![1]) * 1000;
      return { start: end - ms, end, ms };
    };
    const vnet = span('Microsoft.Network/virtualNetworks');
    const gw = span('Microsoft.Network/virtualNetworkGateways');
    const st = span('Microsoft.Storage/storageAccounts');
    // The gateway took at least its scaled typical time, and started only after the network it depends on was there.
    expect(gw.ms).toBeGreaterThanOrEqual(provisionDelayMs({ scale: SCALE }, 'Microsoft.Network/virtualNetworkGateways') - 5);
    expect(gw.start).toBeGreaterThanOrEqual(vnet.end - 5);
    // The storage account did not wait for the network: ARM deploys independent resources in parallel.
    expect(st.start).toBeLessThan(vnet.end);
  }, 60_000);
});

describe('subscription pool', () => {
  test('each subscription has its own resource groups; one not in the pool is refused 403; GET /subscriptions lists the pool', async () => {
    await clients(SUBS[2]).rm.resourceGroups.createOrUpdate('only-in-3', { location: 'northeurope' });
    expect((await clients(SUBS[2]).rm.resourceGroups.checkExistence('only-in-3')).body).toBe(true);
    expect((await clients(SUBS[0]).rm.resourceGroups.checkExistence('only-in-3')).body).toBe(false);
    const stranger = await raw('GET', '/subscriptions/7a000000-0000-4000-8000-0000000000ff/resourcegroups?api-version=2025-04-01');
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.code).toBe('AuthorizationFailed');
    const list = await raw('GET', '/subscriptions?api-version=2022-12-01');
    expect(list.body.value.map((s: { subscriptionId: string }) => s.subscriptionId)).toEqual(SUBS);
    expect(arm.subscriptionIds).toEqual(SUBS);
  });

  test('quotas are exposed through the usage APIs, per subscription and region, counted from what exists', async () => {
    const usages = async (sub: string, provider: string, loc: string) => (await raw('GET', `/subscriptions/${sub}/providers/${provider}/locations/${loc}/usages?api-version=2024-05-01`)).body.value as Array<{ name: { value: string }; currentValue: number; limit: number; unit: string }>;
    const net = await usages(SUBS[0], 'Microsoft.Network', 'westeurope');
    expect(net.find((u) => u.name.value === 'VirtualNetworks')).toMatchObject({ currentValue: 1, limit: 1000, unit: 'Count' });
    expect(net.find((u) => u.name.value === 'PublicIPAddresses')).toMatchObject({ currentValue: 1, limit: 1000 });
    expect((await usages(SUBS[0], 'Microsoft.Network', 'northeurope')).find((u) => u.name.value === 'VirtualNetworks')?.currentValue).toBe(0);
    expect((await usages(SUBS[0], 'Microsoft.Storage', 'westeurope')).find((u) => u.name.value === 'StorageAccounts')).toMatchObject({ currentValue: 1, limit: 250 });
    expect((await usages(SUBS[1], 'Microsoft.Storage', 'westeurope')).find((u) => u.name.value === 'StorageAccounts')).toMatchObject({ currentValue: 0, limit: 1 });
    expect((await usages(SUBS[1], 'Microsoft.Storage', 'northeurope')).find((u) => u.name.value === 'StorageAccounts')).toMatchObject({ limit: 250 });
    expect((await usages(SUBS[0], 'Microsoft.Compute', 'westeurope')).find((u) => u.name.value === 'cores')).toMatchObject({ currentValue: 0, limit: 10 });
  });

  test('a deployment over quota is refused at preflight (400, QuotaExceeded inside), nothing created; an update, or another region, is not', async () => {
    arm.setDeploymentTimes(undefined);
    const { rm, deployments } = clients(SUBS[1]);
    await rm.resourceGroups.createOrUpdate('q1', { location: 'westeurope' });
    await rm.resourceGroups.createOrUpdate('q2', { location: 'westeurope' });
    await rm.resourceGroups.createOrUpdate('q3', { location: 'northeurope' });
    await deployments.beginCreateOrUpdateAndWait('q1', 'first', deployBody(storageTemplate, { name: 'quotaone' }) as never, { updateIntervalInMs: 20 });
    const refusedBefore = arm.stats.quotaRefusals[SUBS[1]] ?? 0;

    const over = await raw('PUT', depPath(SUBS[1], 'q2', 'second'), deployBody(storageTemplate, { name: 'quotatwo' }));
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe('InvalidTemplateDeployment');
    expect(over.body.error.details[0]).toMatchObject({ code: 'QuotaExceeded', message: expect.stringMatching(/exceeding approved StorageAccounts quota.*Location: westeurope, Current Limit: 1, Current Usage: 1, Additional Required: 1/) });
    expect((await raw('GET', depPath(SUBS[1], 'q2', 'second'))).status).toBe(404);
    const validate = await raw('POST', depPath(SUBS[1], 'q2', 'second').replace('?', '/validate?'), deployBody(storageTemplate, { name: 'quotatwo' }));
    expect(validate.status).toBe(400);
    expect(validate.body.error.details[0].code).toBe('QuotaExceeded');
    expect(arm.stats.quotaRefusals[SUBS[1]]).toBe(refusedBefore + 2);

    // Re-deploying the same account is an update (no new unit); another region has its own quota; another subscription too.
    await deployments.beginCreateOrUpdateAndWait('q1', 'again', deployBody(storageTemplate, { name: 'quotaone' }) as never, { updateIntervalInMs: 20 });
    await deployments.beginCreateOrUpdateAndWait('q3', 'north', deployBody(storageTemplate, { name: 'quotanorth' }) as never, { updateIntervalInMs: 20 });
    await clients(SUBS[2]).rm.resourceGroups.createOrUpdate('q1', { location: 'westeurope' });
    await clients(SUBS[2]).deployments.beginCreateOrUpdateAndWait('q1', 'first', deployBody(storageTemplate, { name: 'quotathree' }) as never, { updateIntervalInMs: 20 });
  });

  test('two deployments racing for the last unit: both pass preflight, one fails inside with QuotaExceeded', async () => {
    arm.setQuotas(SUBS[2], [{ quota: 'StorageAccounts', limit: 2, location: 'westeurope' }]);
    const { rm, deployments } = clients(SUBS[2]);
    await rm.resourceGroups.createOrUpdate('race-a', { location: 'westeurope' });
    await rm.resourceGroups.createOrUpdate('race-b', { location: 'westeurope' });
    arm.setDeploymentTimes({ scale: 1000 }); // hold both after preflight
    const a = await raw('PUT', depPath(SUBS[2], 'race-a', 'a'), deployBody(storageTemplate, { name: 'racea' }));
    const b = await raw('PUT', depPath(SUBS[2], 'race-b', 'b'), deployBody(storageTemplate, { name: 'raceb' }));
    expect([a.status, b.status]).toEqual([201, 201]);
    arm.setDeploymentTimes(undefined);
    const ended = async (rg: string, n: string) => (await deployments.get(rg, n)).properties!;
    await until('both ended', async () => ['Succeeded', 'Failed'].includes((await ended('race-a', 'a')).provisioningState!) && ['Succeeded', 'Failed'].includes((await ended('race-b', 'b')).provisioningState!));
    const states = [(await ended('race-a', 'a')).provisioningState, (await ended('race-b', 'b')).provisioningState].sort();
    expect(states).toEqual(['Failed', 'Succeeded']);
    const failed = (await ended('race-a', 'a')).provisioningState === 'Failed' ? await ended('race-a', 'a') : await ended('race-b', 'b');
    expect(failed.error).toMatchObject({ code: 'DeploymentFailed', details: [expect.objectContaining({ code: 'QuotaExceeded' })] });
  });
});
