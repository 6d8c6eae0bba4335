/**
 * Fault injection, by configuration. Every decision is deterministic: a seeded PRNG for the
 * throttling fraction, request counters for bursts, so a test run with the same requests in the same
 * order sees the same faults.
 */
export interface ArmFaults {
  /** Seed of the PRNG behind `throttle.fraction` (default 1). Changing faults re-seeds it. */
  seed?: number;
  /**
   * 429 on about `fraction` (0..1) of write requests (PUT, PATCH, DELETE, POST) — or of every
   * request with `scope: 'all'` — with `Retry-After: retryAfterSeconds` (default 1) and ARM's
   * `SubscriptionRequestsThrottled` error. Polling GETs are never throttled unless scope is 'all'.
   */
  throttle?: { fraction: number; retryAfterSeconds?: number; scope?: 'writes' | 'all' };
  /**
   * Bursts of 500 InternalServerError: of every `every` requests (writes only with the default
   * scope), the first `length` fail. `{ every: 50, length: 5 }` = 5 failures, 45 successes, repeat.
   */
  serverErrors?: { every: number; length: number; scope?: 'writes' | 'all' };
  /** Each resource of a deployment takes this long to provision (ms); `byType` overrides per resource type. */
  slowDeployment?: { perResourceMs: number; byType?: Record<string, number> };
  /**
   * Resources of these types end in provisioning state Failed, so their deployment fails with
   * `DeploymentFailed` and a `ResourceDeploymentFailure` detail naming the resource.
   */
  failingResourceTypes?: string[];
  /**
   * A quota error for resources of `resourceType` (any type when omitted). `at: 'preflight'` (default)
   * rejects the deployment PUT with 400 `InvalidTemplateDeployment` + a `code` detail (ARM's preflight
   * quota check); `at: 'provision'` lets the deployment start and fail on that resource.
   */
  quota?: { resourceType?: string; code?: 'QuotaExceeded' | 'OperationNotAllowed'; at?: 'preflight' | 'provision'; limit?: number };
}

import { prng } from '../prng';

export type FaultDecision = { kind: 'throttle'; retryAfterSeconds: number } | { kind: 'serverError' } | undefined;

export class FaultInjector {
  private faults: ArmFaults = {};
  private random = prng(1);
  private counted = 0;

  constructor(faults: ArmFaults = {}) {
    this.set(faults);
  }

  set(faults: ArmFaults): void {
    validateFaults(faults);
    this.faults = structuredClone(faults);
    this.random = prng(faults.seed ?? 1);
    this.counted = 0;
  }

  get current(): Readonly<ArmFaults> {
    return this.faults;
  }

  /** Decide the fate of one incoming request (after authentication). */
  onRequest(isWrite: boolean): FaultDecision {
    const { throttle, serverErrors } = this.faults;
    if (serverErrors && (isWrite || serverErrors.scope === 'all')) {
      const position = this.counted++ % serverErrors.every;
      if (position < serverErrors.length) return { kind: 'serverError' };
    }
    if (throttle && (isWrite || throttle.scope === 'all') && this.random() < throttle.fraction) {
      return { kind: 'throttle', retryAfterSeconds: throttle.retryAfterSeconds ?? 1 };
    }
    return undefined;
  }

  provisionDelayMs(resourceType: string): number {
    const slow = this.faults.slowDeployment;
    if (!slow) return 0;
    const byType = Object.entries(slow.byType ?? {}).find(([t]) => t.toLowerCase() === resourceType.toLowerCase());
    return byType ? byType[1] : slow.perResourceMs;
  }

  failsToProvision(resourceType: string): boolean {
    return (this.faults.failingResourceTypes ?? []).some((t) => t.toLowerCase() === resourceType.toLowerCase());
  }

  quotaFor(resourceType: string, at: 'preflight' | 'provision'): NonNullable<ArmFaults['quota']> | undefined {
    const q = this.faults.quota;
    if (!q || (q.at ?? 'preflight') !== at) return undefined;
    if (q.resourceType && q.resourceType.toLowerCase() !== resourceType.toLowerCase()) return undefined;
    return q;
  }
}

function validateFaults(f: ArmFaults): void {
  const bad = (what: string) => {
    throw new Error(`ARM emulator faults: ${what}`);
  };
  if (f.throttle && !(f.throttle.fraction >= 0 && f.throttle.fraction <= 1)) bad(`throttle.fraction must be between 0 and 1, got ${f.throttle.fraction}`);
  if (f.throttle?.retryAfterSeconds !== undefined && !(Number.isInteger(f.throttle.retryAfterSeconds) && f.throttle.retryAfterSeconds >= 0)) {
    bad(`throttle.retryAfterSeconds must be a whole number of seconds >= 0, got ${f.throttle.retryAfterSeconds}`);
  }
  if (f.serverErrors && !(Number.isInteger(f.serverErrors.every) && f.serverErrors.every > 0 && f.serverErrors.length >= 0 && f.serverErrors.length <= f.serverErrors.every)) {
    bad(`serverErrors needs whole numbers with 0 <= length <= every and every > 0, got ${JSON.stringify(f.serverErrors)}`);
  }
  if (f.slowDeployment && !(f.slowDeployment.perResourceMs >= 0)) bad(`slowDeployment.perResourceMs must be >= 0, got ${f.slowDeployment.perResourceMs}`);
}
