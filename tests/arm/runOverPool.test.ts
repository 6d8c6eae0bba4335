import { afterAll, beforeAll, expect, it } from 'vitest';
import { armClientsFor } from '../../azure/armClients';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { poolOf } from '../../activities/subscriptionPool';
import { ApiCallError } from '../../cli/apiClient';
import { LearnerDriver } from '../workshop/learnerDriver';
import { startWorkshopStack, type WorkshopStack } from '../workshop/workshopStack';

/**
 * A workshop run (the API, the cohort, each learner's journey and phases) that names three learner
 * subscriptions, the second already at its storage-account quota (all 8 of its accounts in westeurope used by another
 * team's resource group, read through Azure's usage API like any other): the plan carries the pool to every
 * Implementation phase, each learner's environment is placed by quota headroom, no deployment fails for
 * quota, and the placement is printed.
 */
const SUBS = ['6c000000-0000-4000-8000-00000000000a', '6c000000-0000-4000-8000-00000000000b', '6c000000-0000-4000-8000-00000000000c'];
const LEARNERS = 6;
/** The second subscription's storage quota, every account of it already taken before the run starts. */
const FULL = 8;
const OTHER_TEAM = 'other-team-analytics';
let w: WorkshopStack;

/** Another team's storage accounts fill the subscription's westeurope quota: usage = limit, not a limit of 0. */
async function fillSecondSubscription(): Promise<void> {
  const arm = armClientsFor(SUBS[1]);
  await arm.resources.resourceGroups.createOrUpdate(OTHER_TEAM, { location: 'westeurope' });
  for (let i = 0; i < FULL; i++) {
    const body = { location: 'westeurope', kind: 'StorageV2', sku: { name: 'Standard_LRS' }, properties: {} };
    await arm.resources.resources.createOrUpdate(OTHER_TEAM, 'Microsoft.Storage', '', 'storageAccounts', `otherteam${i}`, '2023-05-01', body).pollUntilDone();
  }
  const usage = await arm.rest.get<{ value: Array<{ name: { value: string }; currentValue: number; limit: number }> }>(`/subscriptions/${SUBS[1]}/providers/Microsoft.Storage/locations/westeurope/usages`, '2023-05-01');
  expect(usage.body.value.find((u) => u.name.value === 'StorageAccounts')).toMatchObject({ currentValue: FULL, limit: FULL });
}

beforeAll(async () => {
  w = await startWorkshopStack({
    armSubscriptions: [
      { id: SUBS[0], quotas: [{ quota: 'StorageAccounts', limit: 8, location: 'westeurope' }] },
      { id: SUBS[1], quotas: [{ quota: 'StorageAccounts', limit: FULL, location: 'westeurope' }] },
      { id: SUBS[2], quotas: [{ quota: 'StorageAccounts', limit: 8, location: 'westeurope' }] },
    ],
  });
  await fillSecondSubscription();
});
afterAll(async () => {
  await w?.stop();
});

it('a run naming learner subscriptions badly is refused 400, saying which entry and what is wrong, and nothing starts', async () => {
  const roster = 'name,email\nAda,ada@example.com';
  const bad = await w.api
    .startRun({ runId: 'badpool', scenario: 'lakehouse', roster, instructors: ['ian'], learnerSubscriptions: [{ subscriptionId: SUBS[0] }, { subscriptionId: 'not-a-guid', locations: ['West Europe'] }] })
    .catch((e: unknown) => e as ApiCallError);
  expect(bad).toBeInstanceOf(ApiCallError);
  expect((bad as ApiCallError).status).toBe(400);
  expect(JSON.stringify((bad as ApiCallError).body)).toMatch(/learnerSubscriptions\[1\]\.subscriptionId: subscriptionId must be a subscription GUID/);
  expect(JSON.stringify((bad as ApiCallError).body)).toMatch(/learnerSubscriptions\[1\]\.locations\[0\]: locations are region names/);
  const twice = await w.api.startRun({ runId: 'badpool', scenario: 'lakehouse', roster, instructors: ['ian'], learnerSubscriptions: [{ subscriptionId: SUBS[0] }, { subscriptionId: SUBS[0].toUpperCase() }] }).catch((e: unknown) => e as ApiCallError);
  expect((twice as ApiCallError).status).toBe(400);
  expect(JSON.stringify((twice as ApiCallError).body)).toMatch(/listed twice/);
  await expect(w.api.runStatus('badpool')).rejects.toMatchObject({ status: 404 });
});

it('a run whose learners the subscriptions\' quotas cannot hold is refused 422 with the numbers, nothing starts; told to start anyway, it starts', async () => {
  const roster = (n: number) => ['name,email', ...Array.from({ length: n }, (_, i) => `Quota ${i + 1},q${i + 1}@example.com`)].join('\n');
  // Three subscriptions, one full: a roster of 20 lakehouse learners is more than 8 + 0 + 8 storage accounts hold.
  const over = await w.api.startRun({ runId: 'overquota', scenario: 'lakehouse', roster: roster(20), instructors: ['ian'], learnerSubscriptions: SUBS.map((subscriptionId) => ({ subscriptionId })) }).catch((e: unknown) => e as ApiCallError);
  expect(over).toBeInstanceOf(ApiCallError);
  const refusal = over as ApiCallError;
  expect(refusal.status).toBe(422);
  const body = refusal.body as { error: string; capacity: { fits: number; learners: number; places: Array<{ subscriptionId: string; location: string; fits: number }> } };
  expect(body.capacity.learners).toBe(20);
  expect(body.capacity.fits).toBeLessThan(20);
  expect(body.capacity.places.map((p) => p.subscriptionId)).toEqual(SUBS);
  expect(body.capacity.places.find((p) => p.subscriptionId === SUBS[1])!.fits).toBe(0);
  expect(body.capacity.fits).toBe(body.capacity.places.reduce((n, p) => n + p.fits, 0));
  expect(body.error).toContain(`hold ${body.capacity.fits} more environment(s) of "lakehouse" now and the roster has 20 learners`);
  expect(body.error).toMatch(new RegExp(`StorageAccounts ${FULL}/${FULL} used`));
  expect(body.error).toMatch(/allowQuotaShortfall/);
  await expect(w.api.runStatus('overquota')).rejects.toMatchObject({ status: 404 });
  // What the same subscriptions do hold is accepted (the check counts, it does not refuse every pool).
  const fitting = await w.api.startRun({ runId: 'fitsquota', scenario: 'lakehouse', roster: roster(body.capacity.fits), instructors: ['ian'], learnerSubscriptions: SUBS.map((subscriptionId) => ({ subscriptionId })) });
  expect(fitting.learners).toHaveLength(body.capacity.fits);
  await w.api.runCommand('fitsquota', 'end', { reason: 'test over' });
  // The single default subscription (LEARNER_SUBSCRIPTION_ID) is checked too; told to start anyway, the run starts.
  const single = await w.api.startRun({ runId: 'singlequota', scenario: 'lakehouse', roster: roster(20), instructors: ['ian'] }).catch((e: unknown) => e as ApiCallError);
  expect((single as ApiCallError).status).toBe(422);
  const anyway = await w.api.startRun({ runId: 'anyway', scenario: 'lakehouse', roster: roster(20), instructors: ['ian'], allowQuotaShortfall: true });
  expect(anyway.learners).toHaveLength(20);
  await w.api.runCommand('anyway', 'end', { reason: 'test over' });
}, 120_000);

it('a run over three learner subscriptions, one at its quota: every learner reaches Implementation in an environment placed where it fits', async () => {
  const roster = ['name,email', ...Array.from({ length: LEARNERS }, (_, i) => `Learner ${i + 1},l${i + 1}@example.com`)].join('\n');
  const started = await w.api.startRun({ runId: 'poolrun', scenario: 'lakehouse', roster, instructors: ['ian'], timeScale: 1, learnerSubscriptions: SUBS.map((subscriptionId) => ({ subscriptionId })) });
  const learners = started.learners.map((l) => l.learnerId);
  await Promise.all(
    learners.map(async (learnerId) => {
      const driver = await LearnerDriver.create(w.api, 'poolrun', learnerId, 'lakehouse');
      await driver.walkTo('impl-connections', 'awaitingLearner', 150_000);
    }),
  );

  const pool = await poolOf('poolrun');
  console.log(`placement of run "poolrun" (${LEARNERS} lakehouse learners, storage quota 8 / ${FULL} (all ${FULL} used by another team) / 8 in westeurope):\n${learners.map((l) => `  ${l}  ${pool.placements[l]?.subscriptionId}  ${pool.placements[l]?.location}  ${pool.placements[l]?.status}  ${pool.placements[l]?.reason}`).join('\n')}`);
  expect(w.arm.stats.quotaRefusals).toEqual({});
  expect(learners.map((l) => pool.placements[l]?.status)).toEqual(learners.map(() => 'ready'));
  const inSub = (sub: string) => learners.filter((l) => pool.placements[l].subscriptionId === sub);
  expect(inSub(SUBS[1])).toEqual([]);
  // The other team's accounts are untouched.
  const others = [];
  for await (const r of armClientsFor(SUBS[1]).resources.resources.listByResourceGroup(OTHER_TEAM)) others.push(r.name);
  expect(others.sort()).toEqual(Array.from({ length: FULL }, (_, i) => `otherteam${i}`));
  expect(inSub(SUBS[0]).length).toBeLessThanOrEqual(4);
  expect(inSub(SUBS[2]).length).toBeLessThanOrEqual(4);
  for (const l of learners) expect((await armClientsFor(pool.placements[l].subscriptionId).resources.resourceGroups.checkExistence(learnerResourceGroupName('poolrun', l))).body).toBe(true);
}, 240_000);
