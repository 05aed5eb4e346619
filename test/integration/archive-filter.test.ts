import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { filterCandidates } from "../../src/ledger/archive-filter.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { call, fundedAccount, json, ledgerStub, uniqueKey } from "../support/api.ts";

/**
 * What an archived key leaves in the object, measured on real storage, and
 * how often a key never seen reads R2: arbitrary keys through the filter,
 * keys that carry their creation time (UUIDv7) by the periods' times alone.
 * docs/storage.md quotes the figures printed.
 */

const ARCHIVED = 20_000;
const NEW_KEYS = 10_000;
const BATCH = 1_000;
/** The storage issue's budgets, in bytes of hot storage per archived key. */
const MAX_BYTES_PER_ARBITRARY_KEY = 1.5;
const MAX_BYTES_PER_TIMED_KEY = 0.1;

function archiveReads(account: string): Promise<number> {
  return runInDurableObject(
    ledgerStub(account),
    (instance: AccountLedger) => (instance as unknown as { archive: { reads: number } }).archive.reads,
  );
}

function uuidv7(ms: number): string {
  const hex =
    ms.toString(16).padStart(12, "0") +
    [...crypto.getRandomValues(new Uint8Array(10))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

async function chargeAll(account: string, keys: readonly string[]): Promise<void> {
  for (let start = 0; start < keys.length; start += BATCH) {
    const operations = keys
      .slice(start, start + BATCH)
      .map((key) => ({ type: "charge", idempotency_key: key, amount: 1, currency: "USD" }));
    const response = await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } });
    expect(response.status).toBe(200);
  }
}

/** Closes the period, archives it and lets its rows leave (their replay window moved into the past). */
async function archiveAll(account: string): Promise<void> {
  const stub = ledgerStub(account);
  const key = uniqueKey("close");
  const closed = await runInDurableObject(stub, (instance: AccountLedger) =>
    instance.closePeriod({
      requestId: key,
      idempotencyKey: key,
      fingerprint: "c".repeat(64),
      origin: { requestId: key, keyId: null },
    }),
  );
  expect(closed.status).toBe(201);
  for (let run = 0; run < 100; run += 1) {
    await runInDurableObject(stub, (_, state) => {
      const past = Date.now() - 1;
      state.storage.sql.exec(
        "UPDATE keys SET expires_ms = ? WHERE expires_ms > ? AND pos < (SELECT MAX(pos) FROM keys)",
        past,
        past,
      );
      state.storage.sql.exec("UPDATE periods SET hot_until_ms = ? WHERE hot_until_ms > ?", past, past);
    });
    await runDurableObjectAlarm(stub);
    const done = await runInDurableObject(
      stub,
      (_, state) => state.storage.sql.exec<{ pruned: number }>("SELECT pruned FROM periods WHERE id = 1").one().pruned,
    );
    if (done === 2) return;
  }
  throw new Error("the period was not archived and pruned");
}

/** Bytes SQLite spends on a row besides its values: a cell pointer, the payload-size and key varints, a header byte per column (an upper bound). */
const ROW_OVERHEAD_BYTES = 12;
/** What the object keeps in memory per period that left (archive-reader.ts), an upper bound on a PeriodRow. */
const MEMORY_PER_PERIOD_BYTES = 256;

/**
 * What the archived period left in the object, as stored bytes: the filter's
 * rows, the period's row and its objects' rows (values plus per-row
 * overhead), and its entry in memory. (The local runtime has no dbstat; free
 * pages the delete left are reused by later writes, so they are not counted.)
 */
function traceBytes(account: string): Promise<number> {
  return runInDurableObject(ledgerStub(account), (_, state) => {
    const sql = state.storage.sql;
    const filter = sql
      .exec<{ bytes: number }>(
        `SELECT COALESCE(SUM(length(data) + 8 + ${ROW_OVERHEAD_BYTES}), 0) AS bytes FROM key_filter`,
      )
      .one().bytes;
    const objects = sql
      .exec<{ bytes: number }>(
        `SELECT COALESCE(SUM(length(name) + length(first) + length(sha256) + length(kind) + 24 + ${ROW_OVERHEAD_BYTES}), 0) AS bytes FROM period_objects`,
      )
      .one().bytes;
    const periods = sql
      .exec<{ bytes: number }>(
        `SELECT COALESCE(SUM(length(progress) + length(sha256) + length(previous_sha256) + 120 + ${ROW_OVERHEAD_BYTES} + ${MEMORY_PER_PERIOD_BYTES}), 0) AS bytes FROM periods`,
      )
      .one().bytes;
    return filter + objects + periods;
  });
}

describe("what an archived key leaves behind", () => {
  it(`arbitrary keys: at most ${MAX_BYTES_PER_ARBITRARY_KEY} bytes each, and under 1% of ${NEW_KEYS} new keys read R2`, async () => {
    const account = await fundedAccount(1_000_000_000);
    await chargeAll(
      account,
      Array.from({ length: ARCHIVED }, () => crypto.randomUUID()),
    );
    await archiveAll(account);
    const perKey = (await traceBytes(account)) / ARCHIVED;
    const newKeys = Array.from({ length: NEW_KEYS }, () => crypto.randomUUID());
    const hits = await runInDurableObject(ledgerStub(account), (_, state) => {
      const sql = new CountedSql(state.storage.sql);
      return newKeys.filter((key) => filterCandidates(sql, key, 1).length > 0).length;
    });
    console.log(
      `arbitrary keys: ${perKey.toFixed(3)} bytes per archived key; ${hits} of ${NEW_KEYS} new keys (${((100 * hits) / NEW_KEYS).toFixed(2)}%) would read R2`,
    );
    expect(perKey).toBeLessThanOrEqual(MAX_BYTES_PER_ARBITRARY_KEY);
    expect(hits).toBeLessThan(NEW_KEYS / 100);
    // And over HTTP: new keys are decided afresh, none mistaken for an archived one.
    await chargeAll(account, newKeys.slice(0, BATCH));
    expect((await json(await call(`/v1/accounts/${account}`))).entry_count).toBe(1 + ARCHIVED + BATCH);
  }, 300_000);

  it(`keys that carry their time (UUIDv7): at most ${MAX_BYTES_PER_TIMED_KEY} bytes each, and no R2 read for a new one`, async () => {
    const account = await fundedAccount(1_000_000_000);
    await chargeAll(
      account,
      Array.from({ length: ARCHIVED }, () => uuidv7(Date.now())),
    );
    await archiveAll(account);
    const perKey = (await traceBytes(account)) / ARCHIVED;
    const filterRows = await runInDurableObject(
      ledgerStub(account),
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM key_filter").one().n,
    );
    console.log(`UUIDv7 keys: ${perKey.toFixed(4)} bytes per archived key`);
    // Only the funding credit's key, which carries no time, went into the filter.
    expect(filterRows).toBe(1);
    expect(perKey).toBeLessThanOrEqual(MAX_BYTES_PER_TIMED_KEY);
    // New keys minted now are after every archived period: decided without reading R2.
    const readsBefore = await archiveReads(account);
    await chargeAll(
      account,
      Array.from({ length: BATCH }, () => uuidv7(Date.now())),
    );
    expect(await archiveReads(account)).toBe(readsBefore);
  }, 300_000);

  it("finds a key whose embedded time was false (in the future, or long before its decision) through the filter", async () => {
    const account = await fundedAccount(1_000_000);
    const future = uuidv7(Date.now() + 86_400_000);
    const stale = uuidv7(Date.now() - 86_400_000);
    await chargeAll(account, [future, stale, uuidv7(Date.now())]);
    await archiveAll(account);
    const filterRows = await runInDurableObject(
      ledgerStub(account),
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM key_filter").one().n,
    );
    expect(filterRows).toBeGreaterThan(0);
    for (const key of [future, stale]) {
      const response = await call(`/v1/accounts/${account}/batches`, {
        method: "POST",
        body: { operations: [{ type: "charge", idempotency_key: key, amount: 1, currency: "USD" }] },
      });
      const { results } = await json<{
        results: { status: number; body: { code: string; original_status: number } }[];
      }>(response);
      expect(results[0]).toMatchObject({
        status: 409,
        body: { code: "idempotency_key_expired", original_status: 201 },
      });
    }
    expect((await json(await call(`/v1/accounts/${account}`))).entry_count).toBe(4);
  });
});
