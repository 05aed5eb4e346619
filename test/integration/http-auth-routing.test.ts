import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  MAX_AMOUNT_MINOR,
  MAX_API_KEY_LENGTH,
  MAX_BODY_BYTES,
  MAX_OVERDRAFT_LIMIT_MINOR,
  MIN_AMOUNT_MINOR,
} from "../../src/domain/limits.ts";
import {
  ACME_KEY,
  GLOBEX_KEY,
  call,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { DEV_API_KEY, TEST_API_KEYS } from "../support/keys.ts";

/**
 * Authentication, tenant isolation, routing (404/405) and the OpenAPI
 * document, and the order in which those checks run before any body check.
 */

const ACME_ROTATED_KEY = TEST_API_KEYS.acme[1];

interface FetchOptions {
  method?: string;
  /** The full Authorization header value; null sends none. */
  authorization?: string | null;
  headers?: Record<string, string>;
  body?: string;
  contentType?: string | null;
}

/** Fetches an absolute URL (any host) with an exact Authorization header. */
function fetchUrl(url: string, options: FetchOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.authorization != null) headers.set("authorization", options.authorization);
  if (options.body !== undefined) {
    const contentType = options.contentType === undefined ? "application/json" : options.contentType;
    if (contentType !== null) headers.set("content-type", contentType);
  }
  return exports.default.fetch(url, { method: options.method ?? "GET", headers, body: options.body });
}

const BASE = "https://ledger.test";

async function expectUnauthorized(response: Response): Promise<void> {
  await expectProblem(response, 401, "unauthorized");
  expect(response.headers.get("www-authenticate")).toBe("Bearer");
}

function allowList(response: Response): string[] {
  return (response.headers.get("allow") ?? "").split(",").map((method) => method.trim());
}

const usd = (amount: number) => ({ amount, currency: "USD" });

/** Every /v1 route, as [method, path, body?] for an account named `account`. */
function v1Routes(account: string): ReadonlyArray<readonly [string, string, unknown]> {
  return [
    ["PUT", `/v1/accounts/${account}`, { currency: "USD" }],
    ["GET", `/v1/accounts/${account}`, undefined],
    ["POST", `/v1/accounts/${account}/credits`, usd(100)],
    ["POST", `/v1/accounts/${account}/charges`, usd(100)],
    ["POST", `/v1/accounts/${account}/refunds`, { charge: "ch_x" }],
    ["GET", `/v1/accounts/${account}/entries`, undefined],
    ["GET", `/v1/accounts/${account}/charges/ch_x`, undefined],
    ["GET", `/v1/accounts/${account}/idempotency-keys/some-key`, undefined],
  ];
}

describe("authentication", () => {
  it("refuses every /v1 route without Authorization, with WWW-Authenticate: Bearer, and changes nothing", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    for (const [method, path, body] of v1Routes(account)) {
      const response = await call(path, { method, key: null, body, idempotencyKey: key });
      expect(response.status, `${method} ${path}`).toBe(401);
      await expectUnauthorized(response);
    }
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
    // The key the refused POSTs carried was never recorded.
    const credit = await post(account, "credits", usd(5), key);
    expect(credit.status).toBe(201);
    expect(credit.headers.get("idempotent-replayed")).toBe("false");
    expect(await getAccount(account)).toMatchObject({ balance: 1005, entry_count: 2 });
  });

  it("does not open an account for an unauthenticated PUT", async () => {
    const account = uniqueAccount();
    await expectUnauthorized(
      await call(`/v1/accounts/${account}`, { method: "PUT", key: null, body: { currency: "USD" } }),
    );
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    await openAccount(account);
  });

  it.each([
    ["an unknown key", "Bearer olk_test_nobody"],
    ["a valid key with a character added", `Bearer ${ACME_KEY}x`],
    ["a valid key missing its last character", `Bearer ${ACME_KEY.slice(0, -1)}`],
    ["the Basic scheme", "Basic x"],
    ["the Basic scheme carrying a valid key", `Basic ${btoa(`${ACME_KEY}:`)}`],
    ["a bare key with no scheme", ACME_KEY],
    ["another scheme name", `Token ${ACME_KEY}`],
    ["Bearer with nothing", "Bearer"],
    ["Bearer and a space", "Bearer "],
    ["no space after Bearer", `Bearer${ACME_KEY}`],
    ["trailing text after the key", `Bearer ${ACME_KEY} extra`],
    ["two keys comma-joined", `Bearer ${ACME_KEY}, Bearer ${ACME_ROTATED_KEY}`],
    ["an overlong token", `Bearer ${"a".repeat(10_000)}`],
    ["an overlong token that starts with a valid key", `Bearer ${ACME_KEY}${"a".repeat(300)}`],
  ])("refuses %s with 401", async (_, authorization) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectUnauthorized(
      await fetchUrl(`${BASE}/v1/accounts/${account}/credits`, {
        method: "POST",
        authorization,
        headers: { "idempotency-key": key },
        body: JSON.stringify(usd(5)),
      }),
    );
    await expectUnauthorized(await fetchUrl(`${BASE}/v1/accounts/${account}`, { authorization }));
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
    expect((await post(account, "credits", usd(5), key)).status).toBe(201);
  });

  it.each([
    ["lower-case bearer", `bearer ${ACME_KEY}`],
    ["upper-case BEARER", `BEARER ${ACME_KEY}`],
    ["several spaces", `Bearer   ${ACME_KEY}`],
  ])("accepts %s", async (_, authorization) => {
    const account = await fundedAccount(1000);
    const response = await fetchUrl(`${BASE}/v1/accounts/${account}`, { authorization });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ id: account, balance: 1000 });
  });

  it(`accepts a configured key of ${MAX_API_KEY_LENGTH} characters and refuses a configured one of ${MAX_API_KEY_LENGTH + 1}`, async () => {
    const [longest, tooLong] = TEST_API_KEYS.edge;
    const account = uniqueAccount();
    // Past authentication, an unopened account is a 404; refused, it is a 401.
    await expectProblem(await call(`/v1/accounts/${account}`, { key: longest }), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}`, { key: tooLong }), 401, "unauthorized");
  });

  it("accepts both of acme's live keys, which see the same accounts", async () => {
    const account = uniqueAccount();
    await openAccount(account, { currency: "USD" }, ACME_KEY);
    const viaRotated = await call(`/v1/accounts/${account}`, { key: ACME_ROTATED_KEY });
    expect(viaRotated.status).toBe(200);
    expect(await json(viaRotated)).toMatchObject({ id: account, currency: "USD", balance: 0 });

    const key = uniqueKey();
    const credit = await post(account, "credits", usd(250), key, { key: ACME_ROTATED_KEY });
    expect(credit.status).toBe(201);
    expect((await getAccount(account, ACME_KEY)).balance).toBe(250);
    // One tenant, one idempotency space: the other key replays the same request.
    const replay = await post(account, "credits", usd(250), key, { key: ACME_KEY });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await getAccount(account, ACME_ROTATED_KEY)).toMatchObject({ balance: 250, entry_count: 1 });
  });

  it("keeps tenants apart: globex cannot see or touch acme's account of the same name", async () => {
    const account = await fundedAccount(1000);
    await expectProblem(await call(`/v1/accounts/${account}`, { key: GLOBEX_KEY }), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/entries`, { key: GLOBEX_KEY }), 404, "account_not_found");
    await expectProblem(
      await post(account, "charges", usd(100), uniqueKey(), { key: GLOBEX_KEY }),
      404,
      "account_not_found",
    );
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });

    // The same name under globex is a different account: another currency opens it fresh.
    const opened = await call(`/v1/accounts/${account}`, { method: "PUT", key: GLOBEX_KEY, body: { currency: "EUR" } });
    expect(opened.status).toBe(201);
    expect(await json(opened)).toMatchObject({ id: account, currency: "EUR", balance: 0, entry_count: 0 });

    const key = uniqueKey();
    const globexCredit = await post(account, "credits", { amount: 30, currency: "EUR" }, key, { key: GLOBEX_KEY });
    expect(globexCredit.status).toBe(201);
    // The same Idempotency-Key under acme is a new request, not a replay of globex's.
    const acmeCredit = await post(account, "credits", usd(7), key);
    expect(acmeCredit.status).toBe(201);
    expect(acmeCredit.headers.get("idempotent-replayed")).toBe("false");

    expect(await getAccount(account)).toMatchObject({ currency: "USD", balance: 1007, entry_count: 2 });
    expect(await getAccount(account, GLOBEX_KEY)).toMatchObject({ currency: "EUR", balance: 30, entry_count: 1 });
    const acmeChargeId = (await json<{ id: string }>(await post(account, "charges", usd(1)))).id;
    await expectProblem(
      await call(`/v1/accounts/${account}/charges/${acmeChargeId}`, { key: GLOBEX_KEY }),
      404,
      "charge_not_found",
    );
  });
});

describe("the development key", () => {
  it.each(["http://localhost", "http://localhost:8787", "http://127.0.0.1:8787", "http://[::1]:8787"])(
    "is accepted on %s, as its own tenant",
    async (origin) => {
      const account = uniqueAccount();
      const dev = `Bearer ${DEV_API_KEY}`;
      const opened = await fetchUrl(`${origin}/v1/accounts/${account}`, {
        method: "PUT",
        authorization: dev,
        body: JSON.stringify({ currency: "USD" }),
      });
      expect(opened.status).toBe(201);
      const credit = await fetchUrl(`${origin}/v1/accounts/${account}/credits`, {
        method: "POST",
        authorization: dev,
        headers: { "idempotency-key": uniqueKey() },
        body: JSON.stringify(usd(40)),
      });
      expect(credit.status).toBe(201);
      const read = await fetchUrl(`${origin}/v1/accounts/${account}`, { authorization: dev });
      expect(read.status).toBe(200);
      expect(await json(read)).toMatchObject({ id: account, balance: 40 });
      // The dev tenant is not acme.
      await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    },
  );

  it.each([
    "https://ledger.test",
    "https://localhost.ledger.test",
    "http://127.0.0.2",
    "http://localhost.",
    "http://[::2]",
    "http://0.0.0.0",
  ])("is refused on %s with 401 and changes nothing", async (origin) => {
    const account = uniqueAccount();
    const dev = `Bearer ${DEV_API_KEY}`;
    await expectUnauthorized(
      await fetchUrl(`${origin}/v1/accounts/${account}`, {
        method: "PUT",
        authorization: dev,
        body: JSON.stringify({ currency: "USD" }),
      }),
    );
    await expectUnauthorized(await fetchUrl(`${origin}/v1/accounts/${account}`, { authorization: dev }));
    const onLoopback = await fetchUrl(`http://localhost/v1/accounts/${account}`, { authorization: dev });
    await expectProblem(onLoopback, 404, "account_not_found");
  });

  it("is refused when only the Host header claims localhost", async () => {
    const account = uniqueAccount();
    await expectUnauthorized(
      await fetchUrl(`${BASE}/v1/accounts/${account}`, {
        method: "PUT",
        authorization: `Bearer ${DEV_API_KEY}`,
        headers: { host: "localhost", "x-forwarded-host": "localhost" },
        body: JSON.stringify({ currency: "USD" }),
      }),
    );
    await expectProblem(
      await fetchUrl(`http://localhost/v1/accounts/${account}`, { authorization: `Bearer ${DEV_API_KEY}` }),
      404,
      "account_not_found",
    );
  });

  it("does not stop ordinary keys working on loopback", async () => {
    const account = await fundedAccount(300);
    const response = await fetchUrl(`http://localhost/v1/accounts/${account}`, { authorization: `Bearer ${ACME_KEY}` });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ id: account, balance: 300 });
  });
});

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
    ["GET", "/v1/accounts"],
    ["GET", "/v1/accounts/"],
    ["GET", "/v1/accounts/x/nope"],
    ["POST", "/v1/accounts/x/transfers"],
    ["GET", "/v1/accounts/x/charges/ch_x/extra"],
    ["GET", "/v1/accounts/x/refunds/re_x"],
  ])("answers an authenticated %s %s with 404 not_found", async (method, path) => {
    await expectProblem(await call(path, { method }), 404, "not_found");
  });

  it.each([
    ["DELETE", "/v1/accounts/{a}", ["PUT", "GET"], ["DELETE", "POST"]],
    ["PATCH", "/v1/accounts/{a}", ["PUT", "GET"], ["PATCH", "POST"]],
    ["POST", "/v1/accounts/{a}", ["PUT", "GET"], ["POST"]],
    ["GET", "/v1/accounts/{a}/credits", ["POST"], ["GET", "PUT"]],
    ["PUT", "/v1/accounts/{a}/charges", ["POST"], ["GET", "PUT"]],
    ["DELETE", "/v1/accounts/{a}/refunds", ["POST"], ["DELETE", "GET"]],
    ["POST", "/v1/accounts/{a}/entries", ["GET"], ["POST"]],
    ["DELETE", "/v1/accounts/{a}/charges/ch_x", ["GET"], ["DELETE", "POST"]],
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
    await expectUnauthorized(await call("/v1/nope", { key: null }));
    await expectUnauthorized(await call("/v1/accounts/x/nope", { method: "POST", key: null }));
    await expectUnauthorized(await call("/v1/accounts/x/nope", { key: "olk_test_nobody" }));
  });

  it("401 comes before 405", async () => {
    await expectUnauthorized(await call(`/v1/accounts/${uniqueAccount()}`, { method: "DELETE", key: null }));
    await expectUnauthorized(await call(`/v1/accounts/${uniqueAccount()}/credits`, { key: null }));
  });

  it("401 comes before 413, 415 and the Idempotency-Key", async () => {
    const account = await fundedAccount(1000);
    const response = await call(`/v1/accounts/${account}/credits`, {
      method: "POST",
      key: null,
      body: oversized,
      contentType: "text/plain",
    });
    await expectUnauthorized(response);
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
  });

  it("404 comes before 413 and 415", async () => {
    const response = await call(`/v1/accounts/${uniqueAccount()}/transfers`, {
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
      "/v1/accounts/{account}": ["put", "get"],
      "/v1/accounts/{account}/credits": ["post"],
      "/v1/accounts/{account}/charges": ["post"],
      "/v1/accounts/{account}/refunds": ["post"],
      "/v1/accounts/{account}/entries": ["get"],
      "/v1/accounts/{account}/charges/{id}": ["get"],
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
