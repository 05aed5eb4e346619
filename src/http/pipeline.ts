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
import type { KeyedParts, RequestOrigin } from "../contract/requests.ts";
import { enter, refuse, type AccountCaller, type HttpWay } from "../transport/door.ts";
import { decodeJsonBody, readJsonMediaBody } from "./request-body.ts";
import { failureResponse, outcomeResponse, REQUEST_ID_HEADER } from "./respond.ts";
import { validate } from "../api/validation.ts";

/**
 * The one request pipeline. It owns the order in which a request is
 * checked, after authentication and routing: body size (413), media type
 * (415), Idempotency-Key (400, money POSTs only), JSON syntax (400), then
 * every part against the route's schemas at once (400, naming every bad
 * field). A request that passes is handed to the route as validated input,
 * with its fingerprint if it moves money.
 */

/** `tenant` on the tenants' routes; `operator` (a name in OPERATOR_KEYS) on the operator's (routes/operator-dead-letters.ts). */
export type AppEnv = {
  Bindings: Env;
  Variables: { tenant: string; keyId: string; requestId: string; operator: string };
};
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

export interface KeyedInput extends KeyedParts {
  /** A digest of each top-level field, so a reused key can be told which fields differ. */
  readonly fieldDigests: Readonly<Record<string, string>>;
}

export type RouteAction<R extends RouteDef> = (
  input: ValidRequest<R>,
  callAccountOf: AccountCaller,
  env: Env,
) => Promise<Outcome>;

/**
 * The handler for a route: the pipeline, then the door (quota, placement,
 * the route's action, the record), then the response, with any headers the
 * route reads off the outcome.
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
  const operation = options.operation ?? null;
  const pinsTenant = options.pinsTenant === true;
  return async (c) => {
    const startedMs = Date.now();
    const input = await readRequest(c, route);
    if (!input.ok) {
      refuse(c.env, wayOf(c, template, operation, null, 1, pinsTenant), failure(input.error), startedMs);
      return failureResponse(input.error);
    }
    const valid = input.value;
    const way = wayOf(c, template, operation, valid.keyed, options.weight?.(valid) ?? 1, pinsTenant);
    const outcome = await enter(c.env, way, action, valid, startedMs);
    const headers = options.headers?.(outcome, valid.params as { account: string }) ?? {};
    return outcomeResponse(outcome, { ...headers, [REQUEST_ID_HEADER]: c.get("requestId") });
  };
}

/** The request as the door records it. */
function wayOf(
  c: AppContext,
  route: string,
  operation: string | null,
  keyed: KeyedInput | null,
  weight: number,
  pinsTenant: boolean,
): HttpWay {
  return {
    via: "http",
    route,
    requestId: c.get("requestId"),
    tenant: c.get("tenant"),
    keyId: c.get("keyId"),
    account: c.req.param("account") ?? null,
    operation,
    idempotencyKey: keyed?.idempotencyKey ?? null,
    weight,
    pinsTenant,
  };
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
