import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import document from "../../src/api/openapi.json";
import { ROUTES } from "../../src/api/routes.ts";
import type { ProblemCode } from "../../src/domain/problems.ts";
import { ACME_KEY, BASE_URL, fundedAccount } from "../support/api.ts";
import { documentedCodes } from "../support/openapi-codes.ts";
import { arbitraryFor, type JsonSchema, type SchemaContext } from "../support/openapi-arbitraries.ts";

/**
 * Requests generated from the OpenAPI document alone, sent to the real
 * Worker: none may be refused except for a documented business reason (an
 * account, charge or period that does not exist, an empty period, funds,
 * currency, a reused key), every status must be one the operation documents,
 * every problem's `code` one that status's enum lists, and every success body
 * must match the schema the document names. So the document is never looser
 * than the server.
 */

const BUSINESS_REASONS = new Set<ProblemCode>([
  "account_not_found",
  "charge_not_found",
  "hold_not_found",
  "transfer_not_found",
  "transfer_to_self",
  "hold_captured",
  "hold_voided",
  "hold_expired",
  "capture_exceeds_hold",
  "period_not_found",
  "period_empty",
  "insufficient_funds",
  "currency_mismatch",
  "refund_exceeds_charge",
  "balance_limit_exceeded",
  "idempotency_key_reused",
  "idempotency_key_not_found",
  "idempotency_key_expired",
  "precondition_failed",
]);

/** A cursor the document cannot know is unknown: the one validation error that depends on stored state. */
function isUnknownCursor(body: { code?: string; errors?: { field: string; message: string }[] }): boolean {
  return (
    body.code === "invalid_request" &&
    body.errors?.length === 1 &&
    body.errors[0]?.field === "starting_after" &&
    (body.errors[0].message === "no such entry" || body.errors[0].message === "no such hold")
  );
}

interface Parameter {
  readonly name: string;
  readonly in: "path" | "query" | "header";
  readonly required: boolean;
  readonly schema: JsonSchema;
}

interface Operation {
  readonly operationId: string;
  readonly parameters: readonly Parameter[];
  readonly requestBody?: { content: { "application/json": { schema: JsonSchema } } };
  readonly responses: Record<string, unknown>;
}

const components = document.components.schemas as unknown as Record<string, JsonSchema>;

function requestArbitrary(path: string, method: string, operation: Operation, ctx: SchemaContext) {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const parameter of operation.parameters) {
    const value = arbitraryFor(parameter.schema, ctx, parameter.name);
    parts[`${parameter.in}:${parameter.name}`] = parameter.required ? value : fc.option(value, { nil: undefined });
  }
  if (operation.requestBody !== undefined) {
    parts.body = arbitraryFor(operation.requestBody.content["application/json"].schema, ctx);
  }
  return fc.record(parts).map((values) => {
    let url = path;
    const query = new URLSearchParams();
    const headers = new Headers({ authorization: `Bearer ${ACME_KEY}` });
    for (const parameter of operation.parameters) {
      const value = values[`${parameter.in}:${parameter.name}`];
      if (value === undefined) continue;
      // Parameters are strings and integers: their text is what goes on the wire.
      const text = typeof value === "string" ? value : JSON.stringify(value);
      if (parameter.in === "path") url = url.replace(`{${parameter.name}}`, encodeURIComponent(text));
      else if (parameter.in === "query") query.set(parameter.name, text);
      else headers.set(parameter.name, text);
    }
    const init: RequestInit = { method: method.toUpperCase(), headers };
    if (values.body !== undefined) {
      headers.set("content-type", "application/json");
      init.body = JSON.stringify(values.body);
    }
    const search = query.toString();
    return { url: `${BASE_URL}${url}${search === "" ? "" : `?${search}`}`, init };
  });
}

describe("requests generated from the OpenAPI document", () => {
  it("are accepted, or refused only for a documented business reason, with a documented status and shape", async () => {
    const accounts = [await fundedAccount(1_000_000), await fundedAccount(0, 500)];
    const ctx: SchemaContext = {
      components,
      // Mostly accounts that exist, so requests get past account_not_found.
      overrides: {
        account: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...accounts) },
          { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) },
        ),
        // Mostly the accounts' currency, so money requests get as far as funds, charges and limits.
        currency: fc.oneof(
          { weight: 4, arbitrary: fc.constant("USD") },
          { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{3}$/) },
        ),
      },
    };
    const responseSchemas = new Map(ROUTES.map((route) => [`${route.method} ${route.path}`, route.responses]));

    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item as Record<string, Operation>)) {
        await fc.assert(
          fc.asyncProperty(requestArbitrary(path, method, operation, ctx), async ({ url, init }) => {
            const response = await exports.default.fetch(url, init);
            const text = await response.text();
            const label = `${operation.operationId} ${init.method ?? ""} ${url} -> ${response.status} ${text.slice(0, 300)}`;
            expect(Object.keys(operation.responses), label).toContain(String(response.status));
            const body = JSON.parse(text) as { code?: ProblemCode; errors?: { field: string; message: string }[] };
            if (response.status >= 400) {
              expect(documentedCodes(operation, response.status), label).toContain(body.code);
              expect(BUSINESS_REASONS.has(body.code as ProblemCode) || isUnknownCursor(body), label).toBe(true);
              return;
            }
            const schema = responseSchemas.get(`${method} ${path}`)?.[response.status]?.schema;
            expect(schema?.safeParse(body).success, label).toBe(true);
          }),
          { numRuns: 40 },
        );
      }
    }
    // 40 requests for each operation of the document, one after another: past the default 30 s on a busy machine.
  }, 90_000);
});
