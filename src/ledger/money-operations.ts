import type { MoneyCommand, MoneyInput, RefundInput } from "../domain/commands.ts";
import { applyCapture, applyHold, applyVoid } from "./hold-operations.ts";
import { applySettle, applyTransfer, applyTransferIn } from "./transfer-operations.ts";
import type { HeldFunds } from "./held-funds.ts";
import { debit, deposit } from "../domain/money.ts";
import type { Failure, FailureOf } from "../domain/problems.ts";
import {
  appendEntry,
  addRefund,
  findEntryById,
  refundedAmount,
  type AccountRow,
  type EntryRow,
  type LaterRows,
  type LedgerHead,
} from "./ledger-store.ts";
import { failure, type Outcome } from "../contract/outcome.ts";
import type { CountedSql } from "./sql.ts";
import { ENTRY_VIEW_VERSION, renderDecidedEntry } from "./row-views.ts";

/**
 * Where credits, charges and refunds are applied to the ledger (holds and
 * their captures in hold-operations.ts). Each check
 * runs in the order the API promises (currency, then funds, then the
 * balance cap) and a decline changes nothing. Callers run these inside the
 * account's storage transaction.
 */

export interface ApplyContext {
  readonly sql: CountedSql;
  readonly account: AccountRow;
  /** The ledger's last entry as it stands, kept in memory by the caller. */
  readonly head: LedgerHead;
  readonly idempotencyKey: string;
  /** The pos its key row takes (key-rows.ts), which the entry names. */
  readonly keyPos: number;
  /** The API key that sent it, stored on the entry. */
  readonly keyId: string | null;
  readonly nowMs: number;
  /** Charges that left the object for the archive, read beforehand: a refund still finds its charge. */
  readonly archivedCharges?: ReadonlyMap<string, EntryRow> | undefined;
  /** Where a batch holds a credit's or a charge's entry row, to write it with its others (batch-rows.ts); a refund reads storage, so is never held. */
  readonly later?: LaterRows | undefined;
}

/** The answer, the entry appended when money moved (a decline appends none), and what is held after, when that moved. */
export interface Applied {
  readonly outcome: Outcome;
  readonly entry: EntryRow | null;
  readonly held?: HeldFunds;
}

export function applyMoneyCommand(ctx: ApplyContext, command: MoneyCommand): Applied {
  switch (command.type) {
    case "credit":
      return applyCredit(ctx, command.input);
    case "charge":
      return applyCharge(ctx, command.input);
    case "refund":
      return applyRefund(ctx, command.input);
    case "hold":
      return applyHold(ctx, command.input);
    case "capture":
      return applyCapture(ctx, command.input);
    case "void":
      return applyVoid(ctx, command.input);
    case "transfer":
      return applyTransfer(ctx, command.input);
    case "transfer_in":
      return applyTransferIn(ctx, command.input);
    case "transfer_settle":
      return applySettle(ctx, command.input);
  }
}

function applyCredit(ctx: ApplyContext, input: MoneyInput): Applied {
  const mismatch = checkCurrency(ctx.account, input.currency);
  if (mismatch) return declined(mismatch);
  const result = deposit(ctx.head.balance, input.amount);
  if (!result.ok) return declined(result.error);
  return appendMoney(ctx, result.value, "credit", input.amount, input);
}

function applyCharge(ctx: ApplyContext, input: MoneyInput): Applied {
  const mismatch = checkCurrency(ctx.account, input.currency);
  if (mismatch) return declined(mismatch);
  const result = debit(ctx.head.balance, input.amount, ctx.account.overdraftLimit, ctx.head.held);
  if (!result.ok) return declined(result.error);
  return appendMoney(ctx, result.value, "charge", -input.amount, input);
}

/** Appends a credit's or a charge's entry, signed `amount`, and decides its key. */
export function appendMoney(
  ctx: ApplyContext,
  balanceAfter: number,
  type: "credit" | "charge" | "capture" | "transfer_out" | "transfer_in",
  amount: number,
  input: Pick<MoneyInput, "description" | "metadata">,
  names: string | null = null,
): Applied {
  const entry = appendEntry(
    ctx.sql,
    ctx.head,
    balanceAfter,
    {
      type,
      amount,
      createdMs: ctx.nowMs,
      idempotencyKey: ctx.idempotencyKey,
      keyPos: ctx.keyPos,
      keyId: ctx.keyId,
      names,
      description: input.description ?? null,
      metadata: input.metadata ?? {},
    },
    ctx.later,
  );
  return decided(ctx, entry);
}

function applyRefund(ctx: ApplyContext, input: RefundInput): Applied {
  const mismatch = input.currency === undefined ? null : checkCurrency(ctx.account, input.currency);
  if (mismatch) return declined(mismatch);
  const charge = findEntryById(ctx.sql, input.charge) ?? ctx.archivedCharges?.get(input.charge) ?? null;
  // A capture is refunded as a charge is: both took money from the account.
  if (charge === null || (charge.type !== "charge" && charge.type !== "capture")) {
    return declined(chargeNotFound(input.charge));
  }
  const refunded = refundedAmount(ctx.sql, charge.id);
  // Refunds never exceed their charge: each was at most what was left (below), so the stored total is too.
  if (refunded < 0 || refunded > -charge.amount) {
    throw new Error(`invariant: charge ${charge.id} of ${-charge.amount} has ${refunded} refunded`);
  }
  const refundable = -charge.amount - refunded;
  const amount = input.amount ?? refundable;
  if (amount === 0 || amount > refundable) {
    return declined({ code: "refund_exceeds_charge", chargeId: charge.id, refundable, requested: amount });
  }
  const result = deposit(ctx.head.balance, amount);
  if (!result.ok) return declined(result.error);
  const entry = appendEntry(ctx.sql, ctx.head, result.value, {
    type: "refund",
    amount,
    createdMs: ctx.nowMs,
    idempotencyKey: ctx.idempotencyKey,
    keyPos: ctx.keyPos,
    keyId: ctx.keyId,
    names: charge.id,
    description: input.description ?? null,
    metadata: input.metadata ?? {},
  });
  addRefund(ctx.sql, charge.id, amount);
  return decided(ctx, entry);
}

/** A 201 rendered exactly as its replays will render it (row-views.ts). */
function decided(ctx: ApplyContext, entry: EntryRow): Applied {
  const outcome = { status: 201, body: renderDecidedEntry(ENTRY_VIEW_VERSION, entry, ctx.account.currency) };
  return { outcome: { ...outcome, replayed: false, facts: { code: null } }, entry };
}

export function declined(f: Failure): Applied {
  return { outcome: failure(f), entry: null };
}

export function chargeNotFound(chargeId: string): FailureOf<"charge_not_found"> {
  return { code: "charge_not_found", chargeId };
}

export function checkCurrency(account: AccountRow, currency: string): Failure | null {
  if (currency === account.currency) return null;
  return { code: "currency_mismatch", accountCurrency: account.currency, requestCurrency: currency };
}
