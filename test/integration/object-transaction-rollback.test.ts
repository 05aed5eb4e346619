import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  allEntries,
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  post,
  uniqueKey,
} from "../support/api.ts";
import {
  FAULT_MESSAGE,
  alarmOf,
  countRows,
  describeFault,
  healFault,
  inLedger,
  injectFault,
  records,
  type Fault,
} from "../support/storage.ts";

/**
 * Faults injected into real storage: a SQLite trigger makes one of the
 * statements the account's transaction writes fail (before or after the
 * ledger entry, before or after the key row, before or after a refund's
 * total). Whatever fails, the transaction leaves no trace: no entry, no key
 * row, no refund total, the balance and the alarm as they were, and an
 * answer that leaks nothing. Once the fault is gone, a retry with the same
 * key applies exactly once.
 */

type Scenario = "credit" | "charge" | "refund" | "declined charge";

interface Prepared {
  readonly account: string;
  readonly kind: "credits" | "charges" | "refunds";
  readonly body: Record<string, unknown>;
  /** What the request answers once the fault is healed. */
  readonly status: 201 | 402;
  /** How the balance moves when it succeeds. */
  readonly delta: number;
  readonly chargeId?: string;
}

/** An account with some history (so "unchanged" means something), and the request to fault. */
async function prepare(scenario: Scenario): Promise<Prepared> {
  switch (scenario) {
    case "credit":
      return { account: await fundedAccount(1000, 500), kind: "credits", body: usd(250), status: 201, delta: 250 };
    case "charge":
      return { account: await fundedAccount(1000, 500), kind: "charges", body: usd(1200), status: 201, delta: -1200 };
    case "declined charge":
      return { account: await fundedAccount(100, 50), kind: "charges", body: usd(500), status: 402, delta: 0 };
    case "refund": {
      const account = await fundedAccount(1000);
      const charge = await post(account, "charges", usd(400));
      expect(charge.status).toBe(201);
      const { id } = await json<{ id: string }>(charge);
      return {
        account,
        kind: "refunds",
        body: { charge: id, amount: 150 },
        status: 201,
        delta: 150,
        chargeId: id,
      };
    }
  }
}

function usd(amount: number) {
  return { amount, currency: "USD" };
}

/**
 * Sets the alarm past anything the faulted request could set (the
 * publishing of its events, seconds away), so a leaked setAlarm would show;
 * yet before any other job's next time (the period's close is hours away),
 * so that a group arms nothing else.
 */
async function pushAlarmOut(account: string): Promise<number> {
  return inLedger(account, async (storage) => {
    const far = Date.now() + 30 * 60_000;
    await storage.setAlarm(far);
    return far;
  });
}

async function snapshot(account: string, chargeId?: string) {
  return {
    account: await getAccount(account),
    entries: await allEntries(account),
    records: await records(account),
    rows: await inLedger(account, (storage) => ({
      ledger: countRows(storage, "ledger"),
      refundTotals: storage.sql.exec("SELECT charge_id, refunded FROM refund_totals ORDER BY charge_id").toArray(),
    })),
    alarm: await alarmOf(account),
    charge: chargeId === undefined ? null : await json(await call(`/v1/accounts/${account}/charges/${chargeId}`)),
  };
}

/** What storage holds of `key`: its key row, and the entries naming a key row of that key. */
function keyTraces(account: string, key: string) {
  return inLedger(account, (storage) => ({
    records: storage.sql
      .exec<{ status: number; expires_ms: number }>("SELECT status, expires_ms FROM keys WHERE key = ?", key)
      .toArray(),
    entries: storage.sql
      .exec("SELECT l.seq FROM ledger l JOIN keys k ON k.pos = l.key_pos WHERE k.key = ?", key)
      .toArray().length,
  }));
}

const FAULTS: readonly Fault[] = (["BEFORE", "AFTER"] as const).flatMap((timing) =>
  (["ledger", "keys", "refund_totals"] as const).map((table) => ({
    timing,
    event: "INSERT" as const,
    table,
  })),
);

/** Which tables each scenario writes: a decline only its key row, only a refund a refund total. */
const WRITES: Readonly<Record<Scenario, readonly Fault["table"][]>> = {
  credit: ["ledger", "keys"],
  charge: ["ledger", "keys"],
  refund: ["ledger", "keys", "refund_totals"],
  "declined charge": ["keys"],
};

const CASES: ReadonlyArray<readonly [string, Scenario, Fault]> = (
  ["credit", "charge", "refund", "declined charge"] as const
).flatMap((scenario) =>
  FAULTS.filter((fault) => WRITES[scenario].includes(fault.table)).map(
    (fault) => [`${scenario}, ${describeFault(fault)}`, scenario, fault] as const,
  ),
);

describe("a fault inside the account's transaction", () => {
  it.each(CASES)("%s: answers 500, leaves no trace, and a retry applies once", async (_, scenario, fault) => {
    const prepared = await prepare(scenario);
    const { account, kind, body } = prepared;
    const far = await pushAlarmOut(account);
    const before = await snapshot(account, prepared.chargeId);
    expect(before.alarm).toBe(far);
    await injectFault(account, fault);

    const key = uniqueKey();
    const failed = await post(account, kind, body, key);
    const text = await failed.clone().text();
    await expectProblem(failed, 500, "internal_error");
    expect(text).not.toContain(FAULT_MESSAGE);
    expect(text).not.toMatch(/sqlite|trigger|constraint/i);
    expect(failed.headers.get("idempotent-replayed")).not.toBe("true");

    expect(await snapshot(account, prepared.chargeId)).toEqual(before);
    expect(await keyTraces(account, key)).toEqual({ records: [], entries: 0 });

    // The same fault again: still nothing, so nothing half-done accumulates.
    await expectProblem(await post(account, kind, body, key), 500, "internal_error");
    expect(await snapshot(account, prepared.chargeId)).toEqual(before);

    await healFault(account, fault);
    const retry = await post(account, kind, body, key);
    expect(retry.status).toBe(prepared.status);
    expect(retry.headers.get("idempotent-replayed")).toBe("false");
    const original = await retry.text();
    const again = await post(account, kind, body, key);
    expect(again.status).toBe(prepared.status);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe(original);

    const traces = await keyTraces(account, key);
    expect(traces.entries).toBe(prepared.status === 201 ? 1 : 0);
    expect(traces.records.map((record) => record.status)).toEqual([prepared.status]);
    // The retry's key row arms no alarm for its expiry: once the alarm has run (publishing the
    // events the retry's entry made), any alarm left is not due by then.
    expect(await alarmOf(account)).not.toBeNull();
    await runDurableObjectAlarm(ledgerStub(account));
    const alarm = await alarmOf(account);
    if (alarm !== null) expect(alarm).not.toBe(traces.records[0]?.expires_ms);
    const after = await getAccount(account);
    expect(after.balance).toBe(before.account.balance + prepared.delta);
    expect(after.entry_count).toBe(before.account.entry_count + traces.entries);
    await expectLedgerConsistent(account);
  });
});
