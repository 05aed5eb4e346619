import { describe, expect, it } from "vitest";
import {
  MAX_AMOUNT_MINOR,
  MAX_BODY_BYTES,
  MAX_OVERDRAFT_LIMIT_MINOR,
  MIN_AMOUNT_MINOR,
} from "../../src/domain/limits.ts";
import { call, expectProblem, fundedAccount, getAccount, json, uniqueAccount, uniqueKey } from "../support/api.ts";
import { BASE, expectUnauthorized, fetchUrl, usd } from "../support/http.ts";

/**
 * Routing (404/405) and the OpenAPI document, and the order in which
 * authentication and routing run before any body check.
 */

function allowList(response: Response): string[] {
  return (response.headers.get("allow") ?? "").split(",").map((method) => method.trim());
}

describe("routing", () => {
  it.each(["/", "/nope", "/v2/accounts/x", "/v1x", "/openapi.yaml", "/accounts/x"])(
    "answers %s (outside /v1) with 404 not_found, no auth needed",
    async (path) => {
      const response = await fetchUrl(`${BASE}${path}`);
      const body = await expectProblem(response, 404, "not_found");
      expect(body.detail).toContain(path);
    },
  );

  it.each([
    ["GET", "/v1/nope"],
    ["GET", "/v1/accounts/"],
    ["GET", "/v1/accounts/x/nope"],
    ["POST", "/v1/accounts/x/payouts"],
    ["GET", "/v1/accounts/x/charges/ch_x/extra"],
    ["GET", "/v1/accounts/x/refunds/re_x"],
  ])("answers an authenticated %s %s with 404 not_found", async (method, path) => {
    await expectProblem(await call(path, { method }), 404, "not_found");
  });

  it.each([
    ["POST", "/v1/accounts", ["GET"], ["POST", "PUT"]],
    ["DELETE", "/v1/accounts/{a}", ["PUT", "GET"], ["DELETE", "POST"]],
    ["PATCH", "/v1/accounts/{a}", ["PUT", "GET"], ["PATCH", "POST"]],
    ["POST", "/v1/accounts/{a}", ["PUT", "GET"], ["POST"]],
    ["GET", "/v1/accounts/{a}/credits", ["POST"], ["GET", "PUT"]],
    ["PUT", "/v1/accounts/{a}/charges", ["POST"], ["GET", "PUT"]],
    ["DELETE", "/v1/accounts/{a}/refunds", ["POST"], ["DELETE", "GET"]],
    ["POST", "/v1/accounts/{a}/entries", ["GET"], ["POST"]],
    ["DELETE", "/v1/accounts/{a}/charges/ch_x", ["GET"], ["DELETE", "POST"]],
    ["PUT", "/v1/accounts/{a}/periods", ["GET", "POST"], ["PUT"]],
    ["POST", "/v1/accounts/{a}/periods/1", ["GET"], ["POST"]],
  ])("answers %s %s with 405 and an Allow header", async (method, template, allowed, notAllowed) => {
    const account = await fundedAccount(1000);
    const path = template.replace("{a}", account);
    const body = method === "GET" ? undefined : usd(5);
    const response = await call(path, { method, body, idempotencyKey: uniqueKey() });
    const allow = allowList(response);
    await expectProblem(response, 405, "method_not_allowed");
    for (const m of allowed) expect(allow).toContain(m);
    for (const m of notAllowed) expect(allow).not.toContain(m);
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
  });

  it("does not open an account on a POST to the account route", async () => {
    const account = uniqueAccount();
    const response = await call(`/v1/accounts/${account}`, { method: "POST", body: { currency: "USD" } });
    await expectProblem(response, 405, "method_not_allowed");
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
  });

  it("answers HEAD on a GET route, as the Allow header promises", async () => {
    const account = await fundedAccount(1000);
    const response = await call(`/v1/accounts/${account}`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
    // A HEAD answer has no body to read, so its problem is checked by status and headers.
    const refused = await call(`/v1/accounts/${account}`, { method: "HEAD", key: null });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe("Bearer");
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("check order across auth and routing", () => {
  const oversized = "x".repeat(MAX_BODY_BYTES + 1);

  it("401 comes before 404 on an unknown /v1 route", async () => {
    await expectUnauthorized(await call("/v1/nope", { key: null }), "none");
    await expectUnauthorized(await call("/v1/accounts/x/nope", { method: "POST", key: null }), "none");
    await expectUnauthorized(await call("/v1/accounts/x/nope", { key: "olk_test_nobody" }));
  });

  it("401 comes before 405", async () => {
    await expectUnauthorized(await call(`/v1/accounts/${uniqueAccount()}`, { method: "DELETE", key: null }), "none");
    await expectUnauthorized(await call(`/v1/accounts/${uniqueAccount()}/credits`, { key: null }), "none");
  });

  it("401 comes before 413, 415 and the Idempotency-Key", async () => {
    const account = await fundedAccount(1000);
    const response = await call(`/v1/accounts/${account}/credits`, {
      method: "POST",
      key: null,
      body: oversized,
      contentType: "text/plain",
    });
    await expectUnauthorized(response, "none");
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
  });

  it("404 comes before 413 and 415", async () => {
    const response = await call(`/v1/accounts/${uniqueAccount()}/payouts`, {
      method: "POST",
      body: oversized,
      contentType: "text/plain",
    });
    await expectProblem(response, 404, "not_found");
  });

  it("405 comes before 413, 415 and the Idempotency-Key", async () => {
    const account = await fundedAccount(1000);
    const response = await call(`/v1/accounts/${account}/entries`, {
      method: "POST",
      body: oversized,
      contentType: "text/plain",
    });
    await expectProblem(response, 405, "method_not_allowed");
    expect(allowList(response)).toContain("GET");
    const put = await call(`/v1/accounts/${account}`, { method: "POST", body: oversized, contentType: "text/plain" });
    await expectProblem(put, 405, "method_not_allowed");
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
  });
});

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, unknown>>;
  components: {
    schemas: Record<string, { properties: Record<string, Record<string, unknown>>; required?: string[] }>;
    securitySchemes?: Record<string, unknown>;
  };
}

/** GET /openapi.json, turning a thrown (unanswered) request into a clear failure. */
async function fetchOpenApi(authorization?: string): Promise<Response> {
  try {
    return await fetchUrl(`${BASE}/openapi.json`, { authorization });
  } catch (error) {
    const message = (error as { message?: unknown } | null)?.message;
    throw new Error(`GET /openapi.json threw instead of answering: ${String(message)}`, { cause: error });
  }
}

describe("GET /openapi.json", () => {
  it("serves an OpenAPI 3.1 document without auth", async () => {
    const response = await fetchOpenApi();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const doc = await json<OpenApiDocument>(response);
    expect(doc.openapi.startsWith("3.1")).toBe(true);
    expect(doc.info.title).toBe("OnceLedger");

    const paths = {
      "/v1/accounts": ["get"],
      "/v1/accounts/{account}": ["put", "get"],
      "/v1/accounts/{account}/credits": ["post"],
      "/v1/accounts/{account}/charges": ["post"],
      "/v1/accounts/{account}/refunds": ["post"],
      "/v1/accounts/{account}/batches": ["post"],
      "/v1/accounts/{account}/entries": ["get"],
      "/v1/accounts/{account}/changes": ["get"],
      "/v1/accounts/{account}/charges/{id}": ["get"],
      "/v1/accounts/{account}/periods": ["post", "get"],
      "/v1/accounts/{account}/periods/{id}": ["get"],
      "/v1/accounts/{account}/transfers": ["post"],
      "/v1/accounts/{account}/transfers/{transfer}": ["get"],
      "/v1/accounts/{account}/holds": ["post", "get"],
      "/v1/accounts/{account}/holds/{hold}": ["get"],
      "/v1/accounts/{account}/holds/{hold}/captures": ["post"],
      "/v1/accounts/{account}/holds/{hold}/voids": ["post"],
      "/v1/accounts/{account}/idempotency-keys/{key}": ["get"],
    };
    expect(Object.keys(doc.paths).sort()).toEqual(Object.keys(paths).sort());
    for (const [path, methods] of Object.entries(paths)) {
      expect(Object.keys(doc.paths[path] ?? {}).sort(), path).toEqual(expect.arrayContaining(methods));
    }
    expect(doc.components.securitySchemes).toHaveProperty("bearer");
  });

  it("describes the request schemas generated from zod, with their limits", async () => {
    const doc = await json<OpenApiDocument>(await fetchOpenApi());
    const money = doc.components.schemas.MoneyRequest;
    expect(money?.properties.amount).toMatchObject({
      type: "integer",
      minimum: MIN_AMOUNT_MINOR,
      maximum: MAX_AMOUNT_MINOR,
    });
    expect(money?.properties.amount?.maximum).toBe(1_000_000_000_000);
    expect(money?.required).toEqual(expect.arrayContaining(["amount", "currency"]));
    expect(money?.properties.currency).toMatchObject({ type: "string", pattern: "^[A-Z]{3}$" });
    const open = doc.components.schemas.OpenAccountRequest;
    expect(open?.properties.overdraft_limit).toMatchObject({ minimum: 0, maximum: MAX_OVERDRAFT_LIMIT_MINOR });
    expect(doc.components.schemas.RefundRequest?.required).toEqual(["charge"]);
  });

  it("still serves the document to a request with a bad Authorization header", async () => {
    const response = await fetchOpenApi("Bearer olk_test_nobody");
    expect(response.status).toBe(200);
  });

  it("answers other methods with 405", async () => {
    const response = await fetchUrl(`${BASE}/openapi.json`, { method: "POST", body: "{}" });
    await expectProblem(response, 405, "method_not_allowed");
    expect(allowList(response)).toContain("GET");
  });
});
