import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
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

/** Runs the alarm until no period is closing or waiting to leave, the keys' replay window closed first. */
export async function archiveAndPrune(account: string): Promise<void> {
  await runInDurableObject(ledgerStub(account), (_, state) => {
    state.storage.sql.exec("UPDATE keys SET expires_ms = ? WHERE expires_ms > ?", Date.now() - 1, Date.now() - 1);
  });
  for (let run = 0; run < 200; run += 1) {
    await runDurableObjectAlarm(ledgerStub(account));
    const left = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM periods WHERE state = 'closing' OR pruned < 2")
        .one(),
    );
    if (left.n === 0) return;
    // A period archived before the expiry above has its own hot_until: move it too.
    await runInDurableObject(ledgerStub(account), (_, state) => {
      state.storage.sql.exec("UPDATE periods SET hot_until_ms = ? WHERE state = 'archived'", Date.now() - 1);
      state.storage.sql.exec("UPDATE keys SET expires_ms = ? WHERE expires_ms > ?", Date.now() - 1, Date.now() - 1);
    });
  }
  throw new Error("the archive did not finish in 200 alarm runs");
}
