/**
 * The retry policy of the CLI's long-running commands (`workshop rehearse`): a workshop host that
 * restarts, a store that is briefly away, or a throttled API must cost the rehearsal a wait, not the
 * run. The policy, in full:
 *
 * - **What is retried**: a request that never got an answer (connection refused or reset, socket
 *   closed, timeout: the host is restarting), and the answers 429, 500, 502, 503 and 504. Anything
 *   else (400, 401, 404, 409, …) is an answer and goes back to the caller at once.
 * - **How long to wait**: the server's `Retry-After` (seconds or an HTTP date) when it sends one — never
 *   less; otherwise "exponential back-off with full jitter" (a random wait between 0 and
 *   min(cap, base × 2^attempt); AWS Architecture Blog, "Exponential Backoff And Jitter"), so many
 *   simulated learners waiting on the same restart do not come back in one burst.
 * - **For how long**: until `retryForMs` has passed since the first failure of this call; then the
 *   last error is thrown, saying how long it was tried. One budget per call, not per attempt, so a
 *   host that never comes back fails the command in bounded time.
 *
 * No retry library is used: the candidates (p-retry, async-retry) do not read `Retry-After`, which
 * is the part that matters here, and the whole policy is the function below.
 */
export interface RetryPolicy {
  /** Give up this long after the first failure (ms). 0 = no retries. */
  retryForMs: number;
  /** First back-off cap (ms); doubles per attempt up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Told about every retry: what failed, the attempt number and the wait chosen. */
  onRetry?: (info: RetryInfo) => void;
  /** For tests: the random source of the jitter and the clock/sleep. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface RetryInfo {
  what: string;
  attempt: number;
  delayMs: number;
  /** `ECONNREFUSED`, `HTTP 503`, … */
  reason: string;
  /** The server asked for this wait (Retry-After), in ms. */
  retryAfterMs?: number;
}

/** A failure the policy may retry: why, and the server's Retry-After when it gave one. */
export interface Retryable {
  reason: string;
  retryAfterMs?: number;
}

export const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

/** Node's (undici's) error codes for "no answer came back": the host is not there or went away mid-request. */
export const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The error code of a failed `fetch` (`TypeError: fetch failed` carries it in `cause`), or of a Node socket error. */
export function networkErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return code;
  }
  // undici reports a socket closed mid-response as `TypeError: terminated` without a code.
  if (err instanceof TypeError && /^(fetch failed|terminated)$/.test(err.message)) return err.message;
  return undefined;
}

/** `Retry-After: <seconds>` or `Retry-After: <HTTP date>` → ms (undefined when absent or unreadable). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The wait before attempt `attempt` (1-based) when the server named none: full jitter under a doubling cap. */
export function backoffMs(attempt: number, base: number, cap: number, random: () => number): number {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt - 1, 20));
  return Math.round(random() * ceiling);
}

/**
 * Runs `fn` until it succeeds, fails with something `classify` says is not retryable, or the budget
 * is spent (then throws the last error itself, so callers keep their own error types).
 */
export async function withRetry<T>(what: string, policy: RetryPolicy, classify: (err: unknown) => Retryable | undefined, fn: () => Promise<T>): Promise<T> {
  const now = policy.now ?? Date.now;
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = policy.random ?? Math.random;
  const base = policy.baseDelayMs ?? 250;
  const cap = policy.maxDelayMs ?? 5_000;
  let firstFailure: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retry = classify(err);
      if (!retry || policy.retryForMs <= 0) throw err;
      firstFailure ??= now();
      const spent = now() - firstFailure;
      // Retry-After is a floor (a little jitter on top spreads the learners out); back-off otherwise.
      const delayMs = retry.retryAfterMs !== undefined ? retry.retryAfterMs + backoffMs(1, base, base, random) : backoffMs(attempt, base, cap, random);
      if (spent + delayMs > policy.retryForMs) {
        if (err instanceof Error) err.message += ` (retried ${attempt - 1} time${attempt === 2 ? '' : 's'} over ${Math.round(spent / 1000)} s; gave up: ${retry.reason})`;
        throw err;
      }
      policy.onRetry?.({ what, attempt, delayMs, reason: retry.reason, ...(retry.retryAfterMs !== undefined ? { retryAfterMs: retry.retryAfterMs } : {}) });
      await sleep(delayMs);
    }
  }
}
