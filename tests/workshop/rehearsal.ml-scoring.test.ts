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

it('ml-scoring: a 5-learner rehearsal takes everyone through all four phases, with a review sent back, a resumed failure, help answered and environments torn down', async () => {
  const report = await rehearse({
    api: w.api,
    scenario: 'ml-scoring',
    learners: 5,
    timeScale: 1,
    timeoutMs: 150_000,
    pollMs: 150,
    slowPolls: 2,
    arm: { url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId },
  });
  console.log(`ml-scoring rehearsal: ${report.durationMs} ms, ${report.polls} polls`);
  expect(report.scenario).toBe('ml-scoring');
  await expectCompleteRehearsal(w, w.api, report);
}, 180_000);
