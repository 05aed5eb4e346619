import { differingFields } from "../domain/fingerprint.ts";
import type { KeyedRequest, MoneyRequest } from "../contract/requests.ts";
import { saveDecision } from "./decisions.ts";
import { saveRecord } from "./idempotency-records.ts";
import { readKeyState } from "./key-state.ts";
import type { AccountRow, LedgerHead } from "./ledger-store.ts";
import { applyMoneyCommand } from "./money-operations.ts";
import { failure, withFacts, type Outcome } from "../contract/outcome.ts";
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
 * What a request with a key already decided gets, from what is stored about
 * the key: a replay of its live record, a 422 naming what differs for a
 * different request, or, once the stored response has expired, a 409 that
 * says what the decision was; it never runs again. Null when the key was
 * never decided. Read-only: such answers need no commit.
 */
export function answerForUsedKey(sql: CountedSql, request: KeyedRequest, nowMs: number): Outcome | null {
  const { record, decision, legacyEntryId } = readKeyState(sql, request.idempotencyKey, nowMs);
  if (record !== null) {
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
    return withFacts(replay, {
      code: record.status >= 400 ? problemCodeOf(record.body) : null,
      recorded: true,
      originalRequestId: record.originRequestId,
    });
  }
  if (decision !== null) {
    return failure({
      code: "idempotency_key_expired",
      originalStatus: decision.status,
      originalCode: decision.code,
      entry: decision.entryId,
    });
  }
  // Keys that moved money before decisions were kept are known by their entries.
  if (legacyEntryId !== null) {
    return failure({ code: "idempotency_key_expired", originalStatus: 201, originalCode: null, entry: legacyEntryId });
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
    originRequestId: request.origin.requestId,
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

/**
 * Decides a money request. `fresh` says the caller has just found the key
 * unused and nothing that could use it was waiting meanwhile, so it is not
 * looked up again; the tables' unique keys stand behind that either way.
 */
export function decide(ctx: DecisionContext, request: MoneyRequest, fresh = false): Decision {
  const used = fresh ? null : answerForUsedKey(ctx.sql, request, ctx.nowMs);
  if (used !== null) return { outcome: used, head: ctx.head, recordExpiresMs: null };

  const applied = applyMoneyCommand(
    {
      sql: ctx.sql,
      account: ctx.account,
      head: ctx.head,
      idempotencyKey: request.idempotencyKey,
      keyId: request.origin.keyId,
      nowMs: ctx.nowMs,
    },
    request.command,
  );
  const { entry } = applied;
  const expiresMs = recordDecision(ctx.sql, request, applied.outcome, entry?.id ?? null, ctx.nowMs, ctx.ttlMs);
  if (entry === null) {
    return { outcome: withFacts(applied.outcome, { recorded: true }), head: ctx.head, recordExpiresMs: expiresMs };
  }
  return {
    outcome: withFacts(applied.outcome, {
      recorded: true,
      entry: { id: entry.id, seq: entry.seq, amount: entry.amount, currency: ctx.account.currency },
    }),
    head: { balance: entry.balanceAfter, entryCount: entry.seq },
    recordExpiresMs: expiresMs,
  };
}

function problemCodeOf(body: string): string | null {
  const code = (JSON.parse(body) as { code?: unknown }).code;
  return typeof code === "string" ? code : null;
}
