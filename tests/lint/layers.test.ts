import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Layers that do not leak: each folder of the app may import only the folders beneath it. Shared ids,
 * messages and rules live in `contracts/` and `machines/`, which both orchestrations and activities import,
 * so neither reaches into the other; nothing the Azure package carries imports the local stack.
 */
const root = path.resolve(__dirname, '..', '..');

/** Folder (or root file) -> the app folders it may import. Packages are always allowed. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  machines: [],
  // The storage port (the app tables' interface and the embedded store): beneath everything that keeps state.
  storage: [],
  contracts: ['machines'],
  scenarios: ['contracts', 'machines'],
  activities: ['config', 'storage', 'contracts', 'machines', 'scenarios'],
  timers: ['config', 'storage', 'activities', 'contracts', 'machines', 'scenarios'],
  orchestrations: ['activities', 'contracts', 'machines'],
  http: ['config', 'storage', 'functionDefs', 'activities', 'contracts', 'machines', 'scenarios', 'orchestrations'],
  bot: ['config', 'storage', 'functionDefs', 'activities', 'contracts', 'machines', 'scenarios', 'orchestrations', 'http'],
  tab: ['config', 'storage', 'functionDefs', 'activities', 'contracts', 'machines', 'scenarios', 'orchestrations', 'http', 'dashboardTypes'],
  'registry.ts': ['functionDefs', 'activities', 'timers', 'orchestrations', 'http', 'bot', 'tab'],
  'app.ts': ['registry'],
};

function files(entry: string): string[] {
  const full = path.join(root, entry);
  if (!statSync(full).isDirectory()) return [entry];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.split(path.sep).includes('client'))
    .map((f) => path.join(entry, f));
}

/** The top-level app folder (or root file without `.ts`) each relative import of `file` lands in. */
function importedLayers(file: string): string[] {
  const source = readFileSync(path.join(root, file), 'utf8');
  const specs = [...source.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map((m) => m[1]);
  return specs.map((spec) => path.relative(root, path.resolve(path.dirname(path.join(root, file)), spec)).split(path.sep)[0].replace(/\.(js|ts|json)$/, ''));
}

function layerOf(file: string): string {
  return file.includes(path.sep) ? file.split(path.sep)[0] : file;
}

function violations(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    for (const file of files(entry)) {
      const own = layerOf(file);
      const allowed = MAY_IMPORT[own]!;
      for (const target of importedLayers(file)) {
        if (target === own || target === own.replace(/\.ts$/, '') || allowed.includes(target)) continue;
        out.push(`${file} imports from ${target}/, which ${own} may not (allowed: ${allowed.join(', ') || 'nothing outside itself'})`);
      }
    }
  }
  return out;
}

describe('layers', () => {
  for (const entry of Object.keys(MAY_IMPORT)) {
    it(`${entry} imports only ${MAY_IMPORT[entry]!.join(', ') || 'itself'}`, () => {
      expect(files(entry).length).toBeGreaterThan(0);
      expect(violations([entry])).toEqual([]);
    });
  }

  it('the check sees relative imports and the folders they land in', () => {
    expect(importedLayers(path.join('activities', 'signalInstance.ts'))).toContain('contracts');
    expect(importedLayers(path.join('http', 'position.ts'))).toEqual(expect.arrayContaining(['activities', 'machines', 'contracts']));
  });
});
