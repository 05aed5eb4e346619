import type { CaptureInput, HoldInput, VoidInput } from "../domain/commands.ts";
import { HOLD_DEFAULT_EXPIRES_IN_SECONDS, HOLD_EXPIRY_BATCH_SIZE } from "../domain/limits.ts";
import { debit } from "../domain/money.ts";
import type { Failure } from "../domain/problems.ts";
import { success } from "../contract/outcome.ts";
import { readHeldAfter, type HeldFunds } from "./held-funds.ts";
import { dueHolds, findHold, insertHold, resolveHold, type HoldRow } from "./hold-store.ts";
import type { LedgerHead } from "./ledger-store.ts";
import { appendMoney, checkCurrency, declined, type Applied, type ApplyContext } from "./money-operations.ts";
import { holdView } from "./row-views.ts";
import { HOLDS_SCHEMA, raiseReadableFrom } from "./schema.ts";
import type { CountedSql } from "./sql.ts";

/**
 * Where holds are placed, captured, voided and expired. A held hold's amount
 * is not available to later charges and holds, though the balance has not
 * moved; a capture appends one entry (type `capture`, naming the hold) and
 * releases the rest; a void or an expiry releases all of it and appends no
 * entry. A hold leaves `held` once, to its final state. Callers run these
 * inside the account's storage transaction; the ledger head carries what is
 * held, moved only by what these answer.
 */

/** Places a hold: declined as a charge would be (currency, then funds), recorded, final. */
export function applyHold(ctx: ApplyContext, input: HoldInput): Applied {
  const mismatch = checkCurrency(ctx.account, input.currency);
  if (mismatch) return declined(mismatch);
  const funds = debit(ctx.head.balance, input.amount, ctx.account.overdraftLimit, ctx.head.held);
  if (!funds.ok) return declined(funds.error);
  // Code older than holds would spend what this sets aside: it may no longer read this account.
  raiseReadableFrom(ctx.sql, HOLDS_SCHEMA);
  const expiresMs = ctx.nowMs + (input.expires_in ?? HOLD_DEFAULT_EXPIRES_IN_SECONDS) * 1000;
  const hold = insertHold(ctx.sql, {
    amount: input.amount,
    expiresMs,
    createdMs: ctx.nowMs,
    idempotencyKey: ctx.idempotencyKey,
    description: input.description ?? null,
    metadata: input.metadata ?? {},
    keyId: ctx.keyId,
    entrySeqBefore: ctx.head.entryCount,
  });
  const held: HeldFunds = {
    held: ctx.head.held + hold.amount,
    holdsDueMs: ctx.head.holdsDueMs === null ? expiresMs : Math.min(ctx.head.holdsDueMs, expiresMs),
    transfersDueMs: ctx.head.transfersDueMs,
  };
  return { outcome: success(201, holdView(hold, ctx.account.currency)), entry: null, held };
}

/**
 * Captures at most the held amount as one entry, and releases the rest. A
 * hold no longer held is a recorded 409 naming its state; one whose expiry
 * has come is expired now (the alarm may not have run yet) and refused so.
 */
export function applyCapture(ctx: ApplyContext, input: CaptureInput): Applied {
  // A capture reads its hold from storage: a batch never holds its entry back (batch-rows.ts).
  if (ctx.later !== undefined) throw new Error("invariant: a capture's entry is never written later");
  const found = heldHold(ctx, input.hold);
  if (!found.ok) return found.refused;
  const hold = found.hold;
  const amount = input.amount ?? hold.amount;
  if (amount > hold.amount) {
    return declined({ code: "capture_exceeds_hold", holdId: hold.id, capturable: hold.amount, requested: amount });
  }
  // The funds were set aside when the hold was placed: the capture takes them whatever is available now.
  const balanceAfter = ctx.head.balance - amount;
  // The entry carries the hold's description and metadata: it is the payment the hold authorized.
  const described = { description: hold.description ?? undefined, metadata: hold.metadata };
  const applied = appendMoney(ctx, balanceAfter, "capture", -amount, described, hold.id);
  const entry = applied.entry;
  if (entry === null) throw new Error(`invariant: capturing hold ${hold.id} appended no entry`);
  resolveHold(ctx.sql, hold, "captured", ctx.nowMs, entry.seq, { amount, id: entry.id });
  return { ...applied, held: released(ctx.sql, ctx.head, hold) };
}

/** Voids a held hold: all of it goes back. Answered 200 with the hold, now `voided`. */
export function applyVoid(ctx: ApplyContext, input: VoidInput): Applied {
  const found = heldHold(ctx, input.hold);
  if (!found.ok) return found.refused;
  const voided = resolveHold(ctx.sql, found.hold, "voided", ctx.nowMs, ctx.head.entryCount, null);
  return {
    outcome: success(200, holdView(voided, ctx.account.currency)),
    entry: null,
    held: released(ctx.sql, ctx.head, found.hold),
  };
}

/**
 * Expires held holds whose time has come, at most HOLD_EXPIRY_BATCH_SIZE:
 * how many, and what is held after. Run by each group commit before it
 * decides anything, and by the alarm.
 */
export function expireDueHolds(sql: CountedSql, head: LedgerHead, nowMs: number): { expired: number; held: HeldFunds } {
  const due = dueHolds(sql, nowMs, HOLD_EXPIRY_BATCH_SIZE);
  for (const hold of due) resolveHold(sql, hold, "expired", nowMs, head.entryCount, null);
  if (due.length === 0) return { expired: 0, held: head };
  return { expired: due.length, held: readHeldAfter(sql, head.held - due.reduce((sum, hold) => sum + hold.amount, 0)) };
}

/** The hold named, if it is held now; else the recorded refusal its state gets (a due hold is expired first). */
function heldHold(ctx: ApplyContext, id: string): { ok: true; hold: HoldRow } | { ok: false; refused: Applied } {
  const hold = findHold(ctx.sql, id);
  if (hold === null) return { ok: false, refused: declined({ code: "hold_not_found", holdId: id }) };
  if (hold.state === "held" && hold.expiresMs <= ctx.nowMs) {
    resolveHold(ctx.sql, hold, "expired", ctx.nowMs, ctx.head.entryCount, null);
    return {
      ok: false,
      refused: { ...declined(stateRefusal("expired", id)), held: released(ctx.sql, ctx.head, hold) },
    };
  }
  if (hold.state !== "held") return { ok: false, refused: declined(stateRefusal(hold.state, id)) };
  return { ok: true, hold };
}

function stateRefusal(state: "captured" | "voided" | "expired", holdId: string): Failure {
  return { code: `hold_${state}`, holdId };
}

/** What is held once `hold` has left `held`. */
function released(sql: CountedSql, head: LedgerHead, hold: HoldRow): HeldFunds {
  return readHeldAfter(sql, head.held - hold.amount);
}
