import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { parkEnvironment, restoreEnvironment } from '../../activities/parkEnvironment';
import { ApiCallError, WorkshopApi, type LearnerStatus } from '../../cli/apiClient';
import { RehearsalArm } from '../../cli/rehearsalArm';
import type { QuestionStep } from '../../scenarios/schema';
import { answerFor, LearnerDriver, until } from './learnerDriver';
import { runWorkshopCli } from './workshopCli';
import { startWorkshopStack, TEST_KEYS, type WorkshopStack } from './workshopStack';

/**
 * A two-day rehearsal (issue 15 item 5): five learners of the drill pack at different places at 17:00 — one in
 * Requirements, one waiting for the architecture review, one in Implementation with their own work done in their
 * environment, one whose check is running, one whose deployment is running — the instructor parks the run through
 * the API, and:
 *  - every environment is gone in the ARM emulator and the dashboard's cost rate is zero;
 *  - the night passes (longer than any learner's remaining timebox): nobody fails, nobody moves;
 *  - learner events are refused with 409 while parked;
 * the instructor resumes the run at 09:00:
 *  - every saved environment is restored through the cohort's deployment scheduler, the learner's own work included;
 *  - every learner is at the step they parked at (the check and the deployment that were running run again), and
 *    everyone finishes the workshop.
 */
const packsDir = path.join(__dirname, 'packs');
const RUN = 'twoday';
/** The drill's timeboxes at this scale: 10 min = 18 s; the longest a parked learner had left is 20 min = 36 s. */
const TIME_SCALE = 0.03;
const NIGHT_MS = 45_000;
const LEARNERS = ['ana', 'ben', 'cy', 'dee', 'eve'] as const;
let w: WorkshopStack;
let arm: RehearsalArm;
const drivers: Record<string, LearnerDriver> = {};

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir });
  arm = new RehearsalArm({ url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId });
  const roster = ['name,email', ...LEARNERS.map((l) => `${l[0]!.toUpperCase()}${l.slice(1)} Test,${l}@example.com`)].join('\n');
  await w.api.startRun({ runId: RUN, scenario: 'drill', roster, instructors: ['ian'], timeScale: TIME_SCALE });
  for (const l of LEARNERS) drivers[l] = await LearnerDriver.create(w.api, RUN, l, 'drill');
});
afterAll(async () => {
  await w?.stop();
});

const rg = (l: string) => learnerResourceGroupName(RUN, l);
const where = (s: LearnerStatus) => ({ phase: s.position?.phase, stepId: s.position?.stepId, state: s.position?.state });

async function storageAccountOf(learner: string): Promise<string> {
  const ids: string[] = [];
  for await (const r of arm.client.resources.listByResourceGroup(rg(learner))) if (r.type === 'Microsoft.Storage/storageAccounts') ids.push(r.id!);
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

/** The learner's own Implementation work: a tag on the account and a container in it, through ARM. */
async function ownWork(learner: string): Promise<{ account: string; container: string }> {
  const account = await storageAccountOf(learner);
  const current = await arm.client.resources.getById(account, '2023-05-01');
  await arm.client.resources.updateById(account, '2023-05-01', { tags: { ...(current.tags ?? {}), owner: learner } }).pollUntilDone();
  const container = `${account}/blobServices/default/containers/landing`;
  await arm.client.resources.createOrUpdateById(container, '2023-05-01', { properties: { publicAccess: 'None', metadata: { by: learner } } }).pollUntilDone();
  return { account, container };
}

async function dashboardCost(): Promise<{ burnUsdPerHour: number; running: number; environments: number }> {
  const res = await fetch(`${w.url}/api/dashboard/runs/${RUN}`, { headers: { 'x-api-key': TEST_KEYS.instructor } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { cost: { available: boolean; burnUsdPerHour: number; running: number; environments: number; reason?: string } };
  expect(body.cost.available, body.cost.reason).toBe(true);
  return body.cost;
}

async function messagesOf(learner: string, kind: string): Promise<number> {
  return (await w.api.learnerMessages(RUN, learner)).messages.filter((m) => m.kind === kind).length;
}

it('a two-day rehearsal: cost stops overnight, every learner resumes at their step and finishes', { timeout: 420_000 }, async () => {
  const d = drivers;
  // Day one, 17:00.
  await Promise.all([d.ana!.walkTo('req-drivers'), d.ben!.walkTo('design-review', 'awaitingReview'), d.cy!.walkTo('impl-harden'), d.dee!.walkTo('impl-harden')]);
  d.ben!.approveReviews = false;
  const cyWork = await ownWork('cy');
  // eve's deployment is held running; dee's second check is held validating (ARM answers everything 429 meanwhile).
  await d.eve!.walkTo('design-review', 'awaitingReview');
  w.arm.setFaults({ slowDeployment: { perResourceMs: 3_600_000 } });
  await w.api.review(RUN, 'eve', 'approve', 'ok');
  await d.eve!.at('impl-deploy', 'provisioning');
  await until('eve\'s deployment to run', async () => w.arm.stats.activeDeployments > 0);
  w.arm.setFaults({ slowDeployment: { perResourceMs: 3_600_000 }, throttle: { fraction: 1, retryAfterSeconds: 1, scope: 'all' } });
  await w.api.done(RUN, 'dee', 'impl-harden');
  await d.dee!.at('impl-harden-check', 'validating');
  const before: Record<string, ReturnType<typeof where>> = {};
  for (const l of LEARNERS) before[l] = where(await d[l]!.status());
  expect(before).toEqual({
    ana: { phase: 'requirements', stepId: 'req-drivers', state: 'awaitingLearner' },
    ben: { phase: 'design', stepId: 'design-review', state: 'awaitingReview' },
    cy: { phase: 'implementation', stepId: 'impl-harden', state: 'awaitingLearner' },
    dee: { phase: 'implementation', stepId: 'impl-harden-check', state: 'validating' },
    eve: { phase: 'implementation', stepId: 'impl-deploy', state: 'provisioning' },
  });
  const provisionedBefore = (await w.api.runStatus(RUN)).view?.provisioning.succeeded ?? 0;

  // Park.
  const parkT0 = Date.now();
  const parked = await w.api.runCommand(RUN, 'park', { by: 'ian' });
  expect(parked).toMatchObject({ accepted: 'park', seq: 1 });
  // Every phase has taken the park (the learner is told) before ARM answers again: the running check's result is then dropped.
  await until('every learner to be told the run is parked', async () => (await Promise.all(LEARNERS.map((l) => messagesOf(l, 'parked')))).every((n) => n === 1));
  w.arm.setFaults({});
  const parking = await until('every environment saved and torn down', async () => {
    const r = await w.api.parking(RUN);
    return r.learners.length === LEARNERS.length && r.learners.every((l) => l.state === 'parked') ? r : undefined;
  }, 120_000);
  await until('every learner group gone in the emulator', async () => (await Promise.all(LEARNERS.map((l) => arm.groupExists(rg(l))))).every((e) => !e), 120_000);
  const parkMs = Date.now() - parkT0;
  const cost = await until('the dashboard to show no running cost', async () => {
    const c = await dashboardCost();
    return c.burnUsdPerHour === 0 && c.running === 0 ? c : undefined;
  }, 30_000);
  expect(cost).toMatchObject({ burnUsdPerHour: 0, running: 0, environments: 0 });
  const saved = parking.learners.filter((l) => l.saved).map((l) => l.learnerId).sort();
  // cy and dee had environments; eve's was half-built (saved as far as it went, or not at all); ana and ben had none.
  expect(saved).toEqual(expect.arrayContaining(['cy', 'dee']));
  expect(saved).not.toContain('ana');
  expect(saved).not.toContain('ben');
  // Learners cannot act on a parked run: 409 with what to do, nothing changed.
  const driversStep = d.ana!.pack.phases[0]!.steps.find((x) => x.id === 'req-drivers')!;
  const refused = await w.api.answer(RUN, 'ana', answerFor(d.ana!.pack, driversStep as QuestionStep), 'req-drivers').catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(ApiCallError);
  expect((refused as ApiCallError).status).toBe(409);
  expect((refused as ApiCallError).message).toMatch(/parked for the night.*once the instructor resumes the run/);
  // A second park is refused too.
  const again = await w.api.runCommand(RUN, 'park').catch((e: unknown) => e);
  expect((again as ApiCallError).status).toBe(409);
  expect((again as ApiCallError).message).toMatch(/already parked.*unpark/);

  // The night: longer than any timebox anyone had left. Nobody fails, nobody moves.
  await until('the night to pass', async () => Date.now() - parkT0 > NIGHT_MS, NIGHT_MS + 60_000, 1_000);
  for (const l of LEARNERS) expect(where(await d[l]!.status()), l).toEqual(before[l]);
  const failures = (await w.api.runStatus(RUN)).learners.filter((l) => l.state === 'failed' || l.state === 'stuck');
  expect(failures).toEqual([]);
  expect(await arm.groupExists(rg('cy'))).toBe(false);

  // Morning, 09:00: resume, with Azure's deployment times at 1/100.
  w.arm.setDeploymentTimes({ scale: 0.01 });
  const unparkT0 = Date.now();
  expect(await w.api.runCommand(RUN, 'unpark', { by: 'ian' })).toMatchObject({ accepted: 'unpark', seq: 1 });
  const restored = await until('every saved environment restored', async () => {
    const r = await w.api.parking(RUN);
    return r.learners.filter((l) => l.saved).every((l) => l.state === 'restored') ? r : undefined;
  }, 180_000);
  await until('eve\'s deployment to run again and finish', async () => (await d.eve!.status()).position?.stepId === 'impl-check' || (await d.eve!.status()).position?.stepId === 'impl-harden', 120_000);
  const restoreWallMs = Date.now() - unparkT0;
  // Through the cohort's scheduler: each restore took a deployment slot (the cohort counts it).
  const provisionedAfter = (await w.api.runStatus(RUN)).view?.provisioning.succeeded ?? 0;
  // One slot per learner with something to bring back: a saved environment, or eve's deployment (in the same slot as her restore).
  const slots = new Set([...restored.learners.filter((l) => l.saved).map((l) => l.learnerId), 'eve']);
  expect(provisionedAfter - provisionedBefore).toBe(slots.size);

  // cy's own work is back: the tag on the account and the container.
  const account = await arm.client.resources.getById(cyWork.account, '2023-05-01');
  expect(account.tags?.owner).toBe('cy');
  const container = await arm.client.resources.getById(cyWork.container, '2023-05-01');
  expect((container.properties as { metadata?: Record<string, string> }).metadata).toEqual({ by: 'cy' });
  // Everyone is where they were; dee's interrupted check ran again and passed (its attempt was not used up).
  expect(where(await d.ana!.status())).toEqual(before.ana);
  expect(where(await d.ben!.status())).toEqual(before.ben);
  expect(where(await d.cy!.status())).toEqual(before.cy);
  const dee = await until('dee\'s check to run again', async () => {
    const s = await d.dee!.status();
    return s.position?.stepId !== 'impl-harden-check' ? s : undefined;
  });
  expect(dee.position).toMatchObject({ phase: 'validation', stepId: 'val-smoke', state: 'awaitingLearner' });
  for (const l of LEARNERS) expect(await messagesOf(l, 'unparked'), l).toBe(1);

  d.ben!.approveReviews = true;
  await Promise.all(LEARNERS.map((l) => d[l]!.finish(180_000)));
  // After the restores, only ana's and ben's own Implementation deployments took a slot: a phase started after the
  // unpark does not ask for a restore it does not need.
  const provisionedEnd = (await w.api.runStatus(RUN)).view?.provisioning.succeeded ?? 0;
  expect(provisionedEnd - provisionedAfter).toBe(2);
  const report = await w.api.parking(RUN);
  console.log(
    `two-day rehearsal: ${LEARNERS.length} learners; parked in ${(parkMs / 1000).toFixed(1)} s — environments saved ${report.environments.saved} (${report.environments.resourcesSaved} resources), ` +
      `torn down ${report.environments.tornDown}, running cost overnight $${cost.burnUsdPerHour}/h; restored ${report.environments.restored} ` +
      `(slowest ${(report.environments.restoreMsMax / 1000).toFixed(1)} s, every learner back at work ${(restoreWallMs / 1000).toFixed(1)} s after the unpark, ARM deployment times x0.01)`,
  );
});

it('park and unpark survive a host crash right after they were accepted, and each is idempotent', { timeout: 300_000 }, async () => {
  const RUN2 = 'crashnight';
  await w.api.startRun({ runId: RUN2, scenario: 'drill', roster: 'name,email\nGus Test,gus@example.com\nHal Test,hal@example.com\n', instructors: ['ian'] });
  const gus = await LearnerDriver.create(w.api, RUN2, 'gus', 'drill');
  const hal = await LearnerDriver.create(w.api, RUN2, 'hal', 'drill');
  await Promise.all([gus.walkTo('impl-harden'), hal.walkTo('req-drivers')]);
  const group = learnerResourceGroupName(RUN2, 'gus');
  const ids: string[] = [];
  for await (const r of arm.client.resources.listByResourceGroup(group)) ids.push(r.id!);
  await arm.client.resources.updateById(ids[0]!, '2023-05-01', { tags: { owner: 'gus', 'workshop-pack': 'drill' } }).pollUntilDone();

  // Parked with the CLI; the host dies right after the park was accepted: the next host carries it out.
  const cli = await runWorkshopCli(['--url', w.stack.host.url, 'run', 'park', RUN2, '--by', 'ian']);
  expect(cli.stderr).toBe('');
  expect(cli.code).toBe(0);
  expect(cli.stdout).toMatch(/Parking run "crashnight"/);
  await w.stack.restart();
  let api = new WorkshopApi({ url: w.stack.host.url, instructorKey: TEST_KEYS.instructor });
  await until('gus and hal parked after the crash', async () => {
    const r = await api.parking(RUN2);
    return r.learners.length === 2 && r.learners.every((l) => l.state === 'parked') ? r : undefined;
  }, 120_000);
  expect(await arm.groupExists(group)).toBe(false);
  // Parking again (a retried activity) keeps the saved export and deletes nothing more.
  expect(await parkEnvironment({ runId: RUN2, learnerId: 'gus', seq: 1 })).toMatchObject({ saved: true, tornDown: false });
  expect((await api.parking(RUN2)).learners.find((l) => l.learnerId === 'gus')).toMatchObject({ state: 'parked', saved: true });

  // The host dies right after the unpark was accepted.
  await api.runCommand(RUN2, 'unpark', { by: 'ian' });
  await w.stack.restart();
  api = new WorkshopApi({ url: w.stack.host.url, instructorKey: TEST_KEYS.instructor });
  await until('gus restored after the crash', async () => (await api.parking(RUN2)).learners.find((l) => l.learnerId === 'gus')?.state === 'restored', 120_000);
  expect((await arm.client.resources.getById(ids[0]!, '2023-05-01')).tags?.owner).toBe('gus');
  // Restoring again (a retried activity) deploys nothing.
  const started = w.arm.stats.deploymentsStarted;
  expect(await restoreEnvironment({ runId: RUN2, learnerId: 'gus', packId: 'drill', idempotencyKey: 'x', seq: 1 })).toMatchObject({ restored: true });
  expect(w.arm.stats.deploymentsStarted).toBe(started);
  // Unpark twice: refused, with what to do.
  const again = await api.runCommand(RUN2, 'unpark').catch((e: unknown) => e);
  expect((again as ApiCallError).status).toBe(409);
  expect((again as ApiCallError).message).toMatch(/is not parked.*park it first/);
  const figures = await runWorkshopCli(['--url', w.stack.host.url, 'run', 'parking', RUN2]);
  expect(figures.code).toBe(0);
  expect(figures.stdout).toMatch(/environments saved 1 \(\d+ resources\), torn down 1, restored 1/);
  expect(figures.stdout).toMatch(/gus +restored +saved, \d+ resources, restored in/);
  expect(figures.stdout).toMatch(/hal +resumed +nothing to save/);
  const refusedCli = await runWorkshopCli(['--url', w.stack.host.url, 'run', 'unpark', RUN2]);
  expect(refusedCli.code).toBe(1);
  expect(refusedCli.stderr).toMatch(/is not parked.*park it first/);
  for (const d of [gus, hal]) {
    const driver = await LearnerDriver.create(api, RUN2, d.learnerId, 'drill');
    await driver.finish(120_000);
  }
});

it('bad input: an ended run, a paused run, an unknown run, a bad body and a learner token are refused with what to do; nothing changes', { timeout: 120_000 }, async () => {
  const api = new WorkshopApi({ url: w.stack.host.url, instructorKey: TEST_KEYS.instructor });
  const refusal = async (call: Promise<unknown>): Promise<ApiCallError> => {
    const e = await call.catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ApiCallError);
    return e as ApiCallError;
  };
  const unknown = await refusal(api.runCommand('no-such-run', 'park'));
  expect(unknown.status).toBe(404);

  const start = await api.startRun({ runId: 'badpark', scenario: 'drill', roster: 'name,email\nIvy Test,ivy@example.com\n', instructors: ['ian'] });
  const body = await refusal(api.call('POST', 'runs/badpark/park', { by: 'ian', mode: 'sleep' }, TEST_KEYS.instructor));
  expect(body.status).toBe(400);
  expect(body.message).toMatch(/mode/);
  const learner = await refusal(api.call('POST', 'runs/badpark/park', {}, start.learners[0]!.token));
  expect(learner.status).toBe(403);
  await api.runCommand('badpark', 'pause');
  await until('the run to show paused', async () => (await api.runStatus('badpark')).view?.paused === true);
  const paused = await refusal(api.runCommand('badpark', 'park'));
  expect(paused.status).toBe(409);
  expect(paused.message).toMatch(/is paused; resume it first \(POST \/api\/runs\/badpark\/resume\), then park it/);
  expect((await api.parking('badpark')).parking).toBeNull();
  await api.runCommand('badpark', 'resume');
  await api.runCommand('badpark', 'end', { reason: 'test over' });
  await until('the run to show it ended', async () => {
    const r = await api.runStatus('badpark');
    return r.view?.ended || r.runtimeStatus === 'Completed';
  });
  const over = await refusal(api.runCommand('badpark', 'park'));
  expect(over.status).toBe(409);
  expect(over.message).toMatch(/has ended|is Completed/);
  expect((await api.parking('badpark')).parking).toBeNull();
});
