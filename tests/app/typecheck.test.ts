import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * vitest strips types without checking them, so a type error would only show at `npm run build`
 * (the Azure package). This runs the project's own type check as part of `npm test` — the tests and their
 * helpers included (tsconfig.tests.json): they are code too.
 */
const root = path.resolve(__dirname, '..', '..');

// The same projects as `npm run typecheck`: the app, the tests and their helpers, the benchmarks, the dashboard's browser code.
const PROJECTS = ['tsconfig.json', 'tsconfig.tests.json', 'tests/bench/tsconfig.json', 'tab/client/tsconfig.json'];

describe('type check', () => {
  it('checks every project `npm run typecheck` checks', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect([...pkg.scripts.typecheck.matchAll(/tsc -p (\S+)/g)].map((m) => m[1]).sort()).toEqual([...PROJECTS].sort());
  });

  for (const project of PROJECTS) {
    it(`${project} compiles without errors`, () => {
      const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const run = spawnSync(process.execPath, [tsc, '-p', project, '--noEmit'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
      expect(run.stdout + run.stderr).toBe('');
      expect(run.status).toBe(0);
    });
  }
});
