import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parkEnvironment, restoreEnvironment } from '../../activities/parkEnvironment';
import { armClients, type ArmClients } from '../../azure/armClients';
import { learnerResourceGroupName, TAGS } from '../../azure/environmentNames';
import { readLearnerPark } from '../../storage/parkTable';
import { startWorkshopStack, type WorkshopStack } from '../workshop/workshopStack';

/**
 * The park's environment half against the ARM emulator (issue 15 item 5): a learner environment with a Synapse
 * dedicated SQL pool (billed per hour while Online) and a running Stream Analytics job is exported with ARM's
 * export-template, its compute paused / stopped through the providers' own actions (`…/sqlPools/{p}/pause`,
 * `…/streamingjobs/{j}/stop`) before the group is deleted, and restored the next day with the job started again;
 * the role assignment ARM does not export is saved beside the export and comes back too.
 */
const RUN = 'parkenv';
const LEARNER = 'lia';
const rg = learnerResourceGroupName(RUN, LEARNER);
let w: WorkshopStack;
let clients: ArmClients;
const requests: string[] = [];
const ROLE_ASSIGNMENT = '6f1f6a0e-0b7c-4f1e-9a53-5d1c3f0e2a11';

const template = {
  $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
  contentVersion: '1.0.0.0',
  resources: [
    { type: 'Microsoft.Storage/storageAccounts', apiVersion: '2023-05-01', name: 'liaparklake', location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', properties: { isHnsEnabled: true } },
    {
      type: 'Microsoft.Synapse/workspaces',
      apiVersion: '2021-06-01',
      name: 'lia-park-syn',
      location: 'westeurope',
      identity: { type: 'SystemAssigned' },
      dependsOn: ["[resourceId('Microsoft.Storage/storageAccounts', 'liaparklake')]"],
      properties: { defaultDataLakeStorage: { accountUrl: 'https://liaparklake.dfs.core.windows.net', filesystem: 'lake' }, sqlAdministratorLogin: 'sqladmin', sqlAdministratorLoginPassword: 'Pa55-word-for-the-test' },
    },
    { type: 'Microsoft.Synapse/workspaces/sqlPools', apiVersion: '2021-06-01', name: 'lia-park-syn/dw', location: 'westeurope', sku: { name: 'DW100c' }, dependsOn: ["[resourceId('Microsoft.Synapse/workspaces', 'lia-park-syn')]"], properties: {} },
    { type: 'Microsoft.StreamAnalytics/streamingjobs', apiVersion: '2021-10-01-preview', name: 'lia-asa', location: 'westeurope', properties: { sku: { name: 'Standard' } } },
  ],
};

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir: path.join(__dirname, '..', 'workshop', 'packs') });
  clients = armClients(undefined, {
    additionalPolicies: [{ position: 'perCall', policy: { name: 'record', sendRequest: (req, next) => (requests.push(`${req.method} ${new URL(req.url).pathname}`), next(req)) } }],
  });
  const now = new Date().toISOString();
  await clients.resources.resourceGroups.createOrUpdate(rg, { location: 'westeurope', tags: { [TAGS.pack]: 'drill', [TAGS.run]: RUN, [TAGS.learner]: LEARNER, [TAGS.created]: now, [TAGS.hourlyUsd]: '3' } });
  await clients.deployments.deployments.createOrUpdate(rg, 'learner-work', { properties: { mode: 'Incremental', template } }, { updateIntervalInMs: 50 }).pollUntilDone();
  const job = `/subscriptions/${clients.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.StreamAnalytics/streamingjobs/lia-asa`;
  expect((await clients.rest.post(`${job}/start`, '2021-10-01-preview')).status).toBe(200);
  const lake = `/subscriptions/${clients.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/liaparklake`;
  await clients.resources.resources
    .createOrUpdateById(`${lake}/providers/Microsoft.Authorization/roleAssignments/${ROLE_ASSIGNMENT}`, '2022-04-01', {
      properties: { principalId: '11111111-2222-4333-8444-555555555555', roleDefinitionId: `/subscriptions/${clients.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe` },
    })
    .pollUntilDone();
});
afterAll(async () => {
  await w?.stop();
});

const id = (path: string) => `/subscriptions/${clients.subscriptionId}/resourceGroups/${rg}/providers/${path}`;
const pool = (): string => id('Microsoft.Synapse/workspaces/lia-park-syn/sqlPools/dw');
const job = (): string => id('Microsoft.StreamAnalytics/streamingjobs/lia-asa');

it('pausing a SQL pool that is not Online, or resuming one that is not Paused, is refused with 409', async () => {
  const resumeOnline = await clients.rest.post(`${pool()}/resume`, '2021-06-01');
  expect(resumeOnline.status).toBe(409);
  expect(JSON.stringify(resumeOnline.body)).toMatch(/is Online; it can be resumed only when it is Paused/);
  expect((await clients.rest.post(`${pool()}/pause`, '2021-06-01')).status).toBe(200);
  expect((await clients.rest.get<{ properties: { status: string } }>(pool(), '2021-06-01')).body.properties.status).toBe('Paused');
  expect((await clients.rest.post(`${pool()}/pause`, '2021-06-01')).status).toBe(409);
  expect((await clients.rest.post(`${pool()}/resume`, '2021-06-01')).status).toBe(200);
});

it('park: exported, compute paused and stopped before the delete, group gone; restore: everything back, the job running again', async () => {
  requests.length = 0;
  const parked = await parkEnvironment({ runId: RUN, learnerId: LEARNER, seq: 1 }, undefined, { clients });
  expect(parked).toMatchObject({ saved: true, paused: 2, tornDown: true });
  const at = (what: RegExp) => requests.findIndex((r) => what.test(r));
  const [exported, paused, stopped, deleted] = [at(/^POST .*\/exportTemplate$/i), at(/^POST .*sqlPools\/dw\/pause$/), at(/^POST .*streamingjobs\/lia-asa\/stop$/), at(/^DELETE .*resourcegroups\/ws-parkenv/i)];
  expect([exported, paused, stopped, deleted].every((i) => i >= 0), JSON.stringify(requests)).toBe(true);
  expect(exported).toBeLessThan(Math.min(paused, stopped));
  expect(Math.max(paused, stopped)).toBeLessThan(deleted);
  expect((await clients.resources.resourceGroups.checkExistence(rg)).body).toBe(false);
  const row = await readLearnerPark(RUN, LEARNER);
  expect(row).toMatchObject({ state: 'parked', saved: true, tornDown: true });
  expect(row?.actions).toEqual([{ resourceId: job(), apiVersion: '2021-10-01-preview', action: 'start' }]);
  const types = ((row?.template?.resources ?? []) as Array<{ type: string }>).map((r) => r.type);
  expect(types).toEqual(expect.arrayContaining(['Microsoft.Storage/storageAccounts', 'Microsoft.Synapse/workspaces', 'Microsoft.Synapse/workspaces/sqlPools', 'Microsoft.StreamAnalytics/streamingjobs']));
  // ARM does not export extension resources: the role assignment is saved beside the export, so nothing is lost.
  expect(row?.extensions?.map((e) => e.id)).toEqual([expect.stringMatching(new RegExp(`storageAccounts/liaparklake/providers/Microsoft.Authorization/roleAssignments/${ROLE_ASSIGNMENT}$`))]);
  expect(row?.notExported).toEqual([]);
  // The export carries no secret, as ARM's does not.
  expect(JSON.stringify(row?.template)).not.toContain('Pa55-word-for-the-test');

  const restored = await restoreEnvironment({ runId: RUN, learnerId: LEARNER, packId: 'drill', idempotencyKey: 'unused', seq: 1 }, undefined, { clients });
  expect(restored).toMatchObject({ restored: true, resources: types.length });
  expect((await clients.rest.get<{ properties: { jobState: string } }>(job(), '2021-10-01-preview')).body.properties.jobState).toBe('Running');
  expect((await clients.rest.get<{ properties: { status: string } }>(pool(), '2021-06-01')).body.properties.status).toBe('Online');
  expect((await readLearnerPark(RUN, LEARNER))?.state).toBe('restored');
  const assignment = await clients.rest.get<{ properties: { principalId: string } }>(row!.extensions![0]!.id, '2022-04-01');
  expect(assignment.status).toBe(200);
  expect(assignment.body.properties.principalId).toBe('11111111-2222-4333-8444-555555555555');
});
