import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { ASSET_NAMES, buildDashboardAssets, type AssetName } from './build';

/**
 * GET /api/tab/{file?}: the dashboard page (also at /api/tab/configure, the team tab's configuration
 * page), its script and stylesheet — the same on both hosts.
 * Built files are used when they sit beside this module (`dist/tab/public/`, made by
 * `npm run build`); run from the sources they are bundled once on first request.
 */
const TYPES: Record<AssetName, string> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

/**
 * The page may be framed by Teams (web, desktop and the Microsoft 365 hosts that run Teams tabs)
 * and by nothing else; it loads only its own script and talks only to its own origin.
 */
export const FRAME_ANCESTORS = [
  "'self'",
  'https://teams.microsoft.com',
  'https://*.teams.microsoft.com',
  'https://teams.cloud.microsoft',
  'https://*.cloud.microsoft',
  'https://*.office.com',
  'https://*.microsoft365.com',
  'https://teams.microsoft.us',
  'https://dod.teams.microsoft.us',
  'https://*.teams.microsoft.us',
];
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  `frame-ancestors ${FRAME_ANCESTORS.join(' ')}`,
].join('; ');

interface Asset {
  body: string;
  etag: string;
}
let loaded: Promise<Map<AssetName, Asset>> | undefined;

async function loadAssets(): Promise<Map<AssetName, Asset>> {
  // The deployment package (build.ts) has the built files in tab/public beside the bundle (dist/app.js).
  const builtDir = path.join(__dirname, 'tab', 'public');
  const texts = existsSync(path.join(builtDir, 'dashboard.js'))
    ? Object.fromEntries(await Promise.all(ASSET_NAMES.map(async (n) => [n, await readFile(path.join(builtDir, n), 'utf8')] as const)))
    : await buildDashboardAssets();
  return new Map(ASSET_NAMES.map((n) => [n, { body: texts[n], etag: `"${createHash('sha1').update(texts[n]).digest('base64url')}"` }]));
}

function assets(): Promise<Map<AssetName, Asset>> {
  loaded ??= loadAssets();
  loaded.catch(() => (loaded = undefined)); // a failed build is retried on the next request
  return loaded;
}

export async function dashboardPage(request: HttpRequest): Promise<HttpResponseInit> {
  const url = new URL(request.url);
  const file = request.params.file;
  // /api/tab → /api/tab/ so the page's relative links resolve under it.
  if (!file && !url.pathname.endsWith('/')) return { status: 308, headers: { Location: `${url.pathname}/${url.search}` } };
  // `configure` is the team tab's configuration page (manifest `configurationUrl`): the same page in another mode.
  const name = (file === undefined || file === 'configure' ? 'index.html' : file) as AssetName;
  if (!ASSET_NAMES.includes(name)) return { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `No dashboard file "${file}". The dashboard is at ${url.pathname.replace(/[^/]*$/, '')}.` };
  const asset = (await assets()).get(name)!;
  const headers: Record<string, string> = {
    'content-type': TYPES[name],
    'cache-control': 'no-cache',
    etag: asset.etag,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (name === 'index.html') headers['content-security-policy'] = CSP;
  if (request.headers.get('if-none-match') === asset.etag) return { status: 304, headers };
  return { status: 200, headers, body: asset.body };
}
