import type { InvocationContext } from '@azure/functions';
import type * as df from 'durable-functions';
import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { activities, CALLER_RETRIES, callActivity, type ActivityName } from '../../activities';
import { environmentRetry, QUICK_RETRY, retryOptions } from '../../activities/retryPolicies';
import { appSetting } from '../../config';

/**
 * The activity catalogue: each activity parses its input with the schema its callers' types come from,
 * and each call is retried by the activity's one policy, the environment policy coming from app settings.
 */
function recordingContext() {
  const calls: Array<{ how: 'once' | 'withRetry'; name: string; retry?: df.RetryOptions; input: unknown }> = [];
  const task = { isCompleted: false, isFaulted: false } as df.Task;
  const ctx = {
    df: {
      callActivity: (name: string, input: unknown) => (calls.push({ how: 'once', name, input }), task),
      callActivityWithRetry: (name: string, retry: df.RetryOptions, input: unknown) => (calls.push({ how: 'withRetry', name, retry, input }), task),
    },
  } as unknown as df.OrchestrationContext;
  return { ctx, calls };
}

describe('activity catalogue', () => {
  it('every call is retried by its activity\'s policy; CALLER_RETRIES runs it once', () => {
    const { ctx, calls } = recordingContext();
    callActivity(ctx, 'notify', { runId: 'r', key: 'k', to: { role: 'instructor' }, kind: 'x', body: {} });
    callActivity(ctx, 'runValidation', { packId: 'lakehouse', runId: 'r', learnerId: 'a', stepId: 's' });
    callActivity(ctx, 'provisionEnvironment', { idempotencyKey: 'k', runId: 'r', learnerId: 'a', packId: 'lakehouse' }, CALLER_RETRIES);
    expect(calls.map((c) => [c.how, c.name])).toEqual([
      ['withRetry', 'notify'],
      ['withRetry', 'runValidation'],
      ['once', 'provisionEnvironment'],
    ]);
    expect(calls[0].retry).toEqual(retryOptions(QUICK_RETRY));
    expect(calls[1].retry).toEqual(retryOptions(environmentRetry()));
  });

  it('the environment policy comes from the settings, and a bad setting is refused by name', () => {
    const settings: Record<string, number> = { ENVIRONMENT_RETRY_ATTEMPTS: 7, ENVIRONMENT_RETRY_FIRST_SECONDS: 3 };
    expect(environmentRetry((n) => settings[n])).toMatchObject({ firstRetryMs: 3000, maxAttempts: 7, backoffCoefficient: 2 });
    expect(environmentRetry()).toMatchObject({ firstRetryMs: 15_000, maxAttempts: 4 });
    expect(() => appSetting('ENVIRONMENT_RETRY_ATTEMPTS', { ENVIRONMENT_RETRY_ATTEMPTS: '0' })).toThrow(/ENVIRONMENT_RETRY_ATTEMPTS: ENVIRONMENT_RETRY_ATTEMPTS must be at least 1/);
  });

  for (const name of Object.keys(activities) as ActivityName[]) {
    it(`${name} parses its input with the schema its callers are typed by`, async () => {
      const { run } = activities[name];
      expect(run.input.safeParse({}).success).toBe(false);
      await expect(run({}, {} as InvocationContext)).rejects.toBeInstanceOf(ZodError);
    });
  }
});
