import { OVERLOADED_RETRY_AFTER_SECONDS } from "../domain/limits.ts";
import { PROBLEM_CONTENT_TYPE, type Failure } from "../domain/problems.ts";
import { failure, type Outcome } from "../ledger/outcome.ts";

/** Outcomes and failures as HTTP responses: the one place status-specific headers are added. */

export function outcomeResponse(outcome: Outcome): Response {
  const headers = new Headers({
    "content-type": outcome.status >= 400 ? PROBLEM_CONTENT_TYPE : "application/json",
  });
  // Only an answer recorded under the key (the original or a replay of it) says whether it was replayed.
  if (outcome.facts?.recorded === true) headers.set("idempotent-replayed", outcome.replayed ? "true" : "false");
  if (outcome.status === 503) headers.set("retry-after", String(OVERLOADED_RETRY_AFTER_SECONDS));
  return new Response(outcome.body, { status: outcome.status, headers });
}

export function failureResponse(f: Failure): Response {
  const response = outcomeResponse(failure(f));
  if (f.code === "method_not_allowed") response.headers.set("allow", f.allow.join(", "));
  // RFC 6750: a request with no key gets the bare challenge, one with a wrong key is told so.
  if (f.code === "unauthorized") {
    response.headers.set("www-authenticate", f.invalidToken ? 'Bearer error="invalid_token"' : "Bearer");
  }
  return response;
}
