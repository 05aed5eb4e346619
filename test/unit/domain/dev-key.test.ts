import { describe, expect, it } from "vitest";
import devVars from "../../../.dev.vars?raw";
import { DEV_API_KEY, DEV_API_KEY_SHA256, DEV_TENANT } from "../../../src/domain/dev-key.ts";
import { sha256 } from "../../../src/domain/fingerprint.ts";
import { bytesToHex } from "../../../src/domain/hex.ts";

describe("the development key", () => {
  it("has the digest written beside it", async () => {
    expect(bytesToHex(await sha256(DEV_API_KEY))).toBe(DEV_API_KEY_SHA256);
  });

  it("is the one .dev.vars admits, for the dev tenant", () => {
    const line = devVars.split("\n").find((row) => row.startsWith("API_KEYS="));
    expect(JSON.parse(line?.slice("API_KEYS=".length) ?? "{}")).toEqual({ [DEV_TENANT]: [DEV_API_KEY_SHA256] });
  });
});
