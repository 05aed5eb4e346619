import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { codePointLength, utf8Length } from "../../../src/lib/text.ts";

describe("codePointLength", () => {
  it.each([
    ["", 0],
    ["abc", 3],
    ["caf\u00e9", 4],
    ["\u{1f600}", 1],
    ["a\u{1f600}b\u{1f680}", 4],
    // A flag is two regional-indicator code points.
    ["\u{1f1fa}\u{1f1f8}", 2],
  ])("counts %j as %i", (text, expected) => {
    expect(codePointLength(text)).toBe(expected);
  });

  it("counts an astral character once although it takes two UTF-16 units", () => {
    const emoji = "\u{1f600}".repeat(10);
    expect(emoji.length).toBe(20);
    expect(codePointLength(emoji)).toBe(10);
  });
});

describe("utf8Length", () => {
  it.each([
    ["", 0],
    ["abc", 3],
    ["caf\u00e9", 5],
    ["\u20ac", 3],
    ["\u{1f600}", 4],
    // A lone surrogate is encoded as U+FFFD.
    ["\ud800", 3],
    ["\udc00x", 4],
  ])("counts %j as %i bytes", (text, expected) => {
    expect(utf8Length(text)).toBe(expected);
  });

  it("agrees with TextEncoder on random text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        expect(utf8Length(text)).toBe(new TextEncoder().encode(text).byteLength);
      }),
    );
  });
});
