import { isJsonMediaType } from "../lib/media-type.ts";
import type { ProblemDocument } from "../domain/problems.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { LedgerProblemError, OutcomeUnknownError, problemError, type GiveUpReason } from "./errors.ts";
import {
  MIN_ATTEMPT_WINDOW_MS,
  backoffDelayMs,
  isRetryableStatus,
  retryAfterMs,
  type RetryPolicy,
} from "./retry-policy.ts";

/**
 * Sends one logical request until it has a definite answer or the policy
 * gives up. Every attempt is the identical request (same body, same
 * Idempotency-Key), which is what makes retrying a money-moving POST safe.
 */

/**
 * The transport. The client always passes a URL string and a string body, so
 * a wrapper (e.g. one injecting faults) can send the same request again.
 */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface Runtime {
  readonly fetch: Fetch;
  readonly policy: RetryPolicy;
  /** In [0, 1); drives the backoff jitter. */
  readonly random: () => number;
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface PreparedRequest {
  readonly method: "GET" | "PUT" | "POST";
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly idempotencyKey: string | null;
  readonly signal?: AbortSignal;
}

export interface Answer {
  readonly status: number;
  readonly value: unknown;
  readonly replayed: boolean;
  readonly attempts: number;
}

/** A whole answer, or why the attempt got none. */
type AttemptResult = Result<{ response: Response; text: string }, unknown>;

export async function sendWithRetries(runtime: Runtime, request: PreparedRequest): Promise<Answer> {
  const { policy } = runtime;
  const startedMs = runtime.now();
  const elapsedMs = () => runtime.now() - startedMs;
  // A retry is only worth sending if it has time to be answered.
  const minAttemptMs = Math.min(policy.attemptTimeoutMs, MIN_ATTEMPT_WINDOW_MS);
  let attempts = 0;
  const giveUp = (reason: GiveUpReason, cause: unknown) =>
    new OutcomeUnknownError(reason, {
      idempotencyKey: request.idempotencyKey,
      attempts,
      elapsedMs: elapsedMs(),
      cause,
    });

  for (;;) {
    if (request.signal?.aborted) throw giveUp("aborted", request.signal.reason);
    attempts += 1;
    const timeoutMs = Math.max(minAttemptMs, Math.min(policy.attemptTimeoutMs, policy.maxElapsedMs - elapsedMs()));
    const result = await attempt(runtime.fetch, request, timeoutMs);

    let failure: unknown;
    let waitAtLeastMs = 0;
    if (result.ok) {
      // A whole answer is definite even if the caller aborted meanwhile: report it, do not discard it.
      const { response, text } = result.value;
      const replayed = response.headers.get("idempotent-replayed") === "true";
      const details = { replayed, idempotencyKey: request.idempotencyKey, attempts };
      if (response.ok) {
        if (!isJsonMediaType(response.headers.get("content-type"))) {
          throw new LedgerProblemError(unexpectedResponse(response.status, "is not JSON; is baseUrl right?"), details);
        }
        const value = parseJson(text);
        if (value !== undefined) return { status: response.status, value, replayed, attempts };
        failure = new Error(`HTTP ${response.status} arrived with a truncated or malformed JSON body`);
      } else if (!isRetryableStatus(response.status)) {
        throw problemError(readProblem(response.status, text), details);
      } else {
        failure = new LedgerProblemError(readProblem(response.status, text), details);
        waitAtLeastMs = retryAfterMs(response.headers.get("retry-after"), Date.now()) ?? 0;
      }
    } else {
      if (request.signal?.aborted) throw giveUp("aborted", request.signal.reason);
      failure = result.error;
    }

    if (attempts >= policy.maxAttempts) throw giveUp("attempts_exhausted", failure);
    const delayMs = Math.max(waitAtLeastMs, backoffDelayMs(attempts, policy, runtime.random));
    if (elapsedMs() + delayMs + minAttemptMs > policy.maxElapsedMs) throw giveUp("time_exhausted", failure);
    try {
      await runtime.sleep(delayMs, request.signal);
    } catch (error) {
      if (request.signal?.aborted) throw giveUp("aborted", request.signal.reason);
      throw error;
    }
  }
}

/** One attempt, abandoned after `timeoutMs` or when the caller aborts; a whole body or a failure. */
async function attempt(fetch: Fetch, request: PreparedRequest, timeoutMs: number): Promise<AttemptResult> {
  const controller = new AbortController();
  const abandon = () => {
    controller.abort(request.signal?.reason);
  };
  request.signal?.addEventListener("abort", abandon, { once: true });
  const timer = setTimeout(() => {
    controller.abort(new Error(`attempt timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  // Settles only by rejecting; raced against a transport that may ignore the signal.
  const abandoned = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => {
      reject(controller.signal.reason as Error);
    });
  });
  abandoned.catch(() => undefined);
  // Redirects are not followed: a redirected POST would silently become a GET somewhere else.
  const init: RequestInit = {
    method: request.method,
    headers: request.headers,
    signal: controller.signal,
    redirect: "manual",
  };
  if (request.body !== undefined) init.body = request.body;
  let pending: Promise<Response>;
  try {
    pending = fetch(request.url, init);
  } catch (error) {
    pending = Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  try {
    const response = await Promise.race([pending, abandoned]);
    const text = await Promise.race([response.text(), abandoned]);
    return ok({ response, text });
  } catch (error) {
    // Release the connection of an answer that arrives after the attempt was given up.
    void pending.then(
      (late) => late.body?.cancel().catch(() => undefined),
      () => undefined,
    );
    return err(error);
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener("abort", abandon);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The response's problem document, or one describing what arrived instead (e.g. a proxy's HTML page). */
function readProblem(status: number, text: string): ProblemDocument {
  const value = parseJson(text);
  if (typeof value === "object" && value !== null && typeof (value as { code?: unknown }).code === "string") {
    return { ...(value as ProblemDocument), status };
  }
  return unexpectedResponse(status, "is not a problem document");
}

function unexpectedResponse(status: number, what: string): ProblemDocument {
  return {
    type: "about:blank",
    title: "Unexpected response",
    status,
    detail: `The body of this HTTP ${status} response ${what}.`,
    code: "unexpected_response",
  };
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
