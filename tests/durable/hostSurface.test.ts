import type { HttpRequest, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { MAX_PAYLOAD_CHARS } from '../../local/durable/store';
import { httpStart } from '../../http/httpStart';
import { eventTypes, raise, startInstance, startStack, status, waitFor, type TestStack } from '../helpers/stack';
import { concurrency, conformanceFunctions, resetCounters } from './conformanceFunctions';

/**
 * The host's edges: HTTP starters using the real DurableClient, host.json limits, and bad input
 * (which must get a clear 4xx and leave stored state as it was).
 */

// An HTTP function that drives an instance only through DurableClient, as app code in Azure does.
async function clientOps(request: HttpRequest, context: InvocationContext) {
  const client = df.getClient(context);
  const id = request.params.instanceId;
  await client.raiseEvent(id, 'approve', { via: 'DurableClient' });
  for (let i = 0; i < 100; i++) {
    const s = await client.getStatus(id);
    if (s.runtimeStatus === df.OrchestrationRuntimeStatus.Completed) {
      const purged = await client.purgeInstanceHistory(id);
      return { jsonBody: { output: s.output, purged: purged.instancesDeleted } };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { status: 500, jsonBody: { error: 'did not complete' } };
}

const surfaceFunctions: FunctionDef[] = [
  ...conformanceFunctions,
  { kind: 'http', name: 'httpStart', route: 'orchestrators/{orchestratorName}/{instanceId?}', methods: ['POST'], authLevel: 'anonymous', durableClient: true, handler: httpStart },
  { kind: 'http', name: 'clientOps', route: 'ops/{instanceId}', methods: ['POST'], authLevel: 'anonymous', durableClient: true, handler: clientOps },
];

let stack: TestStack;
let api: string;
beforeAll(async () => {
  stack = await startStack(surfaceFunctions, { maxActivities: 2, maxOrchestrators: 4 });
  api = stack.api;
});
afterAll(async () => {
  await stack?.stop();
});

describe('HTTP starters with DurableClient', () => {
  it('an HTTP function starts an orchestration and answers 202 with working management links', async () => {
    const res = await fetch(`${stack.host.url}/api/orchestrators/sequence`, { method: 'POST', body: JSON.stringify('Oslo') });
    expect(res.status).toBe(202);
    const links = (await res.json()) as { id: string; statusQueryGetUri: string };
    expect(res.headers.get('location')).toBe(links.statusQueryGetUri);
    expect(links.statusQueryGetUri.startsWith(stack.host.url)).toBe(true);
    await waitFor(api, links.id, ['Completed']);
    const s = (await (await fetch(links.statusQueryGetUri)).json()) as { output: unknown };
    expect(s.output).toEqual(['Hello Tokyo!', 'Hello Seattle!', 'Hello Oslo!']);
  });

  it('DurableClient raiseEvent, getStatus and purge work against the local host', async () => {
    const id = await startInstance(api, 'approval', 60_000);
    await waitFor(api, id, ['Running']);
    const res = await fetch(`${stack.host.url}/api/ops/${id}`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ output: { approved: { via: 'DurableClient' } }, purged: 1 });
    expect(await status(api, id)).toBeUndefined();
  });

  it('an HTTP starter for an unknown orchestrator answers 404 and names the registered ones', async () => {
    const res = await fetch(`${stack.host.url}/api/orchestrators/noSuchThing`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain('sequence');
  });
});

describe('host.json limits', () => {
  it('never runs more activities at once than maxConcurrentActivityFunctions', async () => {
    resetCounters();
    const id = await startInstance(api, 'parallelActivities', 8);
    await waitFor(api, id, ['Completed']);
    expect(concurrency.max).toBe(2);
    expect(stack.host.settings.maxConcurrentActivityFunctions).toBe(2);
  });

  it('never runs more orchestrator episodes at once than maxConcurrentOrchestratorFunctions', async () => {
    const engine = stack.host.engine;
    engine.stats.maxEpisodesInFlight = 0;
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => startInstance(api, 'sequence', `c${i}`)));
    for (const id of ids) await waitFor(api, id, ['Completed']);
    expect(stack.host.settings.maxConcurrentOrchestratorFunctions).toBe(4);
    expect(engine.stats.maxEpisodesInFlight).toBeLessThanOrEqual(4);
    expect(engine.stats.maxEpisodesInFlight).toBeGreaterThan(1);
  });
});

describe('bad input', () => {
  async function instanceCount(prefix: string): Promise<number> {
    const list = (await (await fetch(`${api}/instances?instanceIdPrefix=${prefix}`)).json()) as unknown[];
    return list.length;
  }

  it('malformed JSON input is refused with 400 and creates nothing', async () => {
    const res = await fetch(`${api}/orchestrators/sequence/bad-json-1`, { method: 'POST', body: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/not valid JSON/);
    expect(await status(api, 'bad-json-1')).toBeUndefined();
  });

  it('an unknown orchestrator name is refused with 404 and creates nothing', async () => {
    const res = await fetch(`${api}/orchestrators/cohortRunTypo/unknown-1`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    const { error } = (await res.json()) as { error: string };
    expect(error).toContain('"cohortRunTypo"');
    expect(error).toContain('Registered orchestrators');
    expect(await instanceCount('unknown-1')).toBe(0);
  });

  it('oversized payloads are refused with 413 and leave state untouched', async () => {
    const tooBigForTables = JSON.stringify('x'.repeat(MAX_PAYLOAD_CHARS + 10));
    const r1 = await fetch(`${api}/orchestrators/sequence/big-1`, { method: 'POST', body: tooBigForTables });
    expect(r1.status).toBe(413);
    expect(((await r1.json()) as { error: string }).error).toContain(`limit is ${MAX_PAYLOAD_CHARS}`);
    expect(await status(api, 'big-1')).toBeUndefined();

    const r2 = await fetch(`${api}/orchestrators/sequence/big-2`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) });
    expect(r2.status).toBe(413);
    expect(await status(api, 'big-2')).toBeUndefined();

    const id = await startInstance(api, 'approval', 60_000);
    await waitFor(api, id, ['Running']);
    const before = await status(api, id, true);
    const r3 = await fetch(`${api}/instances/${id}/raiseEvent/approve`, { method: 'POST', body: tooBigForTables });
    expect(r3.status).toBe(413);
    const r4 = await fetch(`${api}/instances/${id}/raiseEvent/approve`, { method: 'POST', body: '{oops' });
    expect(r4.status).toBe(400);
    await new Promise((r) => setTimeout(r, 200));
    const after = await status(api, id, true);
    expect(after?.runtimeStatus).toBe('Running');
    expect(eventTypes(after!)).toEqual(eventTypes(before!));
    expect(await raise(api, id, 'approve', 'fine')).toBe(202);
    expect((await waitFor(api, id, ['Completed'])).output).toEqual({ approved: 'fine' });
  });

  it('a second start with the id of a running instance is refused with 409', async () => {
    const id = await startInstance(api, 'longWait', undefined, `dup-${Date.now()}`);
    await waitFor(api, id, ['Running']);
    const res = await fetch(`${api}/orchestrators/longWait/${id}`, { method: 'POST', body: '' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toContain('already exists and is Running');
    expect((await status(api, id))?.runtimeStatus).toBe('Running');
  });

  it('unknown routes and operations get 404 with a pointer to what exists', async () => {
    const r1 = await fetch(`${api}/instances/whatever/explode`, { method: 'POST' });
    expect(r1.status).toBe(404);
    const r2 = await fetch(`${stack.host.url}/api/nothing-here`);
    expect(r2.status).toBe(404);
    expect(((await r2.json()) as { error: string }).error).toContain('/api/orchestrators');
    const r3 = await fetch(`${api}/orchestrators/sequence`, { method: 'GET' });
    expect(r3.status).toBe(405);
  });
});
