import * as df from 'durable-functions';
import { appSetting } from '../config';

/**
 * How often, and how patiently, an orchestration retries an activity that threw. Every activity names one
 * of these in the catalogue (activities/index.ts), and `callActivity` applies it: no call site builds its own
 * `RetryOptions`. The environment policy is an app setting, because how long ARM may stay unavailable before
 * a learner's step fails is an operator's call.
 *
 * Settings are read once, when the app loads: every replay of an orchestration on one host uses the same
 * numbers. A changed setting reaches instances already running at their next retry, which Durable Functions
 * allows (the retry timer is recorded in the history).
 */
export interface RetryPolicy {
  /** Wait before the first retry. */
  readonly firstRetryMs: number;
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly backoffCoefficient: number;
  readonly maxRetryIntervalMs?: number;
}

/** Table writes, outbox messages and Durable signals: a blip of storage or the management API. */
export const QUICK_RETRY: RetryPolicy = { firstRetryMs: 2_000, maxAttempts: 5, backoffCoefficient: 2 };

/** The operator's self-check: it should say quickly that storage is unreachable. */
export const SELF_CHECK_RETRY: RetryPolicy = { firstRetryMs: 1_000, maxAttempts: 3, backoffCoefficient: 1 };

/**
 * Deployments, validation and teardown against Azure Resource Manager (transient ARM errors, throttling).
 * A deployment the cohort's provisioning scheduler admitted is not retried here: the scheduler owns those
 * retries (orchestrations/provisioningScheduler.ts, `DEFAULT_SCHEDULER_CONFIG`).
 */
export function environmentRetry(setting: (name: string) => unknown = appSetting): RetryPolicy {
  return {
    firstRetryMs: Number(setting('ENVIRONMENT_RETRY_FIRST_SECONDS')) * 1000,
    maxAttempts: Number(setting('ENVIRONMENT_RETRY_ATTEMPTS')),
    backoffCoefficient: 2,
    maxRetryIntervalMs: 120_000,
  };
}

/** The SDK's form of a policy. */
export function retryOptions(policy: RetryPolicy): df.RetryOptions {
  const options = new df.RetryOptions(policy.firstRetryMs, policy.maxAttempts);
  options.backoffCoefficient = policy.backoffCoefficient;
  if (policy.maxRetryIntervalMs !== undefined) options.maxRetryIntervalInMilliseconds = policy.maxRetryIntervalMs;
  return options;
}
