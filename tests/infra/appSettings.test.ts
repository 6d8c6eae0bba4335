import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_SETTING_NAMES, SETTING_PLACEMENT } from '../../config';
import { allBicep, bodyStart, declarations, identifiers, INFRA, lex, listFiles, objectKeys, propertyValue, resourceType, ROOT, type BicepFile, type Declaration } from './bicep';

/**
 * The acceptance test of the app settings contract: config.ts's SETTING_PLACEMENT says which settings
 * the Bicep sets on the Function App (`where: 'azure'`) and which it must not (`where: 'local'`).
 * The Function App module builds its app settings from `var <x>Settings = { KEY: value, … }` object
 * literals; their keys are read here (comments dropped, strings as single tokens) and held to config.ts
 * both ways.
 */
const bicep = allBicep();
const azureSettings = APP_SETTING_NAMES.filter((n) => SETTING_PLACEMENT[n].where === 'azure');
const localSettings = APP_SETTING_NAMES.filter((n) => SETTING_PLACEMENT[n].where === 'local');
const schema = new Set<string>(APP_SETTING_NAMES);

/** The one module that declares the Function App (Microsoft.Web/sites). */
function functionAppModule(files: BicepFile[]): BicepFile {
  const found = files.filter((f) => f.decls.some((d) => d.keyword === 'resource' && resourceType(f, d) === 'Microsoft.Web/sites'));
  if (found.length !== 1) throw new Error(`expected exactly one infra/ file declaring a Microsoft.Web/sites resource, found ${found.map((f) => f.rel).join(', ') || 'none'}`);
  return found[0];
}

/** `var <x>Settings = { … }` declarations whose value is an object literal. */
function settingsVars(f: BicepFile): Array<{ decl: Declaration; keys: Array<{ key: string; line: number }> }> {
  return f.decls
    .filter((d) => d.keyword === 'var' && /Settings$/.test(d.name) && f.tokens[d.start + 2]?.text === '=' && f.tokens[d.start + 3]?.text === '{')
    .map((decl) => ({ decl, keys: objectKeys(f.tokens, decl.start + 3) }));
}

/** Every key the module's settings vars define, with where. */
function bicepSettings(f: BicepFile): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const v of settingsVars(f)) for (const k of v.keys) keys.set(k.key, [...(keys.get(k.key) ?? []), `${f.rel}:${k.line} (var ${v.decl.name})`]);
  return keys;
}

/** Vars reachable from the `Microsoft.Web/sites/config` 'appsettings' resource's body, through var references. */
function varsFeedingAppSettings(f: BicepFile): Set<string> {
  const configs = f.decls.filter((d) => {
    if (d.keyword !== 'resource' || resourceType(f, d) !== 'Microsoft.Web/sites/config') return false;
    const at = propertyValue(f.tokens, bodyStart(f.tokens, d), 'name');
    return at >= 0 && f.tokens[at].kind === 'string' && f.tokens[at].text === 'appsettings';
  });
  if (configs.length !== 1) throw new Error(`${f.rel}: expected one Microsoft.Web/sites/config resource named 'appsettings', found ${configs.length}`);
  const body = bodyStart(f.tokens, configs[0]);
  const propsAt = propertyValue(f.tokens, body, 'properties');
  if (propsAt < 0) throw new Error(`${f.rel}: the appsettings resource has no properties`);
  const vars = new Map(f.decls.filter((d) => d.keyword === 'var').map((d) => [d.name, d]));
  // the properties value runs to the end of its line (or bracket)
  let end = propsAt;
  for (let depth = 0; end < f.tokens.length; end++) {
    const t = f.tokens[end];
    if (t.kind === 'punct' && '([{'.includes(t.text)) depth++;
    if (t.kind === 'punct' && ')]}'.includes(t.text)) depth--;
    if (depth < 0 || (depth === 0 && t.kind === 'newline')) break;
  }
  const reached = new Set<string>();
  const queue = [...identifiers(f.tokens, propsAt, end)];
  while (queue.length) {
    const id = queue.pop()!;
    const v = vars.get(id);
    if (!v || reached.has(id)) continue;
    reached.add(id);
    queue.push(...identifiers(f.tokens, v.start + 3, v.end));
  }
  return reached;
}

describe('app settings: config.ts SETTING_PLACEMENT ⇄ infra/ (Bicep)', () => {
  const module = functionAppModule(bicep);
  const inBicep = bicepSettings(module);

  it('the Function App module builds its app settings from var …Settings object literals', () => {
    expect(settingsVars(module).length, `${module.rel}: no var <x>Settings = { … } object literal`).toBeGreaterThan(0);
  });

  it('every `where: azure` setting of config.ts is set by the Bicep', () => {
    const missing = azureSettings.filter((n) => !inBicep.has(n));
    expect(
      missing.map((n) => `${n} is placed in Azure by config.ts (SETTING_PLACEMENT, read by the ${(SETTING_PLACEMENT[n] as { readBy: string }).readBy}) but no var …Settings in ${module.rel} sets it`),
    ).toEqual([]);
  });

  it('every app setting the Bicep sets is a setting of config.ts', () => {
    const unknown = [...inBicep].filter(([k]) => !schema.has(k));
    expect(unknown.map(([k, where]) => `${k} (${where.join(', ')}) is not a setting in config.ts's schema: add it there (with its placement) or remove it`)).toEqual([]);
  });

  it('no setting is set twice', () => {
    const twice = [...inBicep].filter(([, where]) => where.length > 1);
    expect(twice.map(([k, where]) => `${k} is set in ${where.join(' and ')}`)).toEqual([]);
  });

  it('every var …Settings feeds the appsettings resource', () => {
    const fed = varsFeedingAppSettings(module);
    const unused = settingsVars(module).filter((v) => !fed.has(v.decl.name));
    expect(unused.map((v) => `${module.rel}:${v.decl.line}: var ${v.decl.name} is not used by the Microsoft.Web/sites/config 'appsettings' resource`)).toEqual([]);
  });

  it('no `where: local` setting appears anywhere in infra/ (comments aside)', () => {
    const hits: string[] = [];
    for (const f of bicep) {
      const scan = (tokens: ReturnType<typeof lex>) => {
        for (const t of tokens) {
          // an identifier (an unquoted key), a quoted key or value that is exactly the name, or a name inside an
          // interpolated string's expressions
          if ((t.kind === 'ident' || t.kind === 'string') && localSettings.includes(t.text as never)) hits.push(`${t.text} at ${f.rel}:${t.line} (${SETTING_PLACEMENT[t.text as keyof typeof SETTING_PLACEMENT].where}: ${(SETTING_PLACEMENT[t.text as keyof typeof SETTING_PLACEMENT] as { why: string }).why})`);
          if (t.kind === 'string') scan(t.inner ?? []);
        }
      };
      scan(f.tokens);
    }
    for (const file of listFiles(INFRA).filter((p) => !p.endsWith('.bicep'))) {
      const text = readFileSync(file, 'utf8');
      for (const name of localSettings) {
        const re = new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`);
        if (re.test(text)) hits.push(`${name} in ${path.relative(ROOT, file)} (local only: ${(SETTING_PLACEMENT[name] as { why: string }).why})`);
      }
    }
    expect(hits).toEqual([]);
  });

  it('Flex Consumption: FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not set', () => {
    const found = [...inBicep.keys()].filter((k) => k === 'FUNCTIONS_WORKER_RUNTIME' || k === 'FUNCTIONS_EXTENSION_VERSION');
    expect(found).toEqual([]);
  });

  it('settings the host reads conditionally are in a conditional group (an empty value is not "unset" to the host)', () => {
    // The Durable Task Scheduler overrides must not be present at all for the Azure Storage backend.
    const dts = settingsVars(module).find((v) => v.keys.some((k) => k.key === 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type'));
    expect(dts, 'the storageProvider type override is in no var …Settings').toBeDefined();
    const others = settingsVars(module).filter((v) => v.decl.name !== dts!.decl.name);
    expect(others.flatMap((v) => v.keys.map((k) => k.key)).filter((k) => k.startsWith('AzureFunctionsJobHost__'))).toEqual([]);
    // …and that var is only used behind a condition (cond ? var : {})
    const uses = module.tokens.flatMap((t, k) => (t.kind === 'ident' && t.text === dts!.decl.name && k !== dts!.decl.start + 1 ? [k] : []));
    expect(uses.length).toBeGreaterThan(0);
    for (const k of uses) expect(module.tokens[k - 1].text, `${module.rel}:${module.tokens[k].line}: ${dts!.decl.name} used unconditionally`).toBe('?');
  });
});

describe('the extractor itself', () => {
  it('reads quoted and unquoted keys, ignores comments, nested objects and strings that look like keys', () => {
    const src = [
      'var demoSettings = {',
      '  PLAIN: 1 // TRAILING: comment',
      "  'QUOTED_KEY': 'value: not a key /* not a comment */'",
      '  /* BLOCK: comment */',
      '  NESTED: {',
      '    INNER: 2',
      '  }',
      "  TERNARY: cond ? 'a' : 'b'",
      "  INTERP: '${x}:${y}'",
      "  MULTI: '''",
      'LOOKS: like a key',
      "'''",
      '}',
    ].join('\n');
    const tokens = lex(src);
    const d = declarations(tokens)[0];
    expect(objectKeys(tokens, bodyStart(tokens, d)).map((k) => k.key)).toEqual(['PLAIN', 'QUOTED_KEY', 'NESTED', 'TERNARY', 'INTERP', 'MULTI']);
  });

  it("keeps '*/2 * * * * *' (a schedule) a string, not a comment", () => {
    const tokens = lex("var s = '*/2 * * * * *' // c\nvar t = 1");
    expect(tokens.filter((t) => t.kind === 'string').map((t) => t.text)).toEqual(['*/2 * * * * *']);
    expect(declarations(tokens).map((d) => d.name)).toEqual(['s', 't']);
  });
});
