import type { Metadata } from "../domain/commands.ts";
import type { TransferState } from "../domain/views.ts";
import { assertAmount } from "../domain/money.ts";
import { formatRowId, parseRowId, randomTag } from "./row-ids.ts";
import { TRANSFER_REFUSALS_TABLE } from "./schema.ts";
import type { CountedSql } from "./sql.ts";

/**
 * Reads and writes of transfers at their source, and of the legs an
 * account refused before it was opened: SQL only; transfer-operations.ts
 * decides them. A transfer leaves `pending` once, to `posted` or `voided`.
 */

export interface TransferRow {
  readonly seq: number;
  readonly id: string;
  readonly to: string;
  readonly amount: number;
  readonly state: TransferState;
  /** The destination's code, when voided. */
  readonly reason: string | null;
  readonly createdMs: number;
  readonly resolvedMs: number | null;
  /** Deliveries tried so far, and when the next is due (while pending). */
  readonly attempts: number;
  readonly nextAttemptMs: number;
  readonly idempotencyKey: string;
  readonly description: string | null;
  readonly metadata: Metadata;
  readonly keyId: string | null;
}

const TRANSFER_PREFIX = "tr";
export const TRANSFER_STATES: readonly TransferState[] = ["pending", "posted", "voided"];

type TransferRecord = {
  seq: number;
  tag: number;
  to_account: string;
  amount: number;
  state: string;
  reason: string | null;
  created_ms: number;
  resolved_ms: number | null;
  attempts: number;
  next_attempt_ms: number;
  idempotency_key: string;
  description: string | null;
  metadata: string | null;
  key_id: string | null;
};

const COLUMNS =
  "seq, tag, to_account, amount, state, reason, created_ms, resolved_ms, attempts, next_attempt_ms, idempotency_key, description, metadata, key_id";

export interface NewTransfer {
  readonly to: string;
  readonly amount: number;
  readonly createdMs: number;
  readonly idempotencyKey: string;
  readonly description: string | null;
  readonly metadata: Metadata;
  readonly keyId: string | null;
}

/** Records a transfer, pending, as the next seq, its first delivery due at once. */
export function insertTransfer(sql: CountedSql, transfer: NewTransfer): TransferRow {
  assertAmount(transfer.amount);
  const seq = (sql.first<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM transfers")?.seq ?? 0) + 1;
  const tag = randomTag();
  sql.run(
    `INSERT INTO transfers (seq, tag, to_account, amount, state, created_ms, next_attempt_ms, idempotency_key, description, metadata, key_id)
     VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
    seq,
    tag,
    transfer.to,
    transfer.amount,
    transfer.createdMs,
    transfer.createdMs,
    transfer.idempotencyKey,
    transfer.description,
    Object.keys(transfer.metadata).length === 0 ? null : JSON.stringify(transfer.metadata),
    transfer.keyId,
  );
  return {
    ...transfer,
    seq,
    id: formatRowId(TRANSFER_PREFIX, tag, seq),
    state: "pending",
    reason: null,
    resolvedMs: null,
    attempts: 0,
    nextAttemptMs: transfer.createdMs,
  };
}

/** Moves a pending transfer to its final state, once: the update names the state it leaves. */
export function resolveTransfer(
  sql: CountedSql,
  transfer: TransferRow,
  outcome: { readonly state: "posted" } | { readonly state: "voided"; readonly reason: string },
  nowMs: number,
): TransferRow {
  const reason = outcome.state === "voided" ? outcome.reason : null;
  const written = sql.write(
    "UPDATE transfers SET state = ?, reason = ?, resolved_ms = ? WHERE seq = ? AND state = 'pending'",
    outcome.state,
    reason,
    nowMs,
    transfer.seq,
  );
  if (written === 0) throw new Error(`invariant: transfer ${transfer.id} was not pending when it was ${outcome.state}`);
  return { ...transfer, state: outcome.state, reason, resolvedMs: nowMs };
}

/** Notes a delivery that got no final answer: the next is due at `nextAttemptMs`. */
export function rescheduleTransfer(sql: CountedSql, transfer: TransferRow, nextAttemptMs: number): void {
  sql.run(
    "UPDATE transfers SET attempts = attempts + 1, next_attempt_ms = ? WHERE seq = ? AND state = 'pending'",
    nextAttemptMs,
    transfer.seq,
  );
}

/**
 * Writes back a transfer as a backup held it (a restore,
 * account-restore.ts): under its own id, as the next seq, as insertTransfer
 * would take it. Paired with toTransferRow's checks, made here first so a
 * restore refuses a bad row rather than storing one no read can take.
 */
export function insertRestoredTransfer(sql: CountedSql, transfer: TransferRow): void {
  const parsed = parseRowId(transfer.id);
  const next = transferCount(sql) + 1;
  if (parsed?.prefix !== TRANSFER_PREFIX || parsed.seq !== transfer.seq || transfer.seq !== next) {
    throw new Error(`invariant: transfer ${transfer.id} is not the next transfer, ${next}`);
  }
  assertAmount(transfer.amount);
  sql.run(
    `INSERT INTO transfers (seq, tag, to_account, amount, state, reason, created_ms, resolved_ms, attempts, next_attempt_ms, idempotency_key, description, metadata, key_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    transfer.seq,
    parsed.tag,
    transfer.to,
    transfer.amount,
    transfer.state,
    transfer.reason,
    transfer.createdMs,
    transfer.resolvedMs,
    transfer.attempts,
    transfer.nextAttemptMs,
    transfer.idempotencyKey,
    transfer.description,
    Object.keys(transfer.metadata).length === 0 ? null : JSON.stringify(transfer.metadata),
    transfer.keyId,
  );
  // Read back through the one reader, so its invariants hold for what was written.
  findTransfer(sql, transfer.id);
}

/** The last transfer's seq (0: none); transfers are never deleted, so it is also how many there are. */
export function transferCount(sql: CountedSql): number {
  return sql.first<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM transfers")?.seq ?? 0;
}

/** What pending transfers set aside now. */
export function pendingTransfersHeld(sql: CountedSql): number {
  return (
    sql.first<{ held: number | null }>("SELECT SUM(amount) AS held FROM transfers WHERE state = 'pending'")?.held ?? 0
  );
}

/** Transfers after seq `afterSeq`, in seq order, at most `limit`. */
export function transfersAfter(sql: CountedSql, afterSeq: number, limit: number): TransferRow[] {
  return sql
    .rows<TransferRecord>(`SELECT ${COLUMNS} FROM transfers WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
    .map(toTransferRow);
}

/** The seq and tag a transfer id of the current form carries; null for any other string. */
export function parseTransferId(id: string): { seq: number; tag: number } | null {
  const parsed = parseRowId(id);
  return parsed?.prefix === TRANSFER_PREFIX ? { seq: parsed.seq, tag: parsed.tag } : null;
}

/** The transfer with this id, or null. */
export function findTransfer(sql: CountedSql, id: string): TransferRow | null {
  const parsed = parseRowId(id);
  if (parsed?.prefix !== TRANSFER_PREFIX) return null;
  const row = sql.first<TransferRecord>(
    `SELECT ${COLUMNS} FROM transfers WHERE seq = ? AND tag = ?`,
    parsed.seq,
    parsed.tag,
  );
  return row === undefined ? null : toTransferRow(row);
}

/** Pending transfers whose next delivery is due, earliest first, at most `limit`. */
export function dueTransfers(sql: CountedSql, nowMs: number, limit: number): TransferRow[] {
  return sql
    .rows<TransferRecord>(
      `SELECT ${COLUMNS} FROM transfers WHERE state = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?`,
      nowMs,
      limit,
    )
    .map(toTransferRow);
}

/** A leg this object refused while its account was not opened: its code, or null. */
export function findRefusal(sql: CountedSql, legKey: string): string | null {
  const exists = sql.first<{ one: number }>(
    "SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'transfer_refusals'",
  );
  if (exists === undefined) return null;
  return sql.first<{ code: string }>("SELECT code FROM transfer_refusals WHERE leg_key = ?", legKey)?.code ?? null;
}

/** Records a leg refused for good, creating the table in an object that has no schema (an account never opened). */
export function recordRefusal(sql: CountedSql, legKey: string, code: string, nowMs: number): void {
  sql.run(TRANSFER_REFUSALS_TABLE);
  sql.run("INSERT OR IGNORE INTO transfer_refusals (leg_key, code, decided_ms) VALUES (?, ?, ?)", legKey, code, nowMs);
}

export interface RefusalRow {
  readonly legKey: string;
  readonly code: string;
  readonly decidedMs: number;
}

/** The refused legs after `afterKey`, in key order, at most `limit`. */
export function refusalsAfter(sql: CountedSql, afterKey: string, limit: number): RefusalRow[] {
  return sql
    .rows<{ leg_key: string; code: string; decided_ms: number }>(
      "SELECT leg_key, code, decided_ms FROM transfer_refusals WHERE leg_key > ? ORDER BY leg_key LIMIT ?",
      afterKey,
      limit,
    )
    .map((row) => ({ legKey: row.leg_key, code: row.code, decidedMs: row.decided_ms }));
}

/** How many legs this object refused; none is ever deleted. */
export function refusalCount(sql: CountedSql): number {
  return sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM transfer_refusals")?.n ?? 0;
}

function toState(state: string, seq: number): TransferState {
  const known = TRANSFER_STATES.find((s) => s === state);
  if (known === undefined) throw new Error(`invariant: transfer ${seq} is in state ${state}`);
  return known;
}

/** Paired with insertTransfer's and resolveTransfer's checks. */
function toTransferRow(row: TransferRecord): TransferRow {
  assertAmount(row.amount);
  const state = toState(row.state, row.seq);
  if ((state === "voided") !== (row.reason !== null) || (state === "pending") !== (row.resolved_ms === null)) {
    throw new Error(
      `invariant: transfer ${row.seq} is ${state}, reason ${String(row.reason)}, resolved ${String(row.resolved_ms)}`,
    );
  }
  return {
    seq: row.seq,
    id: formatRowId(TRANSFER_PREFIX, row.tag, row.seq),
    to: row.to_account,
    amount: row.amount,
    state,
    reason: row.reason,
    createdMs: row.created_ms,
    resolvedMs: row.resolved_ms,
    attempts: row.attempts,
    nextAttemptMs: row.next_attempt_ms,
    idempotencyKey: row.idempotency_key,
    description: row.description,
    metadata: row.metadata === null ? {} : (JSON.parse(row.metadata) as Metadata),
    keyId: row.key_id,
  };
}
