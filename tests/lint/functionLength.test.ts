import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { functionSpans } from './functionScan';

/**
 * Product code reads like the Durable samples: short functions, named for their step. A function over MAX_LINES
 * needs its reason in the comment above it, containing "long because". Functions are measured on the syntax
 * tree (functionScan.ts), arrow functions and callbacks included; an outer function counts the closures in it.
 */
const root = path.resolve(__dirname, '..', '..');
const MAX_LINES = 80;
/** Every folder and root file of the app, the CLI and the local stack (the tests are not product code). */
const ENTRIES = [
  'orchestrations',
  'machines',
  'activities',
  'timers',
  'contracts',
  'azure',
  'storage',
  'scenarios',
  'http',
  'bot',
  'tab',
  'cli',
  'local',
  'tools',
  'app.ts',
  'registry.ts',
  'config.ts',
  'functionDefs.ts',
  'build.ts',
];

/**
 * Functions another change is rewriting this session, by `file:function`; each goes when that change lands.
 * Exempt here rather than split twice (a split now would collide with the rewrite).
 */
const NOT_YET = new Map<string, string>([]);

function sourcesOf(entry: string): string[] {
  const full = path.join(root, entry);
  if (!statSync(full).isDirectory()) return [entry];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts') && !f.split(path.sep).includes('node_modules'))
    .map((f) => path.join(entry, f).split(path.sep).join('/'));
}

function longFunctions(file: string, text: string, exempt: ReadonlyMap<string, string> = NOT_YET): string[] {
  const lines = text.split('\n');
  return functionSpans(text, file)
    .filter((f) => f.lines > MAX_LINES && !exempt.has(`${file}:${f.name}`))
    .filter((f) => !/long because/i.test(lines.slice(Math.max(0, f.line - 13), f.line - 1).join('\n')))
    .map((f) => `${file}:${f.line} ${f.name} is ${f.lines} lines`);
}

describe('function length', () => {
  for (const entry of ENTRIES) {
    it(`${entry} has no function over ${MAX_LINES} lines without a reason`, () => {
      const files = sourcesOf(entry);
      expect(files.length).toBeGreaterThan(0);
      expect(files.flatMap((f) => longFunctions(f, readFileSync(path.join(root, f), 'utf8')))).toEqual([]);
    });
  }

  it('every exemption names a function that is still long (a split one leaves the list)', () => {
    const stale = [...NOT_YET.keys()].filter((key) => {
      const [file, name] = key.split(':') as [string, string];
      return longFunctions(file, readFileSync(path.join(root, file), 'utf8'), new Map()).every((hit) => !hit.includes(` ${name} is `));
    });
    expect(stale).toEqual([]);
  });

  it('the scan measures functions, sees through braces in strings, and honours a stated reason', () => {
    const body = (n: number) => Array.from({ length: n }, (_, k) => `  const x${k} = ${k};`).join('\n');
    expect(longFunctions('a.ts', `export function big() {\n${body(90)}\n}\n`)).toHaveLength(1);
    expect(longFunctions('a.ts', `export const big = async (a: number): Promise<void> => {\n${body(90)}\n};\n`)).toEqual(['a.ts:1 big is 92 lines']);
    expect(longFunctions('a.ts', `class A {\n  private async big(): Promise<void> {\n${body(90)}\n  }\n}\n`)).toEqual(['a.ts:2 big is 92 lines']);
    expect(longFunctions('a.ts', `/** Long because it is a table. */\nexport function big() {\n${body(90)}\n}\n`)).toEqual([]);
    expect(longFunctions('a.ts', `export function small() {\n${body(20)}\n}\n`)).toEqual([]);
    // A brace in a string or regex does not stretch a short function over the next ones (the old textual scan did).
    expect(longFunctions('a.ts', `export function small() {\n  const s = '{';\n  return /\\{/.test(s);\n}\n${body(90)}\n`)).toEqual([]);
  });
});
