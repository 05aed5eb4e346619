import type { CountedSql } from "./sql.ts";

/**
 * The permanent trace of every decided key: what the decision was, kept for
 * ever, so a key is decided once and that decision never changes, even
 * after its stored response (idempotency-records.ts) has expired.
 */

export interface DecisionRow {
  readonly key: string;
  readonly fingerprint: string;
  readonly status: number;
  /** The problem's code for a decline, null when the request succeeded. */
  readonly code: string | null;
  /** The entry the decision appended, null when it moved no money. */
  readonly entryId: string | null;
  readonly decidedMs: number;
}

export function findDecision(sql: CountedSql, key: string): DecisionRow | null {
  const row = sql.first<{
    fingerprint: string;
    status: number;
    code: string | null;
    entry_id: string | null;
    decided_ms: number;
  }>("SELECT fingerprint, status, code, entry_id, decided_ms FROM decisions WHERE key = ?", key);
  if (row === undefined) return null;
  return {
    key,
    fingerprint: row.fingerprint,
    status: row.status,
    code: row.code,
    entryId: row.entry_id,
    decidedMs: row.decided_ms,
  };
}

export function saveDecision(sql: CountedSql, decision: DecisionRow): void {
  sql.run(
    "INSERT INTO decisions (key, fingerprint, status, code, entry_id, decided_ms) VALUES (?, ?, ?, ?, ?, ?)",
    decision.key,
    decision.fingerprint,
    decision.status,
    decision.code,
    decision.entryId,
    decision.decidedMs,
  );
}
