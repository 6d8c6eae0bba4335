/**
 * Where a learner environment goes when a run names several learner subscriptions (and regions): the
 * placement rule, pure — no I/O, no clock (`now` is passed in) — so it is unit-tested with seeded cases and
 * every caller reaches the same verdict from the same facts. `subscriptionPool.ts` gathers the facts (quota
 * usage through the ARM usage APIs or configured limits, the write budget ARM reports, the run's record of
 * failures and throttling) and records what happened.
 *
 * The rule, in order:
 * 1. A subscription that keeps failing is drained: `drainAfterFailures` deployments in a row failed there (for
 *    any reason but throttling, which is ARM asking us to slow down, not the subscription being broken). It
 *    takes no new environment; the reason goes to the instructor.
 * 2. A place must fit one more environment under every quota (usage + need <= limit) — never over quota, so
 *    no deployment fails for one — and have the ARM write budget for one (ARM's
 *    `x-ms-ratelimit-remaining-subscription-writes`, when known).
 * 3. Among those: one not throttled within `throttleWindowMs` before one that was; then the most headroom
 *    (how many more environments fit: least loaded first, as Skillable's subscription pools do); then the
 *    fewest environments placed by this run; then the order the run listed them in.
 */

export interface QuotaHeadroom {
  /** The quota's name (`StorageAccounts`) or resource type (`Microsoft.DocumentDB/databaseAccounts`). */
  quota: string;
  limit: number;
  used: number;
  /** Units one environment takes. */
  need: number;
  /** Read from the provider's usage API, or a limit the run configured (usage counted from the resources list). */
  source: 'usage-api' | 'configured';
}

/** What the run remembers of one subscription (the SubscriptionHealth table). */
export interface SubscriptionHealth {
  /** Deployments in a row that failed here (not counting throttling); a success resets it. */
  consecutiveFailures: number;
  lastError?: string;
  /** ISO time of the last 429 from this subscription. */
  lastThrottledAt?: string;
  /** Environments this run placed here. */
  placed: number;
}

export interface PlacementCandidate {
  subscriptionId: string;
  location: string;
  quotas: QuotaHeadroom[];
  /** ARM's remaining write budget for the subscription at the last response; undefined = unknown. */
  writesRemaining?: number;
  health: SubscriptionHealth;
  /** Set when its quotas could not be read (no access, the region unknown, …): not eligible, and why. */
  unavailable?: string;
}

export interface PlacementPolicy {
  /** ISO now (the caller's clock). */
  now: string;
  /** Failures in a row that drain a subscription (default 3). */
  drainAfterFailures?: number;
  /** A 429 within this long counts as recent throttling (default 5 minutes). */
  throttleWindowMs?: number;
  /** ARM writes one environment costs (group + deployment + its resources). */
  writesPerEnvironment?: number;
}

export interface RankedPlace {
  subscriptionId: string;
  location: string;
  /** More environments that fit under every quota (Infinity when no quota applies). */
  fits: number;
  eligible: boolean;
  throttledRecently: boolean;
  /** Why it is (not) eligible, in words. */
  why: string;
}

export interface PlacementDecision {
  /** The place, or undefined when none is eligible (see `refusal`). */
  choice?: RankedPlace;
  /** Every candidate, best first. */
  ranked: RankedPlace[];
  /** Subscriptions drained by rule 1, with the reason for the instructor. */
  drained: Array<{ subscriptionId: string; reason: string }>;
  /** When nothing fits: why, naming each place. */
  refusal?: string;
}

export const DEFAULT_DRAIN_AFTER_FAILURES = 3;
export const DEFAULT_THROTTLE_WINDOW_MS = 5 * 60_000;

/** How many more environments fit under every quota. */
export function environmentsThatFit(quotas: QuotaHeadroom[]): number {
  let fits = Number.POSITIVE_INFINITY;
  for (const q of quotas) if (q.need > 0) fits = Math.min(fits, Math.max(0, Math.floor((q.limit - q.used) / q.need)));
  return fits;
}

export function drainReason(health: SubscriptionHealth, drainAfter = DEFAULT_DRAIN_AFTER_FAILURES): string | undefined {
  if (health.consecutiveFailures < drainAfter) return undefined;
  return `${health.consecutiveFailures} deployments in a row failed there${health.lastError ? ` (last: ${health.lastError.slice(0, 300)})` : ''}; no new environments go there until it is fixed and the run is told so`;
}

export function placeEnvironment(candidates: PlacementCandidate[], policy: PlacementPolicy): PlacementDecision {
  const drainAfter = policy.drainAfterFailures ?? DEFAULT_DRAIN_AFTER_FAILURES;
  const window = policy.throttleWindowMs ?? DEFAULT_THROTTLE_WINDOW_MS;
  const now = Date.parse(policy.now);
  const drained = new Map<string, string>();
  const rated = candidates.map((c, order) => {
    const fits = environmentsThatFit(c.quotas);
    const throttledRecently = c.health.lastThrottledAt !== undefined && now - Date.parse(c.health.lastThrottledAt) < window;
    const drain = drainReason(c.health, drainAfter);
    if (drain) drained.set(c.subscriptionId, drain);
    const full = c.quotas.filter((q) => q.need > 0 && q.used + q.need > q.limit);
    const lowWrites = c.writesRemaining !== undefined && policy.writesPerEnvironment !== undefined && c.writesRemaining < policy.writesPerEnvironment;
    const why = drain
      ? `drained: ${drain}`
      : c.unavailable
        ? `unavailable: ${c.unavailable}`
        : full.length > 0
        ? `no headroom: ${full.map((q) => `${q.quota} ${q.used}/${q.limit} (needs ${q.need})`).join(', ')}`
        : lowWrites
          ? `ARM write budget low: ${c.writesRemaining} writes left, an environment takes ${policy.writesPerEnvironment}`
          : `${Number.isFinite(fits) ? `${fits} more environment(s) fit` : 'no quota applies'}${throttledRecently ? '; throttled recently' : ''}`;
    const place: RankedPlace = { subscriptionId: c.subscriptionId, location: c.location, fits, eligible: !drain && !c.unavailable && full.length === 0 && fits >= 1 && !lowWrites, throttledRecently, why };
    return { place, order, placed: c.health.placed };
  });
  rated.sort(
    (a, b) =>
      Number(b.place.eligible) - Number(a.place.eligible) ||
      Number(a.place.throttledRecently) - Number(b.place.throttledRecently) ||
      compareFits(b.place.fits, a.place.fits) ||
      a.placed - b.placed ||
      a.order - b.order,
  );
  const ranked = rated.map((r) => r.place);
  const choice = ranked[0]?.eligible ? ranked[0] : undefined;
  return {
    ...(choice ? { choice } : {}),
    ranked,
    drained: [...drained].map(([subscriptionId, reason]) => ({ subscriptionId, reason })),
    ...(choice ? {} : { refusal: refusalText(ranked) }),
  };
}

function compareFits(a: number, b: number): number {
  if (a === b) return 0;
  return a > b ? 1 : -1;
}

function refusalText(ranked: RankedPlace[]): string {
  if (ranked.length === 0) return 'The run names no learner subscription to place the environment in.';
  return `No learner subscription can take another environment: ${ranked.map((p) => `${p.subscriptionId} in ${p.location}: ${p.why}`).join('; ')}. Free some (tear down finished environments), raise a quota, or add a subscription to the run.`;
}
