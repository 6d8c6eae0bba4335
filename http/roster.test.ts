import { describe, expect, it } from 'vitest';
import { MAX_LEARNERS_PER_RUN } from './cohortLimit';
import { parseRoster, rosterFromObjects, RosterError } from './roster';

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof RosterError) return err.message.split('\n');
    throw err;
  }
  throw new Error('the roster was accepted');
}

describe('CSV quoting', () => {
  it('an unbalanced quote is reported where it opens, with row and column, not as an empty email', () => {
    const csv = 'name,email\nAda Lovelace,ada@example.com\n"Grace Hopper,grace@example.com\nAlan Turing,alan@example.com\n';
    const found = problems(() => parseRoster(csv, 'roster.csv'));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^roster\.csv row 3, column name: the quoted value opened here is never closed/);
    expect(found.join('\n')).not.toMatch(/column email: empty/);
  });

  it('an unbalanced quote in a later column names that column', () => {
    const found = problems(() => parseRoster('name,email\nAda Lovelace,"ada@example.com\n', 'roster.csv'));
    expect(found).toEqual([expect.stringMatching(/^roster\.csv row 2, column email: the quoted value opened here is never closed/)]);
  });

  it('balanced quotes with commas and doubled quotes still parse', () => {
    const learners = parseRoster('name,email\n"Lovelace, Ada ""the Countess""",ada@example.com\n"Grace Hopper","grace@example.com"\n', 'roster.csv');
    expect(learners.map((l) => l.name)).toEqual(['Lovelace, Ada "the Countess"', 'Grace Hopper']);
  });
});

describe('control characters', () => {
  it('a name with a control character is refused with row and column, in CSV and in JSON', () => {
    expect(problems(() => parseRoster('name,email\nAda\u0007 Lovelace,ada@example.com\n', 'roster.csv'))).toEqual([
      expect.stringMatching(/^roster\.csv row 2, column name: contains a control character \(U\+0007\) at position 4/),
    ]);
    expect(problems(() => rosterFromObjects([{ name: 'Ada', email: 'ada@example.com' }, { name: 'Grace\u001b[31m', email: 'grace@example.com' }], 'roster.json'))).toEqual([
      expect.stringMatching(/^roster\.json row 2, column name: contains a control character \(U\+001B\)/),
    ]);
  });

  it('a quoted name with a line break or a right-to-left override is refused too', () => {
    expect(problems(() => parseRoster('name,email\n"Grace\nHopper",grace@example.com\n', 'roster.csv'))).toEqual([expect.stringMatching(/row 2, column name: contains a control character \(U\+000A\)/)]);
    expect(problems(() => parseRoster('name,email\nEve \u202Egnp.exe,eve@example.com\n', 'roster.csv'))).toEqual([expect.stringMatching(/row 2, column name: contains a control character \(U\+202E\)/)]);
  });

  it('names in any script, with accents and apostrophes, are kept', () => {
    const names = ['Zoë O’Brien', 'Łukasz Żółć', '山田 太郎', 'Nguyễn Văn An', 'José-María Núñez'];
    const learners = rosterFromObjects(names.map((name, i) => ({ name, email: `l${i}@example.com` })));
    expect(learners.map((l) => l.name)).toEqual(names);
  });
});

describe('roster size', () => {
  it(`takes ${MAX_LEARNERS_PER_RUN} learners and refuses one more, naming the first row past the limit`, () => {
    const rows = (n: number) => ['name,email', ...Array.from({ length: n }, (_, i) => `Learner ${i},learner${i}@example.com`)].join('\n');
    expect(parseRoster(rows(MAX_LEARNERS_PER_RUN), 'roster.csv')).toHaveLength(MAX_LEARNERS_PER_RUN);
    expect(problems(() => parseRoster(rows(MAX_LEARNERS_PER_RUN + 1), 'roster.csv'))).toEqual([
      `roster.csv row ${MAX_LEARNERS_PER_RUN + 2}: a run takes at most ${MAX_LEARNERS_PER_RUN} learners (the largest cohort tested and benchmarked); split the cohort into several runs`,
    ]);
  });
});
