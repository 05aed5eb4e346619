import { failure, success, withFacts, type Outcome } from "../contract/outcome.ts";
import type { KeyedRequest } from "../contract/requests.ts";
import type { PeriodView } from "../domain/views.ts";
import { answerForUsedKey, recordDecision } from "./decide.ts";
import { readHead } from "./ledger-store.ts";
import { insertPeriod, lastPeriod, objectsOf, type PeriodRow } from "./period-store.ts";
import type { CountedSql } from "./sql.ts";
import { timestamp } from "./row-views.ts";

/**
 * Closing the open period: at the latest entry, with the keys decided up to
 * now. Run inside the account's transaction, so the range closed is exactly
 * what is committed. An empty open period is not closed: null.
 */
export function closeOpenPeriod(sql: CountedSql, nowMs: number, idempotencyKey: string | null): PeriodRow | null {
  const head = readHead(sql);
  const previous = lastPeriod(sql);
  const firstSeq = (previous?.lastSeq ?? 0) + 1;
  if (head.entryCount < firstSeq) return null;
  const firstPos = (previous?.lastPos ?? 0) + 1;
  // Paired with readHead: the head the period closes at follows on from the last close.
  if (head.keyPos < firstPos - 1) {
    throw new Error(`invariant: the head is at key ${head.keyPos}, before the last close's ${firstPos - 1}`);
  }
  const period = {
    id: (previous?.id ?? 0) + 1,
    firstSeq,
    lastSeq: head.entryCount,
    firstPos,
    lastPos: head.keyPos,
    openingBalance: previous?.closingBalance ?? 0,
    closingBalance: head.balance,
    createdMs: nowMs,
  };
  insertPeriod(sql, period, idempotencyKey);
  return {
    ...period,
    firstDecidedMs: null,
    lastDecidedMs: null,
    state: "closing",
    progress: { phase: "entries", afterSeq: firstSeq - 1 },
    sha256: null,
    previousSha256: "",
    hotUntilMs: null,
    pruned: 0,
    filterKeys: 0,
    filterGeneration: 0,
  };
}

/**
 * A close asked for under an Idempotency-Key: decided once, like a money
 * request, its answer (the period as closed, or 409 period_empty) recorded
 * and replayed. Answers the key pos it recorded under (the head's unchanged
 * when the key was already used).
 */
export function decideClose(
  sql: CountedSql,
  request: KeyedRequest,
  currency: string,
  nowMs: number,
  ttlMs: number,
): { outcome: Outcome; keyPos: number } {
  const used = answerForUsedKey(sql, request, nowMs, currency);
  if (used !== null) return { outcome: used, keyPos: readHead(sql).keyPos };
  const period = closeOpenPeriod(sql, nowMs, request.idempotencyKey);
  const outcome =
    period === null
      ? failure({ code: "period_empty", lastSeq: readHead(sql).entryCount })
      : success(201, periodView(sql, period));
  const keyPos = readHead(sql).keyPos + 1;
  recordDecision(sql, request, outcome, null, keyPos, nowMs, ttlMs);
  return { outcome: withFacts(outcome, { recorded: true }), keyPos };
}

export function periodView(sql: CountedSql, period: PeriodRow): PeriodView {
  const archived = period.state === "archived";
  return {
    id: period.id,
    first_seq: period.firstSeq,
    last_seq: period.lastSeq,
    opening_balance: period.openingBalance,
    closing_balance: period.closingBalance,
    entry_count: period.lastSeq - period.firstSeq + 1,
    key_count: period.lastPos - period.firstPos + 1,
    sha256: archived ? period.sha256 : null,
    previous_sha256: archived ? period.previousSha256 : null,
    objects: archived
      ? objectsOf(sql, period.id).map(({ name, kind, bytes, sha256 }) => ({ name, kind, bytes, sha256 }))
      : [],
    state: period.state,
    created: timestamp(period.createdMs),
  };
}
