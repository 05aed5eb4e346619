/**
 * Per-tenant request quotas through the Workers rate-limiting binding, when
 * RATE_LIMITER is bound (the service runs without it). A request counts
 * once; a batch counts once per operation, so splitting work into batches
 * buys no extra quota. Returns whether the tenant is over its quota.
 */
export async function overQuota(limiter: RateLimit | undefined, tenant: string, weight: number): Promise<boolean> {
  if (limiter === undefined) return false;
  const outcomes = await Promise.all(Array.from({ length: weight }, () => limiter.limit({ key: tenant })));
  return outcomes.some((outcome) => !outcome.success);
}
