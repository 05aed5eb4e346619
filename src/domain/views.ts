import type { Metadata } from "./commands.ts";
import type { EntryType } from "./entry-types.ts";

/**
 * The JSON shapes the API answers with. Server and client share these
 * definitions; the response schemas in the OpenAPI document are checked
 * against them.
 */

/** RFC 3339 UTC with milliseconds, e.g. 2026-11-26T16:03:36.123Z. */
export type Timestamp = string;

export interface AccountView {
  readonly id: string;
  readonly currency: string;
  readonly balance: number;
  /** What held holds set aside: not spendable, though the balance has not moved. */
  readonly held: number;
  /** What a charge or a hold may take now: balance + overdraft_limit - held. */
  readonly available: number;
  readonly overdraft_limit: number;
  readonly entry_count: number;
  /** 1 when opened, one more on each real change of its settings; its ETag is `"<version>"`. */
  readonly version: number;
  readonly created: Timestamp;
  /** The bytes the account's object stores (its SQLite database), what counts against the object's 10 GB. */
  readonly storage_bytes: number;
}

/** One field of one settings change: the version it produced and the value before and after. */
export interface AccountChangeView {
  readonly version: number;
  readonly field: string;
  /** null when the account was opened. */
  readonly old: string | number | null;
  readonly new: string | number;
  readonly created: Timestamp;
  readonly idempotency_key: string | null;
  /** The API key that made the change (first 8 hex of its digest); null for changes older than key ids. */
  readonly key_id: string | null;
}

export interface AccountList {
  readonly data: AccountView[];
  readonly has_more: boolean;
}

export interface AccountChangeList {
  readonly data: AccountChangeView[];
  readonly has_more: boolean;
}

export interface EntryView {
  readonly id: string;
  readonly seq: number;
  readonly type: EntryType;
  readonly amount: number;
  readonly currency: string;
  readonly balance_after: number;
  readonly created: Timestamp;
  readonly idempotency_key: string;
  readonly charge: string | null;
  readonly description: string | null;
  readonly metadata: Metadata;
  /** The API key that moved the money (first 8 hex of its digest, or "queue"); null for entries older than key ids. */
  readonly key_id: string | null;
  /** A capture's hold; only captures carry it. */
  readonly hold?: string;
  /** A transfer leg's transfer; only `transfer_out` and `transfer_in` carry it. */
  readonly transfer?: string;
}

export type TransferState = "pending" | "posted" | "voided";

export interface TransferView {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  readonly currency: string;
  readonly state: TransferState;
  /** Why it was voided: the destination's problem code; null unless voided. */
  readonly reason: string | null;
  readonly created: Timestamp;
  /** When it left `pending`; null while pending. */
  readonly resolved: Timestamp | null;
  readonly idempotency_key: string;
  readonly description: string | null;
  readonly metadata: Metadata;
}

export type HoldState = "held" | "captured" | "voided" | "expired";

export interface HoldView {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly state: HoldState;
  /** What its capture took (0 until captured); the rest went back. */
  readonly captured: number;
  /** The capture's entry, once captured. */
  readonly capture: string | null;
  readonly expires: Timestamp;
  readonly created: Timestamp;
  /** When it left `held` (captured, voided or expired); null while held. */
  readonly resolved: Timestamp | null;
  readonly idempotency_key: string;
  readonly description: string | null;
  readonly metadata: Metadata;
}

export interface HoldList {
  readonly data: HoldView[];
  readonly has_more: boolean;
}

export interface ChargeView {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly amount_refunded: number;
  readonly balance_after: number;
  readonly created: Timestamp;
  readonly idempotency_key: string;
  readonly description: string | null;
  readonly metadata: Metadata;
}

export interface RefundView {
  readonly id: string;
  readonly charge: string;
  readonly amount: number;
  readonly currency: string;
  readonly balance_after: number;
  readonly created: Timestamp;
  readonly idempotency_key: string;
  readonly description: string | null;
  readonly metadata: Metadata;
}

/** One page of a ledger, oldest first. */
export interface EntryList {
  readonly data: EntryView[];
  readonly has_more: boolean;
}

/** What one operation of a batch got: exactly what the single route would have answered. */
export interface BatchResult {
  readonly status: number;
  readonly replayed: boolean;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface BatchResponse {
  readonly results: BatchResult[];
}

export interface RecordedResponse {
  readonly status: number;
  /** The recorded body, parsed: the entry, charge or refund, or the problem of a decline. */
  readonly body: Readonly<Record<string, unknown>>;
}

export interface IdempotencyKeyLookupView {
  readonly key: string;
  /** recorded: the response is still stored. expired: only the decision is (for ever). */
  readonly state: "recorded" | "expired";
  readonly created: Timestamp | null;
  readonly expires: Timestamp | null;
  readonly response: RecordedResponse | null;
  /** The decision's status, and its problem code (null when the request succeeded). */
  readonly original_status: number;
  readonly original_code: string | null;
  /** The Request-Id of the request that produced the recorded response; null once expired, or on old records. */
  readonly request_id: string | null;
  readonly entry: EntryView | null;
}

/** An archived object of a period: its name in the archive bucket, what it holds, its size and SHA-256 (hex). */
export interface PeriodObjectView {
  readonly name: string;
  readonly kind: "entries" | "keys";
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * A closed period of the ledger. `sha256` chains it to the period before
 * (docs/api.md defines it); it and `objects` are filled once archived.
 */
export interface PeriodView {
  readonly id: number;
  readonly first_seq: number;
  readonly last_seq: number;
  readonly opening_balance: number;
  readonly closing_balance: number;
  readonly entry_count: number;
  readonly key_count: number;
  readonly sha256: string | null;
  readonly previous_sha256: string | null;
  readonly objects: PeriodObjectView[];
  readonly state: "closing" | "archived";
  readonly created: string;
}

export interface PeriodListView {
  readonly data: PeriodView[];
  readonly has_more: boolean;
}
