import { runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createLedgerClient, type Fetch } from "../../src/client/onceledger-client.ts";
import { ACME_KEY, BASE_URL, getAccount, ledgerStub, uniqueAccount } from "../support/api.ts";

/** The client's holds and transfers: one key per call, kept across retries, so a lost answer moves nothing twice. */

const worker: Fetch = (url, init) => exports.default.fetch(url, init);

/** A network that loses every first answer to a POST after the server has processed it. */
function dropsFirstAnswers(inner: Fetch): Fetch {
  const seen = new Set<string>();
  return async (url, init) => {
    const response = await inner(url, init);
    const key = new Headers(init.headers).get("idempotency-key");
    if (init.method !== "POST" || key === null || seen.has(key)) return response;
    seen.add(key);
    await response.arrayBuffer();
    throw new TypeError("connection reset after the request was processed");
  };
}

const client = createLedgerClient({
  baseUrl: BASE_URL,
  apiKey: ACME_KEY,
  fetch: dropsFirstAnswers(worker),
  sleep: () => Promise.resolve(),
});

describe("client holds and transfers", () => {
  it("hold, capture and transfer once each, though every first answer is lost", async () => {
    const from = uniqueAccount("client");
    const to = uniqueAccount("client");
    await client.openAccount(from, { currency: "USD" });
    await client.openAccount(to, { currency: "USD" });
    await client.credit(from, { amount: 1000, currency: "USD" });

    const { value: hold, replayed } = await client.hold(from, { amount: 400, currency: "USD" });
    expect(replayed).toBe(true);
    expect((await client.getHold(from, hold.id)).value).toMatchObject({ state: "held", amount: 400 });
    const { value: capture } = await client.capture(from, hold.id, { amount: 300 });
    expect(capture).toMatchObject({ type: "capture", amount: -300, hold: hold.id });
    const other = (await client.hold(from, { amount: 100, currency: "USD" })).value;
    expect((await client.voidHold(from, other.id)).value).toMatchObject({ state: "voided" });

    const { value: transfer } = await client.transfer(from, { to, amount: 200, currency: "USD" });
    expect(transfer).toMatchObject({ state: "pending", from, to });
    await runInDurableObject(ledgerStub(from), (instance) => instance.alarm());
    expect((await client.getTransfer(from, transfer.id)).value).toMatchObject({ state: "posted" });
    expect(await getAccount(from)).toMatchObject({ balance: 500, held: 0, entry_count: 3 });
    expect(await getAccount(to)).toMatchObject({ balance: 200, entry_count: 1 });
  });
});
