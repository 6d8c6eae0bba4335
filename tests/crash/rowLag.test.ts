import { TableClient } from '@azure/data-tables';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startAzurite, type AzuriteHandle } from '../../local/azurite';
import { mix, type ChildInput } from './crashFunctions';
import { HostProcess, hostEnv, persist, send, sleep } from './harness';

/**
 * Deterministic reproduction of what the crash test finds by chance: the host is killed after an
 * episode that completes an instance has committed its history, but before the Instances row was
 * rewritten (the row is written after the history, so it lags by design). We create exactly that state
 * — a completed instance whose Instances row still says Running, as the previous episode left it —
 * and restart the host. Recovery must take the output from the history.
 *
 * The bug this caught (reported with the crash test): `DurableEngine.load` re-derived the status from the
 * history but kept `output` (and completedTime) from the lagging row, so the instance read Completed
 * with output null — and a sub-orchestration in this state reported `null` to its parent as its result.
 * Fixed: `load` now takes status, output and completion time from the history, custom status from
 * the sentinel (committed with each episode); this test keeps it that way.
 */

interface StatusReply {
  runtimeStatus: string;
  output: unknown;
}

describe('recovery when the Instances row lags behind a committed completion', () => {
  let azurite: AzuriteHandle | undefined;
  let host: HostProcess | undefined;
  let dir = '';
  let recovered: StatusReply | undefined;
  let expected: number[] = [];

  afterAll(async () => {
    await host?.kill9().catch(() => undefined);
    await azurite?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('recovers the completion from the history after a restart', { timeout: 120_000 }, async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'row-lag-'));
    azurite = await startAzurite();
    const port = await freePort();
    const hub = `RowLag${process.pid}`;
    const api = `http://127.0.0.1:${port}/runtime/webhooks/durabletask`;
    host = new HostProcess(hostEnv({ connectionString: azurite.connectionString, port, hub, dir, maxActivities: 4, maxOrchestrators: 4 }), path.join(dir, 'host-stderr.log'));
    await host.start();

    // crashChild as a top-level instance: two activities and a timer; output [c0, c1].
    const id = 'row-lag-1';
    const input: ChildInput = { owner: 'row-lag', index: 1 };
    const started = await send('POST', `${api}/orchestrators/crashChild/${id}`, input);
    expect(started.status).toBe(202);
    const c0 = mix('row-lag', 'c0', 0);
    expected = [c0, mix('row-lag', 'c1', c0)];
    let done: StatusReply | undefined;
    for (let i = 0; i < 200 && done?.runtimeStatus !== 'Completed'; i++) {
      done = JSON.parse((await send('GET', `${api}/instances/${id}`)).text) as StatusReply;
      await sleep(100);
    }
    expect(done).toMatchObject({ runtimeStatus: 'Completed', output: expected });

    // kill -9, then put the Instances row back to what the episode before the last one wrote.
    await host.kill9();
    const instances = TableClient.fromConnectionString(azurite.connectionString, `${hub}Instances`, { allowInsecureConnection: true });
    const row = await instances.getEntity<Record<string, unknown>>(id, '');
    const lagging: Record<string, unknown> = { partitionKey: id, rowKey: '' };
    for (const [k, v] of Object.entries(row)) {
      if (['partitionKey', 'rowKey', 'etag', 'timestamp', 'Output', 'CompletedTime'].includes(k) || k.startsWith('odata')) continue;
      lagging[k] = v;
    }
    lagging.RuntimeStatus = 'Running';
    await instances.upsertEntity(lagging as { partitionKey: string; rowKey: string }, 'Replace');

    await host.start();
    const after = await persist(`status of ${id}`, () => send('GET', `${api}/instances/${id}`), (r) => (r.status === 200 ? 'ok' : 'retry'), 30_000);
    recovered = JSON.parse(after.reply.text) as StatusReply;
    expect(recovered.runtimeStatus).toBe('Completed');
  });

  // Regression test for the lagging-row bug: the output must come from the history.
  it('reports the output recorded in the history, not the lagging row', () => {
    expect(recovered?.output).toEqual(expected);
  });
});
