/**
 * What a chaos run knows about its own operations, its periods' closes and
 * the answers it saw; the audit's checks are judged against these.
 */
import type { MoneyInput, PeriodView, RefundInput } from "../../src/client/onceledger-client.ts";
import type { HoldInput, TransferInput } from "../../src/domain/commands.ts";

/** The keyed requests the workload sends: money, holds (placed, captured, voided) and transfers. */
export type OpKind = "credit" | "charge" | "refund" | "hold" | "capture" | "void" | "transfer";

/** Kinds whose success appends one entry under the request's own key (a transfer's legs carry keys of their own). */
export const ENTRY_KINDS: ReadonlySet<OpKind> = new Set(["credit", "charge", "refund", "capture"]);

/** A capture or a void names its hold (the path's); a capture takes `amount`, all of the hold when omitted. */
export interface HoldActionBody {
  readonly hold: string;
  readonly amount?: number;
}

export type OpBody = MoneyInput | RefundInput | HoldInput | HoldActionBody | TransferInput;

export type Outcome =
  /**
   * `id` is the entry's (a credit, charge, refund or capture), the hold's (placed or voided) or the transfer's.
   * `amount` is null when the answer was the key's expired decision, which names the entry but not its amount; `id`
   * is null only for a transfer answered so (its id is then looked for among its source's entries).
   */
  | { readonly kind: "applied"; readonly status: number; readonly id: string | null; readonly amount: number | null }
  | { readonly kind: "declined"; readonly status: number; readonly code: string }
  | { readonly kind: "unexpected"; readonly status: number; readonly code: string; readonly detail: string }
  | { readonly kind: "undetermined"; readonly reason: string };

export interface LogicalOp {
  readonly account: string;
  readonly kind: OpKind;
  readonly body: OpBody;
  /** Set by the client on the first call (or by the run, for the key shapes it makes itself) and reused on every later one. */
  key: string | null;
  outcome: Outcome | null;
  calls: number;
  attempts: number;
  /** When its first call started: no earlier than its key was decided. */
  sentMs?: number;
  /** When it got its definite outcome: no earlier than its key was decided. */
  decidedMs?: number;
  /** A refund sent once the charge it names had left the object for the archive. */
  readonly namesArchivedCharge?: boolean;
  /** A hold placed to be left alone until it expires (its `expires_in` short). */
  readonly leftToExpire?: boolean;
  /** A placed hold's `expires`, from its answer (ms). */
  expiresMs?: number;
}

export type CloseOutcome =
  /** `period` is null when the answer was the key's expired decision (a 201 without the period it closed). */
  | { readonly kind: "closed"; readonly period: PeriodView | null }
  /** `lastSeq` is where the last period closed; null when the answer was the key's expired decision. */
  | { readonly kind: "empty"; readonly lastSeq: number | null }
  | { readonly kind: "unexpected"; readonly status: number; readonly code: string; readonly detail: string }
  | { readonly kind: "undetermined"; readonly reason: string };

/** One `POST .../periods` the run asked for, retried like any keyed request until it had a definite answer. */
export interface CloseOp {
  readonly account: string;
  key: string | null;
  outcome: CloseOutcome | null;
  calls: number;
  attempts: number;
  /** When its first call started: every key decided before this is in the period it closed or an earlier one. */
  readonly sentMs: number;
  /** When it got its definite answer: the period's keys all expire by this plus the TTL. */
  answeredMs: number | null;
}

/** One answer the server gave to a request carrying an Idempotency-Key. */
export interface Observation {
  readonly status: number;
  readonly body: string;
  readonly replayed: boolean;
}
