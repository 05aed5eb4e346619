import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { keyIdOf, QUEUE_KEY_ID } from "../../src/config/key-id.ts";
import { IDEMPOTENCY_KEY_HASH_HEX_LENGTH, MAX_REQUEST_ID_LENGTH } from "../../src/domain/limits.ts";
import { sha256Hex } from "../../src/lib/sha256.ts";
import {
  ACME_KEY,
  ACME_KEY_ID,
  allEntries,
  call,
  fundedAccount,
  json,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { TEST_API_KEYS, TEST_CORS_ORIGIN } from "../support/keys.ts";
import { command, deliver, messageId } from "../support/queues.ts";

/** What an on-call engineer gets: a Request-Id on every answer, and one structured line per request naming it. */

const usd = (amount: number) => ({ amount, currency: "USD" });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The structured lines logged while `fn` ran, parsed. */
async function loggedDuring(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: unknown[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => lines.push(line));
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return lines
    .filter((line): line is string => typeof line === "string" && line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

afterEach(() => vi.restoreAllMocks());

describe("Request-Id", () => {
  it("echoes the caller's X-Request-Id when it is 1 to 128 visible ASCII characters", async () => {
    for (const id of ["a", "req-42", "x".repeat(MAX_REQUEST_ID_LENGTH), "!~"]) {
      const response = await call(`/v1/accounts/${uniqueAccount()}`, { headers: { "x-request-id": id } });
      expect(response.headers.get("request-id")).toBe(id);
    }
  });

  it("generates one when the caller sent none, or one too long, empty or not printable", async () => {
    const seen = new Set<string>();
    for (const id of [undefined, "", "x".repeat(MAX_REQUEST_ID_LENGTH + 1), "has space", "tab\there", "caf\u00e9"]) {
      const headers: Record<string, string> = id === undefined ? {} : { "x-request-id": id };
      const response = await call(`/v1/accounts/${uniqueAccount()}`, { headers });
      const given = response.headers.get("request-id") ?? "";
      expect(given).toMatch(UUID);
      seen.add(given);
    }
    expect(seen.size).toBe(6);
  });

  it("is on every answer: refusals, unknown routes, wrong methods, preflights and the document", async () => {
    const answers = [
      await call("/v1/accounts/x", { key: null }),
      await call("/v1/accounts/x", { key: "wrong" }),
      await call("/nowhere"),
      await call("/v1/accounts/x/charges", { method: "DELETE" }),
      await call("/openapi.json"),
      await call("/v1/accounts/x/charges", {
        method: "OPTIONS",
        key: null,
        headers: { origin: TEST_CORS_ORIGIN, "access-control-request-method": "POST" },
      }),
      await post(uniqueAccount(), "charges", "{", uniqueKey()),
    ];
    for (const response of answers) expect(response.headers.get("request-id")).toMatch(UUID);
  });

  it("is stored with the record, so the key lookup and a replay's log line name the original request", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    const original = await post(account, "charges", usd(10), key, { headers: { "x-request-id": "order-svc-1" } });
    expect(original.headers.get("request-id")).toBe("order-svc-1");

    const lookup = await json(await call(`/v1/accounts/${account}/idempotency-keys/${key}`));
    expect(lookup).toMatchObject({ state: "recorded", request_id: "order-svc-1" });

    const lines = await loggedDuring(() =>
      post(account, "charges", usd(10), key, { headers: { "x-request-id": "order-svc-retry" } }),
    );
    const line = lines.find((l) => l.msg === "request");
    expect(line).toMatchObject({
      request_id: "order-svc-retry",
      replayed: true,
      original_request_id: "order-svc-1",
    });
  });

  it("is declared by the OpenAPI document on every response, and X-Request-Id on every operation", async () => {
    type Operation = { parameters: { name: string; in: string }[]; responses: Record<string, { headers?: object }> };
    const doc = await json<{ paths: Record<string, Record<string, Operation>> }>(
      await call("/openapi.json", { key: null }),
    );
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
    expect(operations.length).toBeGreaterThan(5);
    for (const operation of operations) {
      expect(operation.parameters).toContainEqual(expect.objectContaining({ name: "X-Request-Id", in: "header" }));
      for (const response of Object.values(operation.responses)) {
        expect(response.headers ?? {}).toHaveProperty(["Request-Id"]);
      }
    }
  });
});

describe("the request log line", () => {
  it("names the request, route, tenant, key id, account, outcome, duration and the entry that moved", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    let response: Response | undefined;
    const lines = await loggedDuring(async () => {
      response = await post(account, "charges", usd(30), key, { headers: { "x-request-id": "trace-7" } });
    });
    const body = await json<{ id: string }>(response as Response);
    const requestLines = lines.filter((l) => l.msg === "request");
    expect(requestLines).toHaveLength(1);
    const [entry] = (await allEntries(account)).slice(-1);
    expect(requestLines[0]).toMatchObject({
      request_id: "trace-7",
      route: "POST /v1/accounts/{account}/charges",
      tenant: "acme",
      key_id: ACME_KEY_ID,
      account,
      idempotency_key_hash: sha256Hex(key).slice(0, IDEMPOTENCY_KEY_HASH_HEX_LENGTH),
      status: 201,
      code: null,
      replayed: false,
      entry: body.id,
      seq: entry?.seq,
    });
    expect(typeof requestLines[0]?.duration_ms).toBe("number");
  });

  it("never holds the API key or the Idempotency-Key", async () => {
    const account = await fundedAccount(100);
    const key = `secret-looking-key-${crypto.randomUUID()}`;
    const lines = await loggedDuring(() => post(account, "charges", usd(1), key));
    const text = JSON.stringify(lines);
    expect(text).not.toContain(ACME_KEY);
    expect(text).not.toContain(key);
    expect(lines.some((l) => l.msg === "request")).toBe(true);
  });

  it("names the decline's code for a refused request", async () => {
    const account = await fundedAccount(5);
    const lines = await loggedDuring(() => post(account, "charges", usd(50)));
    expect(lines.find((l) => l.msg === "request")).toMatchObject({
      status: 402,
      code: "insufficient_funds",
      entry: null,
    });
  });
});

describe("attribution", () => {
  it("stores on every entry and change the id of the key that made it, or the queue's", async () => {
    const account = await fundedAccount(100);
    const rotated = TEST_API_KEYS.acme[1];
    await post(account, "charges", usd(1), uniqueKey(), { key: rotated });
    await deliver(
      [{ id: messageId(), body: command({ account, operation: "charge", key: uniqueKey(), request: usd(2) }) }],
      {
        RESULTS: env.RESULTS,
      },
    );
    const entries = await allEntries(account);
    expect(entries.map((e) => [e.amount, e.key_id])).toEqual([
      [100, ACME_KEY_ID],
      [-1, keyIdOf(sha256Hex(rotated))],
      [-2, QUEUE_KEY_ID],
    ]);
    const changes = await json<{ data: { key_id: string | null }[] }>(await call(`/v1/accounts/${account}/changes`));
    expect(changes.data.map((c) => c.key_id)).toEqual([ACME_KEY_ID, ACME_KEY_ID]);
  });
});
