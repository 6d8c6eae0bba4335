import type * as df from 'durable-functions';
import { CALLER_RETRIES, callActivity, resultOf } from '../activities';
import { armFailureOf } from '../azure/armErrors';
import { EVENTS, cohortInstanceId, journeyInstanceId } from '../contracts/ids';
import type { LearnerSubscriptionRef, ProvisionDone } from '../contracts/messages';

/** One hot-start deployment attempt for one pooled learner (the cohort starts it when its scheduler admits it). */
export interface PoolEnvironmentInput {
  runId: string;
  learnerId: string;
  packId: string;
  /** The provision step the learner's phase will run: the same idempotency key, so the phase adopts this deployment. */
  stepId: string;
  /** The scheduler's attempt (1 first): names this instance. */
  envAttempt: number;
  parameters?: Record<string, unknown>;
  subscriptions?: LearnerSubscriptionRef[];
}

export function poolInstanceId(runId: string, learnerId: string, envAttempt: number): string {
  return `${journeyInstanceId(runId, learnerId)}-pool-${envAttempt}`;
}

/**
 * Deploys a pooled learner's environment ahead of their Implementation, exactly as their phase would
 * (phaseEffects.deploy: same activity, same input, same idempotency key `<run>:<learner>:<step>`), records
 * its state in the pool's table, and tells the cohort how it went, which (like a phase's deployment) holds a
 * scheduler slot meanwhile and decides retries.
 */
export function* poolEnvironment(context: df.OrchestrationContext): Generator<df.Task, string, unknown> {
  const input = context.df.getInput() as PoolEnvironmentInput;
  const { runId, learnerId } = input;
  yield callActivity(context, 'recordPoolEnvironment', { runId, learnerId, status: 'deploying' });
  const deploy = callActivity(
    context,
    'provisionEnvironment',
    {
      runId,
      learnerId,
      packId: input.packId,
      idempotencyKey: `${runId}:${learnerId}:${input.stepId}`,
      parameters: input.parameters ?? {},
      ...(input.subscriptions?.length ? { subscriptions: input.subscriptions } : {}),
    },
    CALLER_RETRIES,
  );
  try {
    yield deploy;
  } catch {
    // The outcome is read from the task below.
  }
  let done: ProvisionDone;
  if (!deploy.isFaulted) {
    const env = resultOf(deploy);
    yield callActivity(context, 'recordPoolEnvironment', { runId, learnerId, status: 'ready', subscriptionId: env.subscriptionId, resourceGroupName: env.resourceGroupName, hourlyCostUsd: env.hourlyCostUsd });
    done = { type: 'provisionDone', pool: true, learnerId, stepId: input.stepId, attempt: 0, outcome: 'succeeded' };
  } else {
    const failure = armFailureOf(deploy.result);
    const permanent = failure.kind === 'permanent';
    // A transient failure is retried by the cohort's scheduler (a new instance of this, same deployment name).
    if (permanent) yield callActivity(context, 'recordPoolEnvironment', { runId, learnerId, status: 'failed', error: failure.message.slice(0, 2_000) });
    done = {
      type: 'provisionDone',
      pool: true,
      learnerId,
      stepId: input.stepId,
      attempt: 0,
      outcome: permanent ? 'permanent' : 'transient',
      ...(failure.retryAfterSeconds !== undefined ? { retryAfterSeconds: failure.retryAfterSeconds } : {}),
      throttled: /\b429\b|throttl|TooManyRequests/i.test(failure.message),
      message: failure.message,
    };
  }
  yield callActivity(context, 'signalInstance', { op: 'raise', instanceId: cohortInstanceId(runId), event: EVENTS.cohort, data: done });
  return done.outcome;
}
