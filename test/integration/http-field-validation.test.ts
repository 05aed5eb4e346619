import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DESCRIPTION_LENGTH } from "../../src/domain/limits.ts";
import {
  allEntries,
  call,
  expectInvalid,
  fundedAccount,
  getAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { EMOJI, credit, expectNotOpened, expectUnchanged, send } from "../support/validation.ts";

/** Unknown fields, several bad fields in one request, and one error for each field. */

describe("unknown and multiple bad fields", () => {
  it("names each unknown field on every body", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const errors = await expectInvalid(await post(account, "credits", { ...credit(), extra: 1, Amount: 2 }, key), [
      "extra",
      "Amount",
    ]);
    expect(errors.every((error) => error.message === "unknown field")).toBe(true);
    await expectInvalid(await post(account, "charges", { ...credit(), balance: 5 }, key), ["balance"]);
    await expectInvalid(await post(account, "refunds", { charge: "ch_x", reason: "why" }, key), ["reason"]);
    await expectInvalid(
      await send(`/v1/accounts/${account}/credits`, {
        idempotencyKey: key,
        body: '{"amount": 100, "currency": "USD", "__proto__": {"x": 1}}',
      }),
      ["__proto__"],
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    const fresh = uniqueAccount();
    await expectInvalid(await call(`/v1/accounts/${fresh}`, { method: "PUT", body: { currency: "USD", balance: 9 } }), [
      "balance",
    ]);
    await expectNotOpened(fresh);
  });

  it("lists every bad field of one request", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const body = {
      amount: 0,
      currency: "usd",
      description: EMOJI.repeat(MAX_DESCRIPTION_LENGTH + 1),
      metadata: { n: 1 },
      extra: true,
    };
    await expectInvalid(await post(account, "credits", body, key), [
      "amount",
      "currency",
      "description",
      "metadata.n",
      "extra",
    ]);
    await expectInvalid(await post("a.b", "charges", body, key), [
      "account",
      "amount",
      "currency",
      "description",
      "metadata.n",
      "extra",
    ]);
    await expectInvalid(await post(account, "refunds", { charge: "", amount: 1.5, currency: "EURO", other: 1 }, key), [
      "charge",
      "amount",
      "currency",
      "other",
    ]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
    const fresh = uniqueAccount();
    const problem = await expectInvalid(
      await call(`/v1/accounts/${fresh}`, { method: "PUT", body: { currency: "us", overdraft_limit: -1, x: 0 } }),
      ["currency", "overdraft_limit", "x"],
    );
    expect(problem).toHaveLength(3);
    await expectNotOpened(fresh);
  });

  it("never answers 5xx to arbitrary JSON bodies, and records nothing for those it rejects", async () => {
    const account = await fundedAccount(1000);
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const response = await send(`/v1/accounts/${account}/credits`, {
          idempotencyKey: uniqueKey(),
          body: JSON.stringify(value),
        });
        await response.arrayBuffer();
        expect(response.status).toBeLessThan(500);
        expect([201, 400, 409]).toContain(response.status);
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary" }), async (text) => {
        const response = await send(`/v1/accounts/${account}/charges`, { idempotencyKey: uniqueKey(), body: text });
        await response.arrayBuffer();
        expect(response.status).toBeLessThan(500);
      }),
      { numRuns: 60 },
    );
    const entries = await allEntries(account);
    const view = await getAccount(account);
    expect(view.entry_count).toBe(entries.length);
    expect(view.balance).toBe(entries.reduce((sum, entry) => sum + entry.amount, 0));
  });
});

describe("one error a field", () => {
  it("reports a huge amount once, without leaking internal bounds", async () => {
    const account = await fundedAccount(1000);
    const errors = await expectInvalid(await post(account, "charges", '{"amount": 1e21, "currency": "USD"}'), [
      "amount",
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).not.toContain("9007199254740991");
  });
});
