import { logError } from "../observability/log.ts";
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { MAX_CORS_ORIGINS } from "../domain/limits.ts";
import { err, ok, type Result } from "../lib/result.ts";

/**
 * Cross-origin access for browsers, off unless CORS_ALLOWED_ORIGINS lists
 * origins. An API key in a web page can be read by whoever uses the page, so
 * this is for trusted internal tools, never for customers' browsers.
 */

/** The listed origins, or why the setting is unusable. */
export type AllowedOrigins = Result<readonly string[], string>;

/** Comma-separated exact origins (`https://admin.example.com`); empty means none. No wildcard. */
export function parseAllowedOrigins(value: string | undefined): AllowedOrigins {
  const entries = (value ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length > MAX_CORS_ORIGINS) {
    return err(`CORS_ALLOWED_ORIGINS lists more than ${MAX_CORS_ORIGINS} origins`);
  }
  for (const entry of entries) {
    if (!isOrigin(entry)) {
      return err(`CORS_ALLOWED_ORIGINS entry "${entry}" is not an origin like https://host[:port]`);
    }
  }
  return ok(entries);
}

function isOrigin(entry: string): boolean {
  try {
    const url = new URL(entry);
    return (url.protocol === "https:" || url.protocol === "http:") && url.origin === entry;
  } catch {
    return false;
  }
}

/**
 * Answers a listed origin's preflight and lets it read the headers the API
 * answers with. Anything else (no Origin, another origin, an OPTIONS that is
 * not a preflight) goes on as if CORS did not exist.
 */
export function corsMiddleware(): MiddlewareHandler<{ Bindings: Env }> {
  // Parsed once per value: a malformed setting is logged once, not on every request.
  let parsed: { raw: string | undefined; allowed: AllowedOrigins } | undefined;
  return async (c, next) => {
    if (parsed === undefined || parsed.raw !== c.env.CORS_ALLOWED_ORIGINS) {
      parsed = { raw: c.env.CORS_ALLOWED_ORIGINS, allowed: parseAllowedOrigins(c.env.CORS_ALLOWED_ORIGINS) };
      if (!parsed.allowed.ok) logError("corsOff", { reason: parsed.allowed.error });
    }
    const { allowed } = parsed;
    const origin = c.req.header("origin");
    if (!allowed.ok || origin === undefined || !allowed.value.includes(origin)) return next();
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method") === undefined) return next();
    return cors({
      origin,
      allowMethods: ["GET", "HEAD", "PUT", "POST"],
      allowHeaders: ["authorization", "content-type", "idempotency-key", "if-match", "x-request-id"],
      exposeHeaders: [
        "idempotent-replayed",
        "retry-after",
        "allow",
        "www-authenticate",
        "etag",
        "location",
        "request-id",
      ],
      maxAge: 600,
    })(c, next);
  };
}
