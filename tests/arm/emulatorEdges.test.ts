/**
 * The ARM emulator at its edges: template size and count limits as ARM publishes them, checked before
 * anything is created; a held deployment can always be cancelled and its group always deletes; a
 * resource that depends on itself is a circular dependency; a body over the request limit is answered
 * 413 and the connection stays usable (or is closed) for the client's next request.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openTestDatabase } from '../helpers/database';
import { startArmEmulator, type ArmEmulator } from '../../local/arm/emulator';
import { ARM_TEMPLATE_LIMITS } from '../../local/arm/limits';

const SUBSCRIPTION = '5d2c8e31-7a4b-4c1e-9f03-6b8a2d1e4c77';
const HOLD = { slowDeployment: { perResourceMs: 600_000 } };
const API = 'api-version=2026-06-01';

let db: ReturnType<typeof openTestDatabase>;
let arm: ArmEmulator;

interface RawReply {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

function raw(method: string, path: string, body?: unknown, agent?: Agent): Promise<RawReply> {
  const url = new URL(path, arm.url);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: arm.caCertPem, agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${arm.token}` } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const rgPath = (rg: string) => `/subscriptions/${SUBSCRIPTION}/resourcegroups/${rg}`;
const depPath = (rg: string, name: string, tail = '') => `${rgPath(rg)}/providers/Microsoft.Resources/deployments/${name}${tail}?${API}`;

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function createGroup(rg: string): Promise<void> {
  expect((await raw('PUT', `${rgPath(rg)}?${API}`, { location: 'westeurope' })).status).toBeLessThan(300);
}

/** Deleting a group answers 202 and the operation finishes: the group is then 404. */
async function deleteGroupCompletely(rg: string): Promise<void> {
  const del = await raw('DELETE', `${rgPath(rg)}?${API}`);
  expect(del.status).toBe(202);
  const poll = String(del.headers.location).slice(arm.url.length);
  await until(`the delete of ${rg} to finish`, async () => (await raw('GET', poll)).status === 200);
  expect((await raw('GET', `${rgPath(rg)}?${API}`)).status).toBe(404);
}

const identity = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
  apiVersion: '2023-01-31',
  name,
  location: '[resourceGroup().location]',
  ...extra,
});

const template = (resources: unknown[], more: Record<string, unknown> = {}) => ({
  $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
  contentVersion: '1.0.0.0',
  resources,
  ...more,
});

const deployment = (t: unknown, parameters: Record<string, unknown> = {}) => ({ properties: { mode: 'Incremental', template: t, parameters } });

/** `n` characters of template text that compresses as real templates do (repeated structure). */
const bulky = (n: number) => 'workshop-lakehouse-ingest-pipeline-step '.repeat(Math.ceil(n / 40)).slice(0, n);

beforeAll(async () => {
  db = openTestDatabase();
  arm = await startArmEmulator({ database: db.database, subscriptionId: SUBSCRIPTION });
});

afterAll(async () => {
  await arm?.stop();
  await db?.dispose();
});

describe('template limits (ARM: 4 MB template, 1 MB per resource, 1 MB compressed job, 256 parameters, 800 resources, 64 outputs)', () => {
  test('a 3.5 MB template under ARM’s limits deploys; held, it can be cancelled and re-PUT, and its group deletes', async () => {
    await createGroup('rg-big');
    // Four resources of ~0.85 MB each (each under the 1 MB per-resource limit): about 3.5 MB of template.
    const big = template([0, 1, 2, 3].map((i) => identity(`big-${i}`, { metadata: { notes: bulky(850_000) } })));
    expect(JSON.stringify(big).length).toBeGreaterThan(3_400_000);
    arm.setFaults(HOLD);
    const put = await raw('PUT', depPath('rg-big', 'big'), deployment(big));
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const cancel = await raw('POST', depPath('rg-big', 'big', '/cancel'));
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(204);
    await until('Canceled', async () => (await raw('GET', depPath('rg-big', 'big'))).body.properties.provisioningState === 'Canceled');
    const again = await raw('PUT', depPath('rg-big', 'big'), deployment(big));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    arm.setFaults({});
    await until('Succeeded', async () => (await raw('GET', depPath('rg-big', 'big'))).body.properties.provisioningState === 'Succeeded');
    const exported = await raw('POST', depPath('rg-big', 'big', '/exportTemplate'));
    expect(exported.body.template).toEqual(big);
    await deleteGroupCompletely('rg-big');
  });

  test('a held large deployment is cancelled by deleting its group, and the delete finishes', async () => {
    await createGroup('rg-big-del');
    arm.setFaults(HOLD);
    const big = template([identity('held', { metadata: { notes: bulky(900_000) } })]);
    expect((await raw('PUT', depPath('rg-big-del', 'held'), deployment(big))).status).toBe(201);
    await deleteGroupCompletely('rg-big-del');
    arm.setFaults({});
  });

  test('templates over ARM’s limits are refused with 400 before anything is created, and the name stays free', async () => {
    await createGroup('rg-limits');
    const cases: Array<{ what: string; body: unknown; code: string; message: RegExp; status?: number }> = [
      {
        what: 'a resource over 1 MB',
        body: deployment(template([identity('fat', { metadata: { notes: bulky(1_100_000) } })])),
        code: 'InvalidTemplate',
        message: /resource 'fat'.*1,048,576/,
      },
      {
        what: 'a job over 1 MB compressed',
        // Random text does not compress: ~2.9 MB of it is a job of more than 1 MB after compression.
        body: deployment(template([0, 1, 2].map((i) => identity(`noise-${i}`, { metadata: { notes: randomBytes(720_000).toString('base64') } })))),
        code: 'DeploymentJobSizeExceeded',
        message: /1,048,576 bytes/,
      },
      {
        what: `${ARM_TEMPLATE_LIMITS.parameters + 1} parameters`,
        body: deployment(template([], { parameters: Object.fromEntries(Array.from({ length: ARM_TEMPLATE_LIMITS.parameters + 1 }, (_, i) => [`p${i}`, { type: 'string', defaultValue: 'x' }])) })),
        code: 'InvalidTemplate',
        message: /257 parameters.*256/,
      },
      {
        what: `${ARM_TEMPLATE_LIMITS.outputs + 1} outputs`,
        body: deployment(template([], { outputs: Object.fromEntries(Array.from({ length: ARM_TEMPLATE_LIMITS.outputs + 1 }, (_, i) => [`o${i}`, { type: 'string', value: 'x' }])) })),
        code: 'InvalidTemplate',
        message: /65 outputs.*64/,
      },
      {
        what: 'more than 800 resources with copy loops counted',
        body: deployment(template([0, 1].map((i) => identity(`[concat('many-${i}-', copyIndex())]`, { copy: { name: `loop${i}`, count: 401 } })))),
        code: 'InvalidTemplate',
        message: /802 resources.*800/,
      },
    ];
    for (const c of cases) {
      const put = await raw('PUT', depPath('rg-limits', 'over'), c.body);
      expect(put.status, c.what).toBe(c.status ?? 400);
      expect(put.body.error.code, c.what).toBe(c.code);
      expect(put.body.error.message, c.what).toMatch(c.message);
      expect((await raw('GET', depPath('rg-limits', 'over'))).status, `${c.what}: nothing created`).toBe(404);
    }
    const small = await raw('PUT', depPath('rg-limits', 'over'), deployment(template([identity('small')])));
    expect(small.status).toBe(201);
    await until('Succeeded', async () => (await raw('GET', depPath('rg-limits', 'over'))).body.properties.provisioningState === 'Succeeded');
    await deleteGroupCompletely('rg-limits');
  });
});

describe('dependencies', () => {
  test('a resource that depends on itself is refused with 400 InvalidTemplate: circular dependency, nothing deployed', async () => {
    await createGroup('rg-self');
    const put = await raw('PUT', depPath('rg-self', 'selfish'), deployment(template([identity('me', { dependsOn: ["[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'me')]"] })])));
    expect(put.status).toBe(400);
    expect(put.body.error.code).toBe('InvalidTemplate');
    expect(put.body.error.message).toMatch(/Circular dependency detected on resource: '.*\/userAssignedIdentities\/me'/);
    expect((await raw('GET', `${rgPath('rg-self')}/resources?${API}`)).body.value).toEqual([]);
    await deleteGroupCompletely('rg-self');
  });
});

describe('request size', () => {
  test('a body over 4 MiB is answered 413 with a message, and the client’s next request on the same agent works', async () => {
    await createGroup('rg-413');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: arm.caCertPem });
    try {
      const huge = JSON.stringify(deployment(template([identity('x', { metadata: { notes: bulky(4_300_000) } })])));
      const tooBig = await raw('PUT', depPath('rg-413', 'huge'), huge, agent);
      expect(tooBig.status).toBe(413);
      expect(tooBig.body.error.message).toMatch(/4,194,304 bytes/);
      const next = await raw('GET', `${rgPath('rg-413')}?${API}`, undefined, agent);
      expect(next.status).toBe(200);
      expect((await raw('GET', depPath('rg-413', 'huge'), undefined, agent)).status).toBe(404);
    } finally {
      agent.destroy();
    }
    await deleteGroupCompletely('rg-413');
  });
});
