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
  return checkedDecision({
    key,
    fingerprint: row.fingerprint,
    status: row.status,
    code: row.code,
    entryId: row.entry_id,
    decidedMs: row.decided_ms,
  });
}

/**
 * A decision's own facts agree, checked when it is written and when it is
 * read back: a decline (4xx, 5xx) has a problem code and a success none, and
 * only a 201 moved money.
 */
export function checkedDecision(decision: DecisionRow): DecisionRow {
  if (decision.status >= 400 !== (decision.code !== null)) {
    throw new Error(`invariant: decision ${decision.key} has status ${decision.status} and code ${decision.code}`);
  }
  if (decision.entryId !== null && decision.status !== 201) {
    throw new Error(
      `invariant: decision ${decision.key} names entry ${decision.entryId} with status ${decision.status}`,
    );
  }
  return decision;
}

/** Writes a decision once: a plain INSERT, so a key already decided fails the transaction, never overwritten. */
export function saveDecision(sql: CountedSql, decision: DecisionRow): void {
  checkedDecision(decision);
  const written = sql.write(
    "INSERT INTO decisions (key, fingerprint, status, code, entry_id, decided_ms) VALUES (?, ?, ?, ?, ?, ?)",
    decision.key,
    decision.fingerprint,
    decision.status,
    decision.code,
    decision.entryId,
    decision.decidedMs,
  );
  if (written === 0) throw new Error(`invariant: decision ${decision.key} was not written`);
}
