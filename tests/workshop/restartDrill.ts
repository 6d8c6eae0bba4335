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
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkshopApi } from '../../cli/apiClient';
import type { RehearsalReport } from '../../cli/rehearse';
import { fixedAddress } from './fixedAddress';
import { startWorkshopStack, TEST_KEYS } from './workshopStack';
import { outcomesOf, restartAtProgress } from './drillLoop';


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      learners: { type: 'string', default: '20' },
      restarts: { type: 'string', default: '10' },
      scenario: { type: 'string', default: 'cross-region' },
      throttle: { type: 'string', default: '0.3' },
      'time-scale': { type: 'string', default: '1' },
    },
  });
  const learners = Number(values.learners);
  const restarts = Number(values.restarts);
  const throttle = Number(values.throttle);
  const runId = `drill-${Date.now().toString(36)}`;
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`;

  const w = await startWorkshopStack();
  const address = await fixedAddress(w.stack.host.port);
  const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'ws-drill-')), 'ca.pem');
  writeFileSync(caFile, w.arm.caCertPem);
  w.arm.setFaults({ seed: 7, throttle: { fraction: throttle, retryAfterSeconds: 1 }, serverErrors: { every: 50, length: 2 } });
  process.stdout.write(`${at()}  stack up; host behind ${address.url}; ARM throttles ${Math.round(throttle * 100)}% of writes, 2 x 500 every 50\n`);

  const root = path.resolve(__dirname, '..', '..');
  const args = [
    path.join(root, 'cli', 'bin', 'workshop.cjs'), '--url', address.url, '--json',
    'rehearse', '--scenario', values.scenario, '--learners', String(learners), '--run-id', runId, '--time-scale', values['time-scale'],
    '--poll', '300', '--timeout', '3600', '--quiet',
    '--arm-url', w.arm.url, '--arm-token', w.arm.token, '--arm-ca', caFile, '--arm-subscription', w.arm.subscriptionId,
  ];
  process.stdout.write(`${at()}  workshop ${args.slice(1).filter((a) => !a.startsWith('arm-emulator.')).join(' ').replace(w.arm.token, '<token>')}\n`);
  const cli = spawn(process.execPath, args, { cwd: root, env: { ...process.env, WORKSHOP_INSTRUCTOR_KEY: TEST_KEYS.instructor } });
  let stdout = '';
  let stderr = '';
  cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => cli.on('close', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));

  const watcher = new WorkshopApi({ url: address.url, instructorKey: TEST_KEYS.instructor, retry: { retryForMs: 120_000 } });
  const downtimes = await restartAtProgress({
    watcher,
    runId,
    learners,
    count: restarts,
    done: () => done,
    what: 'restart',
    log: (line) => process.stdout.write(`${at()}  ${line}\n`),
    restart: async () => {
      await address.down();
      await w.stack.restart();
      await address.up(w.stack.host.port);
    },
  });
  const code = await exited;
  const { final, summary } = await outcomesOf(watcher, runId);
  let report: RehearsalReport | undefined;
  try {
    report = JSON.parse(stdout) as RehearsalReport;
  } catch {
    report = undefined;
  }
  const lines = [
    '',
    `restart drill, run ${runId}: workshop rehearse --learners ${learners} exited ${code} after ${at().trim()}`,
    `  host restarts during the run: ${downtimes.length} (down ${Math.min(...downtimes)}-${Math.max(...downtimes)} ms each)`,
    `  run: ${final.runtimeStatus}; learners by outcome: ${summary}`,
    report
      ? `  rehearsal: completed ${report.completed}, attached ${report.attached}, ${report.polls} polls; retried ${report.retries.api} API calls, ${report.retries.arm} ARM calls (outer loop), ${report.instructorRetries} refused instructor actions; resumes by the simulated instructor ${report.resumes.length}, skips ${report.skips.length}`
      : `  rehearsal output was not a report; stderr:\n${stderr}`,
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
