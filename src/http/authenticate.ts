import { sha256 } from "../domain/fingerprint.ts";
import { bytesToHex } from "../domain/hex.ts";
import { MAX_API_KEY_LENGTH } from "../domain/limits.ts";
import { problem, type Problem } from "../domain/problems.ts";
import { parseKeyTable, type KeyTableParse } from "./api-keys.ts";
import { DEV_API_KEY_SHA256, isLoopbackHost } from "./dev-key.ts";

export type Authentication =
  { ok: true; tenant: string } | { ok: false; problem: Problem } | { ok: false; misconfigured: string };

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

let cachedTable: { raw: string | undefined; parse: KeyTableParse } | undefined;

/**
 * Resolves `Authorization: Bearer <key>` to a tenant. The key's SHA-256 is
 * compared with every configured digest in constant time, and the loop never
 * stops early, so timing reveals neither a match nor its position.
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
  if (!parse.ok) return { ok: false, misconfigured: parse.reason };

  const token = BEARER.exec(authorization ?? "")?.[1];
  if (token === undefined || token.length > MAX_API_KEY_LENGTH) return unauthorized();
  const digest = await sha256(token);
  if (bytesToHex(digest) === DEV_API_KEY_SHA256 && !isLoopbackHost(hostname)) return unauthorized();

  let tenant: string | undefined;
  for (const entry of parse.table) {
    if (crypto.subtle.timingSafeEqual(entry.digest, digest) && tenant === undefined) tenant = entry.tenant;
  }
  return tenant === undefined ? unauthorized() : { ok: true, tenant };
}

function unauthorized(): Authentication {
  return { ok: false, problem: problem("unauthorized", "Send Authorization: Bearer <api key> with a valid key.") };
}
