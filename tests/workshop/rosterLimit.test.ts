import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { learnersThatFit, MAX_LEARNERS_PER_RUN, sizingRoster } from '../../http/cohortLimit';
import { listPacks } from '../../scenarios/loadPack';
import { planFromPack } from '../../scenarios/plan';
import { runWorkshopCli } from './workshopCli';

/**
 * One roster limit: the number the roster parser, the CLI and the README use is what the cohort's state
 * actually holds with the shipped packs (recomputed here), so none of the three can drift from it.
 */
const root = path.resolve(__dirname, '../..');

describe('the roster limit', () => {
  it('is what fits the cohort orchestration’s state with every shipped pack (the tightest one)', async () => {
    const { packs } = await listPacks(path.join(root, 'scenarios', 'packs'));
    expect(packs.length).toBeGreaterThanOrEqual(4);
    const fits = packs.map((p) => ({ pack: p.pack.id, fit: learnersThatFit(sizingRoster(1000), planFromPack(p.pack, {})) }));
    expect(Math.min(...fits.map((f) => f.fit)), JSON.stringify(fits)).toBe(MAX_LEARNERS_PER_RUN);
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
