import { differingFields } from "../domain/fingerprint.ts";
import type { KeyedRequest, MoneyRequest } from "../contract/requests.ts";
import {
  findKeyRow,
  insertKeyRow,
  requestTag,
  storedDigests,
  storedFingerprint,
  type KeyRow,
  type LaterKeyRows,
} from "./key-rows.ts";
import { hasLegacyKeys, readKeyState } from "./key-state.ts";
import { findEntryBySeq, type AccountRow, type EntryRow, type LaterRows, type LedgerHead } from "./ledger-store.ts";
import { ENTRY_VIEW_VERSION, renderDecidedEntry } from "./row-views.ts";
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
  /** Charges that left the object, read from the archive before the group, that refunds may name. */
  readonly archivedCharges?: ReadonlyMap<string, EntryRow>;
  /** Where a batch holds the rows of a fresh decision, to write them with its others (batch-rows.ts). */
  readonly later?: LaterRows & LaterKeyRows;
}

export interface Decision {
  readonly outcome: Outcome;
  /** The ledger's head after the decision: moved on when money moved or a key was recorded. */
  readonly head: LedgerHead;
}

/**
 * What a request with a key already decided gets, from what is stored about
 * the key: a replay of its response while it is kept, a 422 naming what
 * differs for a different request, or, once it has expired, a 409 that says
 * what the decision was; it never runs again. Null when the object holds no
 * decision for the key (an archived key is looked up beforehand, in the
 * archive). Read-only: such answers need no commit. `currency` renders a
 * response rendered from its entry: the account's, null before it exists.
 */
export function answerForUsedKey(
  sql: CountedSql,
  request: KeyedRequest,
  nowMs: number,
  currency: string | null,
): Outcome | null {
  const row = findKeyRow(sql, request.idempotencyKey);
  if (row !== null) return answerFromKeyRow(sql, row, request, nowMs, currency);
  return hasLegacyKeys(sql) ? answerFromLegacy(sql, request, nowMs) : null;
}

/** The entry a key row names (null when it moved no money), checked to carry the key. */
export function entryOfKeyRow(sql: CountedSql, row: KeyRow): EntryRow | null {
  const entry = row.entrySeq === null ? null : findEntryBySeq(sql, row.entrySeq);
  // Paired with recordDecision: a key names the entry it appended, and that entry carries the key.
  if (row.entrySeq !== null && entry?.idempotencyKey !== row.key) {
    throw new Error(`invariant: key ${row.key} names entry ${row.entrySeq}, which carries ${entry?.idempotencyKey}`);
  }
  return entry;
}

function answerFromKeyRow(
  sql: CountedSql,
  row: KeyRow,
  request: KeyedRequest,
  nowMs: number,
  currency: string | null,
): Outcome {
  const entry = entryOfKeyRow(sql, row);
  if (row.expiresMs <= nowMs) {
    return failure({
      code: "idempotency_key_expired",
      originalStatus: row.status,
      originalCode: row.code,
      entry: entry?.id ?? null,
    });
  }
  if (row.fingerprint !== storedFingerprint(request.fingerprint)) {
    const fields =
      row.digests === null || request.fieldDigests === undefined
        ? undefined
        : differingFields(row.digests, storedDigests(request.fieldDigests));
    return failure(
      fields === undefined ? { code: "idempotency_key_reused" } : { code: "idempotency_key_reused", fields },
    );
  }
  const body = row.body ?? renderDecidedEntry(row.view, entry as EntryRow, currency ?? "");
  // The same request id means the caller retried a call whose answer was lost: not a replay to the client.
  const replay = { status: row.status, body, replayed: row.requestTag !== requestTag(request.requestId) };
  return withFacts(replay, { code: row.code, recorded: true, originalRequestId: row.origin });
}

/** Keys decided before schema 7: their stored response, else their decision, else the entry that carries them. */
function answerFromLegacy(sql: CountedSql, request: KeyedRequest, nowMs: number): Outcome | null {
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

/**
 * Records an outcome under its key, as key row `pos`: for ever, its response
 * until it expires. A response that moved money is not stored but rendered
 * from `entry` (by ENTRY_VIEW_VERSION); any other is stored as it is.
 */
export function recordDecision(
  sql: CountedSql,
  request: KeyedRequest,
  outcome: Outcome,
  entry: EntryRow | null,
  pos: number,
  nowMs: number,
  ttlMs: number,
  later?: LaterKeyRows,
): void {
  const expiresMs = nowMs + ttlMs;
  insertKeyRow(
    sql,
    {
      key: request.idempotencyKey,
      fingerprint: storedFingerprint(request.fingerprint),
      status: outcome.status,
      code: outcome.facts?.code ?? null,
      entrySeq: entry?.seq ?? null,
      decidedMs: nowMs,
      expiresMs,
      requestTag: requestTag(request.requestId),
      origin: request.origin.requestId,
      digests: request.fieldDigests === undefined ? null : storedDigests(request.fieldDigests),
      view: entry === null ? 0 : ENTRY_VIEW_VERSION,
      body: entry === null ? outcome.body : null,
    },
    pos,
    later,
  );
}

/**
 * Decides a money request. `fresh` says the caller has just found the key
 * unused and nothing that could use it was waiting meanwhile, so it is not
 * looked up again; the tables' unique keys stand behind that either way.
 */
export function decide(ctx: DecisionContext, request: MoneyRequest, fresh = false): Decision {
  const used = fresh ? null : answerForUsedKey(ctx.sql, request, ctx.nowMs, ctx.account.currency);
  if (used !== null) return { outcome: used, head: ctx.head };

  const pos = ctx.head.keyPos + 1;
  const applied = applyMoneyCommand(
    {
      sql: ctx.sql,
      account: ctx.account,
      head: ctx.head,
      idempotencyKey: request.idempotencyKey,
      keyPos: pos,
      keyId: request.origin.keyId,
      nowMs: ctx.nowMs,
      archivedCharges: ctx.archivedCharges,
      later: ctx.later,
    },
    request.command,
  );
  const { entry } = applied;
  recordDecision(ctx.sql, request, applied.outcome, entry, pos, ctx.nowMs, ctx.ttlMs, ctx.later);
  // A hold placed or released moves what is held; the key row moves the pos; an entry moves the balance.
  const head = { ...ctx.head, ...applied.held, keyPos: pos };
  if (entry === null) return { outcome: withFacts(applied.outcome, { recorded: true }), head };
  return {
    outcome: withFacts(applied.outcome, {
      recorded: true,
      entry: { id: entry.id, seq: entry.seq, amount: entry.amount, currency: ctx.account.currency },
    }),
    head: { ...head, balance: entry.balanceAfter, entryCount: entry.seq },
  };
}

function problemCodeOf(body: string): string | null {
  const code = (JSON.parse(body) as { code?: unknown }).code;
  return typeof code === "string" ? code : null;
}
