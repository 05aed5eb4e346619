import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createLedgerClient, type Fetch } from "../../src/client/onceledger-client.ts";
import { ACME_KEY, BASE_URL, expectLedgerConsistent, getAccount, uniqueAccount } from "../support/api.ts";

/** The client's batch(): safe to retry whole, because every operation carries its own key. */

const worker: Fetch = (url, init) => exports.default.fetch(url, init);

/** A network that loses the first `count` answers after the server has processed the request. */
function dropsAnswers(count: number, inner: Fetch): Fetch {
  let dropped = 0;
  return async (url, init) => {
    const response = await inner(url, init);
    if (dropped >= count) return response;
    dropped += 1;
    await response.arrayBuffer();
    throw new TypeError("connection reset after the request was processed");
  };
}

function client(fetch: Fetch) {
  return createLedgerClient({ baseUrl: BASE_URL, apiKey: ACME_KEY, fetch, sleep: () => Promise.resolve() });
}

describe("client batch()", () => {
  it("applies each operation once when the batch's answer is lost and it is sent again", async () => {
    const account = uniqueAccount("client");
    await client(worker).openAccount(account, { currency: "USD" });
    const result = await client(dropsAnswers(1, worker)).batch(account, [
      { type: "credit", amount: 1000, currency: "USD" },
      { type: "charge", amount: 300, currency: "USD", idempotency_key: "mine-1" },
      { type: "charge", amount: 5000, currency: "USD" },
    ]);
    expect(result.attempts).toBe(2);
    expect(result.keys[1]).toBe("mine-1");
    expect(new Set(result.keys).size).toBe(3);
    // The answer that arrived is the second sending's: every operation replayed.
    expect(result.value.results.map((r) => [r.status, r.replayed])).toEqual([
      [201, true],
      [201, true],
      [402, true],
    ]);
    expect(await getAccount(account)).toMatchObject({ balance: 700, entry_count: 2 });
    await expectLedgerConsistent(account);
  });

  it("refuses, before sending, an operation whose key the server would refuse", async () => {
    const sent: string[] = [];
    const c = client((url, init) => {
      sent.push(url);
      return worker(url, init);
    });
    await expect(
      c.batch("anyone", [{ type: "charge", amount: 1, currency: "USD", idempotency_key: "has space" }]),
    ).rejects.toMatchObject({ code: "idempotency_key_invalid" });
    expect(sent).toEqual([]);
  });
});
