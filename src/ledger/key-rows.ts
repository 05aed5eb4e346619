import { hash64 } from "../lib/hash64.ts";
import { bytesToHex, hexToBytes } from "../lib/hex.ts";
import { insertedRows, type CountedSql } from "./sql.ts";

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

/** A `keys` row as SQLite returns it, but its key (found by it). */
export type KeyRowRecord = {
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
  const row = sql.first<KeyRowRecord>(
    "SELECT pos, fingerprint, status, code, entry_seq, decided_ms, expires_ms, request_tag, origin, digests, view, body FROM keys WHERE key = ?",
    key,
  );
  return row === undefined ? null : checkedKeyRow(toKeyRow(key, row));
}

function toKeyRow(key: string, row: KeyRowRecord): KeyRow {
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
 * fails the transaction, never overwritten. With `later`, the row is
 * written with the rest of its batch (batch-rows.ts).
 */
export function insertKeyRow(sql: CountedSql, row: Omit<KeyRow, "pos">, pos: number, later?: LaterKeyRows): void {
  checkedKeyRow(row);
  const stored = { ...row, pos };
  if (later === undefined) insertKeyRows(sql, [stored]);
  else later.key(stored);
}

/** Key rows a batch writes together (batch-rows.ts). */
export interface LaterKeyRows {
  key(row: KeyRow): void;
}

const INSERT_KEY =
  "INSERT INTO keys (pos, key, fingerprint, status, code, entry_seq, decided_ms, expires_ms, request_tag, origin, digests, view, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/** Rows of one INSERT of rendered decisions: its 5 shared values and 6 of each row's within the 100 bound values a statement takes. */
const RENDERED_KEYS_PER_INSERT = 15;
const renderedInserts = new Map<number, string>();

/**
 * The statement that writes `count` decisions rendered from their entries
 * (no code, no stored body) of one status, view, time and origin: what they
 * share is bound once, since each bound value costs the runtime more than
 * SQLite's own work on the row, and one statement writes many.
 */
function renderedKeysInsert(count: number): string {
  let query = renderedInserts.get(count);
  if (query === undefined) {
    const rows = Array.from({ length: count }, (_, i) => {
      const at = 6 + i * 6;
      return `(?${at}, ?${at + 1}, ?${at + 2}, ?${at + 3}, ?${at + 4}, ?${at + 5})`;
    });
    // The shared values are ?1 to ?5; each row's follow. Selecting from VALUES reads each row once, as
    // its own INSERT would (a CTE of the shared values would be read once per row).
    query = `INSERT INTO keys (pos, key, fingerprint, status, code, entry_seq, decided_ms, expires_ms, request_tag, origin, digests, view, body)
SELECT v.column1, v.column2, v.column3, ?1, NULL, v.column4, ?2, ?3, v.column5, ?4, v.column6, ?5, NULL FROM (VALUES ${rows.join(", ")}) AS v`;
    renderedInserts.set(count, query);
  }
  return query;
}

function isRendered(row: KeyRow): boolean {
  return row.code === null && row.body === null;
}

function sameShared(a: KeyRow, b: KeyRow): boolean {
  return (
    a.status === b.status &&
    a.decidedMs === b.decidedMs &&
    a.expiresMs === b.expiresMs &&
    a.origin === b.origin &&
    a.view === b.view
  );
}

/**
 * Writes checked key rows, in order: runs of rendered decisions that share
 * their status, view, time and origin together, any other alone.
 */
export function insertKeyRows(sql: CountedSql, rows: readonly KeyRow[]): void {
  let at = 0;
  while (at < rows.length) {
    const first = rows[at] as KeyRow;
    let end = at + 1;
    if (isRendered(first)) {
      while (end < rows.length && end - at < RENDERED_KEYS_PER_INSERT) {
        const row = rows[end] as KeyRow;
        if (!isRendered(row) || !sameShared(row, first)) break;
        end += 1;
      }
    }
    let written: number;
    if (end - at === 1) {
      written = sql.write(
        INSERT_KEY,
        first.pos,
        first.key,
        hexToBytes(first.fingerprint).buffer as ArrayBuffer,
        first.status,
        first.code,
        first.entrySeq,
        first.decidedMs,
        first.expiresMs,
        first.requestTag,
        first.origin,
        first.digests === null ? null : formatDigests(first.digests),
        first.view,
        first.body,
      );
    } else {
      const values: SqlStorageValue[] = [first.status, first.decidedMs, first.expiresMs, first.origin, first.view];
      for (let i = at; i < end; i += 1) {
        const row = rows[i] as KeyRow;
        values.push(
          row.pos,
          row.key,
          hexToBytes(row.fingerprint).buffer as ArrayBuffer,
          row.entrySeq,
          row.requestTag,
          row.digests === null ? null : formatDigests(row.digests),
        );
      }
      sql.run(renderedKeysInsert(end - at), ...values);
      // Written counts index entries too: the rows the INSERT itself stored are what changes() says.
      written = insertedRows(sql);
    }
    if (written < end - at) throw new Error(`invariant: keys from ${first.key} were not all written`);
    at = end;
  }
}

/** Keys probed by one statement: one bound value each, within the 100 a statement takes. */
const KEYS_PER_PROBE = 100;
// CROSS JOIN keeps the keys sent as the outer loop: one lookup in the key index each.
const PROBE_KEYS = `SELECT k.key FROM (VALUES ${Array.from({ length: KEYS_PER_PROBE }, (_, i) => `(?${i + 1})`).join(", ")}) AS v
CROSS JOIN keys AS k ON k.key = v.column1`;

/**
 * Which of `keys` the object holds a decision for: a batch's keys read a
 * hundred to a statement, each its own lookup in the key index, so a new
 * key reads no row, as findKeyRow's lookup does (an IN list or json_each
 * would count a row read for every key sent). A short last chunk repeats
 * its first key.
 */
export function decidedKeys(sql: CountedSql, keys: readonly string[]): Set<string> {
  const decided = new Set<string>();
  for (let at = 0; at < keys.length; at += KEYS_PER_PROBE) {
    const chunk = keys.slice(at, at + KEYS_PER_PROBE);
    while (chunk.length < KEYS_PER_PROBE) chunk.push(chunk[0] as string);
    for (const row of sql.rows<{ key: string }>(PROBE_KEYS, ...chunk)) decided.add(row.key);
  }
  return decided;
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
