import type { Context, Handler } from "hono";
import type * as z from "zod/mini";
import { concretePath, type RouteDef } from "../api/routes.ts";
import type { FieldError } from "../domain/field-error.ts";
import { fieldDigests, requestFingerprint } from "../domain/fingerprint.ts";
import { parseIdempotencyKey } from "../domain/idempotency-key.ts";
import { parseIfMatch, type IfMatch } from "../domain/if-match.ts";
import type { Failure } from "../domain/problems.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { failure, type Outcome } from "../contract/outcome.ts";
import { accountStubs, callAccount, type AccountStub } from "../transport/account-client.ts";
import { placeTenant, type PlacementFailure } from "../transport/tenant-placement.ts";
import { overQuota } from "../transport/quota.ts";
import { decodeJsonBody, readJsonMediaBody } from "./request-body.ts";
import { failureResponse, outcomeResponse, REQUEST_ID_HEADER } from "./respond.ts";
import { sha256Hex } from "../lib/sha256.ts";
import { IDEMPOTENCY_KEY_HASH_HEX_LENGTH } from "../domain/limits.ts";
import type { RequestOrigin } from "../contract/requests.ts";
import { BATCH_OPERATION_ROUTE, requestPoint } from "../observability/metrics.ts";
import { logError, logInfo } from "../observability/log.ts";
import { validate } from "../api/validation.ts";

/**
 * The one request pipeline. It owns the order in which a request is
 * checked, after authentication and routing: body size (413), media type
 * (415), Idempotency-Key (400, money POSTs only), JSON syntax (400), then
 * every part against the route's schemas at once (400, naming every bad
 * field). A request that passes is handed to the route as validated input,
 * with its fingerprint if it moves money.
 */

export type AppEnv = { Bindings: Env; Variables: { tenant: string; keyId: string; requestId: string } };
export type AppContext = Context<AppEnv>;

type Output<S> = S extends z.ZodMiniType ? z.output<S> : undefined;

/** A request that passed every check. */
export interface ValidRequest<R extends RouteDef> {
  /** The tenant the request's API key belongs to. */
  readonly tenant: string;
  /** Who sent it: its Request-Id and its API key's id, stored with what it changes. */
  readonly origin: RequestOrigin;
  readonly params: Output<R["params"]>;
  readonly query: Output<R["query"]>;
  readonly body: Output<R["body"]>;
  /** The Idempotency-Key, when the route takes one and it was sent; what makes two requests "the same request" under it. */
  readonly keyed: KeyedInput | null;
  /** If-Match, on a conditional route that was sent it. */
  readonly ifMatch: IfMatch | null;
}

export interface KeyedInput {
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  /** A digest of each top-level field, so a reused key can be told which fields differ. */
  readonly fieldDigests: Readonly<Record<string, string>>;
}

/** Calls into the objects of the request's tenant; a failed call is answered as an outcome (500 or 503). */
export type AccountCaller = <T>(account: string, call: (stub: AccountStub) => Promise<T>) => Promise<T | Outcome>;

export type RouteAction<R extends RouteDef> = (
  input: ValidRequest<R>,
  callAccountOf: AccountCaller,
  env: Env,
) => Promise<Outcome>;

/**
 * The handler for a route: the pipeline, then the route's action, then the
 * response, with any headers the route reads off the outcome.
 */
export function handle<R extends RouteDef>(
  route: R,
  action: RouteAction<R>,
  options: {
    headers?: (outcome: Outcome, params: { account: string }) => Record<string, string>;
    /** The entry type a money route moves, for metrics. */
    operation?: string;
    /** Whether the route opens accounts, so pins a tenant that has no jurisdiction recorded yet. */
    pinsTenant?: boolean;
    /** How many requests it counts as against the tenant's quota (a batch: its operations). */
    weight?: (input: ValidRequest<R>) => number;
  } = {},
): Handler<AppEnv> {
  const template = `${route.method.toUpperCase()} ${route.path}`;
  return async (c) => {
    const startedMs = Date.now();
    const input = await readRequest(c, route);
    if (!input.ok) {
      const refused = failure(input.error);
      const durationMs = Date.now() - startedMs;
      logRequest(template, c, refused, durationMs, null);
      recordRequestMetrics(c, template, refused, durationMs, 0, options.operation ?? null);
      return failureResponse(input.error);
    }
    if (await overQuota(c.env.RATE_LIMITER, c.get("tenant"), options.weight?.(input.value) ?? 1)) {
      const refused = failure({ code: "rate_limited" });
      const durationMs = Date.now() - startedMs;
      logRequest(template, c, refused, durationMs, input.value.keyed?.idempotencyKey ?? null);
      recordRequestMetrics(c, template, refused, durationMs, 0, options.operation ?? null);
      return outcomeResponse(refused, { [REQUEST_ID_HEADER]: c.get("requestId") });
    }
    const placed = await placeTenant(c.env, c.get("tenant"), options.pinsTenant === true);
    if (!placed.ok) {
      const refused = failure(placementProblem(c, placed.error));
      logRequest(template, c, refused, Date.now() - startedMs, null);
      return outcomeResponse(refused, { [REQUEST_ID_HEADER]: c.get("requestId") });
    }
    let retries = 0;
    const notes = { context: { request_id: c.get("requestId") }, onRetry: () => (retries += 1) };
    const stubs = (account: string) => accountStubs(c.env.ACCOUNTS, c.get("tenant"), account, placed.value);
    const outcome = await action(
      input.value,
      (account, call) => callAccount(stubs(account), call, undefined, notes),
      c.env,
    );
    const durationMs = Date.now() - startedMs;
    logRequest(template, c, outcome, durationMs, input.value.keyed?.idempotencyKey ?? null);
    recordRequestMetrics(c, template, outcome, durationMs, retries, options.operation ?? null);
    const headers = options.headers?.(outcome, input.value.params as { account: string }) ?? {};
    return outcomeResponse(outcome, { ...headers, [REQUEST_ID_HEADER]: c.get("requestId") });
  };
}

/**
 * One structured line per request: what an operator searches and what the
 * benchmark sums. Never the API key (only its id), and the Idempotency-Key
 * only as a short hash: enough to find every line about one key.
 */
function logRequest(
  route: string,
  c: AppContext,
  outcome: Outcome,
  durationMs: number,
  idempotencyKey: string | null,
): void {
  const facts = outcome.facts;
  logInfo("request", {
    request_id: c.get("requestId"),
    route,
    tenant: c.get("tenant"),
    key_id: c.get("keyId"),
    account: c.req.param("account") ?? null,
    idempotency_key_hash: idempotencyKey === null ? null : keyHash(idempotencyKey),
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
  });
}

async function readRequest<R extends RouteDef>(c: AppContext, route: R): Promise<Result<ValidRequest<R>, Failure>> {
  let bytes: Uint8Array | undefined;
  if (route.body !== undefined) {
    const read = await readJsonMediaBody(c.req.raw, route.bodyLimitBytes);
    if (!read.ok) return read;
    bytes = read.value;
  }
  let idempotencyKey: string | null = null;
  const keyHeader = c.req.header("idempotency-key") ?? null;
  if (route.idempotencyKey === "required" || (route.idempotencyKey === "optional" && keyHeader !== null)) {
    const key = parseIdempotencyKey(keyHeader);
    if (!key.ok) return key;
    idempotencyKey = key.value;
  }
  let json: unknown;
  if (bytes !== undefined) {
    const decoded = decodeJsonBody(bytes);
    if (!decoded.ok) return decoded;
    json = decoded.value;
  }

  const errors: FieldError[] = [];
  const part = <S extends z.ZodMiniType | undefined>(schema: S, data: unknown): Output<S> => {
    if (schema === undefined) return undefined as Output<S>;
    const result = validate(schema, data);
    if (result.ok) return result.value as Output<S>;
    errors.push(...result.error);
    return undefined as Output<S>;
  };
  const params = part(route.params, pathParams(c, route));
  // POST and PUT ignore the query string; GET routes refuse anything they do not name.
  const query = part(route.query, route.query === undefined ? undefined : singleValued(c));
  const body = part(route.body, json);
  let ifMatch: IfMatch | null = null;
  if (route.conditional === true) {
    const parsed = parseIfMatch(c.req.header("if-match") ?? null);
    if (parsed.ok) ifMatch = parsed.value;
    else errors.push({ field: "If-Match", message: parsed.error });
  }
  if (errors.length > 0) return err({ code: "invalid_request", errors });

  const keyed =
    idempotencyKey === null
      ? null
      : {
          idempotencyKey,
          fingerprint: requestFingerprint(route.method, concretePath(route, params as Record<string, string>), json),
          fieldDigests: fieldDigests(json),
        };
  const origin = { requestId: c.get("requestId"), keyId: c.get("keyId") };
  return ok({ tenant: c.get("tenant"), origin, params, query, body, keyed, ifMatch } as ValidRequest<R>);
}

/**
 * The path parameters. A key parameter is taken from the URL as the client
 * sent it, still percent-encoded, so its schema decodes it strictly.
 */
function pathParams(c: AppContext, route: RouteDef): Record<string, string> {
  const params = c.req.param();
  if (!route.path.endsWith("/{key}")) return params;
  return { ...params, key: new URL(c.req.url).pathname.split("/").at(-1) ?? "" };
}

/**
 * The query with each parameter's value, or all of its values if it was
 * given more than once, so `?limit=5&limit=abc` fails validation instead of
 * silently meaning `?limit=5`.
 */
function singleValued(c: AppContext): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(c.req.queries())) {
    query[name] = values.length === 1 ? (values[0] ?? "") : values;
  }
  return query;
}

/** A placement failure, logged with its detail (never sent to the client), as the 500 it answers. */
function placementProblem(c: AppContext, failed: PlacementFailure): Failure {
  logError(failed.kind === "mismatch" ? "jurisdictionMismatch" : "misconfigured", {
    request_id: c.get("requestId"),
    tenant: c.get("tenant"),
    ...failed,
  });
  return { code: "internal_error", cause: failed.kind === "mismatch" ? "jurisdiction_mismatch" : "misconfigured" };
}

/**
 * The request's data points, when a METRICS dataset is bound: one for the
 * request, and for a batch one per group of its operations' outcomes.
 */
function recordRequestMetrics(
  c: AppContext,
  route: string,
  outcome: Outcome,
  durationMs: number,
  retries: number,
  operation: string | null,
): void {
  const metrics = c.env.METRICS;
  if (metrics === undefined) return;
  const facts = outcome.facts;
  const caller = { keyId: c.get("keyId"), tenant: c.get("tenant") };
  metrics.writeDataPoint(
    requestPoint({
      ...caller,
      route,
      code: facts?.code ?? null,
      operation,
      currency: facts?.entry?.currency ?? null,
      replayed: outcome.replayed,
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
        ...caller,
        route: BATCH_OPERATION_ROUTE,
        code: group.code,
        operation: group.operation,
        currency: group.currency,
        replayed: group.replayed,
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
