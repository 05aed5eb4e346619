import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import { EXPIRY_SWEEP_BATCH_SIZE } from "../../src/domain/limits.ts";
import { parseIdempotencyTtlSeconds } from "../../src/config/idempotency-ttl.ts";
import {
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  post,
  uniqueKey,
} from "../support/api.ts";
import { alarmOf, expireRecord, inLedger, readRecords, seedLegacyDeclines } from "../support/storage.ts";

/**
 * How long a decided key replays, and what is left of it after. From schema
 * 7 a key is one row of `keys`: it stops replaying once its expires_ms has
 * passed and stays (until its period is archived), so no alarm is set for
 * its expiry. Records stored before (`idempotency_records`) are still swept
 * by the alarm: those tests seed legacy records as older code wrote them.
 */

const TTL_MS = parseIdempotencyTtlSeconds(env.IDEMPOTENCY_TTL_SECONDS) * 1000;

/** The keys of the account's key rows. */
function keyRowKeys(account: string) {
  return inLedger(account, (storage) => readRecords(storage).map((row) => row.key));
}

/** The keys of the account's legacy records, in key order. */
function recordKeys(account: string) {
  return inLedger(account, (storage) =>
    storage.sql
      .exec<{ key: string }>("SELECT key FROM idempotency_records ORDER BY key")
      .toArray()
      .map((row) => row.key),
  );
}

/** Stores legacy records directly, `expiredCount` in the past and `liveCount` in the future. */
function seedRecords(account: string, expiredCount: number, liveCount: number) {
  return inLedger(account, (storage) => {
    const now = Date.now();
    seedLegacyDeclines(
      storage,
      Array.from({ length: expiredCount + liveCount }, (_, i) => {
        const expiresMs = i < expiredCount ? now - 1000 - i : now + 60_000 + i;
        return { key: `seed-${String(i).padStart(5, "0")}`, createdMs: expiresMs - TTL_MS, expiresMs };
      }),
    );
  });
}

/** The alarm, if any, is due after `ms`: none is armed to sweep what expired by then. */
async function expectNoAlarmDueBy(account: string, ms: number) {
  const alarm = await alarmOf(account);
  if (alarm !== null) expect(alarm).toBeGreaterThan(ms);
}

function countExpired(account: string) {
  return inLedger(
    account,
    (storage) =>
      storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM idempotency_records WHERE expires_ms <= ?", Date.now())
        .one().n,
  );
}

describe("retention", () => {
  it("keeps a key's response IDEMPOTENCY_TTL_SECONDS in its key row, and arms no alarm for its expiry", async () => {
    const account = await fundedAccount(100);
    const rows = await inLedger(account, readRecords);
    expect(rows).toHaveLength(1);
    expect((rows[0]?.expires_ms ?? 0) - (rows[0]?.decided_ms ?? 0)).toBe(TTL_MS);

    // Its TTL runs out and the alarm is gone: the next write arms the alarm for its own needs,
    // never for the expired key (a sweep of it would be due at once).
    const key = rows[0]?.key ?? "";
    await expireRecord(account, key);
    await inLedger(account, (storage) => storage.deleteAlarm());
    expect((await post(account, "credits", { amount: 1, currency: "USD" })).status).toBe(201);
    await expectNoAlarmDueBy(account, Date.now());
    // Whatever the alarm does, the expired key's row stays.
    await runDurableObjectAlarm(ledgerStub(account));
    await expectNoAlarmDueBy(account, Date.now());
    expect(await keyRowKeys(account)).toContain(key);
    expect(await inLedger(account, readRecords)).toHaveLength(2);
  });

  it("a key that moved money is refused after its record expires, whatever the body, and moves nothing", async () => {
    const account = await fundedAccount(1000);
    const stub = ledgerStub(account);
    const key = uniqueKey();
    const charge = await json<{ id: string }>(await post(account, "charges", { amount: 100, currency: "USD" }, key));
    await expireRecord(account, key);

    for (const body of [
      { amount: 100, currency: "USD" },
      { amount: 5, currency: "USD" },
    ]) {
      const refused = await expectProblem(await post(account, "charges", body, key), 409, "idempotency_key_expired");
      expect(refused.entry).toBe(charge.id);
    }
    await expectProblem(
      await post(account, "credits", { amount: 5, currency: "USD" }, key),
      409,
      "idempotency_key_expired",
    );
    expect(await getAccount(account)).toMatchObject({ balance: 900, entry_count: 2 });

    // Also once the alarm has run: it deletes no key row.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await keyRowKeys(account)).toContain(key);
    const afterSweep = await expectProblem(
      await post(account, "charges", { amount: 100, currency: "USD" }, key),
      409,
      "idempotency_key_expired",
    );
    expect(afterSweep.entry).toBe(charge.id);
    expect(await getAccount(account)).toMatchObject({ balance: 900, entry_count: 2 });
  });

  it("a decline stays a decline after its key expires and the alarm ran, even once funds arrived", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    await expectProblem(
      await post(account, "charges", { amount: 500, currency: "USD" }, key),
      402,
      "insufficient_funds",
    );
    expect((await post(account, "credits", { amount: 1000, currency: "USD" })).status).toBe(201);
    await expireRecord(account, key);
    await runDurableObjectAlarm(ledgerStub(account));
    expect(await keyRowKeys(account)).toContain(key);

    for (const body of [
      { amount: 500, currency: "USD" },
      { amount: 1, currency: "USD" },
    ]) {
      const again = await post(account, "charges", body, key);
      const problem = await expectProblem(again, 409, "idempotency_key_expired");
      expect(problem).toMatchObject({ original_status: 402, original_code: "insufficient_funds", entry: null });
      expect(again.headers.get("idempotent-replayed")).toBeNull();
    }
    expect((await getAccount(account)).balance).toBe(1100);
  });
});

describe("the expiry alarm's sweep of legacy records", () => {
  it("deletes expired records in bounded batches, keeps live ones and every key row, and a later run finds nothing", async () => {
    const account = await fundedAccount(100);
    const stub = ledgerStub(account);
    const extra = 7;
    await seedRecords(account, EXPIRY_SWEEP_BATCH_SIZE + extra, 3);
    // The funding credit's key row, expired: the sweep leaves key rows alone, expired or not.
    const [funding] = await keyRowKeys(account);
    await expireRecord(account, funding ?? "");

    // Run one sweep and count in the same synchronous turn, so the re-armed
    // alarm (due now) cannot fire in between: the sweep is the alarm's synchronous part.
    const firstRun = await runInDurableObject(stub, async (instance, state) => {
      const published = instance.alarm();
      const expiredLeft = state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM idempotency_records WHERE expires_ms <= ?", Date.now())
        .one().n;
      const alarm = await state.storage.getAlarm();
      await published;
      return { expiredLeft, alarm };
    });
    expect(firstRun.expiredLeft).toBe(extra);
    // More remain, so the alarm is due at once rather than at the next live expiry.
    expect(firstRun.alarm).toBeLessThanOrEqual(Date.now());

    await runDurableObjectAlarm(stub);
    expect(await countExpired(account)).toBe(0);
    const live = await recordKeys(account);
    expect(live).toHaveLength(3); // the 3 seeded live ones
    expect(await keyRowKeys(account)).toEqual([funding]);

    const earliestLive = await inLedger(
      account,
      (storage) => storage.sql.exec<{ e: number }>("SELECT MIN(expires_ms) AS e FROM idempotency_records").one().e,
    );
    expect(await inLedger(account, (storage) => storage.getAlarm())).toBe(earliestLive);

    // At-least-once delivery: running again early deletes nothing unexpired.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await recordKeys(account)).toEqual(live);
    await expectLedgerConsistent(account);
  });

  it("arms no sweep once every record is gone, whatever key rows remain", async () => {
    const account = await fundedAccount(100);
    const stub = ledgerStub(account);
    await seedRecords(account, 3, 0);
    // An expired key row, and the alarm as the write of the oldest record would have left it.
    const [funding] = await keyRowKeys(account);
    await expireRecord(account, funding ?? "");
    await inLedger(account, (storage) => storage.setAlarm(Date.now()));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await recordKeys(account)).toEqual([]);
    expect(await keyRowKeys(account)).toEqual([funding]);
    // The sweep re-arms for nothing (any alarm left is another job's, not due yet), and running again deletes nothing.
    await expectNoAlarmDueBy(account, Date.now());
    await runDurableObjectAlarm(stub);
    expect(await keyRowKeys(account)).toEqual([funding]);
    await expectNoAlarmDueBy(account, Date.now());
  });

  it("re-arms a lost alarm on the next money request, at the oldest unswept expiry", async () => {
    const account = await fundedAccount(100);
    const stub = ledgerStub(account);
    await seedRecords(account, 2, 0);
    await inLedger(account, (storage) => storage.deleteAlarm());

    expect((await post(account, "credits", { amount: 1, currency: "USD" })).status).toBe(201);
    const alarm = await inLedger(account, (storage) => storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm).toBeLessThanOrEqual(Date.now());
    await runDurableObjectAlarm(stub);
    expect(await countExpired(account)).toBe(0);
  });

  it("a record expired but not yet swept already counts as expired", async () => {
    // Opened without a key: the legacy records are there before the object first looks a key up.
    const account = await fundedAccount(0);
    const key = uniqueKey();
    await inLedger(account, (storage) => {
      const now = Date.now();
      seedLegacyDeclines(storage, [{ key, createdMs: now - TTL_MS - 1, expiresMs: now - 1 }]);
    });
    expect(await recordKeys(account)).toContain(key);
    const problem = await expectProblem(
      await post(account, "charges", { amount: 10, currency: "USD" }, key),
      409,
      "idempotency_key_expired",
    );
    expect(problem).toMatchObject({ original_status: 402, original_code: "insufficient_funds", entry: null });
    expect(await keyRowKeys(account)).toEqual([]);
  });
});

describe("a key row's expiry", () => {
  it("past its expires_ms, counts as expired at once and stays", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    const charge = await json<{ id: string }>(await post(account, "charges", { amount: 10, currency: "USD" }, key));
    await expireRecord(account, key);
    expect(await keyRowKeys(account)).toContain(key);
    const problem = await expectProblem(
      await post(account, "charges", { amount: 10, currency: "USD" }, key),
      409,
      "idempotency_key_expired",
    );
    expect(problem).toMatchObject({ original_status: 201, original_code: null, entry: charge.id });
    expect(await keyRowKeys(account)).toContain(key);
    expect(await getAccount(account)).toMatchObject({ balance: 90, entry_count: 2 });
  });

  it("stops replaying at the exact millisecond of its expires_ms", async () => {
    const account = await fundedAccount(1000);
    const keys = [uniqueKey(), uniqueKey(), uniqueKey(), uniqueKey()];
    for (const key of keys) {
      expect((await post(account, "credits", { amount: 1, currency: "USD" }, key)).status).toBe(201);
    }
    // Pin the clock so one turn sees one instant; storage stays real.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now());
    try {
      const seen = await inLedger(account, async (storage, instance) => {
        const now = Date.now();
        const offsets = [-1, 0, 1, 2];
        for (const [i, key] of keys.entries()) {
          storage.sql.exec(
            "UPDATE keys SET decided_ms = ?, expires_ms = ? WHERE key = ?",
            now - 10,
            now + (offsets[i] ?? 0),
            key,
          );
        }
        const byKey = new Map(readRecords(storage).map((row) => [row.key, row]));
        // Each key sent again with its own (stored part of the) fingerprint, by another request.
        const outcomes = await Promise.all(
          keys.map((key) =>
            instance.moveMoney({
              requestId: "another-request",
              idempotencyKey: key,
              fingerprint: byKey.get(key)?.fingerprint ?? "",
              command: { type: "credit", input: { amount: 1, currency: "USD" } },
              origin: { requestId: "another-request", keyId: null },
              interfaceVersion: OBJECT_INTERFACE_VERSION,
            }),
          ),
        );
        return {
          answers: outcomes.map((outcome) => [outcome.status, outcome.replayed]),
          kept: readRecords(storage).filter((row) => keys.includes(row.key)).length,
        };
      });
      // Offsets -1 and 0 are expired (expires_ms <= now): a 409, not replayed; the others replay their 201.
      expect(seen.answers).toEqual([
        [409, false],
        [409, false],
        [201, true],
        [201, true],
      ]);
      expect(seen.kept).toBe(4);
    } finally {
      vi.useRealTimers();
    }
    expect(await getAccount(account)).toMatchObject({ balance: 1004, entry_count: 5 });
  });
});
