import type { MoneyRequest } from "./commands.ts";
import { findLiveRecord, saveRecord } from "./idempotency-records.ts";
import { findEntryByKey, type AccountRow, type LedgerHead } from "./ledger-store.ts";
import { applyMoneyCommand } from "./money-operations.ts";
import { failure, withFacts, type Outcome } from "./outcome.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The one decision of a money-moving request, whatever way it came in (a
 * single request, an operation of a batch): the key is checked, the change
 * applied, the response recorded. Run inside the account's transaction.
 */

export interface DecisionContext {
  readonly sql: CountedSql;
  readonly account: AccountRow;
  readonly head: LedgerHead;
  readonly nowMs: number;
  readonly ttlMs: number;
}

export interface Decision {
  readonly outcome: Outcome;
  /** The ledger's head after the decision: moved on when money moved. */
  readonly head: LedgerHead;
  /** The expiry of the record it wrote, if it wrote one. */
  readonly recordExpiresMs: number | null;
}

/**
 * The answer a live record holds for the key, read-only: a replay of it, or
 * a 422 for a different request. Null when there is no live record. A
 * replay needs no write, so it is answered without waiting for a commit.
 */
export function replayOrReuse(sql: CountedSql, request: MoneyRequest, nowMs: number): Outcome | null {
  const record = findLiveRecord(sql, request.idempotencyKey, nowMs);
  if (record === null) return null;
  if (record.fingerprint !== request.fingerprint) return failure({ code: "idempotency_key_reused" });
  // The same request id means the caller retried a call whose answer was lost: not a replay to the client.
  const replay = { status: record.status, body: record.body, replayed: record.requestId !== request.requestId };
  return withFacts(replay, { code: record.status >= 400 ? problemCodeOf(record.body) : null });
}

/**
 * What a request with an already-used key gets: a replay, a 422, or a 409
 * once the record expired if the key moved money. Null when the key is
 * unused (or its record expired after a decline): then it must be decided.
 */
export function answerForUsedKey(sql: CountedSql, request: MoneyRequest, nowMs: number): Outcome | null {
  const recorded = replayOrReuse(sql, request, nowMs);
  if (recorded !== null) return recorded;
  // No live record: the key may still have moved money before its record expired.
  const entry = findEntryByKey(sql, request.idempotencyKey);
  if (entry !== null) return failure({ code: "idempotency_key_expired", entry: entry.id });
  return null;
}

export function decide(ctx: DecisionContext, request: MoneyRequest): Decision {
  const used = answerForUsedKey(ctx.sql, request, ctx.nowMs);
  if (used !== null) return { outcome: used, head: ctx.head, recordExpiresMs: null };

  const applied = applyMoneyCommand(
    { sql: ctx.sql, account: ctx.account, head: ctx.head, idempotencyKey: request.idempotencyKey, nowMs: ctx.nowMs },
    request.command,
  );
  const expiresMs = ctx.nowMs + ctx.ttlMs;
  saveRecord(ctx.sql, {
    key: request.idempotencyKey,
    requestId: request.requestId,
    fingerprint: request.fingerprint,
    status: applied.outcome.status,
    body: applied.outcome.body,
    createdMs: ctx.nowMs,
    expiresMs,
  });
  const { entry } = applied;
  if (entry === null) return { outcome: applied.outcome, head: ctx.head, recordExpiresMs: expiresMs };
  return {
    outcome: withFacts(applied.outcome, { entry: { id: entry.id, seq: entry.seq } }),
    head: { balance: entry.balanceAfter, entryCount: entry.seq },
    recordExpiresMs: expiresMs,
  };
}

function problemCodeOf(body: string): string | null {
  const code = (JSON.parse(body) as { code?: unknown }).code;
  return typeof code === "string" ? code : null;
}
