import { describe, expect, it } from "vitest";
import { MAX_TENANT_ID_LENGTH } from "../../../src/domain/limits.ts";
import { parseKeyTable } from "../../../src/transport/api-keys.ts";

const DIGEST_A = "0123456789abcdef".repeat(4);
const DIGEST_B = "f".repeat(64);

function reasonFor(raw: string | undefined): string | undefined {
  const result = parseKeyTable(raw);
  return result.ok ? undefined : result.error;
}

describe("parseKeyTable", () => {
  it("reads every tenant's digests as bytes", () => {
    const result = parseKeyTable(JSON.stringify({ acme: [DIGEST_A], "globex_2-b": [DIGEST_B] }));
    if (!result.ok) throw new Error(result.error);
    const rows = result.value.map(({ tenant, digest }) => [tenant, Array.from(digest)]);
    const bytesA = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    expect(rows).toStrictEqual([
      ["acme", [...bytesA, ...bytesA, ...bytesA, ...bytesA]],
      ["globex_2-b", new Array<number>(32).fill(0xff)],
    ]);
  });

  it("refuses one digest listed under two tenants, which would merge their accounts", () => {
    const result = parseKeyTable(JSON.stringify({ acme: [DIGEST_A, DIGEST_B], globex: [DIGEST_B] }));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toContain("acme");
  });

  it("allows a digest repeated within one tenant", () => {
    const result = parseKeyTable(JSON.stringify({ acme: [DIGEST_A, DIGEST_A] }));
    expect(result.ok).toBe(true);
  });

  it("accepts a tenant id of MAX_TENANT_ID_LENGTH characters", () => {
    const tenant = "t".repeat(MAX_TENANT_ID_LENGTH);
    const result = parseKeyTable(JSON.stringify({ [tenant]: [DIGEST_A] }));
    expect(result.ok && result.value.map((row) => row.tenant)).toStrictEqual([tenant]);
  });

  it.each([
    ["unset", undefined],
    ["empty", ""],
    ["blank", "  \n"],
    ["not JSON", "acme=abc"],
    ["an array", JSON.stringify([DIGEST_A])],
    ["null", "null"],
    ["a string", JSON.stringify("acme")],
    ["an upper-case tenant id", JSON.stringify({ Acme: [DIGEST_A] })],
    ["an empty tenant id", JSON.stringify({ "": [DIGEST_A] })],
    ["a tenant id with a space", JSON.stringify({ "ac me": [DIGEST_A] })],
    ["a tenant id one too long", JSON.stringify({ ["t".repeat(MAX_TENANT_ID_LENGTH + 1)]: [DIGEST_A] })],
    ["a digest that is not in a list", JSON.stringify({ acme: DIGEST_A })],
    ["a digest of 63 hex characters", JSON.stringify({ acme: [DIGEST_A.slice(1)] })],
    ["a digest of 65 hex characters", JSON.stringify({ acme: [DIGEST_A + "0"] })],
    ["an upper-case hex digest", JSON.stringify({ acme: [DIGEST_A.toUpperCase()] })],
    ["a non-hex digest", JSON.stringify({ acme: ["g".repeat(64)] })],
    ["a number among the digests", JSON.stringify({ acme: [DIGEST_A, 7] })],
    ["one bad tenant among good ones", JSON.stringify({ acme: [DIGEST_A], BAD: [DIGEST_B] })],
  ])("rejects a table that is %s, with a reason", (_name, raw) => {
    expect(reasonFor(raw)).toMatch(/^API_KEYS.+/);
  });
});
