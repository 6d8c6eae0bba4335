import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkshopApi } from '../../cli/apiClient';
import { learnerToken } from '../../http/apiAuth';
import { setStorageMinimumTls } from '../helpers/learnerEnvironment';
import { LearnerDriver, until } from '../workshop/learnerDriver';
import { startWorkshopStack, TEST_KEYS, type WorkshopStack } from '../workshop/workshopStack';
import { browserSuiteMode, launchChromium, type Browser } from './chromium';

/**
 * Issue 15's disputes, answer reviews and peer reviews on the instructor dashboard, in Debian's Chromium (through
 * playwright-core) against the whole local stack — the embedded store, the durable host with the app's registry,
 * the ARM emulator — with the drill pack:
 *  - answer → instructor review → accepted: a learner sends an answer the keyword criteria refused; the dashboard
 *    shows it beside the criteria in its own queue; the instructor, by keyboard from the skip links, accepts it;
 *  - dispute → evidence → override → report: a learner disputes a failed TLS check; the dashboard shows their note
 *    beside the evidence (resource · property · observed · expected · fix); the instructor marks it passed with a
 *    reason; the override appears in the dashboard's run report, and stays there once the run has ended;
 *  - a peer's review of a design reaches the instructor's review queue, beside the submission;
 *  - checks that failed a phase on their last attempt show their evidence in the failures queue, marked passed there.
 * The learners act through the workshop API (as the bot and the CLI do); every instructor decision is taken in the
 * page. Screenshots go to test-artifacts/.
 */
const mode = browserSuiteMode();
const packsDir = path.join(__dirname, '..', 'workshop', 'packs');
const RUN = 'dash-decisions';

/** Keyword criteria of req-drivers are spreadsheet / analyst / governed: this says it in other words. */
const OWN_WORDS =
  'Contoso needs its people who study the numbers to stop passing workbook files around by mail; they want one trusted, ' +
  'controlled place for the data with clear owners, because the auditors found three versions of the same sales figure last quarter.';
const SCORES = { tradeOffs: 'meets', alternatives: 'meets', scalability: 'notYet', cost: 'notYet', operationalReadiness: 'meets' } as const;

let w: WorkshopStack;
let api: WorkshopApi;
let browser: Browser;
let page: Page;
const drivers: Record<string, LearnerDriver> = {};

/** Tab from wherever the keyboard is until the element with this text has the focus (at most `max` presses). */
async function tabTo(p: Page, text: string, max = 12): Promise<void> {
  for (let i = 0; i < max; i++) {
    await p.keyboard.press('Tab');
    if ((await p.evaluate(() => document.activeElement?.textContent?.trim())) === text) return;
  }
  throw new Error(`"${text}" was not reached in ${max} Tab presses`);
}

/** The keyboard at the top of the document, as on a freshly loaded page. */
async function focusTop(p: Page): Promise<void> {
  await p.evaluate(() => {
    document.body.tabIndex = -1;
    document.body.focus();
    document.body.removeAttribute('tabindex');
  });
}

const isFocused = (l: Locator) => l.evaluate((el) => el === document.activeElement);
/** The tests walk learners through phases and wait on validation runs: room for a loaded machine. */
const WALK = 180_000;

describe.skipIf(!mode.run)('in the browser: disputes, answer reviews and peer reviews on the dashboard', () => {
  beforeAll(async () => {
    if (mode.failWith) throw new Error(mode.failWith);
    w = await startWorkshopStack({ packsDir });
    api = w.api;
    await api.startRun({
      runId: RUN,
      scenario: 'drill',
      roster: 'name,email\nAda Lovelace,ada@example.com\nGrace Hopper,grace@example.com\nBrian Kernighan,brian@example.com\n',
      rosterName: 'roster.csv',
      instructors: ['ian'],
    });
    for (const id of ['ada', 'grace', 'brian']) drivers[id] = await LearnerDriver.create(api, RUN, id, 'drill');
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`${w.url}/api/tab/#key=${encodeURIComponent(TEST_KEYS.instructor)}&run=${RUN}`);
    await page.locator('tr[data-learner="ada"]').waitFor({ timeout: 30_000 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await w?.stop();
  });

  it('an answer sent for review is in its own queue beside the criteria, announced, and findable by the state filter', async () => {
    await drivers.ada!.walkTo('req-drivers');
    await api.reviewAnswer(RUN, 'ada', OWN_WORDS, { note: 'People who study the numbers = analysts; workbooks = spreadsheets.', stepId: 'req-drivers' });
    const item = page.locator('#answerList li[data-learner="ada"]');
    await item.waitFor({ timeout: 30_000 });
    expect(await item.locator('.answer-text').textContent()).toBe(OWN_WORDS);
    expect(await item.locator('.learner-note').textContent()).toMatch(/analysts; workbooks = spreadsheets/);
    expect(await item.locator('.criteria li[data-criterion="outcome"]').textContent()).toMatch(/Not found by keywords\s*Names the business outcome/);
    // Not a design review: the review queue does not offer Approve for it.
    expect(await page.locator('#reviewList li[data-learner="ada"]').count()).toBe(0);
    expect(await page.locator('#announce').getAttribute('aria-live')).toBe('polite');
    await expect.poll(() => page.locator('#announce').textContent()).toMatch(/Ada Lovelace sent an answer for review/);
    await page.locator('#stateFilter').selectOption('answerInReview');
    await expect.poll(() => page.locator('#gridBody tr[data-learner]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-learner')))).toEqual(['ada']);
    await page.locator('#stateFilter').selectOption('all');
  }, WALK);

  it('answer → instructor review → accepted, by keyboard from the skip link; a comment is required first', async () => {
    await focusTop(page);
    await tabTo(page, 'Skip to answers for review');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('answerQueue');
    const item = page.locator('#answerList li[data-learner="ada"]');
    const comment = item.getByLabel(/Comment/);
    await page.keyboard.press('Tab');
    expect(await isFocused(comment)).toBe(true);
    // Accept with no comment: said beside the field, the keyboard back on it, nothing sent.
    await tabTo(page, 'Accept');
    await page.keyboard.press('Enter');
    await expect.poll(() => item.locator('[role="alert"]').textContent()).toMatch(/Say why the answer covers the criteria/);
    expect(await isFocused(comment)).toBe(true);
    expect(await comment.getAttribute('aria-invalid')).toBe('true');
    expect((await drivers.ada!.status()).position?.state).toBe('answerInReview');
    await page.keyboard.type('Covers the outcome in other words.');
    await browser.screenshot(page, 'dashboard-answer-review');
    await tabTo(page, 'Accept');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#feedback').textContent()).toMatch(/Accepted Ada Lovelace's answer/);
    await expect.poll(() => page.locator('#answerList li[data-learner="ada"]').count(), { timeout: 20_000 }).toBe(0);
    const s = await until('ada past req-drivers', async () => {
      const st = await drivers.ada!.status();
      return st.position?.stepId !== 'req-drivers' ? st : undefined;
    });
    expect(s.decisions.map((d) => d.decision)).toEqual([
      { kind: 'answer', stepId: 'req-drivers', round: 1, outcome: 'accepted', by: 'instructor (dashboard)', reason: 'Covers the outcome in other words.', criteriaMetByPerson: ['outcome'] },
    ]);
    const row = page.locator('#reportBody tr[data-learner="ada"][data-outcome="accepted"]');
    await row.waitFor({ timeout: 20_000 });
    expect(await row.textContent()).toMatch(/Covers the outcome in other words\./);
  }, WALK);

  it('a peer’s review of a design reaches the instructor’s review queue, beside the submission', async () => {
    for (const id of ['grace', 'brian']) drivers[id]!.approveReviews = false;
    await Promise.all(['grace', 'brian'].map((id) => drivers[id]!.walkTo('design-review', 'awaitingReview')));
    await api.review(RUN, 'brian', 'approve', 'solid');
    await until('brian past design', async () => ((await drivers.brian!.status()).journey?.outcomes.design === 'passed' ? true : undefined));
    const on = await fetch(`${w.url}/api/runs/${RUN}/peer-review`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEYS.instructor }, body: JSON.stringify({ enabled: true, minQueue: 1 }) });
    expect(on.status).toBe(200);
    const posted = await fetch(`${w.url}/api/runs/${RUN}/learners/brian/peer-review`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': learnerToken(TEST_KEYS.learnerSecret, RUN, 'brian') },
      body: JSON.stringify({ learnerId: 'grace', notes: 'No cost estimate; the patterns page is good.', scores: SCORES }),
    });
    expect(posted.status).toBe(202);
    const item = page.locator('#reviewList li[data-learner="grace"]');
    const review = item.locator('.peer-review[data-reviewer="brian"]');
    await review.waitFor({ timeout: 30_000 });
    expect(await review.textContent()).toMatch(/Brian Kernighan: No cost estimate; the patterns page is good\./);
    expect(await review.locator('.scores li').allTextContents()).toEqual(['tradeOffs: meets', 'alternatives: meets', 'scalability: not yet', 'cost: not yet', 'operationalReadiness: meets']);
    // Beside the submission it is about, and the instructor still decides there.
    expect(await item.locator('.deliverables li').count()).toBe(4);
    expect(await item.getByRole('button', { name: 'Approve' }).count()).toBe(1);
    await browser.screenshot(page, 'dashboard-peer-review');
  }, WALK);

  it('dispute → evidence side by side → re-run, return with comment, mark passed (a reason required) → the override in the run report', async () => {
    drivers.ada!.approveReviews = true;
    await drivers.ada!.walkTo('impl-harden');
    const account = await setStorageMinimumTls(RUN, 'ada', 'TLS1_0');
    await api.done(RUN, 'ada', 'impl-harden');
    await drivers.ada!.at('impl-harden-check', 'awaitingFix');
    await api.dispute(RUN, 'ada', 'I set TLS 1.2 in the portal a minute ago.');
    const item = page.locator('#disputeList li[data-learner="ada"]');
    await item.waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('#announce').textContent()).toMatch(/Ada Lovelace disputes a failed check/);
    expect(await item.locator('.note').textContent()).toBe('I set TLS 1.2 in the portal a minute ago.');
    const evidence = item.locator('table.evidence-table[data-check="storage-tls12"]');
    const field = async (cls: string) => (await evidence.locator(`tr.${cls} td`).allTextContents()).join('|');
    expect(await field('resource')).toBe(account);
    expect(await field('property')).toBe('properties.minimumTlsVersion');
    expect(await field('observed')).toBe('"TLS1_0"');
    expect(await field('expected')).toBe('"TLS1_2"');
    expect(await field('fix')).toBe("Set the account's minimum TLS version to TLS1_2.");
    // Its own queue: the queue filter shows it alone, the state filter finds the learner.
    await page.locator('#queueFilter').selectOption('dispute');
    expect(await page.locator('#disputeQueue').isVisible()).toBe(true);
    expect(await page.locator('#helpQueue').isVisible()).toBe(false);
    expect(await page.locator('#reviewQueue').isVisible()).toBe(false);
    await page.locator('#stateFilter').selectOption('disputed');
    await expect.poll(() => page.locator('#gridBody tr[data-learner]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-learner')))).toEqual(['ada']);
    expect(await page.locator('tr[data-learner="ada"] td[data-phase="implementation"]').textContent()).toMatch(/dispute with you/);
    await browser.screenshot(page, 'dashboard-dispute');
    await page.locator('#stateFilter').selectOption('all');
    // Every control on the page has an accessible name (label, text or aria-label).
    const unnamed = await page.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLElement>('input, select, textarea, button'))
        .filter((el) => el.offsetParent !== null)
        .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent?.trim())))
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unnamed).toEqual([]);

    // Re-run check: no reason needed; the checks run again (still TLS 1.0: attempt 2 fails).
    await item.getByRole('button', { name: 'Re-run check' }).click();
    await expect.poll(() => page.locator('#feedback').textContent()).toMatch(/Re-running Ada Lovelace's check/);
    await until('the re-run to fail again', async () => {
      const p = (await drivers.ada!.status()).position;
      return p?.state === 'awaitingFix' && p.stepAttempt === 2 ? p : undefined;
    });
    // Disputed again: a new entry for attempt 2. Return with comment needs the comment.
    await api.dispute(RUN, 'ada', 'Still says TLS1_0 but I changed it.');
    const second = page.locator('#disputeList li[data-learner="ada"]');
    await expect.poll(() => second.locator('table.evidence-table caption').textContent(), { timeout: 30_000 }).toBe('storage-tls12 — validation attempt 2');
    await second.getByRole('button', { name: 'Return with comment' }).click();
    await expect.poll(() => second.locator('[role="alert"]').textContent()).toMatch(/Say what the learner should fix/);
    await second.getByLabel(/Reason or comment/).fill('The account still allows TLS 1.0: look at its Configuration blade.');
    await second.getByRole('button', { name: 'Return with comment' }).click();
    await expect.poll(() => page.locator('#feedback').textContent()).toMatch(/Returned Ada Lovelace's dispute with your comment/);
    const returned = await until('the returned dispute in ada’s messages', async () =>
      (await api.learnerMessages(RUN, 'ada')).messages.find((m) => m.kind === 'decided' && (m.body.decision as { kind?: string; outcome?: string }).kind === 'dispute' && (m.body.decision as { outcome?: string }).outcome === 'returned'),
    );
    expect(returned.body.decision).toMatchObject({ attempt: 2, reason: 'The account still allows TLS 1.0: look at its Configuration blade.' });
    // The learner tries again; the third attempt fails and is disputed.
    await drivers.ada!.at('impl-harden-check', 'awaitingFix');
    await api.done(RUN, 'ada', 'impl-harden-check');
    await until('attempt 3 to fail', async () => {
      const p = (await drivers.ada!.status()).position;
      return p?.state === 'awaitingFix' && p.stepAttempt === 3 ? p : undefined;
    });
    await api.dispute(RUN, 'ada', 'Our policy sets it org-wide; the account inherits TLS 1.2.', { attempt: 3 });
    await expect.poll(() => item.locator('table.evidence-table caption').textContent(), { timeout: 30_000 }).toBe('storage-tls12 — validation attempt 3');

    // A skip link to a queue the filter hides shows every queue again.
    await page.locator('#queueFilter').selectOption('help');
    expect(await page.locator('#disputeQueue').isVisible()).toBe(false);
    await focusTop(page);
    await tabTo(page, 'Skip to disputed checks');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('disputeQueue');
    expect(await page.locator('#queueFilter').inputValue()).toBe('all');
    const reason = item.getByLabel(/Reason or comment/);
    await page.keyboard.press('Tab');
    expect(await isFocused(reason)).toBe(true);
    await tabTo(page, 'Mark passed');
    await page.keyboard.press('Enter');
    await expect.poll(() => item.locator('[role="alert"]').textContent()).toMatch(/Say why the check counts as passed/);
    expect(await isFocused(reason)).toBe(true);
    expect((await drivers.ada!.status()).position?.state).toBe('disputed');
    await page.keyboard.type('Org policy enforces TLS 1.2; checked with the learner.');
    await tabTo(page, 'Mark passed');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#feedback').textContent()).toMatch(/Marked Ada Lovelace's check passed/);
    await expect.poll(() => page.locator('#disputeList li[data-learner="ada"]').count(), { timeout: 20_000 }).toBe(0);
    await until('ada past the check', async () => ((await drivers.ada!.status()).position?.stepId !== 'impl-harden-check' ? true : undefined));

    const override = page.locator('#reportBody tr[data-learner="ada"][data-outcome="overridden"]');
    await override.waitFor({ timeout: 20_000 });
    expect(await override.textContent()).toMatch(/Marked passed check attempt 3 \(storage-tls12\).*instructor \(dashboard\).*Org policy enforces TLS 1\.2; checked with the learner\./);
    await expect.poll(() => page.locator('#reportSummary').textContent()).toMatch(/^4 decisions: 1 check marked passed, 1 re-run, 1 returned, 1 answer accepted/);
    // The decision filter shows the overrides alone.
    await page.locator('#reportFilter').selectOption('overridden');
    expect(await page.locator('#reportBody tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-learner')}:${r.getAttribute('data-outcome')}`))).toEqual(['ada:overridden']);
    await page.locator('#reportFilter').selectOption('all');
    expect(await page.locator('#reportBody tr[data-outcome]').count()).toBe(4);
    const record = (await drivers.ada!.status()).decisions.map((d) => d.decision);
    expect(record.filter((d) => d.kind === 'dispute').map((d) => `${d.outcome}@${d.kind === 'dispute' ? d.attempt : 0}`)).toEqual(['rechecked@1', 'returned@2', 'overridden@3']);
    expect(record).toContainEqual({ kind: 'dispute', stepId: 'impl-harden-check', attempt: 3, outcome: 'overridden', by: 'instructor (dashboard)', reason: 'Org policy enforces TLS 1.2; checked with the learner.', checkIds: ['storage-tls12'] });
  }, WALK);

  it('checks that failed the phase on their last attempt show their evidence in the failures queue and can be marked passed there', async () => {
    drivers.brian!.approveReviews = true;
    await drivers.brian!.walkTo('impl-harden');
    await setStorageMinimumTls(RUN, 'brian', 'TLS1_0');
    await api.done(RUN, 'brian', 'impl-harden');
    for (const attempt of [1, 2]) {
      await until(`brian's attempt ${attempt} to fail`, async () => {
        const p = (await drivers.brian!.status()).position;
        return p?.state === 'awaitingFix' && p.stepAttempt === attempt ? p : undefined;
      });
      await api.done(RUN, 'brian', 'impl-harden-check');
    }
    const item = page.locator('#failuresList li[data-learner="brian"]');
    const evidence = item.locator('table.evidence-table[data-check="storage-tls12"]');
    await evidence.waitFor({ timeout: 60_000 });
    expect(await evidence.locator('caption').textContent()).toBe('storage-tls12 — validation attempt 3');
    expect(await evidence.locator('tr.observed td').textContent()).toBe('"TLS1_0"');
    const pass = item.getByRole('button', { name: 'Mark passed' });
    await pass.click();
    await expect.poll(() => item.locator('[role="alert"]').textContent()).toMatch(/Say why the checks count as passed/);
    expect((await drivers.brian!.status()).position?.state).toBe('failed');
    await item.getByLabel(/Reason/).fill('The account inherits TLS 1.2 from policy.');
    await item.getByLabel(/Reason/).press('Tab');
    expect(await isFocused(pass)).toBe(true);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#feedback').textContent()).toMatch(/Marked Brian Kernighan's checks passed/);
    await until('brian past the check', async () => {
      const p = (await drivers.brian!.status()).position;
      return p && p.state !== 'failed' && p.stepId !== 'impl-harden-check' ? p : undefined;
    });
    await expect.poll(() => page.locator('#failuresList li[data-learner="brian"]').count(), { timeout: 20_000 }).toBe(0);
    const override = page.locator('#reportBody tr[data-learner="brian"][data-outcome="overridden"]');
    await override.waitFor({ timeout: 20_000 });
    expect(await override.textContent()).toMatch(/check attempt 3 \(storage-tls12\).*The account inherits TLS 1\.2 from policy\./);
  }, WALK);

  it('once the run has ended, the run report view keeps the override and gives the closing figures', async () => {
    await api.runCommand(RUN, 'end', { reason: 'decisions test over' });
    await expect.poll(() => page.locator('#reportFinal').textContent(), { timeout: 30_000 }).toMatch(/Run ended .*\(decisions test over\): \d of 3 learners completed/);
    await page.locator('#report').scrollIntoViewIfNeeded();
    expect(await page.locator('#reportBody tr[data-learner="ada"][data-outcome="overridden"]').count()).toBe(1);
    const report = (await api.runStatus(RUN)).report!;
    expect(report.decisions.map((d) => d.decision.outcome).sort()).toEqual(['accepted', 'overridden', 'overridden', 'rechecked', 'returned']);
    await browser.screenshot(page, 'dashboard-run-report');
  }, WALK);
});
