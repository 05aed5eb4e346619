import { describe, expect, it } from "vitest";
import {
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  MAX_IDEMPOTENCY_TTL_SECONDS,
  MIN_IDEMPOTENCY_TTL_SECONDS,
} from "../../../src/domain/limits.ts";
import { parseIdempotencyTtlSeconds } from "../../../src/config/idempotency-ttl.ts";

describe("parseIdempotencyTtlSeconds", () => {
  it.each([undefined, "", "  "])("falls back to the default for %j", (raw) => {
    expect(parseIdempotencyTtlSeconds(raw)).toBe(DEFAULT_IDEMPOTENCY_TTL_SECONDS);
  });

  it("reads a value in range", () => {
    expect(parseIdempotencyTtlSeconds("3600")).toBe(3600);
  });

  it("accepts both ends of the range", () => {
    expect(parseIdempotencyTtlSeconds(String(MIN_IDEMPOTENCY_TTL_SECONDS))).toBe(MIN_IDEMPOTENCY_TTL_SECONDS);
    expect(parseIdempotencyTtlSeconds(String(MAX_IDEMPOTENCY_TTL_SECONDS))).toBe(MAX_IDEMPOTENCY_TTL_SECONDS);
  });

  it.each([
    ["just below the minimum", String(MIN_IDEMPOTENCY_TTL_SECONDS - 1)],
    ["just above the maximum", String(MAX_IDEMPOTENCY_TTL_SECONDS + 1)],
    ["zero", "0"],
    ["negative", "-3600"],
    ["fractional", "3600.5"],
    ["a word", "one day"],
    ["a number with a unit", "3600s"],
    ["NaN", "NaN"],
    ["Infinity", "Infinity"],
    ["hexadecimal", "0x3c"],
    ["an exponent", "1e3"],
    ["a trailing .0", "120.0"],
    ["padded with spaces", " 120 "],
  ])("throws RangeError on %s", (_name, raw) => {
    expect(() => parseIdempotencyTtlSeconds(raw)).toThrow(RangeError);
  });
});
