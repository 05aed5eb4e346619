/**
 * The operations that are each their own POST route (`/credits`, `/charges`,
 * `/refunds`, `/transfers`), an operation of a batch and a queue command.
 */
export const MONEY_OPERATIONS = ["credit", "charge", "refund", "transfer"] as const;

export type MoneyOperation = (typeof MONEY_OPERATIONS)[number];

export function isMoneyOperation(value: unknown): value is MoneyOperation {
  return typeof value === "string" && (MONEY_OPERATIONS as readonly string[]).includes(value);
}

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

/** Moves money to another account of the tenant, in two phases (transfer-operations.ts). */
export interface TransferInput {
  readonly to: string;
  readonly amount: number;
  readonly currency: string;
  readonly description?: string | undefined;
  readonly metadata?: Metadata | undefined;
}

/** Sets funds aside until captured, voided or expired (hold-operations.ts). */
export interface HoldInput {
  readonly amount: number;
  readonly currency: string;
  /** Seconds until it expires; HOLD_DEFAULT_EXPIRES_IN_SECONDS when omitted. */
  readonly expires_in?: number | undefined;
  readonly description?: string | undefined;
  readonly metadata?: Metadata | undefined;
}

/** Captures a held hold: its id (from the path) and at most its amount, all of it when omitted. */
export interface CaptureInput {
  readonly hold: string;
  readonly amount?: number | undefined;
}

/** Voids a held hold, named by its id (from the path). */
export interface VoidInput {
  readonly hold: string;
}

/** The input each money operation takes. */
export interface MoneyInputs {
  readonly credit: MoneyInput;
  readonly charge: MoneyInput;
  readonly refund: RefundInput;
  readonly transfer: TransferInput;
}

/** The input each command on holds takes. */
export interface HoldInputs {
  readonly hold: HoldInput;
  readonly capture: CaptureInput;
  readonly void: VoidInput;
}

/** A command on an account's holds. */
export type HoldCommand = {
  [T in keyof HoldInputs]: { readonly type: T; readonly input: HoldInputs[T] };
}[keyof HoldInputs];

/** A transfer's destination leg, as its source's object sends it: applied once per transfer, for ever. */
export interface TransferLegInput {
  readonly transfer: string;
  readonly from: string;
  readonly amount: number;
  readonly currency: string;
  /** The transfer's, so both legs carry them. */
  readonly description?: string | undefined;
  readonly metadata?: Metadata | undefined;
}

/** A transfer's resolution at its source, once its destination answered for good. */
export interface TransferSettleInput {
  readonly transfer: string;
  /** Posted when the destination applied its leg; voided, naming the destination's code, when it refused. */
  readonly outcome: { readonly post: true } | { readonly post: false; readonly reason: string };
}

/** Commands one account object sends another, or itself: never a client's request. */
export type TransferCommand =
  | { readonly type: "transfer_in"; readonly input: TransferLegInput }
  | { readonly type: "transfer_settle"; readonly input: TransferSettleInput };

/** Every keyed request that moves or sets aside money: decided once under its key (decide.ts). */
export type MoneyCommand =
  | { [T in MoneyOperation]: { readonly type: T; readonly input: MoneyInputs[T] } }[MoneyOperation]
  | HoldCommand
  | TransferCommand;

/** One operation of a batch: the single route's body, its entry type and its own Idempotency-Key. */
export type BatchOperation = {
  [T in MoneyOperation]: MoneyInputs[T] & { readonly type: T; readonly idempotency_key: string };
}[MoneyOperation];

export interface BatchInput {
  readonly operations: readonly BatchOperation[];
}

/** A page of a list: at most `limit` items after the cursor. */
export interface PageRequest {
  readonly limit: number;
  readonly startingAfter: string | undefined;
}
