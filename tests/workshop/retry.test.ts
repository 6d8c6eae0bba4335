import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError, WorkshopApi } from '../../cli/apiClient';
import { RehearsalArm } from '../../cli/rehearsalArm';
import type { RetryInfo } from '../../cli/retry';
import { localArmAccess } from '../../cli/workshop';
import { openTestDatabase } from '../helpers/database';
import { startArmEmulator, type ArmEmulator } from '../../local/arm/emulator';

/** The rehearsal's retry policy (cli/retry.ts) as the workshop API client and the ARM client use it. */

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

/** A stand-in workshop API answering from a script; every request's arrival time is kept. */
async function scripted(answers: Array<{ status: number; headers?: Record<string, string> }>, port = 0) {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push(Date.now());
    const a = answers[Math.min(arrivals.length - 1, answers.length - 1)];
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(JSON.stringify(a.status < 300 ? { runs: [] } : { error: `scripted ${a.status}` }));
  });
  const bound = await listen(server, port);
  return { server, port: bound, arrivals };
}

describe('workshop API client retries', () => {
  it('obeys Retry-After on 503 and 429: never sooner, then returns the answer', async () => {
    const s = await scripted([{ status: 503, headers: { 'retry-after': '1' } }, { status: 429, headers: { 'retry-after': '1' } }, { status: 200 }]);
    const retries: RetryInfo[] = [];
    const api = new WorkshopApi({ url: `http://127.0.0.1:${s.port}`, instructorKey: 'k'.repeat(20), retry: { retryForMs: 30_000, onRetry: (i) => retries.push(i) } });
    expect(await api.listRuns()).toEqual({ runs: [] });
    expect(retries.map((r) => [r.reason, r.retryAfterMs])).toEqual([
      ['HTTP 503', 1000],
      ['HTTP 429', 1000],
    ]);
    expect(s.arrivals).toHaveLength(3);
    expect(s.arrivals[1] - s.arrivals[0]).toBeGreaterThanOrEqual(1000);
    expect(s.arrivals[2] - s.arrivals[1]).toBeGreaterThanOrEqual(1000);
    await close(s.server);
  });

  it('waits through a host that is not there (connection refused) until it answers', async () => {
    const probe = createServer();
    const port = await listen(probe);
    await close(probe); // nothing listens on `port` now
    let later: Awaited<ReturnType<typeof scripted>> | undefined;
    const retries: RetryInfo[] = [];
    const api = new WorkshopApi({
      url: `http://127.0.0.1:${port}`,
      instructorKey: 'k'.repeat(20),
      retry: {
        retryForMs: 60_000,
        baseDelayMs: 50,
        maxDelayMs: 200,
        onRetry: (i) => {
          retries.push(i);
          // The host comes back after a few refused attempts.
          if (retries.length === 3) void scripted([{ status: 200 }], port).then((s) => (later = s));
        },
      },
    });
    expect(await api.listRuns()).toEqual({ runs: [] });
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(retries[0].reason).toMatch(/ECONNREFUSED/);
    expect(later!.arrivals).toHaveLength(1);
    await close(later!.server);
  });

  it('an answer (409, 400, 401) is not retried, and a host that stays away fails the call once the budget is spent', async () => {
    const s = await scripted([{ status: 409 }]);
    const api = new WorkshopApi({ url: `http://127.0.0.1:${s.port}`, instructorKey: 'k'.repeat(20), retry: { retryForMs: 30_000 } });
    await expect(api.listRuns()).rejects.toMatchObject({ status: 409 });
    expect(s.arrivals).toHaveLength(1);
    await close(s.server);

    const down = await scripted([{ status: 503 }]);
    const api2 = new WorkshopApi({ url: `http://127.0.0.1:${down.port}`, instructorKey: 'k'.repeat(20), retry: { retryForMs: 1_500, baseDelayMs: 100, maxDelayMs: 300 } });
    const err = await api2.listRuns().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiCallError);
    expect((err as Error).message).toMatch(/HTTP 503.*retried \d+ times? over \d+ s; gave up: HTTP 503/);
    expect(down.arrivals.length).toBeGreaterThan(2);
    await close(down.server);
  });
});

describe('rehearsal ARM client', () => {
  let db: ReturnType<typeof openTestDatabase>;
  let arm: ArmEmulator;
  beforeAll(async () => {
    db = openTestDatabase();
    arm = await startArmEmulator({ database: db.database, logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await arm?.stop();
    await db?.dispose();
  });

  it('a learner call outlasts a throttling storm longer than the SDK retries, obeying Retry-After', async () => {
    arm.setFaults({ seed: 3, throttle: { fraction: 1, retryAfterSeconds: 1 } });
    arm.resetStats();
    const retries: RetryInfo[] = [];
    const client = new RehearsalArm({ url: arm.url, token: arm.token, caCert: arm.caCertPem, subscriptionId: arm.subscriptionId }, { sdkRetries: 1, retry: { retryForMs: 60_000, onRetry: (i) => retries.push(i) } });
    // The storm ends only after the SDK's own attempts (2 per call here) were all refused at least twice over.
    const ends = setInterval(() => {
      if (arm.stats.throttled >= 5) arm.setFaults({});
    }, 20);
    try {
      await client.blockProvisioning('rg-throttled-learner', 'westeurope');
    } finally {
      clearInterval(ends);
      arm.setFaults({});
    }
    expect(await client.isBlocked('rg-throttled-learner')).toBe(true);
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries.every((r) => r.reason === 'HTTP 429' && r.retryAfterMs === 1000)).toBe(true);
  }, 60_000);

  it('reads the emulator address again when the old one refuses connections (an emulator restarted elsewhere)', async () => {
    const probe = createServer();
    const deadPort = await listen(probe);
    await close(probe);
    const reloads: string[] = [];
    const client = new RehearsalArm(
      { url: `https://127.0.0.1:${deadPort}`, token: arm.token, caCert: arm.caCertPem, subscriptionId: arm.subscriptionId, reload: () => ({ url: arm.url, token: arm.token, caCert: arm.caCertPem, subscriptionId: arm.subscriptionId }) },
      { sdkRetries: 0, retry: { retryForMs: 30_000, baseDelayMs: 50 }, onReload: (a) => reloads.push(a.url) },
    );
    expect(await client.groupExists('rg-throttled-learner')).toBe(true);
    expect(reloads).toEqual([arm.url]);
    expect(client.counts.reloads).toBe(1);
  }, 60_000);

  it("follows the local stack's emulator.json when the emulator it was told about has gone (the CLI's ARM access)", async () => {
    const probe = createServer();
    const deadPort = await listen(probe);
    await close(probe);
    const dir = mkdtempSync(path.join(tmpdir(), 'ws-armfile-'));
    const file = path.join(dir, 'emulator.json');
    writeFileSync(path.join(dir, 'ca.pem'), arm.caCertPem);
    const write = (url: string) => writeFileSync(file, JSON.stringify({ url, token: arm.token, subscriptionId: arm.subscriptionId, caFile: path.join(dir, 'ca.pem') }));
    write(`https://127.0.0.1:${deadPort}`);
    const client = new RehearsalArm(localArmAccess(file), { sdkRetries: 0, retry: { retryForMs: 30_000, baseDelayMs: 50 } });
    // The stack restarted and its emulator is elsewhere now: npm start rewrote the file.
    write(arm.url);
    expect(await client.groupExists('rg-not-there')).toBe(false);
    expect(client.url).toBe(arm.url);
    expect(client.counts.reloads).toBe(1);
  }, 60_000);
});
