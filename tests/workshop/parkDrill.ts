/**
 * The overnight drill (issue 15 item 5, at a size): N learners of the drill pack, most of them in Implementation with
 * an environment, are parked and resumed on the local stack with Azure's deployment times scaled; prints how many
 * environments were saved, torn down and restored, the restore wall time and how many deployments ran at once while
 * restoring (the cohort's scheduler admits 10 at a time: no burst). Not part of `npm test` (it takes minutes):
 *
 *   nice npx tsx tests/workshop/parkDrill.ts [--learners 40] [--arm-scale 0.1]
 *
 * Exits 1 if a learner is not back at their step or an environment was not restored.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { RehearsalArm } from '../../cli/rehearsalArm';
import { LearnerDriver, until } from './learnerDriver';
import { startWorkshopStack } from './workshopStack';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { learners: { type: 'string', default: '40' }, 'arm-scale': { type: 'string', default: '0.1' } } });
  const learners = Number(values.learners);
  const scale = Number(values['arm-scale']);
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`;
  const say = (line: string) => process.stdout.write(`${at()}  ${line}\n`);
  const w = await startWorkshopStack({ packsDir: path.join(__dirname, 'packs'), maxActivities: 32 });
  const arm = new RehearsalArm({ url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId });
  const runId = `night-${Date.now().toString(36)}`;
  const ids = Array.from({ length: learners }, (_, i) => `l${String(i + 1).padStart(3, '0')}`);
  await w.api.startRun({ runId, scenario: 'drill', roster: ['learnerId,name,email', ...ids.map((id) => `${id},Learner ${id},${id}@example.com`)].join('\n'), instructors: ['ian'], batchSize: 50 });
  // Three in four reach Implementation (an environment), the others stay in Requirements.
  const target = (i: number) => (i % 4 === 3 ? 'req-drivers' : 'impl-harden');
  const drivers = await Promise.all(ids.map((id) => LearnerDriver.create(w.api, runId, id, 'drill')));
  await Promise.all(drivers.map((d, i) => d.walkTo(target(i), 'awaitingLearner', 600_000)));
  say(`${learners} learners at 17:00: ${ids.filter((_, i) => target(i) === 'impl-harden').length} in Implementation with an environment, the rest in Requirements`);

  const parkT0 = Date.now();
  await w.api.runCommand(runId, 'park', { by: 'drill' });
  await until('every learner parked', async () => {
    const r = await w.api.parking(runId);
    return r.learners.length === learners && r.learners.every((l) => l.state === 'parked');
  }, 600_000, 500);
  const left = (await Promise.all(ids.map((id) => arm.groupExists(learnerResourceGroupName(runId, id))))).filter(Boolean).length;
  say(`parked in ${((Date.now() - parkT0) / 1000).toFixed(1)} s; learner groups left in the emulator: ${left}`);

  w.arm.setDeploymentTimes({ scale });
  w.arm.resetStats();
  const unparkT0 = Date.now();
  await w.api.runCommand(runId, 'unpark', { by: 'drill' });
  const report = await until('every saved environment restored', async () => {
    const r = await w.api.parking(runId);
    return r.learners.filter((l) => l.saved).every((l) => l.state === 'restored') ? r : undefined;
  }, 1_800_000, 500);
  const wall = Date.now() - unparkT0;
  const e = report.environments;
  const back = await Promise.all(drivers.map(async (d, i) => (await d.status()).position?.stepId === target(i)));
  const restoreTimes = report.learners.filter((l) => l.restoreMs).map((l) => l.restoreMs!).sort((a, b) => a - b);
  const p50 = restoreTimes[Math.floor(restoreTimes.length / 2)] ?? 0;
  say(
    `environments saved ${e.saved} (${e.resourcesSaved} resources), torn down ${e.tornDown}, restored ${e.restored}; ` +
      `restore wall time ${(wall / 1000).toFixed(1)} s at ARM deployment times x${scale} (one restore p50 ${(p50 / 1000).toFixed(1)} s, max ${(e.restoreMsMax / 1000).toFixed(1)} s); ` +
      `at most ${w.arm.stats.maxConcurrentDeployments} deployments at once; learners back at their step ${back.filter(Boolean).length}/${learners}`,
  );
  await w.stop();
  process.exit(left === 0 && e.restored === e.saved && back.every(Boolean) ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
