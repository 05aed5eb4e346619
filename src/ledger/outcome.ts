import { problemStatus, renderProblem, toProblem, type Failure } from "../domain/problems.ts";

/**
 * What an account object answers: the HTTP status and the exact body text.
 * Money-moving outcomes are stored like this and replayed byte for byte.
 */
export interface Outcome {
  readonly status: number;
  readonly body: string;
  readonly replayed: boolean;
}

export function success(status: 200 | 201, view: unknown): Outcome {
  return { status, body: JSON.stringify(view), replayed: false };
}

export function failure(f: Failure): Outcome {
  const p = toProblem(f);
  return { status: problemStatus(p.code), body: renderProblem(p), replayed: false };
}
