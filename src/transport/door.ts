import { IDEMPOTENCY_KEY_HASH_HEX_LENGTH } from "../domain/limits.ts";
import { sha256Hex } from "../lib/sha256.ts";
import { failure, type Outcome } from "../contract/outcome.ts";
import { logError, logInfo } from "../observability/log.ts";
import { BATCH_OPERATION_ROUTE, requestPoint } from "../observability/metrics.ts";
import { accountStubs, callAccount, type AccountStub } from "./account-client.ts";
import { overQuota } from "./quota.ts";
import { placeTenant, type PlacementFailure } from "./tenant-placement.ts";

/**
 * The one door to the account objects, whichever way a request came in
 * (HTTP, the commands queue): it admits the request against its tenant's
 * quota, places the tenant in its jurisdiction, lets the way in call the
 * account objects (counting retries), and records the outcome, refusals
 * included, as one log line and one metric point (plus a batch's groups).
 * A way in describes itself with a `Way`; that is all the door knows of it.
 */

interface WayBase {
  /** blob2 of the metric point: the route template, or QUEUE_ROUTE. */
  readonly route: string;
  readonly tenant: string;
  readonly keyId: string | null;
  readonly account: string | null;
  /** The entry type a money request moves, for metrics. */
  readonly operation: string | null;
  readonly idempotencyKey: string | null;
  /** Units of the tenant's quota it takes: 1, or a batch's operation count. */
  readonly weight: number;
  /** Whether it may pin a tenant that has no jurisdiction recorded yet (opening an account). */
  readonly pinsTenant: boolean;
  /** Tenants refused in this run, refused again without asking: a refused ask may spend quota too. */
  readonly refusedTenants?: Set<string>;
}

/** An API request: recorded as a `request` line. */
export interface HttpWay extends WayBase {
  readonly via: "http";
  readonly requestId: string;
}

/** A commands-queue delivery: recorded as a `command` line. */
export interface QueueWay extends WayBase {
  readonly via: "queue";
  readonly messageId: string;
  readonly attempts: number;
}

export type Way = HttpWay | QueueWay;

/** Calls into the objects of the request's tenant; a failed call is answered as an outcome (500 or 503). */
export type AccountCaller = <T>(account: string, call: (stub: AccountStub) => Promise<T>) => Promise<T | Outcome>;

// Refusals are constants: the queue tells them apart by identity (refusalOf), and none is built per request.
const OVER_QUOTA = failure({ code: "rate_limited" });
const MISPLACED = failure({ code: "internal_error", cause: "jurisdiction_mismatch" });
const MISCONFIGURED = failure({ code: "internal_error", cause: "misconfigured" });

/**
 * Admits, places, runs `work` on `input` with a caller into the tenant's
 * objects, and records its outcome; a refusal is recorded and returned in
 * its place. `startedMs` is when the way in began with the request. (`work`
 * takes its input as an argument, so a way in need not build a closure per request.)
 */
export async function enter<I>(
  env: Env,
  way: Way,
  work: (input: I, callAccountOf: AccountCaller, env: Env) => Promise<Outcome>,
  input: I,
  startedMs: number,
): Promise<Outcome> {
  const { tenant, refusedTenants } = way;
  if (refusedTenants?.has(tenant) === true || (await overQuota(env.RATE_LIMITER, tenant, way.weight))) {
    refusedTenants?.add(tenant);
    return record(env, way, OVER_QUOTA, startedMs, 0);
  }
  const placed = await placeTenant(env, tenant, way.pinsTenant);
  if (!placed.ok) return record(env, way, misplaced(way, placed.error), startedMs, 0);
  let retries = 0;
  const context = way.via === "http" ? { request_id: way.requestId } : { message_id: way.messageId };
  const notes = { context, onRetry: () => (retries += 1) };
  const outcome = await work(
    input,
    (account, call) => callAccount(accountStubs(env.ACCOUNTS, tenant, account, placed.value), call, undefined, notes),
    env,
  );
  return record(env, way, outcome, startedMs, retries);
}

/** Records a request refused before the door (the HTTP pipeline's checks), as every other outcome is recorded. */
export function refuse(env: Env, way: Way, refused: Outcome, startedMs: number): Outcome {
  return record(env, way, refused, startedMs, 0);
}

/** Which of the door's refusals an outcome is, if any: a way in that retries by itself treats them apart. */
export function refusalOf(outcome: Outcome): "quota" | "placement" | null {
  if (outcome === OVER_QUOTA) return "quota";
  return outcome === MISPLACED || outcome === MISCONFIGURED ? "placement" : null;
}

/**
 * Whether the account object decided the request: its answer is final, and
 * asking again gets the same one. Not so for a refusal at the door, a failed
 * or overloaded call (500, 503), or an account not opened yet (a 404 is not
 * recorded, so a later ask, once the account opens, could contradict it).
 */
export function objectDecided(outcome: Outcome): boolean {
  if (outcome.status === 500 || outcome.status === 503 || outcome === OVER_QUOTA) return false;
  return outcome.facts?.code !== "account_not_found";
}

/** A placement failure, logged with its detail (never sent to the caller), as the 500 it answers. */
function misplaced(way: Way, failed: PlacementFailure): Outcome {
  const mismatch = failed.kind === "mismatch";
  if (way.via === "http") {
    logError(mismatch ? "jurisdictionMismatch" : "misconfigured", {
      request_id: way.requestId,
      tenant: way.tenant,
      ...failed,
    });
  } else {
    logError("cannotPlaceTenant", { message_id: way.messageId, tenant: way.tenant, ...failed });
  }
  return mismatch ? MISPLACED : MISCONFIGURED;
}

function record(env: Env, way: Way, outcome: Outcome, startedMs: number, retries: number): Outcome {
  const durationMs = Date.now() - startedMs;
  if (way.via === "http") logRequest(way, outcome, durationMs);
  else logCommand(way, outcome, durationMs);
  const metrics = env.METRICS;
  if (metrics !== undefined) writePoints(metrics, way, outcome, durationMs, retries);
  return outcome;
}

/**
 * One structured line per API request: what an operator searches and what
 * the benchmark sums. Never the API key (only its id), and the
 * Idempotency-Key only as a short hash: enough to find every line about one key.
 */
function logRequest(way: HttpWay, outcome: Outcome, durationMs: number): void {
  const facts = outcome.facts;
  logInfo("request", {
    request_id: way.requestId,
    route: way.route,
    tenant: way.tenant,
    key_id: way.keyId,
    account: way.account,
    idempotency_key_hash: way.idempotencyKey === null ? null : keyHash(way.idempotencyKey),
    original_request_id: outcome.replayed ? (facts?.originalRequestId ?? null) : null,
    status: outcome.status,
    code: facts?.code ?? null,
    replayed: outcome.replayed,
    duration_ms: durationMs,
    entry: facts?.entry?.id ?? null,
    seq: facts?.entry?.seq ?? null,
    operations: facts?.operations ?? null,
    rows_read: facts?.work?.rowsRead ?? 0,
    rows_written: facts?.work?.rowsWritten ?? 0,
    archive_reads: facts?.archiveReads ?? 0,
  });
}

/** One line per delivery the door saw; `action` says whether the object decided it (wire values). */
function logCommand(way: QueueWay, outcome: Outcome, durationMs: number): void {
  const facts = outcome.facts;
  logInfo("command", {
    message_id: way.messageId,
    attempts: way.attempts,
    action: outcome === OVER_QUOTA ? "over_quota" : objectDecided(outcome) ? "decided" : "undecided",
    tenant: way.tenant,
    account: way.account,
    operation: way.operation,
    status: outcome.status,
    code: facts?.code ?? null,
    replayed: outcome.replayed,
    duration_ms: durationMs,
    entry: facts?.entry?.id ?? null,
    seq: facts?.entry?.seq ?? null,
  });
}

/** The request's point, and for a batch one per group of its operations' outcomes. */
function writePoints(
  metrics: AnalyticsEngineDataset,
  way: Way,
  outcome: Outcome,
  durationMs: number,
  retries: number,
): void {
  const facts = outcome.facts;
  metrics.writeDataPoint(
    requestPoint({
      route: way.route,
      code: facts?.code ?? null,
      operation: way.operation,
      currency: facts?.entry?.currency ?? null,
      replayed: outcome.replayed,
      keyId: way.keyId,
      tenant: way.tenant,
      status: outcome.status,
      durationMs,
      amountMinor: facts?.entry?.amount ?? 0,
      retries,
      count: facts?.operations ?? 1,
    }),
  );
  for (const group of facts?.breakdown ?? []) {
    metrics.writeDataPoint(
      requestPoint({
        route: BATCH_OPERATION_ROUTE,
        code: group.code,
        operation: group.operation,
        currency: group.currency,
        replayed: group.replayed,
        keyId: way.keyId,
        tenant: way.tenant,
        status: outcome.status,
        durationMs: 0,
        amountMinor: group.amountMinor,
        retries: 0,
        count: group.count,
      }),
    );
  }
}

/** The Idempotency-Key as logs name it: a short SHA-256 prefix, so lines about one key can be found without the key. */
function keyHash(key: string): string {
  return sha256Hex(key).slice(0, IDEMPOTENCY_KEY_HASH_HEX_LENGTH);
}
