import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  appendSegment,
  decodeGolombSet,
  encodeGolombSet,
  golombSetContains,
  segmentTags,
  segmentTagsContaining,
} from "../../../src/lib/golomb-set.ts";

/** A range and values inside it, duplicates allowed. */
const rangedValues = fc.integer({ min: 1, max: 32 }).chain((rangeBits) =>
  fc.record({
    rangeBits: fc.constant(rangeBits),
    values: fc.array(fc.integer({ min: 0, max: 2 ** rangeBits - 1 }), { maxLength: 300 }),
    query: fc.integer({ min: 0, max: 2 ** rangeBits - 1 }),
  }),
);

function sortedUnique(values: readonly number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Bits a value, for each of `samples` fixed-seed draws of `count` distinct values below 2^rangeBits. */
function bitsPerValue(count: number, rangeBits: number, samples: number): number[] {
  const draws = fc.sample(
    fc.uniqueArray(fc.integer({ min: 0, max: 2 ** rangeBits - 1 }), { minLength: count, maxLength: count }),
    { seed: rangeBits, numRuns: samples },
  );
  return draws.map((values) => (encodeGolombSet(values, rangeBits).length * 8) / count);
}

describe("encodeGolombSet and decodeGolombSet", () => {
  it("decode to the sorted distinct values, every one of them found and nothing else", () => {
    fc.assert(
      fc.property(rangedValues, ({ rangeBits, values, query }) => {
        const data = encodeGolombSet(values, rangeBits);
        const expected = sortedUnique(values);
        expect(decodeGolombSet(data)).toEqual(expected);
        for (const value of expected) expect(golombSetContains(data, value)).toBe(true);
        expect(golombSetContains(data, query)).toBe(expected.includes(query));
        expect(golombSetContains(data, 2 ** rangeBits)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("leaves the caller's array as it was", () => {
    const values = [5, 1, 5, 3];
    encodeGolombSet(values, 4);
    expect(values).toEqual([5, 1, 5, 3]);
  });

  it("encodes the empty set as its header alone", () => {
    const data = encodeGolombSet([], 20);
    // A count of 0, then the parameter as for one value: read by nothing, but stored, so pinned.
    expect([...data]).toEqual([0, 20]);
    expect(decodeGolombSet(data)).toEqual([]);
    expect(golombSetContains(data, 0)).toBe(false);
  });

  it.each(Array.from({ length: 32 }, (_, i) => i + 1))("keeps the two ends of a %i-bit range", (rangeBits) => {
    const top = 2 ** rangeBits - 1;
    for (const values of [[0], [top], [0, top]]) {
      const data = encodeGolombSet(values, rangeBits);
      expect(decodeGolombSet(data)).toEqual(values);
      expect(golombSetContains(data, top)).toBe(values.includes(top));
      expect(golombSetContains(data, 0)).toBe(values.includes(0));
    }
  });

  it.each([1, 2, 5, 10])("keeps every value of a full %i-bit range, the Rice parameter 0", (rangeBits) => {
    const all = Array.from({ length: 2 ** rangeBits }, (_, i) => i);
    const data = encodeGolombSet(all.toReversed(), rangeBits);
    expect(decodeGolombSet(data)).toEqual(all);
  });

  it.each([
    // [count, rangeBits, floor(log2(2^rangeBits / count)) at least 0]
    [1, 32, 32],
    [1, 1, 1],
    [2, 1, 0],
    [3, 4, 2],
    [4, 4, 2],
    [5, 4, 1],
    [16, 4, 0],
    [1000, 20, 10],
    [1024, 20, 10],
    [1025, 20, 9],
  ])("chooses the Rice parameter for %i values in %i bits as %i", (count, rangeBits, parameter) => {
    const values = Array.from({ length: count }, (_, i) => i);
    const data = encodeGolombSet(values, rangeBits);
    // The header: the count as a varint (one byte below 128, two below 16,384), then the parameter.
    expect(data[count < 128 ? 1 : 2]).toBe(parameter);
  });

  it("costs at most 12 bits a value for 1,000 random values below 2^20", () => {
    // About log2(2^20 / 1000) + 1.5 = 11.6; the spread between draws is some 0.03.
    expect(Math.max(...bitsPerValue(1000, 20, 10))).toBeLessThanOrEqual(12);
  });

  it("costs at most 10 bits a value for 1,000 random values below 2^18", () => {
    expect(Math.max(...bitsPerValue(1000, 18, 10))).toBeLessThanOrEqual(10);
  });

  it.each([0, 33, 1.5, Number.NaN])("refuses %d range bits", (rangeBits) => {
    expect(() => encodeGolombSet([0], rangeBits)).toThrow(RangeError);
  });

  it.each([-1, 0.5, 2 ** 16, Number.NaN, Number.POSITIVE_INFINITY])(
    "refuses the value %d in a 16-bit range",
    (value) => {
      expect(() => encodeGolombSet([1, value], 16)).toThrow(RangeError);
    },
  );

  it("answers false for queries no integer in range can be", () => {
    const data = encodeGolombSet([0, 1, 2, 7], 3);
    for (const query of [-1, 0.5, 6.5, 8, Number.NaN]) expect(golombSetContains(data, query)).toBe(false);
  });

  it("refuses a set cut short", () => {
    fc.assert(
      fc.property(rangedValues, ({ rangeBits, values }) => {
        fc.pre(values.length > 0);
        const data = encodeGolombSet(values, rangeBits);
        // The encoding is sized to the bit, so its last byte is always read.
        expect(() => decodeGolombSet(data.subarray(0, -1))).toThrow(RangeError);
      }),
    );
    expect(() => decodeGolombSet(new Uint8Array(0))).toThrow(RangeError);
    expect(() => decodeGolombSet(Uint8Array.from([0]))).toThrow(RangeError);
  });

  it("refuses a Rice parameter above 32", () => {
    expect(() => decodeGolombSet(Uint8Array.from([1, 33, 0, 0, 0, 0, 0]))).toThrow(RangeError);
  });
});

describe("tagged segments", () => {
  it("give their tags in stored order, and those whose set holds a value", () => {
    let data = appendSegment(null, 7, encodeGolombSet([1, 2, 3], 8));
    data = appendSegment(data, 0, encodeGolombSet([], 8));
    data = appendSegment(data, Number.MAX_SAFE_INTEGER, encodeGolombSet([3, 200], 8));
    data = appendSegment(data, 7, encodeGolombSet([3], 8));
    expect(segmentTags(data)).toEqual([7, 0, Number.MAX_SAFE_INTEGER, 7]);
    expect(segmentTagsContaining(data, 3)).toEqual([7, Number.MAX_SAFE_INTEGER, 7]);
    expect(segmentTagsContaining(data, 2)).toEqual([7]);
    expect(segmentTagsContaining(data, 200)).toEqual([Number.MAX_SAFE_INTEGER]);
    expect(segmentTagsContaining(data, 4)).toEqual([]);
  });

  it("append to a copy, leaving the data they were given as it was", () => {
    const first = appendSegment(null, 1, encodeGolombSet([1], 4));
    const copy = first.slice();
    const second = appendSegment(first, 2, encodeGolombSet([2], 4));
    expect(first).toEqual(copy);
    expect(second.subarray(0, first.length)).toEqual(first);
    expect(segmentTags(first)).toEqual([1]);
  });

  it("hold nothing when empty", () => {
    expect(segmentTags(new Uint8Array(0))).toEqual([]);
    expect(segmentTagsContaining(new Uint8Array(0), 0)).toEqual([]);
  });

  it("find a value in exactly the segments whose sets hold it", () => {
    const segment = fc.record({
      tag: fc.maxSafeNat(),
      values: fc.array(fc.integer({ min: 0, max: 1023 }), { maxLength: 60 }),
    });
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), fc.integer({ min: 0, max: 1023 }), (list, query) => {
        let data: Uint8Array | null = null;
        for (const { tag, values } of list) data = appendSegment(data, tag, encodeGolombSet(values, 10));
        const all = data ?? new Uint8Array(0);
        expect(segmentTags(all)).toEqual(list.map(({ tag }) => tag));
        const holding = list.filter(({ values }) => values.includes(query)).map(({ tag }) => tag);
        expect(segmentTagsContaining(all, query)).toEqual(holding);
      }),
      { numRuns: 200 },
    );
  });

  it.each([-1, 0.5, 2 ** 53, Number.NaN])("refuse the tag %d", (tag) => {
    expect(() => appendSegment(null, tag, encodeGolombSet([1], 4))).toThrow(RangeError);
  });

  it("refuse a segment cut short", () => {
    const data = appendSegment(null, 1, encodeGolombSet([1, 2, 3], 4));
    expect(() => segmentTags(data.subarray(0, -1))).toThrow(RangeError);
    // A tag with no length after it.
    expect(() => segmentTags(Uint8Array.from([1]))).toThrow(RangeError);
  });
});
