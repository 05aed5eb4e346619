import { TENANT_ID_PATTERN } from "../domain/limits.ts";
import type { AccountRow } from "./ledger-store.ts";

/**
 * The account's tenant: stored, or read off the object's name; null if
 * neither. An account opened before schema 4 has none stored until the
 * object is reached by name or the next PUT carries it.
 */
export function tenantOf(account: AccountRow, objectName: string | undefined): string | null {
  return account.tenant ?? tenantOfName(objectName, account.name);
}

/**
 * The tenant in an object's name, `<tenant>:<account>` (account-client.ts),
 * when the name is that of `account`. The platform gives an object reached by
 * name its name (`ctx.id.name`); one reached by an id string, or made with a
 * unique id, gets none.
 */
export function tenantOfName(name: string | undefined, account: string): string | null {
  if (name === undefined) return null;
  const colon = name.indexOf(":");
  const tenant = name.slice(0, colon);
  return colon > 0 && TENANT_ID_PATTERN.test(tenant) && name.slice(colon + 1) === account ? tenant : null;
}
