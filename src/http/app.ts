import { OpenAPIHono, type RouteConfig, type z } from "@hono/zod-openapi";
import type { Context, Handler } from "hono";
import {
  chargeRoute,
  creditRoute,
  getAccountRoute,
  getChargeRoute,
  listEntriesRoute,
  lookupIdempotencyKeyRoute,
  openAccountRoute,
  refundRoute,
} from "../api/routes.ts";
import { requestFingerprint } from "../domain/fingerprint.ts";
import { parseIdempotencyKey } from "../domain/idempotency-key.ts";
import { DEFAULT_PAGE_SIZE } from "../domain/limits.ts";
import { problem, type Problem } from "../domain/problems.ts";
import type { AccountParams } from "../api/schemas.ts";
import type { MoneyCommand } from "../ledger/commands.ts";
import { callAccount, type AccountStub } from "./account-client.ts";
import { authenticate } from "./authenticate.ts";
import { corsMiddleware } from "./cors.ts";
import { decodeJsonBody, readJsonMediaBody } from "./request-body.ts";
import { outcomeResponse, problemResponse } from "./respond.ts";
import { invalidRequest, validate, type FieldError } from "./validation.ts";

/**
 * The Worker's HTTP surface. It authenticates, validates and routes each
 * request to its account's object, and holds no money state itself.
 */

type AppEnv = { Bindings: Env; Variables: { tenant: string } };
type AppContext = Context<AppEnv>;

export function buildApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const allowedMethods = new Map<string, string[]>();

  const register = (
    route: RouteConfig & { getRoutingPath(): string },
    handler: Handler<AppEnv>,
    path = route.getRoutingPath(),
  ) => {
    app.openAPIRegistry.registerPath(route);
    const method = route.method.toUpperCase();
    app.on(method, path, handler);
    allowedMethods.set(path, [...(allowedMethods.get(path) ?? []), method]);
  };

  // Before authentication, so a browser's preflight (which carries no key) is answered.
  app.use("*", corsMiddleware());

  app.use("/v1/*", async (c, next) => {
    const auth = await authenticate(c.req.header("authorization") ?? null, c.env.API_KEYS, new URL(c.req.url).hostname);
    if ("misconfigured" in auth) {
      console.error(`OnceLedger is misconfigured: ${auth.misconfigured}`);
      return problemResponse(problem("internal_error", "OnceLedger's API keys are misconfigured."));
    }
    if (!auth.ok) return problemResponse(auth.problem);
    c.set("tenant", auth.tenant);
    await next();
  });

  // Each handler validates with the schemas its route definition declares,
  // the same ones the OpenAPI document is generated from.
  register(openAccountRoute, async (c) => {
    const raw = await readJsonMediaBody(c.req.raw);
    if (!raw.ok) return problemResponse(raw.problem);
    const json = decodeJsonBody(raw.bytes);
    if (!json.ok) return problemResponse(json.problem);
    const { request } = openAccountRoute;
    const input = validateAll({
      params: [request.params, c.req.param()],
      body: [request.body.content["application/json"].schema, json.value],
    });
    if (!input.ok) return problemResponse(input.problem);
    const { account } = input.value.params;
    const outcome = await callAccount(stubFor(c, account), (stub) =>
      stub.openAccount({ account, input: input.value.body }),
    );
    return outcomeResponse(outcome, { idempotent: false });
  });

  register(getAccountRoute, async (c) => {
    const { request } = getAccountRoute;
    const input = validateAll({ params: [request.params, c.req.param()], query: [request.query, singleValued(c)] });
    if (!input.ok) return problemResponse(input.problem);
    const outcome = await callAccount(stubFor(c, input.value.params.account), (stub) => stub.getAccount());
    return outcomeResponse(outcome, { idempotent: false });
  });

  register(
    creditRoute,
    moneyHandler(creditRoute, "credits", (input) => ({ kind: "credit", input })),
  );
  register(
    chargeRoute,
    moneyHandler(chargeRoute, "charges", (input) => ({ kind: "charge", input })),
  );
  register(
    refundRoute,
    moneyHandler(refundRoute, "refunds", (input) => ({ kind: "refund", input })),
  );

  register(listEntriesRoute, async (c) => {
    const { request } = listEntriesRoute;
    const input = validateAll({ params: [request.params, c.req.param()], query: [request.query, singleValued(c)] });
    if (!input.ok) return problemResponse(input.problem);
    const { limit, starting_after: startingAfter } = input.value.query;
    const outcome = await callAccount(stubFor(c, input.value.params.account), (stub) =>
      stub.listEntries({ limit: limit ?? DEFAULT_PAGE_SIZE, startingAfter }),
    );
    return outcomeResponse(outcome, { idempotent: false });
  });

  register(getChargeRoute, async (c) => {
    const { request } = getChargeRoute;
    const input = validateAll({ params: [request.params, c.req.param()], query: [request.query, singleValued(c)] });
    if (!input.ok) return problemResponse(input.problem);
    const { account, id } = input.value.params;
    const outcome = await callAccount(stubFor(c, account), (stub) => stub.getCharge(id));
    return outcomeResponse(outcome, { idempotent: false });
  });

  register(
    lookupIdempotencyKeyRoute,
    async (c) => {
      const { request } = lookupIdempotencyKeyRoute;
      const input = validateAll({
        // The schema decodes the key itself, strictly, from the segment as sent.
        params: [request.params, { ...c.req.param(), key: lastPathSegment(c.req.url) }],
        query: [request.query, singleValued(c)],
      });
      if (!input.ok) return problemResponse(input.problem);
      const { account, key } = input.value.params;
      const outcome = await callAccount(stubFor(c, account), (stub) => stub.lookupIdempotencyKey(key));
      return outcomeResponse(outcome, { idempotent: false });
    },
    // The key may be an empty segment, so an empty key is refused as invalid rather than as an unknown route.
    `${lookupIdempotencyKeyRoute.getRoutingPath()}{[^/]*}`,
  );

  for (const [path, methods] of allowedMethods) {
    const allow = [...methods, ...(methods.includes("GET") ? ["HEAD"] : [])].join(", ");
    app.all(path, (c) =>
      problemResponse(problem("method_not_allowed", `${c.req.method} is not allowed here; use ${allow}.`), { allow }),
    );
  }

  let openApiDocument: unknown;
  app.get("/openapi.json", (c) => {
    openApiDocument ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "OnceLedger",
        version: "1.0.0",
        description: "An exactly-once account ledger. Every money-moving request carries an Idempotency-Key.",
      },
    });
    return c.json(openApiDocument);
  });
  app.all("/openapi.json", () => problemResponse(problem("method_not_allowed", "Use GET."), { allow: "GET, HEAD" }));
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });

  app.notFound((c) =>
    problemResponse(problem("not_found", `No route ${c.req.method} ${new URL(c.req.url).pathname}.`)),
  );
  app.onError((error) => {
    console.error("unhandled error", String(error));
    return problemResponse(problem("internal_error", "The request failed inside OnceLedger."));
  });
  return app;
}

/**
 * Hono's onError sees only Error instances; a library that throws anything
 * else would escape as a runtime failure. This turns every escape into a
 * problem+json 500.
 */
export function withLastResort(app: OpenAPIHono<AppEnv>): ExportedHandler<Env> {
  return {
    async fetch(request, env, ctx) {
      try {
        return await app.fetch(request, env, ctx);
      } catch (error) {
        console.error("request escaped the router", String(error));
        return problemResponse(problem("internal_error", "The request failed inside OnceLedger."));
      }
    },
  };
}

interface MoneyRoute<S extends z.ZodType> {
  readonly request: {
    readonly params: typeof AccountParams;
    readonly body: { readonly content: { readonly "application/json": { readonly schema: S } } };
  };
}

/**
 * A money-moving POST: size, media type, Idempotency-Key, JSON, schema (the
 * order the API promises), then one call into the account's object. The
 * request id lets the object tell this request's own outcome, met again on a
 * retried call, from a replay of an earlier request.
 */
function moneyHandler<S extends z.ZodType>(
  route: MoneyRoute<S>,
  resource: "credits" | "charges" | "refunds",
  toCommand: (input: z.output<S>) => MoneyCommand,
): Handler<AppEnv> {
  return async (c) => {
    const raw = await readJsonMediaBody(c.req.raw);
    if (!raw.ok) return problemResponse(raw.problem);
    const key = parseIdempotencyKey(c.req.header("idempotency-key") ?? null);
    if (!key.ok) return problemResponse(key.problem);
    const json = decodeJsonBody(raw.bytes);
    if (!json.ok) return problemResponse(json.problem);
    const input = validateAll({
      params: [route.request.params, c.req.param()],
      body: [route.request.body.content["application/json"].schema, json.value],
    });
    if (!input.ok) return problemResponse(input.problem);

    const { account } = input.value.params;
    const fingerprint = await requestFingerprint("POST", `/v1/accounts/${account}/${resource}`, json.value);
    const request = {
      requestId: crypto.randomUUID(),
      idempotencyKey: key.key,
      fingerprint,
      command: toCommand(input.value.body),
    };
    const outcome = await callAccount(stubFor(c, account), (stub) => stub.moveMoney(request));
    return outcomeResponse(outcome, { idempotent: true });
  };
}

type Parts = Record<string, readonly [z.ZodType, unknown]>;
type PartValues<P extends Parts> = { [K in keyof P]: z.output<P[K][0]> };

/** Validates every part of a request, so one response names every bad field. */
function validateAll<P extends Parts>(parts: P): { ok: true; value: PartValues<P> } | { ok: false; problem: Problem } {
  const value: Record<string, unknown> = {};
  const errors: FieldError[] = [];
  for (const [name, [schema, data]] of Object.entries(parts)) {
    const result = validate(schema, data);
    if (result.ok) value[name] = result.value;
    else errors.push(...result.errors);
  }
  if (errors.length > 0) return { ok: false, problem: invalidRequest(errors) };
  return { ok: true, value: value as PartValues<P> };
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

/** The URL's last path segment, still percent-encoded as the client sent it. */
function lastPathSegment(url: string): string {
  return new URL(url).pathname.split("/").at(-1) ?? "";
}

function stubFor(c: AppContext, account: string): () => AccountStub {
  const name = `${c.get("tenant")}:${account}`;
  return () => c.env.ACCOUNTS.getByName(name);
}
