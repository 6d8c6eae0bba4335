import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ASSET_NAMES, buildDashboardAssets } from './tab/build';

/**
 * `npm run build`: writes the deployment package, the folder `azd deploy` zips and uploads to the
 * Function App (azure.yaml `dist: dist`, no remote build). It runs as it is — nothing is installed on
 * the server:
 *
 *   dist/package.json          main: app.js, no dependencies
 *   dist/host.json             the repository's host.json; with DURABLE_BACKEND=DurableTaskScheduler (the azd
 *                              environment's value, which azd hands to the build) its durableTask.storageProvider
 *                              selects the Durable Task Scheduler — in host.json itself, because the scale
 *                              controller reads the file, not app-setting overrides (docs/durable-backend.md)
 *   dist/app.js                app.ts and everything it imports, one CommonJS bundle (esbuild); only
 *                              `@azure/functions-core`, which the Functions Node worker provides, is left out
 *   dist/app.js.LEGAL.txt      the licence comments of the bundled packages
 *   dist/scenarios/packs/      the scenario packs (YAML + ARM templates), read at run time
 *   dist/tab/public/           the instructor dashboard's page, script and stylesheet
 *
 * `tsx build.ts [outDir]` writes elsewhere (tests/app/package.test.ts builds into a temporary folder).
 * The type check is the script's first step in package.json (`npm run typecheck`).
 */
const ROOT = __dirname;
/** Provided by the Azure Functions Node worker at run time; the bundle must not carry a copy. */
export const WORKER_PROVIDED = ['@azure/functions-core'];

export const DURABLE_BACKENDS = ['AzureStorage', 'DurableTaskScheduler'] as const;
export type DurableBackend = (typeof DURABLE_BACKENDS)[number];

/** host.json for the package: the repository's, with the Durable Task Scheduler selected when asked for. */
export function packageHostJson(hostJson: string, backend: string | undefined): string {
  const chosen = backend || 'AzureStorage';
  if (!DURABLE_BACKENDS.includes(chosen as DurableBackend)) {
    throw new Error(`build: DURABLE_BACKEND is "${chosen}"; it must be one of ${DURABLE_BACKENDS.join(', ')} (azd env set DURABLE_BACKEND …)`);
  }
  if (chosen === 'AzureStorage') return hostJson;
  const parsed = JSON.parse(hostJson) as { extensions?: { durableTask?: Record<string, unknown> } };
  const durableTask = (parsed.extensions ??= {}).durableTask ?? {};
  parsed.extensions.durableTask = { ...durableTask, storageProvider: { type: 'azureManaged', connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING' } };
  return `${JSON.stringify(parsed, null, 2)}\n`;
}

export interface BuildResult {
  outDir: string;
  files: string[];
}

export async function buildPackage(outDir = path.join(ROOT, 'dist'), env: NodeJS.ProcessEnv = process.env): Promise<BuildResult> {
  outDir = path.resolve(outDir);
  if (outDir === ROOT || ROOT.startsWith(outDir + path.sep)) throw new Error(`build: refusing to write the package over the repository (${outDir})`);
  const hostJson = packageHostJson(await readFile(path.join(ROOT, 'host.json'), 'utf8'), env.DURABLE_BACKEND);
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });

  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, 'app.ts')],
    outfile: path.join(outDir, 'app.js'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: [...WORKER_PROVIDED, 'esbuild'],
    // Readable stack traces in Application Insights: no renaming, whitespace and syntax only.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'linked',
    sourcemap: false,
    logLevel: 'silent',
    metafile: true,
  });
  if (result.errors.length) throw new Error(`build: esbuild failed: ${result.errors.map((e) => e.text).join('; ')}`);
  // A bundle that reached the local stack would carry Azurite and the emulators into production.
  const localInputs = Object.keys(result.metafile!.inputs).filter((f) => /^(local|tests|cli)\//.test(f));
  if (localInputs.length) throw new Error(`build: app.ts must not import the local stack, tests or the CLI, but the bundle has ${localInputs.join(', ')}`);

  const rootPackage = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; description?: string; engines?: unknown };
  const packageJson = {
    name: rootPackage.name,
    version: rootPackage.version,
    description: rootPackage.description,
    private: true,
    main: 'app.js',
    engines: rootPackage.engines,
    dependencies: {},
  };
  await writeFile(path.join(outDir, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
  await writeFile(path.join(outDir, 'host.json'), hostJson);
  await cp(path.join(ROOT, 'scenarios', 'packs'), path.join(outDir, 'scenarios', 'packs'), { recursive: true });

  const assets = await buildDashboardAssets({ minify: true });
  await mkdir(path.join(outDir, 'tab', 'public'), { recursive: true });
  for (const name of ASSET_NAMES) await writeFile(path.join(outDir, 'tab', 'public', name), assets[name]);

  const files = await listFiles(outDir);
  return { outDir, files };
}

/** Every file below `dir`, as sorted relative paths with `/`. */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function main(): Promise<void> {
  const { outDir, files } = await buildPackage(process.argv[2]);
  const bytes = (await Promise.all(files.map(async (f) => (await stat(path.join(outDir, f))).size))).reduce((a, b) => a + b, 0);
  process.stdout.write(`deployment package written to ${path.relative(process.cwd(), outDir) || '.'}: ${files.length} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB (azd deploy uploads this folder)\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`build: ${(err as Error).message ?? err}\n`);
    process.exit(1);
  });
}
