import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * The browser tests drive the machine's Chromium (Debian's package, `apt-get install -y chromium`;
 * `.ci/run` installs it) through playwright-core. No browser is ever downloaded.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export type Availability = { ok: true } | { ok: false; reason: string };

export function chromiumAvailability(): Availability {
  if (existsSync(CHROMIUM_PATH)) return { ok: true };
  return {
    ok: false,
    reason: `Chromium is not installed at ${CHROMIUM_PATH}: install it with "apt-get update && apt-get install -y chromium" (what .ci/run does), or set CHROMIUM_PATH. The browser tests never download a browser.`,
  };
}

/**
 * Without Chromium: in CI (CI=true) the suite must fail, saying why; on a workstation it is skipped
 * with the same message, so `npm test` still runs everything else.
 */
export function browserSuiteMode(): { run: boolean; failWith?: string } {
  const a = chromiumAvailability();
  if (a.ok) return { run: true };
  if (process.env.CI === 'true' || process.env.CI === '1') return { run: true, failWith: a.reason };
  process.stderr.write(`\n[browser tests skipped] ${a.reason}\n\n`);
  return { run: false };
}

export interface Browser {
  context: BrowserContext;
  newPage(): Promise<Page>;
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchChromium(opts: { viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'workshop-chromium-'));
  // launchPersistentContext is how Playwright takes a --user-data-dir: a fresh one per run.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: FLAGS,
    viewport: opts.viewport ?? { width: 1440, height: 900 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(20_000);
  await mkdir(ARTIFACTS, { recursive: true });
  return {
    context,
    newPage: () => context.newPage(),
    screenshot: async (page, name) => {
      const file = path.join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: async () => {
      await context.close().catch(() => undefined);
      await rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
