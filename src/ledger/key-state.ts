import { checkedDecision, type DecisionRow } from "./decisions.ts";
import type { IdempotencyRecord } from "./idempotency-records.ts";
import type { CountedSql } from "./sql.ts";

/**
 * Everything stored about an Idempotency-Key, read in one statement: its
 * live record (the stored response), else its decision (kept for ever), else,
 * for a key that moved money before decisions were kept, its entry. Neither
 * decision nor entry is read while the record is live: a replay reads one
 * row. Once it is not, the entry carrying the key is read beside the
 * decision, which must name exactly it (or none when there is none).
 */
export interface KeyState {
  readonly record: IdempotencyRecord | null;
  readonly decision: DecisionRow | null;
  readonly legacyEntryId: string | null;
}

type Row = {
  r_key: string | null;
  request_id: string | null;
  r_fingerprint: string | null;
  r_status: number | null;
  body: string | null;
  created_ms: number | null;
  expires_ms: number | null;
  field_digests: string | null;
  origin_request_id: string | null;
  d_key: string | null;
  d_fingerprint: string | null;
  d_status: number | null;
  code: string | null;
  entry_id: string | null;
  decided_ms: number | null;
  key_entry: string | null;
};

const QUERY = `SELECT r.key AS r_key, r.request_id, r.fingerprint AS r_fingerprint, r.status AS r_status, r.body,
       r.created_ms, r.expires_ms, r.field_digests, r.origin_request_id,
       d.key AS d_key, d.fingerprint AS d_fingerprint, d.status AS d_status, d.code, d.entry_id, d.decided_ms,
       CASE WHEN r.expires_ms > ?2 THEN NULL
            ELSE (SELECT e.id FROM entries e WHERE e.idempotency_key = ?1) END AS key_entry
  FROM (SELECT ?1 AS key) AS k
  LEFT JOIN idempotency_records r ON r.key = k.key
  LEFT JOIN decisions d ON d.key = k.key AND (r.key IS NULL OR r.expires_ms <= ?2)`;

const legacyKeys = new WeakMap<CountedSql, boolean>();

/**
 * Whether the object holds keys decided before schema 7, asked once per
 * object: from schema 7 on nothing is added to those tables (the sweep only
 * removes records), so an object without any never has any.
 */
export function hasLegacyKeys(sql: CountedSql): boolean {
  let known = legacyKeys.get(sql);
  if (known === undefined) {
    known =
      sql.first<{ any: number }>(
        `SELECT EXISTS (SELECT 1 FROM decisions) OR EXISTS (SELECT 1 FROM entries)
           OR EXISTS (SELECT 1 FROM idempotency_records) AS any`,
      )?.any === 1;
    legacyKeys.set(sql, known);
  }
  return known;
}

/** Forgets what hasLegacyKeys learnt of this object: a restore (account-restore.ts) may have written such keys since. */
export function forgetLegacyKeys(sql: CountedSql): void {
  legacyKeys.delete(sql);
}

export function readKeyState(sql: CountedSql, key: string, nowMs: number): KeyState {
  const row = sql.first<Row>(QUERY, key, nowMs);
  if (row === undefined) throw new Error("invariant: the key-state query returns one row");
  const live = row.r_key !== null && (row.expires_ms ?? 0) > nowMs;
  // Paired with saveRecord's check: a record expires after it was created.
  if (live && (row.created_ms ?? 0) >= (row.expires_ms ?? 0)) {
    throw new Error(`invariant: record ${key} was created at ${row.created_ms} and expires at ${row.expires_ms}`);
  }
  // Paired with decide(): a decision names the entry its key appended, and only that.
  if (row.d_key !== null && row.entry_id !== row.key_entry) {
    throw new Error(`invariant: decision ${key} names entry ${row.entry_id}, its key carries ${row.key_entry}`);
  }
  return {
    record: live
      ? {
          key,
          requestId: row.request_id ?? "",
          fingerprint: row.r_fingerprint ?? "",
          status: row.r_status ?? 0,
          body: row.body ?? "",
          createdMs: row.created_ms ?? 0,
          expiresMs: row.expires_ms ?? 0,
          fieldDigests: row.field_digests === null ? null : (JSON.parse(row.field_digests) as Record<string, string>),
          originRequestId: row.origin_request_id,
        }
      : null,
    decision:
      row.d_key === null
        ? null
        : checkedDecision({
            key,
            fingerprint: row.d_fingerprint ?? "",
            status: row.d_status ?? 0,
            code: row.code,
            entryId: row.entry_id,
            decidedMs: row.decided_ms ?? 0,
          }),
    legacyEntryId: row.d_key === null ? row.key_entry : null,
  };
}
