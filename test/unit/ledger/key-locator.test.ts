import { describe, expect, it } from "vitest";
import {
  LOCATOR_BUCKETS_PER_OBJECT,
  LOCATOR_KEYS_PER_BUCKET,
  LOCATOR_MATCH_BITS,
  LOCATOR_MATCH_BITS_LARGEST,
} from "../../../src/domain/limits.ts";
import {
  bucketBitsFor,
  bucketHolds,
  bucketOf,
  decodeLocatorObject,
  encodeBucket,
  encodeLocatorObject,
  objectCountOf,
  objectOf,
  objectRange,
  periodsIn,
  valueOf,
  valueRangeFor,
  type LocatorEntry,
} from "../../../src/ledger/key-locator.ts";

function random32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

describe("the locator's arithmetic", () => {
  it("cuts a value to floor(low x range / 2^32) exactly, at the edges and at random", () => {
    const cases: [number, number][] = [
      [0, 1],
      [0xffffffff, 2 ** 32],
      [0xffffffff, 2 ** 32 - 1],
      [0xffffffff, 3 * 2 ** LOCATOR_MATCH_BITS],
      [0x80000000, 2 ** 20 + 1],
    ];
    for (let i = 0; i < 2_000; i += 1) cases.push([random32(), 1 + (random32() % 2 ** 31) * 2]);
    for (const [low, range] of cases) {
      const exact = Number((BigInt(low) * BigInt(range)) >> 32n);
      expect(valueOf([0, low], range)).toBe(exact);
    }
  });

  it("gives a run at most LOCATOR_KEYS_PER_BUCKET keys a bucket, and a range 2^LOCATOR_MATCH_BITS times that", () => {
    expect(bucketBitsFor(1)).toBe(0);
    expect(bucketBitsFor(LOCATOR_KEYS_PER_BUCKET)).toBe(0);
    expect(bucketBitsFor(LOCATOR_KEYS_PER_BUCKET + 1)).toBe(1);
    expect(bucketBitsFor(1_000_000)).toBe(Math.ceil(Math.log2(1_000_000 / LOCATOR_KEYS_PER_BUCKET)));
    expect(valueRangeFor(LOCATOR_KEYS_PER_BUCKET, 0, true)).toBe(2 ** 32);
    expect(valueRangeFor(1_000_000, 12, false)).toBe(Math.ceil(1_000_000 / 2 ** 12) * 2 ** LOCATOR_MATCH_BITS);
    expect(valueRangeFor(1_000_000, 12, true)).toBe(Math.ceil(1_000_000 / 2 ** 12) * 2 ** LOCATOR_MATCH_BITS_LARGEST);
  });

  it("puts every hash in the one object whose range holds it, the objects tiling the hash space", () => {
    for (const bits of [0, 1, 2, 3, 4, 10]) {
      const count = objectCountOf(bits);
      expect(objectRange(bits, 0).from).toBe(0);
      expect(objectRange(bits, count - 1).to).toBe(2 ** 32);
      for (let n = 1; n < count; n += 1) expect(objectRange(bits, n).from).toBe(objectRange(bits, n - 1).to);
      for (let i = 0; i < 200; i += 1) {
        const hash = [random32(), random32()] as const;
        const { from, to } = objectRange(bits, objectOf(hash, bits));
        expect(hash[0] >= from && hash[0] < to).toBe(true);
        expect(Math.floor(bucketOf(hash, bits) / LOCATOR_BUCKETS_PER_OBJECT)).toBe(objectOf(hash, bits));
      }
    }
  });
});

describe("a bucket's row", () => {
  it("holds exactly its values, at every range the locator uses", () => {
    for (const range of [1, 7, 1_000 * 2 ** LOCATOR_MATCH_BITS, 2 ** 32]) {
      const values = [...new Set(Array.from({ length: 700 }, () => random32() % range))];
      if (range > 1) values.push(range - 1, 0);
      const data = encodeBucket(values, range);
      const held = new Set(values);
      for (const value of held) expect(bucketHolds(data, value)).toBe(true);
      for (let i = 0; i < 500; i += 1) {
        const other = random32() % range;
        expect(bucketHolds(data, other)).toBe(held.has(other));
      }
    }
  });
});

describe("a locator object", () => {
  it("round-trips its entries and finds every period listed for a hash, and none for another", async () => {
    const entries: LocatorEntry[] = [
      { high: 1, low: 5, period: 3 },
      { high: 1, low: 5, period: 9 },
      { high: 1, low: 6, period: 2 },
      { high: 0xffffffff, low: 0xffffffff, period: 0xffffffff },
    ];
    const decoded = await decodeLocatorObject(await encodeLocatorObject(entries), "test");
    expect(decoded).toEqual(entries);
    expect(periodsIn(decoded, [1, 5])).toEqual([3, 9]);
    expect(periodsIn(decoded, [1, 6])).toEqual([2]);
    expect(periodsIn(decoded, [0xffffffff, 0xffffffff])).toEqual([0xffffffff]);
    expect(periodsIn(decoded, [1, 4])).toEqual([]);
    expect(periodsIn(decoded, [2, 0])).toEqual([]);
  });

  it("refuses entries out of order, bytes that are not one, and any byte changed", async () => {
    await expect(
      encodeLocatorObject([
        { high: 2, low: 0, period: 1 },
        { high: 1, low: 0, period: 1 },
      ]),
    ).rejects.toThrow(/sorted/);
    await expect(decodeLocatorObject(new Uint8Array([0x4f, 0x4c, 0x4b, 0x31, 0]), "x")).rejects.toThrow(
      /not a locator/,
    );
    await expect(decodeLocatorObject(new Uint8Array(48), "x")).rejects.toThrow(/not a locator/);
    const good = await encodeLocatorObject([
      { high: 1, low: 2, period: 3 },
      { high: 4, low: 5, period: 6 },
    ]);
    for (let i = 4; i < good.length; i += 1) {
      const bad = good.slice();
      bad[i] = (bad[i] as number) ^ 1;
      await expect(decodeLocatorObject(bad, "x")).rejects.toThrow(/digest/);
    }
  });
});
