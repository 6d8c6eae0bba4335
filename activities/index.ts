import type * as df from 'durable-functions';
import { notify, notifyMany } from './notify';
import { probeStorage } from './probeStorage';
import { provisionEnvironment } from './provisionEnvironment';
import { recordCheckpoint } from './recordCheckpoint';
import { recordProgress } from './recordProgress';
import { recordRunEnded } from './recordRunEnded';
import { runValidation } from './runValidation';
import { signalInstance, signalMany } from './signalInstance';
import { teardown } from './teardown';

/**
 * The activities, by name. Orchestrations call them through `callActivity` below, typed from the
 * functions themselves (the Temporal samples' `proxyActivities<typeof activities>` idea).
 */
export const activities = {
  probeStorage,
  notify,
  notifyMany,
  recordCheckpoint,
  recordProgress,
  recordRunEnded,
  signalInstance,
  signalMany,
  provisionEnvironment,
  runValidation,
  teardown,
} as const;

/** Activities that get a DurableClient binding. */
export const durableClientActivities: ReadonlySet<ActivityName> = new Set<ActivityName>(['signalInstance', 'signalMany']);

export type ActivityName = keyof typeof activities;
export type ActivityInput<K extends ActivityName> = Parameters<(typeof activities)[K]>[0];
export type ActivityResult<K extends ActivityName> = Awaited<ReturnType<(typeof activities)[K]>>;

export function callActivity<K extends ActivityName>(ctx: df.OrchestrationContext, name: K, input: ActivityInput<K>, retry?: df.RetryOptions): df.Task {
  return retry ? ctx.df.callActivityWithRetry(name, retry, input) : ctx.df.callActivity(name, input);
}
