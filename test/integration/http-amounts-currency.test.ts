import { describe, expect, it } from "vitest";
import { MAX_AMOUNT_MINOR, MIN_AMOUNT_MINOR } from "../../src/domain/limits.ts";
import {
  call,
  expectInvalid,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { credit, expectNotOpened, expectUnchanged, send } from "../support/validation.ts";

/** Schema validation of amounts and currencies. */

describe("amounts", () => {
  it.each(["credits", "charges"] as const)(
    `accepts ${MIN_AMOUNT_MINOR} and ${MAX_AMOUNT_MINOR} as %s amounts`,
    async (kind) => {
      const account =
        kind === "charges" ? await fundedAccount(MAX_AMOUNT_MINOR, MIN_AMOUNT_MINOR) : await fundedAccount(0);
      const before = await getAccount(account);
      const sign = kind === "charges" ? -1 : 1;
      expect((await post(account, kind, credit(MIN_AMOUNT_MINOR))).status).toBe(201);
      expect((await post(account, kind, credit(MAX_AMOUNT_MINOR))).status).toBe(201);
      const after = await getAccount(account);
      expect(after.balance).toBe(before.balance + sign * (MIN_AMOUNT_MINOR + MAX_AMOUNT_MINOR));
      expect(after.entry_count).toBe(before.entry_count + 2);
    },
  );

  const badAmounts: ReadonlyArray<readonly [string, string]> = [
    ["zero", "0"],
    ["one over the maximum", String(MAX_AMOUNT_MINOR + 1)],
    ["a fraction", "1.5"],
    ["a numeric string", '"5000"'],
    ["a negative", "-1"],
    ["a large negative", "-5000"],
    ["null", "null"],
    ["a boolean", "true"],
    ["an overflowing exponent", "1e400"],
    ["an object", "{}"],
  ];

  it.each(["credits", "charges"] as const)("rejects bad %s amounts naming the field", async (kind) => {
    const account = await fundedAccount(10_000);
    const key = uniqueKey();
    for (const [label, amount] of badAmounts) {
      const response = await send(`/v1/accounts/${account}/${kind}`, {
        idempotencyKey: key,
        body: `{"amount": ${amount}, "currency": "USD"}`,
      });
      expect(response.status, label).toBe(400);
      await expectInvalid(response, ["amount"]);
    }
    await expectInvalid(await post(account, kind, { currency: "USD" }, key), ["amount"]);
    await expectUnchanged(account, { balance: 10_000, entry_count: 1 }, key);
  });

  it("rejects bad refund amounts before looking for the charge", async () => {
    const account = await fundedAccount(10_000);
    const charge = await post(account, "charges", credit(500));
    expect(charge.status).toBe(201);
    const chargeId = (await json<{ id: string }>(charge)).id;
    const key = uniqueKey();
    for (const [label, amount] of badAmounts) {
      const response = await send(`/v1/accounts/${account}/refunds`, {
        idempotencyKey: key,
        body: `{"charge": ${JSON.stringify(chargeId)}, "amount": ${amount}}`,
      });
      expect(response.status, label).toBe(400);
      await expectInvalid(response, ["amount"]);
    }
    await expectUnchanged(account, { balance: 9_500, entry_count: 2 }, key);

    // Inside the schema's range the ledger decides: the maximum passes validation.
    await expectProblem(
      await post(account, "refunds", { charge: chargeId, amount: MAX_AMOUNT_MINOR }),
      409,
      "refund_exceeds_charge",
    );
    const refund = await post(account, "refunds", { charge: chargeId, amount: MIN_AMOUNT_MINOR });
    expect(refund.status).toBe(201);
    expect((await getAccount(account)).balance).toBe(9_508);
  });
});

describe("currency", () => {
  it.each([
    ["lower case", '"usd"'],
    ["two letters", '"US"'],
    ["four letters", '"USDX"'],
    ["a digit", '"U5D"'],
    ["empty", '""'],
    ["a number", "840"],
    ["null", "null"],
    ["padded", '" USD"'],
  ])("rejects a currency that is %s", async (_, currency) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    for (const kind of ["credits", "charges"]) {
      await expectInvalid(
        await send(`/v1/accounts/${account}/${kind}`, {
          idempotencyKey: key,
          body: `{"amount": 100, "currency": ${currency}}`,
        }),
        ["currency"],
      );
    }
    await expectInvalid(
      await send(`/v1/accounts/${account}/refunds`, {
        idempotencyKey: key,
        body: `{"charge": "ch_x", "currency": ${currency}}`,
      }),
      ["currency"],
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    const fresh = uniqueAccount();
    await expectInvalid(await send(`/v1/accounts/${fresh}`, { method: "PUT", body: `{"currency": ${currency}}` }), [
      "currency",
    ]);
    await expectNotOpened(fresh);
  });

  it("requires a currency on credits, charges and PUT", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectInvalid(await post(account, "credits", { amount: 1 }, key), ["currency"]);
    await expectInvalid(await post(account, "charges", { amount: 1 }, key), ["currency"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
    const fresh = uniqueAccount();
    await expectInvalid(await call(`/v1/accounts/${fresh}`, { method: "PUT", body: {} }), ["currency"]);
    await expectNotOpened(fresh);
  });

  it("passes a well-formed other currency to the ledger, which declines it", async () => {
    const account = await fundedAccount(1000);
    await expectProblem(await post(account, "credits", { amount: 1, currency: "EUR" }), 409, "currency_mismatch");
    expect((await getAccount(account)).balance).toBe(1000);
  });
});
