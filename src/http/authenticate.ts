import { DEV_API_KEY_SHA256, isLoopbackHost } from "../domain/dev-key.ts";
import { sha256 } from "../domain/fingerprint.ts";
import { bytesToHex } from "../domain/hex.ts";
import { MAX_API_KEY_LENGTH } from "../domain/limits.ts";
import type { FailureOf } from "../domain/problems.ts";
import { err, ok, type Result } from "../domain/result.ts";
import { parseKeyTable, type KeyTableParse } from "./api-keys.ts";

/** The tenant a request acts for, or why it acts for none. */
export type Authentication = Result<string, FailureOf<"unauthorized" | "internal_error"> & { reason?: string }>;

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

let cachedTable: { raw: string | undefined; parse: KeyTableParse } | undefined;

/**
 * Resolves `Authorization: Bearer <key>` to a tenant. The key's SHA-256 is
 * compared with every configured digest in constant time, and the loop never
 * stops early, so timing reveals neither a match nor its position. A missing
 * or malformed API_KEYS is an internal error with its reason, never open.
 */
export async function authenticate(
  authorization: string | null,
  apiKeys: string | undefined,
  hostname: string,
): Promise<Authentication> {
  if (cachedTable === undefined || cachedTable.raw !== apiKeys) {
    cachedTable = { raw: apiKeys, parse: parseKeyTable(apiKeys) };
  }
  const { parse } = cachedTable;
  if (!parse.ok) return err({ code: "internal_error", cause: "misconfigured", reason: parse.error });

  const token = BEARER.exec(authorization ?? "")?.[1];
  if (token === undefined || token.length > MAX_API_KEY_LENGTH) return UNAUTHORIZED;
  const digest = await sha256(token);
  if (bytesToHex(digest) === DEV_API_KEY_SHA256 && !isLoopbackHost(hostname)) return UNAUTHORIZED;

  let tenant: string | undefined;
  for (const entry of parse.value) {
    if (crypto.subtle.timingSafeEqual(entry.digest, digest) && tenant === undefined) tenant = entry.tenant;
  }
  return tenant === undefined ? UNAUTHORIZED : ok(tenant);
}

const UNAUTHORIZED = err({ code: "unauthorized" } as const);
