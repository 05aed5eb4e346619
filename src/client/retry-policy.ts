/**
 * When and how long the client waits before trying a request again. Pure
 * functions of their inputs, so they test without a network or a clock.
 */

export interface RetryPolicy {
  /** Attempts at one logical operation, the first included. */
  readonly maxAttempts: number;
  /** Time budget for one logical operation, from its first attempt to giving up. */
  readonly maxElapsedMs: number;
  /** One attempt is abandoned (and retried) after this long without a whole response. */
  readonly attemptTimeoutMs: number;
  /** Backoff before retry n (from 1) is random in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))]. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  maxElapsedMs: 60_000,
  attemptTimeoutMs: 10_000,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
};

/**
 * No retry starts with less than this left of the time budget (or of
 * attemptTimeoutMs, if shorter): an attempt cut off at once would only turn
 * a request that probably landed into an unknown outcome.
 */
export const MIN_ATTEMPT_WINDOW_MS = 1_000;

/** Bounds a caller's policy must stay within; a typo must not mean "retry forever". */
export const RETRY_POLICY_LIMITS: Record<keyof RetryPolicy, readonly [number, number]> = {
  maxAttempts: [1, 100],
  maxElapsedMs: [MIN_ATTEMPT_WINDOW_MS, 24 * 3_600_000],
  attemptTimeoutMs: [1, 600_000],
  baseDelayMs: [0, 600_000],
  maxDelayMs: [0, 3_600_000],
};

export function resolveRetryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY, ...overrides };
  for (const [name, [min, max]] of Object.entries(RETRY_POLICY_LIMITS)) {
    const value = policy[name as keyof RetryPolicy];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`retry.${name} must be an integer from ${min} to ${max}, not ${value}`);
    }
  }
  return policy;
}

/**
 * 429 and every 5xx may succeed later. Every other status is the server's
 * definite answer: sending the same request again would get the same one.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

/** "Full jitter": spreads retries of many clients evenly instead of in synchronized waves. */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry - 1, 52));
  return Math.floor(random() * ceiling);
}

/** A Retry-After header (delta-seconds or HTTP-date) as milliseconds from `nowMs`; null if absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (/^\d{1,9}$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  if (Number.isNaN(date) || !/[a-z]/i.test(value)) return null;
  return Math.max(0, date - nowMs);
}
