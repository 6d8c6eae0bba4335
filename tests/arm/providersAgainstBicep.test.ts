import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getClient, type Client } from '@azure-rest/core-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiVersionError, knownApiVersions, missingRequired, REQUIRED_PROPERTIES, requiresLocation } from '../../local/arm/providers';
import { BicepRpc, bicepForTests, type Diagnostic } from '../helpers/bicep';
import { startArmTestEnv, type ArmTestEnv } from './armTestEnv';

/**
 * The ARM emulator's resource types, api-versions and required properties (local/arm/providers.ts)
 * held to the Bicep compiler, whose types are generated from Azure's published REST specifications:
 * every version the emulator serves is one the compiler knows, what the compiler marks required the
 * emulator requires, and a version the compiler does not know the emulator refuses — on a REST call and
 * in a template, as ARM does (NoRegisteredProviderFound, nothing deployed).
 */
const compiler = bicepForTests();
const table = knownApiVersions();
/** A well-formed api-version no provider has. */
const UNKNOWN_VERSION = '2099-01-01';

interface Probe {
  type: string;
  version: string;
  /** What the compiler said about a declaration with a name and `properties: {}` only. */
  diagnostics: Diagnostic[];
}

/** One Bicep file declaring every (type, version) of the table, plus each type at UNKNOWN_VERSION; one compile. */
async function probeCompiler(rpc: BicepRpc, dir: string): Promise<Probe[]> {
  const probes: Array<{ type: string; version: string; from: number; to: number; diagnostics: Diagnostic[] }> = [];
  const lines: string[] = [];
  const declare = (type: string, version: string) => {
    const n = probes.length;
    // distinct names with one segment per type level, so the compiler checks nothing but the type
    const name = type.split('/').slice(1).map((_, i) => `p${n}x${i}`).join('/');
    const from = lines.length;
    lines.push(`resource r${n} '${type}@${version}' = {`, `  name: '${name}'`, '  properties: {}', '}');
    probes.push({ type, version, from, to: lines.length - 1, diagnostics: [] });
  };
  for (const [type, versions] of Object.entries(table)) for (const v of versions) declare(type, v);
  for (const type of Object.keys(table)) declare(type, UNKNOWN_VERSION);
  const file = path.join(dir, 'probe.bicep');
  writeFileSync(file, lines.join('\n') + '\n');
  const r = await rpc.compile(file);
  for (const d of r.diagnostics) probes.find((p) => d.range.start.line >= p.from && d.range.start.line <= p.to)?.diagnostics.push(d);
  return probes;
}

/** Required names from BCP035 ("missing the following required properties: "a", "b"") and BCP078 (a discriminator). */
function compilerRequired(p: Probe): string[] {
  const out: string[] = [];
  for (const d of p.diagnostics) {
    const onProperties = /"object" declaration/.test(d.message) || d.code === 'BCP078';
    const names =
      d.code === 'BCP035' ? [...(/required properties: (.*?)\.( If|$)/.exec(d.message)?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]) : d.code === 'BCP078' ? [/The property "([^"]+)"/.exec(d.message)![1]] : [];
    out.push(...names.map((n) => (onProperties ? `properties.${n}` : n)));
  }
  return out.sort();
}

const hasCode = (p: Probe, code: string) => p.diagnostics.some((d) => d.code === code);

describe.skipIf(!compiler.exe)('ARM emulator ⇄ the Bicep compiler: types, api-versions, required properties', () => {
  let rpc: BicepRpc;
  let dir: string;
  let probes: Probe[];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'bicep-probe-'));
    rpc = BicepRpc.start(compiler.exe!);
    probes = await probeCompiler(rpc, dir);
  });
  afterAll(async () => {
    await rpc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the compiler has types for every api-version the emulator serves', () => {
    const unknown = probes.filter((p) => p.version !== UNKNOWN_VERSION && hasCode(p, 'BCP081'));
    expect(unknown.map((p) => `${p.type}@${p.version} is served by the emulator (knownApiVersions) but the compiler does not know it`)).toEqual([]);
  });

  it('the probe can fail: the compiler flags every type at an api-version nobody has', () => {
    expect(probes.filter((p) => p.version === UNKNOWN_VERSION && !hasCode(p, 'BCP081')).map((p) => `${p.type}@${UNKNOWN_VERSION}`)).toEqual([]);
  });

  it("the emulator's required properties are the compiler's, for every type and api-version it serves", () => {
    const problems: string[] = [];
    for (const p of probes.filter((x) => x.version !== UNKNOWN_VERSION)) {
      const compilerSays = compilerRequired(p);
      const emulatorSays = [...(REQUIRED_PROPERTIES[p.type] ?? [])].sort();
      const withoutLocation = compilerSays.filter((n) => n !== 'location');
      if (JSON.stringify(withoutLocation) !== JSON.stringify(emulatorSays)) problems.push(`${p.type}@${p.version}: the compiler requires [${withoutLocation.join(', ')}], REQUIRED_PROPERTIES says [${emulatorSays.join(', ')}]`);
      // location has its own rule in the emulator (top-level types and tracked children); it may be stricter
      // than the compiler, whose types leave location optional where ARM's common definitions do
      if (compilerSays.includes('location') && !requiresLocation(p.type, p.type.split('/').length === 2)) problems.push(`${p.type}@${p.version}: the compiler requires a location, the emulator does not`);
    }
    expect(problems).toEqual([]);
  });

  it('the emulator refuses, as ARM does, every api-version the compiler does not know and any type it does not serve', () => {
    for (const p of probes.filter((x) => x.version === UNKNOWN_VERSION)) {
      const e = apiVersionError(p.type, p.version);
      expect(e?.code, p.type).toBe('NoRegisteredProviderFound');
      expect(e?.message).toContain(`The supported api-versions are '${table[p.type].join(', ')}'`);
    }
    expect(apiVersionError('Microsoft.Storage/storageAcounts', '2023-05-01')?.code).toBe('InvalidResourceType');
    for (const [type, versions] of Object.entries(table)) for (const v of versions) expect(apiVersionError(type, v), `${type}@${v}`).toBeUndefined();
  });

  it('a body without what the compiler marks required is missing exactly those properties', () => {
    for (const [type, required] of Object.entries(REQUIRED_PROPERTIES)) expect(missingRequired(type, { name: 'x', properties: {} }), type).toEqual(required);
    expect(missingRequired('Microsoft.Storage/storageAccounts', { KIND: 'StorageV2', sku: { name: 'Standard_LRS' } })).toEqual([]);
  });
});

describe('the emulator refuses an unknown api-version and a missing required property over REST and in templates', () => {
  let env: ArmTestEnv;
  let raw: Client;
  const rgPath = () => `/subscriptions/${env.arm.subscriptionId}/resourcegroups/rg-versions`;
  beforeAll(async () => {
    env = await startArmTestEnv();
    raw = getClient(env.arm.url, env.arm.credential, { tlsOptions: { ca: env.arm.caCertPem } });
    const rg = await raw.pathUnchecked(rgPath()).put({ queryParameters: { 'api-version': '2025-04-01' }, body: { location: 'eastus' } });
    expect(Number(rg.status)).toBeLessThan(300);
  });
  afterAll(() => env?.stop());

  const storage = (name: string, apiVersion: string, body: unknown) =>
    raw.pathUnchecked(`${rgPath()}/providers/Microsoft.Storage/storageAccounts/${name}`).put({ queryParameters: { 'api-version': apiVersion }, body });
  const goodBody = { location: 'eastus', kind: 'StorageV2', sku: { name: 'Standard_LRS' } };

  it('REST: a PUT at an unknown api-version is 400 NoRegisteredProviderFound; at a known one it succeeds', async () => {
    const bad = await storage('stversions1', UNKNOWN_VERSION, goodBody);
    expect(Number(bad.status)).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'NoRegisteredProviderFound', message: expect.stringContaining(`API version '${UNKNOWN_VERSION}' for type 'storageAccounts'`) } });
    const get = await raw.pathUnchecked(`${rgPath()}/providers/Microsoft.Storage/storageAccounts/stversions1`).get({ queryParameters: { 'api-version': UNKNOWN_VERSION } });
    expect(get.body).toMatchObject({ error: { code: 'NoRegisteredProviderFound' } });
    const good = await storage('stversions1', '2023-05-01', goodBody);
    expect(Number(good.status)).toBe(201);
  });

  it('REST: a PUT without a required property is 400 naming it', async () => {
    const r = await storage('stversions2', '2023-05-01', { location: 'eastus', kind: 'StorageV2' });
    expect(Number(r.status)).toBe(400);
    expect(r.body).toMatchObject({ error: { code: 'InvalidRequestContent', message: expect.stringContaining("required property 'sku'") } });
  });

  it('template: a resource at an unknown api-version fails the deployment at preflight and nothing is created', async () => {
    const template = {
      $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
      contentVersion: '1.0.0.0',
      resources: [
        { type: 'Microsoft.ManagedIdentity/userAssignedIdentities', apiVersion: '2023-01-31', name: 'id-versions', location: 'eastus' },
        { type: 'Microsoft.Storage/storageAccounts', apiVersion: UNKNOWN_VERSION, name: 'stversions3', location: 'eastus', kind: 'StorageV2', sku: { name: 'Standard_LRS' } },
      ],
    };
    const r = await raw.pathUnchecked(`${rgPath()}/providers/Microsoft.Resources/deployments/versions`).put({ queryParameters: { 'api-version': '2025-04-01' }, body: { properties: { mode: 'Incremental', template } } });
    expect(Number(r.status)).toBe(400);
    expect(JSON.stringify(r.body)).toContain('NoRegisteredProviderFound');
    const identity = await raw.pathUnchecked(`${rgPath()}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-versions`).get({ queryParameters: { 'api-version': '2023-01-31' } });
    expect(Number(identity.status)).toBe(404);
  });
});
