import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../../tools/bicep/bicep';
import { bicepForTests, lines, type CompileResult } from '../helpers/bicep';
import { calls, compileInfra, expr, INFRA, lit, placed, where, type Placed, type Template } from './infraTemplate';

/**
 * azd template conventions for infra/ and azure.yaml, checked on what the Bicep compiler makes of
 * infra/main.bicep (the ARM JSON `azd provision` deploys): it compiles and lints clean, and the
 * parameters, outputs, tags, the service and the least-privilege shape of the role assignments are
 * read from the compiled template. Only what the compiler cannot know stays a source check (where a
 * module comes from) or a file check (main.parameters.json, azure.yaml).
 */
const compiler = bicepForTests();
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

let compiled: CompileResult;
let main: Template;
let all: Placed[];
beforeAll(async () => {
  if (!compiler.exe) return;
  ({ result: compiled, template: main } = await compileInfra(compiler.exe));
  all = placed(main);
});

/** A variable's value in a template, following variables('x').y chains of object literals. */
function resolve(t: Template, v: unknown): unknown {
  const e = expr(v);
  if (!e) return v;
  const path: string[] = [];
  let cur = e;
  while (cur.kind === 'prop') {
    path.unshift(cur.name);
    cur = cur.target;
  }
  if (cur.kind !== 'call' || cur.name.toLowerCase() !== 'variables') return v;
  let value: unknown = t.variables?.[String(lit(cur.args[0]))];
  for (const k of path) value = resolve(t, (value as Record<string, unknown>)?.[k]);
  return resolve(t, value);
}

const bicepSources = (dir = INFRA): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? bicepSources(path.join(dir, d.name)) : d.name.endsWith('.bicep') ? [path.join(dir, d.name)] : []));

describe.skipIf(!compiler.exe)('infra/main.bicep: the Bicep compiler', () => {
  it('compiles with no error and no warning (compiler and default linter rules; suppressions live in infra/bicepconfig.json)', () => {
    expect(lines(compiled.diagnostics.filter((d) => d.level !== 'Off'))).toEqual([]);
    expect(compiled.success).toBe(true);
  });
});

describe.skipIf(!compiler.exe)('infra/main.bicep: azd template layout', () => {
  it('targets the subscription scope and creates rg-<environmentName> tagged azd-env-name', () => {
    expect(main.$schema).toMatch(/subscriptionDeploymentTemplate\.json#$/);
    const rgs = main.resources.filter((r) => r.type === 'Microsoft.Resources/resourceGroups');
    expect(rgs).toHaveLength(1);
    expect(resolve(main, rgs[0].name)).toBe("[format('rg-{0}', parameters('environmentName'))]");
    expect(resolve(main, rgs[0].tags)).toMatchObject({ 'azd-env-name': "[parameters('environmentName')]" });
  });

  it('has environmentName and location (an azd location) parameters', () => {
    expect(Object.keys(main.parameters)).toEqual(expect.arrayContaining(['environmentName', 'location']));
    expect(main.parameters.location.metadata).toMatchObject({ azd: { type: 'location' } });
  });

  it('names resources from uniqueString(subscription().id, environmentName, location) with the agreed prefixes', () => {
    expect(main.variables?.token).toMatch(/uniqueString\(subscription\(\)\.id, parameters\('environmentName'\), parameters\('location'\)\)/);
    const names = Object.values(main.variables?.names as Record<string, string>);
    for (const prefix of ['func-', 'plan-', 'kv-', 'appi-', 'log-', 'id-app-', 'id-bot-', 'bot-', 'dts-', 'st']) expect(names, prefix).toContain(`[format('${prefix}{0}', variables('token'))]`);
  });

  it('every module is a local file, none comes from a registry (the compiler resolves either; only the source tells)', () => {
    const problems: string[] = [];
    for (const file of bicepSources())
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const m = /^\s*module\s+\w+\s+'([^']+)'/.exec(line);
          if (m && /^(br|ts)[:/]/.test(m[1])) problems.push(`${path.relative(ROOT, file)}:${i + 1}: module from a registry (${m[1]}); write native resources`);
        });
    expect(problems).toEqual([]);
  });

  it('every parameter without a default has a value in main.parameters.json, and every value there is a parameter', () => {
    const required = Object.entries(main.parameters).filter(([, p]) => !('defaultValue' in p)).map(([n]) => n);
    expect(required.filter((n) => !(n in paramsFile.parameters)).map((n) => `param ${n} has no default and no value in infra/main.parameters.json`)).toEqual([]);
    expect(Object.keys(paramsFile.parameters).filter((n) => !(n in main.parameters)).map((n) => `infra/main.parameters.json sets ${n}, which infra/main.bicep does not declare`)).toEqual([]);
  });

  it('main.parameters.json takes values from the azd environment only (no literal secrets or ids)', () => {
    const literal = Object.entries(paramsFile.parameters).filter(([, p]) => typeof p.value !== 'string' || !/\$\{[A-Z_][A-Z0-9_]*(=[^}]*)?\}|\$\(secretOrRandomPassword /.test(p.value));
    expect(literal.map(([n]) => n)).toEqual([]);
    expect(paramsFile.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
    expect(paramsFile.parameters.location?.value).toBe('${AZURE_LOCATION}');
    expect(paramsFile.parameters.learnerSubscriptionId?.value).toBe('${LEARNER_SUBSCRIPTION_ID}');
    expect(String(paramsFile.parameters.runBudgetUsd?.value)).toMatch(/^\$\{RUN_BUDGET_USD(=[^}]*)?\}$/);
  });

  it('secure parameters: securestring, never a default, and the API keys come from azd secretOrRandomPassword with the secret names the Key Vault module writes', () => {
    const secure = Object.entries(main.parameters).filter(([, p]) => p.type === 'securestring');
    expect(secure.map(([n]) => n)).toEqual(expect.arrayContaining(['instructorApiKey', 'learnerApiKey', 'botAppSecret']));
    for (const [n, p] of secure.filter(([s]) => s !== 'botAppSecret')) expect('defaultValue' in p, `${n} has a default`).toBe(false);
    const vaults = all.filter((p) => p.resource.type === 'Microsoft.KeyVault/vaults');
    expect(vaults).toHaveLength(1);
    const secretNames = JSON.stringify(vaults[0].template.variables ?? {});
    for (const name of ['instructorApiKey', 'learnerApiKey']) {
      const m = /^\$\(secretOrRandomPassword \$\{AZURE_KEY_VAULT_NAME\} ([a-z0-9-]+)\)$/.exec(String(paramsFile.parameters[name]?.value));
      expect(m, `${name}: ${String(paramsFile.parameters[name]?.value)}`).not.toBeNull();
      expect(secretNames, `module ${vaults[0].modules.join(' > ')} writes no secret named ${m![1]}`).toContain(`"${m![1]}"`);
    }
  });

  it('declares the outputs azd and the hooks read', () => {
    expect(REQUIRED_OUTPUTS.filter((o) => !(o in (main.outputs ?? {})))).toEqual([]);
  });

  it("tags the Function App azd-service-name with azure.yaml's function service", () => {
    const functionServices = Object.entries(azureYaml.services).filter(([, s]) => s.host === 'function').map(([n]) => n);
    expect(functionServices).toHaveLength(1);
    const tagged = all.filter((p) => JSON.stringify(p.resource.tags ?? '').includes('azd-service-name'));
    expect(tagged.map(where)).toHaveLength(1);
    expect(tagged[0].resource.type).toBe('Microsoft.Web/sites');
    expect(tagged[0].resource.tags).toContain(`createObject('azd-service-name', '${functionServices[0]}')`);
  });

  it('the Function App runs on Flex Consumption with Node 22 and identity-based deployment storage', () => {
    const site = all.find((p) => p.resource.type === 'Microsoft.Web/sites')!;
    const plan = site.template.resources.find((r) => r.type === 'Microsoft.Web/serverfarms');
    expect(plan?.sku).toMatchObject({ tier: 'FlexConsumption' });
    expect(site.resource.properties).toMatchObject({
      keyVaultReferenceIdentity: expect.any(String),
      functionAppConfig: { runtime: { name: 'node', version: '22' }, deployment: { storage: { authentication: { type: 'UserAssignedIdentity' } } } },
    });
    const storage = all.filter((p) => p.resource.type === 'Microsoft.Storage/storageAccounts');
    expect(storage).toHaveLength(1);
    expect(storage[0].resource.properties).toMatchObject({ allowSharedKeyAccess: false, allowBlobPublicAccess: false, minimumTlsVersion: 'TLS1_2' });
  });
});

describe.skipIf(!compiler.exe)('role assignments: least privilege', () => {
  const assignments = () => all.filter((p) => p.resource.type === 'Microsoft.Authorization/roleAssignments');
  /** The role definition guid an assignment grants, through variables. */
  const roleOf = (p: Placed) => JSON.stringify(resolve(p.template, (p.resource.properties as { roleDefinitionId?: string }).roleDefinitionId)) + JSON.stringify(p.template.variables ?? {});

  it('there are role assignments', () => {
    expect(assignments().length).toBeGreaterThanOrEqual(6);
  });

  it("each is named by a deterministic guid(…) of several values and assigns to principalType ServicePrincipal (the deployer's Key Vault read excepted)", () => {
    const problems: string[] = [];
    for (const p of assignments()) {
      const name = expr(p.resource.name);
      const guid = name?.kind === 'call' && name.name.toLowerCase() === 'guid' ? name : undefined;
      if (!guid) problems.push(`${where(p)}: name is not guid(…)`);
      else if (calls(guid, 'newGuid').length || calls(guid, 'utcNow').length) problems.push(`${where(p)}: name is not deterministic`);
      else if (guid.args.length < 2) problems.push(`${where(p)}: guid() of a single value cannot tell principals apart`);
      const props = p.resource.properties as { principalType?: string; principalId?: string; roleDefinitionId?: string };
      if (props.principalType === 'ServicePrincipal') continue;
      if (props.principalType === "[parameters('deployerPrincipalType')]" && props.principalId === "[parameters('deployerPrincipalId')]") {
        if (String(resolve(p.template, props.roleDefinitionId)).includes(CONTRIBUTOR)) problems.push(`${where(p)}: the deployer gets Contributor`);
      } else problems.push(`${where(p)}: principalType is ${String(props.principalType)}, not 'ServicePrincipal'`);
    }
    expect(problems).toEqual([]);
  });

  it('Contributor is granted only in the learner-subscription module, deployed at scope subscription(learnerSubscriptionId)', () => {
    const withContributor = assignments().filter((p) => roleOf(p).includes(CONTRIBUTOR));
    expect(withContributor.length).toBeGreaterThan(0);
    const modules = new Set(withContributor.map((p) => p.modules.join(' > ')));
    expect([...modules]).toHaveLength(1);
    const learner = withContributor[0];
    expect(learner.modules).toHaveLength(1);
    expect(learner.template.$schema).toMatch(/subscriptionDeploymentTemplate\.json#$/);
    // no scope on its role assignments: they apply to the module's scope, the learner subscription
    expect(withContributor.filter((p) => 'scope' in p.resource).map(where)).toEqual([]);
    const deployment = main.resources.find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === learner.modules[0])!;
    expect(deployment.subscriptionId).toBe("[parameters('learnerSubscriptionId')]");
    expect(deployment.resourceGroup).toBeUndefined();
    expect(main.parameters.learnerSubscriptionId, 'learnerSubscriptionId is a parameter').toBeDefined();
  });

  it("the app identity's roles on its own resources (storage blob/queue/table, metrics publisher, secrets user, task hub) are each scoped to that resource", () => {
    const roles = ['b7e6dc6d-f1e8-4753-8033-0f276bb0955b', '974c5e8b-45b9-4653-ba55-5f855dd0fb88', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', '3913510d-42f4-4e42-8a64-420c390055eb', '4633458b-17de-408a-b874-0445c86b69e6', '0ad04412-c4d5-4796-b79c-f76d14c8d402'];
    for (const id of roles) {
      const granting = assignments().filter((p) => roleOf(p).includes(id) && String(resolve(p.template, (p.resource.properties as { roleDefinitionId: string }).roleDefinitionId)).length > 0);
      expect(granting.length, `no role assignment grants ${id}`).toBeGreaterThan(0);
    }
    const storageModule = assignments().find((p) => String(p.resource.scope ?? '').includes('Microsoft.Storage/storageAccounts'));
    expect(storageModule, 'no role assignment is scoped to the storage account').toBeDefined();
    const sameModule = assignments().filter((p) => p.modules.join('>') === storageModule!.modules.join('>'));
    // nothing at resource-group or subscription scope in that module: every assignment names a resource as its scope
    expect(sameModule.filter((p) => !/^\[(resourceId|extensionResourceId)\(/.test(String(p.resource.scope ?? ''))).map(where)).toEqual([]);
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
    if (compiler.exe) expect(Object.keys(main.outputs ?? {})).toEqual(expect.arrayContaining(['BOT_APP_ID', 'PUBLIC_HOST']));
  });
});
