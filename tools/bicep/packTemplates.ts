/**
 * The scenario packs' environment templates are written in Bicep
 * (`scenarios/packs/<pack>/environment/template.bicep`) and the ARM JSON next to them
 * (`template.json`, what the pack's `environment.template` names and what the ARM emulator and
 * activities/provisionEnvironment.ts deploy) is the compiler's output, committed byte for byte.
 *
 * `npm run bicep:templates` regenerates every template.json; it refuses to write one whose Bicep has
 * any diagnostic (errors, type warnings such as BCP035/036/037/081/088, or linter warnings not
 * switched off in scenarios/packs/bicepconfig.json). tests/arm/packTemplates.test.ts fails when a
 * committed template.json differs from what the compiler makes of its template.bicep.
 */
import { readdirSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BicepRpc, ensureBicep, formatDiagnostic, ROOT, type CompileResult } from './bicep';

export const PACKS_DIR = path.join(ROOT, 'scenarios', 'packs');

export interface PackTemplate {
  pack: string;
  bicep: string;
  json: string;
}

/** Every pack folder with an environment/template.bicep. */
export function packTemplates(): PackTemplate[] {
  return readdirSync(PACKS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(PACKS_DIR, d.name, 'environment', 'template.bicep')))
    .map((d) => ({ pack: d.name, bicep: path.join(PACKS_DIR, d.name, 'environment', 'template.bicep'), json: path.join(PACKS_DIR, d.name, 'environment', 'template.json') }))
    .sort((a, b) => a.pack.localeCompare(b.pack));
}

/** Diagnostics that block a template (every level but Off). */
export const blocking = (r: CompileResult) => r.diagnostics.filter((d) => d.level !== 'Off');

async function main(): Promise<void> {
  const rpc = BicepRpc.start(ensureBicep((l) => console.error(l)));
  let failed = false;
  try {
    for (const t of packTemplates()) {
      const r = await rpc.compile(t.bicep);
      const problems = blocking(r);
      if (problems.length || !r.contents) {
        failed = true;
        console.error(`${path.relative(ROOT, t.bicep)}: not written, ${problems.length} diagnostic(s):\n  ${problems.map(formatDiagnostic).join('\n  ')}`);
        continue;
      }
      writeFileSync(t.json, r.contents);
      console.error(`${path.relative(ROOT, t.json)} written`);
    }
  } finally {
    await rpc.close();
  }
  process.exit(failed ? 1 : 0);
}

if (require.main === module) void main();
