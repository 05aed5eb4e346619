/**
 * What a chaos run knows about its own operations, its periods' closes and
 * the answers it saw; the audit's checks are judged against these.
 */
import type { MoneyInput, PeriodView, RefundInput } from "../../src/client/onceledger-client.ts";
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
