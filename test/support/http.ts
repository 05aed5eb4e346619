import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { expectProblem } from "./api.ts";

/** Helpers for the authentication and routing tests, which need exact Authorization headers and any host. */

export const BASE = "https://ledger.test";

interface FetchOptions {
  method?: string;
  /** The full Authorization header value; null sends none. */
  authorization?: string | null;
  headers?: Record<string, string>;
  body?: string;
  contentType?: string | null;
}

/** Fetches an absolute URL (any host) with an exact Authorization header. */
export function fetchUrl(url: string, options: FetchOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.authorization != null) headers.set("authorization", options.authorization);
  if (options.body !== undefined) {
    const contentType = options.contentType === undefined ? "application/json" : options.contentType;
    if (contentType !== null) headers.set("content-type", contentType);
  }
  return exports.default.fetch(url, { method: options.method ?? "GET", headers, body: options.body });
}

/**
 * Asserts a 401 with RFC 6750's challenge: the bare `Bearer` when no key was
 * sent, `Bearer error="invalid_token"` when one was sent and is not valid.
 */
export async function expectUnauthorized(response: Response, sent: "none" | "wrong" = "wrong"): Promise<void> {
  await expectProblem(response, 401, "unauthorized");
  expect(response.headers.get("www-authenticate")).toBe(sent === "none" ? "Bearer" : 'Bearer error="invalid_token"');
}

export const usd = (amount: number) => ({ amount, currency: "USD" });
