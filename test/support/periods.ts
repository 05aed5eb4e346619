import { runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { call, ledgerStub, uniqueKey } from "./api.ts";

/** Helpers of the archive tests: charges sent in batches, and a close made inside the object. */

const BATCH = 1_000;

/** One charge of 1 USD per key, sent in batches of 1,000; each batch must be answered 200. */
export async function chargeAll(account: string, keys: readonly string[]): Promise<void> {
  for (let start = 0; start < keys.length; start += BATCH) {
    const operations = keys
      .slice(start, start + BATCH)
      .map((key) => ({ type: "charge", idempotency_key: key, amount: 1, currency: "USD" }));
    const response = await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } });
    expect(response.status).toBe(200);
  }
}

/** Closes the open period under a fresh key, as the API would; the close must be answered 201. */
export async function closeInside(stub: ReturnType<typeof ledgerStub>): Promise<void> {
  const key = uniqueKey("close");
  const outcome = await runInDurableObject(stub, (instance: AccountLedger) =>
    instance.closePeriod({
      requestId: key,
      idempotencyKey: key,
      fingerprint: "c".repeat(64),
      origin: { requestId: key, keyId: null },
    }),
  );
  expect(outcome.status).toBe(201);
}

/** Moves every replay window but the last key's into the past, so archived periods may leave the object. */
export function expireReplayWindows(stub: ReturnType<typeof ledgerStub>): Promise<void> {
  return runInDurableObject(stub, (_, state) => {
    const past = Date.now() - 1;
    state.storage.sql.exec(
      "UPDATE keys SET expires_ms = ? WHERE expires_ms > ? AND pos < (SELECT MAX(pos) FROM keys)",
      past,
      past,
    );
    state.storage.sql.exec("UPDATE periods SET hot_until_ms = ? WHERE hot_until_ms > ?", past, past);
  });
}
