import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { APP_SETTING_NAMES, SETTING_PLACEMENT } from '../../config';
import type { Expr } from '../../local/arm/expressions';
import { ROOT } from '../../tools/bicep/bicep';
import { bicepForTests } from '../helpers/bicep';
import { compileInfra, expr, INFRA, lit, placed, type Placed, type Template } from './infraTemplate';

/**
 * The acceptance test of the app settings contract: config.ts's SETTING_PLACEMENT says which settings
 * the Bicep sets on the Function App (`where: 'azure'`) and which it must not (`where: 'local'`).
 * Read from the ARM JSON the Bicep compiler emits for infra/main.bicep: the Function App's
 * `Microsoft.Web/sites/config` 'appsettings' resource, whose properties are a union of the module's
 * `…Settings` variables and inline objects — the names Azure will receive, comments and spelling aside.
 */
const compiler = bicepForTests();
const azureSettings = APP_SETTING_NAMES.filter((n) => SETTING_PLACEMENT[n].where === 'azure');
const localSettings = APP_SETTING_NAMES.filter((n) => SETTING_PLACEMENT[n].where === 'local');
const schema = new Set<string>(APP_SETTING_NAMES);

interface Setting {
  key: string;
  /** `var <name>` or `inline` */
  origin: string;
  /** Only present behind an if(…). */
  conditional: boolean;
}

/** Every key of an app-settings value: union(…), createObject(…), if(…), variables('…') and object literals. */
export function settingsOf(value: unknown, t: Template, origin = 'inline', conditional = false, usedVars = new Map<string, boolean[]>()): { settings: Setting[]; usedVars: Map<string, boolean[]> } {
  const settings: Setting[] = [];
  const visit = (v: unknown, from: string, cond: boolean): void => {
    const e = expr(v);
    if (e) return visitExpr(e, from, cond);
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const key of Object.keys(v)) settings.push({ key, origin: from, conditional: cond });
    else throw new Error(`app settings: cannot read setting names from ${JSON.stringify(v)}`);
  };
  const visitExpr = (e: Expr, from: string, cond: boolean): void => {
    if (e.kind !== 'call') throw new Error(`app settings: cannot read setting names from a ${e.kind} expression`);
    const name = e.name.toLowerCase();
    if (name === 'union') e.args.forEach((a) => visitExpr(a, from, cond));
    else if (name === 'createobject') for (let i = 0; i < e.args.length; i += 2) settings.push({ key: String(lit(e.args[i])), origin: from, conditional: cond });
    else if (name === 'if') {
      visitExpr(e.args[1], from, true);
      visitExpr(e.args[2], from, true);
    } else if (name === 'variables') {
      const v = String(lit(e.args[0]));
      usedVars.set(v, [...(usedVars.get(v) ?? []), cond]);
      visit(t.variables?.[v], `var ${v}`, cond);
    } else throw new Error(`app settings: cannot read setting names from ${e.name}(…)`);
  };
  visit(value, origin, conditional);
  return { settings, usedVars };
}

describe.skipIf(!compiler.exe)('app settings: config.ts SETTING_PLACEMENT ⇄ infra/ (compiled ARM JSON)', () => {
  let main: Template;
  let site: Placed;
  let settings: Setting[];
  let usedVars: Map<string, boolean[]>;
  let settingsVars: string[];

  beforeAll(async () => {
    main = (await compileInfra(compiler.exe!)).template;
    const sites = placed(main).filter((p) => p.resource.type === 'Microsoft.Web/sites');
    if (sites.length !== 1) throw new Error(`expected exactly one Microsoft.Web/sites in infra/, found ${sites.length}`);
    site = sites[0];
    const configs = site.template.resources.filter((r) => r.type === 'Microsoft.Web/sites/config' && /'appsettings'\)\]$|\/appsettings$/.test(r.name));
    if (configs.length !== 1) throw new Error(`module ${site.modules.join(' > ')}: expected one Microsoft.Web/sites/config named appsettings, found ${configs.length}`);
    ({ settings, usedVars } = settingsOf(configs[0].properties, site.template));
    settingsVars = Object.keys(site.template.variables ?? {}).filter((v) => /Settings$/.test(v));
  });

  it('the Function App module builds its app settings from var …Settings objects', () => {
    expect(settingsVars.length, `module ${site.modules.join(' > ')}: no var <x>Settings`).toBeGreaterThan(0);
  });

  it('every `where: azure` setting of config.ts is set by the Bicep', () => {
    const inBicep = new Set(settings.map((s) => s.key));
    const missing = azureSettings.filter((n) => !inBicep.has(n));
    expect(missing.map((n) => `${n} is placed in Azure by config.ts (SETTING_PLACEMENT, read by the ${(SETTING_PLACEMENT[n] as { readBy: string }).readBy}) but the appsettings resource of module ${site.modules.join(' > ')} does not set it`)).toEqual([]);
  });

  it('every app setting the Bicep sets is a setting of config.ts', () => {
    const unknown = settings.filter((s) => !schema.has(s.key));
    expect(unknown.map((s) => `${s.key} (${s.origin} in module ${site.modules.join(' > ')}) is not a setting in config.ts's schema: add it there (with its placement) or remove it`)).toEqual([]);
  });

  it('no setting is set twice', () => {
    const by = new Map<string, string[]>();
    for (const s of settings) by.set(s.key, [...(by.get(s.key) ?? []), s.origin]);
    // the bot's two credential groups are alternatives (if(…)), so a name in both is set once
    const twice = [...by].filter(([key, origins]) => origins.length > 1 && !settings.filter((s) => s.key === key).every((s) => s.conditional));
    expect(twice.map(([k, origins]) => `${k} is set in ${origins.join(' and ')}`)).toEqual([]);
  });

  it('every var …Settings feeds the appsettings resource', () => {
    expect(settingsVars.filter((v) => !usedVars.has(v)).map((v) => `var ${v} (module ${site.modules.join(' > ')}) is not used by the appsettings resource`)).toEqual([]);
  });

  it('no `where: local` setting appears anywhere in infra/ (compiled template, parameters file)', () => {
    const hits: string[] = [];
    const texts: Array<[string, string]> = [['infra/main.bicep (compiled)', JSON.stringify(main)]];
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(path.join(dir, f)).isDirectory() ? walk(path.join(dir, f)) : [path.join(dir, f)]));
    for (const file of walk(INFRA).filter((p) => !p.endsWith('.bicep'))) texts.push([path.relative(ROOT, file), readFileSync(file, 'utf8')]);
    for (const [file, text] of texts)
      for (const name of localSettings) {
        if (new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`).test(text)) hits.push(`${name} in ${file} (local only: ${(SETTING_PLACEMENT[name] as { why: string }).why})`);
      }
    expect(hits).toEqual([]);
  });

  it('Flex Consumption: FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not set', () => {
    expect(settings.map((s) => s.key).filter((k) => k === 'FUNCTIONS_WORKER_RUNTIME' || k === 'FUNCTIONS_EXTENSION_VERSION')).toEqual([]);
  });

  it('settings the host reads conditionally are only behind an if(…) (an empty value is not "unset" to the host)', () => {
    // The Durable Task Scheduler overrides must not be present at all for the Azure Storage backend.
    const hostOverrides = settings.filter((s) => s.key.startsWith('AzureFunctionsJobHost__'));
    expect(hostOverrides.map((s) => s.key)).toContain('AzureFunctionsJobHost__extensions__durableTask__storageProvider__type');
    expect(hostOverrides.filter((s) => !s.conditional).map((s) => `${s.key} (${s.origin}) is set unconditionally`)).toEqual([]);
  });
});

describe('the settings reader', () => {
  const t = { $schema: '', parameters: {}, resources: [], variables: { aSettings: { A: 1 }, bSettings: "[createObject('B', 1)]" } } as Template;

  it('reads union, createObject, variables and if, and marks what is behind an if', () => {
    const r = settingsOf("[union(createObject('X', 1, 'Y', 2), variables('aSettings'), if(true(), variables('bSettings'), createObject()))]", t);
    expect(r.settings).toEqual([
      { key: 'X', origin: 'inline', conditional: false },
      { key: 'Y', origin: 'inline', conditional: false },
      { key: 'A', origin: 'var aSettings', conditional: false },
      { key: 'B', origin: 'var bSettings', conditional: true },
    ]);
    expect([...r.usedVars.keys()]).toEqual(['aSettings', 'bSettings']);
  });

  it('refuses a shape it cannot read instead of finding no settings', () => {
    expect(() => settingsOf("[parameters('settings')]", t)).toThrow(/cannot read setting names from parameters/);
  });
});
