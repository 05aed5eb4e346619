import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import {
  allEntries,
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  GLOBEX_KEY,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";

async function snapshot(response: Response) {
  return {
    status: response.status,
    body: await response.text(),
    replayed: response.headers.get("idempotent-replayed"),
  };
}

describe("replays", () => {
  it("a retry after a lost acknowledgment gets the same bytes and changes nothing", async () => {
    const account = await fundedAccount(10_000);
    const key = uniqueKey();
    const body = { amount: 1234, currency: "USD", description: "order 7", metadata: { a: "1" } };
    const first = await snapshot(await post(account, "charges", body, key));
    const before = await getAccount(account);

    const retry = await post(account, "charges", body, key);
    expect(retry.headers.get("content-type")).toBe("application/json");
    const second = await snapshot(retry);

    expect(first.status).toBe(201);
    expect(first.replayed).toBe("false");
    expect(second).toEqual({ ...first, replayed: "true" });
    expect(await getAccount(account)).toEqual({ ...before, storage_bytes: expect.any(Number) as unknown });
    expect(before.balance).toBe(10_000 - 1234);
  });

  it("replays the original body even after the charge has since been refunded", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const original = await snapshot(await post(account, "charges", { amount: 300, currency: "USD" }, key));
    const { id } = JSON.parse(original.body) as { id: string };
    expect((await post(account, "refunds", { charge: id })).status).toBe(201);

    const replay = await snapshot(await post(account, "charges", { amount: 300, currency: "USD" }, key));
    expect(replay.body).toBe(original.body);
    const now = await json(await call(`/v1/accounts/${account}/charges/${id}`));
    expect(now.amount_refunded).toBe(300);
  });

  it("records a decline: funds added later do not turn a replay into a charge", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    const declined = await snapshot(await post(account, "charges", { amount: 500, currency: "USD" }, key));
    expect(declined.status).toBe(402);
    expect((await post(account, "credits", { amount: 1000, currency: "USD" })).status).toBe(201);

    const replay = await post(account, "charges", { amount: 500, currency: "USD" }, key);
    expect(replay.headers.get("content-type")).toBe("application/problem+json");
    expect(await snapshot(replay)).toEqual({ ...declined, replayed: "true" });
    expect(await getAccount(account)).toMatchObject({ balance: 1100, entry_count: 2 });
  });

  it.each([
    { code: "charge_not_found", status: 404, kind: "refunds" as const, body: { charge: "ch_nope" } },
    { code: "currency_mismatch", status: 409, kind: "credits" as const, body: { amount: 5, currency: "EUR" } },
    { code: "insufficient_funds", status: 402, kind: "charges" as const, body: { amount: 5, currency: "USD" } },
  ])("records and replays the decline $code", async ({ code, status, kind, body }) => {
    const account = await fundedAccount(0);
    const key = uniqueKey();
    const first = await post(account, kind, body, key);
    await expectProblem(first.clone(), status, code);
    const second = await post(account, kind, body, key);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.text()).toBe(await first.text());
  });

  it("records and replays refund_exceeds_charge", async () => {
    const account = await fundedAccount(100);
    const charge = await json<{ id: string }>(await post(account, "charges", { amount: 10, currency: "USD" }));
    const key = uniqueKey();
    const first = await snapshot(await post(account, "refunds", { charge: charge.id, amount: 11 }, key));
    expect(first.status).toBe(409);
    const second = await snapshot(await post(account, "refunds", { charge: charge.id, amount: 11 }, key));
    expect(second).toEqual({ ...first, replayed: "true" });
  });

  it("treats key order, whitespace and the query string as the same request", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const first = await post(account, "charges", '{"amount":10,"currency":"USD","metadata":{"x":"1","y":"2"}}', key);
    const second = await call(`/v1/accounts/${account}/charges?utm=1`, {
      method: "POST",
      idempotencyKey: key,
      body: '{ "metadata" : { "y":"2", "x":"1" },\n  "currency":"USD", "amount":10 }',
    });
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.text()).toBe(await first.text());
    expect((await getAccount(account)).entry_count).toBe(2);
  });

  it("treats the quoted form of a key as the bare key", async () => {
    const account = await fundedAccount(1000);
    const first = await post(account, "charges", { amount: 10, currency: "USD" }, "order-99");
    const second = await post(account, "charges", { amount: 10, currency: "USD" }, '"order-99";attempt=2');
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.text()).toBe(await first.text());
  });
});

describe("the Worker's own retries", () => {
  it("a retried call of the same HTTP request is not labelled a replay; another request is", async () => {
    const account = await fundedAccount(1000);
    const request = (requestId: string) => ({
      requestId,
      idempotencyKey: "worker-retry",
      fingerprint: "f".repeat(64),
      command: { type: "charge" as const, input: { amount: 10, currency: "USD" } },
      origin: { requestId, keyId: null },
      interfaceVersion: OBJECT_INTERFACE_VERSION,
    });
    const [first, retried, other] = await runInDurableObject(ledgerStub(account), (instance: AccountLedger) =>
      Promise.all([
        instance.moveMoney(request("http-1")),
        instance.moveMoney(request("http-1")),
        instance.moveMoney(request("http-2")),
      ]),
    );
    // What the client sees; the facts beside it (storage work, the entry) are for the logs.
    const seen = ({ status, body, replayed }: { status: number; body: string; replayed: boolean }) => ({
      status,
      body,
      replayed,
    });
    expect(first.replayed).toBe(false);
    expect(seen(retried)).toEqual(seen(first));
    expect(seen(other)).toEqual({ ...seen(first), replayed: true });
    expect((await getAccount(account)).balance).toBe(990);
  });
});

describe("reuse and scope", () => {
  it("rejects the same key with a different body or route with 422, applies nothing and keeps the original", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const original = await snapshot(await post(account, "charges", { amount: 10, currency: "USD" }, key));
    await expectProblem(
      await post(account, "charges", { amount: 11, currency: "USD" }, key),
      422,
      "idempotency_key_reused",
    );
    await expectProblem(
      await post(account, "credits", { amount: 10, currency: "USD" }, key),
      422,
      "idempotency_key_reused",
    );
    await expectProblem(
      await post(account, "charges", { amount: 10, currency: "USD", description: "x" }, key),
      422,
      "idempotency_key_reused",
    );
    expect(await getAccount(account)).toMatchObject({ balance: 990, entry_count: 2 });
    expect(await snapshot(await post(account, "charges", { amount: 10, currency: "USD" }, key))).toEqual({
      ...original,
      replayed: "true",
    });
  });

  it("scopes keys per account", async () => {
    const a = await fundedAccount(100);
    const b = await fundedAccount(100);
    const key = uniqueKey();
    expect((await post(a, "charges", { amount: 10, currency: "USD" }, key)).headers.get("idempotent-replayed")).toBe(
      "false",
    );
    expect((await post(b, "charges", { amount: 10, currency: "USD" }, key)).headers.get("idempotent-replayed")).toBe(
      "false",
    );
    expect((await getAccount(a)).balance).toBe(90);
    expect((await getAccount(b)).balance).toBe(90);
  });

  it("scopes keys and account names per tenant", async () => {
    const account = uniqueAccount();
    const key = uniqueKey();
    await openAccount(account);
    await openAccount(account, { currency: "USD" }, GLOBEX_KEY);
    expect((await post(account, "credits", { amount: 10, currency: "USD" }, key)).status).toBe(201);
    const globex = await post(account, "credits", { amount: 10, currency: "USD" }, key, { key: GLOBEX_KEY });
    expect(globex.status).toBe(201);
    expect(globex.headers.get("idempotent-replayed")).toBe("false");
    expect(
      (await post(account, "credits", { amount: 5, currency: "USD" }, uniqueKey(), { key: GLOBEX_KEY })).status,
    ).toBe(201);
    expect((await getAccount(account)).balance).toBe(10);
    expect((await getAccount(account, GLOBEX_KEY)).balance).toBe(15);
  });

  it("records nothing for a request rejected before the object", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    await expectProblem(await post(account, "charges", { amount: 0, currency: "USD" }, key), 400, "invalid_request");
    await expectProblem(await post(account, "charges", "{", key), 400, "invalid_json");
    const real = await post(account, "charges", { amount: 7, currency: "USD" }, key);
    expect(real.status).toBe(201);
    expect(real.headers.get("idempotent-replayed")).toBe("false");
  });
});

describe("concurrency", () => {
  it("50 concurrent copies of one charge make one entry and 50 identical responses", async () => {
    const account = await fundedAccount(10_000);
    const key = uniqueKey();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => post(account, "charges", { amount: 999, currency: "USD" }, key)),
    );
    const snapshots = await Promise.all(responses.map(snapshot));
    expect(new Set(snapshots.map((s) => `${s.status} ${s.body}`)).size).toBe(1);
    expect(snapshots[0]?.status).toBe(201);
    expect(snapshots.filter((s) => s.replayed === "false")).toHaveLength(1);

    const entries = await allEntries(account);
    expect(entries.filter((entry) => entry.idempotency_key === key)).toHaveLength(1);
    expect(await getAccount(account)).toMatchObject({ balance: 10_000 - 999, entry_count: 2 });
    await expectLedgerConsistent(account);
  });

  it("concurrent distinct charges never overdraw and keep the ledger consistent", async () => {
    const account = await fundedAccount(1000);
    const responses = await Promise.all(
      Array.from({ length: 40 }, () => post(account, "charges", { amount: 30, currency: "USD" })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(33);
    expect(statuses.filter((s) => s === 402)).toHaveLength(7);
    const audit = await expectLedgerConsistent(account);
    expect(audit).toMatchObject({ balance: 10, entryCount: 34 });
    expect((await allEntries(account)).map((e) => e.seq)).toEqual(Array.from({ length: 34 }, (_, i) => i + 1));
  });
});
