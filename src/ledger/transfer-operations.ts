import type { TransferInput, TransferLegInput, TransferSettleInput } from "../domain/commands.ts";
import { deposit, debit } from "../domain/money.ts";
import { requestFingerprint } from "../domain/fingerprint.ts";
import { moneyRequest, type MoneyRequest } from "../contract/requests.ts";
import { success, type Outcome } from "../contract/outcome.ts";
import { readHeldAfter, type HeldFunds } from "./held-funds.ts";
import { appendMoney, checkCurrency, declined, type Applied, type ApplyContext } from "./money-operations.ts";
import { transferView } from "./row-views.ts";
import { raiseReadableFrom, TRANSFERS_SCHEMA } from "./schema.ts";
import { findTransfer, insertTransfer, resolveTransfer, type TransferRow } from "./transfer-store.ts";

/**
 * Where a transfer between two accounts (two objects, no shared
 * transaction) is decided, in two phases:
 *
 * 1. The source decides the request under its key: the amount is set aside
 *    (held, as a hold's is) and the transfer recorded `pending`, in the
 *    transaction that records the key.
 * 2. The source's alarm delivers the destination's leg (transfer-delivery.ts).
 *    The destination decides it under a key of its own derived from the
 *    source and the transfer (`legKey`), so it is applied once for ever,
 *    archived like any key: a `transfer_in` entry, or a recorded refusal.
 * 3. The source settles under `settleKey`, once: posted (a `transfer_out`
 *    entry, the amount leaving the balance and the hold released) when the
 *    destination applied its leg, voided (the amount released) when it refused.
 *
 * Keys made here hold a space, which no client's Idempotency-Key may, so
 * none can collide with a client's.
 */

/** The destination's key for a transfer's leg. */
export function legKey(from: string, transfer: string): string {
  return `transfer_in ${from} ${transfer}`;
}

/** The source's key for settling a transfer. */
export function settleKey(transfer: string): string {
  return `transfer_out ${transfer}`;
}

/** The destination's leg of `transfer`, as the source sends it on every delivery (`attempt` tells deliveries apart). */
export function legRequest(from: string, currency: string, transfer: TransferRow, attempt: number): MoneyRequest {
  const input: TransferLegInput = {
    transfer: transfer.id,
    from,
    amount: transfer.amount,
    currency,
    description: transfer.description ?? undefined,
    metadata: transfer.metadata,
  };
  const requestId = `${transfer.id}:${attempt}`;
  return moneyRequest(
    requestId,
    { idempotencyKey: legKey(from, transfer.id), fingerprint: requestFingerprint("POST", "transfer_in", input) },
    { type: "transfer_in", input },
    // Both legs name the API key that asked for the transfer, as its entries' `key_id`.
    { requestId, keyId: transfer.keyId },
  );
}

/** The source's settlement of `transfer`, once its destination answered for good. */
export function settleRequest(transfer: TransferRow, outcome: TransferSettleInput["outcome"]): MoneyRequest {
  const input: TransferSettleInput = { transfer: transfer.id, outcome };
  const requestId = `${transfer.id}:settle`;
  return moneyRequest(
    requestId,
    { idempotencyKey: settleKey(transfer.id), fingerprint: requestFingerprint("POST", "transfer_out", input) },
    { type: "transfer_settle", input },
    { requestId, keyId: transfer.keyId },
  );
}

/**
 * What a destination's answer means for its transfer: post it (its leg was
 * applied, now or before), void it (the destination decided, for good, not
 * to apply it), or nothing yet (no final answer: the call failed, the
 * object was overloaded or could not serve the request's version).
 */
export function settlementOf(answer: Outcome): TransferSettleInput["outcome"] | null {
  if (answer.status === 201) return { post: true };
  const code = answer.facts?.code ?? null;
  if (code === "idempotency_key_expired") {
    const body = JSON.parse(answer.body) as { original_status?: unknown; original_code?: unknown };
    if (body.original_status === 201) return { post: true };
    return typeof body.original_code === "string" ? { post: false, reason: body.original_code } : null;
  }
  // Only a decision recorded under the leg's key is final; anything else may be answered otherwise next time.
  if (answer.facts?.recorded === true && answer.status >= 400 && code !== null) return { post: false, reason: code };
  return null;
}

/** Phase 1, at the source: declined as a charge would be, or the amount set aside and the transfer pending. */
export function applyTransfer(ctx: ApplyContext, input: TransferInput): Applied {
  if (input.to === ctx.account.name) return declined({ code: "transfer_to_self", account: ctx.account.name });
  const mismatch = checkCurrency(ctx.account, input.currency);
  if (mismatch) return declined(mismatch);
  const funds = debit(ctx.head.balance, input.amount, ctx.account.overdraftLimit, ctx.head.held);
  if (!funds.ok) return declined(funds.error);
  raiseReadableFrom(ctx.sql, TRANSFERS_SCHEMA);
  const transfer = insertTransfer(ctx.sql, {
    to: input.to,
    amount: input.amount,
    createdMs: ctx.nowMs,
    idempotencyKey: ctx.idempotencyKey,
    description: input.description ?? null,
    metadata: input.metadata ?? {},
    keyId: ctx.keyId,
  });
  const held: HeldFunds = {
    held: ctx.head.held + transfer.amount,
    holdsDueMs: ctx.head.holdsDueMs,
    transfersDueMs: ctx.nowMs,
  };
  return { outcome: success(201, transferView(transfer, ctx.account.name, ctx.account.currency)), entry: null, held };
}

/** Phase 2, at the destination: its leg, credited once, or refused as a credit would be. */
export function applyTransferIn(ctx: ApplyContext, input: TransferLegInput): Applied {
  const mismatch = checkCurrency(ctx.account, input.currency);
  if (mismatch) return declined(mismatch);
  const result = deposit(ctx.head.balance, input.amount);
  if (!result.ok) return declined(result.error);
  raiseReadableFrom(ctx.sql, TRANSFERS_SCHEMA);
  return appendMoney(ctx, result.value, "transfer_in", input.amount, input, input.transfer);
}

/** Phase 3, at the source: posted (one `transfer_out` entry) or voided, and what it set aside released. */
export function applySettle(ctx: ApplyContext, input: TransferSettleInput): Applied {
  const transfer = findTransfer(ctx.sql, input.transfer);
  // Paired with settleKey: a transfer is settled under its own key, once, and only while pending.
  if (transfer?.state !== "pending") {
    throw new Error(`invariant: settling transfer ${input.transfer}, which is ${transfer?.state ?? "missing"}`);
  }
  if (!input.outcome.post) {
    const voided = resolveTransfer(ctx.sql, transfer, { state: "voided", reason: input.outcome.reason }, ctx.nowMs);
    const held = readHeldAfter(ctx.sql, ctx.head.held - transfer.amount);
    return { outcome: success(200, transferView(voided, ctx.account.name, ctx.account.currency)), entry: null, held };
  }
  // The amount was set aside when the transfer was decided: posting takes it whatever is available now.
  const described = { description: transfer.description ?? undefined, metadata: transfer.metadata };
  const posted = appendMoney(
    ctx,
    ctx.head.balance - transfer.amount,
    "transfer_out",
    -transfer.amount,
    described,
    transfer.id,
  );
  resolveTransfer(ctx.sql, transfer, { state: "posted" }, ctx.nowMs);
  return { ...posted, held: readHeldAfter(ctx.sql, ctx.head.held - transfer.amount) };
}
