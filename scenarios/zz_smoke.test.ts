import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'vitest';
import { safeParsePack, formatProblem } from './loadPack.js';
test('smoke', () => {
  for (const f of readdirSync('scenarios/fixtures/invalid')) {
    const r = safeParsePack(readFileSync(`scenarios/fixtures/invalid/${f}`, 'utf8'), f);
    console.log(r.ok ? `${f} OK` : r.problems.map(formatProblem).join('\n'));
  }
});
