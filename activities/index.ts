import type { InvocationContext } from '@azure/functions';
import type * as df from 'durable-functions';
import type { z } from 'zod';
import { cohortFanOut, cohortTally, startJourneys } from './cohortFanOut';
import { notify, notifyMany } from './notify';
import { parkEnvironment, restoreEnvironment } from './parkEnvironment';
import { parkFanOut } from './parkFanOut';
import { poolLearners, recordPoolEnvironment, teardownPool } from './environmentPool';
import { probeStorage } from './probeStorage';
import { provisionEnvironment } from './provisionEnvironment';
import { recordCheckpoint } from './recordCheckpoint';
import { recordDecision } from './recordDecision';
import { recordRunEnded } from './recordRunEnded';
import { environmentRetry, QUICK_RETRY, retryOptions, SELF_CHECK_RETRY, type RetryPolicy } from './retryPolicies';
import { runValidation } from './runValidation';
import { signalInstance, signalMany } from './signalInstance';
import { teardown } from './teardown';

interface ActivityEntry {
  /** The activity (defineActivity): parses its input with `run.input`, the schema callers' types come from. */
  readonly run: ((raw: unknown, context: InvocationContext) => Promise<unknown>) & { readonly input: z.ZodType };
  readonly retry: RetryPolicy;
  /** Gets a DurableClient binding (signals other instances). */
  readonly durableClient?: boolean;
}

const ENVIRONMENT_RETRY = environmentRetry();

/**
 * Every activity, by name, with its retry policy: the one place both hosts register them from (registry.ts)
 * and orchestrations call them through (`callActivity`, typed from this object — the Temporal samples'
 * `proxyActivities<typeof activities>`).
 */
export const activities = {
  probeStorage: { run: probeStorage, retry: SELF_CHECK_RETRY },
  // The DurableClient binding is for the Teams sender that delivers the row on write (bot/outboxPump.ts).
  notify: { run: notify, retry: QUICK_RETRY, durableClient: true },
  notifyMany: { run: notifyMany, retry: QUICK_RETRY, durableClient: true },
  recordCheckpoint: { run: recordCheckpoint, retry: QUICK_RETRY },
  recordRunEnded: { run: recordRunEnded, retry: QUICK_RETRY },
  recordDecision: { run: recordDecision, retry: QUICK_RETRY },
  signalInstance: { run: signalInstance, retry: QUICK_RETRY, durableClient: true },
  signalMany: { run: signalMany, retry: QUICK_RETRY, durableClient: true },
  startJourneys: { run: startJourneys, retry: QUICK_RETRY, durableClient: true },
  cohortFanOut: { run: cohortFanOut, retry: QUICK_RETRY, durableClient: true },
  cohortTally: { run: cohortTally, retry: QUICK_RETRY },
  provisionEnvironment: { run: provisionEnvironment, retry: ENVIRONMENT_RETRY },
  runValidation: { run: runValidation, retry: ENVIRONMENT_RETRY },
  teardown: { run: teardown, retry: QUICK_RETRY },
  parkEnvironment: { run: parkEnvironment, retry: ENVIRONMENT_RETRY },
  restoreEnvironment: { run: restoreEnvironment, retry: ENVIRONMENT_RETRY },
  parkFanOut: { run: parkFanOut, retry: QUICK_RETRY, durableClient: true },
  poolLearners: { run: poolLearners, retry: QUICK_RETRY },
  recordPoolEnvironment: { run: recordPoolEnvironment, retry: QUICK_RETRY },
  teardownPool: { run: teardownPool, retry: QUICK_RETRY },
} as const satisfies Record<string, ActivityEntry>;

export type ActivityName = keyof typeof activities;
/** What a caller passes: the input side of the activity's zod schema (defaults may be left out). */
export type ActivityInput<K extends ActivityName> = z.input<(typeof activities)[K]['run']['input']>;
export type ActivityResult<K extends ActivityName> = Awaited<ReturnType<(typeof activities)[K]['run']>>;

declare const resultType: unique symbol;
/** A scheduled activity call that remembers what it returns; read it with `resultOf`. */
export interface ActivityTask<K extends ActivityName> extends df.Task {
  readonly [resultType]?: ActivityResult<K>;
}

/** The caller retries itself (the cohort's provisioning scheduler decides when a deployment runs again). */
export const CALLER_RETRIES = 'callerRetries';

const RETRY_OPTIONS = Object.fromEntries(Object.entries(activities).map(([name, a]) => [name, retryOptions(a.retry)])) as Record<ActivityName, df.RetryOptions>;

/**
 * The one way an orchestration calls an activity: by name, with an input the activity's schema accepts,
 * retried by the activity's policy. (`retry` other than the default is for cohortRun.ts's own options,
 * which equal QUICK_RETRY, and for CALLER_RETRIES.)
 */
export function callActivity<K extends ActivityName>(
  ctx: df.OrchestrationContext,
  name: K,
  input: ActivityInput<K>,
  retry: df.RetryOptions | typeof CALLER_RETRIES = RETRY_OPTIONS[name],
): ActivityTask<K> {
  return retry === CALLER_RETRIES ? ctx.df.callActivity(name, input) : ctx.df.callActivityWithRetry(name, retry, input);
}

/** The result of a completed, not faulted activity call. */
export function resultOf<K extends ActivityName>(task: ActivityTask<K>): ActivityResult<K> {
  if (!task.isCompleted || task.isFaulted) throw new Error('resultOf: the activity has not completed successfully; check isFaulted first');
  return task.result as ActivityResult<K>;
}

/** Call an activity and wait for it: `const r = yield* runActivity(context, 'probeStorage', { key })`. */
export function* runActivity<K extends ActivityName>(ctx: df.OrchestrationContext, name: K, input: ActivityInput<K>): Generator<df.Task, ActivityResult<K>, unknown> {
  const task = callActivity(ctx, name, input);
  yield task;
  return resultOf(task);
}
