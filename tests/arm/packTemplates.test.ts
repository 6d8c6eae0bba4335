import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../../tools/bicep/bicep';
import { blocking, packTemplates, PACKS_DIR } from '../../tools/bicep/packTemplates';
import { packIdsIn } from '../../scenarios/loadPack';
import { BicepRpc, bicepForTests, lines, type CompileResult } from '../helpers/bicep';

/**
 * The four learner environments type-check against Azure's own resource types: each pack's
 * template.bicep compiles with the real Bicep compiler with no diagnostic at all (no BCP error, no
 * BCP035/036/037/081/088 type warning, no linter warning), and the template.json the pack names — what
 * the ARM emulator and provisionEnvironment deploy — is exactly what the compiler made of it.
 */
const compiler = bicepForTests();
const templates = packTemplates();

describe.skipIf(!compiler.exe)('scenario pack templates: the Bicep compiler', () => {
  let rpc: BicepRpc;
  const results = new Map<string, CompileResult>();
  beforeAll(async () => {
    rpc = BicepRpc.start(compiler.exe!);
    for (const t of templates) results.set(t.pack, await rpc.compile(t.bicep));
  });
  afterAll(() => rpc?.close());

  it('every pack has a Bicep template, and the pack file deploys its compiled JSON', () => {
    const packs = packIdsIn(PACKS_DIR);
    expect(templates.map((t) => t.pack)).toEqual(packs);
    for (const p of packs) {
      const yaml = parseYaml(readFileSync(path.join(PACKS_DIR, `${p}.yaml`), 'utf8')) as { environment: { template: string } };
      expect(path.join(PACKS_DIR, p, yaml.environment.template), `${p}.yaml environment.template`).toBe(templates.find((t) => t.pack === p)!.json);
    }
  });

  for (const t of templates) {
    it(`${t.pack}: template.bicep compiles with no error, type warning or linter warning`, () => {
      const r = results.get(t.pack)!;
      expect(lines(blocking(r))).toEqual([]);
      expect(r.success).toBe(true);
    });

    it(`${t.pack}: the committed template.json is the compiler's output for template.bicep (regenerate with npm run bicep:templates)`, () => {
      const r = results.get(t.pack)!;
      const committed = readFileSync(t.json, 'utf8');
      // a one-line message instead of a 3,000-line diff: which file, and how to fix it
      expect(committed === r.contents, `${path.relative(ROOT, t.json)} differs from \`bicep build ${path.relative(ROOT, t.bicep)}\`: run npm run bicep:templates and commit both`).toBe(true);
    });
  }
});
