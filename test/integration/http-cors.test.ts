import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { buildApp, withLastResort } from "../../src/http/app.ts";
import { ACME_KEY, BASE_URL, fundedAccount, uniqueKey } from "../support/api.ts";
import { TEST_CORS_ORIGIN } from "../support/keys.ts";

/** Browsers on an allowed origin may call the API and read what the client needs; no other origin may. */

function preflight(path: string, origin: string) {
  return exports.default.fetch(`${BASE_URL}${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type, idempotency-key",
    },
  });
}

function charge(account: string, origin: string | null) {
  const headers = new Headers({
    authorization: `Bearer ${ACME_KEY}`,
    "content-type": "application/json",
    "idempotency-key": uniqueKey(),
  });
  if (origin !== null) headers.set("origin", origin);
  return exports.default.fetch(`${BASE_URL}/v1/accounts/${account}/charges`, {
    method: "POST",
    headers,
    body: JSON.stringify({ amount: 1, currency: "USD" }),
  });
}

const listed = (header: string | null) => (header ?? "").split(",").map((name) => name.trim().toLowerCase());

describe("CORS for an allowed origin", () => {
  it("answers the preflight without an API key, allowing the headers a money request needs", async () => {
    const response = await preflight("/v1/accounts/acct/charges", TEST_CORS_ORIGIN);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(TEST_CORS_ORIGIN);
    expect(listed(response.headers.get("access-control-allow-methods"))).toEqual(
      expect.arrayContaining(["get", "put", "post"]),
    );
    expect(listed(response.headers.get("access-control-allow-headers"))).toEqual(
      expect.arrayContaining(["authorization", "content-type", "idempotency-key"]),
    );
  });

  it("lets the page read Idempotent-Replayed and Retry-After on answers, problems included", async () => {
    const account = await fundedAccount(10);
    const response = await charge(account, TEST_CORS_ORIGIN);
    expect(response.status).toBe(201);
    expect(response.headers.get("access-control-allow-origin")).toBe(TEST_CORS_ORIGIN);
    expect(listed(response.headers.get("access-control-expose-headers"))).toEqual(
      expect.arrayContaining(["idempotent-replayed", "retry-after"]),
    );
    expect(listed(response.headers.get("vary"))).toContain("origin");

    const unauthorized = await exports.default.fetch(`${BASE_URL}/v1/accounts/${account}`, {
      headers: { origin: TEST_CORS_ORIGIN },
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("access-control-allow-origin")).toBe(TEST_CORS_ORIGIN);
    expect(listed(unauthorized.headers.get("access-control-expose-headers"))).toContain("www-authenticate");

    const wrongMethod = await exports.default.fetch(`${BASE_URL}/v1/accounts/${account}/charges`, {
      headers: { origin: TEST_CORS_ORIGIN, authorization: `Bearer ${ACME_KEY}` },
    });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("access-control-allow-origin")).toBe(TEST_CORS_ORIGIN);
    expect(listed(wrongMethod.headers.get("access-control-expose-headers"))).toContain("allow");
  });
});

describe("CORS for anyone else", () => {
  it("gives another origin no permission, on the preflight or the request", async () => {
    const other = "https://evil.example.com";
    const answer = await preflight("/v1/accounts/acct/charges", other);
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    const account = await fundedAccount(10);
    expect((await charge(account, other)).headers.get("access-control-allow-origin")).toBeNull();
  });

  it("changes nothing for a server-side caller, which sends no Origin", async () => {
    const account = await fundedAccount(10);
    const response = await charge(account, null);
    expect(response.status).toBe(201);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("is off when CORS_ALLOWED_ORIGINS is empty, and off (not open) when it is malformed", async () => {
    const app = withLastResort(buildApp());
    for (const setting of ["", "*"]) {
      const ctx = createExecutionContext();
      const response = await app.fetch(
        new Request(`${BASE_URL}/v1/accounts/acct/charges`, {
          method: "OPTIONS",
          headers: { origin: TEST_CORS_ORIGIN, "access-control-request-method": "POST" },
        }),
        { ...env, CORS_ALLOWED_ORIGINS: setting },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
      expect(response.status).toBe(401);
    }
  });
});
