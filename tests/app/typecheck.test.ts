import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * vitest strips types without checking them, so a type error would only show at `npm run build`
 * (the Azure package). This runs the project's own type check as part of `npm test`.
 */
const root = path.resolve(__dirname, '..', '..');

describe('type check', () => {
  for (const project of ['tsconfig.json', 'tab/client/tsconfig.json']) {
    it(`${project} compiles without errors`, () => {
      const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const run = spawnSync(process.execPath, [tsc, '-p', project, '--noEmit'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
      expect(run.stdout + run.stderr).toBe('');
      expect(run.status).toBe(0);
    });
  }
});
