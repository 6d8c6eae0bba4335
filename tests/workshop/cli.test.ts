import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError } from '../../cli/apiClient';
import { until } from './learnerDriver';
import { runWorkshopCli, type CliResult } from './workshopCli';
import { startWorkshopStack, type WorkshopStack } from './workshopStack';

/** The `workshop` command as an instructor types it: a child process, its output and exit code. */
const root = path.resolve(__dirname, '..', '..');
const packsDir = path.join(__dirname, 'packs');
const dir = mkdtempSync(path.join(tmpdir(), 'ws-cli-'));
let w: WorkshopStack;

beforeAll(async () => {
  w = await startWorkshopStack({ packsDir });
});
afterAll(async () => {
  await w?.stop();
});

function workshop(...args: string[]): Promise<CliResult> {
  return runWorkshopCli(['--url', w.url, ...args], { SCENARIO_PACKS_DIR: packsDir });
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('workshop scenarios validate', () => {
  it('prints every problem of a malformed pack as file:line:col path: message and exits 1', async () => {
    const bad = path.join(root, 'scenarios', 'fixtures', 'invalid', 'many-problems.yaml');
    const res = await workshop('scenarios', 'validate', bad, path.join(packsDir, 'drill.yaml'));
    expect(res.code).toBe(1);
    const lines = res.stdout.split('\n').filter((l) => l.startsWith('  '));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const l of lines) expect(l).toMatch(/many-problems\.yaml:\d+:\d+ [\w.[\]]+: /);
    expect(res.stdout).toContain('drill.yaml: ok (pack "drill")');
  });

  it('exits 0 for valid packs', async () => {
    const res = await workshop('scenarios', 'validate', path.join(root, 'scenarios', 'packs', 'lakehouse.yaml'));
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('ok (pack "lakehouse")');
  });
});

describe('workshop run start / status / learner', () => {
  it('refuses a malformed roster with row and column and starts nothing', async () => {
    const roster = file('roster.csv', 'name,email\nAda Lovelace,ada@example.com\nBob,bob@\n');
    const res = await workshop('run', 'start', '--scenario', 'drill', '--roster', roster, '--run-id', 'clibad');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('roster.csv row 3, column email: "bob@" is not an address');
    expect(((await w.api.runStatus('clibad').catch((e: unknown) => e)) as ApiCallError).status).toBe(404);
  });

  it('starts a run from a CSV roster, shows it, and turns refusals into exit code 1 with the API\'s reason', async () => {
    const roster = file('cohort.csv', 'name,email\nAda Lovelace,ada@example.com\nGrace Hopper,grace@example.com\n');
    const start = await workshop('run', 'start', '--scenario', 'drill', '--roster', roster, '--run-id', 'cli1');
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/Started run cli1: Drill Landing Zone for 2 learners/);
    expect(start.stdout).toMatch(/ada\s+Ada Lovelace\s+wl1\./);

    await until('ada to get her first prompt', async () => (await w.api.runStatus('cli1')).learners.find((l) => l.learnerId === 'ada')?.stepId === 'req-kickoff');
    const status = await workshop('run', 'status', 'cli1');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/ada\s+requirements\s+working\s+req-kickoff/);

    const wrongStep = await workshop('learner', 'done', 'cli1', 'ada', '--step', 'req-drivers');
    expect(wrongStep.code).toBe(1);
    expect(wrongStep.stderr).toMatch(/Step "req-drivers" is not the current step/);
    const done = await workshop('learner', 'done', 'cli1', 'ada');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('Done with req-kickoff.');
    const noReview = await workshop('review', 'approve', 'cli1', 'grace');
    expect(noReview.code).toBe(1);
    expect(noReview.stderr).toMatch(/no review is waiting/);
  });
});
