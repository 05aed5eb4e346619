import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readVarint, varintLength, writeVarint } from "../../../src/lib/varint.ts";

function encode(value: number): number[] {
  const bytes = new Uint8Array(varintLength(value));
  expect(writeVarint(bytes, 0, value)).toBe(bytes.length);
  return [...bytes];
}

describe("varint", () => {
  it.each([
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [300, [0xac, 0x02]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x10]],
    [Number.MAX_SAFE_INTEGER, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ])("writes %d as the LEB128 bytes %j", (value, bytes) => {
    expect(encode(value)).toEqual(bytes);
    expect(readVarint(Uint8Array.from(bytes), 0)).toEqual({ value, next: bytes.length });
  });

  it("reads back any safe integer written among other bytes", () => {
    fc.assert(
      fc.property(
        fc.maxSafeNat(),
        fc.uint8Array({ maxLength: 5 }),
        fc.uint8Array({ maxLength: 5 }),
        (value, before, after) => {
          const length = varintLength(value);
          const data = new Uint8Array(before.length + length + after.length);
          data.set(before);
          data.set(after, before.length + length);
          expect(writeVarint(data, before.length, value)).toBe(before.length + length);
          expect(readVarint(data, before.length)).toEqual({ value, next: before.length + length });
          expect([...data.subarray(0, before.length)]).toEqual([...before]);
          expect([...data.subarray(before.length + length)]).toEqual([...after]);
        },
      ),
    );
  });

  it.each([-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])("refuses to write %d", (value) => {
    expect(() => varintLength(value)).toThrow(RangeError);
    expect(() => writeVarint(new Uint8Array(16), 0, value)).toThrow(RangeError);
  });

  it.each([
    ["nothing", []],
    ["a byte promising more", [0x80]],
    ["a longer cut", [0xff, 0xff, 0xff]],
    ["2^53", [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]],
    ["nine bytes", [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
  ])("refuses to read %s", (_, bytes) => {
    expect(() => readVarint(Uint8Array.from(bytes), 0)).toThrow(RangeError);
  });

  it("reads past the end of the data as cut short", () => {
    expect(() => readVarint(Uint8Array.from([0x01]), 1)).toThrow(RangeError);
  });
});
