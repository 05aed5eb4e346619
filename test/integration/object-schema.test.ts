import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "../../src/ledger/schema.ts";
import {
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  ledgerStub,
  post,
} from "../support/api.ts";
import { inLedger } from "../support/storage.ts";

/** Schema versions: each stored schema names the oldest code able to read it. */

function storedSchema(account: string) {
  return inLedger(account, (storage) =>
    storage.sql
      .exec<{ version: number; readable_from: number }>("SELECT version, readable_from FROM schema_version")
      .one(),
  );
}

function setStoredSchema(account: string, version: number, readableFrom: number) {
  return inLedger(account, (storage) => {
    storage.sql.exec("UPDATE schema_version SET version = ?, readable_from = ?", version, readableFrom);
  });
}

describe("schema versions", () => {
  it("records the version it wrote and the oldest version able to read it", async () => {
    const account = await fundedAccount(100);
    // Schema 8 (the locator) is readable only by code that knows its tables: older code would decide its archived keys afresh.
    expect(await storedSchema(account)).toEqual({ version: SCHEMA_VERSION, readable_from: 8 });
  });

  it("keeps working on a newer schema it can still read (a rolled-back Worker)", async () => {
    const account = await fundedAccount(100);
    await setStoredSchema(account, SCHEMA_VERSION + 1, SCHEMA_VERSION);
    await evictDurableObject(ledgerStub(account));

    expect((await post(account, "charges", { amount: 40, currency: "USD" })).status).toBe(201);
    expect((await getAccount(account)).balance).toBe(60);
    // It leaves the newer schema's record as it found it.
    expect(await storedSchema(account)).toEqual({ version: SCHEMA_VERSION + 1, readable_from: SCHEMA_VERSION });
    await expectLedgerConsistent(account);
  });

  it("refuses, loudly, a schema it cannot read: every call fails", async () => {
    const account = await fundedAccount(100);
    await setStoredSchema(account, SCHEMA_VERSION + 1, SCHEMA_VERSION + 1);
    await evictDurableObject(ledgerStub(account));

    await expectProblem(await post(account, "charges", { amount: 40, currency: "USD" }), 500, "internal_error");
    await expectProblem(await call(`/v1/accounts/${account}`), 500, "internal_error");
  });
});
