/**
 * The kill drill (issue 11's acceptance, after the durable store): `workshop rehearse --learners 20`, the real
 * CLI in a child process, completes while the WHOLE local stack — `npm start`'s entry, store included, as one
 * process group — is killed with SIGKILL and started again 10 times, with ARM throttling on (the fault settings
 * of `npm start`), and nobody resumes anything by hand. Not part of `npm test` (it takes minutes):
 *
 *   nice npx tsx tests/workshop/stackKillDrill.ts [--learners 20] [--kills 10] [--scenario cross-region]
 *                                                 [--throttle 0.3] [--time-scale 0.1]
 *
 * Kills come at evenly spaced shares of the cohort's progress (phases reached), so all fall inside the run.
 * Prints the numbers and exits 1 if the rehearsal did not complete.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkshopApi } from '../../cli/apiClient';
import type { RehearsalReport } from '../../cli/rehearse';
import { freePort } from '../../local/ports';
import { HostProcess, REPO } from '../crash/harness';
import { outcomesOf, restartAtProgress } from './drillLoop';

const KEY = 'kill-drill-instructor-key-0123456789';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      learners: { type: 'string', default: '20' },
      kills: { type: 'string', default: '10' },
      scenario: { type: 'string', default: 'cross-region' },
      throttle: { type: 'string', default: '0.3' },
      'time-scale': { type: 'string', default: '0.1' },
    },
  });
  const learners = Number(values.learners);
  const kills = Number(values.kills);
  const runId = `kill-drill-${Date.now().toString(36)}`;
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`;
  const dir = mkdtempSync(path.join(tmpdir(), 'ws-kill-drill-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    WORKSHOP_DATA_DIR: path.join(dir, 'data'),
    INSTRUCTOR_API_KEY: KEY,
    LEARNER_API_KEY: 'kill-drill-learner-signing-key-0123456789',
    ARM_FAULT_THROTTLE_FRACTION: values.throttle,
    ARM_FAULT_THROTTLE_RETRY_AFTER_SECONDS: '1',
    ARM_FAULT_SEED: '7',
    LOG_LEVEL: 'warn',
  };
  for (const k of ['ARM_ENDPOINT', 'ARM_TOKEN', 'ARM_CA_CERT', 'LEARNER_SUBSCRIPTION_ID', 'BOT_APP_ID', 'AzureWebJobsStorage']) delete env[k];
  const stack = new HostProcess(env, path.join(dir, 'stack.log'), path.join(REPO, 'local', 'start.ts'), { ready: 'local stack is up', group: true });
  await stack.start();
  process.stdout.write(`${at()}  stack up at ${url}, data in ${dir}; ARM throttles ${Math.round(Number(values.throttle) * 100)}% of writes\n`);

  const args = [
    path.join(REPO, 'cli', 'bin', 'workshop.cjs'), '--url', url, '--json',
    'rehearse', '--scenario', values.scenario, '--learners', String(learners), '--run-id', runId, '--time-scale', values['time-scale'],
    '--poll', '300', '--timeout', '3600', '--quiet',
  ];
  // The CLI finds the ARM emulator (address, token, CA) in the data directory's emulator.json, and again after each start.
  const cli = spawn(process.execPath, args, { cwd: REPO, env: { ...env, WORKSHOP_INSTRUCTOR_KEY: KEY } });
  let stdout = '';
  let stderr = '';
  cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => cli.on('close', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));

  const watcher = new WorkshopApi({ url, instructorKey: KEY, retry: { retryForMs: 180_000 } });
  const downtimes = await restartAtProgress({
    watcher,
    runId,
    learners,
    count: kills,
    done: () => done,
    what: 'kill -9 of the stack',
    log: (line) => process.stdout.write(`${at()}  ${line}\n`),
    restart: async () => {
      await stack.kill9();
      await stack.start();
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
  process.stdout.write(
    [
      '',
      `kill drill, run ${runId}: workshop rehearse --learners ${learners} exited ${code} after ${at().trim()}`,
      `  whole-stack SIGKILLs during the run: ${downtimes.length} (down ${Math.min(...downtimes)}-${Math.max(...downtimes)} ms each, restart included)`,
      `  run: ${final.runtimeStatus}; learners by outcome: ${summary}`,
      report
        ? `  rehearsal: completed ${report.completed}, ${report.polls} polls; retried ${report.retries.api} API calls, ${report.retries.arm} ARM calls, ${report.retries.armReloads} emulator re-reads; ${report.instructorRetries} refused instructor actions; resumes by the simulated instructor ${report.resumes.length}, skips ${report.skips.length}`
        : `  rehearsal output was not a report; stderr:\n${stderr}`,
      stderr ? `  CLI stderr: ${stderr.trim().slice(0, 2000)}` : '',
    ]
      .filter(Boolean)
      .join('\n') + '\n',
  );
  await stack.kill9();
  process.exit(code === 0 && report?.completed && downtimes.length === kills ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`kill drill failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
