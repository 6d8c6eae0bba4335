import { afterAll, beforeAll, expect, it } from 'vitest';
import { parkEnvironment, restoreEnvironment } from '../../activities/parkEnvironment';
import { provisionEnvironment } from '../../activities/provisionEnvironment';
import { runValidation } from '../../activities/runValidation';
import { RehearsalArm } from '../../cli/rehearsalArm';
import { loadPackWithTemplate } from '../../scenarios/packFiles';
import { readLearnerPark } from '../../storage/parkTable';
import { startWorkshopStack, type WorkshopStack } from '../workshop/workshopStack';

/**
 * Every shipped pack's finished environment (the foundation plus the learner's Implementation work: the reference
 * solution's role assignments, diagnostic settings, private endpoints, started jobs …) is parked and restored, and
 * the pack's own checks judge it again: everything a learner built comes back. The one exception is a secret the
 * learner typed — the hybrid VPN connection's shared key — which ARM never returns, so the learner sets it again.
 */
let w: WorkshopStack;
let arm: RehearsalArm;

beforeAll(async () => {
  w = await startWorkshopStack();
  arm = new RehearsalArm({ url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId });
});
afterAll(async () => {
  await w?.stop();
});

const SECRET_ONLY: Record<string, string[]> = { hybrid: ['vpn-connected'] };

it.each(['lakehouse', 'ml-scoring', 'cross-region', 'hybrid'])('%s: a finished environment passes its checks again after park and restore', { timeout: 180_000 }, async (packId) => {
  const runId = `park-${packId}`;
  const learnerId = 'pia';
  const parameters = packId === 'hybrid' ? { onPremGatewayIp: '203.0.113.10' } : {};
  const env = await provisionEnvironment({ runId, learnerId, packId, idempotencyKey: `${runId}:${learnerId}:impl`, parameters });
  expect(await arm.implementTasks(env.resourceGroupName, (await loadPackWithTemplate(packId)).template as never)).toBe(true);
  const before = await runValidation({ runId, learnerId, packId });
  expect(before.checks.filter((c) => c.status !== 'pass').map((c) => c.checkId)).toEqual([]);

  expect(await parkEnvironment({ runId, learnerId, seq: 1 })).toMatchObject({ saved: true, tornDown: true });
  expect(await arm.groupExists(env.resourceGroupName)).toBe(false);
  const row = await readLearnerPark(runId, learnerId);
  expect(row?.extensions?.length, 'role assignments and diagnostic settings saved beside the export').toBeGreaterThan(0);

  expect(await restoreEnvironment({ runId, learnerId, packId, idempotencyKey: 'unused', parameters, seq: 1 })).toMatchObject({ restored: true });
  const after = await runValidation({ runId, learnerId, packId });
  const failed = after.checks.filter((c) => c.status !== 'pass');
  expect(failed.map((c) => `${c.checkId}: ${c.message ?? c.status}`)).toEqual((SECRET_ONLY[packId] ?? []).map((id) => expect.stringMatching(new RegExp(`^${id}: `))));
});
