import * as df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callActivity, resultOf, type ActivityTask } from '../../activities';
import { armClientsFor, lastWriteBudget } from '../../azure/armClients';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { provisionEnvironment, type ProvisionEnvironmentResult } from '../../activities/provisionEnvironment';
import { poolOf, type LearnerSubscription } from '../../activities/subscriptionPool';
import { readOutbox } from '../../activities/notify';
import { teardown } from '../../activities/teardown';
import type { FunctionDef } from '../../local/durable/functions';
import { sweepWorkshopGroups } from '../../timers/environmentSweeper';
import { startStack, startInstance, waitFor, type TestStack } from '../helpers/stack';
import { listAll, startArmTestEnv, type ArmTestEnv } from './armTestEnv';

/**
 * A run over three emulated learner subscriptions, one of them already at its storage-account quota and the
 * other two with room for five environments each: nine learners provisioned at once (eight activity
 * slots), placed by the pool's rule with the usage APIs read through the app's own ARM clients. No deployment
 * may fail for quota — not at preflight, not inside a deployment — and the placement is printed.
 */
const SUBS = ['5b000000-0000-4000-8000-00000000000a', '5b000000-0000-4000-8000-00000000000b', '5b000000-0000-4000-8000-00000000000c'];
const LEARNERS = 9;

interface PoolRunInput {
  runId: string;
  learners: string[];
  subscriptions: LearnerSubscription[];
}

function* poolRun(context: df.OrchestrationContext): Generator<df.Task, Record<string, ProvisionEnvironmentResult>, unknown> {
  const input = context.df.getInput() as PoolRunInput;
  const tasks: Array<[string, ActivityTask<'provisionEnvironment'>]> = input.learners.map((learnerId, i) => [
    learnerId,
    callActivity(context, 'provisionEnvironment', { idempotencyKey: `${input.runId}:${learnerId}:foundation`, runId: input.runId, learnerId, packId: 'lakehouse', cohortIndex: i, subscriptions: input.subscriptions }),
  ]);
  yield context.df.Task.all(tasks.map(([, t]) => t));
  return Object.fromEntries(tasks.map(([id, t]) => [id, resultOf(t)]));
}

const functions: FunctionDef[] = [
  { kind: 'orchestration', name: 'poolRun', handler: poolRun },
  { kind: 'activity', name: 'provisionEnvironment', handler: provisionEnvironment },
];

let stack: TestStack;
let env: ArmTestEnv;

beforeAll(async () => {
  stack = await startStack(functions, { maxActivities: 8 });
  env = await startArmTestEnv({
    database: stack.database,
    subscriptions: [
      { id: SUBS[0], quotas: [{ quota: 'StorageAccounts', limit: 10, location: 'westeurope' }] },
      { id: SUBS[1], quotas: [{ quota: 'StorageAccounts', limit: 1, location: 'westeurope' }] },
      { id: SUBS[2], quotas: [{ quota: 'StorageAccounts', limit: 10, location: 'westeurope' }] },
    ],
  });
  // The second subscription is at its quota before the run: someone else's storage account takes its only unit.
  const full = armClientsFor(SUBS[1]);
  await full.resources.resourceGroups.createOrUpdate('someone-else', { location: 'westeurope' });
  await full.deployments.deployments.beginCreateOrUpdateAndWait(
    'someone-else',
    'theirs',
    {
      properties: {
        mode: 'Incremental',
        template: { $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#', contentVersion: '1.0.0.0', resources: [{ type: 'Microsoft.Storage/storageAccounts', apiVersion: '2023-05-01', name: 'theirstorage', location: 'westeurope', kind: 'StorageV2', sku: { name: 'Standard_LRS' } }] },
      },
    },
    { updateIntervalInMs: 20 },
  );
});
afterAll(async () => {
  await env?.stop();
  await stack?.stop();
});

describe('environments over a pool of learner subscriptions', () => {
  it('three subscriptions, one at its quota: every environment is placed where it fits, none fails for quota', async () => {
    env.arm.resetStats();
    const learners = Array.from({ length: LEARNERS }, (_, i) => `p${i + 1}`);
    const id = await startInstance(stack.api, 'poolRun', { runId: 'pool', learners, subscriptions: SUBS.map((subscriptionId) => ({ subscriptionId })) } satisfies PoolRunInput);
    const done = await waitFor(stack.api, id, ['Completed', 'Failed'], 170_000);
    expect(done.runtimeStatus, JSON.stringify(done.output)).toBe('Completed');
    const out = done.output as Record<string, ProvisionEnvironmentResult>;

    const pool = await poolOf('pool');
    const rows = learners.map((l) => ({ learner: l, subscription: out[l].subscriptionId, location: out[l].location, placed: pool.placements[l]?.status, reason: out[l].placement?.reason ?? pool.placements[l]?.reason }));
    console.log(`placement of run "pool" (${LEARNERS} learners, storage quota 10 / 1 (full) / 10 in westeurope):\n${rows.map((r) => `  ${r.learner}  ${r.subscription}  ${r.location}  ${r.placed}  ${r.reason}`).join('\n')}`);

    // No quota refusal anywhere (preflight 400 or a failed create), and nothing went to the full subscription.
    expect(env.arm.stats.quotaRefusals).toEqual({});
    expect(rows.every((r) => r.placed === 'ready')).toBe(true);
    const count = (sub: string) => rows.filter((r) => r.subscription === sub).length;
    expect(count(SUBS[1])).toBe(0);
    expect(count(SUBS[0])).toBeLessThanOrEqual(5);
    expect(count(SUBS[2])).toBeLessThanOrEqual(5);
    expect(count(SUBS[0]) + count(SUBS[2])).toBe(LEARNERS);
    expect(env.arm.stats.deploymentsBySubscription[SUBS[1]] ?? 0).toBe(0);

    // Each environment is where the result says; the teardown finds it there by run and learner alone.
    for (const r of rows) expect((await armClientsFor(r.subscription).resources.resourceGroups.checkExistence(learnerResourceGroupName('pool', r.learner))).body).toBe(true);
    const gone = await teardown({ runId: 'pool', learnerId: 'p1', reason: 'test' });
    expect(gone.deleted).toBe(true);
    expect((await armClientsFor(rows[0].subscription).resources.resourceGroups.checkExistence(learnerResourceGroupName('pool', 'p1'))).body).toBe(false);
    expect(await listAll(armClientsFor(SUBS[1]).resources.resourceGroups.list())).toHaveLength(1); // only someone else's
  }, 180_000);

  it('the last unit, and the one a teardown freed, are used; past that, a learner is refused with each subscription named', async () => {
    const subscriptions = SUBS.map((subscriptionId) => ({ subscriptionId }));
    const provision = (n: number) => provisionEnvironment({ idempotencyKey: `pool:p${n}:foundation`, runId: 'pool', learnerId: `p${n}`, packId: 'lakehouse', cohortIndex: n - 1, subscriptions }, undefined, {});
    expect((await poolOf('pool')).placements.p1).toBeUndefined(); // the teardown forgot p1's placement
    // Room for ten, nine placed, one torn down: two more fit, never in the full subscription.
    expect([(await provision(10)).subscriptionId, (await provision(11)).subscriptionId]).not.toContain(SUBS[1]);
    await expect(provision(12)).rejects.toThrow(/No learner subscription can take another environment: .*5b000000-0000-4000-8000-00000000000b in westeurope: no headroom: StorageAccounts 1\/1/);
    expect(env.arm.stats.quotaRefusals).toEqual({});
  }, 60_000);

  it('a subscription that keeps failing is drained and the instructor is told why', async () => {
    env.arm.setQuotas(SUBS[2], []); // Azure's defaults: room enough, so only the failures decide
    env.arm.setFaults({ failingResourceTypes: ['Microsoft.Synapse/workspaces'] });
    try {
      const subs = [{ subscriptionId: SUBS[2] }];
      for (let i = 0; i < 3; i++) {
        await expect(provisionEnvironment({ idempotencyKey: `drain:d${i}:foundation`, runId: 'drain', learnerId: `d${i}`, packId: 'lakehouse', cohortIndex: i, subscriptions: subs }, undefined, {})).rejects.toThrow();
      }
      const pool = await poolOf('drain');
      expect(pool.subscriptions[SUBS[2]]).toMatchObject({ consecutiveFailures: 3, drainReason: expect.stringMatching(/^3 deployments in a row failed there/) });
      await expect(provisionEnvironment({ idempotencyKey: 'drain:d9:foundation', runId: 'drain', learnerId: 'd9', packId: 'lakehouse', cohortIndex: 9, subscriptions: subs }, undefined, {})).rejects.toThrow(/drained: 3 deployments in a row failed there/);
      const told = (await readOutbox('drain', { role: 'instructor' })).filter((m) => m.kind === 'subscriptionDrained');
      expect(told).toEqual([expect.objectContaining({ body: { subscriptionId: SUBS[2], reason: expect.stringMatching(/ResourceDeploymentFailure|Failed/) } })]);
    } finally {
      env.arm.setFaults({});
    }
    // A learner whose environment failed there moves on when the run offers another subscription.
    env.arm.setQuotas(SUBS[1], []);
    const moved = await provisionEnvironment({ idempotencyKey: 'drain:d0:foundation', runId: 'drain', learnerId: 'd0', packId: 'lakehouse', cohortIndex: 0, subscriptions: [{ subscriptionId: SUBS[2] }, { subscriptionId: SUBS[1] }] }, undefined, {});
    expect(moved.subscriptionId).toBe(SUBS[1]);
  }, 60_000);

  it('the sweeper finds expired environments in every subscription of a pool, not only LEARNER_SUBSCRIPTION_ID', async () => {
    const inC = await listAll(armClientsFor(SUBS[2]).resources.resourceGroups.list());
    expect(inC.some((g) => g.tags?.['workshop-pack'])).toBe(true);
    const report = await sweepWorkshopGroups({ now: new Date(Date.now() + 365 * 24 * 3600_000), waitForDeletion: true });
    expect(report.failed).toEqual([]);
    for (const sub of SUBS) {
      const left = await listAll(armClientsFor(sub).resources.resourceGroups.list());
      expect(left.filter((g) => g.tags?.['workshop-pack']).map((g) => g.name)).toEqual([]);
    }
    expect((await listAll(armClientsFor(SUBS[1]).resources.resourceGroups.list())).map((g) => g.name)).toEqual(['someone-else']); // not a workshop group
    expect(report.deleted.map((d) => d.resourceGroupName)).toContain(learnerResourceGroupName('drain', 'd0')); // in both subscriptions
  }, 60_000);

  it("the write budget ARM reports on a response is kept per subscription, for the placement", async () => {
    expect(lastWriteBudget(SUBS[0])).toBeUndefined();
    env.arm.setFaults({ throttle: { fraction: 1, retryAfterSeconds: 0 } });
    try {
      await expect(armClientsFor(SUBS[0]).resources.resourceGroups.createOrUpdate('budget', { location: 'westeurope' })).rejects.toMatchObject({ statusCode: 429 });
    } finally {
      env.arm.setFaults({});
    }
    expect(lastWriteBudget(SUBS[0])).toBe(0);
    expect(lastWriteBudget(SUBS[2])).toBeUndefined();
    expect(lastWriteBudget(SUBS[0], 60_000, Date.now() + 61_000)).toBeUndefined(); // an old figure is not trusted
  });
});
