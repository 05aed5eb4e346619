import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, fundedAccount, ledgerStub } from "../support/api.ts";

/**
 * What an account's storage costs per decided key, measured on real SQLite
 * storage: while a key's response is stored, and once it has expired and
 * only the decision (and the entry, if money moved) is left. Bounds here are
 * budgets: a schema change that bloats a decision fails this test.
 * docs/storage.md quotes the figures it prints.
 */

const KEYS = 5_000;
const BATCH = 1_000;

function databaseSize(account: string): Promise<number> {
  return runInDurableObject(ledgerStub(account), (_, state) => state.storage.sql.databaseSize);
}

async function decide(account: string, amount: number, prefix: string) {
  for (let start = 0; start < KEYS; start += BATCH) {
    const operations = Array.from({ length: BATCH }, (_, i) => ({
      type: "charge",
      // Client-made keys are typically UUIDv7s: 36 characters.
      idempotency_key: `${prefix}-${String(start + i).padStart(6, "0")}-${"0".repeat(36 - prefix.length - 8)}`,
      amount,
      currency: "USD",
    }));
    const response = await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } });
    expect(response.status).toBe(200);
  }
}

async function expireAll(account: string) {
  await runInDurableObject(ledgerStub(account), (_, state) => {
    state.storage.sql.exec("UPDATE idempotency_records SET expires_ms = ?", Date.now() - 1);
  });
  while (
    await runInDurableObject(
      ledgerStub(account),
      (_, state) => state.storage.sql.exec("SELECT 1 FROM idempotency_records LIMIT 1").toArray().length > 0,
    )
  ) {
    await runDurableObjectAlarm(ledgerStub(account));
  }
}

describe("storage per decided key", () => {
  it.each([
    ["a charge that moved money", 1, 1_000_000_000],
    ["a declined charge", 5_000_000, 0],
  ] as const)(
    "%s",
    async (label, amount, funding) => {
      const moved = funding > 0;
      const account = await fundedAccount(funding);
      const empty = await databaseSize(account);
      await decide(account, amount, moved ? "paid" : "deny");
      const withResponses = await databaseSize(account);
      await expireAll(account);
      // Freed pages are reused: fill them with the next keys' decisions to see the permanent cost.
      const perLive = (withResponses - empty) / KEYS;
      await decide(account, amount, moved ? "more" : "nope");
      // The second wave is stored whole; what is left over is the first wave's permanent part.
      const perExpired = ((await databaseSize(account)) - empty - KEYS * perLive) / KEYS;
      console.log(
        `${label}: ${Math.round(perLive)} bytes per key while its response is stored, ${Math.round(perExpired)} after`,
      );
      expect(perLive).toBeLessThan(moved ? 1_200 : 900);
      expect(perExpired).toBeLessThan(moved ? 550 : 250);
      expect(perExpired).toBeLessThan(perLive);
    },
    120_000,
  );
});
