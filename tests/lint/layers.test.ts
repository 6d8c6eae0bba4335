import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PURE_AZURE } from './pureModules';

/**
 * Layers that do not leak: each folder of the app may import only the folders beneath it. Shared ids,
 * messages and rules live in `contracts/` and `machines/`, which both orchestrations and activities import,
 * so neither reaches into the other; nothing the Azure package carries imports the local stack.
 * An entry may name one file of a folder (`azure/armErrors`) when only that file is beneath the importer.
 */
const root = path.resolve(__dirname, '..', '..');


/** Folder (or root file) -> the app folders (or single files) it may import. Packages are always allowed. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  machines: [],
  'config.ts': [],
  // The storage port (the app tables' interface, the embedded store, which adapter serves this process) and
  // the workshop's own tables on it (roster, progress by the machines' progress rule): beneath everything that
  // keeps state; it reads the app settings and the shared shapes and rules.
  storage: ['config', 'contracts', 'machines'],
  contracts: ['machines'],
  // Learner environments in Azure: Resource Manager clients and errors, names and tags, the cost guard.
  azure: ['config'],
  // A pack that is missing or broken is a permanent failure for the activity that loads it (packFiles.ts).
  scenarios: ['config', 'azure/armErrors', 'contracts', 'machines'],
  activities: ['config', 'storage', 'azure', 'contracts', 'machines', 'scenarios'],
  timers: ['config', 'storage', 'azure', 'activities', 'contracts', 'machines', 'scenarios'],
  orchestrations: ['activities', ...PURE_AZURE, 'contracts', 'machines'],
  http: ['config', 'storage', 'functionDefs', 'azure', 'activities', 'contracts', 'machines', 'scenarios', 'orchestrations'],
  bot: ['config', 'storage', 'functionDefs', 'azure', 'activities', 'contracts', 'machines', 'scenarios', 'orchestrations', 'http'],
  tab: ['config', 'storage', 'functionDefs', 'azure', 'activities', 'contracts', 'machines', 'scenarios', 'orchestrations', 'http', 'dashboardTypes'],
  'registry.ts': ['functionDefs', 'activities', 'timers', 'orchestrations', 'http', 'bot', 'tab'],
  'app.ts': ['registry'],
};

/**
 * What `activities/` holds besides activities: the helper that defines one, the catalogue that lists them with
 * their retry policies, and the policies. Everything else there is an activity (the last test below).
 */
// subscriptionPool.ts: where each learner's environment goes (its record, the usage reads, telling the instructor
// of a drained subscription) — the I/O the provisioning, validation and teardown activities share.
const ACTIVITY_PLUMBING = new Set(['activity.ts', 'index.ts', 'retryPolicies.ts', 'subscriptionPool.ts']);

function files(entry: string): string[] {
  const full = path.join(root, entry);
  if (!statSync(full).isDirectory()) return [entry];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.split(path.sep).includes('client'))
    .map((f) => path.join(entry, f));
}

/** Each relative import of `file` as a path from the root without extension (`azure/armErrors`, `config`). */
function importedModules(file: string): string[] {
  const source = readFileSync(path.join(root, file), 'utf8');
  const specs = [...source.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((spec) => path.relative(root, path.resolve(path.dirname(path.join(root, file)), spec)).split(path.sep).join('/').replace(/\.(js|ts|json)$/, ''));
}

/** The top-level app folder (or root file without `.ts`) each relative import of `file` lands in. */
function importedLayers(file: string): string[] {
  return importedModules(file).map((m) => m.split('/')[0]!);
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
      for (const module of importedModules(file)) {
        const target = module.split('/')[0]!;
        if (target === own || target === own.replace(/\.ts$/, '') || allowed.includes(target) || allowed.includes(module)) continue;
        out.push(`${file} imports ${module}, which ${own} may not (allowed: ${allowed.join(', ') || 'nothing outside itself'})`);
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

  it('activities/ holds activities: every file but the plumbing defines one, and the catalogue lists it', () => {
    const catalogue = readFileSync(path.join(root, 'activities', 'index.ts'), 'utf8');
    const notActivities = files('activities')
      .map((f) => path.basename(f))
      .filter((f) => !ACTIVITY_PLUMBING.has(f))
      .filter((f) => !/= defineActivity\(/.test(readFileSync(path.join(root, 'activities', f), 'utf8')) || !catalogue.includes(`from './${f.replace(/\.ts$/, '')}'`));
    expect(notActivities, 'give these a home that says what they are (azure/, storage/, scenarios/, timers/)').toEqual([]);
  });

  it('the check sees relative imports and the folders they land in', () => {
    expect(importedLayers(path.join('activities', 'signalInstance.ts'))).toContain('contracts');
    expect(importedLayers(path.join('http', 'position.ts'))).toEqual(expect.arrayContaining(['activities', 'machines', 'contracts']));
    expect(importedModules(path.join('orchestrations', 'phaseEffects.ts'))).toContain('azure/armErrors');

  });
});
