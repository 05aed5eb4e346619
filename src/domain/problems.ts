import type { FieldError } from "./field-error.ts";

/**
 * The catalogue of problems (RFC 9457). A code is stable API: clients
 * branch on it. Its HTTP status, title and documented meaning are decided
 * here and nowhere else; docs/api.md's errors table is generated from it.
 */
export const PROBLEMS = {
  invalid_request: {
    status: 400,
    title: "Request failed validation",
    when: "schema errors, unknown fields and unknown query parameters included; `errors` lists each `{field, message}`, one per field. Also a bad `limit` or unknown `starting_after`, a query parameter given twice, a `__proto__` key, or a string with a lone surrogate (storage could not keep it as sent).",
  },
  invalid_json: {
    status: 400,
    title: "Body is not valid JSON",
    when: "empty body, malformed JSON, duplicate object keys, not UTF-8, nesting deeper than the limit",
  },
  idempotency_key_missing: {
    status: 400,
    title: "Idempotency-Key header required",
    when: "a `POST` without `Idempotency-Key`",
  },
  idempotency_key_invalid: {
    status: 400,
    title: "Idempotency-Key header malformed",
    when: "empty, too long, spaces or control characters, `.` or `..`, a broken quoted string, two keys joined by a comma",
  },
  unauthorized: {
    status: 401,
    title: "Missing or invalid API key",
    when: "missing or unknown API key (`WWW-Authenticate: Bearer`)",
  },
  insufficient_funds: {
    status: 402,
    title: "Insufficient funds",
    when: "a charge or a hold would take what is available (the balance less what holds set aside) below `-overdraft_limit`",
  },
  account_not_found: {
    status: 404,
    title: "Account not found",
    when: "the account was never opened (probing creates nothing)",
  },
  charge_not_found: { status: 404, title: "Charge not found", when: "no such charge on this account" },
  hold_not_found: { status: 404, title: "Hold not found", when: "no hold with this id on this account" },
  transfer_not_found: {
    status: 404,
    title: "Transfer not found",
    when: "no transfer with this id from this account",
  },
  period_not_found: { status: 404, title: "Period not found", when: "no period with this id on this account" },
  idempotency_key_not_found: {
    status: 404,
    title: "Idempotency-Key not found",
    when: "no request with this key was ever decided on this account",
  },
  not_found: { status: 404, title: "No such route", when: "no such route" },
  dead_letter_not_found: {
    status: 404,
    title: "Dead letter not found",
    when: "operator routes: no dead letter with this id is stored (never was, or was discarded)",
  },
  method_not_allowed: {
    status: 405,
    title: "Method not allowed on this route",
    when: "the route exists, the method does not (`Allow` lists them)",
  },
  precondition_failed: {
    status: 412,
    title: "The account changed since the version given in If-Match",
    when: "`If-Match` names no current version of the account (someone changed it since, or it does not exist); read it again and decide again",
  },
  currency_mismatch: {
    status: 409,
    title: "Currency does not match the account",
    when: "the request's currency is not the account's",
  },
  period_empty: {
    status: 409,
    title: "Nothing to close",
    when: "`POST .../periods` when no entry was appended since the last close; recorded like any decision, so retry with a new key once entries exist",
  },
  transfer_to_self: {
    status: 409,
    title: "Transfer to the same account",
    when: "a transfer whose `to` is its own account; recorded like any decision",
  },
  hold_captured: {
    status: 409,
    title: "Hold already captured",
    when: "a capture or void of a hold that was captured; recorded like any decision",
  },
  hold_voided: {
    status: 409,
    title: "Hold already voided",
    when: "a capture or void of a hold that was voided; recorded like any decision",
  },
  hold_expired: {
    status: 409,
    title: "Hold expired",
    when: "a capture or void of a hold at or after its `expires`, when its funds went back; recorded like any decision",
  },
  capture_exceeds_hold: {
    status: 409,
    title: "Capture exceeds the hold",
    when: "a capture of more than the hold's amount (`amount_capturable` says how much)",
  },
  refund_exceeds_charge: {
    status: 409,
    title: "Refund exceeds the unrefunded amount",
    when: "more than the unrefunded rest (`amount_refundable` says how much is left)",
  },
  balance_limit_exceeded: {
    status: 409,
    title: "Balance would exceed its limit",
    when: "a credit or refund would take the balance above the balance limit",
  },
  dead_letter_not_replayable: {
    status: 409,
    title: "Dead letter cannot be replayed",
    when: "operator routes: the letter's reason is its message's own fault (`not_text`, `too_large`, `invalid_json`, `invalid_command`), so sending it again would only dead-letter it again; `reason` names it",
  },
  restore_refused: {
    status: 409,
    title: "Restore refused",
    when: "operator routes: a restore step the account object cannot take as asked (the account exists, no restore is under way, or what the backup and the archive hold does not add up); `reason` says which. Until a restore finishes, the account answers as one never opened",
  },
  idempotency_key_expired: {
    status: 409,
    title: "Idempotency-Key already decided",
    when: "the key was decided and its stored response has expired: `original_status`, `original_code` (null when money moved) and `entry` (the id of the entry it created; null for a decline) say what the decision was; it stands for ever",
  },
  payload_too_large: {
    status: 413,
    title: "Request body too large",
    when: "body over the size limit, counted in bytes as it arrives",
  },
  unsupported_media_type: {
    status: 415,
    title: "Body must be application/json",
    when: "a body without `Content-Type: application/json`",
  },
  idempotency_key_reused: {
    status: 422,
    title: "Idempotency-Key reused with a different request",
    when: "the key was used with a different request on this account; `fields` names the top-level fields that differ (`[]` when only the route does)",
  },
  internal_error: {
    status: 500,
    title: "Internal error",
    when: "a fault inside OnceLedger; retrying with the same key is safe",
  },
  overloaded: {
    status: 503,
    title: "Account temporarily overloaded",
    when: "the account object is overloaded; retry after `Retry-After`",
  },
  rate_limited: {
    status: 429,
    title: "Over the tenant's request quota",
    when: "the tenant sent more requests (a batch counts each operation) than its quota allows; retry after `Retry-After`",
  },
} as const satisfies Record<string, { status: number; title: string; when: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/** What each failure carries besides its code: the facts its problem document is written from. */
interface FailureFacts {
  invalid_request: { readonly errors: readonly FieldError[] };
  invalid_json: { readonly reason: string };
  idempotency_key_missing: object;
  idempotency_key_invalid: { readonly reason: string };
  /** Whether a key was sent (and is wrong), rather than none at all; `operator` on an operator route. */
  unauthorized: { readonly invalidToken: boolean; readonly operator?: boolean };
  /** `held`: what holds set aside of the balance, when any. */
  insufficient_funds: {
    readonly amount: number;
    readonly balance: number;
    readonly overdraftLimit: number;
    readonly held?: number;
  };
  account_not_found: object;
  charge_not_found: { readonly chargeId: string };
  hold_not_found: { readonly holdId: string };
  transfer_not_found: { readonly transferId: string };
  transfer_to_self: { readonly account: string };
  hold_captured: { readonly holdId: string };
  hold_voided: { readonly holdId: string };
  hold_expired: { readonly holdId: string };
  capture_exceeds_hold: { readonly holdId: string; readonly capturable: number; readonly requested: number };
  period_not_found: { readonly id: string };
  period_empty: { readonly lastSeq: number };
  idempotency_key_not_found: object;
  not_found: { readonly method: string; readonly path: string };
  dead_letter_not_found: { readonly id: string };
  dead_letter_not_replayable: { readonly id: string; readonly reason: string };
  restore_refused: { readonly reason: string };
  method_not_allowed: { readonly method: string; readonly allow: readonly string[] };
  currency_mismatch: { readonly accountCurrency: string; readonly requestCurrency: string };
  refund_exceeds_charge: { readonly chargeId: string; readonly refundable: number; readonly requested: number };
  balance_limit_exceeded: { readonly balance: number; readonly amount: number };
  idempotency_key_expired: {
    readonly originalStatus: number;
    readonly originalCode: string | null;
    readonly entry: string | null;
  };
  payload_too_large: { readonly limitBytes: number };
  unsupported_media_type: object;
  /** The top-level fields that differ from the original request, when known. */
  idempotency_key_reused: { readonly fields?: readonly string[] };
  precondition_failed: { readonly current: number | null };
  internal_error: {
    readonly cause: "misconfigured" | "object_call" | "unhandled" | "interface_version" | "jurisdiction_mismatch";
  };
  overloaded: object;
  rate_limited: object;
}

/** A failure as tagged data: its code and the facts behind it. */
export type Failure = { [C in ProblemCode]: { readonly code: C } & Readonly<FailureFacts[C]> }[ProblemCode];

export type FailureOf<C extends ProblemCode> = Extract<Failure, { code: C }>;

/** Extra members a problem may carry beyond the RFC 9457 ones. */
export type ProblemExtensions = Readonly<Record<string, unknown>>;

/** A failure in words: what goes into its problem document. */
export interface Problem {
  readonly code: ProblemCode;
  readonly detail: string;
  readonly extensions?: ProblemExtensions;
}

/** The RFC 9457 document OnceLedger answers with. Codes a newer server adds still arrive as strings. */
export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode | (string & Record<never, never>);
  readonly errors?: FieldError[];
  readonly [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export function problem(code: ProblemCode, detail: string, extensions?: ProblemExtensions): Problem {
  return extensions === undefined ? { code, detail } : { code, detail, extensions };
}

/** The one mapping from failures to problems; exhaustive, so a new failure cannot go unworded. */
export function toProblem(failure: Failure): Problem {
  switch (failure.code) {
    case "invalid_request": {
      const count = failure.errors.length;
      return problem(
        "invalid_request",
        `${count === 1 ? "One field" : `${count} fields`} failed validation; \`errors\` says which and why.`,
        { errors: failure.errors },
      );
    }
    case "invalid_json":
      return problem("invalid_json", `The body is not valid JSON: ${failure.reason}.`);
    case "idempotency_key_missing":
      return problem("idempotency_key_missing", "Send an Idempotency-Key header on every POST.");
    case "idempotency_key_invalid":
      return problem("idempotency_key_invalid", `The Idempotency-Key header is invalid: ${failure.reason}.`);
    case "unauthorized":
      return failure.operator === true
        ? problem(
            "unauthorized",
            "Send Authorization: Bearer <operator key> with a key listed in OPERATOR_KEYS; a tenant's API key is never an operator's.",
          )
        : problem("unauthorized", "Send Authorization: Bearer <api key> with a valid key.");
    case "insufficient_funds":
      return problem(
        "insufficient_funds",
        failure.held === undefined
          ? `A charge of ${failure.amount} would take the balance of ${failure.balance} below the overdraft limit of ${failure.overdraftLimit}.`
          : `${failure.amount} is more than is available: the balance of ${failure.balance}, less ${failure.held} held, down to the overdraft limit of ${failure.overdraftLimit}.`,
      );
    case "account_not_found":
      return problem("account_not_found", "No such account. Open it with PUT first.");
    case "charge_not_found":
      return problem("charge_not_found", `No charge ${failure.chargeId} on this account.`);
    case "transfer_not_found":
      return problem("transfer_not_found", `No transfer ${failure.transferId} from this account.`);
    case "transfer_to_self":
      return problem("transfer_to_self", `A transfer from ${failure.account} cannot go to ${failure.account}.`);
    case "hold_not_found":
      return problem("hold_not_found", `No hold ${failure.holdId} on this account.`);
    case "hold_captured":
      return problem("hold_captured", `Hold ${failure.holdId} was captured: it cannot be captured or voided again.`);
    case "hold_voided":
      return problem("hold_voided", `Hold ${failure.holdId} was voided: its funds went back.`);
    case "hold_expired":
      return problem("hold_expired", `Hold ${failure.holdId} expired: its funds went back.`);
    case "capture_exceeds_hold":
      return problem(
        "capture_exceeds_hold",
        `Hold ${failure.holdId} holds ${failure.capturable}; asked to capture ${failure.requested}.`,
        { amount_capturable: failure.capturable },
      );
    case "period_not_found":
      return problem("period_not_found", `No period ${failure.id} on this account.`);
    case "period_empty":
      return problem(
        "period_empty",
        `No entry was appended after seq ${failure.lastSeq}, where the last period closed: there is nothing to close.`,
        { last_seq: failure.lastSeq },
      );
    case "idempotency_key_not_found":
      return problem(
        "idempotency_key_not_found",
        "No request with this Idempotency-Key was ever decided on this account: sending it now would run it for the first time.",
      );
    case "not_found":
      return problem(
        "not_found",
        `No route ${failure.method} ${failure.path}. Every route is described at /openapi.json.`,
      );
    case "dead_letter_not_found":
      return problem("dead_letter_not_found", `No dead letter ${failure.id} is stored.`);
    case "dead_letter_not_replayable":
      return problem(
        "dead_letter_not_replayable",
        `Dead letter ${failure.id} was dead-lettered as ${failure.reason}, the message's own fault: sent again, it would be dead-lettered again. Have its producer send a corrected command, then discard this letter.`,
        { reason: failure.reason },
      );
    case "restore_refused":
      return problem("restore_refused", `The restore step was refused: ${failure.reason}.`, { reason: failure.reason });
    case "method_not_allowed":
      return problem("method_not_allowed", `${failure.method} is not allowed here; use ${failure.allow.join(", ")}.`);
    case "currency_mismatch":
      return problem(
        "currency_mismatch",
        `The account is in ${failure.accountCurrency}; the request is in ${failure.requestCurrency}.`,
      );
    case "refund_exceeds_charge":
      return problem(
        "refund_exceeds_charge",
        `Charge ${failure.chargeId} has ${failure.refundable} left to refund; asked for ${failure.requested}.`,
        { amount_refundable: failure.refundable },
      );
    case "balance_limit_exceeded":
      return problem(
        "balance_limit_exceeded",
        `Adding ${failure.amount} to the balance of ${failure.balance} would exceed the balance limit.`,
      );
    case "idempotency_key_expired": {
      const outcome =
        failure.entry !== null
          ? `moved money as entry ${failure.entry}`
          : `was answered ${failure.originalStatus}${failure.originalCode === null ? "" : ` ${failure.originalCode}`}`;
      return problem(
        "idempotency_key_expired",
        `This Idempotency-Key was already decided: it ${outcome}. Its stored response has expired; the decision stands and will not run again. Look the key up instead of retrying.`,
        { original_status: failure.originalStatus, original_code: failure.originalCode, entry: failure.entry },
      );
    }
    case "payload_too_large":
      return problem("payload_too_large", `The body may be at most ${failure.limitBytes} bytes.`);
    case "unsupported_media_type":
      return problem("unsupported_media_type", "Send the body as JSON with Content-Type: application/json.");
    case "idempotency_key_reused": {
      const fields = failure.fields;
      const differs =
        fields === undefined
          ? ""
          : fields.length === 0
            ? " (the same body, on another route)"
            : ` (${fields.join(", ")} ${fields.length === 1 ? "differs" : "differ"})`;
      return problem(
        "idempotency_key_reused",
        `This Idempotency-Key was used with a different request on this account${differs}. Use a new key for each operation; to learn what the original did, look it up by its key (GET /v1/accounts/{account}/idempotency-keys/{key}).`,
        fields === undefined ? undefined : { fields },
      );
    }
    case "precondition_failed":
      return problem(
        "precondition_failed",
        failure.current === null
          ? "If-Match names a version, but the account does not exist."
          : `If-Match names no current version of the account: it is at version ${failure.current}. Read it again, decide again, and send its current ETag.`,
        { current_version: failure.current },
      );
    case "internal_error":
      return problem("internal_error", INTERNAL_ERROR_DETAIL[failure.cause]);
    case "overloaded":
      return problem("overloaded", "This account is handling too many requests; retry after a pause.");
    case "rate_limited":
      return problem(
        "rate_limited",
        "Your request quota is used up for now; nothing was changed. Retry after a pause.",
      );
  }
}

const INTERNAL_ERROR_DETAIL: Record<FailureOf<"internal_error">["cause"], string> = {
  misconfigured: "OnceLedger is misconfigured; nothing was changed.",
  object_call: "The request failed inside OnceLedger. Retrying with the same Idempotency-Key is safe.",
  unhandled: "The request failed inside OnceLedger.",
  interface_version:
    "OnceLedger is between two releases and could not decide the request. Retrying with the same Idempotency-Key is safe.",
  jurisdiction_mismatch:
    "This tenant's accounts are stored under a different jurisdiction than OnceLedger is configured with; nothing was changed.",
};

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
