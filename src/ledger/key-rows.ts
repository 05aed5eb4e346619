import { hash64 } from "../lib/hash64.ts";
import { bytesToHex, hexToBytes } from "../lib/hex.ts";
import type { CountedSql } from "./sql.ts";

/**
 * A decided Idempotency-Key from schema 7 on: one row of `keys` (and its key
 * index) holds the decision for ever, while the key stays in the object, and
 * what its replay needs until `expires_ms`. A response that moved money is
 * not stored: it is rendered again from its entry (`view` names how), so a
 * charge costs its entry row, this row and its index entry.
 */

export interface KeyRow {
  /** The decision's place in decision order: periods own ranges of it. */
  readonly pos: number;
  readonly key: string;
  /** The first 128 bits of the request's fingerprint, as hex. */
  readonly fingerprint: string;
  readonly status: number;
  /** The problem's code for a decline, null for a success. */
  readonly code: string | null;
  /** The entry it appended; null when no money moved. */
  readonly entrySeq: number | null;
  readonly decidedMs: number;
  readonly expiresMs: number;
  /** A 32-bit tag of the internal request id, to tell the Worker's own retry of a call from a replay. */
  readonly requestTag: number;
  /** The Request-Id the original request was answered with (or the queue message id). */
  readonly origin: string;
  /** The first 32 bits of each field's digest, to name what differs when the key is reused. */
  readonly digests: Readonly<Record<string, string>> | null;
  /** 0: `body` is the stored response; from 1, the entry view version the response is rendered with. */
  readonly view: number;
  readonly body: string | null;
}

/** The part of a fingerprint a key row keeps: 128 bits decide sameness as well as 256 among one key's requests. */
export const STORED_FINGERPRINT_HEX = 32;

/** The part of each field digest a key row keeps: enough to name a differing field, never to decide. */
const STORED_DIGEST_HEX = 8;

export function requestTag(requestId: string): number {
  return hash64(requestId)[1];
}

export function storedFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, STORED_FINGERPRINT_HEX);
}

export function storedDigests(digests: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(digests).map(([field, digest]) => [field, digest.slice(0, STORED_DIGEST_HEX)]),
  );
}

type Row = {
  pos: number;
  fingerprint: ArrayBuffer;
  status: number;
  code: string | null;
  entry_seq: number | null;
  decided_ms: number;
  expires_ms: number;
  request_tag: number;
  origin: string;
  digests: string | null;
  view: number;
  body: string | null;
};

export function findKeyRow(sql: CountedSql, key: string): KeyRow | null {
  const row = sql.first<Row>(
    "SELECT pos, fingerprint, status, code, entry_seq, decided_ms, expires_ms, request_tag, origin, digests, view, body FROM keys WHERE key = ?",
    key,
  );
  return row === undefined ? null : checkedKeyRow(toKeyRow(key, row));
}

function toKeyRow(key: string, row: Row): KeyRow {
  return {
    pos: row.pos,
    key,
    fingerprint: bytesToHex(new Uint8Array(row.fingerprint)),
    status: row.status,
    code: row.code,
    entrySeq: row.entry_seq,
    decidedMs: row.decided_ms,
    expiresMs: row.expires_ms,
    requestTag: row.request_tag,
    origin: row.origin,
    digests: row.digests === null ? null : parseDigests(row.digests),
    view: row.view,
    body: row.body,
  };
}

/**
 * A key row's facts agree, checked when written and when read: a decline
 * has a code and a success none; only a 201 moved money, and a response that
 * moved money is rendered from its entry while any other is stored; it
 * expires after it was decided.
 */
export function checkedKeyRow(row: Omit<KeyRow, "pos"> & { pos?: number }): KeyRow & { pos: number } {
  if (row.status >= 400 !== (row.code !== null)) {
    throw new Error(`invariant: key ${row.key} has status ${row.status} and code ${row.code}`);
  }
  if (row.entrySeq !== null && row.status !== 201) {
    throw new Error(`invariant: key ${row.key} names entry ${row.entrySeq} with status ${row.status}`);
  }
  if ((row.entrySeq !== null) !== row.view > 0 || row.view > 0 !== (row.body === null)) {
    throw new Error(
      `invariant: key ${row.key} has entry ${row.entrySeq}, view ${row.view} and a body: ${row.body !== null}`,
    );
  }
  if (!Number.isSafeInteger(row.decidedMs) || !(row.expiresMs > row.decidedMs)) {
    throw new Error(`invariant: key ${row.key} decided at ${row.decidedMs} expires at ${row.expiresMs}`);
  }
  return { ...row, pos: row.pos ?? 0 };
}

/**
 * Writes a key's decision once: a plain INSERT, so a key already decided
 * fails the transaction, never overwritten. Answers its pos.
 */
export function insertKeyRow(sql: CountedSql, row: Omit<KeyRow, "pos">, pos: number): void {
  checkedKeyRow(row);
  const written = sql.write(
    "INSERT INTO keys (pos, key, fingerprint, status, code, entry_seq, decided_ms, expires_ms, request_tag, origin, digests, view, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    pos,
    row.key,
    hexToBytes(row.fingerprint).buffer as ArrayBuffer,
    row.status,
    row.code,
    row.entrySeq,
    row.decidedMs,
    row.expiresMs,
    row.requestTag,
    row.origin,
    row.digests === null ? null : formatDigests(row.digests),
    row.view,
    row.body,
  );
  if (written === 0) throw new Error(`invariant: key ${row.key} was not written`);
}

/** The last pos used (0 before any): kept in memory by the writes, read once per start. */
export function lastKeyPos(sql: CountedSql): number {
  return sql.first<{ pos: number | null }>("SELECT MAX(pos) AS pos FROM keys")?.pos ?? 0;
}

/** `field=digest` pairs joined by commas: field names are JSON object keys the API accepts, which never hold `=` or `,`. */
function formatDigests(digests: Readonly<Record<string, string>>): string {
  return Object.entries(digests)
    .map(([field, digest]) => `${field}=${digest}`)
    .join(",");
}

export function parseDigests(text: string): Record<string, string> {
  if (text === "") return {};
  return Object.fromEntries(
    text.split(",").map((pair) => {
      const at = pair.lastIndexOf("=");
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}
