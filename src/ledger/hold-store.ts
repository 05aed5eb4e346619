import type { Metadata } from "../domain/commands.ts";
import type { HoldState } from "../domain/views.ts";
import { assertAmount } from "../domain/money.ts";
import { formatRowId, parseRowId, randomTag } from "./row-ids.ts";
import type { CountedSql } from "./sql.ts";

/**
 * Reads and writes of holds and of their changes of state: SQL only;
 * hold-operations.ts decides them, row-views.ts shapes them for the API.
 * A hold row stays for ever; only a held hold changes, once, to its final state.
 */

export interface HoldRow {
  readonly seq: number;
  readonly id: string;
  readonly amount: number;
  readonly state: HoldState;
  /** What its capture took; 0 unless captured. */
  readonly captured: number;
  /** The capture's entry id, once captured. */
  readonly capture: string | null;
  readonly expiresMs: number;
  readonly createdMs: number;
  readonly resolvedMs: number | null;
  readonly idempotencyKey: string;
  readonly description: string | null;
  readonly metadata: Metadata;
  readonly keyId: string | null;
}

/** A change of a hold's state, as the event outbox reads it: its place in the ledger is after `entrySeqBefore` entries. */
export interface HoldChangeRow {
  readonly seq: number;
  readonly hold: HoldRow;
  readonly state: HoldState;
  readonly createdMs: number;
  readonly entrySeqBefore: number;
}

const HOLD_PREFIX = "ho";
/** Every state a hold can be in: `held` first, then the final ones. */
export const HOLD_STATES: readonly HoldState[] = ["held", "captured", "voided", "expired"];

type HoldRecord = {
  seq: number;
  tag: number;
  amount: number;
  state: string;
  captured: number;
  capture: string | null;
  expires_ms: number;
  created_ms: number;
  resolved_ms: number | null;
  idempotency_key: string;
  description: string | null;
  metadata: string | null;
  key_id: string | null;
};

const HOLD_COLUMNS =
  "seq, tag, amount, state, captured, capture, expires_ms, created_ms, resolved_ms, idempotency_key, description, metadata, key_id";

export interface NewHold {
  readonly amount: number;
  readonly expiresMs: number;
  readonly createdMs: number;
  readonly idempotencyKey: string;
  readonly description: string | null;
  readonly metadata: Metadata;
  readonly keyId: string | null;
  /** Entries before it: its place among the ledger's events. */
  readonly entrySeqBefore: number;
}

/**
 * Writes back a hold as it was placed, under its own id (a restore,
 * account-restore.ts: the next seq, as insertHold would take), and records
 * its first change of state as the next one.
 */
export function insertRestoredHold(sql: CountedSql, hold: HoldRow, entrySeqBefore: number): void {
  const parsed = parseRowId(hold.id);
  if (parsed?.prefix !== HOLD_PREFIX || parsed.seq !== hold.seq || hold.seq !== lastHoldSeq(sql) + 1) {
    throw new Error(`invariant: hold ${hold.id} is not the next hold, ${lastHoldSeq(sql) + 1}`);
  }
  if (hold.state !== "held") throw new Error(`invariant: hold ${hold.id} is placed ${hold.state}`);
  assertAmount(hold.amount);
  sql.run(
    `INSERT INTO holds (seq, tag, amount, state, expires_ms, created_ms, idempotency_key, description, metadata, key_id)
     VALUES (?, ?, ?, 'held', ?, ?, ?, ?, ?, ?)`,
    hold.seq,
    parsed.tag,
    hold.amount,
    hold.expiresMs,
    hold.createdMs,
    hold.idempotencyKey,
    hold.description,
    Object.keys(hold.metadata).length === 0 ? null : JSON.stringify(hold.metadata),
    hold.keyId,
  );
  insertChange(sql, hold.seq, "held", hold.createdMs, entrySeqBefore);
}

/** The last hold's seq (0: none); holds are never deleted, so it is also how many there are. */
export function lastHoldSeq(sql: CountedSql): number {
  return sql.first<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM holds")?.seq ?? 0;
}

/** Places a hold, held, as the next seq, and records its first change of state. */
export function insertHold(sql: CountedSql, hold: NewHold): HoldRow {
  assertAmount(hold.amount);
  const seq = (sql.first<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM holds")?.seq ?? 0) + 1;
  const tag = randomTag();
  const metadata = Object.keys(hold.metadata).length === 0 ? null : JSON.stringify(hold.metadata);
  sql.run(
    `INSERT INTO holds (seq, tag, amount, state, expires_ms, created_ms, idempotency_key, description, metadata, key_id)
     VALUES (?, ?, ?, 'held', ?, ?, ?, ?, ?, ?)`,
    seq,
    tag,
    hold.amount,
    hold.expiresMs,
    hold.createdMs,
    hold.idempotencyKey,
    hold.description,
    metadata,
    hold.keyId,
  );
  insertChange(sql, seq, "held", hold.createdMs, hold.entrySeqBefore);
  return {
    seq,
    id: formatRowId(HOLD_PREFIX, tag, seq),
    amount: hold.amount,
    state: "held",
    captured: 0,
    capture: null,
    expiresMs: hold.expiresMs,
    createdMs: hold.createdMs,
    resolvedMs: null,
    idempotencyKey: hold.idempotencyKey,
    description: hold.description,
    metadata: hold.metadata,
    keyId: hold.keyId,
  };
}

/**
 * Moves a held hold to its final state, once: the update names the state it
 * leaves, so a hold already resolved is never resolved again.
 */
export function resolveHold(
  sql: CountedSql,
  hold: HoldRow,
  state: Exclude<HoldState, "held">,
  nowMs: number,
  entrySeqBefore: number,
  capture: { readonly amount: number; readonly id: string } | null,
): HoldRow {
  if ((state === "captured") !== (capture !== null)) {
    throw new Error(`invariant: hold ${hold.id} ${state} with ${capture === null ? "no" : "a"} capture`);
  }
  const written = sql.write(
    "UPDATE holds SET state = ?, resolved_ms = ?, captured = ?, capture = ? WHERE seq = ? AND state = 'held'",
    state,
    nowMs,
    capture?.amount ?? 0,
    capture?.id ?? null,
    hold.seq,
  );
  if (written === 0) throw new Error(`invariant: hold ${hold.id} was not held when it was ${state}`);
  insertChange(sql, hold.seq, state, nowMs, entrySeqBefore);
  return {
    ...hold,
    state,
    resolvedMs: nowMs,
    captured: capture?.amount ?? 0,
    capture: capture?.id ?? null,
  };
}

function insertChange(sql: CountedSql, holdSeq: number, state: HoldState, nowMs: number, entrySeqBefore: number) {
  sql.run(
    `INSERT INTO hold_changes (seq, hold_seq, state, created_ms, entry_seq_before)
     VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM hold_changes), ?, ?, ?, ?)`,
    holdSeq,
    state,
    nowMs,
    entrySeqBefore,
  );
}

/** The hold with this id, or null. */
export function findHold(sql: CountedSql, id: string): HoldRow | null {
  const parsed = parseRowId(id);
  if (parsed?.prefix !== HOLD_PREFIX) return null;
  const row = sql.first<HoldRecord>(
    `SELECT ${HOLD_COLUMNS} FROM holds WHERE seq = ? AND tag = ?`,
    parsed.seq,
    parsed.tag,
  );
  return row === undefined ? null : toHoldRow(row);
}

/** The holds after seq `afterSeq`, oldest first; one more than `limit` tells whether there are more. */
export function holdsAfter(sql: CountedSql, afterSeq: number, limit: number): HoldRow[] {
  return sql
    .rows<HoldRecord>(`SELECT ${HOLD_COLUMNS} FROM holds WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
    .map(toHoldRow);
}

/** The seq of a hold id of the current form, for paging after it; null for any other string. */
export function holdSeqOf(id: string): number | null {
  const parsed = parseRowId(id);
  return parsed?.prefix === HOLD_PREFIX ? parsed.seq : null;
}

/** Held holds whose expiry has come, earliest first, at most `limit`. */
export function dueHolds(sql: CountedSql, nowMs: number, limit: number): HoldRow[] {
  return sql
    .rows<HoldRecord>(
      `SELECT ${HOLD_COLUMNS} FROM holds WHERE state = 'held' AND expires_ms <= ? ORDER BY expires_ms LIMIT ?`,
      nowMs,
      limit,
    )
    .map(toHoldRow);
}

/** Changes of hold state after seq `afterSeq`, in order, at most `limit`, each with its hold as it is now. */
export function holdChangesAfter(sql: CountedSql, afterSeq: number, limit: number): HoldChangeRow[] {
  return sql
    .rows<HoldRecord & { change_seq: number; change_state: string; change_ms: number; entry_seq_before: number }>(
      `SELECT c.seq AS change_seq, c.state AS change_state, c.created_ms AS change_ms, c.entry_seq_before,
              ${HOLD_COLUMNS.split(", ")
                .map((column) => `h.${column}`)
                .join(", ")}
         FROM hold_changes c JOIN holds h ON h.seq = c.hold_seq WHERE c.seq > ? ORDER BY c.seq LIMIT ?`,
      afterSeq,
      limit,
    )
    .map((row) => ({
      seq: row.change_seq,
      hold: toHoldRow(row),
      state: toState(row.change_state, row.seq),
      createdMs: row.change_ms,
      entrySeqBefore: row.entry_seq_before,
    }));
}

/**
 * The hold as a change left it: a hold leaves `held` once, so the row as it
 * is now is the change to its final state; the change that placed it shows
 * it as placed.
 */
export function holdAsChanged(change: HoldChangeRow): HoldRow {
  return change.state === "held"
    ? { ...change.hold, state: "held", captured: 0, capture: null, resolvedMs: null }
    : change.hold;
}

/**
 * The holds as they stood after hold change `throughSeq`: how many were
 * placed, how many changes there were, and what the held ones set aside
 * (each placed hold's amount, less each resolved one's). One pass over the
 * changes, each joined to its hold by its key.
 */
export function holdsThrough(sql: CountedSql, throughSeq: number): { holds: number; changes: number; held: number } {
  const row = sql.first<{ holds: number | null; changes: number; held: number | null }>(
    `SELECT SUM(c.state = 'held') AS holds, COUNT(*) AS changes,
            SUM(CASE WHEN c.state = 'held' THEN h.amount ELSE -h.amount END) AS held
       FROM hold_changes c JOIN holds h ON h.seq = c.hold_seq WHERE c.seq <= ?`,
    throughSeq,
  );
  return { holds: row?.holds ?? 0, changes: row?.changes ?? 0, held: row?.held ?? 0 };
}

/** How many hold changes there are: the event cursor counts them. */
export function holdChangeCount(sql: CountedSql): number {
  return sql.first<{ n: number | null }>("SELECT MAX(seq) AS n FROM hold_changes")?.n ?? 0;
}

function toState(state: string, seq: number): HoldState {
  const known = HOLD_STATES.find((s) => s === state);
  if (known === undefined) throw new Error(`invariant: hold ${seq} is in state ${state}`);
  return known;
}

/** Paired with insertHold's and resolveHold's checks: an amount in bounds, a capture only on a captured hold, never more than held. */
function toHoldRow(row: HoldRecord): HoldRow {
  assertAmount(row.amount);
  const state = toState(row.state, row.seq);
  if ((state === "captured") !== (row.capture !== null) || row.captured < 0 || row.captured > row.amount) {
    throw new Error(`invariant: hold ${row.seq} is ${state} with ${row.captured} captured`);
  }
  if ((state === "held") !== (row.resolved_ms === null)) {
    throw new Error(`invariant: hold ${row.seq} is ${state}, resolved at ${String(row.resolved_ms)}`);
  }
  return {
    seq: row.seq,
    id: formatRowId(HOLD_PREFIX, row.tag, row.seq),
    amount: row.amount,
    state,
    captured: row.captured,
    capture: row.capture,
    expiresMs: row.expires_ms,
    createdMs: row.created_ms,
    resolvedMs: row.resolved_ms,
    idempotencyKey: row.idempotency_key,
    description: row.description,
    metadata: row.metadata === null ? {} : (JSON.parse(row.metadata) as Metadata),
    keyId: row.key_id,
  };
}
