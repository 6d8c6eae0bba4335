import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Builds the dashboard's browser files: the script (`client/main.ts` with `@microsoft/teams-js`,
 * bundled by esbuild into one IIFE — no CDN, no module loader), the page and its stylesheet.
 *
 * `npm run build` (build.ts) writes them to `dist/tab/public/` beside the bundle `dist/app.js`, which
 * serves them in Azure. Run from the sources (`npm start`, tests), `assets.ts` calls
 * `buildDashboardAssets()` itself the first time the page is asked for and keeps the result.
 */
export interface DashboardAssets {
  'index.html': string;
  'dashboard.js': string;
  'dashboard.css': string;
}

export const ASSET_NAMES = ['index.html', 'dashboard.js', 'dashboard.css'] as const;
export type AssetName = (typeof ASSET_NAMES)[number];

const SOURCE_DIR = __dirname;

export async function buildDashboardAssets(opts: { minify?: boolean } = {}): Promise<DashboardAssets> {
  // esbuild is a dev dependency: only a source checkout bundles; a deployment ships the built files.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(SOURCE_DIR, 'client', 'main.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    minify: opts.minify ?? false,
    sourcemap: opts.minify ? false : 'inline',
    legalComments: 'eof',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': JSON.stringify(opts.minify ? 'production' : 'development') },
  });
  const js = result.outputFiles?.[0]?.text;
  if (!js) throw new Error('esbuild produced no output for tab/client/main.ts');
  const [html, css] = await Promise.all([readFile(path.join(SOURCE_DIR, 'dashboard.html'), 'utf8'), readFile(path.join(SOURCE_DIR, 'dashboard.css'), 'utf8')]);
  return { 'index.html': html, 'dashboard.js': js, 'dashboard.css': css };
}
