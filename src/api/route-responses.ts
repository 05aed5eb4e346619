import type { ResponseDef, ResponseHeader } from "./routes.ts";

/** Responses many routes share, so each route lists only its own. */

export const COMMON: Readonly<Record<number, ResponseDef>> = {
  400: { description: "Invalid input", problems: ["invalid_request"] },
  401: { description: "No valid API key", problems: ["unauthorized"], headers: ["WWW-Authenticate"] },
  404: { description: "The account was never opened", problems: ["account_not_found"] },
  429: {
    description: "Over the tenant's request quota (when quotas are configured)",
    problems: ["rate_limited"],
    headers: ["Retry-After"],
  },
  500: { description: "A fault inside OnceLedger", problems: ["internal_error"] },
  503: { description: "The account is overloaded", problems: ["overloaded"], headers: ["Retry-After"] },
};

export const BODY_ERRORS: Readonly<Record<number, ResponseDef>> = {
  400: { description: "Invalid input", problems: ["invalid_request", "invalid_json"] },
  413: { description: "The body is too large", problems: ["payload_too_large"] },
  415: { description: "The body is not JSON", problems: ["unsupported_media_type"] },
};

export const REPLAYED: readonly ResponseHeader[] = ["Idempotent-Replayed"];
