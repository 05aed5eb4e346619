import { describe, expect, it } from "vitest";
import { DEV_API_KEY, DEV_API_KEY_SHA256 } from "../../../src/domain/dev-key.ts";
import { sha256 } from "../../../src/domain/fingerprint.ts";
import { bytesToHex } from "../../../src/domain/hex.ts";
import { authenticate } from "../../../src/http/authenticate.ts";

const digest = async (key: string) => bytesToHex(await sha256(key));
const bearer = (key: string) => `Bearer ${key}`;

describe("authenticate", () => {
  it("resolves a listed key to its tenant, the first time and (remembered) after", async () => {
    const keys = JSON.stringify({ acme: [await digest("olk_one")] });
    expect(await authenticate(bearer("olk_one"), keys, false)).toEqual({ ok: true, value: "acme" });
    expect(await authenticate(bearer("olk_one"), keys, false)).toEqual({ ok: true, value: "acme" });
  });

  it("forgets what it remembered as soon as API_KEYS changes: a revoked key is refused at once", async () => {
    const before = JSON.stringify({ acme: [await digest("olk_revoked"), await digest("olk_kept")] });
    const after = JSON.stringify({ acme: [await digest("olk_kept")] });
    expect((await authenticate(bearer("olk_revoked"), before, false)).ok).toBe(true);
    expect(await authenticate(bearer("olk_revoked"), after, false)).toMatchObject({
      ok: false,
      error: { code: "unauthorized" },
    });
    expect(await authenticate(bearer("olk_kept"), after, false)).toEqual({ ok: true, value: "acme" });
  });

  it("refuses the development key unless it is allowed, even listed, remembered or not", async () => {
    const keys = JSON.stringify({ dev: [DEV_API_KEY_SHA256] });
    expect(await authenticate(bearer(DEV_API_KEY), keys, true)).toEqual({ ok: true, value: "dev" });
    expect(await authenticate(bearer(DEV_API_KEY), keys, false)).toMatchObject({
      ok: false,
      error: { code: "unauthorized", invalidToken: true },
    });
  });

  it("tells a missing key from a wrong one", async () => {
    const keys = JSON.stringify({ acme: [await digest("olk_one")] });
    expect(await authenticate(null, keys, false)).toMatchObject({ error: { invalidToken: false } });
    expect(await authenticate("Basic abc", keys, false)).toMatchObject({ error: { invalidToken: true } });
    expect(await authenticate(bearer("olk_two"), keys, false)).toMatchObject({ error: { invalidToken: true } });
  });

  it("is a misconfiguration, never open, when API_KEYS is unusable", async () => {
    expect(await authenticate(bearer("olk_one"), "{", false)).toMatchObject({
      ok: false,
      error: { code: "internal_error", cause: "misconfigured" },
    });
  });
});
