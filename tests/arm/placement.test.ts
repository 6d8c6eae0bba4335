import { describe, expect, it } from 'vitest';
import { environmentsThatFit, placeEnvironment, type PlacementCandidate } from '../../azure/placement';
import { prng } from '../../local/prng';

/**
 * The placement rule (activities/placement.ts), pure: hand-made cases for each clause, then seeded random
 * pools checked against the rule's guarantees (never over quota, never drained, least loaded first).
 */
const NOW = '2026-12-03T12:00:00.000Z';
const sub = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const healthy = { consecutiveFailures: 0, placed: 0 };
const storage = (used: number, limit = 250, need = 1) => ({ quota: 'StorageAccounts', used, limit, need, source: 'usage-api' as const });

describe('placement rule', () => {
  it('puts the environment where the most environments still fit (least loaded)', () => {
    const d = placeEnvironment(
      [
        { subscriptionId: sub(1), location: 'westeurope', quotas: [storage(240)], health: healthy },
        { subscriptionId: sub(2), location: 'westeurope', quotas: [storage(100)], health: healthy },
        { subscriptionId: sub(3), location: 'westeurope', quotas: [storage(200)], health: healthy },
      ],
      { now: NOW },
    );
    expect(d.choice?.subscriptionId).toBe(sub(2));
    expect(d.ranked.map((r) => r.subscriptionId)).toEqual([sub(2), sub(3), sub(1)]);
    expect(d.choice?.fits).toBe(150);
  });

  it('never places over a quota: a subscription at its limit is skipped, and with none left the refusal names each', () => {
    const full: PlacementCandidate = { subscriptionId: sub(1), location: 'westeurope', quotas: [storage(3, 3, 2)], health: healthy };
    const d = placeEnvironment([full, { subscriptionId: sub(2), location: 'westeurope', quotas: [storage(1, 3, 2)], health: healthy }], { now: NOW });
    expect(d.choice?.subscriptionId).toBe(sub(2));
    const none = placeEnvironment([full], { now: NOW });
    expect(none.choice).toBeUndefined();
    expect(none.refusal).toMatch(new RegExp(`${sub(1)} in westeurope: no headroom: StorageAccounts 3/3 \\(needs 2\\)`));
  });

  it('drains a subscription after three failures in a row and says why; throttling alone does not drain', () => {
    const d = placeEnvironment(
      [
        { subscriptionId: sub(1), location: 'westeurope', quotas: [storage(0)], health: { consecutiveFailures: 3, lastError: 'InternalServerError: boom', placed: 5 } },
        { subscriptionId: sub(2), location: 'westeurope', quotas: [storage(200)], health: { consecutiveFailures: 2, placed: 9, lastThrottledAt: '2026-12-03T10:00:00.000Z' } },
      ],
      { now: NOW },
    );
    expect(d.choice?.subscriptionId).toBe(sub(2));
    expect(d.drained).toEqual([{ subscriptionId: sub(1), reason: expect.stringMatching(/^3 deployments in a row failed there \(last: InternalServerError: boom\)/) }]);
  });

  it('prefers a subscription not throttled recently, even with less headroom', () => {
    const d = placeEnvironment(
      [
        { subscriptionId: sub(1), location: 'westeurope', quotas: [storage(0)], health: { ...healthy, lastThrottledAt: '2026-12-03T11:58:00.000Z' } },
        { subscriptionId: sub(2), location: 'westeurope', quotas: [storage(240)], health: healthy },
      ],
      { now: NOW },
    );
    expect(d.choice?.subscriptionId).toBe(sub(2));
    expect(d.ranked[1]).toMatchObject({ subscriptionId: sub(1), eligible: true, throttledRecently: true });
  });

  it('skips a subscription whose ARM write budget cannot cover one environment', () => {
    const d = placeEnvironment(
      [
        { subscriptionId: sub(1), location: 'westeurope', quotas: [storage(0)], writesRemaining: 5, health: healthy },
        { subscriptionId: sub(2), location: 'westeurope', quotas: [storage(200)], writesRemaining: 1100, health: healthy },
      ],
      { now: NOW, writesPerEnvironment: 12 },
    );
    expect(d.choice?.subscriptionId).toBe(sub(2));
    expect(d.ranked[1].why).toMatch(/write budget low: 5 writes left, an environment takes 12/);
  });

  it('breaks ties by fewer environments placed, then by the order the run listed them', () => {
    const c = (n: number, placed: number): PlacementCandidate => ({ subscriptionId: sub(n), location: 'westeurope', quotas: [storage(10)], health: { consecutiveFailures: 0, placed } });
    expect(placeEnvironment([c(1, 4), c(2, 2), c(3, 2)], { now: NOW }).choice?.subscriptionId).toBe(sub(2));
  });

  for (const seed of [1, 7, 42, 1234, 99991]) {
    it(`seeded pool ${seed}: the choice is eligible, within every quota, and no eligible place has more headroom`, () => {
      const rnd = prng(seed);
      for (let round = 0; round < 200; round++) {
        const n = 1 + Math.floor(rnd() * 6);
        const candidates: PlacementCandidate[] = Array.from({ length: n }, (_, i) => {
          const limit = Math.floor(rnd() * 8);
          const need = 1 + Math.floor(rnd() * 2);
          return {
            subscriptionId: sub(i + 1),
            location: rnd() < 0.5 ? 'westeurope' : 'northeurope',
            quotas: [storage(Math.floor(rnd() * (limit + 1)), limit, need), { quota: 'DatabaseAccounts', used: Math.floor(rnd() * 5), limit: 5, need: 1, source: 'configured' as const }],
            health: { consecutiveFailures: Math.floor(rnd() * 4), placed: Math.floor(rnd() * 5), ...(rnd() < 0.3 ? { lastThrottledAt: '2026-12-03T11:59:00.000Z' } : {}) },
          };
        });
        const d = placeEnvironment(candidates, { now: NOW });
        const eligible = candidates.filter((c) => c.health.consecutiveFailures < 3 && c.quotas.every((q) => q.used + q.need <= q.limit));
        if (eligible.length === 0) {
          expect(d.choice).toBeUndefined();
          expect(d.refusal).toBeDefined();
          continue;
        }
        const chosen = candidates.find((c) => c.subscriptionId === d.choice?.subscriptionId)!;
        expect(eligible).toContain(chosen);
        for (const q of chosen.quotas) expect(q.used + q.need).toBeLessThanOrEqual(q.limit);
        const calm = eligible.filter((c) => !c.health.lastThrottledAt);
        const pool = calm.length > 0 ? calm : eligible;
        expect(pool).toContain(chosen);
        expect(environmentsThatFit(chosen.quotas)).toBe(Math.max(...pool.map((c) => environmentsThatFit(c.quotas))));
        expect(d.drained.map((x) => x.subscriptionId).sort()).toEqual(candidates.filter((c) => c.health.consecutiveFailures >= 3).map((c) => c.subscriptionId).sort());
      }
    });
  }
});
