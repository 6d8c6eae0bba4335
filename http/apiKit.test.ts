import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { ApiError, route } from './apiKit';

/**
 * What the workshop API answers when a handler throws: its own refusals keep their status; a task hub or store
 * that could not answer now (a 503, a broken connection) is 503 with Retry-After, so clients retry; anything
 * else is a 500. bench:cohort saw a learner's action answered 500 when the durable client's connection to the
 * task hub was reset under load.
 */
const request = () => new HttpRequest({ method: 'POST', url: 'http://127.0.0.1/api/runs/r/learners/l/done' });
const context = () => new InvocationContext({ functionName: 'test' });
const failingWith = (err: unknown) => route('test', () => Promise.reject(err));

describe('route', () => {
  it('answers an ApiError with its status', async () => {
    expect((await failingWith(new ApiError(409, 'not now'))(request(), context())).status).toBe(409);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE'])('answers a %s on the way to the task hub 503 with Retry-After', async (code) => {
    const err = Object.assign(new Error(`read ${code}`), { code });
    const res = await failingWith(err)(request(), context());
    expect(res.status).toBe(503);
    expect(res.headers).toMatchObject({ 'retry-after': '5' });
    expect((res as { jsonBody?: unknown }).jsonBody).toMatchObject({ retryable: true });
  });

  it('answers a bug 500', async () => {
    expect((await failingWith(new TypeError('x is undefined'))(request(), context())).status).toBe(500);
  });
});
