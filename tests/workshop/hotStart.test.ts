import { afterAll, beforeAll, expect, it } from 'vitest';
import { armClients } from '../../azure/armClients';
import { learnerResourceGroupName, TAGS } from '../../azure/environmentNames';
import { ApiCallError } from '../../cli/apiClient';
import type { HotStartView } from '../../contracts/messages';
import { LearnerDriver, until } from './learnerDriver';
import { startWorkshopStack, TEST_KEYS, type WorkshopStack } from './workshopStack';
import { startWorkshopCli } from './workshopCli';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Hot start through the real API on the local stack, with the ARM emulator's realistic (scaled) deployment
 * times: the pool deploys while nobody has left Requirements; a learner entering Implementation adopts their
 * ready environment, and one whose environment is still deploying waits for that deployment — no second
 * deployment either way (counted in the emulator); a learner beyond the pool deploys on demand; the run's end
 * tears down the environment nobody claimed.
 */
const RUN = 'hot';
const PARAMS = { onPremGatewayIp: '203.0.113.10' };
/** A VPN gateway in ~4 s. */
const FAST = { scale: 0.002 };
/** Holds every deployment (the emulator re-reads the scale when it changes). */
const HOLD = { scale: 1_000 };
let w: WorkshopStack;

beforeAll(async () => {
  w = await startWorkshopStack();
});
afterAll(async () => {
  await w?.stop();
});

const roster = (n: number) => ['name,email', ...Array.from({ length: n }, (_, i) => `Learner ${i + 1},l${i + 1}@example.com`)].join('\n');

async function refused(body: Record<string, unknown>): Promise<{ status: number; text: string }> {
  const err = await w.api.startRun({ scenario: 'hybrid', roster: roster(2), instructors: ['ian'], parameters: PARAMS, ...body } as never).then(
    () => undefined,
    (e: unknown) => e as ApiCallError,
  );
  expect(err, `a run with ${JSON.stringify(body)} was started`).toBeInstanceOf(ApiCallError);
  return { status: err!.status, text: JSON.stringify(err!.body) };
}

it('bad hotStart / startsAt values are refused 400 naming the field and what it takes; nothing starts', async () => {
  expect(await refused({ runId: 'bad1', hotStart: 1.5 })).toMatchObject({ status: 400, text: expect.stringMatching(/hotStart: hotStart is a share of the roster above 0 and at most 1.*got 1\.5/) });
  expect(await refused({ runId: 'bad2', hotStart: 'yes' })).toMatchObject({ status: 400, text: expect.stringMatching(/hotStart: got \\"yes\\"; hotStart is true/) });
  expect(await refused({ runId: 'bad3', hotStart: { poolSize: 0 } })).toMatchObject({ status: 400, text: expect.stringMatching(/hotStart.poolSize is a whole number/) });
  expect(await refused({ runId: 'bad4', hotStart: { poolSize: 5 } })).toMatchObject({ status: 400, text: expect.stringMatching(/poolSize 5 is more than the roster's 2 learners/) });
  expect(await refused({ runId: 'bad5', hotStart: { fraction: 0.5, poolSize: 1 } })).toMatchObject({ status: 400, text: expect.stringMatching(/fraction or poolSize, not both/) });
  expect(await refused({ runId: 'bad6', hotStart: true, startsAt: 'tomorrow 9am' })).toMatchObject({ status: 400, text: expect.stringMatching(/startsAt: startsAt is an ISO date-time/) });
  expect(await refused({ runId: 'bad7', hotStart: true, startsAt: '2020-01-01T09:00:00Z' })).toMatchObject({ status: 400, text: expect.stringMatching(/startsAt 2020-01-01T09:00:00Z is in the past/) });
  for (const id of ['bad1', 'bad2', 'bad3', 'bad4', 'bad5', 'bad6', 'bad7']) await expect(w.api.runStatus(id)).rejects.toMatchObject({ status: 404 });
});

it('a scheduled session: the pool starts its lead time (from the pack\'s slowest chain) before startsAt, the journeys at startsAt', async () => {
  const startsAt = new Date(Date.now() + 6 * 3_600_000).toISOString();
  const started = await w.api.startRun({ runId: 'later', scenario: 'hybrid', roster: roster(25), instructors: ['ian'], parameters: PARAMS, hotStart: 0.7, startsAt });
  const hs = started.hotStart!;
  // 70 % of 25 rounds up to 18: two waves of 10 deployments, each the gateway chain (~37 min) with a 25 % margin.
  expect(hs.poolSize).toBe(18);
  expect(hs.stepId).toBe('impl-foundation');
  expect(hs.deploymentMinutes).toBeGreaterThan(35);
  expect(hs.leadMinutes).toBe(Math.ceil(2 * hs.deploymentMinutes * 1.25));
  expect(Date.parse(startsAt) - Date.parse(hs.provisionAt)).toBe(hs.leadMinutes * 60_000);
  const view = await until('the scheduled run\'s view', async () => (await w.api.runStatus('later')).view ?? undefined);
  expect(view.started).toBe(0); // nobody starts before the session
  expect(view.hotStart).toMatchObject({ size: 0, provisionAt: hs.provisionAt, startsAt: new Date(startsAt).toISOString() });
  await w.api.runCommand('later', 'end', { reason: 'test over' });
});

it('workshop run start --hot-start[=fraction] --starts-at says when the pool deploys; a bad fraction is refused before anything starts', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hot-'));
  const file = path.join(dir, 'roster.csv');
  writeFileSync(file, roster(10));
  const base = ['run', 'start', '--url', w.url, '--scenario', 'hybrid', '--roster', file, '--param', 'onPremGatewayIp=203.0.113.10'];
  const bad = await startWorkshopCli([...base, '--run-id', 'clibad', '--hot-start=1.7']).done;
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/--hot-start takes a share of the roster above 0 and at most 1.*got "1.7"/);
  const startsAt = new Date(Date.now() + 3 * 3_600_000).toISOString();
  const ok = await startWorkshopCli([...base, '--run-id', 'cliok', '--hot-start=0.7', '--starts-at', startsAt]).done;
  expect(ok.stderr).toBe('');
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/The session starts .*; learners get their first prompt then\./);
  expect(ok.stdout).toMatch(/Hot start: 7 environments \(step "impl-foundation"\) deploy from .* \(lead 47 min; one deployment ~37\.3 min\)/);
  const status = await startWorkshopCli(['run', 'status', 'cliok', '--url', w.url]).done;
  expect(status.stdout).toMatch(/Hot start: the pool starts deploying at .* \(the session starts/);
  await w.api.runCommand('cliok', 'end', { reason: 'test over' });
});

it('learners entering Implementation adopt their pool environment (ready, or still deploying) with no second deployment; unclaimed ones go at the run\'s end', async () => {
  w.arm.setDeploymentTimes(HOLD);
  w.arm.resetStats();
  const started = await w.api.startRun({ runId: RUN, scenario: 'hybrid', roster: roster(4), instructors: ['ian'], parameters: PARAMS, hotStart: { poolSize: 3 } });
  const [l1, l2, l3, l4] = started.learners.map((l) => l.learnerId);
  const pool = async (): Promise<HotStartView> => (await w.api.runStatus(RUN)).view!.hotStart!;
  const row = async (id: string) => (await pool()).environments.find((e) => e.learnerId === id);

  // The pool deploys at run start, through the scheduler, while everyone is still in Requirements.
  await until('three pool deployments running', async () => (w.arm.stats.deploymentsStarted === 3 ? true : undefined), 60_000);
  expect((await pool()).deploying).toBe(3);

  // l2 reaches Implementation while its environment is still deploying: it waits for that one.
  const d2 = await LearnerDriver.create(w.api, RUN, l2!, 'hybrid');
  await d2.walkTo('impl-foundation', 'provisioning', 120_000);
  await until('l2 claimed a deploying environment', async () => ((await row(l2!))?.claimedFrom === 'deploying' ? true : undefined));
  w.arm.setDeploymentTimes(FAST);
  await d2.walkTo('impl-connectivity', 'awaitingLearner', 120_000);
  await until('the pool ready', async () => ((await pool()).ready === 2 ? true : undefined), 60_000);

  // l1 enters Implementation after its environment is ready: adopted as it is.
  const d1 = await LearnerDriver.create(w.api, RUN, l1!, 'hybrid');
  await d1.walkTo('impl-connectivity', 'awaitingLearner', 120_000);
  expect(await row(l1!)).toMatchObject({ status: 'claimed', claimedFrom: 'ready' });
  // l4 is beyond the pool: deployed on demand, as without hot start.
  const d4 = await LearnerDriver.create(w.api, RUN, l4!, 'hybrid');
  await d4.walkTo('impl-connectivity', 'awaitingLearner', 120_000);
  expect(await row(l4!)).toBeUndefined();
  expect(w.arm.stats.deploymentsStarted, 'three pool deployments and l4\'s own; none for l1 or l2').toBe(4);

  // Slots of the scheduler: the pool's three and l4's; l1 (ready) and l2 (waited for its pool deployment) took none.
  expect((await w.api.runStatus(RUN)).view!.provisioning.succeeded).toBe(4);
  const before = await pool();
  expect(before).toMatchObject({ size: 3, claimed: 2, claimedReady: 1, ready: 1 });
  expect(before.idleUsdPerHour).toBeGreaterThan(0);
  // The dashboard's read model carries the pool's counts for its hot-start panel.
  const dash = (await (await fetch(`${w.url}/api/dashboard/runs/${RUN}`, { headers: { 'x-api-key': TEST_KEYS.instructor } })).json()) as { hotStart?: Record<string, unknown> };
  expect(dash.hotStart).toMatchObject({ size: 3, ready: 1, claimed: 2, claimedReady: 1, deploying: 0 });
  // The unclaimed environment is the run's (the cost guard and the sweeper count it by these tags).
  const rg3 = await armClients().resources.resourceGroups.get(learnerResourceGroupName(RUN, l3!));
  expect(rg3.tags).toMatchObject({ [TAGS.run]: RUN, [TAGS.learner]: l3 });

  await w.api.runCommand(RUN, 'end', { reason: 'time is up' });
  await until('the run completed', async () => ((await w.api.runStatus(RUN)).runtimeStatus === 'Completed' ? true : undefined), 120_000);
  const after = await pool();
  expect(after.environments.find((e) => e.learnerId === l3)).toMatchObject({ status: 'tornDown' });
  expect(after.idleUsdPerHour).toBe(0);
  expect((await armClients().resources.resourceGroups.checkExistence(learnerResourceGroupName(RUN, l3!))).body).toBe(false);
}, 420_000);

it('a pool larger than the scheduler\'s slots deploys through them: never more deployments at once than slots, the rest taken into the pool as slots free', async () => {
  w.arm.setDeploymentTimes(HOLD);
  w.arm.resetStats();
  await w.api.startRun({ runId: 'wide', scenario: 'hybrid', roster: roster(12), instructors: ['ian'], parameters: PARAMS, hotStart: true });
  const view = async () => (await w.api.runStatus('wide')).view!;
  await until('ten pool deployments running', async () => (w.arm.stats.deploymentsStarted === 10 ? true : undefined), 90_000);
  // The cohort took ten learners into the pool (one per slot), not the roster: the other two have no row yet.
  const held = await view();
  expect(held.provisioning.deploying).toBe(10);
  expect(held.hotStart).toMatchObject({ size: 10, deploying: 10 });
  w.arm.setDeploymentTimes(FAST);
  await until('the whole pool ready', async () => ((await view()).hotStart!.ready === 12 ? true : undefined), 180_000);
  expect(w.arm.stats.deploymentsStarted).toBe(12);
  expect(w.arm.stats.maxConcurrentDeployments).toBeLessThanOrEqual(10);
  await w.api.runCommand('wide', 'end', { reason: 'test over' });
}, 300_000);
