import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import { ApiError } from './apiKit';

/**
 * Who is calling: one key per role, sent as the `x-api-key` header.
 *
 * - Instructors send INSTRUCTOR_API_KEY.
 * - Learners send their own **learner token**, `wl1.<runId>.<learnerId>.<mac>` (ids base64url),
 *   where mac = HMAC-SHA256(LEARNER_API_KEY, "workshop-learner\n<runId>\n<learnerId>"). The server
 *   keeps LEARNER_API_KEY secret and hands each learner their token when the run starts (and on
 *   GET .../learners/{id}/token, instructors only). A token names the one learner it speaks for,
 *   so a learner cannot act for another one by changing a header, and nothing per learner is stored.
 *
 * Instructor routes refuse a learner token with 403 (it is a valid key of the wrong role); learner
 * routes take the learner's own token or the instructor key (an instructor acting for the learner).
 * A missing or unknown key is 401.
 */
export type Caller = { role: 'instructor' } | { role: 'learner'; runId: string; learnerId: string };

export interface ApiKeys {
  instructorKey?: string;
  learnerKey?: string;
}

const TOKEN_PREFIX = 'wl1';

/**
 * What `npm start` uses when the settings are not set: the local stack listens on loopback only,
 * and these are printed at start. A deployment sets its own (Key Vault references).
 */
export const LOCAL_DEFAULT_KEYS = {
  instructor: 'local-instructor-key-not-a-secret',
  learner: 'local-learner-signing-key-not-a-secret',
} as const;

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function mac(learnerKey: string, runId: string, learnerId: string): Buffer {
  return createHmac('sha256', learnerKey).update(`workshop-learner\n${runId}\n${learnerId}`).digest();
}

function sameSecret(a: string | Buffer, b: string | Buffer): boolean {
  const x = Buffer.isBuffer(a) ? a : Buffer.from(a);
  const y = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token a learner uses for `learnerId` in `runId`. */
export function learnerToken(learnerKey: string, runId: string, learnerId: string): string {
  return [TOKEN_PREFIX, b64(runId), b64(learnerId), mac(learnerKey, runId, learnerId).toString('base64url')].join('.');
}

/** Who `key` belongs to, or undefined for a key nobody was given. */
export function identify(key: string, keys: ApiKeys): Caller | undefined {
  if (keys.instructorKey && sameSecret(key, keys.instructorKey)) return { role: 'instructor' };
  const parts = key.split('.');
  if (!keys.learnerKey || parts.length !== 4 || parts[0] !== TOKEN_PREFIX) return undefined;
  const runId = Buffer.from(parts[1], 'base64url').toString('utf8');
  const learnerId = Buffer.from(parts[2], 'base64url').toString('utf8');
  const given = Buffer.from(parts[3], 'base64url');
  return sameSecret(given, mac(keys.learnerKey, runId, learnerId)) ? { role: 'learner', runId, learnerId } : undefined;
}

function callerOf(request: HttpRequest, keys: ApiKeys): Caller {
  if (!keys.instructorKey || !keys.learnerKey) {
    throw new ApiError(503, 'The workshop API has no keys configured: set INSTRUCTOR_API_KEY and LEARNER_API_KEY in the app settings (npm start sets local defaults).');
  }
  const key = request.headers.get('x-api-key');
  if (!key) throw new ApiError(401, 'Missing x-api-key header: instructors send the instructor key, learners their learner token.');
  const caller = identify(key.trim(), keys);
  if (!caller) throw new ApiError(401, 'Unknown API key: the x-api-key header is neither the instructor key nor a learner token issued by this deployment.');
  return caller;
}

/** Instructor routes: the instructor key only. */
export function requireInstructor(request: HttpRequest, keys: ApiKeys): Caller {
  const caller = callerOf(request, keys);
  if (caller.role !== 'instructor') {
    throw new ApiError(
      403,
      `This is an instructor route; your key is the learner token of "${caller.learnerId}" in run "${caller.runId}". ` +
        'Learners may use the learner routes (answer, done, submit, help, messages, status) for themselves; nothing was changed.',
    );
  }
  return caller;
}

/** Learner routes: the learner's own token, or the instructor key (acting for the learner). */
export function requireLearnerOrInstructor(request: HttpRequest, keys: ApiKeys, runId: string, learnerId: string): Caller {
  const caller = callerOf(request, keys);
  if (caller.role === 'learner' && (caller.runId !== runId || caller.learnerId !== learnerId)) {
    throw new ApiError(
      403,
      `Your learner token is for "${caller.learnerId}" in run "${caller.runId}"; it cannot act for "${learnerId}" in run "${runId}". Nothing was changed.`,
    );
  }
  return caller;
}
