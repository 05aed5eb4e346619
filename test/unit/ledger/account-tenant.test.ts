import { describe, expect, it } from "vitest";
import { tenantOf, tenantOfName } from "../../../src/ledger/account-tenant.ts";
import type { AccountRow } from "../../../src/ledger/ledger-store.ts";

const ACCOUNT: AccountRow = {
  name: "acct_1",
  currency: "USD",
  overdraftLimit: 0,
  version: 1,
  createdMs: 0,
  tenant: null,
  listed: false,
};

describe("the account's tenant", () => {
  it("is read off an object name of the account", () => {
    expect(tenantOfName("acme:acct_1", "acct_1")).toBe("acme");
  });

  it("is none for a name of another account, without a tenant, or with one that is not a tenant id", () => {
    expect(tenantOfName("acme:acct_2", "acct_1")).toBeNull();
    expect(tenantOfName(":acct_1", "acct_1")).toBeNull();
    expect(tenantOfName("acct_1", "acct_1")).toBeNull();
    expect(tenantOfName("a b:acct_1", "acct_1")).toBeNull();
    expect(tenantOfName(undefined, "acct_1")).toBeNull();
  });

  it("is the stored one first, else the name's", () => {
    expect(tenantOf({ ...ACCOUNT, tenant: "globex" }, "acme:acct_1")).toBe("globex");
    expect(tenantOf(ACCOUNT, "acme:acct_1")).toBe("acme");
    expect(tenantOf(ACCOUNT, undefined)).toBeNull();
  });
});
