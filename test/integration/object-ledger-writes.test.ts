import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import type { Outcome } from "../../src/contract/outcome.ts";
import type { MoneyRequest } from "../../src/contract/requests.ts";
import { MAX_PENDING_OPERATIONS } from "../../src/domain/limits.ts";
import { AlarmSchedule } from "../../src/ledger/alarm-schedule.ts";
import { LedgerWrites } from "../../src/ledger/ledger-writes.ts";
import { readHead } from "../../src/ledger/ledger-store.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { expectLedgerConsistent, ledgerStub, openAccount, uniqueAccount } from "../support/api.ts";
import { FAULT_MESSAGE } from "../support/storage.ts";

let next = 0;

/** A credit or a charge of `amount`, with a key of its own. */
function money(type: "credit" | "charge", amount: number): MoneyRequest {
  next += 1;
  const id = `writes-${String(next).padStart(6, "0")}`;
  return {
    requestId: id,
    idempotencyKey: `${id}-${crypto.randomUUID()}`,
    fingerprint: "f".repeat(64),
    origin: { requestId: id, keyId: "writes" },
    interfaceVersion: OBJECT_INTERFACE_VERSION,
    command: { type, input: { amount, currency: "USD" } },
  };
}

/**
 * Writes built here over an opened account object's real storage and alarm,
 * beside the object's own (which is idle: nothing is sent to it meanwhile).
 */
async function inWrites<R>(fn: (writes: LedgerWrites, storage: DurableObjectStorage) => Promise<R>): Promise<R> {
  const account = uniqueAccount("writes");
  await openAccount(account);
  const result = await runInDurableObject(ledgerStub(account), (_instance, state) => {
    const sql = new CountedSql(state.storage.sql);
    const idle = {
      list: () => Promise.resolve(true),
      publish: () => Promise.resolve({ published: 0, more: false, failed: false }),
      periods: () => Promise.resolve({ did: "nothing", period: null, r2Operations: 0, nextDueMs: null }),
      periodsDue: () => null,
      expireHolds: () => Promise.resolve(null),
      deliverTransfers: () => Promise.resolve(null),
      headNeeds: () => ({}),
      measure: () => undefined,
    };
    const writes = new LedgerWrites({
      storage: state.storage,
      sql,
      ttlMs: 60_000,
      schedule: new AlarmSchedule(state.storage, sql, idle),
      publishesEvents: () => false,
      unlisted: () => undefined,
    });
    return fn(writes, state.storage);
  });
  await expectLedgerConsistent(account);
  return result;
}

const statusOf = (outcome: Outcome | null) => outcome?.status;

describe("the group commit, on a real object", () => {
  it("answers each kind of write with its own result, and moves the head it keeps in memory", async () => {
    const seen = await inWrites(async (writes, storage) => {
      const [one, batch, last, settings] = await Promise.all([
        writes.one(money("credit", 10)),
        writes.batch([money("credit", 5), money("charge", 12)]),
        writes.one(money("charge", 4)),
        writes.settings({
          account: writes.committed()?.account.name ?? "",
          input: { currency: "USD", overdraft_limit: 0 },
          origin: { requestId: "writes-settings", keyId: "writes" },
          interfaceVersion: OBJECT_INTERFACE_VERSION,
        }),
      ]);
      return {
        one: statusOf(one),
        settings: statusOf(settings),
        batch: batch?.map(statusOf),
        last: statusOf(last),
        head: writes.committed()?.head,
        stored: readHead(new CountedSql(storage.sql)),
      };
    });
    // 10 + 5 - 12 = 3: the last charge, 4, is declined; the settings were already these.
    expect(seen).toMatchObject({ one: 201, batch: [201, 201], last: 402, settings: 200 });
    expect(seen.head).toEqual(seen.stored);
    expect(seen.head?.balance).toBe(3);
  });

  it("refuses a write whose savepoint fails, alone: the others in its group stand", async () => {
    const seen = await inWrites(async (writes, storage) => {
      storage.sql.exec(
        `CREATE TRIGGER fault_amount_13 BEFORE INSERT ON ledger WHEN NEW.amount = 13
         BEGIN SELECT RAISE(ABORT, '${FAULT_MESSAGE}'); END`,
      );
      const results = await Promise.allSettled([
        writes.one(money("credit", 10)),
        writes.one(money("credit", 13)),
        writes.one(money("credit", 7)),
      ]);
      storage.sql.exec("DROP TRIGGER fault_amount_13");
      return {
        results: results.map((result) => (result.status === "fulfilled" ? statusOf(result.value) : "refused")),
        head: writes.committed()?.head.balance,
        stored: readHead(new CountedSql(storage.sql)).balance,
      };
    });
    expect(seen).toEqual({ results: [201, "refused", 201], head: 17, stored: 17 });
  });

  it("queues nothing past a limit of the waiting writes: the write is answered null at once", async () => {
    const seen = await inWrites(async (writes) => {
      const over = Array.from({ length: MAX_PENDING_OPERATIONS + 1 }, () => money("charge", 1));
      return { over: await writes.batch(over), after: statusOf(await writes.one(money("credit", 1))) };
    });
    expect(seen).toEqual({ over: null, after: 201 });
  });
});
