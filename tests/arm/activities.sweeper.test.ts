import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAGS } from '../../azure/environmentNames';
import { readOutbox } from '../../activities/notify';
import { getRun, markRunEnded, markRunStarted } from '../../storage/runRegistry';
import { environmentSweeper, sweepWorkshopGroups } from '../../timers/environmentSweeper';
import { startStack, type TestStack } from '../helpers/stack';
import { captureLogger, startArmTestEnv, until, type ArmTestEnv } from './armTestEnv';

let stack: TestStack;
let env: ArmTestEnv;

beforeAll(async () => {
  // The host starts with no functions; the timer test restarts it with the sweeper registered.
  stack = await startStack([]);
  env = await startArmTestEnv({ database: stack.database });
});
afterAll(async () => {
  await env?.stop();
  await stack?.stop();
});

const hoursFromNow = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

async function workshopGroup(name: string, runId: string | undefined, opts: { expiresInHours?: number; createdHoursAgo?: number; hourlyUsd?: number } = {}): Promise<void> {
  const tags: Record<string, string> = {
    [TAGS.pack]: 'ml-scoring',
    [TAGS.learner]: name,
    [TAGS.created]: hoursFromNow(-(opts.createdHoursAgo ?? 0.1)),
    [TAGS.expires]: hoursFromNow(opts.expiresInHours ?? 6),
    [TAGS.hourlyUsd]: String(opts.hourlyUsd ?? 0.99),
    [TAGS.budgetUsd]: '100',
  };
  if (runId) tags[TAGS.run] = runId;
  await env.clients.resources.resourceGroups.createOrUpdate(name, { location: 'westeurope', tags });
}

async function exists(name: string): Promise<boolean> {
  try {
    const g = await env.clients.resources.resourceGroups.get(name);
    return g.properties?.provisioningState !== 'Deleting';
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

describe('environment sweeper', () => {
  it('removes the groups of an ended run and expired groups, keeps live ones and never touches untagged groups — and logs each deletion', async () => {
    await markRunEnded('r-ended', { reason: 'instructor ended the run' });
    await markRunStarted({ runId: 'r-live', packId: 'ml-scoring' });
    await workshopGroup('ws-ended-a', 'r-ended');
    await workshopGroup('ws-live-b', 'r-live');
    await workshopGroup('ws-live-expired-c', 'r-live', { expiresInHours: -0.5 });
    await workshopGroup('ws-unknown-run-d', 'r-no-record');
    await env.clients.resources.resourceGroups.createOrUpdate('someone-elses-group', { location: 'westeurope', tags: { owner: 'platform-team' } });

    const { log, lines } = captureLogger();
    const report = await sweepWorkshopGroups({ log, waitForDeletion: true });

    expect(report.deleted.sort((a, b) => a.resourceGroupName.localeCompare(b.resourceGroupName))).toEqual([
      { resourceGroupName: 'ws-ended-a', runId: 'r-ended', reason: 'run-ended' },
      { resourceGroupName: 'ws-live-expired-c', runId: 'r-live', reason: 'expired' },
    ]);
    expect(await exists('ws-ended-a')).toBe(false);
    expect(await exists('ws-live-expired-c')).toBe(false);
    expect(await exists('ws-live-b')).toBe(true);
    expect(await exists('ws-unknown-run-d')).toBe(true); // no run record yet: it waits for its expiry
    expect(await exists('someone-elses-group')).toBe(true);
    expect(report.checked).toBe(4);

    const deletions = lines.filter((l) => l.msg === 'sweeper deleted a workshop resource group');
    expect(deletions.map((l) => [l.resourceGroup, l.reason, l.runId]).sort()).toEqual([
      ['ws-ended-a', 'run-ended', 'r-ended'],
      ['ws-live-expired-c', 'expired', 'r-live'],
    ]);
  });

  it('tears a run down at its budget and warns the instructor once at 80 %', async () => {
    await markRunStarted({ runId: 'r-over', budgetUsd: 1 });
    await workshopGroup('ws-over-a', 'r-over', { createdHoursAgo: 2, hourlyUsd: 2 });
    await markRunStarted({ runId: 'r-warn', budgetUsd: 10 });
    await workshopGroup('ws-warn-a', 'r-warn', { createdHoursAgo: 1, hourlyUsd: 8.5 });

    const first = await sweepWorkshopGroups({ waitForDeletion: true });
    expect(first.deleted).toContainEqual({ resourceGroupName: 'ws-over-a', runId: 'r-over', reason: 'budget' });
    expect(first.warned.map((w) => w.runId)).toEqual(['r-warn']);
    expect(await exists('ws-warn-a')).toBe(true);
    expect((await getRun('r-warn'))?.budgetWarnedAt).toBeDefined();

    const second = await sweepWorkshopGroups({ waitForDeletion: true });
    expect(second.warned).toEqual([]);
    // The instructor got exactly one warning, in the run's outbox, with the figures.
    const warnings = (await readOutbox('r-warn', { role: 'instructor' })).filter((m) => m.kind === 'budgetWarning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].body).toMatchObject({ budgetUsd: 10, spentUsd: 8.5 });
    expect(String(warnings[0].body.message)).toContain('85 %');
  });

  it('runs on its timer in the local host and removes an orphan of an ended run, leaving a live run alone', async () => {
    await markRunEnded('r2-ended');
    await markRunStarted({ runId: 'r2-live' });
    await workshopGroup('ws-orphan-r2', 'r2-ended');
    await workshopGroup('ws-live-r2', 'r2-live');
    await stack.restart([{ kind: 'timer', name: 'environmentSweeper', schedule: '*/1 * * * * *', handler: environmentSweeper }]);
    await until('the orphan to be deleted by the timer', async () => !(await exists('ws-orphan-r2')), 20_000);
    expect(await exists('ws-live-r2')).toBe(true);
  });
});
