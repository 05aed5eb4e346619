import { describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "../../../src/api/openapi.ts";
import committed from "../../../src/api/openapi.json";
import { ROUTES, type RouteDef } from "../../../src/api/routes.ts";
import { PROBLEMS, type ProblemCode } from "../../../src/domain/problems.ts";
import { documentedCodes, documentedOperation } from "../../support/openapi-codes.ts";

/**
 * The codes the request pipeline (src/http/pipeline.ts, and the app around
 * it) can answer a route with, from what the route declares: every route is
 * authenticated, validated, metered and calls an account or directory
 * object; a body is read and parsed; an Idempotency-Key is parsed, and then
 * replayed or refused as reused or expired; an account is looked up; If-Match
 * is compared. The route's own declines (funds, currency, a missing charge...)
 * are checked against the server by the OpenAPI conformance and fuzz tests.
 */
function pipelineCodes(route: RouteDef): ProblemCode[] {
  const codes: ProblemCode[] = ["unauthorized", "invalid_request", "rate_limited", "internal_error", "overloaded"];
  if (route.body !== undefined) codes.push("payload_too_large", "unsupported_media_type", "invalid_json");
  if (route.idempotencyKey === "required") codes.push("idempotency_key_missing");
  if (route.idempotencyKey !== "none") {
    codes.push("idempotency_key_invalid", "idempotency_key_reused", "idempotency_key_expired");
  }
  // Every route under an account, except opening it, answers for an account that was never opened.
  if ("account" in route.params.def.shape && route.method !== "put") codes.push("account_not_found");
  if (route.conditional === true) codes.push("precondition_failed");
  return codes;
}

describe("the OpenAPI document", () => {
  it("is committed as built from the routes and schemas (run `npm run openapi` after an API change)", () => {
    expect(committed).toEqual(buildOpenApiDocument());
  });

  it("types each problem response's `code` as the codes the route declares for that status, at their catalogue status", () => {
    for (const route of ROUTES) {
      const operation = documentedOperation(route.method, route.path);
      expect(operation?.operationId).toBe(route.operationId);
      if (operation === undefined) continue;
      for (const [status, response] of Object.entries(route.responses)) {
        const label = `${route.operationId} ${status}`;
        const codes = documentedCodes(operation, Number(status));
        if (response.schema !== undefined) {
          expect(codes, label).toBeUndefined();
          continue;
        }
        expect(codes, label).toEqual(response.problems);
        for (const code of response.problems ?? [])
          expect(PROBLEMS[code].status, `${label} ${code}`).toBe(Number(status));
      }
    }
  });

  it("documents every code the request pipeline can answer each route with", () => {
    for (const route of ROUTES) {
      const operation = documentedOperation(route.method, route.path);
      if (operation === undefined) throw new Error(`${route.operationId} is not in the document`);
      const missing = pipelineCodes(route).filter(
        (code) => !(documentedCodes(operation, PROBLEMS[code].status) ?? []).includes(code),
      );
      expect(missing, route.operationId).toEqual([]);
    }
  });
});
