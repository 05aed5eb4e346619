import { describe, expect, it } from "vitest";
import { MAX_BALANCE_MINOR, MAX_AMOUNT_MINOR } from "../../src/domain/limits.ts";
import {
  ACME_KEY_ID,
  allEntries,
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  openAccount,
  post,
  uniqueAccount,
} from "../support/api.ts";

const RFC3339_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("accounts", () => {
  it("opens with 201, reopens with 200 and applies a new overdraft limit", async () => {
    const account = uniqueAccount();
    const opened = await openAccount(account, { currency: "EUR" });
    expect(opened).toEqual({
      id: account,
      currency: "EUR",
      balance: 0,
      held: 0,
      available: 0,
      overdraft_limit: 0,
      entry_count: 0,
      version: 1,
      created: expect.stringMatching(RFC3339_MS_UTC),
      storage_bytes: expect.any(Number),
    });

    const again = await call(`/v1/accounts/${account}`, {
      method: "PUT",
      body: { currency: "EUR", overdraft_limit: 700 },
    });
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ overdraft_limit: 700, version: 2, created: opened.created });

    const omitted = await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "EUR" } });
    expect(await json(omitted)).toMatchObject({ overdraft_limit: 700, version: 2 });
  });

  it("refuses to reopen in another currency and changes nothing", async () => {
    const account = uniqueAccount();
    await openAccount(account, { currency: "USD", overdraft_limit: 5 });
    const response = await call(`/v1/accounts/${account}`, {
      method: "PUT",
      body: { currency: "EUR", overdraft_limit: 9 },
    });
    await expectProblem(response, 409, "currency_mismatch");
    expect(await getAccount(account)).toMatchObject({ currency: "USD", overdraft_limit: 5 });
  });

  it("answers account_not_found on every route of an unopened account, and creates nothing", async () => {
    const account = uniqueAccount();
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/entries`), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/charges/ch_x`), 404, "account_not_found");
    const key = "probe-key";
    for (const kind of ["credits", "charges"] as const) {
      await expectProblem(await post(account, kind, { amount: 5, currency: "USD" }, key), 404, "account_not_found");
    }
    await expectProblem(await post(account, "refunds", { charge: "ch_x" }, key), 404, "account_not_found");

    // Nothing was recorded: once opened, the same key applies a credit.
    await openAccount(account);
    const credit = await post(account, "credits", { amount: 5, currency: "USD" }, key);
    expect(credit.status).toBe(201);
    expect(credit.headers.get("idempotent-replayed")).toBe("false");
  });
});

describe("credits and charges", () => {
  it("credits add funds and return the entry", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const response = await post(
      account,
      "credits",
      { amount: 5000, currency: "USD", description: "top-up", metadata: { source: "wire" } },
      "credit-1",
    );
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toBe("application/json");
    const entry = await json(response);
    expect(entry).toEqual({
      // A random 48-bit tag, then the seq in 20 hex.
      id: expect.stringMatching(/^cr_[0-9a-f]{12}0{19}1$/),
      seq: 1,
      type: "credit",
      amount: 5000,
      currency: "USD",
      balance_after: 5000,
      created: expect.stringMatching(RFC3339_MS_UTC),
      idempotency_key: "credit-1",
      charge: null,
      description: "top-up",
      metadata: { source: "wire" },
      key_id: ACME_KEY_ID,
    });
    expect(await getAccount(account)).toMatchObject({ balance: 5000, entry_count: 1 });
  });

  it("a charge debits, and its ledger entry has the same id and the negated amount", async () => {
    const account = await fundedAccount(10_000);
    const response = await post(
      account,
      "charges",
      { amount: 2500, currency: "USD", metadata: { order: "A1" } },
      "ch-1",
    );
    expect(response.status).toBe(201);
    const charge = await json(response);
    expect(charge).toEqual({
      id: expect.stringMatching(/^ch_[0-9a-f]{12}0{19}2$/),
      amount: 2500,
      currency: "USD",
      amount_refunded: 0,
      balance_after: 7500,
      created: expect.stringMatching(RFC3339_MS_UTC),
      idempotency_key: "ch-1",
      description: null,
      metadata: { order: "A1" },
    });
    const entries = await allEntries(account);
    expect(entries.at(-1)).toMatchObject({ id: charge.id, type: "charge", amount: -2500, balance_after: 7500, seq: 2 });
    const read = await call(`/v1/accounts/${account}/charges/${String(charge.id)}`);
    expect(await json(read)).toEqual(charge);
  });

  it("declines a charge below the overdraft limit with 402 and applies nothing; exactly to the limit is allowed", async () => {
    const account = await fundedAccount(100, 50);
    await expectProblem(await post(account, "charges", { amount: 151, currency: "USD" }), 402, "insufficient_funds");
    expect(await getAccount(account)).toMatchObject({ balance: 100, entry_count: 1 });
    const exact = await post(account, "charges", { amount: 150, currency: "USD" });
    expect(exact.status).toBe(201);
    expect(await getAccount(account)).toMatchObject({ balance: -50, entry_count: 2 });
    await expectProblem(await post(account, "charges", { amount: 1, currency: "USD" }), 402, "insufficient_funds");
  });

  it("lowering the overdraft limit below a negative balance blocks further charges but keeps the balance", async () => {
    const account = await fundedAccount(0, 100);
    expect((await post(account, "charges", { amount: 80, currency: "USD" })).status).toBe(201);
    await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD", overdraft_limit: 0 } });
    await expectProblem(await post(account, "charges", { amount: 1, currency: "USD" }), 402, "insufficient_funds");
    expect(await getAccount(account)).toMatchObject({ balance: -80, overdraft_limit: 0 });
  });

  it("declines a request in another currency, checking currency before funds", async () => {
    const account = await fundedAccount(0);
    await expectProblem(await post(account, "charges", { amount: 10, currency: "EUR" }), 409, "currency_mismatch");
    await expectProblem(await post(account, "credits", { amount: 10, currency: "EUR" }), 409, "currency_mismatch");
    expect(await getAccount(account)).toMatchObject({ balance: 0, entry_count: 0 });
  });

  it("caps the balance at 10^15: exactly the cap is allowed, one more unit is declined", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const creditsToCap = MAX_BALANCE_MINOR / MAX_AMOUNT_MINOR;
    for (let i = 0; i < creditsToCap - 1; i += 1) {
      expect((await post(account, "credits", { amount: MAX_AMOUNT_MINOR, currency: "USD" })).status).toBe(201);
    }
    expect((await post(account, "credits", { amount: MAX_AMOUNT_MINOR - 1, currency: "USD" })).status).toBe(201);
    expect((await post(account, "credits", { amount: 1, currency: "USD" })).status).toBe(201);
    expect((await getAccount(account)).balance).toBe(MAX_BALANCE_MINOR);
    await expectProblem(await post(account, "credits", { amount: 1, currency: "USD" }), 409, "balance_limit_exceeded");
    // Currency is checked before the cap.
    await expectProblem(await post(account, "credits", { amount: 1, currency: "EUR" }), 409, "currency_mismatch");

    // A refund can pass the cap too, once credits have refilled the balance after the charge.
    const charge = await json(await post(account, "charges", { amount: 10, currency: "USD" }));
    expect((await post(account, "credits", { amount: 10, currency: "USD" })).status).toBe(201);
    await expectProblem(
      await post(account, "refunds", { charge: charge.id, amount: 1 }),
      409,
      "balance_limit_exceeded",
    );
    const audit = await expectLedgerConsistent(account);
    expect(audit.balance).toBe(MAX_BALANCE_MINOR);
  }, 120_000);
});

describe("refunds", () => {
  async function chargedAccount(amount: number) {
    const account = await fundedAccount(10_000);
    const charge = await json<{ id: string }>(await post(account, "charges", { amount, currency: "USD" }));
    return { account, chargeId: charge.id };
  }

  it("refunds part, then the rest by default; the charge shows amount_refunded", async () => {
    const { account, chargeId } = await chargedAccount(3000);
    const partial = await post(account, "refunds", { charge: chargeId, amount: 1000, description: "damaged" }, "rf-1");
    expect(partial.status).toBe(201);
    const refund = await json(partial);
    expect(refund).toEqual({
      id: expect.stringMatching(/^re_[0-9a-f]{12}0{19}3$/),
      charge: chargeId,
      amount: 1000,
      currency: "USD",
      balance_after: 8000,
      created: expect.stringMatching(RFC3339_MS_UTC),
      idempotency_key: "rf-1",
      description: "damaged",
      metadata: {},
    });
    const rest = await json(await post(account, "refunds", { charge: chargeId }));
    expect(rest).toMatchObject({ amount: 2000, balance_after: 10_000 });

    const charge = await json(await call(`/v1/accounts/${account}/charges/${chargeId}`));
    expect(charge).toMatchObject({ amount: 3000, amount_refunded: 3000 });
    const entries = await allEntries(account);
    expect(entries.slice(-2)).toMatchObject([
      { id: refund.id, type: "refund", amount: 1000, charge: chargeId },
      { id: rest.id, type: "refund", amount: 2000, charge: chargeId },
    ]);
  });

  it("declines more than the unrefunded rest, including on a fully refunded charge", async () => {
    const { account, chargeId } = await chargedAccount(500);
    const over = await expectProblem(
      await post(account, "refunds", { charge: chargeId, amount: 501 }),
      409,
      "refund_exceeds_charge",
    );
    expect(over.amount_refundable).toBe(500);
    expect((await post(account, "refunds", { charge: chargeId, amount: 500 })).status).toBe(201);
    await expectProblem(await post(account, "refunds", { charge: chargeId }), 409, "refund_exceeds_charge");
    await expectProblem(await post(account, "refunds", { charge: chargeId, amount: 1 }), 409, "refund_exceeds_charge");
    expect(await getAccount(account)).toMatchObject({ balance: 10_000, entry_count: 3 });
  });

  it("answers charge_not_found for unknown ids and for ids that are not charges", async () => {
    const { account } = await chargedAccount(100);
    const [credit] = await allEntries(account);
    await expectProblem(await post(account, "refunds", { charge: "ch_unknown" }), 404, "charge_not_found");
    await expectProblem(await post(account, "refunds", { charge: credit?.id }), 404, "charge_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/charges/${String(credit?.id)}`), 404, "charge_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/charges/ch_unknown`), 404, "charge_not_found");
  });

  it("finds an entry only by its whole id: its seq with another tag, or another type, is no id", async () => {
    const { account, chargeId } = await chargedAccount(100);
    const [credit] = await allEntries(account);
    // The charge is seq 2: its tag with one digit changed, and the credit's tag and seq as a charge's.
    const tag = chargeId.slice(3, 15);
    const otherTag = `ch_${tag.slice(0, 11)}${tag.endsWith("0") ? "1" : "0"}${chargeId.slice(15)}`;
    const creditAsCharge = `ch_${String(credit?.id).slice(3)}`;
    for (const id of [otherTag, creditAsCharge]) {
      await expectProblem(await post(account, "refunds", { charge: id }), 404, "charge_not_found");
      await expectProblem(await call(`/v1/accounts/${account}/charges/${id}`), 404, "charge_not_found");
    }
    expect((await call(`/v1/accounts/${account}/charges/${chargeId}`)).status).toBe(200);
  });

  it("cannot refund another account's charge", async () => {
    const { chargeId } = await chargedAccount(100);
    // The other account has an entry of the same seq: its tag tells them apart.
    const other = (await chargedAccount(100)).account;
    await expectProblem(await post(other, "refunds", { charge: chargeId }), 404, "charge_not_found");
  });

  it("checks an optional currency first", async () => {
    const { account, chargeId } = await chargedAccount(100);
    await expectProblem(
      await post(account, "refunds", { charge: "ch_unknown", currency: "EUR" }),
      409,
      "currency_mismatch",
    );
    expect((await post(account, "refunds", { charge: chargeId, currency: "USD" })).status).toBe(201);
  });
});

describe("entries", () => {
  it("pages oldest first with gapless seq, has_more and starting_after", async () => {
    const account = await fundedAccount(1000);
    for (let i = 0; i < 11; i += 1) await post(account, "charges", { amount: 1, currency: "USD" });

    const first = await json<{ data: { id: string; seq: number }[]; has_more: boolean }>(
      await call(`/v1/accounts/${account}/entries`),
    );
    expect(first.data.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(first.has_more).toBe(true);

    const second = await json<{ data: { seq: number }[]; has_more: boolean }>(
      await call(`/v1/accounts/${account}/entries?limit=5&starting_after=${String(first.data[9]?.id)}`),
    );
    expect(second.data.map((entry) => entry.seq)).toEqual([11, 12]);
    expect(second.has_more).toBe(false);

    const exact = await json<{ data: unknown[]; has_more: boolean }>(
      await call(`/v1/accounts/${account}/entries?limit=12`),
    );
    expect(exact.data).toHaveLength(12);
    expect(exact.has_more).toBe(false);
  });

  it("rejects an unknown starting_after, even one from another account", async () => {
    const account = await fundedAccount(10);
    const other = await fundedAccount(10);
    const [foreign] = await allEntries(other);
    const body = await expectProblem(
      await call(`/v1/accounts/${account}/entries?starting_after=${String(foreign?.id)}`),
      400,
      "invalid_request",
    );
    expect(body.errors).toEqual([{ field: "starting_after", message: expect.any(String) }]);
  });

  it("an empty ledger is an empty page", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    expect(await json(await call(`/v1/accounts/${account}/entries`))).toEqual({ data: [], has_more: false });
  });
});
