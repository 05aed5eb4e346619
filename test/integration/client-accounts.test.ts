import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import {
  createLedgerClient,
  IdempotencyKeyExpiredError,
  LedgerProblemError,
  type Fetch,
} from "../../src/client/onceledger-client.ts";
import { ACME_KEY, BASE_URL, getAccount, uniqueAccount } from "../support/api.ts";
import { expireRecord } from "../support/storage.ts";

/** The client's account settings calls, and its expired-key error. */

const worker: Fetch = (url, init) => exports.default.fetch(url, init);

function recording(sent: Headers[], inner: Fetch): Fetch {
  return (url, init) => {
    sent.push(new Headers(init.headers));
    return inner(url, init);
  };
}

/** A network that loses the first answer after the server has processed the request. */
function dropsFirstAnswer(inner: Fetch): Fetch {
  let dropped = false;
  return async (url, init) => {
    const response = await inner(url, init);
    if (dropped) return response;
    dropped = true;
    await response.arrayBuffer();
    throw new TypeError("connection reset after the request was processed");
  };
}

const client = (fetch: Fetch) =>
  createLedgerClient({ baseUrl: BASE_URL, apiKey: ACME_KEY, fetch, sleep: () => Promise.resolve() });

describe("client openAccount()", () => {
  it("sends an Idempotency-Key, and If-Match for an expected version, so a lost answer's retry undoes nothing", async () => {
    const account = uniqueAccount("client");
    const sent: Headers[] = [];
    const opened = await client(recording(sent, worker)).openAccount(account, { currency: "USD" });
    expect(opened.value.version).toBe(1);
    expect(sent[0]?.get("idempotency-key")).toMatch(/^"[0-9a-f-]{36}"$/);
    expect(sent[0]?.has("if-match")).toBe(false);

    const raised = await client(dropsFirstAnswer(recording(sent, worker))).openAccount(
      account,
      { currency: "USD", overdraft_limit: 1000 },
      { expectedVersion: 1 },
    );
    expect(raised).toMatchObject({ status: 200, replayed: true, attempts: 2, value: { version: 2 } });
    expect(sent.at(-1)?.get("if-match")).toBe('"1"');
    expect(await getAccount(account)).toMatchObject({ overdraft_limit: 1000, version: 2 });

    const stale = await client(worker)
      .openAccount(account, { currency: "USD", overdraft_limit: 0 }, { expectedVersion: 1 })
      .catch((error: unknown) => error);
    expect(stale).toBeInstanceOf(LedgerProblemError);
    expect(stale).toMatchObject({ code: "precondition_failed", status: 412 });
  });

  it("lists the changes", async () => {
    const account = uniqueAccount("client");
    const c = client(worker);
    await c.openAccount(account, { currency: "USD" });
    await c.openAccount(account, { currency: "USD", overdraft_limit: 5 });
    const page = await c.listChanges(account, { startingAfter: 1 });
    expect(page.value.data.map((change) => [change.version, change.field, change.old, change.new])).toEqual([
      [2, "overdraft_limit", 0, 5],
    ]);
  });

  it("lists the tenant's accounts a page at a time", async () => {
    const c = client(worker);
    const mine = [uniqueAccount("list"), uniqueAccount("list"), uniqueAccount("list")].sort();
    for (const account of mine) await c.openAccount(account, { currency: "USD" });
    await vi.waitFor(async () => {
      const listed: string[] = [];
      let startingAfter: string | undefined;
      for (;;) {
        const page = await c.listAccounts(startingAfter === undefined ? { limit: 2 } : { limit: 2, startingAfter });
        expect(page.value.data.length).toBeLessThanOrEqual(2);
        listed.push(...page.value.data.map((account) => account.id));
        startingAfter = page.value.data.at(-1)?.id;
        if (!page.value.has_more) break;
      }
      expect(listed.filter((id) => mine.includes(id))).toEqual(mine);
    });
  });
});

describe("IdempotencyKeyExpiredError", () => {
  it("tells an expired decline (no entry) and an expired charge (its entry) from a decline", async () => {
    const account = uniqueAccount("client");
    const c = client(worker);
    await c.openAccount(account, { currency: "USD" });
    const declined = await c.charge(account, { amount: 500, currency: "USD" }).catch((error: unknown) => error);
    expect(declined).toBeInstanceOf(LedgerProblemError);
    expect(declined).not.toBeInstanceOf(IdempotencyKeyExpiredError);
    const declinedKey = (declined as LedgerProblemError).idempotencyKey ?? "";
    await c.credit(account, { amount: 1000, currency: "USD" });
    const charged = await c.charge(account, { amount: 300, currency: "USD" });
    await expireRecord(account, declinedKey);
    await expireRecord(account, charged.idempotencyKey ?? "");

    const again = await c
      .charge(account, { amount: 500, currency: "USD" }, { idempotencyKey: declinedKey })
      .catch((error: unknown) => error);
    expect(again).toBeInstanceOf(IdempotencyKeyExpiredError);
    expect(again).toMatchObject({
      code: "idempotency_key_expired",
      entryId: null,
      originalStatus: 402,
      originalCode: "insufficient_funds",
    });
    const chargedAgain = await c
      .charge(account, { amount: 300, currency: "USD" }, { idempotencyKey: charged.idempotencyKey ?? "" })
      .catch((error: unknown) => error);
    expect(chargedAgain).toMatchObject({ entryId: charged.value.id, originalStatus: 201, originalCode: null });
    expect((await getAccount(account)).balance).toBe(700);
  });

  it("names the entry's id entryId, so `entry` means only the key lookup's whole entry", async () => {
    const account = uniqueAccount("client");
    const c = client(worker);
    await c.openAccount(account, { currency: "USD" });
    await c.credit(account, { amount: 1000, currency: "USD" });
    const charged = await c.charge(account, { amount: 300, currency: "USD" });
    const key = charged.idempotencyKey ?? "";
    await expireRecord(account, key);

    const expired = await c
      .charge(account, { amount: 300, currency: "USD" }, { idempotencyKey: key })
      .catch((error: unknown) => error);
    expect(expired).toBeInstanceOf(IdempotencyKeyExpiredError);
    const error = expired as IdempotencyKeyExpiredError;
    expect(error.entryId).toBe(charged.value.id);
    expect(error).not.toHaveProperty("entry");
    // The wire keeps its field: the problem's `entry` is the id, as /v1 has always sent it.
    expect(error.problem.entry).toBe(charged.value.id);
    const lookup = await c.lookupIdempotencyKey(account, key);
    expect(lookup.value.entry).toMatchObject({ id: error.entryId, amount: -300 });
  });
});
