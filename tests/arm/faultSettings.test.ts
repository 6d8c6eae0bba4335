import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { faultSettings, FaultSettingsError } from '../../local/faultSettings';

/**
 * A bad day on demand: `npm start` reads the fault settings and its emulators obey them; bad values
 * stop the start with the setting named; the ARM emulator keeps its port, token and CA across a
 * restart of the same data directory.
 */
const ROOT = path.resolve(__dirname, '..', '..');

describe('fault settings (parsing)', () => {
  it('turns the documented variables into emulator faults', () => {
    const f = faultSettings({
      ARM_FAULT_THROTTLE_FRACTION: '0.6',
      ARM_FAULT_THROTTLE_RETRY_AFTER_SECONDS: '2',
      ARM_FAULT_500_EVERY: '40',
      ARM_FAULT_500_LENGTH: '3',
      ARM_FAULT_SLOW_DEPLOYMENT_MS: '250',
      TEAMS_FAULT_THROTTLE_FRACTION: '0.3',
      TEAMS_FAULT_RETRY_AFTER_SECONDS: '0.5',
      FAULT_DURATION_SECONDS: '90',
      FAULT_SEED: '42',
    });
    expect(f).toEqual({
      arm: { seed: 42, throttle: { fraction: 0.6, retryAfterSeconds: 2, scope: 'writes' }, serverErrors: { every: 40, length: 3 }, slowDeployment: { perResourceMs: 250 } },
      teams: { rate429: 0.3, retryAfterSeconds: 0.5, seed: 42 },
      durationSeconds: 90,
      seed: 42,
    });
    expect(faultSettings({})).toEqual({ seed: 1 });
  });

  it.each([
    [{ ARM_FAULT_THROTTLE_FRACTION: '1.5' }, /ARM_FAULT_THROTTLE_FRACTION must be between 0 and 1.*got "1\.5"/],
    [{ ARM_FAULT_THROTTLE_FRACTION: 'half' }, /ARM_FAULT_THROTTLE_FRACTION must be a number between 0 and 1.*got "half"/],
    [{ ARM_FAULT_THROTTLE_SCOPE: 'reads' }, /ARM_FAULT_THROTTLE_SCOPE must be "writes" or "all".*got "reads"/],
    [{ ARM_FAULT_500_EVERY: '10' }, /ARM_FAULT_500_EVERY and ARM_FAULT_500_LENGTH go together/],
    [{ ARM_FAULT_500_EVERY: '5', ARM_FAULT_500_LENGTH: '6' }, /ARM_FAULT_500_LENGTH \(6\) must not exceed ARM_FAULT_500_EVERY \(5\)/],
    [{ ARM_FAULT_SLOW_DEPLOYMENT_MS: '1.5' }, /ARM_FAULT_SLOW_DEPLOYMENT_MS must be a whole number of milliseconds/],
    [{ TEAMS_FAULT_RETRY_AFTER_SECONDS: '0' }, /TEAMS_FAULT_RETRY_AFTER_SECONDS must be a number of seconds > 0.*got "0"/],
    [{ FAULT_DURATION_SECONDS: '-3' }, /FAULT_DURATION_SECONDS must be a number of seconds > 0/],
    [{ FAULT_SEED: 'x' }, /FAULT_SEED must be a whole number/],
  ])('%j is refused with the setting named', (env, message) => {
    expect(() => faultSettings(env)).toThrow(FaultSettingsError);
    expect(() => faultSettings(env)).toThrow(message);
  });
});

describe('ARM emulator settings (parsing)', () => {
  it('turns the deployment-time scale, the subscription count and the quotas into emulator options', () => {
    const f = faultSettings({ ARM_DEPLOYMENT_TIME_SCALE: '0.01', ARM_EMULATOR_SUBSCRIPTIONS: '3', ARM_EMULATOR_QUOTAS: '2:StorageAccounts@westeurope=3, 3:Microsoft.DocumentDB/databaseAccounts=1' });
    expect(f.armEmulator).toEqual({
      deploymentTimes: { scale: 0.01 },
      subscriptions: [
        { id: '00000000-0000-4000-8000-00000000a2e0' },
        { id: '00000000-0000-4000-8000-00000000a2e1', quotas: [{ quota: 'StorageAccounts', limit: 3, location: 'westeurope' }] },
        { id: '00000000-0000-4000-8000-00000000a2e2', quotas: [{ quota: 'Microsoft.DocumentDB/databaseAccounts', limit: 1 }] },
      ],
    });
    expect(f.arm).toBeUndefined(); // not faults: nothing in the fault banner, and FAULT_DURATION_SECONDS does not end them
    expect(faultSettings({ ARM_DEPLOYMENT_TIME_SCALE: '0' }).armEmulator).toBeUndefined();
  });

  it.each([
    [{ ARM_DEPLOYMENT_TIME_SCALE: '-1' }, /ARM_DEPLOYMENT_TIME_SCALE must be a number >= 0.*got "-1"/],
    [{ ARM_EMULATOR_SUBSCRIPTIONS: '0' }, /ARM_EMULATOR_SUBSCRIPTIONS must be a whole number from 1 to 20.*got "0"/],
    [{ ARM_EMULATOR_QUOTAS: 'StorageAccounts=3' }, /ARM_EMULATOR_QUOTAS entry "StorageAccounts=3" is not <subscription number>:<quota>/],
    [{ ARM_EMULATOR_SUBSCRIPTIONS: '2', ARM_EMULATOR_QUOTAS: '3:StorageAccounts=1' }, /subscription 3 does not exist \(ARM_EMULATOR_SUBSCRIPTIONS is 2\)/],
    [{ ARM_EMULATOR_QUOTAS: '1:Disks=1' }, /name a resource type \(Microsoft.Purview\/accounts\) or a usage/],
  ])('%j is refused with the setting named', (env, message) => {
    expect(() => faultSettings(env)).toThrow(message);
  });
});

// ── npm start, as a child process ──

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
});

/** `npm start` (local/start.ts) in one Node process, so this test stops exactly the process it started. */
function npmStart(dataDir: string, env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'local', 'start.ts')], {
    cwd: ROOT,
    env: { ...process.env, WORKSHOP_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', ARM_ENDPOINT: '', BOT_APP_ID: '', ...env },
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function untilUp(s: Started): Promise<void> {
  while (!/local stack is up/.test(s.output())) {
    if (s.child.exitCode !== null) throw new Error(`npm start exited ${s.child.exitCode}:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // the banner is written in one piece; wait for its last line
  while (!/Teams web chat/.test(s.output())) await new Promise((r) => setTimeout(r, 50));
}

async function stop(s: Started): Promise<void> {
  s.child.kill('SIGTERM');
  await s.exited;
}

interface EmulatorFile {
  url: string;
  token: string;
  subscriptionId: string;
  subscriptionIds: string[];
  caFile: string;
}

function armGet(arm: EmulatorFile, pathAndQuery: string): Promise<{ status: number; body: any }> {
  const ca = readFileSync(arm.caFile, 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(`${arm.url}${pathAndQuery}`, { method: 'GET', agent: new Agent({ ca }), headers: { authorization: `Bearer ${arm.token}` } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

function armPut(arm: EmulatorFile, group: string): Promise<{ status: number; retryAfter?: string }> {
  const ca = readFileSync(arm.caFile, 'utf8');
  const body = JSON.stringify({ location: 'westeurope' });
  return new Promise((resolve, reject) => {
    const req = request(
      `${arm.url}/subscriptions/${arm.subscriptionId}/resourcegroups/${group}?api-version=2025-04-01`,
      { method: 'PUT', agent: new Agent({ ca }), headers: { authorization: `Bearer ${arm.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function teamsUrl(s: Started): string {
  const m = /Teams web chat\s+(http:\/\/127\.0\.0\.1:\d+)\/chat/.exec(s.output());
  if (!m) throw new Error(`no Teams web chat line in:\n${s.output()}`);
  return m[1];
}

describe('npm start with fault settings', () => {
  it('a bad fault setting stops npm start before anything starts, naming the setting and the value', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ws-faults-bad-'));
    const s = npmStart(dir, { ARM_FAULT_THROTTLE_FRACTION: '57%' });
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/ARM_FAULT_THROTTLE_FRACTION must be a number between 0 and 1.*got "57%"/);
    expect(s.output()).not.toMatch(/stack is up|\n\s+at /); // no stack trace, nothing started
  }, 60_000);

  it('ARM and connector faults reach the emulators, stop after FAULT_DURATION_SECONDS, and the ARM emulator keeps port, token and CA across a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ws-faults-'));
    const s = npmStart(dir, {
      ARM_FAULT_THROTTLE_FRACTION: '1',
      ARM_FAULT_THROTTLE_RETRY_AFTER_SECONDS: '3',
      TEAMS_FAULT_THROTTLE_FRACTION: '1',
      TEAMS_FAULT_RETRY_AFTER_SECONDS: '0.2',
      FAULT_SEED: '9',
      FAULT_DURATION_SECONDS: '20',
    });
    await untilUp(s);
    expect(s.output()).toMatch(/FAULTS\s+ARM 429 on 100% of writes \(Retry-After 3 s\); Teams 429 on 100% of sends \(Retry-After 0.2 s\); for 20 s; seed 9/);
    const first = JSON.parse(readFileSync(path.join(dir, 'arm', 'emulator.json'), 'utf8')) as EmulatorFile;
    const firstCa = readFileSync(first.caFile, 'utf8');

    // ARM: every write is throttled, with the configured Retry-After.
    expect(await armPut(first, 'rg-during-faults')).toEqual({ status: 429, retryAfter: '3' });
    // Connector: the configured faults are the emulator's, and the bot's hello to a new user is throttled.
    const teams = teamsUrl(s);
    expect(await (await fetch(`${teams}/_emulator/faults`)).json()).toEqual({ rate429: 1, retryAfterSeconds: 0.2, seed: 9 });
    await fetch(`${teams}/_emulator/install`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada@contoso.example' }) });
    const calls = (await (await fetch(`${teams}/_emulator/calls`)).json()) as { stats: { throttled: number } };
    expect(calls.stats.throttled).toBeGreaterThan(0);

    // For how long: the faults end by themselves (the same request, unchanged, is then answered).
    let answer = await armPut(first, 'rg-after-faults');
    while (answer.status === 429) {
      await new Promise((r) => setTimeout(r, 500));
      answer = await armPut(first, 'rg-after-faults');
    }
    expect(answer.status).toBe(201);
    expect(await (await fetch(`${teams}/_emulator/faults`)).json()).toMatchObject({ rate429: 0 });

    // Restart on the same data directory, without faults: the same address, token and CA.
    await stop(s);
    const again = npmStart(dir, {});
    await untilUp(again);
    expect(again.output()).not.toMatch(/FAULTS/);
    const second = JSON.parse(readFileSync(path.join(dir, 'arm', 'emulator.json'), 'utf8')) as EmulatorFile;
    expect(second).toEqual(first);
    expect(readFileSync(second.caFile, 'utf8')).toBe(firstCa);
    // A client that trusted the first start's CA and token talks to the second start.
    expect((await armPut(first, 'rg-after-restart')).status).toBe(201);
    await stop(again);
  }, 150_000);

  it('the ARM emulator settings reach it: three subscriptions, the second at a zero storage quota, deployment times at 1/100', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ws-armsettings-'));
    const s = npmStart(dir, { ARM_EMULATOR_SUBSCRIPTIONS: '3', ARM_EMULATOR_QUOTAS: '2:StorageAccounts@westeurope=0', ARM_DEPLOYMENT_TIME_SCALE: '0.01' });
    await untilUp(s);
    const arm = JSON.parse(readFileSync(path.join(dir, 'arm', 'emulator.json'), 'utf8')) as EmulatorFile;
    expect(arm.subscriptionIds).toHaveLength(3);
    expect(arm.subscriptionIds[0]).toBe(arm.subscriptionId);
    expect(s.output()).toContain(`learner subs      ${arm.subscriptionIds.join(', ')}`);
    expect(s.output()).toMatch(/ARM timing\s+Azure's typical deployment times x 0.01 \(a VPN gateway in 21.0 s\)/);
    expect(s.output()).not.toMatch(/FAULTS/);
    const usages = await armGet(arm, `/subscriptions/${arm.subscriptionIds[1]}/providers/Microsoft.Storage/locations/westeurope/usages?api-version=2023-05-01`);
    expect(usages.body.value).toContainEqual(expect.objectContaining({ name: expect.objectContaining({ value: 'StorageAccounts' }), currentValue: 0, limit: 0 }));
    expect((await armGet(arm, '/_emulator/deploymentTimes')).body).toEqual({ scale: 0.01 });
    await stop(s);
  }, 90_000);
});
