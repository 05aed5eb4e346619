/**
 * Per-tenant request quotas through the Workers rate-limiting binding, when
 * RATE_LIMITER is bound (the service runs without it). A request counts
 * once; a batch counts once per operation, so splitting work into batches
 * buys no extra quota. Returns whether the tenant is over its quota.
 *
 * The binding takes one unit per `limit()` call and gives none back, so a
 * request of weight w takes its units in rounds of 1, 1, 2, 4, ... calls
 * (each round in parallel, about log2(w) rounds in all) and stops after the
 * first round with a refusal. A refused request still spends the units
 * granted before that refusal (what remained of the quota, at most w - 1)
 * and makes at most as many refused calls as it was granted units, plus one:
 * a tenant already over its quota makes one call, never w.
 */
export async function overQuota(limiter: RateLimit | undefined, tenant: string, weight: number): Promise<boolean> {
  if (limiter === undefined) return false;
  let taken = 0;
  while (taken < weight) {
    const round = Math.min(Math.max(taken, 1), weight - taken);
    const outcomes = await Promise.all(Array.from({ length: round }, () => limiter.limit({ key: tenant })));
    if (outcomes.some((outcome) => !outcome.success)) return true;
    taken += round;
  }
  return false;
}
