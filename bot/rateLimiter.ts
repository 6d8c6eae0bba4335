/**
 * Sliding-window rate limits, as Teams publishes them for bots: per bot per conversation
 * 7 messages / 1 s, 8 / 2 s, 60 / 30 s, 1800 / 3600 s; and per app per tenant 50 requests / s
 * (we stay below, see BOT_APP_SENDS_PER_SECOND). Pure (time is passed in), so it is unit-tested
 * without clocks; the sender asks `waitMs(now)` and sleeps that long before `take(now)`.
 */
export interface Window {
  ms: number;
  max: number;
}

export const TEAMS_CONVERSATION_LIMITS: readonly Window[] = [
  { ms: 1_000, max: 7 },
  { ms: 2_000, max: 8 },
  { ms: 30_000, max: 60 },
  { ms: 3_600_000, max: 1_800 },
];

export class SlidingWindowLimiter {
  private stamps: number[] = [];
  private blockedUntil = 0;
  private readonly horizon: number;

  constructor(private readonly windows: readonly Window[]) {
    if (!windows.length) throw new Error('A rate limiter needs at least one window.');
    this.horizon = Math.max(...windows.map((w) => w.ms));
  }

  /** How long to wait from `now` before one more send fits every window (0 = now). */
  waitMs(now: number): number {
    this.prune(now);
    let wait = Math.max(0, this.blockedUntil - now);
    for (const w of this.windows) {
      const inWindow = this.stamps.filter((t) => t > now - w.ms);
      if (inWindow.length >= w.max) {
        // The oldest send that must leave the window before another fits.
        const oldest = inWindow[inWindow.length - w.max];
        wait = Math.max(wait, oldest + w.ms - now);
      }
    }
    return wait;
  }

  take(now: number): void {
    this.stamps.push(now);
  }

  /** The service said 429: nothing more until `until` (epoch ms). */
  block(until: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, until);
  }

  private prune(now: number): void {
    const cut = now - this.horizon;
    let i = 0;
    while (i < this.stamps.length && this.stamps[i] <= cut) i++;
    if (i) this.stamps.splice(0, i);
  }
}

/**
 * Back-off after the n-th consecutive 429 for the same send (n >= 1): the service's Retry-After
 * (500 ms when it gives none, never under 250 ms), doubled for every further 429, up to `capMs`;
 * the first wait is never shorter than Retry-After itself.
 */
export function backoffMs(attempt: number, retryAfterMs: number | undefined, capMs = 10_000): number {
  const base = Math.max(250, retryAfterMs ?? 500);
  return Math.max(retryAfterMs ?? 0, Math.min(capMs, base * 2 ** Math.max(0, attempt - 1)));
}

/** Retry-After header → ms: delta-seconds (may be fractional) or an HTTP date. */
export function retryAfterMs(header: string | undefined | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}
