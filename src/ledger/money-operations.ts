import type { MoneyInput, RefundInput } from "../api/schemas.ts";
import { debit, deposit } from "../domain/money.ts";
import { problem, type Problem } from "../domain/problems.ts";
import type { MoneyCommand } from "./commands.ts";
import {
  appendEntry,
  chargeView,
  entryView,
  findEntryById,
  readHead,
  refundedAmount,
  refundView,
  type AccountRow,
} from "./ledger-store.ts";
import { failure, success, type Outcome } from "./outcome.ts";

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
  switch (command.kind) {
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
  if (!result.ok) return failure(balanceLimitExceeded(head.balance, input.amount));
  const entry = appendEntry(ctx.sql, head, result.balanceAfter, {
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
  if (!result.ok) {
    return failure(
      problem(
        "insufficient_funds",
        `A charge of ${input.amount} would take the balance of ${head.balance} below the overdraft limit of ${ctx.account.overdraftLimit}.`,
      ),
    );
  }
  const entry = appendEntry(ctx.sql, head, result.balanceAfter, {
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
    return failure(
      problem("refund_exceeds_charge", `Charge ${charge.id} has ${refundable} left to refund; asked for ${amount}.`, {
        amount_refundable: refundable,
      }),
    );
  }
  const head = readHead(ctx.sql);
  const result = deposit(head.balance, amount);
  if (!result.ok) return failure(balanceLimitExceeded(head.balance, amount));
  const entry = appendEntry(ctx.sql, head, result.balanceAfter, {
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

export function chargeNotFound(chargeId: string): Problem {
  return problem("charge_not_found", `No charge ${chargeId} on this account.`);
}

export function checkCurrency(account: AccountRow, currency: string): Problem | null {
  if (currency === account.currency) return null;
  return problem("currency_mismatch", `The account is in ${account.currency}; the request is in ${currency}.`);
}

function balanceLimitExceeded(balance: number, amount: number): Problem {
  return problem(
    "balance_limit_exceeded",
    `Adding ${amount} to the balance of ${balance} would exceed the balance limit.`,
  );
}
