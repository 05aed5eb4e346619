import { ENTRY_TYPE_RULES, isEntryType } from "../domain/entry-types.ts";
import { AUDIT_PAGE_SIZE, MAX_BALANCE_MINOR, MAX_OVERDRAFT_LIMIT_MINOR } from "../domain/limits.ts";
import type { CountedSql } from "./sql.ts";

/** A full recomputation of the ledger's invariants from storage. */
export interface LedgerAudit {
  readonly entryCount: number;
  readonly balance: number;
  readonly sumOfEntries: number;
  readonly violations: readonly string[];
}

type Row = { seq: number; id: string; type: string; amount: number; balance_after: number };

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
  let expectedSeq = 1;
  let sum = 0;
  let balance = 0;
  for (;;) {
    const rows = sql.rows<Row>(
      "SELECT seq, id, type, amount, balance_after FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?",
      expectedSeq,
      AUDIT_PAGE_SIZE,
    );
    for (const row of rows) {
      if (row.seq !== expectedSeq) violations.push(`seq ${expectedSeq} missing; found ${row.seq}`);
      expectedSeq = row.seq + 1;
      if (!isEntryType(row.type) || Math.sign(row.amount) !== ENTRY_TYPE_RULES[row.type].sign)
        violations.push(`entry ${row.id}: ${row.type} of ${row.amount}`);
      sum += row.amount;
      balance = row.balance_after;
      if (balance !== sum) violations.push(`entry ${row.id}: balance_after ${balance}, sum ${sum}`);
      if (balance < -MAX_OVERDRAFT_LIMIT_MINOR || balance > MAX_BALANCE_MINOR) {
        violations.push(`entry ${row.id}: balance_after ${balance} out of bounds`);
      }
    }
    if (rows.length < AUDIT_PAGE_SIZE) break;
  }

  const orphanRefunds = sql.rows<{ id: string }>(
    `SELECT r.id FROM entries r LEFT JOIN entries c ON c.id = r.charge_id
       WHERE r.type = 'refund' AND (c.id IS NULL OR c.type != 'charge') LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const { id } of orphanRefunds) violations.push(`refund ${id} names no charge`);

  const overRefunded = sql.rows<{ id: string; charged: number; refunded: number }>(
    `SELECT c.id, -c.amount AS charged, SUM(r.amount) AS refunded
       FROM entries c JOIN entries r ON r.charge_id = c.id
       GROUP BY c.id HAVING SUM(r.amount) > -c.amount LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const c of overRefunded) violations.push(`charge ${c.id}: refunded ${c.refunded} of ${c.charged}`);

  // A decision names its entry exactly when one was appended under its key.
  const mismatchedDecisions = sql.rows<{ key: string; entry_id: string | null; found: string | null }>(
    `SELECT d.key, d.entry_id, e.id AS found FROM decisions d LEFT JOIN entries e ON e.idempotency_key = d.key
       WHERE d.entry_id IS NOT e.id LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const d of mismatchedDecisions) {
    violations.push(`decision ${d.key} names entry ${d.entry_id ?? "none"}, its key has ${d.found ?? "none"}`);
  }

  // Every stored response belongs to a decision of the same status and request.
  const orphanRecords = sql.rows<{ key: string }>(
    `SELECT r.key FROM idempotency_records r LEFT JOIN decisions d ON d.key = r.key
       WHERE d.key IS NULL OR d.status != r.status OR d.fingerprint != r.fingerprint LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const r of orphanRecords) violations.push(`record ${r.key} has no matching decision`);

  return { entryCount: expectedSeq - 1, balance, sumOfEntries: sum, violations };
}
