import { describe, expect, it } from "vitest";
import { EXPORTS_DIR, exportTarget } from "../../../../scripts/export/export-target.ts";

/** `npm run export` names its source and key explicitly, and writes under an ignored directory by default. */

const NOW = new Date("2026-12-07T02:15:21.123Z");
const URL_FLAG = "https://ledger.example.com";

describe("exportTarget", () => {
  it("writes under the exports directory, named by account and UTC time, by default", () => {
    const target = exportTarget({ account: "alice", url: URL_FLAG, key: "olk_flag" }, {}, NOW);
    expect(target).toEqual({
      ok: true,
      value: {
        account: "alice",
        baseUrl: URL_FLAG,
        apiKey: "olk_flag",
        out: `${EXPORTS_DIR}/alice.20261207T021521Z.onceledger.jsonl`,
      },
    });
    expect(EXPORTS_DIR).toBe("exports");
  });

  it("takes the URL and key from the environment, a flag winning over it, and --out as given", () => {
    const env = { ONCELEDGER_URL: "http://localhost:8787", ONCELEDGER_API_KEY: "olk_env" };
    expect(exportTarget({ account: "a", out: "-" }, env, NOW)).toMatchObject({
      ok: true,
      value: { baseUrl: "http://localhost:8787", apiKey: "olk_env", out: "-" },
    });
    expect(exportTarget({ account: "a", url: URL_FLAG, key: "olk_flag", out: "x.jsonl" }, env, NOW)).toMatchObject({
      ok: true,
      value: { baseUrl: URL_FLAG, apiKey: "olk_flag", out: "x.jsonl" },
    });
  });

  it.each<[string, Parameters<typeof exportTarget>[0], Parameters<typeof exportTarget>[1], RegExp]>([
    ["no account", { url: URL_FLAG, key: "k" }, {}, /^--account is required/],
    ["an account name that is not one", { account: "../alice", url: URL_FLAG, key: "k" }, {}, /is not an account name/],
    ["no URL: never a default server", { account: "a", key: "k" }, {}, /^--url \(or ONCELEDGER_URL\) is required/],
    ["an empty URL", { account: "a", url: "", key: "k" }, { ONCELEDGER_URL: "" }, /--url .* is required/],
    ["a URL that is not http(s)", { account: "a", url: "ledger.example.com", key: "k" }, {}, /not an http/],
    ["no key", { account: "a", url: URL_FLAG }, {}, /^ONCELEDGER_API_KEY \(or --key\) is required/],
  ])("refuses %s, saying what to give", (_, flags, env, message) => {
    const target = exportTarget(flags, env, NOW);
    expect(target.ok).toBe(false);
    if (!target.ok) expect(target.error).toMatch(message);
  });
});
