import { MAX_JSON_DEPTH } from "../domain/limits.ts";
import { TENANT_ID_PATTERN } from "../domain/limits.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseStrictJson } from "../lib/strict-json.ts";

/**
 * Where a tenant's account objects live. TENANT_JURISDICTIONS (JSON, tenant
 * id to jurisdiction) pins tenants; any other tenant is global. A tenant's
 * directory records its jurisdiction when its first account opens, and a
 * configuration that later disagrees stops that tenant's requests with a
 * logged 500 instead of silently routing them to new, empty objects.
 */

const JURISDICTIONS: readonly DurableObjectJurisdiction[] = ["eu", "fedramp", "fedramp-high", "us"];

export type JurisdictionTable = ReadonlyMap<string, DurableObjectJurisdiction>;

export function parseJurisdictions(raw: string | undefined): Result<JurisdictionTable, string> {
  if (raw === undefined || raw.trim() === "") return ok(new Map());
  const json = parseStrictJson(raw, MAX_JSON_DEPTH);
  if (!json.ok) return err(`TENANT_JURISDICTIONS is not valid JSON: ${json.error}`);
  const value = json.value;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return err("TENANT_JURISDICTIONS must be a JSON object of tenant id to jurisdiction");
  }
  const table = new Map<string, DurableObjectJurisdiction>();
  for (const [tenant, jurisdiction] of Object.entries(value)) {
    if (!TENANT_ID_PATTERN.test(tenant))
      return err(`TENANT_JURISDICTIONS tenant id ${JSON.stringify(tenant)} is invalid`);
    if (!JURISDICTIONS.includes(jurisdiction as DurableObjectJurisdiction)) {
      return err(`TENANT_JURISDICTIONS[${tenant}] must be one of ${JURISDICTIONS.map((j) => `"${j}"`).join(", ")}`);
    }
    table.set(tenant, jurisdiction as DurableObjectJurisdiction);
  }
  return ok(table);
}

/** Why a tenant's requests cannot be placed: the setting is unusable, or disagrees with the tenant's pin. */
export type PlacementFailure =
  | { readonly kind: "misconfigured"; readonly reason: string }
  | { readonly kind: "mismatch"; readonly configured: string | null; readonly pinnedTo: string | null };

let parsedTable: { raw: string | undefined; table: Result<JurisdictionTable, string> } | undefined;
/** Tenant and jurisdiction pairs this isolate has seen the directory agree to. */
const confirmed = new Set<string>();

/**
 * The jurisdiction a tenant's accounts live in (null: global), checked
 * against the tenant's directory (one awaited object call) once per isolate
 * and TENANT_JURISDICTIONS value, and on every call while the tenant has no
 * pin or the check fails; `record` pins a tenant that has no pin yet (the
 * open-account route).
 */
export async function placeTenant(
  env: Pick<Env, "DIRECTORY" | "TENANT_JURISDICTIONS">,
  tenant: string,
  record: boolean,
): Promise<Result<DurableObjectJurisdiction | null, PlacementFailure>> {
  if (parsedTable === undefined || parsedTable.raw !== env.TENANT_JURISDICTIONS) {
    parsedTable = { raw: env.TENANT_JURISDICTIONS, table: parseJurisdictions(env.TENANT_JURISDICTIONS) };
    confirmed.clear();
  }
  const table = parsedTable.table;
  if (!table.ok) return err({ kind: "misconfigured", reason: table.error });
  const jurisdiction = table.value.get(tenant) ?? null;
  const key = `${tenant}\n${jurisdiction ?? ""}`;
  if (confirmed.has(key)) return ok(jurisdiction);
  const check = await env.DIRECTORY.getByName(tenant).checkPin(jurisdiction, record);
  if (!check.ok) return err({ kind: "mismatch", configured: jurisdiction, pinnedTo: check.pinnedTo });
  // Only a recorded pin is final; until the first account opens, ask again.
  if (check.pinned) confirmed.add(key);
  return ok(jurisdiction);
}
