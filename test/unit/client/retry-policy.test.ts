import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY_POLICY,
  RETRY_POLICY_LIMITS,
  backoffDelayMs,
  isRetryableStatus,
  resolveRetryPolicy,
  retryAfterMs,
} from "../../../src/client/retry-policy.ts";

describe("isRetryableStatus", () => {
  it("retries 429 and every 5xx", () => {
    for (const status of [429, 500, 502, 503, 504, 599]) expect(isRetryableStatus(status)).toBe(true);
  });

  it("never retries a success or any other 4xx", () => {
    for (const status of [200, 201, 400, 401, 402, 404, 405, 409, 413, 415, 422, 428, 430, 499, 600]) {
      expect(isRetryableStatus(status)).toBe(false);
    }
  });
});

describe("backoffDelayMs (full jitter)", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };

  it("is random in [0, base * 2^(retry-1)]", () => {
    expect(backoffDelayMs(1, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(1, policy, () => 0.999999)).toBe(99);
    expect(backoffDelayMs(2, policy, () => 0.5)).toBe(100);
    expect(backoffDelayMs(3, policy, () => 0.999999)).toBe(399);
  });

  it("never exceeds maxDelayMs, even after very many retries", () => {
    expect(backoffDelayMs(5, policy, () => 0.999999)).toBe(999);
    expect(backoffDelayMs(10_000, policy, () => 0.999999)).toBe(999);
  });
});

describe("retryAfterMs", () => {
  const now = Date.parse("2026-11-26T12:00:00Z");

  it("reads delta-seconds", () => {
    expect(retryAfterMs("0", now)).toBe(0);
    expect(retryAfterMs("2", now)).toBe(2000);
    expect(retryAfterMs(" 120 ", now)).toBe(120_000);
  });

  it("reads an HTTP-date as the time left until then, never negative", () => {
    expect(retryAfterMs("Thu, 26 Nov 2026 12:00:05 GMT", now)).toBe(5000);
    expect(retryAfterMs("Thu, 26 Nov 2026 11:59:00 GMT", now)).toBe(0);
  });

  it("ignores an absent or unreadable header", () => {
    for (const header of [null, "", "-1", "1.5", "soon", "12345678901"]) expect(retryAfterMs(header, now)).toBeNull();
  });
});

describe("resolveRetryPolicy", () => {
  it("fills in defaults and keeps what the caller set", () => {
    expect(resolveRetryPolicy()).toEqual(DEFAULT_RETRY_POLICY);
    expect(resolveRetryPolicy({ maxAttempts: 3 })).toEqual({ ...DEFAULT_RETRY_POLICY, maxAttempts: 3 });
  });

  it.each(Object.entries(RETRY_POLICY_LIMITS))(
    "accepts %s at both bounds and rejects just outside",
    (name, [min, max]) => {
      expect(resolveRetryPolicy({ [name]: min })).toMatchObject({ [name]: min });
      expect(resolveRetryPolicy({ [name]: max })).toMatchObject({ [name]: max });
      expect(() => resolveRetryPolicy({ [name]: min - 1 })).toThrow(RangeError);
      expect(() => resolveRetryPolicy({ [name]: max + 1 })).toThrow(RangeError);
      expect(() => resolveRetryPolicy({ [name]: min + 0.5 })).toThrow(RangeError);
    },
  );
});
