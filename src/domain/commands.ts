import type { EntryType } from "./entry-types.ts";

/**
 * What callers ask of an account, as plain data: the request bodies of the
 * API, already validated. The HTTP layer's schemas are checked against these
 * types, so the ledger core depends on no transport and no validation library.
 */

export type Metadata = Readonly<Record<string, string>>;

/** A credit or a charge. */
export interface MoneyInput {
  readonly amount: number;
  readonly currency: string;
  readonly description?: string | undefined;
  readonly metadata?: Metadata | undefined;
}

export interface RefundInput {
  readonly charge: string;
  /** Defaults to the unrefunded rest of the charge. */
  readonly amount?: number | undefined;
  /** Checked against the account's currency when given. */
  readonly currency?: string | undefined;
  readonly description?: string | undefined;
  readonly metadata?: Metadata | undefined;
}

export interface OpenAccountInput {
  readonly currency: string;
  readonly overdraft_limit?: number | undefined;
}

/** The input each entry type takes. */
export interface MoneyInputs {
  readonly credit: MoneyInput;
  readonly charge: MoneyInput;
  readonly refund: RefundInput;
}

export type MoneyCommand = { [T in EntryType]: { readonly type: T; readonly input: MoneyInputs[T] } }[EntryType];

/** One operation of a batch: the single route's body, its entry type and its own Idempotency-Key. */
export type BatchOperation = {
  [T in EntryType]: MoneyInputs[T] & { readonly type: T; readonly idempotency_key: string };
}[EntryType];

export interface BatchInput {
  readonly operations: readonly BatchOperation[];
}

/** A page of a list: at most `limit` items after the cursor. */
export interface PageRequest {
  readonly limit: number;
  readonly startingAfter: string | undefined;
}
