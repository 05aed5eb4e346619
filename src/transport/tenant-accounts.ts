import { logError } from "../observability/log.ts";

/** A page of a tenant's account names, as its directory lists them. */
export interface AccountNamePage {
  readonly accounts: readonly string[];
  readonly hasMore: boolean;
}

/**
 * Reads one page of the tenant's account names from its directory object;
 * null, logged, when the directory cannot be reached.
 */
export async function listTenantAccounts(
  directory: Env["DIRECTORY"],
  tenant: string,
  limit: number,
  startingAfter: string | undefined,
): Promise<AccountNamePage | null> {
  try {
    return await directory.getByName(tenant).list(limit, startingAfter);
  } catch (error) {
    logError("directoryCallFailed", { tenant, error: String(error) });
    return null;
  }
}
