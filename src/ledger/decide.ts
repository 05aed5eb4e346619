import { differingFields } from "../domain/fingerprint.ts";
import type { KeyedRequest, MoneyRequest } from "./commands.ts";
import { findDecision, saveDecision } from "./decisions.ts";
import { findLiveRecord, saveRecord } from "./idempotency-records.ts";
import { findEntryByKey, type AccountRow, type LedgerHead } from "./ledger-store.ts";
import { applyMoneyCommand } from "./money-operations.ts";
import { failure, withFacts, type Outcome } from "./outcome.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The one decision of a request with an Idempotency-Key, whatever way it
 * came in (a single request, an operation of a batch): the key is checked,
 * the change applied, the response recorded, and the decision kept for
 * ever. Run inside the account's transaction.
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
 * a 422 naming what differs for a different request. Null when there is no
 * live record. A replay needs no write, so it is answered without waiting
 * for a commit.
 */
export function replayOrReuse(sql: CountedSql, request: KeyedRequest, nowMs: number): Outcome | null {
  const record = findLiveRecord(sql, request.idempotencyKey, nowMs);
  if (record === null) return null;
  if (record.fingerprint !== request.fingerprint) {
    const fields =
      record.fieldDigests === null || request.fieldDigests === undefined
        ? undefined
        : differingFields(record.fieldDigests, request.fieldDigests);
    return failure(
      fields === undefined ? { code: "idempotency_key_reused" } : { code: "idempotency_key_reused", fields },
    );
  }
  // The same request id means the caller retried a call whose answer was lost: not a replay to the client.
  const replay = { status: record.status, body: record.body, replayed: record.requestId !== request.requestId };
  return withFacts(replay, { code: record.status >= 400 ? problemCodeOf(record.body) : null, recorded: true });
}

/**
 * What a request with a key already decided gets: a replay, a 422, or,
 * once the stored response has expired, a 409 that says what the decision
 * was; it never runs again. Null when the key was never decided.
 */
export function answerForUsedKey(sql: CountedSql, request: KeyedRequest, nowMs: number): Outcome | null {
  const recorded = replayOrReuse(sql, request, nowMs);
  if (recorded !== null) return recorded;
  const decision = findDecision(sql, request.idempotencyKey);
  if (decision !== null) {
    return failure({
      code: "idempotency_key_expired",
      originalStatus: decision.status,
      originalCode: decision.code,
      entry: decision.entryId,
    });
  }
  // Keys that moved money before decisions were kept are known by their entries.
  const entry = findEntryByKey(sql, request.idempotencyKey);
  if (entry !== null) {
    return failure({ code: "idempotency_key_expired", originalStatus: 201, originalCode: null, entry: entry.id });
  }
  return null;
}

/** Records an outcome under its key: the response until it expires, the decision for ever. */
export function recordDecision(
  sql: CountedSql,
  request: KeyedRequest,
  outcome: Outcome,
  entryId: string | null,
  nowMs: number,
  ttlMs: number,
): number {
  const expiresMs = nowMs + ttlMs;
  saveRecord(sql, {
    key: request.idempotencyKey,
    requestId: request.requestId,
    fingerprint: request.fingerprint,
    status: outcome.status,
    body: outcome.body,
    createdMs: nowMs,
    expiresMs,
    fieldDigests: request.fieldDigests ?? null,
  });
  saveDecision(sql, {
    key: request.idempotencyKey,
    fingerprint: request.fingerprint,
    status: outcome.status,
    code: outcome.facts?.code ?? null,
    entryId,
    decidedMs: nowMs,
  });
  return expiresMs;
}

export function decide(ctx: DecisionContext, request: MoneyRequest): Decision {
  const used = answerForUsedKey(ctx.sql, request, ctx.nowMs);
  if (used !== null) return { outcome: used, head: ctx.head, recordExpiresMs: null };

  const applied = applyMoneyCommand(
    { sql: ctx.sql, account: ctx.account, head: ctx.head, idempotencyKey: request.idempotencyKey, nowMs: ctx.nowMs },
    request.command,
  );
  const { entry } = applied;
  const expiresMs = recordDecision(ctx.sql, request, applied.outcome, entry?.id ?? null, ctx.nowMs, ctx.ttlMs);
  if (entry === null) {
    return { outcome: withFacts(applied.outcome, { recorded: true }), head: ctx.head, recordExpiresMs: expiresMs };
  }
  return {
    outcome: withFacts(applied.outcome, { recorded: true, entry: { id: entry.id, seq: entry.seq } }),
    head: { balance: entry.balanceAfter, entryCount: entry.seq },
    recordExpiresMs: expiresMs,
  };
}

function problemCodeOf(body: string): string | null {
  const code = (JSON.parse(body) as { code?: unknown }).code;
  return typeof code === "string" ? code : null;
}
