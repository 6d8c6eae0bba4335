import { describe, expect, it } from 'vitest';
import { costVerdict, environmentFromTags, spentUsd, type EnvironmentCost } from '../../azure/costGuard';
import { armFailureOf, classifyArmError, classifyDeploymentError, PermanentArmError, TransientArmError } from '../../azure/armErrors';
import { deploymentName, learnerResourceGroupName, namePrefixFor, TAGS } from '../../azure/environmentNames';

const T0 = new Date('2026-03-02T09:00:00.000Z');
const at = (hours: number) => new Date(T0.getTime() + hours * 3_600_000);
const env = (name: string, hourly: number, extra: Partial<EnvironmentCost> = {}): EnvironmentCost => ({ resourceGroupName: name, hourlyCostUsd: hourly, createdAt: T0.toISOString(), ...extra });

describe('cost guard', () => {
  it('counts each environment from creation to teardown (or now)', () => {
    const envs = [env('a', 2), env('b', 1, { tornDownAt: at(1.5).toISOString() }), env('c', 4, { createdAt: at(3).toISOString() })];
    expect(spentUsd(envs, at(2))).toBe(5.5);
    expect(spentUsd(envs, at(4))).toBe(8 + 1.5 + 4);
  });

  it('warns once at 80 % and says when the budget will be reached', () => {
    const envs = [env('a', 10), env('b', 10)];
    const early = costVerdict(envs, { status: 'running', budgetUsd: 100 }, at(3));
    expect(early).toMatchObject({ spentUsd: 60, budgetUsd: 100, fraction: 0.6, warn: false, teardown: [], burnUsdPerHour: 20 });
    expect(early.budgetReachedAt).toBe(at(5).toISOString());
    expect(early.nextCheckAt).toBe(at(4).toISOString()); // the 80 % mark comes first
    expect(costVerdict(envs, { status: 'running', budgetUsd: 100 }, at(4)).warn).toBe(true);
    expect(costVerdict(envs, { status: 'running', budgetUsd: 100, warnedAt: at(4).toISOString() }, at(4.5)).warn).toBe(false);
  });

  it('tears everything down at the budget, at the run end, and a group at its expiry', () => {
    const envs = [env('a', 10, { expiresAt: at(2).toISOString() }), env('b', 10, { expiresAt: at(8).toISOString() })];
    expect(costVerdict(envs, { status: 'running', budgetUsd: 1000 }, at(1)).teardown).toEqual([]);
    expect(costVerdict(envs, { status: 'running', budgetUsd: 1000 }, at(2)).teardown).toEqual([{ resourceGroupName: 'a', reason: 'expired' }]);
    expect(costVerdict(envs, { status: 'running', budgetUsd: 50 }, at(2.5)).teardown).toEqual([
      { resourceGroupName: 'a', reason: 'budget' },
      { resourceGroupName: 'b', reason: 'budget' },
    ]);
    expect(costVerdict(envs, { status: 'running', budgetUsd: 1000, endsAt: at(1.5).toISOString() }, at(1.5)).teardown.map((t) => t.reason)).toEqual(['run-ended', 'run-ended']);
    expect(costVerdict(envs, { status: 'ended', budgetUsd: 1000 }, at(0.5)).teardown).toHaveLength(2);
  });

  it("without a run budget, the packs' development maximum per environment is the budget", () => {
    const v = costVerdict([env('a', 50, { budgetShareUsd: 100 }), env('b', 50, { budgetShareUsd: 100 })], { status: 'running' }, at(1.6));
    expect(v.budgetUsd).toBe(200);
    expect(v.warn).toBe(true);
  });

  it('reads the facts from the tags provisionEnvironment writes', () => {
    const tags = { [TAGS.created]: T0.toISOString(), [TAGS.hourlyUsd]: '2.1', [TAGS.budgetUsd]: '200', [TAGS.expires]: at(10).toISOString(), [TAGS.pack]: 'lakehouse' };
    expect(environmentFromTags('rg', tags)).toEqual({ resourceGroupName: 'rg', hourlyCostUsd: 2.1, createdAt: T0.toISOString(), expiresAt: at(10).toISOString(), budgetShareUsd: 200 });
    expect(environmentFromTags('rg', { [TAGS.pack]: 'x' })).toBeUndefined();
  });
});

describe('ARM error classification', () => {
  const ctx = { what: 'deploying pack "ml-scoring" for learner "ada"', location: 'westeurope' };
  const rest = (statusCode: number, code: string, message: string, retryAfter?: string) =>
    Object.assign(new Error(message), { name: 'RestError', statusCode, code, response: { headers: { get: (n: string) => (n === 'retry-after' ? retryAfter : undefined) } } });

  it('429, 5xx, conflicts and network errors are transient; Retry-After travels in the message', () => {
    const throttled = classifyArmError(rest(429, 'SubscriptionRequestsThrottled', 'too many', '7'), ctx);
    expect(throttled).toBeInstanceOf(TransientArmError);
    expect(throttled.message).toMatch(/\(retry after 7 s\)$/);
    expect(classifyArmError(rest(503, 'ServiceUnavailable', 'busy'), ctx)).toBeInstanceOf(TransientArmError);
    expect(classifyArmError(rest(409, 'DeploymentActive', 'running'), ctx)).toBeInstanceOf(TransientArmError);
    expect(classifyArmError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), ctx)).toBeInstanceOf(TransientArmError);
  });

  it('quota, policy and template errors are permanent and tell the instructor what to do', () => {
    const quota = classifyDeploymentError(
      {
        code: 'DeploymentFailed',
        message: 'At least one resource deployment operation failed.',
        details: [{ code: 'QuotaExceeded', message: 'Operation could not be completed as it results in exceeding approved Standard_D2s_v3 Family Cores quota.' }],
      },
      ctx,
    );
    expect(quota).toBeInstanceOf(PermanentArmError);
    expect(quota.message).toMatch(/^Quota exceeded for Standard_D2s_v3 in westeurope while deploying pack "ml-scoring" for learner "ada": request a quota increase .* or move the run to another region/);
    const policy = classifyArmError(rest(403, 'RequestDisallowedByPolicy', 'Resource was disallowed by policy.'), ctx);
    expect(policy.message).toMatch(/Azure Policy assignment denied .* exempt/);
    const template = classifyArmError(rest(400, 'InvalidTemplate', "Deployment template validation failed: 'The template function 'foo' is not valid'."), ctx);
    expect(template).toBeInstanceOf(PermanentArmError);
    expect(template.message).toMatch(/template was rejected .* fix the template/);
  });

  it('a deployment that failed only on transient inner errors (nested JSON included) is retried', () => {
    const nested = JSON.stringify({ status: 'Failed', error: { code: 'InternalServerError', message: 'oops' } });
    expect(classifyDeploymentError({ code: 'DeploymentFailed', details: [{ code: 'Conflict', message: nested }] }, ctx)).toBeInstanceOf(TransientArmError);
  });

  it('the orchestration reads kind and Retry-After back from a TaskFailedError', () => {
    const original = classifyArmError(rest(429, 'TooManyRequests', 'slow down', '12'), ctx);
    const asSeenByOrchestration = {
      name: 'TaskFailedError',
      message: `${original.name}: ${original.message}`,
      failureDetails: { errorType: original.name, errorMessage: original.message },
    };
    expect(armFailureOf(asSeenByOrchestration)).toMatchObject({ kind: 'transient', throttled: true, retryAfterSeconds: 12 });
    // On the Azure host the type may only survive inside the text.
    expect(armFailureOf(new Error(`Activity function 'provisionEnvironment' failed: PermanentArmError: Quota exceeded for X`))).toEqual({
      kind: 'permanent',
      throttled: false,
      message: 'Quota exceeded for X',
    });
    expect(armFailureOf(new Error('boom')).kind).toBe('unknown');
  });
});

describe('environment names', () => {
  it('are deterministic, distinct per learner and within ARM limits', () => {
    const a = learnerResourceGroupName('run-2026-03-cohort-a', 'ada.lovelace@example.com');
    expect(a).toBe(learnerResourceGroupName('run-2026-03-cohort-a', 'ada.lovelace@example.com'));
    expect(a).not.toBe(learnerResourceGroupName('run-2026-03-cohort-a', 'alan.turing@example.com'));
    expect(a).toMatch(/^[-\w.()]{1,90}$/);
    const d = deploymentName('cross-region', 'learnerJourney:run-1:ada:implementation#provision-foundation');
    expect(d.length).toBeLessThanOrEqual(64);
    expect(d).toMatch(/^[-\w.()]+$/);
    expect(namePrefixFor('r', 'ada')).toMatch(/^[a-z][a-z0-9]{7}$/);
  });
});
