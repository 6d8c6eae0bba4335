import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packIdsIn } from '../../scenarios/loadPack';

/**
 * What scenarios/README.md promises for a new scenario: the tests that iterate over packs pick it up from
 * scenarios/packs by themselves; the one thing each pack needs by hand is its end-to-end rehearsal, and
 * this fails until it is there.
 */
describe('every shipped scenario', () => {
  const ids = packIdsIn();

  it('ships at least the four catalogue scenarios', () => {
    expect(ids).toEqual(expect.arrayContaining(['cross-region', 'hybrid', 'lakehouse', 'ml-scoring']));
  });

  for (const id of ids) {
    it(`${id} has its rehearsal test (tests/workshop/rehearsal.${id}.test.ts)`, () => {
      expect(existsSync(path.join(__dirname, `rehearsal.${id}.test.ts`)), `add tests/workshop/rehearsal.${id}.test.ts (copy rehearsal.cross-region.test.ts)`).toBe(true);
    });
  }
});
