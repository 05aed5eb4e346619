import type { MoneyCommand, MoneyInput, RefundInput } from "../domain/commands.ts";
import { debit, deposit } from "../domain/money.ts";
import type { Failure, FailureOf } from "../domain/problems.ts";
import { appendEntry, findEntryById, readHead, refundedAmount, type AccountRow } from "./ledger-store.ts";
import { failure, success, type Outcome } from "./outcome.ts";
import { chargeView, entryView, refundView } from "./views.ts";

/**
 * Where credits, charges and refunds are applied to the ledger. Each check
 * runs in the order the API promises (currency, then funds, then the
 * balance cap) and a decline changes nothing. Callers run these inside the
 * account's storage transaction.
 */

interface ApplyContext {
  readonly sql: SqlStorage;
  readonly account: AccountRow;
  readonly idempotencyKey: string;
  readonly nowMs: number;
}

export function applyMoneyCommand(ctx: ApplyContext, command: MoneyCommand): Outcome {
  switch (command.type) {
    case "credit":
      return applyCredit(ctx, command.input);
    case "charge":
      return applyCharge(ctx, command.input);
    case "refund":
      return applyRefund(ctx, command.input);
  }
}

function applyCredit(ctx: ApplyContext, input: MoneyInput): Outcome {
  const mismatch = checkCurrency(ctx.account, input.currency);
  if (mismatch) return failure(mismatch);
  const head = readHead(ctx.sql);
  const result = deposit(head.balance, input.amount);
  if (!result.ok) return failure(result.error);
  const entry = appendEntry(ctx.sql, head, result.value, {
    type: "credit",
    amount: input.amount,
    createdMs: ctx.nowMs,
    idempotencyKey: ctx.idempotencyKey,
    chargeId: null,
    description: input.description ?? null,
    metadata: input.metadata ?? {},
  });
  return success(201, entryView(entry, ctx.account.currency));
}

function applyCharge(ctx: ApplyContext, input: MoneyInput): Outcome {
  const mismatch = checkCurrency(ctx.account, input.currency);
  if (mismatch) return failure(mismatch);
  const head = readHead(ctx.sql);
  const result = debit(head.balance, input.amount, ctx.account.overdraftLimit);
  if (!result.ok) return failure(result.error);
  const entry = appendEntry(ctx.sql, head, result.value, {
    type: "charge",
    amount: -input.amount,
    createdMs: ctx.nowMs,
    idempotencyKey: ctx.idempotencyKey,
    chargeId: null,
    description: input.description ?? null,
    metadata: input.metadata ?? {},
  });
  return success(201, chargeView(entry, ctx.account.currency, 0));
}

function applyRefund(ctx: ApplyContext, input: RefundInput): Outcome {
  const mismatch = input.currency === undefined ? null : checkCurrency(ctx.account, input.currency);
  if (mismatch) return failure(mismatch);
  const charge = findEntryById(ctx.sql, input.charge);
  if (charge === null || charge.type !== "charge") return failure(chargeNotFound(input.charge));
  const refundable = -charge.amount - refundedAmount(ctx.sql, charge.id);
  const amount = input.amount ?? refundable;
  if (amount === 0 || amount > refundable) {
    return failure({ code: "refund_exceeds_charge", chargeId: charge.id, refundable, requested: amount });
  }
  const head = readHead(ctx.sql);
  const result = deposit(head.balance, amount);
  if (!result.ok) return failure(result.error);
  const entry = appendEntry(ctx.sql, head, result.value, {
    type: "refund",
    amount,
    createdMs: ctx.nowMs,
    idempotencyKey: ctx.idempotencyKey,
    chargeId: charge.id,
    description: input.description ?? null,
    metadata: input.metadata ?? {},
  });
  return success(201, refundView(entry, ctx.account.currency));
}

export function chargeNotFound(chargeId: string): FailureOf<"charge_not_found"> {
  return { code: "charge_not_found", chargeId };
}

export function checkCurrency(account: AccountRow, currency: string): Failure | null {
  if (currency === account.currency) return null;
  return { code: "currency_mismatch", accountCurrency: account.currency, requestCurrency: currency };
}
