import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LOCATOR_MERGE_RATIO } from "../../src/domain/limits.ts";
import { appendSegment, encodeGolombSet } from "../../src/lib/golomb-set.ts";
import { hash64 } from "../../src/lib/hash64.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { call, fundedAccount, json, ledgerStub } from "../support/api.ts";
import { chargeAll, closeInside, expireReplayWindows } from "../support/periods.ts";

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

/** Closes the period, archives it and lets its rows leave (their replay window moved into the past). */
async function archiveAll(account: string): Promise<void> {
  const stub = ledgerStub(account);
  await closeInside(stub);
  for (let run = 0; run < 100; run += 1) {
    await expireReplayWindows(stub);
    // One run after any the runtime has under way: runDurableObjectAlarm runs none while the runtime runs the
    // alarm, and a step of a sliced period lasts long enough for the loop to run out meanwhile.
    await runInDurableObject(stub, (instance: AccountLedger) => instance.alarm());
    if (await settled(account)) return;
  }
  throw new Error("the period was not archived and pruned");
}

/** Every period archived and pruned, and the locator done: every run live, nothing staged, nothing to merge. */
function settled(account: string): Promise<boolean> {
  return runInDurableObject(ledgerStub(account), (_, state) => {
    const sql = state.storage.sql;
    const unpruned = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM periods WHERE pruned < 2").one().n;
    const busy = sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM locator_runs WHERE state <> 'live' OR staged = 1")
      .one().n;
    const live = sql
      .exec<{ keys: number }>("SELECT keys FROM locator_runs WHERE state = 'live' ORDER BY keys LIMIT 2")
      .toArray();
    const [smaller, larger] = live;
    const mergeDue = smaller !== undefined && larger !== undefined && larger.keys < LOCATOR_MERGE_RATIO * smaller.keys;
    return unpruned === 0 && busy === 0 && !mergeDue;
  });
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
    const filter = locatorBytes(sql);
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

/** The locator's rows (key-locator.ts) as stored bytes: its buckets, its runs, and anything still staged. */
function locatorBytes(sql: SqlStorage): number {
  const one = (query: string) => sql.exec<{ bytes: number }>(query).one().bytes;
  return (
    one(`SELECT COALESCE(SUM(length(data) + 8 + ${ROW_OVERHEAD_BYTES}), 0) AS bytes FROM locator_buckets`) +
    one(`SELECT COALESCE(SUM(length(source) + 40 + ${ROW_OVERHEAD_BYTES}), 0) AS bytes FROM locator_runs`) +
    one(`SELECT COALESCE(COUNT(*) * (24 + ${ROW_OVERHEAD_BYTES}), 0) AS bytes FROM filter_staging`)
  );
}

type Tally = { reads: number; rowsRead: number };

/** For each key, how many R2 reads the object's archive lookup made to answer it. */
function lookupReads(account: string, keys: readonly string[]): Promise<number[]> {
  return runInDurableObject(ledgerStub(account), async (instance: AccountLedger) => {
    const archive = (instance as unknown as { archive: { findKey(key: string, tally: Tally): Promise<unknown> } })
      .archive;
    const out: number[] = [];
    for (const key of keys) {
      const tally = { reads: 0, rowsRead: 0 };
      await archive.findKey(key, tally);
      out.push(tally.reads);
    }
    return out;
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
    const hits = (await lookupReads(account, newKeys)).filter((reads) => reads > 0).length;
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
    const located = await runInDurableObject(
      ledgerStub(account),
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT SUM(keys) AS n FROM locator_runs").one().n,
    );
    console.log(`UUIDv7 keys: ${perKey.toFixed(4)} bytes per archived key`);
    // Only the funding credit's key, which carries no time, went to the locator.
    expect(located).toBe(1);
    expect(perKey).toBeLessThanOrEqual(MAX_BYTES_PER_TIMED_KEY);
    // New keys minted now are after every archived period: decided without reading R2.
    const readsBefore = await archiveReads(account);
    await chargeAll(
      account,
      Array.from({ length: BATCH }, () => uuidv7(Date.now())),
    );
    expect(await archiveReads(account)).toBe(readsBefore);
  }, 300_000);

  it("finds a key whose embedded time was false (in the future, or long before its decision) through the locator", async () => {
    const account = await fundedAccount(1_000_000);
    const future = uuidv7(Date.now() + 86_400_000);
    const stale = uuidv7(Date.now() - 86_400_000);
    await chargeAll(account, [future, stale, uuidv7(Date.now())]);
    await archiveAll(account);
    const located = await runInDurableObject(
      ledgerStub(account),
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT SUM(keys) AS n FROM locator_runs").one().n,
    );
    expect(located).toBeGreaterThan(1);
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

describe("the locator over many small periods", () => {
  const PERIODS = 60;
  const PER_PERIOD = 300;

  it(`keeps runs few, under 1% of ${NEW_KEYS} new keys reading R2, and archived keys found in 2 reads (3 on a false match)`, async () => {
    const account = await fundedAccount(1_000_000_000);
    const archived: string[] = [];
    for (let period = 0; period < PERIODS; period += 1) {
      const keys = Array.from({ length: PER_PERIOD }, () => crypto.randomUUID());
      archived.push(...keys);
      await chargeAll(account, keys);
      await archiveAll(account);
    }
    const { runs, bytes } = await runInDurableObject(ledgerStub(account), (_, state) => ({
      runs: state.storage.sql
        .exec<{ keys: number }>("SELECT keys FROM locator_runs WHERE state = 'live' ORDER BY keys DESC")
        .toArray()
        .map((row) => row.keys),
      bytes: locatorBytes(state.storage.sql),
    }));
    // Each live run holds at least LOCATOR_MERGE_RATIO times the next smaller one's keys.
    for (let i = 1; i < runs.length; i += 1) {
      expect(runs[i - 1]).toBeGreaterThanOrEqual(LOCATOR_MERGE_RATIO * (runs[i] as number));
    }
    // The funding credit, the charges, and every close but the last (each close is decided in the period after it).
    expect(runs.reduce((sum, keys) => sum + keys, 0)).toBe(1 + PERIODS * PER_PERIOD + PERIODS - 1);
    const newKeys = Array.from({ length: NEW_KEYS }, () => crypto.randomUUID());
    const hits = (await lookupReads(account, newKeys)).filter((reads) => reads > 0).length;
    const sample = archived.filter((_, i) => i % 60 === 0);
    const found = await lookupReads(account, sample);
    console.log(
      `${PERIODS} periods x ${PER_PERIOD} arbitrary keys: live runs ${JSON.stringify(runs)}; locator ${(bytes / archived.length).toFixed(3)} bytes per archived key; ${hits} of ${NEW_KEYS} new keys (${((100 * hits) / NEW_KEYS).toFixed(2)}%) read R2; archived keys read R2 ${found.filter((reads) => reads <= 2).length} of ${found.length} times at most twice, at most ${Math.max(...found)} times`,
    );
    expect(bytes / archived.length).toBeLessThanOrEqual(MAX_BYTES_PER_ARBITRARY_KEY);
    expect(hits).toBeLessThan(NEW_KEYS / 100);
    // Its own run's locator object and its keys object; a false match in another run adds one read.
    expect(Math.max(...found)).toBeLessThanOrEqual(3);
    expect(found.filter((reads) => reads > 2).length).toBeLessThanOrEqual(sample.length / 100);
    // Each is an archived key's final answer, and moves nothing.
    for (const key of sample.slice(0, 20)) {
      const response = await call(`/v1/accounts/${account}/batches`, {
        method: "POST",
        body: { operations: [{ type: "charge", idempotency_key: key, amount: 1, currency: "USD" }] },
      });
      const { results } = await json<{ results: { status: number; body: { code: string } }[] }>(response);
      expect(results[0]).toMatchObject({ status: 409, body: { code: "idempotency_key_expired" } });
    }
    expect((await json(await call(`/v1/accounts/${account}`))).entry_count).toBe(1 + PERIODS * PER_PERIOD);
  }, 600_000);
});

describe("the filter of schema 7", () => {
  it("still finds the keys of a period archived into it", async () => {
    const account = await fundedAccount(1_000_000);
    const keys = Array.from({ length: 50 }, () => crypto.randomUUID());
    await chargeAll(account, keys);
    await archiveAll(account);
    const stub = ledgerStub(account);
    type Reader = { archive: { refresh(): void; findKey(key: string, tally: Tally): Promise<unknown> } };
    // The locator is emptied, and the keys are written into the filter as schema 7 wrote them.
    const lost = await runInDurableObject(stub, async (instance: AccountLedger, state) => {
      const sql = state.storage.sql;
      sql.exec("DELETE FROM locator_buckets");
      sql.exec("DELETE FROM locator_runs");
      const archive = (instance as unknown as Reader).archive;
      archive.refresh();
      return (await archive.findKey(keys[0] as string, { reads: 0, rowsRead: 0 })) === null;
    });
    expect(lost).toBe(true);
    await runInDurableObject(stub, (instance: AccountLedger, state) => {
      const sql = state.storage.sql;
      const buckets = new Map<number, number[]>();
      for (const key of keys) {
        const [high, low] = hash64(key);
        const bucket = high >>> 26;
        buckets.set(bucket, [...(buckets.get(bucket) ?? []), low]);
      }
      for (const [bucket, lows] of buckets) {
        const width = (lows.length <= 1 ? 0 : 32 - Math.clz32(lows.length - 1)) + 8;
        const data = appendSegment(
          null,
          1 * 64 + width,
          encodeGolombSet(
            lows.map((low) => low >>> (32 - width)),
            width,
          ),
        );
        sql.exec("INSERT INTO key_filter (generation, bucket, data) VALUES (0, ?, ?)", bucket, data);
      }
      sql.exec("UPDATE periods SET filter_keys = ?, filter_generation = 0 WHERE id = 1", keys.length);
      (instance as unknown as Reader).archive.refresh();
    });
    for (const key of keys.slice(0, 5)) {
      const response = await call(`/v1/accounts/${account}/batches`, {
        method: "POST",
        body: { operations: [{ type: "charge", idempotency_key: key, amount: 1, currency: "USD" }] },
      });
      const { results } = await json<{ results: { status: number; body: { code: string } }[] }>(response);
      expect(results[0]).toMatchObject({ status: 409, body: { code: "idempotency_key_expired" } });
    }
    expect((await json(await call(`/v1/accounts/${account}`))).entry_count).toBe(1 + keys.length);
  });
});
