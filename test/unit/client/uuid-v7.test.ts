import { describe, expect, it } from "vitest";
import { uuidV7 } from "../../../src/client/uuid-v7.ts";

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("uuidV7", () => {
  it("has version 7 and the RFC 9562 variant", () => {
    for (let i = 0; i < 100; i += 1) expect(uuidV7()).toMatch(FORMAT);
  });

  it("starts with the Unix milliseconds it was made at, big-endian", () => {
    const ms = Date.parse("2026-11-26T12:34:56.789Z");
    const id = uuidV7(ms);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
  });

  it("sorts by creation time across milliseconds", () => {
    const ids = [1, 2, 255, 256, 65_536, 2 ** 40].map((ms) => uuidV7(ms));
    expect([...ids].sort()).toEqual(ids);
  });

  it("does not repeat within one millisecond", () => {
    const ids = Array.from({ length: 1000 }, () => uuidV7(1_700_000_000_000));
    expect(new Set(ids).size).toBe(1000);
  });
});
