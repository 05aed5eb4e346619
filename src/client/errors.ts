import type { ProblemDocument } from "../domain/problems.ts";

/**
 * The two ways a call can fail. A problem is the server's definite answer;
 * an unknown outcome means no definite answer arrived in time, so a
 * money-moving request may or may not have landed.
 */

/**
 * A definite answer that is not a success: any 4xx (a decline, a validation
 * error) or a response that is not OnceLedger's (`unexpected_response`, e.g. a
 * redirect or an HTML page). A 429 or 5xx is never thrown as this: it is
 * retried, and if it outlasts the retries it is the `cause` of an
 * OutcomeUnknownError.
 */
export class LedgerProblemError extends Error {
  override readonly name: string = "LedgerProblemError";
  readonly code: ProblemDocument["code"];
  readonly status: number;
  readonly problem: ProblemDocument;
  /** True when this answer is a recorded outcome replayed for an earlier request with the same key. */
  readonly replayed: boolean;
  readonly idempotencyKey: string | null;
  readonly attempts: number;

  constructor(
    problem: ProblemDocument,
    details: { replayed: boolean; idempotencyKey: string | null; attempts: number },
  ) {
    super(`${problem.code}: ${problem.detail}`);
    this.problem = problem;
    this.code = problem.code;
    this.status = problem.status;
    this.replayed = details.replayed;
    this.idempotencyKey = details.idempotencyKey;
    this.attempts = details.attempts;
  }
}

/**
 * 409 idempotency_key_expired: the key was already decided, and that
 * decision stands for ever; only its stored response is gone. Never "not
 * charged": `entryId` is the id of the entry it created (money moved), or
 * null for a decline, and `originalStatus` / `originalCode` say what the
 * answer was. (The problem's wire field is `entry`, an id string; the key
 * lookup's `entry` is the whole entry. Here the name says which it is.)
 */
export class IdempotencyKeyExpiredError extends LedgerProblemError {
  override readonly name = "IdempotencyKeyExpiredError";
  readonly entryId: string | null;
  readonly originalStatus: number;
  readonly originalCode: string | null;

  constructor(
    problem: ProblemDocument,
    details: { replayed: boolean; idempotencyKey: string | null; attempts: number },
  ) {
    super(problem, details);
    this.entryId = typeof problem.entry === "string" ? problem.entry : null;
    this.originalStatus = typeof problem.original_status === "number" ? problem.original_status : 0;
    this.originalCode = typeof problem.original_code === "string" ? problem.original_code : null;
  }
}

/** The error for a definite 4xx answer: the expired-key 409 gets its own class. */
export function problemError(
  problem: ProblemDocument,
  details: { replayed: boolean; idempotencyKey: string | null; attempts: number },
): LedgerProblemError {
  return problem.code === "idempotency_key_expired"
    ? new IdempotencyKeyExpiredError(problem, details)
    : new LedgerProblemError(problem, details);
}

export type GiveUpReason = "attempts_exhausted" | "time_exhausted" | "aborted";

/**
 * No definite answer: every attempt failed in transit, timed out or met a
 * 429/5xx, or the caller aborted. Retry later with the same `idempotencyKey`
 * (it is safe: at most one request with a key ever moves money), or ask
 * `lookupIdempotencyKey` whether it landed.
 */
export class OutcomeUnknownError extends Error {
  override readonly name = "OutcomeUnknownError";
  readonly reason: GiveUpReason;
  readonly idempotencyKey: string | null;
  readonly attempts: number;
  readonly elapsedMs: number;

  constructor(
    reason: GiveUpReason,
    details: { idempotencyKey: string | null; attempts: number; elapsedMs: number; cause: unknown },
  ) {
    const key = details.idempotencyKey === null ? "" : ` (Idempotency-Key ${details.idempotencyKey})`;
    super(
      `no definite answer after ${details.attempts} attempt(s) in ${Math.round(details.elapsedMs)} ms: ${reason}${key}`,
      {
        cause: details.cause,
      },
    );
    this.reason = reason;
    this.idempotencyKey = details.idempotencyKey;
    this.attempts = details.attempts;
    this.elapsedMs = details.elapsedMs;
  }
}
