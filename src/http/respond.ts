import { OVERLOADED_RETRY_AFTER_SECONDS, RATE_LIMITED_RETRY_AFTER_SECONDS } from "../domain/limits.ts";
import { PROBLEM_CONTENT_TYPE, type Failure } from "../domain/problems.ts";
import { failure, type Outcome } from "../contract/outcome.ts";

/**
 * Outcomes and failures as HTTP responses: the one place status-specific
 * headers are added. Each response is built once, its headers given whole
 * (building one is a good part of a request's cost in the runtime).
 */

/** The id every response carries and every log line about it names. */
export const REQUEST_ID_HEADER = "request-id";

export function outcomeResponse(outcome: Outcome, extraHeaders?: Readonly<Record<string, string>>): Response {
  const headers: Record<string, string> = {
    "content-type": outcome.status >= 400 ? PROBLEM_CONTENT_TYPE : "application/json",
    // No answer about an account may be kept by anything between the client and the ledger.
    "cache-control": "no-store",
    ...extraHeaders,
  };
  // Only an answer recorded under the key (the original or a replay of it) says whether it was replayed.
  if (outcome.facts?.recorded === true) headers["idempotent-replayed"] = outcome.replayed ? "true" : "false";
  if (outcome.status === 503) headers["retry-after"] = String(OVERLOADED_RETRY_AFTER_SECONDS);
  if (outcome.status === 429) headers["retry-after"] = String(RATE_LIMITED_RETRY_AFTER_SECONDS);
  return new Response(outcome.body, { status: outcome.status, headers });
}

export function failureResponse(f: Failure): Response {
  const headers: Record<string, string> = {};
  if (f.code === "method_not_allowed") headers.allow = f.allow.join(", ");
  // RFC 6750: a request with no key gets the bare challenge, one with a wrong key is told so.
  if (f.code === "unauthorized")
    headers["www-authenticate"] = f.invalidToken ? 'Bearer error="invalid_token"' : "Bearer";
  return outcomeResponse(failure(f), headers);
}
