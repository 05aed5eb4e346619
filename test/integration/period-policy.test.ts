import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEFAULT_PERIOD_CLOSE_AFTER_SECONDS, MIN_PERIOD_CLOSE_AT_ENTRIES } from "../../src/domain/limits.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { PeriodPolicy } from "../../src/ledger/period-policy.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { call, fundedAccount, ledgerStub, post } from "../support/api.ts";

/**
 * The automatic close: by age and by size, never for an empty period, and,
 * with the defaults, never for an account younger than a day holding fewer
 * than 1,000,000 entries. Real alarms and storage.
 */

type Stub = ReturnType<typeof ledgerStub>;

function periods(stub: Stub): Promise<{ id: number; last_seq: number; idempotency_key: string | null }[]> {
  return runInDurableObject(stub, (_, state) =>
    state.storage.sql
      .exec<{ id: number; last_seq: number; idempotency_key: string | null }>(
        "SELECT id, last_seq, idempotency_key FROM periods ORDER BY id",
      )
      .toArray(),
  );
}

describe("the automatic close", () => {
  it("leaves an account younger than a day alone, and arms its alarm for the day it turns one", async () => {
    const account = await fundedAccount(1_000);
    const stub = ledgerStub(account);
    await post(account, "charges", { amount: 1, currency: "USD" });
    // Whatever else was due (events) runs now; what is left is the close, a day after the opening.
    await runDurableObjectAlarm(stub);
    const { created, alarm } = await runInDurableObject(stub, async (_, state) => ({
      created: state.storage.sql.exec<{ created_ms: number }>("SELECT created_ms FROM account").one().created_ms,
      alarm: await state.storage.getAlarm(),
    }));
    expect(alarm).toBe(created + DEFAULT_PERIOD_CLOSE_AFTER_SECONDS * 1000);
    expect(await periods(stub)).toEqual([]);
  });

  it("closes a period a day old, at its latest entry, and archives it", async () => {
    const account = await fundedAccount(1_000);
    const stub = ledgerStub(account);
    await post(account, "charges", { amount: 1, currency: "USD" });
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE account SET created_ms = created_ms - ?",
        DEFAULT_PERIOD_CLOSE_AFTER_SECONDS * 1000,
      );
    });
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
    expect(await periods(stub)).toEqual([{ id: 1, last_seq: 2, idempotency_key: null }]);
    for (let run = 0; run < 10; run += 1) await runDurableObjectAlarm(stub);
    const listed = await runInDurableObject(stub, (instance: AccountLedger) => instance.getPeriod(1));
    expect(JSON.parse(listed.body)).toMatchObject({ state: "archived", first_seq: 1, last_seq: 2 });
    // The next period starts empty: nothing to close until entries come, however old it gets.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE periods SET created_ms = created_ms - ?",
        2 * DEFAULT_PERIOD_CLOSE_AFTER_SECONDS * 1000,
      );
    });
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
    expect(await periods(stub)).toHaveLength(1);
  });

  it("closes a period once it holds the size the policy names", async () => {
    const account = await fundedAccount(1_000_000);
    const stub = ledgerStub(account);
    // This object's policy with the smallest size allowed (the default is 1,000,000 entries).
    await runInDurableObject(stub, (instance: AccountLedger) => {
      const sql = (instance as unknown as { sql: CountedSql }).sql;
      (instance as unknown as { policy: PeriodPolicy }).policy = new PeriodPolicy(
        sql,
        { closeAfterMs: DEFAULT_PERIOD_CLOSE_AFTER_SECONDS * 1000, closeAtEntries: MIN_PERIOD_CLOSE_AT_ENTRIES },
        () => Date.now(),
      );
    });
    const operations = Array.from({ length: MIN_PERIOD_CLOSE_AT_ENTRIES - 2 }, (_, i) => ({
      type: "charge",
      idempotency_key: `size-${i}`,
      amount: 1,
      currency: "USD",
    }));
    expect((await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } })).status).toBe(200);
    await runDurableObjectAlarm(stub);
    expect(await periods(stub)).toEqual([]);
    // The charge that fills it arms the alarm for now (which the runtime may already have run).
    await post(account, "charges", { amount: 1, currency: "USD" });
    await runDurableObjectAlarm(stub);
    expect(await periods(stub)).toEqual([{ id: 1, last_seq: MIN_PERIOD_CLOSE_AT_ENTRIES, idempotency_key: null }]);
  });
});
