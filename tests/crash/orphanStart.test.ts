import { TableClient } from '@azure/data-tables';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startAzurite, type AzuriteHandle } from '../../local/azurite';
import { EVENTS, type EventPayload, type WorkflowInput, type WorkflowOutput } from './crashFunctions';
import { HostProcess, hostEnv, persist, send, sleep } from './harness';

/**
 * Deterministic reproduction of a state the crash test reaches by chance: the host is killed inside
 * `createInstance` after the start message was written to the instance's inbox but before its
 * Instances row was. The client never got an answer and retries the start; the retry finds no
 * Instances row and creates the instance again with a new execution id, so the partition now holds a
 * second, orphaned `start-…` inbox row from the killed attempt.
 *
 * We create that state directly (write the orphaned start row as the store would have), start the
 * instance, let it consume its three events, kill -9 the host and restart it. The instance must carry
 * on and complete; an engine that treats the orphaned start as a new execution after the restart
 * throws away the history — and with it the events the client was told were accepted — and the
 * instance waits forever.
 *
 * The bug this caught: `createInstance` builds a brand-new instance with only its own start message in
 * memory; the orphaned start row stayed in the inbox, and the next load's episode took it as a restart
 * (its executionId differs from the sentinel's). Fixed: only a start message newer than the running
 * execution starts a new one; older ones are dropped as leftovers.
 */

interface HistoryRow {
  EventType: string;
  Name?: string;
}
interface StatusReply {
  runtimeStatus: string;
  output: unknown;
  historyEvents?: HistoryRow[];
}

describe('recovery with an orphaned start message from a killed createInstance', () => {
  let azurite: AzuriteHandle | undefined;
  let host: HostProcess | undefined;
  let dir = '';
  let final: StatusReply | undefined;
  const nonces: Record<string, string> = {};

  afterAll(async () => {
    await host?.kill9().catch(() => undefined);
    await azurite?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restarts a host whose instance has an orphaned start message', { timeout: 120_000 }, async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'orphan-start-'));
    azurite = await startAzurite();
    const port = await freePort();
    const hub = `Orphan${process.pid}`;
    const api = `http://127.0.0.1:${port}/runtime/webhooks/durabletask`;
    host = new HostProcess(hostEnv({ connectionString: azurite.connectionString, port, hub, dir, maxActivities: 4, maxOrchestrators: 4 }), path.join(dir, 'host-stderr.log'));
    await host.start(); // creates the tables

    // What the killed first attempt left: its start message, and no Instances row.
    const id = 'orphan-start-1';
    const input: WorkflowInput = { index: 2 };
    const orphan = { EventType: 0, EventId: -1, Timestamp: new Date().toISOString(), Name: 'crashWorkflow', Input: JSON.stringify(input) };
    const historyTable = TableClient.fromConnectionString(azurite.connectionString, `${hub}History`, { allowInsecureConnection: true });
    const orphanExecution = 'killedattempt0000000000000000000';
    await historyTable.createEntity({ partitionKey: id, rowKey: `inbox-start-${orphanExecution}`, Seq: Date.now() * 1000, ExecutionId: orphanExecution, Message: JSON.stringify(orphan) });

    // The client's retry.
    const started = await send('POST', `${api}/orchestrators/crashWorkflow/${id}`, input);
    expect(started.status).toBe(202);
    for (const name of EVENTS) {
      nonces[name] = `${id}:${name}:nonce`;
      const payload: EventPayload = { nonce: nonces[name] };
      const r = await send('POST', `${api}/instances/${id}/raiseEvent/${name}`, payload, { 'Idempotency-Key': `${id}:${name}` });
      expect(r.status).toBe(202);
    }
    // All three events are in the history before the kill.
    let s: StatusReply | undefined;
    for (let i = 0; i < 100; i++) {
      s = JSON.parse((await send('GET', `${api}/instances/${id}?showHistory=true`)).text) as StatusReply;
      if ((s.historyEvents ?? []).filter((e) => e.EventType === 'EventRaised').length === EVENTS.length) break;
      await sleep(100);
    }
    expect((s?.historyEvents ?? []).filter((e) => e.EventType === 'EventRaised')).toHaveLength(EVENTS.length);

    await host.kill9();
    await host.start();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const r = await persist(`status of ${id}`, () => send('GET', `${api}/instances/${id}?showHistory=true`), () => 'ok', 10_000);
      final = JSON.parse(r.reply.text) as StatusReply;
      if (final.runtimeStatus === 'Completed' || final.runtimeStatus === 'Failed') break;
      await sleep(200);
    }
    expect(final).toBeDefined();
  });

  // Regression test for the orphaned-start bug.
  it('completes with the events it had consumed before the kill', () => {
    expect(final?.runtimeStatus).toBe('Completed');
    expect((final?.output as WorkflowOutput | undefined)?.events).toEqual(nonces);
    expect((final?.historyEvents ?? []).filter((e) => e.EventType === 'ExecutionStarted')).toHaveLength(1);
  });
});
