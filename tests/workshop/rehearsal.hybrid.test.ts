import { afterAll, beforeAll, expect, it } from 'vitest';
import { rehearse } from '../../cli/rehearse';
import { expectCompleteRehearsal } from './rehearsalChecks';
import { startWorkshopStack, type WorkshopStack } from './workshopStack';

let w: WorkshopStack;
beforeAll(async () => {
  w = await startWorkshopStack();
});
afterAll(async () => {
  await w?.stop();
});

it('hybrid: a 5-learner rehearsal takes everyone through all four phases, with a review sent back, a resumed failure, help answered and environments torn down', async () => {
  const report = await rehearse({
    api: w.api,
    scenario: 'hybrid',
    learners: 5,
    timeScale: 1,
    timeoutMs: 150_000,
    pollMs: 150,
    slowPolls: 2,
    arm: { url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId },
  });
  console.log(`hybrid rehearsal: ${report.durationMs} ms, ${report.polls} polls`);
  expect(report.scenario).toBe('hybrid');
  await expectCompleteRehearsal(w, w.api, report);
}, 180_000);
