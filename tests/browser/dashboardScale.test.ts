import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkshopApi } from '../../cli/apiClient';
import { MAX_LEARNERS_PER_RUN } from '../../http/cohortLimit';
import { functions } from '../../registry';
import type { DashboardRun } from '../../tab/dashboardTypes';
import { startStack, type TestStack } from '../helpers/stack';
import { LearnerDriver } from '../workshop/learnerDriver';
import { browserSuiteMode, launchChromium, type Browser } from './chromium';

/**
 * The instructor dashboard with a full room: a run of min(1,000, MAX_LEARNERS_PER_RUN) learners (it
 * becomes 1,000 by itself when the limit is raised), in Debian's Chromium against the local stack.
 * The run does not need to progress: every journey started, then a few learner events.
 *
 * Printed, never asserted as time bounds (the machine is shared): the first render (navigation to the
 * table's first paint of every learner), each render's own time, the update after a learner event (the
 * API call's answer to the row changing on screen — it includes up to one 2 s poll), and the bytes of a
 * full answer against an incremental one. Asserted: what makes those figures small — the table holds
 * only the rows in view, an update carries only the learners that changed — and what an instructor of
 * 1,000 needs: search, filters, stuck and failed first, the queues by keyboard in two key presses, polite
 * announcements of queue changes, text contrast.
 */
const mode = browserSuiteMode();
const N = Math.min(1000, MAX_LEARNERS_PER_RUN);
const KEYS = { instructor: 'dashboard-scale-instructor-key-0123', learner: 'dashboard-scale-learner-secret-0123' };

let stack: TestStack;
let api: WorkshopApi;
let browser: Browser;
let page: Page;
let runId: string;
let learnerIds: string[];

/** Learner i's roster line; one has an accented name, so search must ignore accents. */
function rosterCsv(n: number): string {
  const lines = ['name,email'];
  for (let i = 0; i < n; i++) {
    const tag = String(i).padStart(4, '0');
    lines.push(i === 7 ? `Zoë Ångström,zoe.angstrom@contoso.example` : `Learner ${tag},learner.${tag}@contoso.example`);
  }
  return `${lines.join('\n')}\n`;
}

interface Figures {
  measures: Array<{ name: string; duration: number; start: number; detail: { learners: number; changed?: number | 'all' } }>;
  fetches: Array<{ url: string; bytes: number; start: number; serverMs: number }>;
  rowsInDom: number;
  rowCount: string | null;
}

function figures(p: Page): Promise<Figures> {
  return p.evaluate(() => ({
    measures: performance
      .getEntriesByType('measure')
      .filter((m) => m.name.startsWith('dashboard'))
      .map((m) => ({ name: m.name, duration: m.duration, start: m.startTime, detail: (m as PerformanceMeasure).detail })),
    fetches: (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
      .filter((r) => r.name.includes('/api/dashboard/runs/'))
      .map((r) => ({ url: r.name, bytes: r.encodedBodySize, start: r.startTime, serverMs: r.responseStart - r.requestStart })),
    rowsInDom: document.querySelectorAll('#gridBody tr[data-learner]').length,
    rowCount: document.getElementById('learners')!.getAttribute('aria-rowcount'),
  }));
}

const ms = (n: number) => `${Math.round(n)} ms`;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const print = (line: string) => process.stdout.write(`[dashboard at ${N} learners] ${line}\n`);

describe.skipIf(!mode.run)(`the dashboard with ${N} learners`, () => {
  beforeAll(async () => {
    if (mode.failWith) throw new Error(mode.failWith);
    process.env.INSTRUCTOR_API_KEY = KEYS.instructor;
    process.env.LEARNER_API_KEY = KEYS.learner;
    process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
    // No learner subscription: no environments to cost, nothing deploys; the run stays in its first phase.
    for (const k of ['LEARNER_SUBSCRIPTION_ID', 'ARM_SUBSCRIPTION_ID', 'ARM_ENDPOINT', 'ARM_TOKEN', 'ARM_CA_CERT']) delete process.env[k];
    stack = await startStack(functions, { maxActivities: 16, maxOrchestrators: 16 });
    api = new WorkshopApi({ url: stack.host.url, instructorKey: KEYS.instructor });
    const started = await api.startRun({ scenario: 'lakehouse', roster: rosterCsv(N), rosterName: 'roster.csv', instructors: ['ines@contoso.example'], runId: 'dash-scale' });
    runId = started.runId;
    learnerIds = started.learners.map((l) => l.learnerId);
    // Every journey started and at its first step: the page then opens on a steady run.
    const deadline = Date.now() + 300_000;
    for (;;) {
      const res = await fetch(`${stack.host.url}/api/dashboard/runs/${runId}`, { headers: { 'x-api-key': KEYS.instructor } });
      const run = (await res.json()) as DashboardRun;
      if (run.learners.length === N && run.learners.every((l) => l.stepId === 'req-business-requirements' && l.phaseState === 'awaitingLearner')) break;
      if (Date.now() > deadline) throw new Error(`the ${N} journeys did not all reach their first step in 300 s: ${run.learners.filter((l) => l.phaseState === 'awaitingLearner').length} did`);
      await new Promise((r) => setTimeout(r, 500));
    }
    browser = await launchChromium({ viewport: { width: 1440, height: 900 } });
  }, 360_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it(`renders all ${N} learners at once, holding only the rows in view`, async () => {
    page = await browser.newPage();
    await page.goto(`${stack.host.url}/api/tab/#key=${encodeURIComponent(KEYS.instructor)}&run=${runId}`);
    await expect.poll(() => page.locator('#shown').textContent(), { timeout: 30_000 }).toBe(`${N.toLocaleString('en-US')} learners`);
    const f = await figures(page);
    const first = f.measures.find((m) => m.name === 'dashboard first render')!;
    const render = f.measures.find((m) => m.name === 'dashboard render')!;
    print(`first render ${ms(first.duration)} from navigation (of which the page's own render ${ms(render.duration)}); full answer ${kb(f.fetches[0].bytes)}, ${ms(f.fetches[0].serverMs)} on the server; ${f.rowsInDom} of ${N} rows in the DOM`);
    expect(first.detail.learners).toBe(N);
    expect(f.rowCount).toBe(String(N + 1));
    // The window, not the roster: a screenful and its margins (at 40 learners or fewer that is everyone).
    expect(f.rowsInDom).toBeGreaterThan(0);
    expect(f.rowsInDom).toBeLessThan(Math.max(41, N));
    // The funnel: everyone is working in phase 1 and has not started the others.
    await expect.poll(() => page.locator('#funnel li[data-phase="requirements"] .f-nums').textContent()).toBe(`0 done · ${N} working · 0 need you · 0 failed · 0 not started`);
    expect(await page.locator('#funnel li[data-phase="validation"] .f-nums').textContent()).toBe(`0 done · 0 working · 0 need you · 0 failed · ${N} not started`);
    // Scrolling to the end renders the last learners in place of the first.
    await page.locator('#tableScroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.locator(`tr[data-learner="${learnerIds[N - 1]}"]`).waitFor();
    expect(await page.locator(`tr[data-learner="${learnerIds[0]}"]`).count()).toBe(0);
    expect(await page.locator(`tr[data-learner="${learnerIds[N - 1]}"]`).getAttribute('aria-rowindex')).toBe(String(N + 1));
    await page.locator('#tableScroll').evaluate((el) => (el.scrollTop = 0));
    await browser.screenshot(page, `dashboard-${N}-learners`);
    // Compact rows are the default for a big room; comfortable rows are taller, still only a window of them.
    expect(await page.locator('#compact').isChecked()).toBe(N >= 40);
    await page.locator('#compact').setChecked(false);
    await expect.poll(() => page.locator('#gridBody tr[data-learner]').first().evaluate((tr) => tr.getBoundingClientRect().height)).toBeGreaterThan(60);
    expect(await page.locator('#gridBody tr[data-learner]').count()).toBeLessThan(Math.max(41, N));
    await browser.screenshot(page, `dashboard-${N}-learners-comfortable`);
    await page.locator('#compact').setChecked(N >= 40);
  });

  it('finds anyone by name or email, accents aside, and filters by phase and state', async () => {
    const search = page.locator('#search');
    await search.fill('angstrom');
    await expect.poll(() => page.locator('#shown').textContent()).toBe(`Showing 1 of ${N.toLocaleString('en-US')} learners`);
    expect(await page.locator('#gridBody tr[data-learner]').count()).toBe(1);
    expect(await page.locator('#gridBody tr[data-learner] th').textContent()).toContain('Zoë Ångström');
    await search.fill('learner.0003@');
    await expect.poll(() => page.locator('#gridBody tr[data-learner] th').allTextContents()).toEqual([expect.stringContaining('Learner 0003')]);
    await search.fill('');
    await page.locator('#phaseFilter').selectOption('design');
    await expect.poll(() => page.locator('#shown').textContent()).toBe(`Showing 0 of ${N.toLocaleString('en-US')} learners`);
    await page.locator('#phaseFilter').selectOption('all');
    await page.locator('#stateFilter').selectOption('working');
    await expect.poll(() => page.locator('#shown').textContent()).toBe(`Showing ${N.toLocaleString('en-US')} of ${N.toLocaleString('en-US')} learners`);
    await page.locator('#stateFilter').selectOption('all');
    // A phase's name in the funnel filters the table to it, and says so.
    const design = page.locator('#funnel button[data-phase="design"]');
    await design.click();
    expect(await design.getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('#phaseFilter').inputValue()).toBe('design');
    await expect.poll(() => page.locator('#shown').textContent()).toBe(`Showing 0 of ${N.toLocaleString('en-US')} learners`);
    await design.click();
    await expect.poll(() => page.locator('#shown').textContent()).toBe(`${N.toLocaleString('en-US')} learners`);
    await page.locator('#sortBy').selectOption('name');
    await expect.poll(() => page.locator('#gridBody tr[data-learner] th .name').first().textContent()).toBe('Learner 0000');
    await page.locator('#sortBy').selectOption('attention');
  });

  it('a learner asking for help comes to the top of the table and into the help queue, announced politely; the update carries only what changed', async () => {
    const asker = learnerIds[N - 1];
    const before = (await figures(page)).measures.length;
    await api.help(runId, asker, 'Which sources count as customer data?');
    const t0 = Date.now();
    const firstRow = page.locator('#gridBody tr[data-learner]').first();
    await expect.poll(() => firstRow.getAttribute('data-learner'), { timeout: 30_000 }).toBe(asker);
    const shownAfter = Date.now() - t0;
    expect(await firstRow.locator('td[data-phase="requirements"]').getAttribute('data-state')).toBe('helpRequested');
    await page.locator(`#helpList li[data-learner="${asker}"]`).waitFor();
    expect(await page.locator('#announce').getAttribute('aria-live')).toBe('polite');
    expect(await page.locator('#announce').textContent()).toMatch(/Learner 0\d+ asked for help/);
    const f = await figures(page);
    const update = f.measures.slice(before).filter((m) => m.name === 'dashboard render' && m.detail.changed !== 'all' && (m.detail.changed ?? 0) > 0);
    expect(update.length).toBeGreaterThan(0);
    // Only the learner who moved travelled (a journey or two more may have moved meanwhile).
    expect(update[0].detail.changed).toBeLessThan(Math.min(N, 10));
    const deltas = f.fetches.filter((x) => x.url.includes('since=') && x.bytes > 0);
    const polls = f.fetches.filter((x) => x.url.includes('since=')).map((x) => x.serverMs).sort((a, b) => a - b);
    print(
      `learner event → row on screen ${ms(shownAfter)} (includes the 2 s poll); that render ${ms(update[0].duration)} for ${update[0].detail.changed} changed learner(s); ` +
        `update ${kb(Math.max(...deltas.map((d) => d.bytes)))} against ${kb(f.fetches[0].bytes)} for the full answer; a poll's server time median ${ms(polls[Math.floor(polls.length / 2)])} over ${polls.length} polls`,
    );
    expect(Math.max(...deltas.map((d) => d.bytes))).toBeLessThan(f.fetches[0].bytes / 4);
  });

  it('a learner who answers a step moves on in their row without a reload', async () => {
    const mover = learnerIds[3];
    await page.locator('#search').fill('learner.0003@');
    const row = page.locator(`tr[data-learner="${mover}"]`);
    await row.waitFor();
    const t0 = Date.now();
    expect(await (await LearnerDriver.create(api, runId, mover, 'lakehouse')).actOnce()).toBe('req-business-requirements');
    await expect.poll(() => row.locator('td[data-phase="requirements"]').textContent(), { timeout: 30_000 }).toMatch(/Technical constraints.*step 2\/3/);
    print(`second learner event (an answer) → row on screen ${ms(Date.now() - t0)} (includes the agent's grading and the 2 s poll)`);
    await page.locator('#search').fill('');
  });

  it('thirty help requests at once: the focused row stays put and keeps the focus, the queue shows 25 and the rest on request', async () => {
    // A keyboard user on a row's Extend button while the table would re-sort under them.
    const mine = learnerIds[5];
    const extend = page.locator(`tr[data-learner="${mine}"]`).getByRole('button', { name: /^Extend/ });
    await extend.focus();
    const rowIndex = await page.locator(`tr[data-learner="${mine}"]`).getAttribute('aria-rowindex');
    const askers = learnerIds.slice(-31, -1);
    await Promise.all(askers.map((id) => api.help(runId, id, `Question from ${id}`)));
    await expect.poll(() => page.locator('#helpCount').textContent(), { timeout: 30_000 }).toBe(`(${askers.length + 1})`);
    expect(await extend.evaluate((b) => b === document.activeElement)).toBe(true);
    expect(await page.locator(`tr[data-learner="${mine}"]`).getAttribute('aria-rowindex')).toBe(rowIndex);
    // 25 entries, then "6 more not shown. Show all 31".
    expect(await page.locator('#helpList > li[data-learner]').count()).toBe(25);
    const more = page.locator('#helpList > li.more').getByRole('button');
    expect(await more.textContent()).toBe(`Show all ${askers.length + 1}`);
    // Focus leaves the table: now it sorts, everyone asking for help on top.
    await page.locator('#search').focus();
    await expect.poll(() => page.locator('#gridBody tr[data-learner]').first().locator('td[data-phase="requirements"]').getAttribute('data-state')).toBe('helpRequested');
    expect(await page.locator('#gridBody tr[data-learner]').nth(askers.length).locator('td[data-phase="requirements"]').getAttribute('data-state')).toBe('helpRequested');
    await more.click();
    expect(await page.locator('#helpList > li[data-learner]').count()).toBe(askers.length + 1);
    expect(await page.evaluate(() => document.activeElement?.closest('#helpList > li')?.getAttribute('data-learner'))).toBeTruthy();
  });

  it('the help queue is two key presses from the top of the page, not behind the rows', async () => {
    // Where a freshly loaded page starts: sequential navigation from the document's beginning.
    await page.evaluate(() => {
      document.body.tabIndex = -1;
      document.body.focus();
      document.body.removeAttribute('tabindex');
    });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the help queue');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('helpQueue');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => !!document.activeElement?.closest('#helpList li[data-learner]'))).toBe(true);
    // "/" brings the keyboard back to the search.
    await page.locator('#helpList textarea').first().evaluate((el) => (el as HTMLElement).blur());
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('search');
  });

  it('an answer sent for review has its own queue, said politely, reached from the skip links; the update carries only what changed', async () => {
    const sender = learnerIds[10];
    const before = (await figures(page)).fetches.length;
    await api.reviewAnswer(runId, sender, 'In my own words: the people who read the numbers want one place they can trust, owned by someone.', { stepId: 'req-business-requirements' });
    const item = page.locator(`#answerList li[data-learner="${sender}"]`);
    await item.waitFor({ timeout: 30_000 });
    expect(await item.locator('.criteria li[data-criterion]').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#announce').textContent()).toMatch(/Learner 0010 sent an answer for review/);
    const f = await figures(page);
    const deltas = f.fetches.slice(before).filter((x) => x.url.includes('since=') && x.bytes > 0);
    expect(deltas.length).toBeGreaterThan(0);
    expect(Math.max(...deltas.map((d) => d.bytes))).toBeLessThan(f.fetches[0].bytes / 4);
    expect(f.rowsInDom).toBeLessThan(Math.max(41, N));
    await page.locator('#stateFilter').selectOption('answerInReview');
    await expect.poll(() => page.locator('#shown').textContent()).toBe(`Showing 1 of ${N.toLocaleString('en-US')} learners`);
    await page.locator('#stateFilter').selectOption('all');
    await page.evaluate(() => {
      document.body.tabIndex = -1;
      document.body.focus();
      document.body.removeAttribute('tabindex');
    });
    for (let i = 0; i < 4; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to answers for review');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('#answerList li[data-learner]')?.getAttribute('data-learner'))).toBe(sender);
  });

  it('text on the page has at least 4.5:1 contrast against what is behind it, in the light, dark and high-contrast themes', async () => {
    for (const theme of ['default', 'dark', 'contrast']) {
      const low = await page.evaluate((theme) => {
        document.documentElement.dataset.theme = theme;
        const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
        const lum = ([r, g, b]: number[]) => {
          const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const background = (el: Element | null): number[] => {
          for (; el; el = el.parentElement) {
            const c = rgb(getComputedStyle(el).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
          }
          return [255, 255, 255];
        };
        const out: string[] = [];
        let checked = 0;
        const texts = document.querySelectorAll<HTMLElement>('#runView th, #runView td, #runView .badge, #runView .f-nums, #runView .meta, #runView .legend, #runView .sub, #runView dt, #runView dd, #runView label, #runView h2, #runView button:not(:disabled)');
        for (const el of Array.from(texts)) {
          if (!el.offsetParent || !el.textContent?.trim()) continue;
          const a = lum(rgb(getComputedStyle(el).color).slice(0, 3));
          const b = lum(background(el));
          const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
          checked++;
          if (ratio < 4.5) out.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
        }
        return { checked, low: [...new Set(out)] };
      }, theme);
      expect(low.checked).toBeGreaterThan(100);
      expect(low.low, theme).toEqual([]);
    }
    await page.evaluate(() => (document.documentElement.dataset.theme = 'default'));
  });
});
