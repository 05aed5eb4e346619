import {
  DEFAULT_PERIOD_CLOSE_AFTER_SECONDS,
  DEFAULT_PERIOD_CLOSE_AT_ENTRIES,
  MAX_IDEMPOTENCY_TTL_SECONDS,
  MAX_PERIOD_CLOSE_AT_ENTRIES,
  MIN_PERIOD_CLOSE_AFTER_SECONDS,
  MIN_PERIOD_CLOSE_AT_ENTRIES,
} from "../domain/limits.ts";

/**
 * The automatic close policy's settings (docs/operations.md): close the open
 * period once its oldest entry is PERIOD_CLOSE_AFTER_SECONDS old, or once it
 * holds PERIOD_CLOSE_AT_ENTRIES entries. A bad value throws, naming the
 * setting and the fix, as IDEMPOTENCY_TTL_SECONDS does.
 */
export interface PeriodPolicySettings {
  readonly closeAfterMs: number;
  readonly closeAtEntries: number;
}

export function parsePeriodPolicy(env: {
  readonly PERIOD_CLOSE_AFTER_SECONDS?: string;
  readonly PERIOD_CLOSE_AT_ENTRIES?: string;
}): PeriodPolicySettings {
  return {
    closeAfterMs:
      parseWhole(
        "PERIOD_CLOSE_AFTER_SECONDS",
        env.PERIOD_CLOSE_AFTER_SECONDS,
        MIN_PERIOD_CLOSE_AFTER_SECONDS,
        MAX_IDEMPOTENCY_TTL_SECONDS,
        DEFAULT_PERIOD_CLOSE_AFTER_SECONDS,
      ) * 1000,
    closeAtEntries: parseWhole(
      "PERIOD_CLOSE_AT_ENTRIES",
      env.PERIOD_CLOSE_AT_ENTRIES,
      MIN_PERIOD_CLOSE_AT_ENTRIES,
      MAX_PERIOD_CLOSE_AT_ENTRIES,
      DEFAULT_PERIOD_CLOSE_AT_ENTRIES,
    ),
  };
}

function parseWhole(name: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = /^\d{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}; fix: set it in that range, or delete it for the default ${fallback}`,
    );
  }
  return value;
}
