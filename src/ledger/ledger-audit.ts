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
 * any recorded success lacks its entry or any recorded decline has one.
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

  const mismatchedRecords = sql.rows<{ key: string; status: number }>(
    `SELECT key, status FROM idempotency_records
       WHERE (status = 201) != (key IN (SELECT idempotency_key FROM entries)) LIMIT ?`,
    AUDIT_PAGE_SIZE,
  );
  for (const r of mismatchedRecords) {
    violations.push(`record ${r.key} (status ${r.status}) ${r.status === 201 ? "has no entry" : "has an entry"}`);
  }

  return { entryCount: expectedSeq - 1, balance, sumOfEntries: sum, violations };
}
