import { runInDurableObject } from "cloudflare:test";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { ledgerStub } from "./api.ts";

/**
 * Reaching into an account object's real SQLite storage from tests: reading
 * records, expiring them, injecting faults with triggers; and rendering
 * fuzzed text safely in assertion messages.
 */

/** Runs `fn` inside the account's object, in one turn of its event loop. */
export function inLedger<R>(
  account: string,
  fn: (storage: DurableObjectStorage, instance: AccountLedger) => R | Promise<R>,
): Promise<R> {
  return runInDurableObject(ledgerStub(account), (instance, state) => fn(state.storage, instance));
}

/** A type, not an interface, so it satisfies SqlStorage's row constraint. */
export type RecordRow = {
  key: string;
  request_id: string;
  fingerprint: string;
  status: number;
  body: string;
  created_ms: number;
  expires_ms: number;
};

export function readRecords(storage: DurableObjectStorage): RecordRow[] {
  return storage.sql
    .exec<RecordRow>(
      "SELECT key, request_id, fingerprint, status, body, created_ms, expires_ms FROM idempotency_records ORDER BY rowid",
    )
    .toArray();
}

/** Every idempotency record, in insertion (rowid) order. */
export function records(account: string): Promise<RecordRow[]> {
  return inLedger(account, readRecords);
}

export function countRows(storage: DurableObjectStorage, table: "entries" | "idempotency_records"): number {
  return storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
}

/** Moves a record's expiry into the past, as if its TTL had run out; the sweep has not run yet. */
export function expireRecord(account: string, key: string): Promise<void> {
  return inLedger(account, (storage) => {
    storage.sql.exec("UPDATE idempotency_records SET expires_ms = ? WHERE key = ?", Date.now() - 1, key);
  });
}

export function alarmOf(account: string): Promise<number | null> {
  return inLedger(account, (storage) => storage.getAlarm());
}

export interface Fault {
  readonly timing: "BEFORE" | "AFTER";
  readonly event: "INSERT" | "DELETE" | "UPDATE";
  readonly table: "entries" | "idempotency_records" | "decisions";
}

export const FAULT_MESSAGE = "injected fault";

function triggerName(fault: Fault): string {
  return `fault_${fault.timing}_${fault.event}_${fault.table}`.toLowerCase();
}

/** Makes every matching statement inside the object fail, as a storage fault would. */
export function faultSql(fault: Fault): string {
  return `CREATE TRIGGER ${triggerName(fault)} ${fault.timing} ${fault.event} ON ${fault.table}
          BEGIN SELECT RAISE(ABORT, '${FAULT_MESSAGE}'); END`;
}

export function healSql(fault: Fault): string {
  return `DROP TRIGGER ${triggerName(fault)}`;
}

export function injectFault(account: string, fault: Fault): Promise<void> {
  return inLedger(account, (storage) => {
    storage.sql.exec(faultSql(fault));
  });
}

export function healFault(account: string, fault: Fault): Promise<void> {
  return inLedger(account, (storage) => {
    storage.sql.exec(healSql(fault));
  });
}

export function describeFault(fault: Fault): string {
  return `${fault.timing} ${fault.event} ON ${fault.table}`;
}

/**
 * Text safe to put in an assertion message: JSON-escaped (lone surrogates
 * and control characters become escapes) and cut short. A raw lone surrogate
 * in a failure message breaks the connection to the test runner.
 */
export function printable(value: unknown, max = 200): string {
  const text = typeof value === "string" ? value : String(value);
  const escaped = JSON.stringify(text.length > max ? `${text.slice(0, max)}...` : text);
  return escaped.replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
