import { describe, expect, it } from "vitest";
import { bytesToHex } from "../../../src/lib/hex.ts";
import { sha256Hex } from "../../../src/lib/sha256.ts";
import { parseOperatorKeys } from "../../../src/transport/operator-keys.ts";

const TENANT_DIGEST = sha256Hex("olk_tenant");
const OPERATOR_DIGEST = sha256Hex("olk_operator");
const API_KEYS = JSON.stringify({ acme: [TENANT_DIGEST] });

describe("parseOperatorKeys", () => {
  it("reads operator names and their digests, in API_KEYS' form", () => {
    const parsed = parseOperatorKeys(JSON.stringify({ oncall: [OPERATOR_DIGEST] }), API_KEYS);
    expect(parsed.ok && parsed.value.map(({ operator, digest }) => [operator, bytesToHex(digest)])).toEqual([
      ["oncall", OPERATOR_DIGEST],
    ]);
  });

  it.each([undefined, "", "  ", "{}"])("knows no operator when OPERATOR_KEYS is %j", (raw) => {
    expect(parseOperatorKeys(raw, API_KEYS)).toEqual({ ok: true, value: [] });
  });

  it.each([
    ["not json", "OPERATOR_KEYS is not valid JSON"],
    ["[]", "OPERATOR_KEYS must be a JSON object of operator name to digest list"],
    [JSON.stringify({ OnCall: [OPERATOR_DIGEST] }), 'OPERATOR_KEYS operator name "OnCall" is invalid'],
    [JSON.stringify({ oncall: OPERATOR_DIGEST }), "OPERATOR_KEYS[oncall] must be a list"],
    [JSON.stringify({ oncall: ["olk_operator"] }), "OPERATOR_KEYS[oncall] holds something that is not"],
  ])("refuses %s, naming the setting", (raw, reason) => {
    const parsed = parseOperatorKeys(raw, API_KEYS);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(reason);
  });

  it("refuses a digest API_KEYS also lists: that tenant's key would act as operator", () => {
    const parsed = parseOperatorKeys(JSON.stringify({ oncall: [OPERATOR_DIGEST, TENANT_DIGEST] }), API_KEYS);
    expect(parsed).toEqual({
      ok: false,
      error: expect.stringContaining("OPERATOR_KEYS[oncall] lists a digest that API_KEYS lists under tenant acme"),
    });
  });

  it("does not lock the operator out when API_KEYS itself is unusable", () => {
    const parsed = parseOperatorKeys(JSON.stringify({ oncall: [OPERATOR_DIGEST] }), "not json");
    expect(parsed.ok).toBe(true);
  });
});
