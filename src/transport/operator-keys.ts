import { bytesToHex } from "../lib/hex.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseKeyTable } from "./api-keys.ts";

/**
 * The OPERATOR_KEYS secret: who may act as the operator (the dead-letter
 * routes, docs/operations.md). It has API_KEYS' form, a JSON object mapping
 * each operator's name (`[a-z0-9_-]`, 1 to 64) to the SHA-256 hex digests of
 * its keys, and is kept apart from it so that no tenant's key is ever an
 * operator's. Unset or empty, there is no operator: every operator request is
 * refused. A digest API_KEYS also lists makes the setting unusable, since that
 * tenant's key would act as operator.
 */

export type OperatorTable = ReadonlyArray<{ readonly operator: string; readonly digest: Uint8Array }>;

/**
 * The operators, or why OPERATOR_KEYS is unusable. API_KEYS is read only to
 * refuse a shared digest: an unusable API_KEYS (the tenants' problem, for
 * which the operator may need the dead letters most) does not lock the
 * operator out.
 */
export function parseOperatorKeys(raw: string | undefined, apiKeys: string | undefined): Result<OperatorTable, string> {
  if (raw === undefined || raw.trim() === "") return ok([]);
  const table = parseKeyTable(raw, "OPERATOR_KEYS", "operator name");
  if (!table.ok) return table;
  const tenantKeys = parseKeyTable(apiKeys);
  if (tenantKeys.ok) {
    const tenantOf = new Map(tenantKeys.value.map(({ tenant, digest }) => [bytesToHex(digest), tenant]));
    for (const { tenant: operator, digest } of table.value) {
      const tenant = tenantOf.get(bytesToHex(digest));
      if (tenant !== undefined) {
        return err(
          `OPERATOR_KEYS[${operator}] lists a digest that API_KEYS lists under tenant ${tenant}: that tenant's key would act as operator; give the operator a key of its own`,
        );
      }
    }
  }
  return ok(table.value.map(({ tenant, digest }) => ({ operator: tenant, digest })));
}
