import { DEV_API_KEY } from "../config/dev-key.ts";
import { hexToBytes } from "../lib/hex.ts";
import { keyIdOf } from "../config/key-id.ts";
import { sha256Hex } from "../lib/sha256.ts";
import { MAX_API_KEY_LENGTH, MAX_CACHED_API_KEYS } from "../domain/limits.ts";
import type { FailureOf } from "../domain/problems.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseKeyTable, type KeyTableParse } from "../transport/api-keys.ts";

/** Who a request acts for: the tenant, and the id of the key it used. */
export interface Caller {
  readonly tenant: string;
  readonly keyId: string;
}

/** The caller, or why the request acts for no one. */
export type Authentication = Result<Caller, FailureOf<"unauthorized" | "internal_error"> & { reason?: string }>;

/** `Authorization: Bearer <token>`, RFC 6750's token characters; operator keys are read by it too. */
export const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The parsed API_KEYS, and the keys seen to be valid under it (key -> caller), dropped when API_KEYS changes. */
let cachedTable: { raw: string | undefined; parse: KeyTableParse; valid: Map<string, Caller> } | undefined;

/**
 * Resolves `Authorization: Bearer <key>` to a tenant. The key's SHA-256 is
 * compared with every configured digest in constant time, and the loop never
 * stops early, so timing reveals neither a match nor its position. A missing
 * or malformed API_KEYS is an internal error with its reason, never open.
 */
export function authenticate(
  authorization: string | null,
  apiKeys: string | undefined,
  allowDevKey: boolean,
): Authentication {
  if (cachedTable === undefined || cachedTable.raw !== apiKeys) {
    cachedTable = { raw: apiKeys, parse: parseKeyTable(apiKeys), valid: new Map() };
  }
  const { parse, valid } = cachedTable;
  if (!parse.ok) return err({ code: "internal_error", cause: "misconfigured", reason: parse.error });

  if (authorization === null) return err({ code: "unauthorized", invalidToken: false });
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined || token.length > MAX_API_KEY_LENGTH) return UNAUTHORIZED;
  // The development key is public: only a deployment whose own settings allow it (.dev.vars) honours it.
  if (token === DEV_API_KEY && !allowDevKey) return UNAUTHORIZED;
  // A key seen valid under this very API_KEYS is not hashed again: the hash is most of a request's auth cost.
  const known = valid.get(token);
  if (known !== undefined) return ok(known);

  const digestHex = sha256Hex(token);
  const digest = hexToBytes(digestHex);
  let tenant: string | undefined;
  for (const entry of parse.value) {
    if (crypto.subtle.timingSafeEqual(entry.digest, digest) && tenant === undefined) tenant = entry.tenant;
  }
  if (tenant === undefined) return UNAUTHORIZED;
  const caller = { tenant, keyId: keyIdOf(digestHex) };
  if (valid.size >= MAX_CACHED_API_KEYS) valid.delete(valid.keys().next().value as string);
  valid.set(token, caller);
  return ok(caller);
}

/** A key was sent, and it is not one: RFC 6750's invalid_token. */
const UNAUTHORIZED = err({ code: "unauthorized", invalidToken: true } as const);
