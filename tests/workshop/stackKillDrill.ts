/**
 * The kill drill (issue 11's acceptance, after the durable store): `workshop rehearse --learners 20`, the real
 * CLI in a child process, completes while the WHOLE local stack — `npm start`'s entry, store included, as one
 * process group — is killed with SIGKILL and started again 10 times, with ARM throttling on (the fault settings
 * of `npm start`), and nobody resumes anything by hand. Not part of `npm test` (it takes minutes):
 *
 *   nice npx tsx tests/workshop/stackKillDrill.ts [--learners 20] [--restarts 10] [--scenario cross-region]
 *                                                 [--throttle 0.3] [--time-scale 0.1]
 *
 * Kills come at evenly spaced shares of the cohort's progress (phases reached), so all fall inside the run.
 * Prints the numbers and exits 1 if the rehearsal did not complete.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkshopApi } from '../../cli/apiClient';
import { freePort } from '../../local/ports';
import { HostProcess, REPO } from '../crash/harness';
import { drillArgs, outcomesOf, rehearsalLine, restartAtProgress, spawnRehearsal } from './drillLoop';

const KEY = 'kill-drill-instructor-key-0123456789';

async function main(): Promise<void> {
  const { learners, restarts: kills, scenario, throttle, timeScale, at } = drillArgs({ timeScale: '0.1' });
  const runId = `kill-drill-${Date.now().toString(36)}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'ws-kill-drill-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    WORKSHOP_DATA_DIR: path.join(dir, 'data'),
    INSTRUCTOR_API_KEY: KEY,
    LEARNER_API_KEY: 'kill-drill-learner-signing-key-0123456789',
    ARM_FAULT_THROTTLE_FRACTION: String(throttle),
    ARM_FAULT_THROTTLE_RETRY_AFTER_SECONDS: '1',
    ARM_FAULT_SEED: '7',
    LOG_LEVEL: 'warn',
  };
  for (const k of ['ARM_ENDPOINT', 'ARM_TOKEN', 'ARM_CA_CERT', 'LEARNER_SUBSCRIPTION_ID', 'BOT_APP_ID', 'AzureWebJobsStorage']) delete env[k];
  const stack = new HostProcess(env, path.join(dir, 'stack.log'), path.join(REPO, 'local', 'start.ts'), { ready: 'local stack is up', group: true });
  await stack.start();
  process.stdout.write(`${at()}  stack up at ${url}, data in ${dir}; ARM throttles ${Math.round(throttle * 100)}% of writes\n`);

  const args = [
    '--url', url, '--json',
    'rehearse', '--scenario', scenario, '--learners', String(learners), '--run-id', runId, '--time-scale', timeScale,
    '--poll', '300', '--timeout', '3600', '--quiet',
  ];
  // The CLI finds the ARM emulator (address, token, CA) in the data directory's emulator.json, and again after each start.
  const rehearsal = spawnRehearsal(args, { ...env, WORKSHOP_INSTRUCTOR_KEY: KEY });

  const watcher = new WorkshopApi({ url, instructorKey: KEY, retry: { retryForMs: 180_000 } });
  const downtimes = await restartAtProgress({
    watcher,
    runId,
    learners,
    count: kills,
    done: rehearsal.done,
    what: 'kill -9 of the stack',
    log: (line) => process.stdout.write(`${at()}  ${line}\n`),
    restart: async () => {
      await stack.kill9();
      await stack.start();
    },
  });
  const { code, report, stderr } = await rehearsal.finished;
  const { final, summary } = await outcomesOf(watcher, runId);
  process.stdout.write(
    [
      '',
      `kill drill, run ${runId}: workshop rehearse --learners ${learners} exited ${code} after ${at().trim()}`,
      `  whole-stack SIGKILLs during the run: ${downtimes.length} (down ${Math.min(...downtimes)}-${Math.max(...downtimes)} ms each, restart included)`,
      `  run: ${final.runtimeStatus}; learners by outcome: ${summary}`,
      rehearsalLine(report, stderr),
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
