import { runInDurableObject } from "cloudflare:test";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { ledgerStub } from "./api.ts";

/**
 * Reaching into an account object's real SQLite storage from tests: reading
 * key rows (and the legacy records of accounts from before schema 7),
 * expiring them, seeding legacy records, injecting faults with triggers; and
 * rendering fuzzed text safely in assertion messages.
 */

/** Runs `fn` inside the account's object, in one turn of its event loop. */
export function inLedger<R>(
  account: string,
  fn: (storage: DurableObjectStorage, instance: AccountLedger) => R | Promise<R>,
): Promise<R> {
  return runInDurableObject(ledgerStub(account), (instance, state) => fn(state.storage, instance));
}

/**
 * A decided key as stored from schema 7 on: one row of `keys` (src/ledger/key-rows.ts).
 * A type, not an interface, so it satisfies SqlStorage's row constraint.
 */
export type RecordRow = {
  pos: number;
  key: string;
  /** The stored part of the fingerprint (its first 128 bits), as lowercase hex. */
  fingerprint: string;
  status: number;
  code: string | null;
  entry_seq: number | null;
  decided_ms: number;
  expires_ms: number;
  origin: string;
  view: number;
  /** The stored response; null when it is rendered from its entry. */
  body: string | null;
};

/** Every key row, in decision (pos) order. */
export function readRecords(storage: DurableObjectStorage): RecordRow[] {
  return storage.sql
    .exec<RecordRow>(
      `SELECT pos, key, lower(hex(fingerprint)) AS fingerprint, status, code, entry_seq, decided_ms, expires_ms,
              origin, view, body
         FROM keys ORDER BY pos`,
    )
    .toArray();
}

/** Every key row, in decision (pos) order. */
export function records(account: string): Promise<RecordRow[]> {
  return inLedger(account, readRecords);
}

/** A stored response as written before schema 7, in `idempotency_records` (swept by the alarm once expired). */
export type LegacyRecordRow = {
  key: string;
  request_id: string;
  fingerprint: string;
  status: number;
  body: string;
  created_ms: number;
  expires_ms: number;
};

/** Every legacy record, in insertion (rowid) order. */
export function readLegacyRecords(storage: DurableObjectStorage): LegacyRecordRow[] {
  return storage.sql
    .exec<LegacyRecordRow>(
      "SELECT key, request_id, fingerprint, status, body, created_ms, expires_ms FROM idempotency_records ORDER BY rowid",
    )
    .toArray();
}

export function legacyRecords(account: string): Promise<LegacyRecordRow[]> {
  return inLedger(account, readLegacyRecords);
}

/** The tables a decision writes from schema 7 on, and those older code wrote, still read. */
export type Table = "ledger" | "keys" | "refund_totals" | "entries" | "idempotency_records" | "decisions" | "transfers";

export function countRows(storage: DurableObjectStorage, table: Table): number {
  return storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
}

/**
 * A legacy decline as code before schema 7 stored it: its response in
 * `idempotency_records` and its decision in `decisions`, no entry. Seed
 * them before the object first decides a key: an object asks once whether
 * it holds legacy keys (key-state.ts hasLegacyKeys), as its tables never
 * gain any from schema 7 on. Sets no alarm.
 */
export interface LegacyDecline {
  readonly key: string;
  readonly expiresMs: number;
  readonly createdMs: number;
  /** The full (64 hex) fingerprint of the request, as legacy records keep it. */
  readonly fingerprint?: string;
  readonly body?: string;
}

export function seedLegacyDeclines(storage: DurableObjectStorage, declines: readonly LegacyDecline[]): void {
  for (const decline of declines) {
    const fingerprint = decline.fingerprint ?? "f";
    storage.sql.exec(
      `INSERT INTO idempotency_records (key, request_id, fingerprint, status, body, created_ms, expires_ms, origin_request_id)
       VALUES (?, 'seed', ?, 402, ?, ?, ?, 'seed')`,
      decline.key,
      fingerprint,
      decline.body ?? JSON.stringify({ code: "insufficient_funds" }),
      decline.createdMs,
      decline.expiresMs,
    );
    // Each stored response belongs to a decision, as every real one does.
    storage.sql.exec(
      "INSERT INTO decisions (key, fingerprint, status, code, entry_id, decided_ms) VALUES (?, ?, 402, 'insufficient_funds', NULL, ?)",
      decline.key,
      fingerprint,
      decline.createdMs,
    );
  }
}

/**
 * Moves a key's expiry into the past, as if its TTL had run out: a key row
 * stops replaying (its decision made earlier if it was made this very
 * millisecond, as a key row expires after it was decided); a legacy record
 * is expired but not swept yet. Throws when the object holds neither.
 */
export function expireRecord(account: string, key: string): Promise<void> {
  return inLedger(account, (storage) => {
    const now = Date.now();
    const keys = storage.sql.exec(
      "UPDATE keys SET decided_ms = MIN(decided_ms, ?1 - 2), expires_ms = ?1 - 1 WHERE key = ?2",
      now,
      key,
    ).rowsWritten;
    const legacy = storage.sql.exec(
      "UPDATE idempotency_records SET expires_ms = ? WHERE key = ?",
      now - 1,
      key,
    ).rowsWritten;
    if (keys + legacy === 0) throw new Error(`expireRecord: the object holds no key ${key}`);
  });
}

export function alarmOf(account: string): Promise<number | null> {
  return inLedger(account, (storage) => storage.getAlarm());
}

export interface Fault {
  readonly timing: "BEFORE" | "AFTER";
  readonly event: "INSERT" | "DELETE" | "UPDATE";
  readonly table: Table;
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
