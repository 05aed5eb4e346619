import { describe, expect, it } from "vitest";
import { DEV_API_KEY, DEV_API_KEY_SHA256 } from "../../../src/config/dev-key.ts";
import { sha256Hex } from "../../../src/lib/sha256.ts";
import { authenticate } from "../../../src/http/authenticate.ts";

const digest = (key: string) => sha256Hex(key);
const bearer = (key: string) => `Bearer ${key}`;
/** The caller a key resolves to: its tenant and its key id (the digest's first 8 hex). */
const caller = (tenant: string, key: string) => ({ ok: true, value: { tenant, keyId: digest(key).slice(0, 8) } });

describe("authenticate", () => {
  it("resolves a listed key to its tenant, the first time and (remembered) after", () => {
    const keys = JSON.stringify({ acme: [digest("olk_one")] });
    expect(authenticate(bearer("olk_one"), keys, false)).toEqual(caller("acme", "olk_one"));
    expect(authenticate(bearer("olk_one"), keys, false)).toEqual(caller("acme", "olk_one"));
  });

  it("forgets what it remembered as soon as API_KEYS changes: a revoked key is refused at once", () => {
    const before = JSON.stringify({ acme: [digest("olk_revoked"), digest("olk_kept")] });
    const after = JSON.stringify({ acme: [digest("olk_kept")] });
    expect(authenticate(bearer("olk_revoked"), before, false).ok).toBe(true);
    expect(authenticate(bearer("olk_revoked"), after, false)).toMatchObject({
      ok: false,
      error: { code: "unauthorized" },
    });
    expect(authenticate(bearer("olk_kept"), after, false)).toEqual(caller("acme", "olk_kept"));
  });

  it("refuses the development key unless it is allowed, even listed, remembered or not", () => {
    const keys = JSON.stringify({ dev: [DEV_API_KEY_SHA256] });
    expect(authenticate(bearer(DEV_API_KEY), keys, true)).toEqual(caller("dev", DEV_API_KEY));
    expect(authenticate(bearer(DEV_API_KEY), keys, false)).toMatchObject({
      ok: false,
      error: { code: "unauthorized", invalidToken: true },
    });
  });

  it("tells a missing key from a wrong one", () => {
    const keys = JSON.stringify({ acme: [digest("olk_one")] });
    expect(authenticate(null, keys, false)).toMatchObject({ error: { invalidToken: false } });
    expect(authenticate("Basic abc", keys, false)).toMatchObject({ error: { invalidToken: true } });
    expect(authenticate(bearer("olk_two"), keys, false)).toMatchObject({ error: { invalidToken: true } });
  });

  it("is a misconfiguration, never open, when API_KEYS is unusable", () => {
    expect(authenticate(bearer("olk_one"), "{", false)).toMatchObject({
      ok: false,
      error: { code: "internal_error", cause: "misconfigured" },
    });
  });
});
