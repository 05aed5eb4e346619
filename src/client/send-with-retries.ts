import { LedgerProblemError, OutcomeUnknownError, type GiveUpReason, type ProblemDocument } from "./errors.ts";
import { backoffDelayMs, isRetryableStatus, retryAfterMs, type RetryPolicy } from "./retry-policy.ts";

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

type AttemptResult = { ok: true; response: Response; text: string } | { ok: false; error: unknown };

export async function sendWithRetries(runtime: Runtime, request: PreparedRequest): Promise<Answer> {
  const { policy } = runtime;
  const startedMs = runtime.now();
  let attempts = 0;
  const giveUp = (reason: GiveUpReason, cause: unknown) =>
    new OutcomeUnknownError(reason, {
      idempotencyKey: request.idempotencyKey,
      attempts,
      elapsedMs: runtime.now() - startedMs,
      cause,
    });

  for (;;) {
    if (request.signal?.aborted) throw giveUp("aborted", request.signal.reason);
    attempts += 1;
    const remainingMs = policy.maxElapsedMs - (runtime.now() - startedMs);
    const result = await attempt(runtime.fetch, request, Math.max(1, Math.min(policy.attemptTimeoutMs, remainingMs)));
    if (request.signal?.aborted) throw giveUp("aborted", request.signal.reason);

    let failure: unknown;
    let waitAtLeastMs = 0;
    if (result.ok) {
      const { response, text } = result;
      const replayed = response.headers.get("idempotent-replayed") === "true";
      const details = { replayed, idempotencyKey: request.idempotencyKey, attempts };
      if (response.ok) {
        const value = parseJson(text);
        if (value !== undefined) return { status: response.status, value, replayed, attempts };
        failure = new Error(`HTTP ${response.status} arrived with a body that is not JSON`);
      } else if (!isRetryableStatus(response.status)) {
        throw new LedgerProblemError(readProblem(response.status, text), details);
      } else {
        failure = new LedgerProblemError(readProblem(response.status, text), details);
        waitAtLeastMs = retryAfterMs(response.headers.get("retry-after"), runtime.now()) ?? 0;
      }
    } else {
      failure = result.error;
    }

    if (attempts >= policy.maxAttempts) throw giveUp("attempts_exhausted", failure);
    const delayMs = Math.max(waitAtLeastMs, backoffDelayMs(attempts, policy, runtime.random));
    if (runtime.now() - startedMs + delayMs >= policy.maxElapsedMs) throw giveUp("time_exhausted", failure);
    try {
      await runtime.sleep(delayMs, request.signal);
    } catch {
      throw giveUp("aborted", request.signal?.reason);
    }
  }
}

/** One attempt, abandoned after `timeoutMs` or when the caller aborts; a whole body or a failure. */
async function attempt(fetch: Fetch, request: PreparedRequest, timeoutMs: number): Promise<AttemptResult> {
  const controller = new AbortController();
  const abandon = () => controller.abort(request.signal?.reason);
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
  try {
    const init: RequestInit = { method: request.method, headers: request.headers, signal: controller.signal };
    if (request.body !== undefined) init.body = request.body;
    const response = await Promise.race([fetch(request.url, init), abandoned]);
    const text = await Promise.race([response.text(), abandoned]);
    return { ok: true, response, text };
  } catch (error) {
    return { ok: false, error };
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
  return {
    type: "about:blank",
    title: "Unexpected response",
    status,
    detail: `HTTP ${status} with a body that is not a problem document`,
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
