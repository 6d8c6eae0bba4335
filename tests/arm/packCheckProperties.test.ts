import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { templateApiVersions, type ArmTemplate } from '../../scenarios/packFiles';
import { loadPackFile, packIdsIn } from '../../scenarios/loadPack';
import { PACKS_DIR } from '../../tools/bicep/packTemplates';
import { knownApiVersions } from '../../local/arm/providers';
import { BicepRpc, bicepForTests, lines, type Diagnostic } from '../helpers/bicep';

/**
 * Every propertyEquals / propertyMatches check of the shipped packs reads a property path that exists
 * in its resource type, per the Bicep compiler (Azure's REST specifications): a generated Bicep file
 * reads each path from an `existing` resource of the check's type, at the api-version runValidation
 * reads it with, and the compiler must not answer "property does not exist" (BCP053 / BCP083) or
 * "unknown type or version" (BCP081). A misspelt path would otherwise be a check no learner can pass.
 */
const compiler = bicepForTests();
const PACKS = packIdsIn(PACKS_DIR);
const NOT_FOUND = new Set(['BCP053', 'BCP083', 'BCP081', 'BCP052', 'BCP070']);

interface PathCheck {
  where: string;
  resourceType: string;
  apiVersion: string;
  property: string;
}

/** The version runValidation reads the type at: the template's (or its parent's), else the provider's newest stable one. */
function readVersion(type: string, templateVersions: Map<string, string>): string {
  const segments = type.split('/');
  for (let n = segments.length; n >= 2; n--) {
    const v = templateVersions.get(segments.slice(0, n).join('/').toLowerCase());
    if (v) return v;
  }
  const versions = Object.entries(knownApiVersions()).find(([t]) => t.toLowerCase() === type.toLowerCase())?.[1] ?? [];
  return versions.find((v) => !v.includes('preview')) ?? versions[0] ?? 'unknown';
}

/** `properties.ipsecPolicies[0].ikeEncryption` → `.properties.ipsecPolicies[0].ikeEncryption` on the symbol. */
const access = (property: string) => property.replace(/^|\.(?=[A-Za-z_])/g, '.').replace(/^\.\./, '.');

async function pathChecks(): Promise<PathCheck[]> {
  const out: PathCheck[] = [];
  for (const id of PACKS) {
    const { pack, file, templatePath } = await loadPackFile(path.join(PACKS_DIR, `${id}.yaml`));
    const versions = templateApiVersions(JSON.parse(readFileSync(templatePath, 'utf8')) as ArmTemplate);
    for (const c of pack.environment.checks)
      if (c.kind === 'propertyEquals' || c.kind === 'propertyMatches')
        out.push({ where: `${path.basename(file)} check ${c.id}`, resourceType: c.resourceType, apiVersion: readVersion(c.resourceType, versions), property: c.property });
  }
  return out;
}

/** One Bicep file, one `existing` resource and one read per check; diagnostics mapped back to the checks. */
async function compileReads(rpc: BicepRpc, dir: string, checks: PathCheck[]): Promise<Array<PathCheck & { diagnostics: Diagnostic[] }>> {
  const src: string[] = [];
  const at: number[] = [];
  checks.forEach((c, n) => {
    const name = c.resourceType.split('/').slice(1).map((_, i) => `c${n}x${i}`).join('/');
    src.push(`resource r${n} '${c.resourceType}@${c.apiVersion}' existing = {`, `  name: '${name}'`, '}');
    at[src.length] = n;
    src.push(`output o${n} object = { v: r${n}${access(c.property)} }`);
  });
  const file = path.join(dir, 'checks.bicep');
  writeFileSync(file, src.join('\n') + '\n');
  const r = await rpc.compile(file);
  const withDiagnostics = checks.map((c) => ({ ...c, diagnostics: [] as Diagnostic[] }));
  for (const d of r.diagnostics) {
    const n = at[d.range.start.line] ?? Math.floor(d.range.start.line / 4);
    withDiagnostics[n]?.diagnostics.push(d);
  }
  return withDiagnostics;
}

describe.skipIf(!compiler.exe)('scenario pack checks read properties that exist (Bicep compiler)', () => {
  let rpc: BicepRpc;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bicep-checks-'));
    rpc = BicepRpc.start(compiler.exe!);
  });
  afterAll(async () => {
    await rpc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every propertyEquals / propertyMatches path exists in its resource type at the version it is read with', async () => {
    const checks = await pathChecks();
    expect(checks.length).toBeGreaterThan(40);
    const results = await compileReads(rpc, dir, checks);
    const problems = results.flatMap((c) => c.diagnostics.filter((d) => NOT_FOUND.has(d.code)).map((d) => `${c.where}: ${c.resourceType}@${c.apiVersion} ${c.property}: ${d.code} ${d.message}`));
    expect(problems).toEqual([]);
  });

  it('the probe can fail: a misspelt path, a misspelt nested path and an unknown version are each reported', async () => {
    const bad: PathCheck[] = [
      { where: 'misspelt', resourceType: 'Microsoft.Storage/storageAccounts', apiVersion: '2023-05-01', property: 'properties.accessTeir' },
      { where: 'unknown version', resourceType: 'Microsoft.Storage/storageAccounts', apiVersion: '2099-01-01', property: 'properties.accessTier' },
      { where: 'misspelt nested', resourceType: 'Microsoft.Sql/servers', apiVersion: '2023-08-01', property: 'properties.administrators.azureADOnlyAuthenticaton' },
      { where: 'fine', resourceType: 'Microsoft.Network/connections', apiVersion: '2024-05-01', property: 'properties.ipsecPolicies[0].ikeEncryption' },
    ];
    const results = await compileReads(rpc, dir, bad);
    const flagged = results.map((c) => `${c.where}: ${c.diagnostics.some((d) => NOT_FOUND.has(d.code))}`);
    expect(flagged, lines(results.flatMap((c) => c.diagnostics)).join('\n')).toEqual(['misspelt: true', 'unknown version: true', 'misspelt nested: true', 'fine: false']);
  });
});
