import { describe, expect, it } from "vitest";
import {
  BACKUPS_DIR,
  backupTarget,
  R2_BACKUPS_PREFIX,
  restoreTarget,
} from "../../../../scripts/backup/backup-target.ts";

/** `npm run backup` and `npm run restore` name the ledger, the tenant and both keys explicitly. */

const NOW = new Date("2026-12-07T02:15:21.123Z");
const BASE = "https://ledger.example.com";
const KEYS = { "tenant-key": "olk_tenant", "operator-key": "olk_operator" };

describe("backupTarget", () => {
  it("writes under the backups directory, named by tenant and UTC time, by default", () => {
    expect(backupTarget({ tenant: "acme", r2: false, "base-url": BASE, ...KEYS }, {}, NOW)).toEqual({
      ok: true,
      value: {
        tenant: "acme",
        account: null,
        baseUrl: BASE,
        tenantKey: "olk_tenant",
        operatorKey: "olk_operator",
        out: `${BACKUPS_DIR}/acme.20261207T021521Z.onceledger-backup.jsonl`,
        r2Key: null,
      },
    });
    expect(BACKUPS_DIR).toBe("backups");
  });

  it("with --r2 names the object under a prefix no tenant id can take, and writes no file unless --out says so", () => {
    const target = backupTarget({ tenant: "acme", account: "alice", r2: true, "base-url": BASE, ...KEYS }, {}, NOW);
    expect(target).toMatchObject({
      ok: true,
      value: { out: null, r2Key: `${R2_BACKUPS_PREFIX}/acme/acme.alice.20261207T021521Z.onceledger-backup.jsonl` },
    });
    expect(R2_BACKUPS_PREFIX).toContain(".");
    expect(
      backupTarget({ tenant: "acme", r2: true, out: "b.jsonl", "base-url": BASE, ...KEYS }, {}, NOW),
    ).toMatchObject({ ok: true, value: { out: "b.jsonl" } });
  });

  it("takes the URL and keys from the environment, and says what is missing", () => {
    const env = {
      ONCELEDGER_URL: "http://localhost:8787",
      ONCELEDGER_API_KEY: "olk_env",
      ONCELEDGER_OPERATOR_KEY: "olk_env_operator",
    };
    expect(backupTarget({ tenant: "acme", r2: false }, env, NOW)).toMatchObject({
      ok: true,
      value: { baseUrl: "http://localhost:8787", tenantKey: "olk_env", operatorKey: "olk_env_operator" },
    });
    expect(backupTarget({ r2: false, "base-url": BASE, ...KEYS }, {}, NOW)).toMatchObject({ ok: false });
    expect(backupTarget({ tenant: "Acme!", r2: false, "base-url": BASE, ...KEYS }, {}, NOW)).toMatchObject({
      ok: false,
    });
    expect(backupTarget({ tenant: "acme", r2: false, ...KEYS }, {}, NOW)).toEqual({
      ok: false,
      error: expect.stringContaining("--base-url"),
    });
    expect(backupTarget({ tenant: "acme", r2: false, "base-url": BASE, "tenant-key": "k" }, {}, NOW)).toEqual({
      ok: false,
      error: expect.stringContaining("ONCELEDGER_OPERATOR_KEY"),
    });
    expect(backupTarget({ tenant: "acme", r2: false, "base-url": "ftp://x", ...KEYS }, {}, NOW)).toMatchObject({
      ok: false,
    });
  });
});

describe("restoreTarget", () => {
  it("needs the tenant, the account, the backup file, the URL and an operator key; the events are optional", () => {
    const flags = { tenant: "acme", account: "alice", from: "b.jsonl", "base-url": BASE, "operator-key": "olk_op" };
    expect(restoreTarget(flags, {})).toEqual({
      ok: true,
      value: { tenant: "acme", account: "alice", from: "b.jsonl", events: null, baseUrl: BASE, operatorKey: "olk_op" },
    });
    expect(restoreTarget({ ...flags, events: "e.jsonl" }, {})).toMatchObject({
      ok: true,
      value: { events: "e.jsonl" },
    });
    for (const missing of ["tenant", "account", "from", "base-url", "operator-key"] as const) {
      expect(restoreTarget({ ...flags, [missing]: undefined }, {}), missing).toMatchObject({ ok: false });
    }
  });
});
