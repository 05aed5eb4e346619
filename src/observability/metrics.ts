/**
 * Metrics as Workers Analytics Engine data points, when a METRICS dataset is
 * bound (docs/operations.md gives the queries). Two kinds, told apart by
 * blob1; every column's meaning is fixed here, once, and the queries depend
 * on it, so a column is only ever appended, never moved.
 *
 * request  blob1 "request", blob2 route template ("queue" for a command, "batch op" for a batch's operation),
 *          blob3 outcome code ("ok" or the problem code), blob4 operation ("credit", "charge", "refund", "hold", "capture", "void" or ""),
 *          blob5 currency of money moved (or ""), blob6 replayed ("true"/"false"), blob7 key id, blob8 tenant;
 *          double1 status, double2 duration in ms, double3 money moved in minor units (absolute),
 *          double4 object-call retries, double5 requests this point stands for (1, or a batch's count);
 *          index1 the tenant.
 * sweep    blob1 "sweep", blob8 tenant; double1 records deleted, double2 sweep batches (1 per run),
 *          double3 lag behind the oldest expiry in ms, double4 events published; index1 the tenant.
 */

/** blob2 of a point that stands for some of a batch's operations. */
export const BATCH_OPERATION_ROUTE = "batch op";
/** blob2 of a point for a command from the commands queue. */
export const QUEUE_ROUTE = "queue";

export interface RequestMetric {
  readonly route: string;
  readonly code: string | null;
  readonly operation: string | null;
  readonly currency: string | null;
  readonly replayed: boolean;
  readonly keyId: string | null;
  readonly tenant: string | null;
  readonly status: number;
  readonly durationMs: number;
  readonly amountMinor: number;
  readonly retries: number;
  readonly count: number;
}

export interface SweepMetric {
  readonly tenant: string | null;
  readonly deleted: number;
  readonly lagMs: number;
  readonly eventsPublished: number;
  /** The account's name, and the bytes its object stores (its SQLite database). */
  readonly account: string | null;
  readonly storageBytes: number;
}

export function requestPoint(m: RequestMetric): AnalyticsEngineDataPoint {
  return {
    indexes: [m.tenant ?? ""],
    blobs: [
      "request",
      m.route,
      m.code ?? "ok",
      m.operation ?? "",
      m.currency ?? "",
      String(m.replayed),
      m.keyId ?? "",
      m.tenant ?? "",
    ],
    doubles: [m.status, m.durationMs, Math.abs(m.amountMinor), m.retries, m.count],
  };
}

export function sweepPoint(m: SweepMetric): AnalyticsEngineDataPoint {
  return {
    indexes: [m.tenant ?? ""],
    blobs: ["sweep", "", "", "", "", "", "", m.tenant ?? "", m.account ?? ""],
    doubles: [m.deleted, 1, m.lagMs, m.eventsPublished, m.storageBytes],
  };
}
