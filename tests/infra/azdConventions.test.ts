import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { allBicep, bodyStart, INFRA, matching, propertyValue, resourceType, ROOT, type BicepFile, type Declaration, type Token } from './bicep';

/**
 * azd template conventions for infra/ and azure.yaml, checked without a Bicep compiler or azd:
 * what `azd provision` / `azd deploy` read (parameters, outputs, tags, the service) and the
 * least-privilege shape of the role assignments.
 */
const bicep = allBicep();
const main = bicep.find((f) => f.rel === path.join('infra', 'main.bicep'))!;
const paramsFile = JSON.parse(readFileSync(path.join(INFRA, 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value?: unknown }> };
const azureYaml = parseYaml(readFileSync(path.join(ROOT, 'azure.yaml'), 'utf8')) as {
  name: string;
  infra?: { provider?: string; path?: string; module?: string };
  services: Record<string, { project: string; language: string; host: string; dist?: string; remoteBuild?: boolean }>;
  hooks?: Record<string, { posix?: { shell?: string; run: string }; windows?: { shell?: string; run: string } }>;
};

const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
const REQUIRED_OUTPUTS = [
  'AZURE_LOCATION',
  'AZURE_TENANT_ID',
  'AZURE_RESOURCE_GROUP',
  'AZURE_FUNCTION_APP_NAME',
  'PUBLIC_HOST',
  'WORKSHOP_API_URL',
  'BOT_APP_ID',
  'AZURE_KEY_VAULT_NAME',
  'AZURE_STORAGE_ACCOUNT_NAME',
  'APPLICATIONINSIGHTS_NAME',
  'AZURE_LOG_ANALYTICS_WORKSPACE_NAME',
  'AZURE_MANAGED_IDENTITY_CLIENT_ID',
  'DURABLE_BACKEND',
];

/** `resource x '<type>' existing = …` */
const isExisting = (f: BicepFile, d: Declaration) => f.tokens[d.start + 3]?.kind === 'ident' && f.tokens[d.start + 3].text === 'existing';
const decls = (f: BicepFile, keyword: string) => f.decls.filter((d) => d.keyword === keyword);

/** Does the declaration have a `= default` before its end (params) — at bracket depth 0? */
function hasDefault(f: BicepFile, d: Declaration): boolean {
  for (let k = d.start + 2; k < d.end; k++) if (f.tokens[k].text === '=' && f.tokens[k].kind === 'punct') return true;
  return false;
}

/** Tokens of the value at `at` up to the end of its line (brackets spanning lines included). */
function valueTokens(tokens: Token[], at: number): Token[] {
  const out: Token[] = [];
  let depth = 0;
  for (let k = at; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind === 'punct' && '([{'.includes(t.text)) depth++;
    if (t.kind === 'punct' && ')]}'.includes(t.text)) depth--;
    if (depth < 0 || (depth === 0 && t.kind === 'newline')) break;
    out.push(t);
  }
  return out;
}

const strings = (tokens: Token[]): string[] => tokens.flatMap((t) => (t.kind === 'string' ? [t.text, ...strings(t.inner ?? [])] : []));

describe('infra/main.bicep: azd template layout', () => {
  it("targets the subscription scope and creates rg-<environmentName> tagged azd-env-name", () => {
    const ts = decls(main, 'targetScope')[0];
    expect(ts, 'no targetScope').toBeDefined();
    expect(main.tokens[ts.start + 2]).toMatchObject({ kind: 'string', text: 'subscription' });
    const rg = decls(main, 'resource').find((d) => resourceType(main, d) === 'Microsoft.Resources/resourceGroups');
    expect(rg, 'no resource group').toBeDefined();
    const nameAt = propertyValue(main.tokens, bodyStart(main.tokens, rg!), 'name');
    const nameText = valueTokens(main.tokens, nameAt).map((t) => (t.kind === 'string' ? `'${t.text}'` : t.text)).join('');
    expect(nameText.includes("'rg-${environmentName}'") || /names\.resourceGroup/.test(nameText), `resource group name is ${nameText}`).toBe(true);
    if (/names\.resourceGroup/.test(nameText)) expect(main.text).toMatch(/resourceGroup:\s*'rg-\$\{environmentName\}'/);
    expect(strings(main.tokens)).toContain('azd-env-name');
  });

  it('has environmentName and location (an azd location) parameters', () => {
    const params = decls(main, 'param');
    expect(params.map((p) => p.name)).toEqual(expect.arrayContaining(['environmentName', 'location']));
    const location = params.find((p) => p.name === 'location')!;
    expect(location.decorators).toContain('metadata');
    expect(main.text).toMatch(/azd:\s*\{\s*type:\s*'location'/);
  });

  it('names resources from uniqueString(subscription().id, environmentName, location) with the agreed prefixes', () => {
    expect(main.text).toMatch(/uniqueString\(subscription\(\)\.id, environmentName, location\)/);
    for (const prefix of ['func-', 'plan-', 'kv-', 'appi-', 'log-', 'id-app-', 'id-bot-', 'bot-', 'dts-']) expect(strings(main.tokens).some((s) => s.startsWith(`${prefix}\${token}`)), prefix).toBe(true);
    expect(strings(main.tokens)).toContain('st${token}');
  });

  it('every module path exists and none comes from a registry', () => {
    const problems: string[] = [];
    for (const f of bicep) {
      for (const d of decls(f, 'module')) {
        const p = f.tokens[d.start + 2];
        if (p?.kind !== 'string' || p.interpolated) problems.push(`${f.rel}:${d.line}: module ${d.name} has no plain path`);
        else if (/^(br|ts)[:/]/.test(p.text)) problems.push(`${f.rel}:${d.line}: module ${d.name} comes from a registry (${p.text}); write native resources`);
        else if (!existsSync(path.resolve(path.dirname(f.file), p.text))) problems.push(`${f.rel}:${d.line}: module ${d.name}: ${p.text} does not exist`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every parameter without a default has a value in main.parameters.json, and every value there is a parameter', () => {
    const params = decls(main, 'param');
    const names = new Set(params.map((p) => p.name));
    const required = params.filter((p) => !hasDefault(main, p)).map((p) => p.name);
    expect(required.filter((n) => !(n in paramsFile.parameters)).map((n) => `param ${n} has no default and no value in infra/main.parameters.json`)).toEqual([]);
    expect(Object.keys(paramsFile.parameters).filter((n) => !names.has(n)).map((n) => `infra/main.parameters.json sets ${n}, which infra/main.bicep does not declare`)).toEqual([]);
  });

  it('main.parameters.json takes values from the azd environment only (no literal secrets or ids)', () => {
    const literal = Object.entries(paramsFile.parameters).filter(([, p]) => typeof p.value !== 'string' || !/\$\{[A-Z_][A-Z0-9_]*(=[^}]*)?\}|\$\(secretOrRandomPassword /.test(p.value));
    expect(literal.map(([n]) => n)).toEqual([]);
    expect(paramsFile.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
    expect(paramsFile.parameters.location?.value).toBe('${AZURE_LOCATION}');
    expect(paramsFile.parameters.learnerSubscriptionId?.value).toBe('${LEARNER_SUBSCRIPTION_ID}');
    expect(String(paramsFile.parameters.runBudgetUsd?.value)).toMatch(/^\$\{RUN_BUDGET_USD(=[^}]*)?\}$/);
  });

  it('secure parameters: @secure(), never a default, and the API keys come from azd secretOrRandomPassword with the secret names the Key Vault module writes', () => {
    const secure = decls(main, 'param').filter((p) => p.decorators.includes('secure'));
    expect(secure.map((p) => p.name)).toEqual(expect.arrayContaining(['instructorApiKey', 'learnerApiKey', 'botAppSecret']));
    for (const p of secure.filter((s) => s.name !== 'botAppSecret')) expect(hasDefault(main, p), `${p.name} has a default`).toBe(false);
    const keyVault = bicep.find((f) => f.decls.some((d) => d.keyword === 'resource' && resourceType(f, d) === 'Microsoft.KeyVault/vaults'))!;
    for (const name of ['instructorApiKey', 'learnerApiKey']) {
      const m = /^\$\(secretOrRandomPassword \$\{AZURE_KEY_VAULT_NAME\} ([a-z0-9-]+)\)$/.exec(String(paramsFile.parameters[name]?.value));
      expect(m, `${name}: ${String(paramsFile.parameters[name]?.value)}`).not.toBeNull();
      expect(strings(keyVault.tokens), `${keyVault.rel} writes no secret named ${m![1]}`).toContain(m![1]);
    }
  });

  it('declares the outputs azd and the hooks read', () => {
    const outputs = decls(main, 'output').map((o) => o.name);
    expect(REQUIRED_OUTPUTS.filter((o) => !outputs.includes(o))).toEqual([]);
  });

  it("tags the Function App azd-service-name with azure.yaml's function service", () => {
    const tagged: Array<{ file: string; value: string }> = [];
    for (const f of bicep)
      f.tokens.forEach((t, k) => {
        if (t.kind === 'string' && t.text === 'azd-service-name' && f.tokens[k + 1]?.text === ':' && f.tokens[k + 2]?.kind === 'string') tagged.push({ file: f.rel, value: f.tokens[k + 2].text });
      });
    const functionServices = Object.entries(azureYaml.services).filter(([, s]) => s.host === 'function').map(([n]) => n);
    expect(functionServices).toHaveLength(1);
    expect(tagged).toHaveLength(1);
    expect(tagged[0].value).toBe(functionServices[0]);
    const sitesFile = bicep.find((f) => f.decls.some((d) => d.keyword === 'resource' && resourceType(f, d) === 'Microsoft.Web/sites'))!;
    expect(tagged[0].file).toBe(sitesFile.rel);
  });

  it('the Function App runs on Flex Consumption with Node 22 and identity-based deployment storage', () => {
    const f = bicep.find((b) => b.decls.some((d) => d.keyword === 'resource' && resourceType(b, d) === 'Microsoft.Web/sites'))!;
    expect(f.text).toMatch(/tier:\s*'FlexConsumption'/);
    expect(f.text).toMatch(/runtime:\s*\{\s*name:\s*'node'\s*version:\s*'22'\s*\}/);
    expect(f.text).toMatch(/type:\s*'UserAssignedIdentity'/);
    expect(f.text).toMatch(/keyVaultReferenceIdentity:/);
    const storage = bicep.find((b) => b.decls.some((d) => d.keyword === 'resource' && resourceType(b, d) === 'Microsoft.Storage/storageAccounts' && !isExisting(b, d)))!;
    expect(storage.text).toMatch(/allowSharedKeyAccess:\s*false/);
    expect(storage.text).toMatch(/allowBlobPublicAccess:\s*false/);
    expect(storage.text).toMatch(/minimumTlsVersion:\s*'TLS1_2'/);
  });
});

describe('role assignments: least privilege', () => {
  const assignments = bicep.flatMap((f) => decls(f, 'resource').filter((d) => resourceType(f, d) === 'Microsoft.Authorization/roleAssignments').map((d) => ({ f, d })));

  it('there are role assignments', () => {
    expect(assignments.length).toBeGreaterThanOrEqual(6);
  });

  it("each is named by a deterministic guid(…) and assigns to principalType ServicePrincipal (the deployer's Key Vault read excepted)", () => {
    const problems: string[] = [];
    for (const { f, d } of assignments) {
      const body = bodyStart(f.tokens, d);
      const where = `${f.rel}:${d.line} (${d.name})`;
      const nameAt = propertyValue(f.tokens, body, 'name');
      const name = nameAt < 0 ? [] : valueTokens(f.tokens, nameAt);
      if (name[0]?.text !== 'guid' || name[1]?.text !== '(') problems.push(`${where}: name is not guid(…)`);
      else if (name.some((t) => t.kind === 'ident' && (t.text === 'newGuid' || t.text === 'utcNow'))) problems.push(`${where}: name is not deterministic`);
      else if (!name.some((t) => t.text === ',')) problems.push(`${where}: guid() of a single value cannot tell principals apart`);
      const props = propertyValue(f.tokens, body, 'properties');
      const propsOpen = props;
      if (props < 0 || f.tokens[propsOpen].text !== '{') {
        problems.push(`${where}: no properties object`);
        continue;
      }
      const typeAt = propertyValue(f.tokens, propsOpen, 'principalType');
      const principalAt = propertyValue(f.tokens, propsOpen, 'principalId');
      const type = typeAt < 0 ? undefined : f.tokens[typeAt];
      const principal = principalAt < 0 ? undefined : f.tokens[principalAt];
      if (!type) problems.push(`${where}: no principalType`);
      else if (type.kind === 'string' && type.text === 'ServicePrincipal') continue;
      else if (type.kind === 'ident' && type.text === 'deployerPrincipalType' && principal?.text === 'deployerPrincipalId') {
        const role = strings(f.tokens.slice(propsOpen, matching(f.tokens, propsOpen)));
        if (f.text.includes(CONTRIBUTOR) && role.includes(CONTRIBUTOR)) problems.push(`${where}: the deployer gets Contributor`);
      } else problems.push(`${where}: principalType is ${type.text}, not 'ServicePrincipal'`);
    }
    expect(problems).toEqual([]);
  });

  it('Contributor is granted only in the learner-subscription module, deployed at scope subscription(learnerSubscriptionId)', () => {
    const withContributor = bicep.filter((f) => strings(f.tokens).some((s) => s.includes(CONTRIBUTOR)));
    expect(withContributor.map((f) => f.rel)).toHaveLength(1);
    const learner = withContributor[0];
    expect(learner.rel).not.toBe(main.rel);
    expect(decls(learner, 'targetScope').length).toBe(1);
    expect(learner.tokens[decls(learner, 'targetScope')[0].start + 2].text).toBe('subscription');
    // no `scope:` on its role assignments: they apply to the module's scope, the learner subscription
    for (const d of decls(learner, 'resource').filter((r) => resourceType(learner, r) === 'Microsoft.Authorization/roleAssignments'))
      expect(propertyValue(learner.tokens, bodyStart(learner.tokens, d), 'scope'), `${learner.rel}:${d.line} has a scope`).toBe(-1);
    const uses = decls(main, 'module').filter((m) => {
      const p = main.tokens[m.start + 2];
      return p.kind === 'string' && path.resolve(path.dirname(main.file), p.text) === learner.file;
    });
    expect(uses).toHaveLength(1);
    const scopeAt = propertyValue(main.tokens, bodyStart(main.tokens, uses[0]), 'scope');
    expect(valueTokens(main.tokens, scopeAt).map((t) => t.text).join('')).toBe('subscription(learnerSubscriptionId)');
    expect(decls(main, 'param').find((p) => p.name === 'learnerSubscriptionId'), 'learnerSubscriptionId is a parameter').toBeDefined();
  });

  it("the app identity's roles on its own resources (storage blob/queue/table, metrics publisher, secrets user, task hub) are each scoped to that resource", () => {
    // the module that assigns roles on an (existing) storage account
    const f = bicep.find(
      (b) =>
        b.decls.some((d) => d.keyword === 'resource' && resourceType(b, d) === 'Microsoft.Storage/storageAccounts' && isExisting(b, d)) &&
        b.decls.some((d) => d.keyword === 'resource' && resourceType(b, d) === 'Microsoft.Authorization/roleAssignments'),
    )!;
    expect(f, 'no module assigns roles on the storage account').toBeDefined();
    for (const id of ['b7e6dc6d-f1e8-4753-8033-0f276bb0955b', '974c5e8b-45b9-4653-ba55-5f855dd0fb88', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', '3913510d-42f4-4e42-8a64-420c390055eb', '4633458b-17de-408a-b874-0445c86b69e6', '0ad04412-c4d5-4796-b79c-f76d14c8d402'])
      expect(strings(f.tokens), id).toContain(id);
    // nothing at resource-group or subscription scope in that module: every assignment names a resource as scope
    for (const d of decls(f, 'resource').filter((r) => resourceType(f, r) === 'Microsoft.Authorization/roleAssignments'))
      expect(propertyValue(f.tokens, bodyStart(f.tokens, d), 'scope'), `${f.rel}:${d.line} (${d.name}) has no resource scope`).toBeGreaterThan(-1);
  });
});

describe('azure.yaml', () => {
  it('is the workshop-orchestrator project with one Function App service built locally into dist/', () => {
    expect(azureYaml.name).toBe('workshop-orchestrator');
    expect(azureYaml.services.api).toMatchObject({ project: '.', language: 'ts', host: 'function', dist: 'dist', remoteBuild: false });
    expect(azureYaml.infra?.path ?? 'infra').toBe('infra');
    expect(existsSync(path.join(ROOT, azureYaml.infra?.path ?? 'infra', `${azureYaml.infra?.module ?? 'main'}.bicep`))).toBe(true);
  });

  it('remoteBuild: false is consistent with the ignore file (azd refuses it when .funcignore excludes node_modules)', () => {
    const ignore = path.join(ROOT, azureYaml.services.api.project, '.funcignore');
    if (existsSync(ignore)) expect(readFileSync(ignore, 'utf8').split(/\r?\n/).map((l) => l.trim())).not.toContain('node_modules');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build, 'azd runs `npm run build` to produce dist/').toBeDefined();
  });

  it('postdeploy writes the Teams app package on posix and windows', () => {
    const hook = azureYaml.hooks?.postdeploy;
    expect(hook?.posix?.run).toMatch(/npm run package:teams/);
    expect(hook?.windows?.run).toMatch(/npm run package:teams/);
    expect(hook?.windows?.shell).toBe('pwsh');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['package:teams']).toBeDefined();
    // teams/package.ts needs BOT_APP_ID and PUBLIC_HOST: azd exports the provision outputs to hooks
    const outputs = decls(main, 'output').map((o) => o.name);
    expect(outputs).toEqual(expect.arrayContaining(['BOT_APP_ID', 'PUBLIC_HOST']));
  });
});
