import {
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  MAX_IDEMPOTENCY_TTL_SECONDS,
  MIN_IDEMPOTENCY_TTL_SECONDS,
} from "../domain/limits.ts";

/**
 * Reads the IDEMPOTENCY_TTL_SECONDS var. A bad value is an operator's
 * mistake and must be loud, so it throws rather than falling back, with a
 * message that names the setting and the fix: the Worker logs it whole (an
 * account object that cannot start fails every call to it).
 */
export function parseIdempotencyTtlSeconds(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return DEFAULT_IDEMPOTENCY_TTL_SECONDS;
  const seconds = /^\d{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (
    !Number.isSafeInteger(seconds) ||
    seconds < MIN_IDEMPOTENCY_TTL_SECONDS ||
    seconds > MAX_IDEMPOTENCY_TTL_SECONDS
  ) {
    throw new RangeError(
      `IDEMPOTENCY_TTL_SECONDS must be an integer from ${MIN_IDEMPOTENCY_TTL_SECONDS} to ${MAX_IDEMPOTENCY_TTL_SECONDS}, got ${JSON.stringify(raw)}; fix: set it to whole seconds in that range, or delete it for the default ${DEFAULT_IDEMPOTENCY_TTL_SECONDS}`,
    );
  }
  return seconds;
}
