import * as df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_RETRIES, callActivity, resultOf, type ActivityTask } from '../../activities';
import { armFailureOf } from '../../azure/armErrors';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { provisionEnvironment } from '../../activities/provisionEnvironment';
import type { FunctionDef } from '../../local/durable/functions';
import {
  admit,
  createScheduler,
  enqueue,
  failed,
  isDrained,
  progress,
  queueMessage,
  retryLater,
  succeeded,
  type SchedulerConfig,
  type SchedulerState,
} from '../../orchestrations/provisioningScheduler';
import { startStack, startInstance, waitFor, type TestStack } from '../helpers/stack';
import { listAll, startArmTestEnv, type ArmTestEnv } from './armTestEnv';

/**
 * The reference use of the scheduler: an orchestration that provisions a cohort through it. The
 * workshop's cohortRun does the same inside its own loop. Retries are the orchestration's (not
 * callActivityWithRetry): transient failures go back to the scheduler, which keeps the learner's
 * slot and honours Retry-After with a durable timer; permanent ones end that learner's attempt.
 */
interface CohortInput {
  runId: string;
  packId: string;
  learners: Array<{ learnerId: string; objectId: string }>;
  scheduler: Partial<SchedulerConfig>;
}
interface CohortOutput {
  provisioned: Record<string, { resourceGroupName: string; adopted: boolean; resources: number }>;
  failed: Record<string, string>;
  stats: SchedulerState['stats'];
}

function* cohortProvisioning(context: df.OrchestrationContext): Generator<df.Task, CohortOutput, unknown> {
  const input = context.df.getInput() as CohortInput;
  const index = new Map(input.learners.map((l, i) => [l.learnerId, { ...l, i }]));
  let s = enqueue(createScheduler(context.df.currentUtcDateTime, input.scheduler), input.learners.map((l) => l.learnerId));
  const running = new Map<string, ActivityTask<'provisionEnvironment'>>();
  const provisioned: CohortOutput['provisioned'] = {};
  let timer: { task: df.TimerTask; at: number } | undefined;

  while (!isDrained(s)) {
    const admitted = admit(s, context.df.currentUtcDateTime);
    s = admitted.state;
    for (const a of admitted.start) {
      const l = index.get(a.id)!;
      running.set(
        a.id,
        callActivity(context, 'provisionEnvironment', {
          idempotencyKey: `${context.df.instanceId}:${a.id}:foundation`,
          runId: input.runId,
          learnerId: a.id,
          packId: input.packId,
          cohortIndex: l.i,
          learnerObjectId: l.objectId,
        }, CALLER_RETRIES),
      );
    }
    context.df.setCustomStatus({ progress: progress(s), messages: Object.fromEntries(input.learners.map((l) => [l.learnerId, queueMessage(s, l.learnerId)])) });

    const wake = admitted.wakeAt?.getTime();
    if (wake !== undefined && (!timer || timer.at > wake)) {
      timer?.task.cancel();
      timer = { task: context.df.createTimer(new Date(wake)), at: wake };
    }
    const winner = (yield context.df.Task.any([...running.values(), ...(timer ? [timer.task] : [])])) as df.Task;
    if (timer && winner === timer.task) {
      timer = undefined;
      continue;
    }
    const [id, task] = [...running].find(([, t]) => t === winner)!;
    running.delete(id);
    const now = context.df.currentUtcDateTime;
    if (!winner.isFaulted) {
      const r = resultOf(task);
      provisioned[id] = { resourceGroupName: r.resourceGroupName, adopted: r.adopted, resources: r.resourceIds.length };
      s = succeeded(s, id, now);
      continue;
    }
    const f = armFailureOf(winner.result);
    if (f.kind === 'permanent') s = failed(s, id, now, f.message);
    else s = retryLater(s, id, now, { throttled: f.throttled, ...(f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : {}), error: f.message }).state;
  }
  context.df.setCustomStatus({ progress: progress(s) });
  return { provisioned, failed: s.failed, stats: s.stats };
}

const functions: FunctionDef[] = [
  { kind: 'orchestration', name: 'cohortProvisioning', handler: cohortProvisioning },
  { kind: 'activity', name: 'provisionEnvironment', handler: provisionEnvironment },
];

const LIMIT = 5;
const COHORT = 30;
let stack: TestStack;
let env: ArmTestEnv;

beforeAll(async () => {
  stack = await startStack(functions, { maxActivities: 8 });
  env = await startArmTestEnv({ database: stack.database });
});
afterAll(async () => {
  await env?.stop();
  await stack?.stop();
});

describe('cohort provisioning through the scheduler (local host + ARM emulator)', () => {
  it(`a ${COHORT}-learner cohort survives a 429 storm and 500 bursts: all provisioned, never more than ${LIMIT} deployments at once`, async () => {
    env.arm.setFaults({ seed: 3, throttle: { fraction: 0.6, retryAfterSeconds: 1 }, serverErrors: { every: 50, length: 12 }, slowDeployment: { perResourceMs: 150 } });
    env.arm.resetStats();
    const learners = Array.from({ length: COHORT }, (_, i) => ({ learnerId: `l${String(i + 1).padStart(2, '0')}`, objectId: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}` }));
    const input: CohortInput = { runId: 'storm', packId: 'lakehouse', learners, scheduler: { maxConcurrentDeployments: LIMIT, writesPerAttempt: 4, retryBaseSeconds: 1, retryMaxSeconds: 4, maxAttempts: 12 } };
    const id = await startInstance(stack.api, 'cohortProvisioning', input);

    // Early on, the last learner is told where they stand.
    const early = await waitFor(stack.api, id, (st) => typeof (st.customStatus as { messages?: Record<string, string> } | null)?.messages?.l30 === 'string', 20_000);
    expect((early.customStatus as { messages: Record<string, string> }).messages.l30).toMatch(/^Your environment is \d+(st|nd|rd|th) in line\.$/);

    const done = await waitFor(stack.api, id, ['Completed', 'Failed'], 88_000);
    expect(done.runtimeStatus).toBe('Completed');
    const out = done.output as CohortOutput;
    expect(out.failed).toEqual({});
    expect(Object.keys(out.provisioned).sort()).toEqual(learners.map((l) => l.learnerId));

    const stats = env.arm.stats;
    expect(stats.maxConcurrentDeployments).toBeGreaterThan(1);
    expect(stats.maxConcurrentDeployments).toBeLessThanOrEqual(LIMIT);
    expect(stats.throttled / stats.writes).toBeGreaterThanOrEqual(0.3);
    expect(stats.serverErrors).toBeGreaterThan(0);
    // Some failures got past the SDK's own retries and were retried by the orchestration — adopting, not redeploying.
    expect(out.stats.transientFailures).toBeGreaterThan(0);
    expect(stats.deploymentsStarted).toBe(COHORT);

    // Every learner's group holds exactly one deployment, and it succeeded.
    for (const l of learners) {
      const deployments = await listAll(env.clients.deployments.deployments.listByResourceGroup(learnerResourceGroupName('storm', l.learnerId)));
      expect(deployments.map((d) => d.properties?.provisioningState)).toEqual(['Succeeded']);
    }
  }, 90_000);
});
