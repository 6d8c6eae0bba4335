import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { learnerResourceGroupName } from '../../azure/environmentNames';
import { RehearsalArm } from '../../cli/rehearsalArm';
import { journeyInstanceId, phaseInstanceId } from '../../contracts/ids';
import { status as instanceStatus, waitFor } from '../helpers/stack';
import { LearnerDriver, until } from './learnerDriver';
import { runWorkshopCli, type CliResult } from './workshopCli';
import { startWorkshopStack, type WorkshopStack } from './workshopStack';

/**
 * A learner's journey instance is killed mid-Implementation — terminated and purged through the
 * Durable management API, as an operator (or a lost host) would — and `workshop resume` continues
 * from the learner's checkpoint: completed phases are not repeated, the phase carries on where its
 * checkpoint was, and the environment's deployment is adopted, never created a second time.
 */
const packsDir = path.join(__dirname, 'packs');
const RUN = 'resume';
let w: WorkshopStack;
let arm: RehearsalArm;

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir });
  arm = new RehearsalArm({ url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId });
  await w.api.startRun({ runId: RUN, scenario: 'drill', roster: 'name,email\nAda Lovelace,ada@example.com\nBob Kahn,bob@example.com\n', instructors: ['ian'] });
});
afterAll(async () => {
  await w?.stop();
});

function workshop(args: string[]): Promise<CliResult> {
  return runWorkshopCli(['--url', w.url, ...args]);
}

/** Terminate + purge through the management API (what `func durable terminate/purge-history` do). */
async function killJourney(learnerId: string): Promise<void> {
  const id = journeyInstanceId(RUN, learnerId);
  const t = await fetch(`${w.durable}/instances/${id}/terminate?reason=${encodeURIComponent('killed by the resume test')}`, { method: 'POST' });
  expect(t.status).toBe(202);
  await waitFor(w.durable, id, ['Terminated']);
  const p = await fetch(`${w.durable}/instances/${id}`, { method: 'DELETE' });
  expect(p.status).toBe(200);
  // A terminated instance's deferred Instances-row write could re-create the row right after the
  // purge (fixed in the engine by f660814); should it ever reappear, purge again as an operator
  // would, so this test stays about resuming.
  for (let again = 0; again < 3 && (await instanceStatus(w.durable, id)); again++) {
    await new Promise((r) => setTimeout(r, 300));
    await fetch(`${w.durable}/instances/${id}`, { method: 'DELETE' });
  }
  const after = await instanceStatus(w.durable, id);
  expect(after, `still there after the purge: ${JSON.stringify(after)?.slice(0, 1500)}`).toBeUndefined();
}

async function promptsFor(learnerId: string, phase: string): Promise<number> {
  return (await w.api.learnerMessages(RUN, learnerId)).messages.filter((m) => m.kind === 'prompt' && m.body.phase === phase).length;
}

it('resume after terminate+purge mid-Implementation continues from the checkpoint: no phase repeated, no deployment re-created', async () => {
  const ada = await LearnerDriver.create(w.api, RUN, 'ada', 'drill');
  await ada.walkTo('impl-harden');
  const deploymentsBefore = w.arm.stats.deploymentsStarted;
  const rg = learnerResourceGroupName(RUN, 'ada');
  expect(await arm.groupExists(rg)).toBe(true);
  const prompts = { requirements: await promptsFor('ada', 'requirements'), design: await promptsFor('ada', 'design') };

  await killJourney('ada');
  // Without its journey the learner is stuck: the API says so instead of losing the event.
  const res = await workshop(['resume', RUN, 'ada']);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/Resumed ada: restarted the journey; phase "implementation" continues from its checkpoint at step "impl-harden"/);

  // The new journey runs a second attempt of Implementation, restored at the step it was at.
  const at = await until('ada\'s second Implementation attempt to checkpoint', async () => {
    const s = await ada.status();
    return s.position?.attempt === 2 ? s : undefined;
  });
  expect(at.position).toMatchObject({ stepId: 'impl-harden', state: 'awaitingLearner' });
  expect(at.position).toMatchObject({ phase: 'implementation', attempt: 2, instanceId: phaseInstanceId(RUN, 'ada', 'implementation', 2) });
  expect(at.journey).toMatchObject({ state: 'running', runtimeStatus: 'Running', attempts: { requirements: 1, design: 1, implementation: 2, validation: 0 }, outcomes: { requirements: 'passed', design: 'passed' } });
  // Completed phases were not repeated: no new phase instances, no new prompts for them.
  expect(await instanceStatus(w.durable, phaseInstanceId(RUN, 'ada', 'requirements', 2))).toBeUndefined();
  expect(await instanceStatus(w.durable, phaseInstanceId(RUN, 'ada', 'design', 2))).toBeUndefined();
  expect({ requirements: await promptsFor('ada', 'requirements'), design: await promptsFor('ada', 'design') }).toEqual(prompts);

  // And she finishes the workshop on the same environment.
  await ada.finish();
  expect(w.arm.stats.deploymentsStarted).toBe(deploymentsBefore);
  expect((await ada.status()).journey?.outcomes).toEqual({ requirements: 'passed', design: 'passed', implementation: 'passed', validation: 'passed' });
});

it('a journey killed while its deployment runs resumes by adopting that deployment, not starting another', async () => {
  const bob = await LearnerDriver.create(w.api, RUN, 'bob', 'drill');
  await bob.walkTo('design-review', 'awaitingReview');
  // Slow deployments, so the kill lands while ARM is still deploying.
  w.arm.setFaults({ slowDeployment: { perResourceMs: 2_500 } });
  const started = w.arm.stats.deploymentsStarted;
  await w.api.review(RUN, 'bob', 'approve');
  await until('bob\'s deployment to start', async () => w.arm.stats.deploymentsStarted > started && (await bob.status()).position?.state === 'provisioning');
  await killJourney('bob');
  w.arm.setFaults({});

  const res = await w.api.resume(RUN, 'bob');
  expect(res).toMatchObject({ action: 'restarted', phase: 'implementation' });
  expect(String(res.detail)).toMatch(/continues from its checkpoint at step "impl-deploy"/);
  const at = await until('bob\'s second Implementation attempt at impl-harden', async () => {
    const s = await bob.status();
    return s.position?.attempt === 2 && s.position.stepId === 'impl-harden' ? s : undefined;
  });
  expect(at.position?.state).toBe('awaitingLearner');
  // One deployment for bob, the one the lost attempt started: the retry adopted it.
  expect(w.arm.stats.deploymentsStarted).toBe(started + 1);
  const failures = (await w.api.learnerDetail(RUN, 'bob')).journey;
  expect(failures?.attempts.implementation).toBe(2);
});
