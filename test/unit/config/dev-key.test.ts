import { describe, expect, it } from "vitest";
import devVars from "../../../.dev.vars?raw";
import { DEV_API_KEY, DEV_API_KEY_SHA256, DEV_TENANT } from "../../../src/config/dev-key.ts";
import { sha256Hex } from "../../../src/lib/sha256.ts";

describe("the development key", () => {
  it("has the digest written beside it", () => {
    expect(sha256Hex(DEV_API_KEY)).toBe(DEV_API_KEY_SHA256);
  });

  it("is the one .dev.vars admits, for the dev tenant", () => {
    const line = devVars.split("\n").find((row) => row.startsWith("API_KEYS="));
    expect(JSON.parse(line?.slice("API_KEYS=".length) ?? "{}")).toEqual({ [DEV_TENANT]: [DEV_API_KEY_SHA256] });
  });
});
