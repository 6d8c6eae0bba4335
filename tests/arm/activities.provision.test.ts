import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentArmError, TransientArmError } from '../../azure/armErrors';
import { deploymentName, learnerResourceGroupName, TAGS } from '../../azure/environmentNames';
import { provisionEnvironment, type ProvisionEnvironmentInput } from '../../activities/provisionEnvironment';
import { INSTRUCTOR_PARAMETERS, learnerObjectId, listAll, startArmTestEnv, until, type ArmTestEnv } from './armTestEnv';
import { packIdsIn } from '../../scenarios/loadPack';

let env: ArmTestEnv;
beforeAll(async () => {
  env = await startArmTestEnv();
});
afterAll(async () => {
  await env?.stop();
});

const input = (packId: string, learnerId: string, extra: Partial<ProvisionEnvironmentInput> = {}): ProvisionEnvironmentInput => ({
  idempotencyKey: `test:${learnerId}:foundation`,
  runId: 'run-prov',
  learnerId,
  packId,
  learnerObjectId: learnerObjectId(),
  parameters: INSTRUCTOR_PARAMETERS[packId] ?? {},
  ...extra,
});

describe('provisionEnvironment against the ARM emulator', () => {
  for (const packId of packIdsIn()) {
    it(`a deployment of the shipped ${packId} template succeeds and names every resource it created`, async () => {
      env.arm.setFaults({});
      const r = await provisionEnvironment(input(packId, `ship-${packId}`));
      expect(r.resourceGroupName).toBe(learnerResourceGroupName('run-prov', `ship-${packId}`));
      expect(r.adopted).toBe(false);
      expect(r.resourceIds.length).toBeGreaterThanOrEqual(5);

      const group = await env.clients.resources.resourceGroups.get(r.resourceGroupName);
      expect(group.tags).toMatchObject({ [TAGS.pack]: packId, [TAGS.run]: 'run-prov', [TAGS.learner]: `ship-${packId}`, [TAGS.expires]: r.expiresAt });
      const deployment = await env.clients.deployments.deployments.get(r.resourceGroupName, r.deploymentName);
      expect(deployment.properties?.provisioningState).toBe('Succeeded');
      // What the activity reports is what is there: every top-level resource of the group is in the result.
      const listed = (await listAll(env.clients.resources.resources.listByResourceGroup(r.resourceGroupName))).map((x) => x.id!.toLowerCase());
      expect(listed.length).toBeGreaterThan(0);
      const reported = new Set(r.resourceIds.map((id) => id.toLowerCase()));
      expect(listed.filter((id) => !reported.has(id))).toEqual([]);
    });
  }

  it('a retried provisionEnvironment after a crash mid-poll adopts the running deployment instead of starting a second one', async () => {
    env.arm.setFaults({ slowDeployment: { perResourceMs: 150 } });
    env.arm.resetStats();
    const args = input('ml-scoring', 'crash-1');
    const crash = new AbortController();
    const first = provisionEnvironment(args, undefined, { abortSignal: crash.signal });
    await until('the deployment to be running', () => env.arm.stats.activeDeployments > 0);
    crash.abort(new Error('simulated crash of the worker'));
    await expect(first).rejects.toThrow();
    expect(env.arm.stats.activeDeployments).toBe(1); // ARM carries on without us

    const retried = await provisionEnvironment(args);
    expect(retried.adopted).toBe(true);
    expect(env.arm.stats.deploymentsStarted).toBe(1);
    const deployments = await listAll(env.clients.deployments.deployments.listByResourceGroup(retried.resourceGroupName));
    expect(deployments.map((d) => [d.name, d.properties?.provisioningState])).toEqual([[deploymentName('ml-scoring', args.idempotencyKey), 'Succeeded']]);

    // And once it has succeeded, a further retry changes nothing and writes nothing.
    const writes = env.arm.stats.writes;
    const again = await provisionEnvironment(args);
    expect(again).toMatchObject({ adopted: true, deploymentId: retried.deploymentId, resourceIds: retried.resourceIds });
    expect(env.arm.stats.writes).toBe(writes);
  });

  it('a quota error fails permanently, telling the instructor what to do', async () => {
    env.arm.setFaults({ quota: { code: 'QuotaExceeded', at: 'preflight' } });
    const err = await provisionEnvironment(input('ml-scoring', 'quota-1', { location: 'westeurope' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentArmError);
    expect((err as Error).message).toMatch(/^Quota exceeded.* in westeurope while deploying pack "ml-scoring" for learner "quota-1".*: request a quota increase .* or move the run to another region/);

    env.arm.setFaults({ quota: { code: 'QuotaExceeded', at: 'provision' } });
    const during = await provisionEnvironment(input('ml-scoring', 'quota-2')).catch((e: unknown) => e);
    expect(during).toBeInstanceOf(PermanentArmError);
    expect((during as Error).message).toMatch(/^Quota exceeded/);
  });

  it('a resource that fails to provision fails the step permanently, naming the failure', async () => {
    env.arm.setFaults({ failingResourceTypes: ['Microsoft.ContainerRegistry/registries'] });
    const err = await provisionEnvironment(input('ml-scoring', 'broken-1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentArmError);
    expect((err as Error).message).toMatch(/while deploying pack "ml-scoring" for learner "broken-1"/);
    expect((err as Error).message).toMatch(/ContainerRegistry|registr/i);
  });

  it('a subscription that keeps answering 429 gives a transient error carrying Retry-After', async () => {
    env.arm.setFaults({ throttle: { fraction: 1, retryAfterSeconds: 1 } });
    const err = await provisionEnvironment(input('ml-scoring', 'throttled-1')).catch((e: unknown) => e);
    env.arm.setFaults({});
    expect(err).toBeInstanceOf(TransientArmError);
    expect((err as TransientArmError).retryAfterSeconds).toBe(1);
    expect((err as Error).message).toMatch(/throttled the learner subscription .*\(retry after 1 s\)$/);
  });

  it('refuses a pack parameter nobody supplied, before touching ARM', async () => {
    env.arm.resetStats();
    const err = await provisionEnvironment(input('hybrid', 'no-ip', { parameters: {} })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentArmError);
    expect((err as Error).message).toMatch(/needs values the run did not give .*onPremGatewayIp \(instructor/);
    expect(env.arm.stats.writes).toBe(0);
  });
});
