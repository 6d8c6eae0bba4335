import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PURE_AZURE } from './pureModules';

/**
 * Orchestrations are replayed and machines are interpreted inside them, so both must be
 * deterministic: the same history gives the same decisions. This scans their sources (not their
 * tests) for the usual ways a clock, randomness, timers, the environment or I/O sneak in.
 * Orchestrations take time from `context.df.currentUtcDateTime`; machines get it as events.
 */
const root = path.resolve(__dirname, '..', '..');

interface Rule {
  pattern: RegExp;
  why: string;
}
const common: Rule[] = [
  { pattern: /\bDate\s*\.\s*now\b/, why: 'wall clock: use context.df.currentUtcDateTime' },
  { pattern: /\bnew\s+Date\s*\(\s*\)/, why: 'wall clock: use context.df.currentUtcDateTime' },
  { pattern: /\bperformance\s*\.\s*now\b/, why: 'wall clock' },
  { pattern: /\bMath\s*\.\s*random\b/, why: 'randomness breaks replay: use context.df.newGuid()' },
  { pattern: /\b(randomUUID|randomBytes|getRandomValues)\b/, why: 'randomness breaks replay: use context.df.newGuid()' },
  { pattern: /\bset(Timeout|Interval|Immediate)\b/, why: 'timers: use context.df.createTimer (machines: a startTimer command)' },
  { pattern: /\bprocess\s*\./, why: 'environment reads belong to activities' },
  { pattern: /\bfetch\s*\(/, why: 'I/O belongs to activities' },
  { pattern: /\bconsole\s*\./, why: 'logging is I/O; use context.log (replay-aware) or an activity' },
  { pattern: /from\s+['"](node:)?(fs|fs\/promises|http|https|net|dgram|child_process|os|crypto|worker_threads)['"]/, why: 'I/O modules' },
  { pattern: /from\s+['"](@azure\/(data-tables|storage-[a-z]+|arm-[a-z-]+|identity)|undici|axios)['"]/, why: 'I/O clients belong to activities' },
  { pattern: /\bimport\s*\(/, why: 'dynamic imports make behaviour depend on the environment' },
  { pattern: /\brequire\s*\(/, why: 'dynamic requires make behaviour depend on the environment' },
];
const machinesOnly: Rule[] = [{ pattern: /\bDate\b/, why: 'machines never read or make time: it arrives as an event' }];

/** Drop comments so a doc comment may say "no Date.now()" without tripping the check. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f));
}

function violations(file: string, rules: Rule[]): string[] {
  const text = code(readFileSync(path.join(root, file), 'utf8'));
  return rules.filter(({ pattern }) => pattern.test(text)).map(({ pattern, why }) => `${file}: ${pattern} (${why})`);
}

describe('determinism lint', () => {
  it('finds the orchestration and machine sources', () => {
    expect(sources('orchestrations').length).toBeGreaterThan(0);
    expect(sources('machines').length).toBeGreaterThan(0);
  });

  for (const file of sources('orchestrations')) {
    it(`${file} uses no clock, randomness, timers, environment or I/O`, () => {
      expect(violations(file, common)).toEqual([]);
    });
  }
  // Orchestrations import these (tests/lint/layers.test.ts), so they are held to the same rules.
  for (const file of PURE_AZURE.map((m) => `${m}.ts`)) {
    it(`${file} uses no clock, randomness, timers, environment or I/O`, () => {
      expect(violations(file, common)).toEqual([]);
    });
  }
  for (const file of sources('machines')) {
    it(`${file} uses no clock, randomness, timers, environment or I/O`, () => {
      expect(violations(file, [...common, ...machinesOnly])).toEqual([]);
    });
  }

  it('the rules catch what they are for and ignore comments', () => {
    const hits = (src: string, rules = common) => rules.filter(({ pattern }) => pattern.test(code(src))).length;
    expect(hits('const t = Date.now();')).toBeGreaterThan(0);
    expect(hits('const t = new Date();')).toBeGreaterThan(0);
    expect(hits('const id = crypto.randomUUID();')).toBeGreaterThan(0);
    expect(hits("import { readFileSync } from 'node:fs';")).toBeGreaterThan(0);
    expect(hits("import { TableClient } from '@azure/data-tables';")).toBeGreaterThan(0);
    expect(hits('if (process.env.X) {}')).toBeGreaterThan(0);
    expect(hits('setTimeout(() => 1, 5);')).toBeGreaterThan(0);
    expect(hits('const due = new Date(context.df.currentUtcDateTime.getTime() + 60_000);')).toBe(0);
    expect(hits('/** never Date.now() here */ const x = 1; // nor Math.random()')).toBe(0);
    expect(hits('const d: Date = x;', machinesOnly)).toBeGreaterThan(0);
  });
});
