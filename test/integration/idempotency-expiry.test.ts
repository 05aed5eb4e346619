import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
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
import { expireRecord, inLedger } from "../support/storage.ts";

const TTL_MS = parseIdempotencyTtlSeconds(env.IDEMPOTENCY_TTL_SECONDS) * 1000;

function recordKeys(account: string) {
  return inLedger(account, (storage) =>
    storage.sql
      .exec<{ key: string }>("SELECT key FROM idempotency_records ORDER BY key")
      .toArray()
      .map((row) => row.key),
  );
}

/** Stores records directly, `expiredCount` in the past and `liveCount` in the future. */
function seedRecords(account: string, expiredCount: number, liveCount: number) {
  return inLedger(account, (storage) => {
    const now = Date.now();
    for (let i = 0; i < expiredCount + liveCount; i += 1) {
      const expiresMs = i < expiredCount ? now - 1000 - i : now + 60_000 + i;
      const key = `seed-${String(i).padStart(5, "0")}`;
      storage.sql.exec(
        "INSERT INTO idempotency_records (key, request_id, fingerprint, status, body, created_ms, expires_ms, origin_request_id) VALUES (?, 'seed', 'f', 402, '{}', ?, ?, 'seed')",
        key,
        expiresMs - TTL_MS,
        expiresMs,
      );
      // Each stored response belongs to a decision, as every real one does.
      storage.sql.exec(
        "INSERT INTO decisions (key, fingerprint, status, code, entry_id, decided_ms) VALUES (?, 'f', 402, 'insufficient_funds', NULL, ?)",
        key,
        expiresMs - TTL_MS,
      );
    }
  });
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
  it("keeps a record IDEMPOTENCY_TTL_SECONDS and sets the alarm for the earliest expiry", async () => {
    const account = await fundedAccount(100);
    const rows = await inLedger(account, (storage) =>
      storage.sql
        .exec<{ created_ms: number; expires_ms: number }>("SELECT created_ms, expires_ms FROM idempotency_records")
        .toArray(),
    );
    expect(rows).toHaveLength(1);
    expect((rows[0]?.expires_ms ?? 0) - (rows[0]?.created_ms ?? 0)).toBe(TTL_MS);
    // The write's events are published by the alarm first; then it waits for the earliest expiry.
    await runDurableObjectAlarm(ledgerStub(account));
    expect(await inLedger(account, (storage) => storage.getAlarm())).toBe(rows[0]?.expires_ms);
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

    // Also once the sweep has deleted the record.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await recordKeys(account)).not.toContain(key);
    const afterSweep = await expectProblem(
      await post(account, "charges", { amount: 100, currency: "USD" }, key),
      409,
      "idempotency_key_expired",
    );
    expect(afterSweep.entry).toBe(charge.id);
    expect(await getAccount(account)).toMatchObject({ balance: 900, entry_count: 2 });
  });

  it("a decline stays a decline after its record expires and is swept, even once funds arrived", async () => {
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

describe("expiry alarm", () => {
  it("deletes expired records in bounded batches, keeps live ones, and a later run finds nothing", async () => {
    const account = await fundedAccount(100);
    const stub = ledgerStub(account);
    const extra = 7;
    await seedRecords(account, EXPIRY_SWEEP_BATCH_SIZE + extra, 3);

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
    expect(live).toHaveLength(4); // the funding credit's record and 3 seeded live ones

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

  it("leaves no alarm once every record is gone", async () => {
    const account = await fundedAccount(100);
    const stub = ledgerStub(account);
    await inLedger(account, (storage) => {
      storage.sql.exec("UPDATE idempotency_records SET expires_ms = ?", Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await recordKeys(account)).toEqual([]);
    expect(await inLedger(account, (storage) => storage.getAlarm())).toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(false);
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
    const account = await fundedAccount(100);
    const key = uniqueKey();
    await post(account, "charges", { amount: 10, currency: "USD" }, key);
    await expireRecord(account, key);
    expect(await recordKeys(account)).toContain(key);
    await expectProblem(
      await post(account, "charges", { amount: 10, currency: "USD" }, key),
      409,
      "idempotency_key_expired",
    );
  });
});
