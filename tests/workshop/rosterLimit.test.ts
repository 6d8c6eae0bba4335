import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { learnersThatFit, MAX_LEARNERS_PER_RUN, sizingRoster, stateCeiling } from '../../http/cohortLimit';
import { listPacks } from '../../scenarios/loadPack';
import { planFromPack } from '../../scenarios/plan';
import { runWorkshopCli } from './workshopCli';

/**
 * One roster limit: the number the roster parser, the CLI and the README use is what the cohort's state
 * actually holds with the shipped packs (recomputed here), so none of the three can drift from it.
 */
const root = path.resolve(__dirname, '../..');

describe('the roster limit', () => {
  it('is at least 1,000, and the cohort orchestration’s state holds it in its worst case with every shipped pack, even for the longest ids the roster takes', async () => {
    expect(MAX_LEARNERS_PER_RUN).toBeGreaterThanOrEqual(1_000);
    const { packs } = await listPacks(path.join(root, 'scenarios', 'packs'));
    expect(packs.length).toBeGreaterThanOrEqual(4);
    // The longest learner id the roster parser takes is 40 characters.
    const longest = Array.from({ length: MAX_LEARNERS_PER_RUN }, (_, i) => ({ learnerId: `x${String(i).padStart(38, '0')}y`, name: 'n'.repeat(100), email: `${'e'.repeat(60)}@example.com` }));
    for (const p of packs) {
      const plan = planFromPack(p.pack, {});
      expect(learnersThatFit(longest, plan), p.pack.id).toBe(MAX_LEARNERS_PER_RUN);
      // …with room: the ceiling for ordinary ids is well above the limit.
      expect(stateCeiling(plan), p.pack.id).toBeGreaterThan(2 * MAX_LEARNERS_PER_RUN);
    }
    // The worst case does grow with the line (so the check is not vacuous): far more learners than the limit do not fit.
    expect(learnersThatFit(sizingRoster(20_000), planFromPack(packs[0]!.pack, {}))).toBeLessThan(20_000);
  });

  it('is the number the README states', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const stated = [...readme.matchAll(/at most (\d[\d,]*) learners/g)].map((m) => Number(m[1].replace(/,/g, '')));
    expect(stated.length).toBeGreaterThan(0);
    expect(new Set(stated)).toEqual(new Set([MAX_LEARNERS_PER_RUN]));
  });

  it('is the CLI’s bound for workshop rehearse --learners', async () => {
    // Refused while the options are parsed, before any connection: the URL is never used.
    const run = (n: number) => runWorkshopCli(['--url', 'http://127.0.0.1:9', 'rehearse', '--scenario', 'drill', '--learners', String(n)]);
    const over = await run(MAX_LEARNERS_PER_RUN + 1);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain(`--learners must be a whole number >= 1 and <= ${MAX_LEARNERS_PER_RUN}`);
  });
});
