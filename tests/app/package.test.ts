import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { functions } from '../../registry';
import { listFiles, packageHostJson, WORKER_PROVIDED } from '../../build';

/**
 * The deployment package: `npm run build` writes dist/, which azure.yaml names as the folder azd zips and
 * uploads (no remote build). The package is copied to a folder outside the repository — so nothing can be
 * resolved from the repository's node_modules, as on the Function App — and loaded by a Node process the way the
 * Functions Node worker loads it: `main` of its package.json, with `@azure/functions-core` provided by the
 * worker (here a stand-in that records what is registered, the worker's own boundary).
 */
const ROOT = path.resolve(__dirname, '..', '..');
const run = promisify(execFile);

interface Registration {
  name: string;
  bindings: Record<string, { type: string; direction: string; route?: string; methods?: string[]; authLevel?: string; schedule?: string }>;
}
let pkgDir: string;
let packageFiles: string[];
let registrations: Registration[];
let loadOutput: string;
interface Invoked {
  status: number;
  body: string;
}
let invoked: { scenarios: Invoked; dashboard: Invoked };

// What the worker provides: records registrations and the programming model, which the worker calls to invoke.
const WORKER_STAND_IN = `
const registrations = [];
let model;
module.exports = {
  registerFunction(metadata, callback) { registrations.push({ metadata, callback }); return { dispose() {} }; },
  setProgrammingModel(m) { model = m; }, getProgrammingModel() { return model; },
  registerHook() { return { dispose() {} }; },
  registrations, get model() { return model; },
};`;

// Loads main as the worker does, then invokes two HTTP functions through the programming model with the worker's
// RPC shapes (RpcInvocationRequest in, RpcInvocationResponse out): they read the packaged scenario packs and dashboard.
const LOADER = `
const path = require('node:path');
const pkg = require(path.join(process.cwd(), 'package.json'));
require(path.join(process.cwd(), pkg.main));
const core = require('@azure/functions-core');
async function invokeHttp(name, url, headers) {
  const reg = core.registrations.find((r) => r.metadata.name === name);
  const trigger = Object.values(reg.metadata.bindings).find((b) => b.type === 'httpTrigger');
  const coreCtx = {
    invocationId: 'test-' + name, metadata: reg.metadata, state: undefined,
    request: { inputData: [{ name: trigger.name, data: { http: { method: 'GET', url, headers, query: {}, params: {} } } }], triggerMetadata: {} },
    log: (level, category, message) => process.stderr.write(level + ' ' + category + ' ' + message + '\\n'),
  };
  const invocation = core.model.getInvocationModel(coreCtx);
  const { context, inputs } = await invocation.getArguments();
  const result = await invocation.invokeFunction(context, inputs, reg.callback);
  const http = (await invocation.getResponse(context, result)).returnValue.http;
  return { status: Number(http.statusCode), body: Buffer.from(Object.values(http.body.bytes)).toString('utf8') };
}
(async () => {
  const base = 'https://func-workshop.azurewebsites.net/api';
  const scenarios = await invokeHttp('workshopScenarios', base + '/scenarios', { 'x-api-key': process.env.INSTRUCTOR_API_KEY });
  const dashboard = await invokeHttp('dashboardPage', base + '/tab/', {});
  // A file, not stdout: the app's own logs (pino) go to stdout.
  require('node:fs').writeFileSync('loaded.json', JSON.stringify({ registrations: core.registrations.map((r) => r.metadata), scenarios, dashboard }));
})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
`;

beforeAll(async () => {
  const { DURABLE_BACKEND: _backend, ...buildEnv } = process.env;
  const build = await run('npm', ['run', 'build', '--silent'], { cwd: ROOT, env: { ...buildEnv, CI: 'true' }, maxBuffer: 16 * 1024 * 1024 });
  expect(build.stdout).toContain('deployment package written to dist');
  pkgDir = await mkdtemp(path.join(os.tmpdir(), 'workshop-package-'));
  await cp(path.join(ROOT, 'dist'), pkgDir, { recursive: true });
  packageFiles = await listFiles(pkgDir);
  // The worker's module, outside the package (the package must not carry one).
  const core = path.join(pkgDir, 'node_modules', '@azure', 'functions-core');
  await mkdir(core, { recursive: true });
  await writeFile(path.join(core, 'index.js'), WORKER_STAND_IN);
  await writeFile(path.join(pkgDir, '.load-as-worker.cjs'), LOADER);
  // The app settings a Function App has (identity-based storage; nothing is stored by these two requests).
  const env = {
    PATH: process.env.PATH ?? '',
    AzureWebJobsStorage__accountName: 'stworkshoptest',
    AzureWebJobsStorage__clientId: '6b1d4f4e-2f0a-4c54-9d0e-3c8f1e2a7b90',
    INSTRUCTOR_API_KEY: 'instructor-key-for-the-package-test',
    LEARNER_API_KEY: 'learner-key-for-the-package-test',
  };
  const loaded = await run(process.execPath, ['.load-as-worker.cjs'], { cwd: pkgDir, env, maxBuffer: 16 * 1024 * 1024 });
  loadOutput = await readFile(path.join(pkgDir, 'loaded.json'), 'utf8');
  expect(loaded.stderr).toBe('');
  const out = JSON.parse(loadOutput) as { registrations: Registration[]; scenarios: Invoked; dashboard: Invoked };
  registrations = out.registrations;
  invoked = out;
}, 180_000);

afterAll(async () => {
  if (pkgDir) await rm(pkgDir, { recursive: true, force: true });
});

describe('deployment package (npm run build → dist/, what azd deploy uploads)', () => {
  it('azure.yaml deploys exactly the folder npm run build writes, without a remote build', async () => {
    const azure = YAML.parse(await readFile(path.join(ROOT, 'azure.yaml'), 'utf8')) as { services: Record<string, { project: string; dist?: string; host: string; language: string; remoteBuild?: boolean }> };
    const services = Object.values(azure.services);
    expect(services).toHaveLength(1);
    const [api] = services;
    expect(api.host).toBe('function');
    expect(path.resolve(ROOT, api.project, api.dist ?? '.')).toBe(path.join(ROOT, 'dist'));
    expect(api.remoteBuild).toBe(false);
  });

  it('is self-contained: package.json with main app.js and no dependencies, host.json, the packs and the dashboard', async () => {
    const pkg = JSON.parse(await readFile(path.join(pkgDir, 'package.json'), 'utf8')) as { main: string; dependencies?: Record<string, string>; devDependencies?: unknown; scripts?: unknown };
    expect(pkg.main).toBe('app.js');
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.devDependencies).toBeUndefined();
    expect(pkg.scripts).toBeUndefined();
    expect(packageFiles.some((f) => f.startsWith('node_modules/'))).toBe(false);
    expect(await readFile(path.join(pkgDir, 'host.json'), 'utf8')).toBe(await readFile(path.join(ROOT, 'host.json'), 'utf8'));

    // Every scenario pack file, byte for byte.
    const packs = await listFiles(path.join(ROOT, 'scenarios', 'packs'));
    expect(packs.filter((f) => f.endsWith('.yaml')).length).toBeGreaterThanOrEqual(4);
    for (const f of packs) {
      expect(packageFiles, `package lacks scenarios/packs/${f}`).toContain(`scenarios/packs/${f}`);
      expect(await readFile(path.join(pkgDir, 'scenarios', 'packs', f), 'utf8')).toBe(await readFile(path.join(ROOT, 'scenarios', 'packs', f), 'utf8'));
    }
    for (const f of ['index.html', 'dashboard.js', 'dashboard.css']) expect(packageFiles).toContain(`tab/public/${f}`);
  });

  it('the bundle requires nothing outside Node and the worker (no package is installed on the Function App)', async () => {
    const js = await readFile(path.join(pkgDir, 'app.js'), 'utf8');
    const required = new Set([...js.matchAll(/\b(?:require|import)\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]!));
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const foreign = [...required].filter((m) => !builtins.has(m) && !WORKER_PROVIDED.includes(m));
    // esbuild is reached only when the dashboard files are missing from the package (the test above shows they are not).
    expect(foreign).toEqual(['esbuild']);
    expect(required.has('@azure/functions-core')).toBe(true);
  });

  it("loading main registers every registry function with @azure/functions, with its trigger and bindings", () => {
    expect(loadOutput.length).toBeGreaterThan(2);
    expect(registrations.map((r) => r.name).sort()).toEqual(functions.map((f) => f.name).sort());
    for (const f of functions) {
      const r = registrations.find((x) => x.name === f.name)!;
      const bindings = Object.values(r.bindings);
      const triggers = bindings.filter((b) => b.direction === 'in' && b.type.endsWith('Trigger'));
      expect(triggers, f.name).toHaveLength(1);
      const trigger = triggers[0]!;
      expect(trigger.type, f.name).toBe({ orchestration: 'orchestrationTrigger', activity: 'activityTrigger', http: 'httpTrigger', timer: 'timerTrigger' }[f.kind]);
      if (f.kind === 'http') {
        expect(trigger.route, f.name).toBe(f.route);
        expect(trigger.methods, f.name).toEqual(f.methods);
        expect(trigger.authLevel, f.name).toBe(f.authLevel);
      }
      if (f.kind === 'timer') expect(trigger.schedule, f.name).toBe(f.schedule);
      expect(bindings.some((b) => b.type === 'durableClient'), f.name).toBe(f.kind !== 'orchestration' && !!f.durableClient);
    }
  });

  it('the packaged functions serve the packaged scenario packs and dashboard (invoked as the worker invokes them)', async () => {
    expect(invoked.scenarios.status, invoked.scenarios.body).toBe(200);
    const listed = (JSON.parse(invoked.scenarios.body) as { scenarios: Array<{ id: string }> }).scenarios.map((x) => x.id).sort();
    const packDirs = (await readdir(path.join(ROOT, 'scenarios', 'packs'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(listed).toEqual(packDirs);
    expect(invoked.dashboard.status).toBe(200);
    expect(invoked.dashboard.body).toBe(await readFile(path.join(ROOT, 'tab', 'dashboard.html'), 'utf8'));
  });

  it('selects the Durable Task Scheduler in the packaged host.json when the azd environment asks for it, and refuses an unknown backend', async () => {
    const source = await readFile(path.join(ROOT, 'host.json'), 'utf8');
    expect(packageHostJson(source, undefined)).toBe(source);
    expect(packageHostJson(source, 'AzureStorage')).toBe(source);
    const dts = JSON.parse(packageHostJson(source, 'DurableTaskScheduler')) as { extensions: { durableTask: Record<string, unknown> } };
    const original = JSON.parse(source) as { extensions: { durableTask: Record<string, unknown> } };
    expect(dts.extensions.durableTask).toEqual({ ...original.extensions.durableTask, storageProvider: { type: 'azureManaged', connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING' } });
    expect(() => packageHostJson(source, 'Netherite')).toThrow(/DURABLE_BACKEND is "Netherite"; it must be one of AzureStorage, DurableTaskScheduler/);
  });
});
