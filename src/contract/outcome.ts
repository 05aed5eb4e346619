import { problemStatus, renderProblem, toProblem, type Failure } from "../domain/problems.ts";
import type { StorageWork } from "./storage-work.ts";

/**
 * What an account object answers: the HTTP status and the exact body text.
 * Money-moving outcomes are stored like this and replayed byte for byte.
 */
export interface Outcome {
  readonly status: number;
  readonly body: string;
  readonly replayed: boolean;
  /** What logs and metrics say of the outcome; never sent to the client. */
  readonly facts?: OutcomeFacts;
}

export interface OutcomeFacts {
  /** The problem's code, or null for a success. */
  readonly code: string | null;
  /** The entry the request appended, when it moved money (the amount signed as on the entry). */
  readonly entry?: { readonly id: string; readonly seq: number; readonly amount: number; readonly currency: string };
  /** The storage work deciding it took. */
  readonly work?: StorageWork;
  /** Objects read from the archive (R2) to answer it: a key or an entry whose period left the object. */
  readonly archiveReads?: number;
  /** For a batch, how many operations it carried. */
  readonly operations?: number;
  /** For a batch, its operations' outcomes grouped for metrics: a bounded number of groups, whatever its size. */
  readonly breakdown?: readonly OperationGroup[];
  /** Whether this answer is recorded under the request's Idempotency-Key (decided now, or replayed). */
  readonly recorded?: boolean;
  /** On a replay, the Request-Id of the request that produced the original answer (null on old records). */
  readonly originalRequestId?: string | null;
}

/** Operations of one type with one outcome, and the money they moved (absolute, minor units). */
export interface OperationGroup {
  readonly operation: string;
  readonly code: string | null;
  readonly replayed: boolean;
  readonly currency: string | null;
  readonly count: number;
  readonly amountMinor: number;
}

export function success(status: 200 | 201, view: unknown): Outcome {
  return { status, body: JSON.stringify(view), replayed: false, facts: { code: null } };
}

export function failure(f: Failure): Outcome {
  const p = toProblem(f);
  return { status: problemStatus(p.code), body: renderProblem(p), replayed: false, facts: { code: p.code } };
}

/** The outcome with facts added (they never change status, body or replayed). */
export function withFacts(outcome: Outcome, facts: Partial<OutcomeFacts>): Outcome {
  return { ...outcome, facts: { code: outcome.facts?.code ?? null, ...outcome.facts, ...facts } };
}
