import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkshopApi } from '../../cli/apiClient';
import { startArmEmulator, type ArmEmulator } from '../../local/arm/emulator';
import { LearnerDriver } from '../workshop/learnerDriver';
import { eventually, startTeamsStack, TEST_KEYS, type TeamsStack } from '../teams/teamsStack';
import { browserSuiteMode, launchChromium, type Browser } from './chromium';

/**
 * The Teams issue's acceptance, in a real browser (Debian's Chromium through playwright-core) against
 * the whole local stack — the embedded store, the durable host with the app's registry, the Bot Connector
 * emulator with its web chat, the ARM emulator:
 *  - an instructor starts a rehearsal from the web chat (the start card, time scale 0.05);
 *  - a learner answers a prompt card and sees that card update in place;
 *  - the dashboard shows the learner's progress change without a reload, while the learner is
 *    driven through the learner API up to the architecture review;
 *  - the instructor approves the review and resumes a failed learner (their step's timebox ran out)
 *    from the dashboard.
 * Screenshots of the chat and the dashboard go to test-artifacts/.
 *
 * Time: at scale 0.05 a 10-minute step has 30 s, so the idle learners fail by themselves about
 * half a minute in; nothing here waits on a fixed sleep.
 */
const mode = browserSuiteMode();
const SCALE = 0.05;

const GOOD_ANSWER =
  'The board wants a customer 360: one unified customer view across stores and online, so marketing and finance stop arguing about numbers. ' +
  'Stakeholders are the chief data officer, marketing, finance and supply chain; each needs trusted data. Analysts need self-service reporting in Power BI ' +
  'without waiting on IT. Governance and lineage matter in their own right because the CDO must answer where a number came from. ' +
  'My priority is the customer 360 first, as an MVP for marketing, because it proves value fastest and forces the shared customer model ' +
  'that every later use case depends on; self-service and governance follow in phase two.';

let s: TeamsStack;
let arm: ArmEmulator;
let browser: Browser;
let api: WorkshopApi;
let runId: string;
let ids: Record<'ada' | 'brian' | 'grace', string>;
let dashboard: Page;

describe.skipIf(!mode.run)('in the browser: web chat and instructor dashboard', () => {
  beforeAll(async () => {
    if (mode.failWith) throw new Error(mode.failWith);
    s = await startTeamsStack();
    arm = await startArmEmulator({ database: s.stack.database });
    process.env.ARM_ENDPOINT = arm.url;
    process.env.ARM_TOKEN = arm.token;
    process.env.ARM_CA_CERT = arm.caCertPem;
    process.env.LEARNER_SUBSCRIPTION_ID = arm.subscriptionId;
    process.env.ARM_POLL_INTERVAL_MS = '100';
    api = new WorkshopApi({ url: s.url, instructorKey: TEST_KEYS.instructor });
    for (const u of [s.instructor, ...s.learners]) expect((await s.teams.install(u.id)).status).toBe(200);
    expect((await s.teams.installInTeam(s.instructor.id)).status).toBe(200);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
    await arm?.stop();
  });

  it('an instructor starts a rehearsal from the web chat', async () => {
    const chat = await browser.newPage();
    await chat.goto(`${s.teams.url}/chat?user=${encodeURIComponent(s.instructor.upn)}`);
    await chat.locator('#text').fill('start');
    await chat.locator('#text').press('Enter');
    const card = chat.locator('article', { hasText: 'Start a workshop run' });
    await card.waitFor();
    await card.locator('select').first().selectOption('lakehouse');
    await card.getByLabel(/Time scale/).fill(String(SCALE));
    await card.getByRole('button', { name: 'Start' }).click();
    const toast = card.locator('.toast');
    await expect.poll(() => toast.textContent(), { timeout: 30_000 }).toMatch(/Started run/);
    runId = /Started run \**([a-z0-9-]+)/.exec((await toast.textContent()) ?? '')![1];
    const status = await api.runStatus(runId);
    expect(status.learners.map((l) => l.email).sort()).toEqual(s.learners.map((l) => l.upn).sort());
    ids = Object.fromEntries(status.learners.map((l) => [l.email!.split('@')[0], l.learnerId])) as typeof ids;
    await browser.screenshot(chat, 'chat-instructor-started-run');
    await chat.close();
  });

  it('the dashboard lists the run and every learner at the first step, live', async () => {
    dashboard = await browser.newPage();
    await dashboard.goto(`${s.url}/api/tab/#key=${encodeURIComponent(TEST_KEYS.instructor)}&run=${runId}`);
    // The key came in the fragment and is gone from the address bar.
    expect(dashboard.url()).not.toContain('key=');
    await expect.poll(() => dashboard.locator('#runPicker').inputValue()).toBe(runId);
    const ada = dashboard.locator(`tr[data-learner="${ids.ada}"]`);
    await expect.poll(() => ada.locator('td[data-phase="requirements"]').textContent(), { timeout: 30_000 }).toMatch(/Business requirements/);
    await expect.poll(() => dashboard.locator('#costText').textContent()).toMatch(/\$0\.00 of \$/);
    // Marks this document: a reload would lose it.
    await dashboard.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
  });

  it('a learner answers a prompt card in the web chat and the same card updates in place', async () => {
    const chat = await browser.newPage();
    await chat.goto(`${s.teams.url}/chat?user=${encodeURIComponent(s.learners[0].upn)}`);
    // The step's prompt card (the progress card names the step too, but has no answer button).
    const card = chat.locator('article', { hasText: 'Business requirements', has: chat.getByRole('button', { name: 'Send answer' }) });
    await card.waitFor({ timeout: 30_000 });
    const activityId = await card.getAttribute('data-activity-id');
    const version = Number(await card.getAttribute('data-version'));
    await card.locator('textarea').first().fill(GOOD_ANSWER);
    await card.getByRole('button', { name: 'Send answer' }).click();

    const same = chat.locator(`article[data-activity-id="${activityId}"]`);
    await expect.poll(() => same.textContent(), { timeout: 30_000 }).toMatch(/Answer sent/);
    expect(Number(await same.getAttribute('data-version'))).toBeGreaterThan(version);
    expect(await same.locator('.meta').textContent()).toMatch(/edited/);
    await expect.poll(() => same.getByRole('button', { name: 'Send answer' }).count()).toBe(0);
    // Still one card for the step; the next step arrives as a new message.
    expect(await chat.locator('article', { hasText: /Requirements Analysis — step 1 of/ }).count()).toBe(1);
    await chat.locator('article', { hasText: 'Technical constraints' }).getByRole('button', { name: 'Send answer' }).waitFor({ timeout: 30_000 });
    await same.scrollIntoViewIfNeeded();
    await browser.screenshot(chat, 'chat-learner-card-updated');
    await chat.close();
  });

  it('the dashboard shows that learner’s progress change without a reload', async () => {
    const ada = dashboard.locator(`tr[data-learner="${ids.ada}"]`);
    await expect.poll(() => ada.locator('td[data-phase="requirements"]').textContent(), { timeout: 20_000 }).toMatch(/Technical constraints.*step 2\/3/);
    expect(await dashboard.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
  });

  it('the instructor approves a review from the dashboard, with a comment', async () => {
    const driver = await LearnerDriver.create(api, runId, ids.ada, 'lakehouse');
    driver.approveReviews = false;
    await driver.walkTo('design-architecture-review', 'awaitingReview', 60_000);
    const ada = dashboard.locator(`tr[data-learner="${ids.ada}"]`);
    await expect.poll(() => ada.locator('td[data-phase="requirements"]').textContent(), { timeout: 20_000 }).toMatch(/Passed/);
    const item = dashboard.locator(`#reviewList li[data-learner="${ids.ada}"]`);
    await item.waitFor({ timeout: 20_000 });
    expect(await item.locator('.deliverables a').count()).toBeGreaterThan(0);
    // Every control on the page has an accessible name (label, text or aria-label).
    const unnamed = await dashboard.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLElement>('input, select, textarea, button'))
        .filter((el) => el.offsetParent !== null)
        .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent?.trim())))
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unnamed).toEqual([]);
    // Keyboard only: type the comment, Tab to Approve, press Enter.
    const comment = item.getByLabel(/Comment/);
    await comment.fill('Clear separation of zones; ship it.');
    await browser.screenshot(dashboard, 'dashboard-review');
    await comment.press('Tab');
    expect(await item.getByRole('button', { name: 'Approve' }).evaluate((b) => b === document.activeElement)).toBe(true);
    await dashboard.keyboard.press('Enter');
    await expect.poll(() => dashboard.locator('#feedback').textContent()).toMatch(/Approved Ada Lovelace/);
    await expect.poll(() => dashboard.locator(`#reviewList li[data-learner="${ids.ada}"]`).count(), { timeout: 20_000 }).toBe(0);
    await expect.poll(() => ada.locator('td[data-phase="design"]').textContent(), { timeout: 20_000 }).toMatch(/Passed/);
    const st = await api.learnerStatus(runId, ids.ada);
    expect(st.journey?.outcomes.design).toBe('passed');
  });

  it('the instructor resumes a failed learner from the dashboard', async () => {
    // Brian never answered: his first step's 30 s timebox runs out and the phase fails.
    const brian = dashboard.locator(`tr[data-learner="${ids.brian}"]`);
    await expect.poll(() => brian.locator('td[data-phase="requirements"]').getAttribute('data-state'), { timeout: 60_000 }).toBe('failed');
    const failure = dashboard.locator(`#failuresList li[data-learner="${ids.brian}"]`);
    await expect.poll(() => failure.locator('.q-text').textContent(), { timeout: 20_000 }).toMatch(/timebox/);
    await browser.screenshot(dashboard, 'dashboard-failure');

    await brian.getByRole('button', { name: /^Resume Brian/ }).click();
    await expect.poll(() => dashboard.locator('#feedback').textContent()).toMatch(/Resuming Brian Kernighan/);
    await expect.poll(() => brian.locator('td[data-phase="requirements"]').getAttribute('data-state'), { timeout: 20_000 }).toBe('working');
    await expect.poll(() => dashboard.locator(`#failuresList li[data-learner="${ids.brian}"]`).count()).toBe(0);
    const st = await api.learnerStatus(runId, ids.brian);
    expect(st.position?.state).toBe('awaitingLearner');
    expect(await dashboard.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await browser.screenshot(dashboard, 'dashboard');
    await dashboard.setViewportSize({ width: 1366, height: 768 }); // a common laptop screen
    await browser.screenshot(dashboard, 'dashboard-1366x768');
  });

  it('framed by a page that is not Teams, the dashboard stops waiting for Teams and asks for the key; a wrong key is refused', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.url}/admin/host/status`); // any page of the app's origin (frame-ancestors allows 'self')
    await page.evaluate(() => (document.body.innerHTML = '<iframe id="tab" title="dashboard" src="/api/tab/" style="width:1200px;height:700px;border:0"></iframe>'));
    const tab = page.frameLocator('#tab');
    const t0 = Date.now();
    await tab.locator('#keyInput').waitFor({ state: 'visible', timeout: 15_000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await tab.locator('html').getAttribute('data-host')).toBe('browser');
    await tab.locator('#keyInput').fill('not-the-instructor-key-0000');
    await tab.locator('#keyInput').press('Enter');
    await expect.poll(() => tab.locator('#keyError').textContent()).toMatch(/does not know that key/);
    await tab.locator('#keyInput').fill(TEST_KEYS.instructor);
    await tab.locator('#keyInput').press('Enter');
    await expect.poll(() => tab.locator('#runPicker').inputValue()).toBe(runId);
    await tab.locator(`tr[data-learner="${ids.ada}"]`).waitFor();
    await page.close();
  });
});
