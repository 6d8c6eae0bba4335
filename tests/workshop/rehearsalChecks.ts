import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WorkshopApi } from '../../cli/apiClient';
import { rehearse, type RehearsalReport } from '../../cli/rehearse';
import { RehearsalArm } from '../../cli/rehearsalArm';
import { startWorkshopStack, type WorkshopStack } from './workshopStack';
import { status } from '../helpers/stack';
import { cohortInstanceId } from '../../orchestrations/workshopIds';

const PHASES = ['requirements', 'design', 'implementation', 'validation'];

/**
 * What every 5-learner rehearsal must show, whatever the scenario: everyone through all four
 * phases (passed, none skipped), a review sent back once then approved, an Implementation failure
 * resumed by the instructor, a help request answered, a wrong answer refused, a broken setting
 * caught by validation and fixed, and no environment left behind.
 */
export async function expectCompleteRehearsal(w: WorkshopStack, api: WorkshopApi, report: RehearsalReport): Promise<void> {
  const { runId } = report;
  expect(report.completed).toBe(true);
  expect(report.learners).toBe(5);

  // Everyone through all four phases, each passed (not skipped), per the learners' checkpoints.
  for (const learnerId of Object.keys(report.profiles)) {
    const detail = await api.learnerDetail(runId, learnerId);
    expect({ learnerId, state: detail.journey?.state, outcomes: detail.journey?.outcomes }).toEqual({
      learnerId,
      state: 'completed',
      outcomes: Object.fromEntries(PHASES.map((p) => [p, 'passed'])),
    });
  }
  expect(report.skips).toEqual([]);
  expect(report.runReport).toMatchObject({ runId, learners: 5, completed: 5, ended: 0 });

  // An architecture review sent back once, then approved in the next round.
  expect(report.reviewsSentBack.length).toBeGreaterThanOrEqual(1);
  const sentBack = report.reviewsSentBack[0];
  expect(sentBack).toMatchObject({ phase: 'design', round: 1 });
  expect(report.reviewsApproved).toContainEqual({ learnerId: sentBack.learnerId, phase: 'design', round: 2 });
  const feedback = await api.learnerMessages(runId, sentBack.learnerId);
  expect(feedback.messages.some((m) => m.kind === 'changesRequested' && m.body.round === 1)).toBe(true);

  // One Implementation failure (the blocked provisioning) resumed by the instructor.
  expect(report.provisioningBlocked).toEqual(['learner-03']);
  const resumed = report.resumes.filter((r) => r.learnerId === 'learner-03' && r.phase === 'implementation');
  expect(resumed.length).toBe(1);
  expect(resumed[0].reason).toMatch(/already holds pack "rehearsal-blocker"/);
  const failureNotice = (await api.instructorMessages(runId)).messages.filter((m) => m.kind === 'failed' && m.body.learnerId === 'learner-03');
  expect(failureNotice.length).toBeGreaterThanOrEqual(1);

  // A help request answered, and the learner told.
  expect(report.helpAnswered.map((h) => h.learnerId)).toContain('learner-04');
  const answered = await api.learnerMessages(runId, 'learner-04');
  expect(answered.messages.some((m) => m.kind === 'helpAnswered')).toBe(true);

  // Some learners wrong: an incomplete answer refused, a broken setting failing validation once.
  expect(report.wrongAnswers).toContainEqual(expect.objectContaining({ learnerId: 'learner-02', status: 422 }));
  expect(report.brokenSettings.map((b) => b.learnerId)).toEqual(['learner-02']);
  expect(report.validationRetries.map((v) => v.learnerId)).toContain('learner-02');

  // Environments existed (every learner did implementation work in one) and are gone now.
  expect(report.implemented.sort()).toEqual(Object.keys(report.profiles).sort());
  expect(report.remainingGroups).toEqual([]);
  const arm = new RehearsalArm({ url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId });
  expect(await arm.runGroups(runId)).toEqual([]);
  for (const learnerId of Object.keys(report.profiles)) {
    expect(await arm.groupExists((await api.learnerDetail(runId, learnerId)).environment.resourceGroupName)).toBe(false);
  }
}

/** What the cohort instance is doing: its summary, state and the last events of its history (printed when a rehearsal times out). */
async function cohortDiagnosis(w: WorkshopStack, runId: string): Promise<string> {
  const s = await status(w.durable, cohortInstanceId(runId), true);
  const tail = (s?.historyEvents ?? []).slice(-12).map((e) => `${e.EventType}${e.Name ? ` ${String(e.Name)}` : ''} ${JSON.stringify(e.Input ?? e.Result ?? e.Reason ?? e.Details ?? '').slice(0, 300)}`);
  return `cohort ${s?.runtimeStatus}: ${JSON.stringify(s?.customStatus)}\n  state: ${JSON.stringify((s?.input as { state?: unknown } | undefined)?.state).slice(0, 1500)}\n  ${tail.join('\n  ')}`;
}

/**
 * The per-scenario rehearsal test: a 5-learner `rehearse` on its own stack, judged by
 * expectCompleteRehearsal. One file per scenario calls this, so the scenarios run in parallel.
 * `appTables: 'azure'` keeps the app's tables in Azure Tables (Azurite) — the production adapter — instead of
 * the embedded store, so one full rehearsal runs on each adapter.
 */
export function rehearsalSuite(scenario: string, opts: { appTables?: 'embedded' | 'azure' } = {}): void {
  let w: WorkshopStack;
  beforeAll(async () => {
    w = await startWorkshopStack({ appTables: opts.appTables });
  });
  afterAll(async () => {
    await w?.stop();
  });

  it(`${scenario}${opts.appTables === 'azure' ? ' (app tables on Azure Tables)' : ''}: a 5-learner rehearsal takes everyone through all four phases, with a review sent back, a resumed failure, help answered and environments torn down`, async () => {
    const report = await rehearse({
      api: w.api,
      scenario,
      learners: 5,
      timeScale: 1,
      timeoutMs: 150_000,
      pollMs: 150,
      slowPolls: 2,
      arm: { url: w.arm.url, token: w.arm.token, caCert: w.arm.caCertPem, subscriptionId: w.arm.subscriptionId },
    }).catch(async (err: Error & { report?: { runId?: string } }) => {
      if (err.report?.runId) console.log(await cohortDiagnosis(w, err.report.runId));
      throw err;
    });
    console.log(`${scenario} rehearsal: ${report.durationMs} ms, ${report.polls} polls`);
    expect(report.scenario).toBe(scenario);
    await expectCompleteRehearsal(w, w.api, report);
  }, 180_000);
}
