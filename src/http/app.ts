import { logError } from "../observability/log.ts";
import { Hono } from "hono";
import openApiDocument from "../api/openapi.json";
import type { RouteDef } from "../api/routes.ts";
import { DEV_KEY_ALLOWED } from "../config/dev-key.ts";
import { requestIdFrom } from "./request-id.ts";
import { authenticate } from "./authenticate.ts";
import { corsMiddleware } from "./cors.ts";
import type { AppEnv } from "./pipeline.ts";
import { failureResponse, REQUEST_ID_HEADER } from "./respond.ts";
import { batchRoutes } from "./routes/batch.ts";
import { DEV_COMMANDS_PATH, sendDevCommand } from "./routes/dev-commands.ts";
import { operatorAccountRoutes } from "./routes/operator-accounts.ts";
import { authenticateOperatorRequest, isOperatorPath, operatorRoutes } from "./routes/operator-dead-letters.ts";
import { readRoutes } from "./routes/reads.ts";
import { holdRoutes } from "./routes/holds.ts";
import { writeRoutes } from "./routes/writes.ts";

/**
 * The Worker's HTTP surface. It authenticates, validates and routes each
 * request to its account's object, and holds no money state itself. The
 * checks after routing run in one pipeline (pipeline.ts).
 */
export function buildApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // First, so every response carries a Request-Id, refusals and preflights included. The
  // pipeline builds its responses with it; this adds it to any other.
  app.use("*", async (c, next) => {
    const requestId = requestIdFrom(c.req.header("x-request-id") ?? null);
    c.set("requestId", requestId);
    await next();
    if (!c.res.headers.has(REQUEST_ID_HEADER)) c.res.headers.set(REQUEST_ID_HEADER, requestId);
  });

  // Before authentication, so a browser's preflight (which carries no key) is answered.
  app.use("*", corsMiddleware());

  app.use("/v1/*", async (c, next) => {
    // The operator's routes take an operator key (OPERATOR_KEYS), never a tenant's.
    if (isOperatorPath(c.req.path)) return authenticateOperatorRequest(c, next);
    const auth = authenticate(
      c.req.header("authorization") ?? null,
      c.env.API_KEYS,
      c.env.ALLOW_DEV_KEY === DEV_KEY_ALLOWED,
    );
    if (!auth.ok) {
      if (auth.error.code === "internal_error") {
        logError("misconfigured", { reason: auth.error.reason ?? null, request_id: c.get("requestId") });
      }
      return failureResponse(auth.error);
    }
    c.set("tenant", auth.value.tenant);
    c.set("keyId", auth.value.keyId);
    await next();
  });

  app.post(DEV_COMMANDS_PATH, sendDevCommand);
  // An account's backup and restore: operator routes (routes/operator-accounts.ts).
  for (const [method, path, handler] of operatorAccountRoutes()) app.on(method, path, handler);

  const allowedMethods = new Map<string, string[]>();
  for (const [method, path, handler] of operatorRoutes()) {
    app.on(method, path, handler);
    allowedMethods.set(path, [...(allowedMethods.get(path) ?? []), method]);
  }
  for (const [route, handler] of [...writeRoutes(), ...holdRoutes(), ...batchRoutes(), ...readRoutes()]) {
    const path = honoPath(route);
    const method = route.method.toUpperCase();
    app.on(method, path, handler);
    allowedMethods.set(path, [...(allowedMethods.get(path) ?? []), method]);
  }
  allowedMethods.set("/openapi.json", ["GET"]);
  app.get("/openapi.json", (c) => c.json(openApiDocument));

  for (const [path, methods] of allowedMethods) {
    const allow = [...methods, ...(methods.includes("GET") ? ["HEAD"] : [])];
    app.all(path, (c) => failureResponse({ code: "method_not_allowed", method: c.req.method, allow }));
  }

  app.notFound((c) => failureResponse({ code: "not_found", method: c.req.method, path: new URL(c.req.url).pathname }));
  app.onError((error, c) => {
    logError("unhandledError", { request_id: c.get("requestId"), error: String(error), stack: error.stack ?? null });
    return failureResponse({ code: "internal_error", cause: "unhandled" });
  });
  return app;
}

/**
 * Hono's path for a route: `{name}` becomes `:name`. The Idempotency-Key in
 * a lookup's path may be an empty segment, so an empty key is refused as
 * invalid rather than as an unknown route.
 */
function honoPath(route: RouteDef): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => (name === "key" ? ":key{[^/]*}" : `:${name}`));
}

/**
 * Hono's onError sees only Error instances; a library that throws anything
 * else would escape as a runtime failure. This turns every escape into a
 * problem+json 500.
 */
export function withLastResort(app: Hono<AppEnv>): { fetch: ExportedHandlerFetchHandler<Env> } {
  return {
    async fetch(request, env, ctx) {
      try {
        return await app.fetch(request, env, ctx);
      } catch (error) {
        const requestId = requestIdFrom(request.headers.get("x-request-id"));
        logError("escapedRouter", {
          request_id: requestId,
          error: String(error),
          stack: error instanceof Error ? (error.stack ?? null) : null,
        });
        const response = failureResponse({ code: "internal_error", cause: "unhandled" });
        response.headers.set(REQUEST_ID_HEADER, requestId);
        return response;
      }
    },
  };
}
