import type { AccountView, ChargeView, EntryView, IdempotencyKeyLookupView, RefundView } from "../domain/views.ts";
import type { IdempotencyRecord } from "./idempotency-records.ts";
import type { AccountRow, EntryRow, LedgerHead } from "./ledger-store.ts";

/** Stored rows shaped as the API's JSON. */

export function timestamp(ms: number): string {
  return new Date(ms).toISOString();
}

export function accountView(account: AccountRow, head: LedgerHead): AccountView {
  return {
    id: account.name,
    currency: account.currency,
    balance: head.balance,
    overdraft_limit: account.overdraftLimit,
    entry_count: head.entryCount,
    created: timestamp(account.createdMs),
  };
}

export function entryView(entry: EntryRow, currency: string): EntryView {
  return {
    id: entry.id,
    seq: entry.seq,
    type: entry.type,
    amount: entry.amount,
    currency,
    balance_after: entry.balanceAfter,
    created: timestamp(entry.createdMs),
    idempotency_key: entry.idempotencyKey,
    charge: entry.chargeId,
    description: entry.description,
    metadata: entry.metadata,
  };
}

export function chargeView(entry: EntryRow, currency: string, amountRefunded: number): ChargeView {
  return {
    id: entry.id,
    amount: -entry.amount,
    currency,
    amount_refunded: amountRefunded,
    balance_after: entry.balanceAfter,
    created: timestamp(entry.createdMs),
    idempotency_key: entry.idempotencyKey,
    description: entry.description,
    metadata: entry.metadata,
  };
}

export function refundView(entry: EntryRow, currency: string): RefundView {
  if (entry.chargeId === null) throw new Error(`invariant: refund ${entry.id} names no charge`);
  return {
    id: entry.id,
    charge: entry.chargeId,
    amount: entry.amount,
    currency,
    balance_after: entry.balanceAfter,
    created: timestamp(entry.createdMs),
    idempotency_key: entry.idempotencyKey,
    description: entry.description,
    metadata: entry.metadata,
  };
}

/** What a key is known to have done: its live record, the entry it created, or both; the caller has one. */
export function keyLookupView(
  key: string,
  record: IdempotencyRecord | null,
  entry: EntryView | null,
): IdempotencyKeyLookupView {
  if (record === null) return { key, state: "expired", created: null, expires: null, response: null, entry };
  return {
    key,
    state: "recorded",
    created: timestamp(record.createdMs),
    expires: timestamp(record.expiresMs),
    // The body was stored as JSON text; parsed here so the lookup is one JSON document.
    response: { status: record.status, body: JSON.parse(record.body) as Record<string, unknown> },
    entry,
  };
}
