import { ENTRY_TYPE_RULES, isEntryType } from "../domain/entry-types.ts";
import { AUDIT_PAGE_SIZE, MAX_BALANCE_MINOR, MAX_OVERDRAFT_LIMIT_MINOR } from "../domain/limits.ts";
import { readHeldFunds } from "./held-funds.ts";
import { holdSeqOf } from "./hold-store.ts";
import { entriesAfter, entryTypeCode, findEntryById } from "./ledger-store.ts";
import type { CountedSql } from "./sql.ts";

/** A full recomputation of the ledger's invariants from storage. */
export interface LedgerAudit {
  readonly entryCount: number;
  readonly balance: number;
  readonly sumOfEntries: number;
  /** What held holds set aside. */
  readonly held: number;
  readonly violations: readonly string[];
}

/**
 * Walks the entries in pages (memory stays bounded) checking that seq runs
 * 1, 2, 3... with no gap, that each balance_after is the previous one plus
 * the entry's amount (so the balance is the sum of the entries), and that
 * each amount has its type's sign. Then asks SQLite whether any refund names
 * something other than a charge, any charge is refunded beyond its amount,
 * any decision names an entry other than the one its key appended, or any
 * stored response lacks the decision it belongs to.
 */
export function auditLedger(sql: CountedSql): LedgerAudit {
  const violations: string[] = [];
  // Entries that left with their period are checked against the period's close instead.
  const pruned = sql.first<{ last_seq: number; closing_balance: number }>(
    "SELECT last_seq, closing_balance FROM periods WHERE pruned > 0 ORDER BY id DESC LIMIT 1",
  );
  let expectedSeq = (pruned?.last_seq ?? 0) + 1;
  let sum = pruned?.closing_balance ?? 0;
  let balance = sum;
  for (;;) {
    const rows = entriesAfter(sql, expectedSeq - 1, AUDIT_PAGE_SIZE);
    for (const row of rows) {
      if (row.seq !== expectedSeq) violations.push(`seq ${expectedSeq} missing; found ${row.seq}`);
      expectedSeq = row.seq + 1;
      if (!isEntryType(row.type) || Math.sign(row.amount) !== ENTRY_TYPE_RULES[row.type].sign)
        violations.push(`entry ${row.id}: ${row.type} of ${row.amount}`);
      sum += row.amount;
      balance = row.balanceAfter;
      if (balance !== sum) violations.push(`entry ${row.id}: balance_after ${balance}, sum ${sum}`);
      if (balance < -MAX_OVERDRAFT_LIMIT_MINOR || balance > MAX_BALANCE_MINOR) {
        violations.push(`entry ${row.id}: balance_after ${balance} out of bounds`);
      }
    }
    if (rows.length < AUDIT_PAGE_SIZE) break;
  }

  // Refunds stored before schema 7 name charges by their id in `entries`.
  const orphanRefunds = sql.rows<{ id: string }>(
    `SELECT r.id FROM entries r LEFT JOIN entries c ON c.id = r.charge_id
       WHERE r.type = 'refund' AND (c.id IS NULL OR c.type != 'charge') LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const { id } of orphanRefunds) violations.push(`refund ${id} names no charge`);

  // Each refunded charge still in the object: its total is the sum of its refunds (they come after it, so they
  // are still here too; a refunded charge without a total counts as a total of 0), and at most its amount.
  const refundTotals = sql.rows<{ charge_id: string; refunded: number; summed: number }>(
    `SELECT charge_id, SUM(refunded) AS refunded, SUM(summed) AS summed FROM (
       SELECT charge_id, refunded, 0 AS summed FROM refund_totals
       UNION ALL SELECT charge_id, 0, amount FROM ledger WHERE charge_id IS NOT NULL AND type = ?
       UNION ALL SELECT charge_id, 0, amount FROM entries WHERE charge_id IS NOT NULL
     ) GROUP BY charge_id LIMIT ?`,
    entryTypeCode("refund"),
    AUDIT_PAGE_SIZE,
  );
  for (const total of refundTotals) {
    const charge = findEntryById(sql, total.charge_id);
    if (
      charge !== null &&
      ((charge.type !== "charge" && charge.type !== "capture") ||
        total.refunded !== total.summed ||
        total.refunded > -charge.amount ||
        total.refunded <= 0)
    ) {
      violations.push(
        `charge ${total.charge_id}: refunded ${total.refunded} of ${-charge.amount}, its refunds sum to ${total.summed}`,
      );
    }
  }

  // A decision names its entry exactly when one was appended under its key.
  const mismatchedDecisions = sql.rows<{ key: string; entry_id: string | null; found: string | null }>(
    `SELECT d.key, d.entry_id, e.id AS found FROM decisions d LEFT JOIN entries e ON e.idempotency_key = d.key
       WHERE d.entry_id IS NOT e.id LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const d of mismatchedDecisions) {
    violations.push(`decision ${d.key} names entry ${d.entry_id ?? "none"}, its key has ${d.found ?? "none"}`);
  }
  // From schema 7: a key row names the entry that names it back, and every entry has its key row.
  const mismatchedKeys = sql.rows<{ key: string }>(
    `SELECT k.key FROM keys k LEFT JOIN ledger l ON l.seq = k.entry_seq
       WHERE k.entry_seq IS NOT NULL AND (l.seq IS NULL OR l.key_pos != k.pos) LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const k of mismatchedKeys) violations.push(`key ${k.key} names an entry that does not name it`);
  const keylessEntries = sql.rows<{ seq: number }>(
    `SELECT l.seq FROM ledger l LEFT JOIN keys k ON k.pos = l.key_pos WHERE k.entry_seq IS NOT l.seq LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const e of keylessEntries) violations.push(`entry ${e.seq} has no key row naming it`);

  // Every stored response belongs to a decision of the same status and request.
  const orphanRecords = sql.rows<{ key: string }>(
    `SELECT r.key FROM idempotency_records r LEFT JOIN decisions d ON d.key = r.key
       WHERE d.key IS NULL OR d.status != r.status OR d.fingerprint != r.fingerprint LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const r of orphanRecords) violations.push(`record ${r.key} has no matching decision`);

  // Holds: a captured hold names the capture entry that names it back, for what it captured (while the entry is
  // here), and what is held never makes more unavailable than the balance and the largest overdraft.
  const captures = sql.rows<{ seq: number; captured: number; capture: string }>(
    "SELECT seq, captured, capture FROM holds WHERE state = 'captured' LIMIT ?",
    AUDIT_PAGE_SIZE,
  );
  for (const hold of captures) {
    const entry = findEntryById(sql, hold.capture);
    if (
      entry !== null &&
      (entry.type !== "capture" || entry.amount !== -hold.captured || holdSeqOf(entry.names ?? "") !== hold.seq)
    ) {
      violations.push(
        `hold ${hold.seq}: captured ${hold.captured} as ${hold.capture}, a ${entry.type} of ${entry.amount}`,
      );
    }
  }
  const { held } = readHeldFunds(sql);
  if (held < 0 || balance - held < -MAX_OVERDRAFT_LIMIT_MINOR) violations.push(`holds set aside ${held} of ${balance}`);

  return { entryCount: expectedSeq - 1, balance, sumOfEntries: sum, held, violations };
}
