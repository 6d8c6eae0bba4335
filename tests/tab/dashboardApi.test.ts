import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkshopApi } from '../../cli/apiClient';
import { learnerToken } from '../../http/apiAuth';
import { functions } from '../../registry';
import type { DashboardRun } from '../../tab/dashboardTypes';
import { startStack, type TestStack } from '../helpers/stack';
import { LearnerDriver } from '../workshop/learnerDriver';

/**
 * The dashboard's HTTP surface on the local host (the same functions Azure serves): the page and
 * its bundled script, and the run read model with its key check and conditional GET.
 */
const KEYS = { instructor: 'dashboard-test-instructor-key-0123', learner: 'dashboard-test-learner-secret-0123' };
let stack: TestStack;
let url: string;
let api: WorkshopApi;
let runId: string;

beforeAll(async () => {
  process.env.INSTRUCTOR_API_KEY = KEYS.instructor;
  process.env.LEARNER_API_KEY = KEYS.learner;
  process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
  // No learner subscription: the cost panel says why it has nothing to show.
  for (const k of ['LEARNER_SUBSCRIPTION_ID', 'ARM_SUBSCRIPTION_ID', 'ARM_ENDPOINT', 'ARM_TOKEN', 'ARM_CA_CERT']) delete process.env[k];
  stack = await startStack(functions, { maxActivities: 16, maxOrchestrators: 16 });
  url = stack.host.url;
  api = new WorkshopApi({ url, instructorKey: KEYS.instructor });
  const started = await api.startRun({ scenario: 'lakehouse', roster: 'name,email\nAda Lovelace,ada@contoso.example\nAlan Turing,alan@contoso.example', instructors: ['ines@contoso.example'], runId: 'dash-api' });
  runId = started.runId;
});
afterAll(async () => {
  await stack?.stop();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers, redirect: 'manual' });

describe('the dashboard page', () => {
  it('is served at /api/tab/ with a CSP that lets only Teams frame it; /api/tab redirects there', async () => {
    const bare = await get('/api/tab?x=1');
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/api/tab/?x=1');
    const page = await get('/api/tab/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).toMatch(/frame-ancestors 'self' https:\/\/teams\.microsoft\.com/);
    const html = await page.text();
    expect(html).toContain('<script src="dashboard.js" defer></script>');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="(https?:)?\/\//); // nothing from a CDN
    expect(html).toMatch(/<label for="keyInput">/);
    // The team tab's configurationUrl (teams/manifest.json) is the same page in its configuration mode.
    const configure = await get('/api/tab/configure');
    expect(configure.status).toBe(200);
    expect(await configure.text()).toContain('id="configPanel"');
  });

  it('serves the bundled script (teams-js inside, no CDN) with an ETag, and 304 when unchanged', async () => {
    const js = await get('/api/tab/dashboard.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    const text = await js.text();
    expect(text).toMatch(/No Parent window found/); // @microsoft/teams-js is bundled in
    const again = await get('/api/tab/dashboard.js', { 'if-none-match': js.headers.get('etag')! });
    expect(again.status).toBe(304);
    expect((await get('/api/tab/dashboard.css')).status).toBe(200);
    const missing = await get('/api/tab/secrets.json');
    expect(missing.status).toBe(404);
  });
});

describe('the run read model, GET /api/dashboard/runs/{runId}', () => {
  it('needs the instructor key: none is 401, a learner token 403, an unknown run 404', async () => {
    expect((await get(`/api/dashboard/runs/${runId}`)).status).toBe(401);
    const learner = await get(`/api/dashboard/runs/${runId}`, { 'x-api-key': learnerToken(KEYS.learner, runId, 'ada') });
    expect(learner.status).toBe(403);
    const unknown = await get('/api/dashboard/runs/no-such-run', { 'x-api-key': KEYS.instructor });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/no run "no-such-run"/);
  });

  it('shows every learner at the first step of the first phase, with titles, timebox and grid cells', async () => {
    let run: DashboardRun | undefined;
    for (let i = 0; i < 200; i++) {
      const res = await get(`/api/dashboard/runs/${runId}`, { 'x-api-key': KEYS.instructor });
      expect(res.status).toBe(200);
      run = (await res.json()) as DashboardRun;
      if (run.learners.every((l) => l.stepId === 'req-business-requirements' && l.state === 'working' && l.timeboxMs)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(run!.scenario).toEqual({ id: 'lakehouse', title: 'Enterprise Data Lakehouse' });
    expect(run!.phases.map((p) => p.id)).toEqual(['requirements', 'design', 'implementation', 'validation']);
    const ada = run!.learners.find((l) => l.email === 'ada@contoso.example')!;
    expect(ada).toMatchObject({ phase: 'requirements', state: 'working', phaseState: 'awaitingLearner', stepTitle: 'Business requirements', stepNumber: 1, steps: 3, timeboxMs: 600_000 });
    expect(ada.cells.map((c) => c.state)).toEqual(['current', 'notStarted', 'notStarted', 'notStarted']);
    expect(run!.cost).toEqual({ available: false, reason: expect.stringMatching(/LEARNER_SUBSCRIPTION_ID/) });
  });

  it('answers 304 to a poll while nothing changed, and 200 once the learner moves', async () => {
    const first = await get(`/api/dashboard/runs/${runId}`, { 'x-api-key': KEYS.instructor });
    const etag = first.headers.get('etag')!;
    const same = await get(`/api/dashboard/runs/${runId}`, { 'x-api-key': KEYS.instructor, 'if-none-match': etag });
    expect(same.status).toBe(304);
    const ada = (await api.runStatus(runId)).learners.find((l) => l.email === 'ada@contoso.example')!;
    expect(await (await LearnerDriver.create(api, runId, ada.learnerId, 'lakehouse')).actOnce()).toBe('req-business-requirements');
    let changed: Response | undefined;
    for (let i = 0; i < 100; i++) {
      changed = await get(`/api/dashboard/runs/${runId}`, { 'x-api-key': KEYS.instructor, 'if-none-match': etag });
      if (changed.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(changed!.status).toBe(200);
  });

  it('with ?since= the ETag it holds, a poll gets only the learners that changed since; an unknown one the full answer', async () => {
    const first = await get(`/api/dashboard/runs/${runId}`, { 'x-api-key': KEYS.instructor });
    const full = (await first.json()) as DashboardRun;
    expect(full.delta).toBeUndefined();
    expect(full.learners).toHaveLength(2);
    const etag = first.headers.get('etag')!;
    const alan = full.learners.find((l) => l.email === 'alan@contoso.example')!;
    expect(await (await LearnerDriver.create(api, runId, alan.learnerId, 'lakehouse')).actOnce()).toBe('req-business-requirements');
    let delta: DashboardRun | undefined;
    for (let i = 0; i < 100 && !delta?.learners.length; i++) {
      const res = await get(`/api/dashboard/runs/${runId}?since=${encodeURIComponent(etag)}`, { 'x-api-key': KEYS.instructor });
      expect(res.status).toBe(200);
      delta = (await res.json()) as DashboardRun;
      if (!delta.learners.length) await new Promise((r) => setTimeout(r, 100));
    }
    // Ada did not move meanwhile: only Alan's row travels, with the run's small parts whole.
    expect(delta!.delta).toEqual({ since: etag, removed: [], total: 2 });
    expect(delta!.learners.map((l) => l.learnerId)).toEqual([alan.learnerId]);
    expect(delta!.learners[0].stepId).toBe('req-technical-constraints');
    expect(delta!.phases).toHaveLength(4);
    const unknown = await get(`/api/dashboard/runs/${runId}?since=${encodeURIComponent('"not-a-version-we-answered"')}`, { 'x-api-key': KEYS.instructor });
    const whole = (await unknown.json()) as DashboardRun;
    expect(whole.delta).toBeUndefined();
    expect(whole.learners).toHaveLength(2);
  });

  it('polls of a run that arrive together share one read of the store', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(`/api/dashboard/runs/${runId}`, { 'x-api-key': KEYS.instructor }).then((r) => r.json() as Promise<DashboardRun>)));
    expect(new Set(answers.map((a) => a.serverTime)).size).toBe(1);
  });
});
