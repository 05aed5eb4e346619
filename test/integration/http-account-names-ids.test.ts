import { describe, expect, it } from "vitest";
import { MAX_ACCOUNT_NAME_LENGTH, MAX_ENTRY_ID_LENGTH } from "../../src/domain/limits.ts";
import {
  allEntries,
  call,
  expectInvalid,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { credit, expectUnchanged } from "../support/validation.ts";

/** Schema validation of account names and of charge ids, in the path and in refund bodies. */

describe("account names", () => {
  const longest = () => uniqueAccount().padEnd(MAX_ACCOUNT_NAME_LENGTH, "x");

  it(`accepts names of 1 and ${MAX_ACCOUNT_NAME_LENGTH} characters on every route`, async () => {
    const account = longest();
    expect(account).toHaveLength(MAX_ACCOUNT_NAME_LENGTH);
    expect((await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(201);
    expect((await post(account, "credits", credit(300))).status).toBe(201);
    const charge = await post(account, "charges", credit(100));
    expect(charge.status).toBe(201);
    const chargeId = (await json<{ id: string }>(charge)).id;
    expect((await post(account, "refunds", { charge: chargeId, amount: 50 })).status).toBe(201);
    expect((await call(`/v1/accounts/${account}/charges/${chargeId}`)).status).toBe(200);
    expect(await allEntries(account)).toHaveLength(3);
    const view = await getAccount(account);
    expect(view).toMatchObject({ balance: 250, entry_count: 3 });
    expect((view as unknown as { id: string }).id).toBe(account);

    const short = "Z";
    expect((await call(`/v1/accounts/${short}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(201);
    expect((await getAccount(short)).currency).toBe("USD");
    const symbols = `-_${uniqueAccount()}`;
    expect((await call(`/v1/accounts/${symbols}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(201);
  });

  it.each([
    ["too long", () => `${longest()}x`],
    ["with a dot", () => "a.b"],
    ["with an encoded space", () => "a%20b"],
    ["with an encoded non-ASCII letter", () => "caf%C3%A9"],
    ["with a plus", () => "a+b"],
    ["with an encoded slash", () => "a%2Fb"],
  ])("rejects a name %s on every route without creating it", async (_, name) => {
    const account = name();
    const base = `/v1/accounts/${account}`;
    await expectInvalid(await call(base, { method: "PUT", body: { currency: "USD" } }), ["account"]);
    await expectInvalid(await call(base), ["account"]);
    await expectInvalid(await call(`${base}/entries`), ["account"]);
    await expectInvalid(await call(`${base}/charges/ch_x`), ["account"]);
    for (const kind of ["credits", "charges"] as const) {
      await expectInvalid(await post(account, kind, credit()), ["account"]);
    }
    await expectInvalid(await post(account, "refunds", { charge: "ch_x" }), ["account"]);
    const decoded = decodeURIComponent(account);
    expect((await ledgerStub(decoded).getAccount()).status).toBe(404);
  });
});

describe("refund charge reference and charge ids", () => {
  it(`accepts ids of ${MAX_ENTRY_ID_LENGTH} characters and rejects ${MAX_ENTRY_ID_LENGTH + 1}`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const longest = "c".repeat(MAX_ENTRY_ID_LENGTH);
    const tooLong = `${longest}c`;
    await expectInvalid(await post(account, "refunds", { charge: tooLong }, key), ["charge"]);
    await expectInvalid(await post(account, "refunds", { charge: "" }, key), ["charge"]);
    await expectInvalid(await post(account, "refunds", { amount: 5 }, key), ["charge"]);
    await expectInvalid(await call(`/v1/accounts/${account}/charges/${tooLong}`), ["id"]);
    await expectInvalid(await call(`/v1/accounts/${account}/entries?starting_after=${tooLong}`), ["starting_after"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    await expectProblem(await call(`/v1/accounts/${account}/charges/${longest}`), 404, "charge_not_found");
    await expectProblem(await post(account, "refunds", { charge: longest }), 404, "charge_not_found");
    const errors = await expectInvalid(await call(`/v1/accounts/${account}/entries?starting_after=${longest}`), [
      "starting_after",
    ]);
    expect(errors).toEqual([{ field: "starting_after", message: "no such entry" }]);
  });

  it("rejects ids that are not visible ASCII, counted in code points", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectInvalid(await post(account, "refunds", { charge: "ch_é" }, key), ["charge"]);
    await expectInvalid(await post(account, "refunds", { charge: "ch x" }, key), ["charge"]);
    await expectInvalid(await call(`/v1/accounts/${account}/charges/ch_%C3%A9`), ["id"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });
});
