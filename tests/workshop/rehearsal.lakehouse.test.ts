import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RehearsalReport } from '../../cli/rehearse';
import { expectCompleteRehearsal } from './rehearsalChecks';
import { runWorkshopCli } from './workshopCli';
import { startWorkshopStack, type WorkshopStack } from './workshopStack';

/** The lakehouse rehearsal goes through the real `workshop` command (a child process), as an instructor runs it. */
let w: WorkshopStack;
beforeAll(async () => {
  w = await startWorkshopStack();
});
afterAll(async () => {
  await w?.stop();
});


it('lakehouse: `workshop rehearse --learners 5` takes everyone through all four phases, with a review sent back, a resumed failure, help answered and environments torn down', async () => {
  const ca = path.join(mkdtempSync(path.join(tmpdir(), 'ws-rehearse-')), 'ca.pem');
  writeFileSync(ca, w.arm.caCertPem);
  const res = await runWorkshopCli([
    '--url', w.url, '--json',
    'rehearse', '--scenario', 'lakehouse', '--learners', '5', '--time-scale', '1', '--timeout', '150', '--poll', '150', '--quiet',
    '--arm-url', w.arm.url, '--arm-token', w.arm.token, '--arm-ca', ca, '--arm-subscription', w.arm.subscriptionId,
  ]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  const report = JSON.parse(res.stdout) as RehearsalReport;
  console.log(`lakehouse rehearsal: ${report.durationMs} ms, ${report.polls} polls`);
  expect(report.scenario).toBe('lakehouse');
  await expectCompleteRehearsal(w, w.api, report);
}, 180_000);
