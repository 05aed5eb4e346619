import type {
  AccountChangeView,
  AccountView,
  ChargeView,
  EntryView,
  HoldView,
  IdempotencyKeyLookupView,
  TransferView,
  RefundView,
} from "../domain/views.ts";
import { assertOverdraftLimit } from "../domain/money.ts";
import type { DecisionRow } from "./decisions.ts";
import type { HoldRow } from "./hold-store.ts";
import type { TransferRow } from "./transfer-store.ts";
import type { IdempotencyRecord } from "./idempotency-records.ts";
import type { AccountChangeRow, AccountRow, EntryRow, LedgerHead } from "./ledger-store.ts";

/** Stored rows shaped as the API's JSON. */

let lastMs = Number.NaN;
let lastText = "";

/** ISO 8601 text of a time; the last one is kept, since a group's entries are all shown at its time. */
export function timestamp(ms: number): string {
  if (ms !== lastMs) {
    lastText = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastText;
}

/** Paired with updateOverdraftLimit's checks: an account shown has a limit in bounds and a version from 1. */
export function accountView(account: AccountRow, head: LedgerHead, storageBytes: number): AccountView {
  assertOverdraftLimit(account.overdraftLimit);
  if (!Number.isSafeInteger(account.version) || account.version < 1) {
    throw new Error(`invariant: account ${account.name} is at version ${account.version}`);
  }
  return {
    id: account.name,
    currency: account.currency,
    balance: head.balance,
    held: head.held,
    available: head.balance + account.overdraftLimit - head.held,
    overdraft_limit: account.overdraftLimit,
    entry_count: head.entryCount,
    version: account.version,
    created: timestamp(account.createdMs),
    storage_bytes: storageBytes,
  };
}

export function accountChangeView(change: AccountChangeRow): AccountChangeView {
  return {
    version: change.version,
    field: change.field,
    old: change.old,
    new: change.new,
    created: timestamp(change.createdMs),
    idempotency_key: change.idempotencyKey,
    key_id: change.keyId,
  };
}

/**
 * An entry as the API shows it. What it names is `charge` on a refund, and
 * a field of its own on types added later (a capture's `hold`, a transfer
 * leg's `transfer`), so no earlier type's JSON ever changed.
 */
export function entryView(entry: EntryRow, currency: string): EntryView {
  const capture = entry.type === "capture";
  const leg = entry.type === "transfer_out" || entry.type === "transfer_in";
  const view: EntryView = {
    id: entry.id,
    seq: entry.seq,
    type: entry.type,
    amount: entry.amount,
    currency,
    balance_after: entry.balanceAfter,
    created: timestamp(entry.createdMs),
    idempotency_key: entry.idempotencyKey,
    charge: capture || leg ? null : entry.names,
    description: entry.description,
    metadata: entry.metadata,
    key_id: entry.keyId,
  };
  if (capture) return { ...view, hold: entry.names as string };
  return leg ? { ...view, transfer: entry.names as string } : view;
}

export function transferView(transfer: TransferRow, from: string, currency: string): TransferView {
  return {
    id: transfer.id,
    from,
    to: transfer.to,
    amount: transfer.amount,
    currency,
    state: transfer.state,
    reason: transfer.reason,
    created: timestamp(transfer.createdMs),
    resolved: transfer.resolvedMs === null ? null : timestamp(transfer.resolvedMs),
    idempotency_key: transfer.idempotencyKey,
    description: transfer.description,
    metadata: transfer.metadata,
  };
}

export function holdView(hold: HoldRow, currency: string): HoldView {
  return {
    id: hold.id,
    amount: hold.amount,
    currency,
    state: hold.state,
    captured: hold.captured,
    capture: hold.capture,
    expires: timestamp(hold.expiresMs),
    created: timestamp(hold.createdMs),
    resolved: hold.resolvedMs === null ? null : timestamp(hold.resolvedMs),
    idempotency_key: hold.idempotencyKey,
    description: hold.description,
    metadata: hold.metadata,
  };
}

export function chargeView(entry: EntryRow, currency: string, amountRefunded: number): ChargeView {
  // Paired with applyRefund's check: what a charge shows refunded is never more than it charged.
  if (amountRefunded < 0 || amountRefunded > -entry.amount) {
    throw new Error(`invariant: charge ${entry.id} of ${-entry.amount} has ${amountRefunded} refunded`);
  }
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
  if (entry.names === null) throw new Error(`invariant: refund ${entry.id} names no charge`);
  return {
    id: entry.id,
    charge: entry.names,
    amount: entry.amount,
    currency,
    balance_after: entry.balanceAfter,
    created: timestamp(entry.createdMs),
    idempotency_key: entry.idempotencyKey,
    description: entry.description,
    metadata: entry.metadata,
  };
}

/**
 * What a key is known to have done: its live record, else its decision, else
 * (for keys decided before decisions were kept) the entry it created. The
 * caller has at least one.
 */
export function keyLookupView(
  key: string,
  record: Pick<IdempotencyRecord, "createdMs" | "expiresMs" | "status" | "body" | "originRequestId"> | null,
  decision: Pick<DecisionRow, "status" | "code"> | null,
  entry: EntryView | null,
): IdempotencyKeyLookupView {
  if (record === null) {
    return {
      key,
      state: "expired",
      created: null,
      expires: null,
      response: null,
      original_status: decision?.status ?? 201,
      original_code: decision?.code ?? null,
      request_id: null,
      entry,
    };
  }
  // The body was stored as JSON text; parsed here so the lookup is one JSON document.
  const body = JSON.parse(record.body) as Record<string, unknown>;
  return {
    key,
    state: "recorded",
    created: timestamp(record.createdMs),
    expires: timestamp(record.expiresMs),
    response: { status: record.status, body },
    original_status: record.status,
    original_code: record.status >= 400 && typeof body.code === "string" ? body.code : null,
    request_id: record.originRequestId,
    entry,
  };
}

/**
 * How a response that moved money is rendered from its entry, by version: a
 * key row stores the version its answer used, and a replay renders with that
 * version, so a later change to a view never changes a replay's bytes. Add a
 * version for any change to what these render; never change one.
 */
export const ENTRY_VIEW_VERSION = 1;

export function renderDecidedEntry(view: number, entry: EntryRow, currency: string): string {
  if (view !== 1) throw new Error(`invariant: entry view version ${view} is unknown to this code`);
  switch (entry.type) {
    case "credit":
      return JSON.stringify(entryView(entry, currency));
    case "charge":
      // As answered when decided: nothing was refunded yet.
      return JSON.stringify(chargeView(entry, currency, 0));
    case "refund":
      return JSON.stringify(refundView(entry, currency));
    case "capture":
    case "transfer_out":
    case "transfer_in":
      return JSON.stringify(entryView(entry, currency));
  }
}

/** An entry read back from the archive, as the API showed it, in the ledger's own terms. */
export function entryRowOf(view: EntryView): EntryRow {
  return {
    seq: view.seq,
    id: view.id,
    type: view.type,
    amount: view.amount,
    balanceAfter: view.balance_after,
    createdMs: Date.parse(view.created),
    idempotencyKey: view.idempotency_key,
    names: view.hold ?? view.transfer ?? view.charge,
    description: view.description,
    metadata: view.metadata,
    keyId: view.key_id,
  };
}
