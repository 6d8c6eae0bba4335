import { test } from 'vitest';
import { listPacks, formatProblem } from './loadPack.js';
test('smoke', async () => {
  const r = await listPacks('scenarios/packs');
  console.log(r.packs.map((p) => p.pack.id), r.failures.flatMap((f) => f.problems.map(formatProblem)).join('\n'));
});
