import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex } from "../../../src/lib/hex.ts";
import { sha256Hex } from "../../../src/lib/sha256.ts";

/** The synchronous SHA-256 must be SHA-256: compared with the runtime's own digest. */
async function reference(text: string): Promise<string> {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

describe("sha256Hex", () => {
  it("gives the FIPS 180-4 test vectors", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
  });

  it.each([0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 1000])(
    "agrees with the runtime at %i bytes, across the padding edges",
    async (length) => {
      const text = "x".repeat(length);
      expect(sha256Hex(text)).toBe(await reference(text));
    },
  );

  it("agrees with the runtime on any text, its UTF-8 included", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 300 }), async (text) => {
        expect(sha256Hex(text)).toBe(await reference(text));
      }),
      { numRuns: 300 },
    );
  });
});
