import type { FieldError } from "./field-error.ts";
import type { Timestamp } from "./views.ts";

/**
 * Dead letters as the operator sees them (docs/operations.md): what the
 * commands queue's consumer could not decide, kept by the dead-letter store
 * (src/dead-letters/) until an operator replays or discards it.
 */

/**
 * Every reason the consumer dead-letters a message with (docs/queues.md):
 * first those of a message that can never be decided as sent, then those of
 * one it gave up on at its last delivery. The consumer's own type is checked
 * against this list at compile time (src/queue/command-consumer.ts).
 */
export const DEAD_LETTER_REASONS = [
  "not_text",
  "too_large",
  "invalid_json",
  "invalid_command",
  "unknown_tenant",
  "account_not_found",
  "undecided",
  "misconfigured",
  "result_not_sent",
  "requeue_failed",
] as const;

export type DeadLetterReasonName = (typeof DEAD_LETTER_REASONS)[number];

/**
 * The reasons whose message, sent again unchanged once the cause is fixed,
 * can be decided: the tenant added to API_KEYS, the account opened, the
 * object or the configuration mended, the queues bound. The others are the
 * message's own fault (its format, its size, its JSON, its fields): sending
 * it again would only dead-letter it again, so it is never replayed.
 */
export const REPLAYABLE_REASONS: ReadonlySet<DeadLetterReasonName> = new Set([
  "unknown_tenant",
  "account_not_found",
  "undecided",
  "misconfigured",
  "result_not_sent",
  "requeue_failed",
]);

export function isDeadLetterReason(value: string): value is DeadLetterReasonName {
  return (DEAD_LETTER_REASONS as readonly string[]).includes(value);
}

/** A JSON value: what a dead letter's `original` is. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One stored dead letter: the consumer's `{reason, errors, original}` and what the store knows of it. */
export interface DeadLetterView {
  /** The id of the commands-queue message it was (the `message_id` of its `command` log lines). */
  readonly id: string;
  /** The tenant its message names, when API_KEYS listed that tenant as it was stored; null: operator only. */
  readonly tenant: string | null;
  readonly reason: DeadLetterReasonName;
  readonly errors: readonly FieldError[];
  /** The message as it came: its text, or, for one not sent as text, what JSON could carry of it (null if nothing). */
  readonly original: JsonValue;
  /** The delivery it was dead-lettered on. */
  readonly attempts: number;
  readonly dead_lettered: Timestamp;
  /** Whether replaying it sends its original to the commands queue again (see REPLAYABLE_REASONS). */
  readonly replayable: boolean;
  /** When an operator replayed it; null while it has not been. */
  readonly replayed: Timestamp | null;
  /** The operator (a name in OPERATOR_KEYS) who replayed it. */
  readonly replayed_by: string | null;
}

export interface DeadLetterList {
  readonly data: DeadLetterView[];
  readonly has_more: boolean;
}
