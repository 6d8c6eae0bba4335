/**
 * The management API and the host's URL handling at their edges: instance ids that cannot exist
 * (a `/` inside, sent as `%2F`), malformed percent-encoding in any path, and error bodies read by the
 * official `durable-functions` DurableClient — each answered 4xx with a message, nothing stored.
 */
import type { HttpRequest } from '@azure/functions';
import { DurableClient } from 'durable-functions/lib/src/durableClient/DurableClient';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { durableClientInput } from '../../local/durable/managementApi';
import { startInstance, startStack, waitFor, type TestStack } from '../helpers/stack';
import { conformanceFunctions } from './conformanceFunctions';

/** An HTTP function that checks a key first, like the workshop API: malformed paths must not reach past the host. */
const keyed: FunctionDef = {
  kind: 'http',
  name: 'keyed',
  route: 'runs/{runId}',
  methods: ['GET'],
  authLevel: 'anonymous',
  durableClient: false,
  handler: async (request: HttpRequest) => (request.headers.get('x-key') === 'k' ? { jsonBody: { runId: request.params.runId } } : { status: 401, jsonBody: { error: 'key' } }),
};

let stack: TestStack;
let api: string;
beforeAll(async () => {
  stack = await startStack([...conformanceFunctions, keyed]);
  api = stack.api;
});
afterAll(async () => {
  await stack?.stop();
});

async function call(method: string, url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method, ...(method === 'POST' ? { body: '{}' } : {}) });
  return { status: res.status, text: await res.text() };
}

describe('instance ids with a slash', () => {
  it('get, raiseEvent, terminate, suspend, resume, rewind and purge of instances/a%2Fb answer 400 naming the id', async () => {
    const cases: Array<[string, string]> = [
      ['GET', `${api}/instances/a%2Fb`],
      ['DELETE', `${api}/instances/a%2Fb`],
      ['POST', `${api}/instances/a%2Fb/raiseEvent/approve`],
      ['POST', `${api}/instances/a%2Fb/terminate?reason=x`],
      ['POST', `${api}/instances/a%2Fb/suspend`],
      ['POST', `${api}/instances/a%2Fb/resume`],
      ['POST', `${api}/instances/a%2Fb/rewind`],
      ['POST', `${api}/orchestrators/approval/a%2Fb`],
    ];
    for (const [method, url] of cases) {
      const r = await call(method, url);
      expect(r.status, `${method} ${url}: ${r.text}`).toBe(400);
      const body = JSON.parse(r.text) as string | { error: string };
      expect(typeof body === 'string' ? body : body.error, `${method} ${url}`).toContain('Instance id "a/b" is not valid');
    }
    const list = (await (await fetch(`${api}/instances`)).json()) as Array<{ instanceId: string }>;
    expect(list.map((i) => i.instanceId)).not.toContain('a/b');
  });
});

describe('malformed percent-encoding', () => {
  it('answers 400 naming the bad segment, on the management API and on HTTP functions, before the function runs', async () => {
    for (const url of [`${stack.host.url}/api/runs/%E0%A4%A`, `${api}/instances/%E0%A4%A`, `${api}/instances/ok/raiseEvent/%ZZ`, `${api}/orchestrators/%E0%A4%A`]) {
      const r = await call(url.includes('raiseEvent') || url.includes('orchestrators') ? 'POST' : 'GET', url);
      expect(r.status, `${url}: ${r.text}`).toBe(400);
      expect(r.text, url).toMatch(/percent-encoding/);
    }
    // A well-formed one still reaches the function (and its key check).
    expect((await call('GET', `${stack.host.url}/api/runs/r%C3%A9n`)).status).toBe(401);
  });
});

describe('errors the official DurableClient reads', () => {
  it('rewind of a completed instance rejects with a message saying why, not "[object Object]"', async () => {
    const client = new DurableClient(durableClientInput(stack.host.url, stack.host.settings.hubName) as never);
    const id = await startInstance(api, 'sequence', 'Rome');
    await waitFor(api, id, ['Completed']);
    const err = (await client.rewind(id, 'try').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).not.toContain('[object Object]');
    expect(err.message).toMatch(/only supported on failed orchestration instances/);
    expect(err.message).toContain('Completed');
    const missing = (await client.rewind('no-such-instance', 'try').catch((e: unknown) => e)) as Error;
    expect(missing.message).not.toContain('[object Object]');
    expect(missing.message).toContain('no-such-instance');
  });

  it('every other rejected client call has a readable message too', async () => {
    const client = new DurableClient(durableClientInput(stack.host.url, stack.host.settings.hubName) as never);
    const running = await startInstance(api, 'longWait');
    await waitFor(api, running, ['Running']);
    const errors = await Promise.all([
      client.resume(running, 'not suspended').catch((e: unknown) => e as Error),
      client.purgeInstanceHistory(running).catch((e: unknown) => e as Error),
      client.raiseEvent(running, 'x'.repeat(300), {}).catch((e: unknown) => e as Error),
    ]);
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).not.toContain('[object Object]');
    }
    expect((errors[0] as Error).message).toMatch(/not Suspended/);
    expect((errors[1] as Error).message).toMatch(/only Completed, Failed or Terminated/);
    expect((errors[2] as Error).message).toMatch(/event name/);
    await client.terminate(running, 'done');
  });
});
