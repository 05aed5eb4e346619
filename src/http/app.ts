import { OpenAPIHono, type RouteConfig, type z } from "@hono/zod-openapi";
import type { Context, Handler } from "hono";
import {
  chargeRoute,
  creditRoute,
  getAccountRoute,
  getChargeRoute,
  listEntriesRoute,
  openAccountRoute,
  refundRoute,
} from "../api/routes";
import { AccountParams, ChargeParams, ListEntriesQuery, MoneyBody, OpenAccountBody, RefundBody } from "../api/schemas";
import { requestFingerprint } from "../domain/fingerprint";
import { parseIdempotencyKey } from "../domain/idempotency-key";
import { DEFAULT_PAGE_SIZE } from "../domain/limits";
import { problem, type Problem } from "../domain/problems";
import type { MoneyCommand } from "../ledger/commands";
import { callAccount, type AccountStub } from "./account-client";
import { authenticate } from "./authenticate";
import { checkJsonContentType, decodeJsonBody, readBoundedBody } from "./request-body";
import { outcomeResponse, problemResponse } from "./respond";
import { invalidRequest, validate, type FieldError } from "./validation";

/**
 * The Worker's HTTP surface. It authenticates, validates and routes each
 * request to its account's object, and holds no money state itself.
 */

type AppEnv = { Bindings: Env; Variables: { tenant: string } };
type AppContext = Context<AppEnv>;

export function buildApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const allowedMethods = new Map<string, string[]>();

  const register = (route: RouteConfig & { getRoutingPath(): string }, handler: Handler<AppEnv>) => {
    app.openAPIRegistry.registerPath(route);
    const path = route.getRoutingPath();
    const method = route.method.toUpperCase();
    app.on(method, path, handler);
    allowedMethods.set(path, [...(allowedMethods.get(path) ?? []), method]);
  };

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

  register(openAccountRoute, async (c) => {
    const body = await readJsonBody(c, { idempotencyKey: false });
    if (!body.ok) return problemResponse(body.problem);
    const input = validateAll({ params: [AccountParams, c.req.param()], body: [OpenAccountBody, body.json] });
    if (!input.ok) return problemResponse(input.problem);
    const { account } = input.value.params;
    const outcome = await callAccount(stubFor(c, account), (stub) =>
      stub.openAccount({ account, input: input.value.body }),
    );
    return outcomeResponse(outcome, { idempotent: false });
  });

  register(getAccountRoute, async (c) => {
    const input = validateAll({ params: [AccountParams, c.req.param()] });
    if (!input.ok) return problemResponse(input.problem);
    const outcome = await callAccount(stubFor(c, input.value.params.account), (stub) => stub.getAccount());
    return outcomeResponse(outcome, { idempotent: false });
  });

  register(creditRoute, moneyHandler("credit"));
  register(chargeRoute, moneyHandler("charge"));
  register(refundRoute, moneyHandler("refund"));

  register(listEntriesRoute, async (c) => {
    const input = validateAll({ params: [AccountParams, c.req.param()], query: [ListEntriesQuery, c.req.query()] });
    if (!input.ok) return problemResponse(input.problem);
    const { limit, starting_after: startingAfter } = input.value.query;
    const outcome = await callAccount(stubFor(c, input.value.params.account), (stub) =>
      stub.listEntries({ limit: limit ?? DEFAULT_PAGE_SIZE, startingAfter }),
    );
    return outcomeResponse(outcome, { idempotent: false });
  });

  register(getChargeRoute, async (c) => {
    const input = validateAll({ params: [ChargeParams, c.req.param()] });
    if (!input.ok) return problemResponse(input.problem);
    const { account, id } = input.value.params;
    const outcome = await callAccount(stubFor(c, account), (stub) => stub.getCharge(id));
    return outcomeResponse(outcome, { idempotent: false });
  });

  for (const [path, methods] of allowedMethods) {
    const allow = [...methods, ...(methods.includes("GET") ? ["HEAD"] : [])].join(", ");
    app.all(path, (c) =>
      problemResponse(problem("method_not_allowed", `${c.req.method} is not allowed here; use ${allow}.`), { allow }),
    );
  }

  app.get("/openapi.json", (c) =>
    c.json(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: {
          title: "OnceLedger",
          version: "1.0.0",
          description: "An exactly-once account ledger. Every money-moving request carries an Idempotency-Key.",
        },
      }),
    ),
  );
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

function moneyHandler(kind: MoneyCommand["kind"]): Handler<AppEnv> {
  const schema = kind === "refund" ? RefundBody : MoneyBody;
  return async (c) => {
    const body = await readJsonBody(c, { idempotencyKey: true });
    if (!body.ok) return problemResponse(body.problem);
    const input = validateAll({ params: [AccountParams, c.req.param()], body: [schema, body.json] });
    if (!input.ok) return problemResponse(input.problem);
    const { account } = input.value.params;
    const idempotencyKey = body.idempotencyKey as string;
    const path = `/v1/accounts/${account}/${kind}s`;
    const fingerprint = await requestFingerprint("POST", path, body.json);
    const command = { kind, input: input.value.body } as MoneyCommand;
    const outcome = await callAccount(stubFor(c, account), (stub) =>
      stub.moveMoney({ account, idempotencyKey, fingerprint, command }),
    );
    return outcomeResponse(outcome, { idempotent: true });
  };
}

type BodyResult = { ok: true; json: unknown; idempotencyKey: string | undefined } | { ok: false; problem: Problem };

/** Size, media type, Idempotency-Key, then JSON: the order the API promises. */
async function readJsonBody(c: AppContext, options: { idempotencyKey: boolean }): Promise<BodyResult> {
  const read = await readBoundedBody(c.req.raw);
  if (!read.ok) return read;
  const mediaProblem = checkJsonContentType(c.req.header("content-type") ?? null);
  if (mediaProblem) return { ok: false, problem: mediaProblem };
  let idempotencyKey: string | undefined;
  if (options.idempotencyKey) {
    const key = parseIdempotencyKey(c.req.header("idempotency-key") ?? null);
    if (!key.ok) return key;
    idempotencyKey = key.key;
  }
  const json = decodeJsonBody(read.bytes);
  if (!json.ok) return json;
  return { ok: true, json: json.value, idempotencyKey };
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

function stubFor(c: AppContext, account: string): () => AccountStub {
  const name = `${c.get("tenant")}:${account}`;
  return () => c.env.ACCOUNTS.getByName(name);
}
