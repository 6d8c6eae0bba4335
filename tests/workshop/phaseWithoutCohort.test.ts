import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FunctionDef } from '../../functionDefs';
import type { PhaseInput, PhaseOutput } from '../../contracts/messages';
import type { SignalInput, SignalResult } from '../../activities/signalInstance';
import { workshopPhase } from '../../orchestrations/workshopPhase';
import { startInstance, startStack, waitFor, type TestStack } from '../helpers/stack';

/**
 * A provision step asks the cohort's scheduler for a slot. When the cohort is gone (a learner resumed after
 * the run's instance finished), the signal answers `gone` and the phase deploys by itself, with the
 * activity's own retries; when the cohort took the request, the phase waits for its admission.
 * The phase runs on the real durable host; its activities are recorders.
 */
let cohortAnswer: SignalResult = { ok: false, reason: 'gone' };
const signals: SignalInput[] = [];
const deployments: unknown[] = [];

const functions: FunctionDef[] = [
  { kind: 'orchestration', name: 'workshopPhase', handler: workshopPhase },
  {
    kind: 'activity',
    name: 'signalInstance',
    handler: (raw: unknown) => {
      signals.push(raw as SignalInput);
      return cohortAnswer;
    },
  },
  {
    kind: 'activity',
    name: 'provisionEnvironment',
    handler: (raw: unknown) => {
      deployments.push(raw);
      return { resourceGroup: 'rg-ada', deploymentName: 'd', adopted: false, outputs: {} };
    },
  },
  { kind: 'activity', name: 'recordCheckpoint', handler: () => ({ written: true }) },
  { kind: 'activity', name: 'notify', handler: () => ({ key: 'k', duplicate: false }) },
];

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack(functions);
});
afterAll(async () => {
  await stack?.stop();
});

const phaseInput = (runId: string): PhaseInput => ({
  runId,
  learnerId: 'ada',
  packId: 'drill',
  def: { phase: 'implementation', steps: [{ id: 'env', kind: 'provision' }] },
  attempt: 1,
  version: 0,
});

it('a provision step whose cohort is gone deploys by itself and completes the phase', async () => {
  cohortAnswer = { ok: false, reason: 'gone' };
  const id = await startInstance(stack.api, 'workshopPhase', phaseInput('no-cohort'), 'no-cohort-phase');
  const done = await waitFor(stack.api, id, ['Completed', 'Failed']);
  expect(done.runtimeStatus).toBe('Completed');
  expect((done.output as PhaseOutput).status).toBe('completed');
  expect(signals.some((s) => s.op === 'raise' && (s.data as { type?: string }).type === 'provisionRequest')).toBe(true);
  expect(deployments).toEqual([expect.objectContaining({ runId: 'no-cohort', learnerId: 'ada', idempotencyKey: 'no-cohort:ada:env' })]);
});

type HistoryRow = { EventType?: string; EventId?: number; TaskScheduledId?: number; Name?: string; Input?: { data?: { type?: string } } };

it('a provision step whose cohort took the request waits for its admission instead of deploying', async () => {
  cohortAnswer = { ok: true };
  deployments.length = 0;
  const id = await startInstance(stack.api, 'workshopPhase', phaseInput('with-cohort'), 'with-cohort-phase');
  // The episode that takes in the request's completion is the one that would deploy: wait until it is in the history.
  const answered = (history: HistoryRow[]): boolean => {
    const request = history.find((e) => e.EventType === 'TaskScheduled' && e.Name === 'signalInstance' && e.Input?.data?.type === 'provisionRequest');
    return request !== undefined && history.some((e) => e.EventType === 'TaskCompleted' && e.TaskScheduledId === request.EventId);
  };
  const after = await waitFor(stack.api, id, (s) => answered((s.historyEvents ?? []) as HistoryRow[]));
  expect(after.runtimeStatus).toBe('Running');
  expect((after.historyEvents as HistoryRow[]).filter((e) => e.Name === 'provisionEnvironment')).toEqual([]);
  expect(deployments).toEqual([]);
});
