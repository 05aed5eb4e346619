import { OVERLOADED_RETRY_AFTER_SECONDS } from "../domain/limits.ts";
import { PROBLEM_CONTENT_TYPE, type Problem } from "../domain/problems.ts";
import { failure, type Outcome } from "../ledger/outcome.ts";

/** Turns an outcome into an HTTP response; the one place status-specific headers are added. */
export function outcomeResponse(outcome: Outcome, options: { idempotent: boolean }): Response {
  const headers = new Headers({
    "content-type": outcome.status >= 400 ? PROBLEM_CONTENT_TYPE : "application/json",
  });
  if (options.idempotent) headers.set("idempotent-replayed", outcome.replayed ? "true" : "false");
  if (outcome.status === 401) headers.set("www-authenticate", "Bearer");
  if (outcome.status === 503) headers.set("retry-after", String(OVERLOADED_RETRY_AFTER_SECONDS));
  return new Response(outcome.body, { status: outcome.status, headers });
}

export function problemResponse(p: Problem, extraHeaders?: Record<string, string>): Response {
  const response = outcomeResponse(failure(p), { idempotent: false });
  for (const [name, value] of Object.entries(extraHeaders ?? {})) response.headers.set(name, value);
  return response;
}
