/**
 * The restart drill (issue 11's acceptance): `workshop rehearse --learners 20`, the real CLI in a
 * child process, completes while the host is restarted 10 times on the same storage, with ARM
 * throttling on, and nobody resumes anything by hand. Not part of `npm test` (it takes minutes);
 *
 *   nice npx tsx tests/workshop/restartDrill.ts [--learners 20] [--restarts 10] [--scenario cross-region]
 *                                              [--throttle 0.3] [--time-scale 1]
 *
 * Restarts come at evenly spaced shares of the cohort's progress (phases reached), so all of them fall
 * inside the run on any machine. Prints the numbers and exits 1 if the rehearsal did not complete.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkshopApi } from '../../cli/apiClient';
import { fixedAddress } from './fixedAddress';
import { startWorkshopStack, TEST_KEYS } from './workshopStack';
import { drillArgs, outcomesOf, rehearsalLine, restartAtProgress, spawnRehearsal } from './drillLoop';
import { cliEnv } from './workshopCli';


async function main(): Promise<void> {
  const { learners, restarts, scenario, throttle, timeScale, at } = drillArgs({ timeScale: '1' });
  const runId = `drill-${Date.now().toString(36)}`;

  const w = await startWorkshopStack();
  const address = await fixedAddress(w.stack.host.port);
  const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'ws-drill-')), 'ca.pem');
  writeFileSync(caFile, w.arm.caCertPem);
  w.arm.setFaults({ seed: 7, throttle: { fraction: throttle, retryAfterSeconds: 1 }, serverErrors: { every: 50, length: 2 } });
  process.stdout.write(`${at()}  stack up; host behind ${address.url}; ARM throttles ${Math.round(throttle * 100)}% of writes, 2 x 500 every 50\n`);

  const args = [
    '--url', address.url, '--json',
    'rehearse', '--scenario', scenario, '--learners', String(learners), '--run-id', runId, '--time-scale', timeScale,
    '--poll', '300', '--timeout', '3600', '--quiet',
    '--arm-url', w.arm.url, '--arm-token', w.arm.token, '--arm-ca', caFile, '--arm-subscription', w.arm.subscriptionId,
  ];
  process.stdout.write(`${at()}  workshop ${args.filter((a) => !a.startsWith('arm-emulator.')).join(' ').replace(w.arm.token, '<token>')}\n`);
  const rehearsal = spawnRehearsal(args, cliEnv());

  const watcher = new WorkshopApi({ url: address.url, instructorKey: TEST_KEYS.instructor, retry: { retryForMs: 120_000 } });
  const downtimes = await restartAtProgress({
    watcher,
    runId,
    learners,
    count: restarts,
    done: rehearsal.done,
    what: 'restart',
    log: (line) => process.stdout.write(`${at()}  ${line}\n`),
    restart: async () => {
      await address.down();
      await w.stack.restart();
      await address.up(w.stack.host.port);
    },
  });
  const { code, report, stderr } = await rehearsal.finished;
  const { final, summary } = await outcomesOf(watcher, runId);
  const lines = [
    '',
    `restart drill, run ${runId}: workshop rehearse --learners ${learners} exited ${code} after ${at().trim()}`,
    `  host restarts during the run: ${downtimes.length} (down ${Math.min(...downtimes)}-${Math.max(...downtimes)} ms each)`,
    `  run: ${final.runtimeStatus}; learners by outcome: ${summary}`,
    rehearsalLine(report, stderr),
    `  ARM: ${w.arm.stats.requests} requests, ${w.arm.stats.throttled} throttled (429), ${w.arm.stats.serverErrors} answered 500`,
    stderr ? `  CLI stderr: ${stderr.trim().slice(0, 2000)}` : '',
  ];
  process.stdout.write(lines.filter(Boolean).join('\n') + '\n');
  w.arm.setFaults({});
  await address.close();
  await w.stop();
  process.exit(code === 0 && report?.completed && downtimes.length === restarts ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`restart drill failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
