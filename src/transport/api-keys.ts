import { MAX_JSON_DEPTH } from "../domain/limits.ts";
import { hexToBytes } from "../lib/hex.ts";
import { TENANT_ID_PATTERN } from "../domain/limits.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseStrictJson } from "../lib/strict-json.ts";

/**
 * The API_KEYS secret: a JSON object mapping each tenant id to the SHA-256
 * hex digests of its keys. Keys themselves are never stored; several digests
 * per tenant let keys rotate without downtime.
 */

export type KeyTable = ReadonlyArray<{ readonly tenant: string; readonly digest: Uint8Array }>;

/** The table, or why API_KEYS is unusable. */
export type KeyTableParse = Result<KeyTable, string>;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * `setting` and `holder` name the secret and what its keys belong to in every
 * reason: OPERATOR_KEYS has API_KEYS' form (src/transport/operator-keys.ts).
 */
export function parseKeyTable(raw: string | undefined, setting = "API_KEYS", holder = "tenant id"): KeyTableParse {
  if (raw === undefined || raw.trim() === "") return err(`${setting} is not set`);
  // The strict parser: a tenant listed twice would otherwise silently keep only its last list.
  const json = parseStrictJson(raw, MAX_JSON_DEPTH);
  if (!json.ok) return err(`${setting} is not valid JSON: ${json.error}`);
  const parsed = json.value;
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return err(`${setting} must be a JSON object of ${holder} to digest list`);
  }
  const table: { tenant: string; digest: Uint8Array }[] = [];
  const owners = new Map<string, string>();
  for (const [tenant, digests] of Object.entries(parsed)) {
    if (!TENANT_ID_PATTERN.test(tenant)) {
      return err(`${setting} ${holder} ${JSON.stringify(tenant)} is invalid`);
    }
    if (!Array.isArray(digests)) return err(`${setting}[${tenant}] must be a list`);
    for (const digest of digests as unknown[]) {
      if (typeof digest !== "string" || !SHA256_HEX.test(digest)) {
        return err(`${setting}[${tenant}] holds something that is not a lower-case SHA-256 hex digest`);
      }
      // One key under two tenants would hand one tenant's calls to the other's accounts.
      const owner = owners.get(digest);
      if (owner !== undefined && owner !== tenant) {
        return err(`${setting} lists one digest under both ${owner} and ${tenant}`);
      }
      owners.set(digest, tenant);
      table.push({ tenant, digest: hexToBytes(digest) });
    }
  }
  return ok(table);
}
