/**
 * The R2 bucket an account archives its closed periods into: ARCHIVE, or,
 * for an account object placed in a jurisdiction, the bucket bound for that
 * jurisdiction (ARCHIVE_EU, ARCHIVE_FEDRAMP, ARCHIVE_FEDRAMP_HIGH,
 * ARCHIVE_US; docs/operations.md), so a pinned tenant's history never leaves
 * it. Null when that binding is missing: the account then keeps its closed
 * periods until it is bound.
 */
export interface ArchiveBindings {
  readonly ARCHIVE?: R2Bucket;
  readonly ARCHIVE_EU?: R2Bucket;
  readonly ARCHIVE_FEDRAMP?: R2Bucket;
  readonly ARCHIVE_FEDRAMP_HIGH?: R2Bucket;
  readonly ARCHIVE_US?: R2Bucket;
}

export function archiveBucket(env: ArchiveBindings, jurisdiction: string | undefined): R2Bucket | null {
  if (jurisdiction === undefined) return env.ARCHIVE ?? null;
  const name = `ARCHIVE_${jurisdiction.toUpperCase().replaceAll("-", "_")}` as keyof ArchiveBindings;
  return env[name] ?? null;
}
