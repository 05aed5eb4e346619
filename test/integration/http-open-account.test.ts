import { describe, expect, it } from "vitest";
import { MAX_AMOUNT_MINOR, MAX_OVERDRAFT_LIMIT_MINOR } from "../../src/domain/limits.ts";
import {
  call,
  expectInvalid,
  expectProblem,
  getAccount,
  json,
  openAccount,
  post,
  uniqueAccount,
} from "../support/api.ts";
import { credit, expectNotOpened, send } from "../support/validation.ts";

/** Opening an account with PUT: create, repeat, currency and overdraft limit. */

describe("PUT /v1/accounts/{account}", () => {
  it("opens with 201, repeats with 200 and refuses another currency with 409", async () => {
    const account = uniqueAccount();
    const created = await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } });
    expect(created.status).toBe(201);
    expect(created.headers.get("content-type")).toMatch(/^application\/json/);
    const first = await json(created);
    expect(first).toMatchObject({ id: account, currency: "USD", balance: 0, overdraft_limit: 0, entry_count: 0 });

    // storage_bytes is measured at each answer; everything else is the account as opened.
    const settled = { ...first, storage_bytes: expect.any(Number) as unknown };
    expect(first.storage_bytes).toBeGreaterThan(0);
    const again = await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(settled);

    await expectProblem(
      await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "EUR", overdraft_limit: 5 } }),
      409,
      "currency_mismatch",
    );
    expect(await getAccount(account)).toEqual(settled);
  });

  it(`accepts overdraft limits 0 and ${MAX_OVERDRAFT_LIMIT_MINOR} and rejects values outside`, async () => {
    const account = uniqueAccount();
    await openAccount(account, { currency: "USD", overdraft_limit: 0 });
    for (const [label, limit] of [
      ["negative", "-1"],
      ["over the maximum", String(MAX_OVERDRAFT_LIMIT_MINOR + 1)],
      ["fractional", "1.5"],
      ["a string", '"100"'],
      ["null", "null"],
    ] as const) {
      const response = await send(`/v1/accounts/${account}`, {
        method: "PUT",
        body: `{"currency": "USD", "overdraft_limit": ${limit}}`,
      });
      expect(response.status, label).toBe(400);
      await expectInvalid(response, ["overdraft_limit"]);
    }
    expect((await getAccount(account)).overdraft_limit).toBe(0);

    const raised = await call(`/v1/accounts/${account}`, {
      method: "PUT",
      body: { currency: "USD", overdraft_limit: MAX_OVERDRAFT_LIMIT_MINOR },
    });
    expect(raised.status).toBe(200);
    expect((await getAccount(account)).overdraft_limit).toBe(MAX_OVERDRAFT_LIMIT_MINOR);
    // Omitted, the limit is kept.
    expect((await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(200);
    expect((await getAccount(account)).overdraft_limit).toBe(MAX_OVERDRAFT_LIMIT_MINOR);
    // And it is live: a charge of the whole limit now goes through.
    expect((await post(account, "charges", credit(MAX_AMOUNT_MINOR))).status).toBe(201);

    const fresh = uniqueAccount();
    await expectInvalid(
      await call(`/v1/accounts/${fresh}`, {
        method: "PUT",
        body: { currency: "USD", overdraft_limit: MAX_OVERDRAFT_LIMIT_MINOR + 1 },
      }),
      ["overdraft_limit"],
    );
    await expectNotOpened(fresh);
    const opened = await openAccount(fresh, { currency: "USD", overdraft_limit: MAX_OVERDRAFT_LIMIT_MINOR });
    expect(opened.overdraft_limit).toBe(MAX_OVERDRAFT_LIMIT_MINOR);
  });
});
