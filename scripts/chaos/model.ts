/**
 * What a chaos run knows about its own operations and the answers it saw;
 * the audit's checks are judged against these.
 */
import type { MoneyInput, RefundInput } from "../../src/client/onceledger-client.ts";
import type { EntryType } from "../../src/domain/entry-types.ts";

export type OpKind = EntryType;

export type Outcome =
  /** `amount` is null when the answer was the key's expired decision, which names the entry but not its amount. */
  | { readonly kind: "applied"; readonly status: number; readonly id: string; readonly amount: number | null }
  | { readonly kind: "declined"; readonly status: number; readonly code: string }
  | { readonly kind: "unexpected"; readonly status: number; readonly code: string; readonly detail: string }
  | { readonly kind: "undetermined"; readonly reason: string };

export interface LogicalOp {
  readonly account: string;
  readonly kind: OpKind;
  readonly body: MoneyInput | RefundInput;
  /** Set by the client on the first call and reused on every later one. */
  key: string | null;
  outcome: Outcome | null;
  calls: number;
  attempts: number;
}

/** One answer the server gave to a request carrying an Idempotency-Key. */
export interface Observation {
  readonly status: number;
  readonly body: string;
  readonly replayed: boolean;
}
