import { describe, expect, it } from "vitest";
import {
  describeKeyEdit,
  editApiKeys,
  mintApiKey,
  secretPutArgs,
  secretPutCommandLine,
  type KeyEditResult,
} from "../../../../scripts/settings/key-edits.ts";
import { keyIdOf } from "../../../../src/config/key-id.ts";
import { sha256Hex } from "../../../../src/lib/sha256.ts";
import { parseKeyTable } from "../../../../src/transport/api-keys.ts";

/** `npm run settings -- keys`: API_KEYS edited by tenant and key id, checked before it is printed or stored. */

const OLD = "olk_test_acme_old";
const OLD_DIGEST = sha256Hex(OLD);
const GLOBEX_DIGEST = sha256Hex("olk_test_globex");
const CURRENT = JSON.stringify({ acme: [OLD_DIGEST], globex: [GLOBEX_DIGEST] });

/** A mint that hands out known keys, so the tests can follow them. */
function mints(...keys: string[]): () => string {
  return () => keys.shift() ?? expect.fail("minted more keys than expected");
}

function edited(result: ReturnType<typeof editApiKeys>): KeyEditResult {
  if (!result.ok) expect.fail(result.error);
  return result.value;
}

/** The tenant the Worker's parser says a key belongs to, or null. */
function tenantOf(apiKeys: string, key: string): string | null {
  const table = parseKeyTable(apiKeys);
  if (!table.ok) expect.fail(table.error);
  const digest = sha256Hex(key);
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return table.value.find((entry) => hex(entry.digest) === digest)?.tenant ?? null;
}

describe("mintApiKey", () => {
  it("makes olk_ and 32 random bytes in base64url, a new one each time", () => {
    const keys = new Set(Array.from({ length: 50 }, () => mintApiKey()));
    expect(keys.size).toBe(50);
    for (const key of keys) expect(key).toMatch(/^olk_[A-Za-z0-9_-]{43}$/);
    expect(mintApiKey((bytes) => bytes.fill(0xff))).toBe(`olk_${"_".repeat(42)}8`);
  });
});

describe("editApiKeys", () => {
  it("adds a key to a tenant, beside its others, and shows it once with its id and digest", () => {
    const result = edited(editApiKeys(CURRENT, { kind: "add", tenant: "acme" }, mints("olk_new")));
    expect(JSON.parse(result.value)).toEqual({ acme: [OLD_DIGEST, sha256Hex("olk_new")], globex: [GLOBEX_DIGEST] });
    expect(result.minted).toEqual({
      tenant: "acme",
      key: "olk_new",
      digest: sha256Hex("olk_new"),
      keyId: keyIdOf(sha256Hex("olk_new")),
    });
    expect(tenantOf(result.value, "olk_new")).toBe("acme");
    expect(tenantOf(result.value, OLD)).toBe("acme");
  });

  it("adds a new tenant, and starts API_KEYS when it is not set", () => {
    const added = edited(editApiKeys(CURRENT, { kind: "add", tenant: "initech" }, mints("olk_i")));
    expect(Object.keys(JSON.parse(added.value) as object)).toEqual(["acme", "globex", "initech"]);
    expect(added.notes).toEqual(["initech is a new tenant in API_KEYS."]);
    for (const current of [undefined, "", "  "]) {
      const first = edited(editApiKeys(current, { kind: "add", tenant: "acme" }, mints("olk_first")));
      expect(first.value).toBe(JSON.stringify({ acme: [sha256Hex("olk_first")] }));
    }
  });

  it("rotates: a new key for the same tenant right after the old one, both valid, and says how to finish", () => {
    const result = edited(editApiKeys(CURRENT, { kind: "rotate", keyId: keyIdOf(OLD_DIGEST) }, mints("olk_next")));
    expect(JSON.parse(result.value)).toEqual({ acme: [OLD_DIGEST, sha256Hex("olk_next")], globex: [GLOBEX_DIGEST] });
    expect(tenantOf(result.value, OLD)).toBe("acme");
    expect(tenantOf(result.value, "olk_next")).toBe("acme");
    expect(result.notes.join(" ")).toContain(`npm run settings -- keys revoke ${keyIdOf(OLD_DIGEST)}`);
  });

  it("revokes by key id, or by a longer prefix of the digest, and the key stops being valid", () => {
    for (const keyId of [keyIdOf(OLD_DIGEST), OLD_DIGEST.slice(0, 20), OLD_DIGEST]) {
      const result = edited(editApiKeys(CURRENT, { kind: "revoke", keyId }, mints()));
      expect(JSON.parse(result.value)).toEqual({ acme: [], globex: [GLOBEX_DIGEST] });
      expect(result.revoked).toEqual({ tenant: "acme", keyId: keyIdOf(OLD_DIGEST) });
      expect(result.minted).toBeNull();
      expect(tenantOf(result.value, OLD)).toBeNull();
      expect(result.notes.join(" ")).toContain("acme has no key left");
    }
  });

  it.each([
    [
      "an unusable current value",
      "not json",
      { kind: "add", tenant: "acme" },
      "the current API_KEYS is unusable (API_KEYS is not valid JSON",
    ],
    [
      "a tenant id that is none",
      CURRENT,
      { kind: "add", tenant: "Acme Corp" },
      'tenant "Acme Corp" is not a tenant id',
    ],
    ["a short key id", CURRENT, { kind: "revoke", keyId: OLD_DIGEST.slice(0, 7) }, "is not a key id"],
    [
      "an upper-case key id",
      CURRENT,
      { kind: "rotate", keyId: OLD_DIGEST.slice(0, 8).toUpperCase() },
      "is not a key id",
    ],
    ["an unknown key id", CURRENT, { kind: "revoke", keyId: "00000000" }, "API_KEYS has no key with id 00000000"],
    ["a key id when API_KEYS is not set", undefined, { kind: "revoke", keyId: "00000000" }, "API_KEYS is not set"],
  ] as const)("refuses %s, and mints nothing", (_, current, edit, message) => {
    const result = editApiKeys(current, edit, mints());
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(message);
  });

  it("refuses a key id two keys share, asking for more of the digest", () => {
    const [a, b] = ["aaaaaaaa" + "0".repeat(56), "aaaaaaaa" + "1".repeat(56)];
    const current = JSON.stringify({ acme: [a], globex: [b] });
    const result = editApiKeys(current, { kind: "revoke", keyId: "aaaaaaaa" }, mints());
    expect(result).toEqual({
      ok: false,
      error: "2 keys of API_KEYS have ids starting aaaaaaaa: give more of the digest",
    });
    expect(edited(editApiKeys(current, { kind: "revoke", keyId: "aaaaaaaa1" }, mints())).value).toBe(
      JSON.stringify({ acme: [a], globex: [] }),
    );
  });

  it("checks the result with the Worker's parser: a minted key whose digest another tenant lists is refused", () => {
    // Minting the key globex already holds would put one digest under two tenants.
    const result = editApiKeys(CURRENT, { kind: "add", tenant: "acme" }, mints("olk_test_globex"));
    expect(result).toEqual({
      ok: false,
      error:
        "the edited API_KEYS would be unusable (API_KEYS lists one digest under both acme and globex); nothing changed",
    });
  });

  it("keeps a tenant named like a property of Object as a tenant", () => {
    const result = edited(editApiKeys("{}", { kind: "add", tenant: "__proto__" }, mints("olk_p")));
    expect(result.value).toBe(`{"__proto__":["${sha256Hex("olk_p")}"]}`);
    expect(tenantOf(result.value, "olk_p")).toBe("__proto__");
  });
});

describe("the wrangler command", () => {
  it('targets production explicitly (--env="") or the environment given', () => {
    expect(secretPutArgs("")).toEqual(["secret", "put", "API_KEYS", "--env="]);
    expect(secretPutArgs("staging")).toEqual(["secret", "put", "API_KEYS", "--env=staging"]);
    expect(secretPutCommandLine('{"a":[]}', "")).toBe(
      `printf '%s' '{"a":[]}' | npx wrangler secret put API_KEYS --env=""`,
    );
    expect(secretPutCommandLine('{"a":[]}', "staging")).toBe(
      `printf '%s' '{"a":[]}' | npx wrangler secret put API_KEYS --env=staging`,
    );
  });
});

describe("describeKeyEdit", () => {
  const result = edited(editApiKeys(CURRENT, { kind: "rotate", keyId: keyIdOf(OLD_DIGEST) }, mints("olk_shown_once")));

  it("on a dry run, shows the key once, the checked value and the exact command, and says nothing was stored", () => {
    const text = describeKeyEdit(result, { environment: "staging", file: "staging.vars", dryRun: true });
    expect(text.split("olk_shown_once").length - 1).toBe(1);
    expect(text).toContain(`key id ${keyIdOf(sha256Hex("olk_shown_once"))}`);
    expect(text).toContain(`  ${result.value}\n`);
    expect(text).toContain(`  ${secretPutCommandLine(result.value, "staging")}\n`);
    expect(text).toContain("Dry run: nothing stored. To store it in env.staging, this would run:");
    expect(text).toContain("write the new value to the API_KEYS line of staging.vars");
  });

  it("after storing, names where it went and, without a file, asks the operator to keep the value", () => {
    const text = describeKeyEdit(result, { environment: "", file: null, dryRun: false });
    expect(text).toContain("Stored in production with:");
    expect(text).toContain(`  ${secretPutCommandLine(result.value, "")}\n`);
    expect(text).toContain("Keep the new value above as your copy of API_KEYS");
    expect(text).not.toContain("Dry run");
  });

  it("for a revocation, shows no key", () => {
    const revoked = edited(editApiKeys(CURRENT, { kind: "revoke", keyId: keyIdOf(GLOBEX_DIGEST) }, mints()));
    const text = describeKeyEdit(revoked, { environment: "", file: null, dryRun: true });
    expect(text).not.toMatch(/olk_/);
    expect(text).toContain(`Revoked key id ${keyIdOf(GLOBEX_DIGEST)} of tenant "globex".`);
  });
});
