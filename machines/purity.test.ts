/**
 * Machines are replayed inside orchestrations and must be pure: the same snapshot and event give
 * the same result every time. This scans the machine sources (not their tests) for the usual ways
 * non-determinism or I/O sneaks in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The package compiles to CommonJS, where import.meta is unavailable; vitest provides __dirname.
const here = __dirname;

const banned: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  { pattern: /\bDate\b/, why: 'clocks: time must arrive as an event' },
  { pattern: /\bperformance\s*\.\s*now\b/, why: 'clocks: time must arrive as an event' },
  { pattern: /\bMath\s*\.\s*random\b/, why: 'randomness breaks replay' },
  { pattern: /\bcrypto\b/, why: 'randomness breaks replay' },
  { pattern: /\bset(Timeout|Interval|Immediate)\b/, why: 'timers are startTimer commands' },
  { pattern: /\bprocess\s*\./, why: 'environment reads belong to activities' },
  { pattern: /\bfetch\s*\(/, why: 'I/O belongs to activities' },
  { pattern: /\bconsole\s*\./, why: 'logging is I/O; declare a command instead' },
  { pattern: /from\s+['"](node:)?(fs|fs\/promises|http|https|net|child_process|os|path|url)['"]/, why: 'I/O modules' },
  { pattern: /\bimport\s*\(/, why: 'dynamic imports make behaviour depend on the environment' },
];

/** Drop comments so a doc comment may say "no Date" without tripping the check. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

const sources = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('machines are pure', () => {
  it('finds the machine sources', () => {
    expect(sources).toEqual(expect.arrayContaining(['phaseMachine.ts', 'journeyMachine.ts', 'commands.ts']));
  });

  for (const file of sources) {
    it(`${file} uses no clock, randomness, timers, environment or I/O`, () => {
      const text = code(readFileSync(join(here, file), 'utf8'));
      const hits = banned
        .filter(({ pattern }) => pattern.test(text))
        .map(({ pattern, why }) => `${file}: ${pattern} (${why})`);
      expect(hits).toEqual([]);
    });
  }

  it('the check itself catches a clock read', () => {
    expect(banned.some(({ pattern }) => pattern.test(code('const now = Date.now(); // fine')))).toBe(true);
    expect(banned.some(({ pattern }) => pattern.test(code('/** no Date here */ const x = 1;')))).toBe(false);
  });
});
