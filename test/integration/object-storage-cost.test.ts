import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { call, fundedAccount, ledgerStub } from "../support/api.ts";

/**
 * What an account's storage costs per charge, measured on real SQLite
 * storage, while its key still replays byte for byte: the budgets of the
 * lean ledger (docs/storage.md quotes the figures printed). A schema change
 * that bloats a charge fails here.
 */

const KEYS = 5_000;
const BATCH = 1_000;
/** Per new-key charge, while its key replays: the storage issue's budgets. */
const MAX_BYTES_PER_CHARGE = 300;
const MAX_ROWS_WRITTEN_PER_CHARGE = 3;

function databaseSize(account: string): Promise<number> {
  return runInDurableObject(ledgerStub(account), (_, state) => state.storage.sql.databaseSize);
}

/** Client-made keys are typically UUIDv7s: 36 characters. */
function uuidv7Like(i: number): string {
  const hex = (Date.now() * 4096 + i).toString(16).padStart(32, "0").slice(-32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

async function charge(account: string, amount: number, offset: number): Promise<void> {
  for (let start = 0; start < KEYS; start += BATCH) {
    const operations = Array.from({ length: BATCH }, (_, i) => ({
      type: "charge",
      idempotency_key: uuidv7Like(offset + start + i),
      amount,
      currency: "USD",
    }));
    const response = await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } });
    expect(response.status).toBe(200);
  }
}

/** The rows a batch of new-key charges writes, index entries included, as the object counts them. */
function rowsWrittenPerCharge(account: string, count: number): Promise<number> {
  return runInDurableObject(ledgerStub(account), async (instance: AccountLedger) => {
    const requests = Array.from({ length: count }, (_, i) => {
      const key = uuidv7Like(1_000_000 + i);
      return {
        requestId: key,
        idempotencyKey: key,
        fingerprint: "0".repeat(64),
        command: { type: "charge" as const, input: { amount: 1, currency: "USD" } },
        origin: { requestId: key, keyId: null },
        interfaceVersion: OBJECT_INTERFACE_VERSION,
      };
    });
    const result = await instance.moveMoneyInBatch(requests);
    if (!result.ok) throw new Error("the batch was refused");
    const written = result.value.reduce((sum, outcome) => sum + (outcome.facts?.work?.rowsWritten ?? Number.NaN), 0);
    expect(result.value.every((outcome) => outcome.status === 201)).toBe(true);
    return written / count;
  });
}

describe("storage per charge", () => {
  it.each([
    ["a charge that moved money", 1, 1_000_000_000, MAX_BYTES_PER_CHARGE],
    // A decline stores its problem body (its facts are in it), so it costs more than a charge.
    ["a declined charge", 5_000_000, 0, 500],
  ] as const)(
    "%s",
    async (label, amount, funding, maxBytes) => {
      const account = await fundedAccount(funding);
      const empty = await databaseSize(account);
      await charge(account, amount, 0);
      const perCharge = ((await databaseSize(account)) - empty) / KEYS;
      console.log(`${label}: ${Math.round(perCharge)} bytes per charge while its key replays`);
      expect(perCharge).toBeLessThan(maxBytes);
    },
    120_000,
  );

  it(`writes at most ${MAX_ROWS_WRITTEN_PER_CHARGE} rows per new-key charge, index entries included`, async () => {
    const account = await fundedAccount(1_000_000);
    const rows = await rowsWrittenPerCharge(account, 100);
    console.log(`a new-key charge writes ${rows} rows`);
    expect(rows).toBeLessThanOrEqual(MAX_ROWS_WRITTEN_PER_CHARGE);
  });
});
