/**
 * The catalogue of problems (RFC 9457). A code is stable API: clients
 * branch on it. Its HTTP status and title are decided here and nowhere else.
 */
export const PROBLEMS = {
  unauthorized: { status: 401, title: "Missing or invalid API key" },
  not_found: { status: 404, title: "No such route" },
  method_not_allowed: { status: 405, title: "Method not allowed on this route" },
  payload_too_large: { status: 413, title: "Request body too large" },
  unsupported_media_type: { status: 415, title: "Body must be application/json" },
  idempotency_key_missing: { status: 400, title: "Idempotency-Key header required" },
  idempotency_key_invalid: { status: 400, title: "Idempotency-Key header malformed" },
  invalid_json: { status: 400, title: "Body is not valid JSON" },
  invalid_request: { status: 400, title: "Request failed validation" },
  account_not_found: { status: 404, title: "Account not found" },
  charge_not_found: { status: 404, title: "Charge not found" },
  insufficient_funds: { status: 402, title: "Insufficient funds" },
  currency_mismatch: { status: 409, title: "Currency does not match the account" },
  refund_exceeds_charge: { status: 409, title: "Refund exceeds the unrefunded amount" },
  balance_limit_exceeded: { status: 409, title: "Balance would exceed its limit" },
  idempotency_key_reused: { status: 422, title: "Idempotency-Key reused with a different request" },
  idempotency_key_expired: { status: 409, title: "Idempotency-Key already moved money" },
  idempotency_key_not_found: { status: 404, title: "Idempotency-Key not found" },
  overloaded: { status: 503, title: "Account temporarily overloaded" },
  internal_error: { status: 500, title: "Internal error" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/** Extra members a problem may carry beyond the RFC 9457 ones. */
export type ProblemExtensions = Readonly<Record<string, unknown>>;

export interface Problem {
  readonly code: ProblemCode;
  readonly detail: string;
  readonly extensions?: ProblemExtensions;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export function problem(code: ProblemCode, detail: string, extensions?: ProblemExtensions): Problem {
  return extensions === undefined ? { code, detail } : { code, detail, extensions };
}

export function problemStatus(code: ProblemCode): number {
  return PROBLEMS[code].status;
}

function problemTypeUri(code: ProblemCode): string {
  return `urn:onceledger:problem:${code}`;
}

/** The exact JSON text of a problem; recorded and replayed byte for byte. */
export function renderProblem(p: Problem): string {
  const { status, title } = PROBLEMS[p.code];
  return JSON.stringify({
    type: problemTypeUri(p.code),
    title,
    status,
    detail: p.detail,
    code: p.code,
    ...p.extensions,
  });
}
