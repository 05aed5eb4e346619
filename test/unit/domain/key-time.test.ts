import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { embeddedTimeMs } from "../../../src/domain/key-time.ts";

const MAX_MS = 2 ** 48 - 1;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A UUIDv7 of `ms`, its other 74 bits fixed, as RFC 9562 lays it out. */
function uuidV7(ms: number, rest = "7abc-9def-0123456789ab"): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-${rest}`;
}

/** A ULID of `ms`: ten Crockford characters of it, then 16 of randomness. */
function ulid(ms: number, randomness = "TSV4RRFFQ69G5FAV"): string {
  let time = "";
  for (let rest = ms, i = 0; i < 10; i += 1, rest = Math.floor(rest / 32)) time = CROCKFORD.charAt(rest % 32) + time;
  return time + randomness;
}

function mixCase(text: string, upper: boolean[]): string {
  return Array.from(text, (char, i) => (upper[i % upper.length] ? char.toUpperCase() : char.toLowerCase())).join("");
}

describe("embeddedTimeMs", () => {
  it("reads RFC 9562's UUIDv7 example, in either case", () => {
    expect(embeddedTimeMs("017F22E2-79B0-7CC3-98C4-DC0C0C07398F")).toBe(1_645_557_742_000);
    expect(embeddedTimeMs("017f22e2-79b0-7cc3-98c4-dc0c0c07398f")).toBe(1_645_557_742_000);
  });

  it("reads a UUIDv7 built from a known time", () => {
    expect(uuidV7(1_469_918_176_385)).toBe("01563df3-6481-7abc-9def-0123456789ab");
    expect(embeddedTimeMs(uuidV7(1_469_918_176_385))).toBe(1_469_918_176_385);
  });

  it("reads the ULID specification's example, in either case", () => {
    // ulid(1469918176385) is 01ARYZ6S41TSV4RRFFQ69G5FAV there.
    expect(embeddedTimeMs("01ARYZ6S41TSV4RRFFQ69G5FAV")).toBe(1_469_918_176_385);
    expect(embeddedTimeMs("01aryz6s41tsv4rrffq69g5fav")).toBe(1_469_918_176_385);
    expect(ulid(1_469_918_176_385)).toBe("01ARYZ6S41TSV4RRFFQ69G5FAV");
    // Its other example, a plain ulid(), was minted 2016-07-30T23:54:10.259Z.
    expect(embeddedTimeMs("01ARZ3NDEKTSV4RRFFQ69G5FAV")).toBe(Date.parse("2016-07-30T23:54:10.259Z"));
  });

  it.each([
    ["the smallest UUIDv7", "00000000-0000-7000-8000-000000000000", 0],
    ["the largest UUIDv7", "ffffffff-ffff-7fff-bfff-ffffffffffff", MAX_MS],
    ["the smallest ULID", "00000000000000000000000000", 0],
    ["the largest ULID", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", MAX_MS],
  ])("reads %s", (_, key, ms) => {
    expect(embeddedTimeMs(key)).toBe(ms);
  });

  it("reads back any 48-bit time from a UUIDv7 or a ULID, whatever their case", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_MS }),
        fc.uuid({ version: 7 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 36 }),
        (ms, random, upper) => {
          expect(embeddedTimeMs(mixCase(uuidV7(ms, random.slice(14)), upper))).toBe(ms);
          expect(embeddedTimeMs(mixCase(ulid(ms), upper))).toBe(ms);
        },
      ),
    );
  });

  it.each(["0", "1", "4", "6", "8", "f"])("refuses a UUID of version %s", (version) => {
    expect(embeddedTimeMs(`017f22e2-79b0-${version}cc3-98c4-dc0c0c07398f`)).toBeNull();
  });

  it.each(["0", "7", "c", "f"])("refuses a UUID whose variant digit is %s", (variant) => {
    expect(embeddedTimeMs(`017f22e2-79b0-7cc3-${variant}8c4-dc0c0c07398f`)).toBeNull();
  });

  it.each([
    ["without hyphens", "017f22e279b07cc398c4dc0c0c07398f"],
    ["in braces", "{017f22e2-79b0-7cc3-98c4-dc0c0c07398f}"],
    ["as a URN", "urn:uuid:017f22e2-79b0-7cc3-98c4-dc0c0c07398f"],
    ["with a space after it", "017f22e2-79b0-7cc3-98c4-dc0c0c07398f "],
    ["with a non-hex digit", "017f22g2-79b0-7cc3-98c4-dc0c0c07398f"],
    ["with its hyphens moved", "017f22e-279b0-7cc3-98c4-dc0c0c07398f"],
    ["one digit short", "017f22e2-79b0-7cc3-98c4-dc0c0c07398"],
  ])("refuses a UUIDv7 %s", (_, key) => {
    expect(embeddedTimeMs(key)).toBeNull();
  });

  it.each([
    ["starting above 7, past 48 bits", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"],
    ["one character short", "01ARZ3NDEKTSV4RRFFQ69G5FA"],
    ["one character long", "01ARZ3NDEKTSV4RRFFQ69G5FAVX"],
    ["with an I", "01ARZ3NDEKTSV4RRFFQ69G5FAI"],
    ["with an L", "01ARZ3NDEKTSV4RRFFQ69G5FAL"],
    ["with an O", "01ARZ3NDEKTSV4RRFFQ69G5FAO"],
    ["with a U", "01ARZ3NDEKTSV4RRFFQ69G5FAU"],
    ["with a hyphen", "01ARZ3NDEK-SV4RRFFQ69G5FAV"],
  ])("refuses a ULID %s", (_, key) => {
    expect(embeddedTimeMs(key)).toBeNull();
  });

  it.each(["", "order-42", "01ARZ3NDEK", "2024-01-01T00:00:00Z", "1469918176385"])("finds no time in %j", (key) => {
    expect(embeddedTimeMs(key)).toBeNull();
  });

  it("finds no time in random text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), (key) => {
        fc.pre(key.length !== 26 && key.length !== 36);
        expect(embeddedTimeMs(key)).toBeNull();
      }),
    );
  });

  it("finds no time once a character of a UUIDv7 or a ULID leaves its alphabet", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_MS }),
        fc.nat(35),
        // None is a hex digit, a hyphen or a Crockford character (G is one).
        fc.constantFrom("I", "L", "O", "U", "_", " ", "\u00e9"),
        (ms, at, char) => {
          const uuid = uuidV7(ms);
          expect(embeddedTimeMs(uuid.slice(0, at) + char + uuid.slice(at + 1))).toBeNull();
          const id = ulid(ms);
          expect(embeddedTimeMs(id.slice(0, at % 26) + char + id.slice((at % 26) + 1))).toBeNull();
        },
      ),
    );
  });
});
