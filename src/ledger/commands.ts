import type { MoneyInput, OpenAccountInput, RefundInput } from "../api/schemas.ts";

/** What the Worker asks of an account object: validated input, never raw HTTP. */

export type MoneyCommand =
  | { readonly kind: "credit"; readonly input: MoneyInput }
  | { readonly kind: "charge"; readonly input: MoneyInput }
  | { readonly kind: "refund"; readonly input: RefundInput };

export interface MoneyRequest {
  /** Unique per HTTP request; the Worker sends the same one on each retried call. */
  readonly requestId: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  readonly command: MoneyCommand;
}

export interface OpenAccountRequest {
  readonly account: string;
  readonly input: OpenAccountInput;
}

export interface EntryPage {
  readonly limit: number;
  readonly startingAfter: string | undefined;
}
