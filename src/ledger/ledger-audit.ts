import { MAX_BALANCE_MINOR, MAX_OVERDRAFT_LIMIT_MINOR } from "../domain/limits";

/** A full recomputation of the ledger's invariants from storage. */
export interface LedgerAudit {
  readonly entryCount: number;
  readonly balance: number;
  readonly sumOfEntries: number;
  readonly violations: readonly string[];
}

const AUDIT_PAGE_SIZE = 1000;
const SIGN: Record<string, 1 | -1> = { credit: 1, charge: -1, refund: 1 };

type Row = { seq: number; id: string; type: string; amount: number; balance_after: number; charge_id: string | null };

/**
 * Checks that seq runs 1, 2, 3... with no gap, that each balance_after is the
 * previous one plus the entry's amount (so the balance is the sum of the
 * entries), that each amount has its type's sign, and that no charge is
 * refunded beyond its amount. Reads in pages so memory stays bounded.
 */
export function auditLedger(sql: SqlStorage): LedgerAudit {
  const violations: string[] = [];
  const chargeAmounts = new Map<string, number>();
  const refunded = new Map<string, number>();
  let expectedSeq = 1;
  let sum = 0;
  let balance = 0;
  for (;;) {
    const rows = sql
      .exec<Row>(
        "SELECT seq, id, type, amount, balance_after, charge_id FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?",
        expectedSeq,
        AUDIT_PAGE_SIZE,
      )
      .toArray();
    for (const row of rows) {
      if (row.seq !== expectedSeq) violations.push(`seq ${expectedSeq} missing; found ${row.seq}`);
      expectedSeq = row.seq + 1;
      if (Math.sign(row.amount) !== SIGN[row.type])
        violations.push(`entry ${row.id}: ${row.type} with amount ${row.amount}`);
      sum += row.amount;
      if (row.balance_after !== sum) violations.push(`entry ${row.id}: balance_after ${row.balance_after}, sum ${sum}`);
      if (row.balance_after < -MAX_OVERDRAFT_LIMIT_MINOR || row.balance_after > MAX_BALANCE_MINOR) {
        violations.push(`entry ${row.id}: balance_after ${row.balance_after} out of bounds`);
      }
      balance = row.balance_after;
      if (row.type === "charge") chargeAmounts.set(row.id, -row.amount);
      if (row.type === "refund" && row.charge_id !== null) {
        refunded.set(row.charge_id, (refunded.get(row.charge_id) ?? 0) + row.amount);
      }
    }
    if (rows.length < AUDIT_PAGE_SIZE) break;
  }
  for (const [chargeId, total] of refunded) {
    const charged = chargeAmounts.get(chargeId);
    if (charged === undefined) violations.push(`refunds name unknown charge ${chargeId}`);
    else if (total > charged) violations.push(`charge ${chargeId}: refunded ${total} of ${charged}`);
  }
  return { entryCount: expectedSeq - 1, balance, sumOfEntries: sum, violations };
}
