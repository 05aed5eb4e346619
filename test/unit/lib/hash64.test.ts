import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hash64 } from "../../../src/lib/hash64.ts";

const SAMPLE_SEED = 64;

/**
 * Distinct random strings (fast-check's bias repeats short ones, and a repeat
 * is no new sample), drawn from a fixed seed so that the statistical bounds
 * below cannot fail by chance on one run and pass on another.
 */
function sampleStrings(count: number, unit: "binary" | "grapheme-ascii" = "binary"): string[] {
  const strings = fc.uniqueArray(fc.string({ unit, maxLength: 40 }), { minLength: count, maxLength: count });
  return fc.sample(strings, { seed: SAMPLE_SEED, numRuns: 1 })[0] ?? [];
}

function popCount(word: number): number {
  let bits = 0;
  for (let w = word >>> 0; w !== 0; w &= w - 1) bits += 1;
  return bits;
}

describe("hash64", () => {
  it("keeps the outputs it has stored: it must never change", () => {
    const pinned: [string, number, number][] = [
      ["", 0xebb6c228, 0xd9aaf7d3],
      ["a", 0x7fa09ea6, 0xc795411c],
      ["ab", 0x74875592, 0xa2a9e341],
      ["abc", 0xc84a62dd, 0xab01af23],
      ["abcd", 0xf0478627, 0x3ace933d],
      ["onceledger", 0x4fdd3c67, 0x33eebe6c],
      ["caf\u00e9", 0x662f5c78, 0xd5002751],
      ["\u{1f600}", 0x4ed00c2f, 0xe42fb251],
      // Either side of the length whose UTF-8 no longer surely fits the reused buffer, and far past it.
      ["x".repeat(341), 0xc5e1deb5, 0x48fdc9c0],
      ["x".repeat(342), 0x2b4e9753, 0x1154a91d],
      ["\u00e9".repeat(1000), 0xc4006611, 0x5145b533],
    ];
    for (const [text, high, low] of pinned) expect(hash64(text), JSON.stringify(text)).toEqual([high, low]);
  });

  it.each([
    // MurmurHash3_x86_32's published vectors for seed 0x9747b28c, which the high half is.
    ["a", 0x7fa09ea6],
    ["aa", 0x5d211726],
    ["aaa", 0x283e0130],
    ["aaaa", 0x5a97808a],
    ["ab", 0x74875592],
    ["abcd", 0xf0478627],
    ["Hello, world!", 0x24884cba],
    ["\u03c0".repeat(8), 0xd58063c1],
    ["The quick brown fox jumps over the lazy dog", 0x2fa826cd],
  ])("has MurmurHash3's high half for %j", (text, high) => {
    expect(hash64(text)[0]).toBe(high);
  });

  it("gives two uint32 halves, the same ones every time", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 600 }), (text) => {
        const [high, low] = hash64(text);
        for (const half of [high, low]) {
          expect(Number.isInteger(half) && half >= 0 && half <= 0xffffffff).toBe(true);
        }
        expect(hash64(text)).toEqual([high, low]);
      }),
    );
  });

  it("hashes the UTF-8 bytes: a lone surrogate is U+FFFD, as TextEncoder has it", () => {
    expect(hash64("\ud800")).toEqual(hash64("\ufffd"));
    expect(hash64("a\udc00b")).toEqual(hash64("a\ufffdb"));
    expect(hash64("\u00e9")).not.toEqual(hash64("\u00c3\u00a9"));
  });

  it("gives different strings different hashes", () => {
    fc.assert(
      // Well-formed text only: lone surrogates all encode to U+FFFD, so "\ud800" and "\ud801" do collide.
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
        fc.pre(a !== b);
        expect(hash64(a)).not.toEqual(hash64(b));
      }),
    );
    const distinct = new Set(Array.from({ length: 10_000 }, (_, i) => `key-${i}`).map((text) => hash64(text).join()));
    expect(distinct.size).toBe(10_000);
  });

  it("sets each tested bit about half the time over 10,000 random strings", () => {
    const hashes = sampleStrings(10_000).map(hash64);
    for (const half of [0, 1] as const) {
      for (const bit of [0, 1, 7, 15, 16, 24, 31]) {
        const ones = hashes.filter((hash) => (hash[half] >>> bit) & 1).length;
        // 50 is one standard deviation, so this bound is 6 of them.
        expect(ones, `half ${half}, bit ${bit}`).toBeGreaterThan(4_700);
        expect(ones, `half ${half}, bit ${bit}`).toBeLessThan(5_300);
      }
    }
  });

  it("changes about half the 64 bits when one character changes", () => {
    // ASCII, so that flipping a bit of the last character always changes the UTF-8 bytes.
    const texts = sampleStrings(2_000, "grapheme-ascii").filter((text) => text.length > 0);
    let changed = 0;
    for (const text of texts) {
      const last = text.charCodeAt(text.length - 1);
      const [high, low] = hash64(text);
      const [otherHigh, otherLow] = hash64(text.slice(0, -1) + String.fromCharCode(last ^ 1));
      changed += popCount(high ^ otherHigh) + popCount(low ^ otherLow);
    }
    const mean = changed / texts.length;
    expect(mean).toBeGreaterThan(30);
    expect(mean).toBeLessThan(34);
  });
});
