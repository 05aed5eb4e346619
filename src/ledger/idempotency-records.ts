import type { CountedSql } from "./sql.ts";

/**
 * The stored responses of requests with an Idempotency-Key, replayed byte
 * for byte. They expire (the TTL bounds how long a body is kept); the
 * decision itself is kept for ever in decisions.ts.
 */

export interface IdempotencyRecord {
  readonly key: string;
  /** The HTTP request that produced the outcome. */
  readonly requestId: string;
  readonly fingerprint: string;
  readonly status: number;
  readonly body: string;
  readonly createdMs: number;
  readonly expiresMs: number;
  /** A digest of each top-level field of the request, to name what differs when the key is reused; null on old records. */
  readonly fieldDigests: Readonly<Record<string, string>> | null;
  /** The Request-Id the original request was answered with; null on old records. */
  readonly originRequestId: string | null;
}

/** The record for `key` while it is live at `nowMs`: one expired but not yet swept counts as absent. */
export function findLiveRecord(sql: CountedSql, key: string, nowMs: number): IdempotencyRecord | null {
  const record = findRecord(sql, key);
  if (record === null || record.expiresMs <= nowMs) return null;
  // Paired with saveRecord's check: a record expires after it was created.
  if (record.createdMs >= record.expiresMs) {
    throw new Error(`invariant: record ${key} was created at ${record.createdMs} and expires at ${record.expiresMs}`);
  }
  return record;
}

function findRecord(sql: CountedSql, key: string): IdempotencyRecord | null {
  const row = sql.first<{
    request_id: string;
    fingerprint: string;
    status: number;
    body: string;
    created_ms: number;
    expires_ms: number;
    field_digests: string | null;
    origin_request_id: string | null;
  }>(
    "SELECT request_id, fingerprint, status, body, created_ms, expires_ms, field_digests, origin_request_id FROM idempotency_records WHERE key = ?",
    key,
  );
  if (row === undefined) return null;
  return {
    key,
    requestId: row.request_id,
    fingerprint: row.fingerprint,
    status: row.status,
    body: row.body,
    createdMs: row.created_ms,
    expiresMs: row.expires_ms,
    fieldDigests: row.field_digests === null ? null : (JSON.parse(row.field_digests) as Record<string, string>),
    originRequestId: row.origin_request_id,
  };
}

/** Saves a record, replacing an expired one under the same key. */
export function saveRecord(sql: CountedSql, record: IdempotencyRecord): void {
  if (!Number.isSafeInteger(record.createdMs) || !(record.expiresMs > record.createdMs)) {
    throw new Error(`invariant: record ${record.key} created at ${record.createdMs} expires at ${record.expiresMs}`);
  }
  const written = sql.write(
    "INSERT OR REPLACE INTO idempotency_records (key, request_id, fingerprint, status, body, created_ms, expires_ms, field_digests, origin_request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    record.key,
    record.requestId,
    record.fingerprint,
    record.status,
    record.body,
    record.createdMs,
    record.expiresMs,
    record.fieldDigests === null ? null : JSON.stringify(record.fieldDigests),
    record.originRequestId,
  );
  if (written === 0) throw new Error(`invariant: record ${record.key} was not written`);
}

export function earliestExpiry(sql: CountedSql): number | null {
  return (
    sql.first<{ earliest: number | null }>("SELECT MIN(expires_ms) AS earliest FROM idempotency_records")?.earliest ??
    null
  );
}

/** Deletes at most `batchSize` records that expired at or before `nowMs`, oldest first; returns how many. */
export function deleteExpired(sql: CountedSql, nowMs: number, batchSize: number): number {
  return sql.rows(
    `DELETE FROM idempotency_records WHERE key IN
       (SELECT key FROM idempotency_records WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?)
     RETURNING key`,
    nowMs,
    batchSize,
  ).length;
}
