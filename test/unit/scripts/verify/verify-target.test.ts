import { describe, expect, it } from "vitest";
import { verifyTarget, type VerifyFlags } from "../../../../scripts/verify/verify-target.ts";

/** `npm run verify` names its source and key explicitly, by its own flags, and reads R2 only when asked. */

const BASE = { bucket: "ARCHIVE", config: "wrangler.toml" } as const;
const URL_FLAG = "https://ledger.example.com";

describe("verifyTarget", () => {
  it("takes --base-url and --tenant-key, or the environment, and no R2 unless --r2 is given", () => {
    expect(verifyTarget({ ...BASE, account: "alice", "base-url": URL_FLAG, "tenant-key": "olk_flag" }, {})).toEqual({
      ok: true,
      value: { source: { account: "alice", baseUrl: URL_FLAG, apiKey: "olk_flag" }, r2: null },
    });
    const env = { ONCELEDGER_URL: "http://localhost:8787", ONCELEDGER_API_KEY: "olk_env" };
    expect(verifyTarget({ ...BASE, account: "a", r2: "local", env: "staging" }, env)).toEqual({
      ok: true,
      value: {
        source: { account: "a", baseUrl: "http://localhost:8787", apiKey: "olk_env" },
        r2: { r2: "local", binding: "ARCHIVE", configPath: "wrangler.toml", environment: "staging" },
      },
    });
  });

  it.each<[string, VerifyFlags, RegExp]>([
    [
      "no account",
      { ...BASE, "base-url": URL_FLAG, "tenant-key": "k" },
      /^--account is required: the account to verify/,
    ],
    [
      "no URL: never a default server",
      { ...BASE, account: "a", "tenant-key": "k" },
      /^--base-url \(or ONCELEDGER_URL\) is required/,
    ],
    [
      "a URL that is not http(s)",
      { ...BASE, account: "a", "base-url": "ledger", "tenant-key": "k" },
      /^--base-url "ledger" is not an http/,
    ],
    ["no key", { ...BASE, account: "a", "base-url": URL_FLAG }, /^ONCELEDGER_API_KEY \(or --tenant-key\) is required/],
  ])("refuses %s, naming its own flag", (_, flags, message) => {
    const target = verifyTarget(flags, {});
    expect(target.ok).toBe(false);
    if (!target.ok) expect(target.error).toMatch(message);
  });
});
