import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_PAGE_SIZE,
  MAX_ACCOUNT_NAME_LENGTH,
  MAX_AMOUNT_MINOR,
  MAX_BODY_BYTES,
  MAX_DESCRIPTION_LENGTH,
  MAX_ENTRY_ID_LENGTH,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_JSON_DEPTH,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_PAIRS,
  MAX_METADATA_VALUE_LENGTH,
  MAX_OVERDRAFT_LIMIT_MINOR,
  MAX_PAGE_SIZE,
  MIN_AMOUNT_MINOR,
} from "../../src/domain/limits.ts";
import {
  ACME_KEY,
  BASE_URL,
  allEntries,
  call,
  expectInvalid,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";

/**
 * The request-validation surface: body size, media type, Idempotency-Key,
 * JSON syntax and schema, checked in that order, each limit at both edges,
 * and every rejection shown to have changed nothing.
 */

const encoder = new TextEncoder();
const EMOJI = "\u{1F600}"; // one code point, two UTF-16 units, four UTF-8 bytes
const EURO = "\u20AC"; // one code point, one UTF-16 unit, three UTF-8 bytes

type RawBody = string | Uint8Array | ReadableStream<Uint8Array>;

interface SendOptions {
  method?: string;
  key?: string | null;
  idempotencyKey?: string | null;
  /** Defaults to application/json; null sends none. */
  contentType?: string | null;
  body?: RawBody;
}

/** Sends a body exactly as given (bytes, stream or text), unlike `call`, which serialises JSON. */
function send(path: string, options: SendOptions = {}): Promise<Response> {
  const headers = new Headers();
  const key = options.key === undefined ? ACME_KEY : options.key;
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  if (options.idempotencyKey != null) headers.set("idempotency-key", options.idempotencyKey);
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (contentType !== null) headers.set("content-type", contentType);
  return exports.default.fetch(`${BASE_URL}${path}`, { method: options.method ?? "POST", headers, body: options.body });
}

/** A body streamed in small chunks, so no Content-Length is known in advance. */
function chunked(bytes: Uint8Array, chunkSize = 1000): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

/** `value` as JSON, padded with trailing whitespace (still valid JSON) to exactly `size` UTF-8 bytes. */
function jsonOfSize(value: unknown, size: number): string {
  const text = JSON.stringify(value);
  const bytes = encoder.encode(text).byteLength;
  expect(bytes).toBeLessThanOrEqual(size);
  const padded = text + " ".repeat(size - bytes);
  expect(encoder.encode(padded).byteLength).toBe(size);
  return padded;
}

const credit = (amount = 100) => ({ amount, currency: "USD" });

/**
 * Proves a rejected request recorded nothing: the account is as it was, and
 * (given the key the rejected request carried) the same key still moves
 * money for the first time.
 */
async function expectUnchanged(
  account: string,
  before: { balance: number; entry_count: number },
  reusableKey: string | null,
): Promise<void> {
  const now = await getAccount(account);
  expect({ balance: now.balance, entry_count: now.entry_count }).toEqual({
    balance: before.balance,
    entry_count: before.entry_count,
  });
  if (reusableKey === null) return;
  const retry = await post(account, "credits", credit(7), reusableKey);
  expect(retry.status).toBe(201);
  expect(retry.headers.get("idempotent-replayed")).toBe("false");
  const after = await getAccount(account);
  expect({ balance: after.balance, entry_count: after.entry_count }).toEqual({
    balance: before.balance + 7,
    entry_count: before.entry_count + 1,
  });
}

/** The account was never opened: GET says so, and a first PUT still creates it. */
async function expectNotOpened(account: string): Promise<void> {
  await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
  const outcome = await ledgerStub(account).getAccount();
  expect(outcome.status).toBe(404);
}

describe("check order", () => {
  it("an oversized body with a wrong content type, no Idempotency-Key and bad JSON is 413", async () => {
    const account = await fundedAccount(1000);
    const response = await send(`/v1/accounts/${account}/credits`, {
      contentType: "text/plain",
      body: "{".repeat(MAX_BODY_BYTES + 1),
    });
    await expectProblem(response, 413, "payload_too_large");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);
  });

  it("a wrong content type with no Idempotency-Key and bad JSON is 415", async () => {
    const account = await fundedAccount(1000);
    const response = await send(`/v1/accounts/${account}/credits`, { contentType: "text/plain", body: "{nope" });
    await expectProblem(response, 415, "unsupported_media_type");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);
  });

  it("a missing Idempotency-Key outranks malformed JSON", async () => {
    const account = await fundedAccount(1000);
    const response = await send(`/v1/accounts/${account}/credits`, { body: "{nope" });
    await expectProblem(response, 400, "idempotency_key_missing");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);
  });

  it("a malformed Idempotency-Key outranks malformed JSON", async () => {
    const account = await fundedAccount(1000);
    const response = await send(`/v1/accounts/${account}/credits`, { idempotencyKey: "a b", body: "{nope" });
    await expectProblem(response, 400, "idempotency_key_invalid");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);
  });

  it("a missing Idempotency-Key outranks a schema error", async () => {
    const account = await fundedAccount(1000);
    const response = await post(account, "credits", { amount: 0, currency: "usd", extra: 1 }, null);
    await expectProblem(response, 400, "idempotency_key_missing");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);
  });

  it("malformed JSON outranks a bad account name in the path", async () => {
    const key = uniqueKey();
    const response = await send(`/v1/accounts/a.b/credits`, { idempotencyKey: key, body: '{"amount": 5' });
    await expectProblem(response, 400, "invalid_json");
    const put = await send(`/v1/accounts/a.b`, { method: "PUT", body: "{" });
    await expectProblem(put, 400, "invalid_json");
  });

  it("duplicate keys are invalid_json even when every field would pass the schema", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const response = await send(`/v1/accounts/${account}/credits`, {
      idempotencyKey: key,
      body: '{"amount": 100, "currency": "USD", "amount": 100}',
    });
    await expectProblem(response, 400, "invalid_json");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it("schema errors in the path and the body are reported together", async () => {
    const response = await post("a.b", "credits", { amount: 0, currency: "usd" });
    await expectInvalid(response, ["account", "amount", "currency"]);
  });
});

describe("body size", () => {
  it(`accepts a body of exactly ${MAX_BODY_BYTES} bytes and rejects one more, with Content-Length`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const tooBig = jsonOfSize(credit(5), MAX_BODY_BYTES + 1);
    await expectProblem(
      await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body: tooBig }),
      413,
      "payload_too_large",
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);

    const exact = jsonOfSize(credit(5), MAX_BODY_BYTES);
    const ok = await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body: exact });
    expect(ok.status).toBe(201);
    expect(ok.headers.get("idempotent-replayed")).toBe("false");
    expect((await getAccount(account)).balance).toBe(1005);
  });

  it("counts a chunked body without Content-Length in bytes: 16384 accepted, 16385 rejected", async () => {
    const account = await fundedAccount(1000);
    const path = `/v1/accounts/${account}/credits`;
    const probe = new Request(`${BASE_URL}${path}`, {
      method: "POST",
      body: chunked(encoder.encode("{}")),
    });
    expect(probe.headers.get("content-length")).toBeNull();

    const key = uniqueKey();
    const tooBig = chunked(encoder.encode(jsonOfSize(credit(5), MAX_BODY_BYTES + 1)));
    await expectProblem(await send(path, { idempotencyKey: key, body: tooBig }), 413, "payload_too_large");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);

    const exact = chunked(encoder.encode(jsonOfSize(credit(5), MAX_BODY_BYTES)));
    const ok = await send(path, { idempotencyKey: key, body: exact });
    expect(ok.status).toBe(201);
    expect((await getAccount(account)).balance).toBe(1005);
  });

  it("counts multibyte UTF-8 in bytes, not characters (with Content-Length and chunked)", async () => {
    const account = await fundedAccount(1000);
    const path = `/v1/accounts/${account}/credits`;
    const metadata = Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [`k${i}`, EURO.repeat(MAX_METADATA_VALUE_LENGTH)]),
    );
    const body = { amount: 5, currency: "USD", metadata };
    const exact = jsonOfSize(body, MAX_BODY_BYTES);
    const over = jsonOfSize(body, MAX_BODY_BYTES + 1);
    // Far fewer characters than bytes: a character count would let both through.
    expect(over.length).toBeLessThan(MAX_BODY_BYTES / 2);

    await expectProblem(await send(path, { idempotencyKey: uniqueKey(), body: over }), 413, "payload_too_large");
    await expectProblem(
      await send(path, { idempotencyKey: uniqueKey(), body: chunked(encoder.encode(over), 777) }),
      413,
      "payload_too_large",
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);

    const viaLength = await send(path, { idempotencyKey: uniqueKey(), body: exact });
    expect(viaLength.status).toBe(201);
    expect((await json<{ metadata: Record<string, string> }>(viaLength)).metadata).toEqual(metadata);
    const viaChunks = await send(path, { idempotencyKey: uniqueKey(), body: chunked(encoder.encode(exact), 777) });
    expect(viaChunks.status).toBe(201);
    expect((await getAccount(account)).balance).toBe(1010);
  });

  it("rejects an oversized PUT without opening the account", async () => {
    const account = uniqueAccount();
    const response = await send(`/v1/accounts/${account}`, {
      method: "PUT",
      body: jsonOfSize({ currency: "USD" }, MAX_BODY_BYTES + 1),
    });
    await expectProblem(response, 413, "payload_too_large");
    await expectNotOpened(account);
    const ok = await send(`/v1/accounts/${account}`, {
      method: "PUT",
      body: jsonOfSize({ currency: "USD" }, MAX_BODY_BYTES),
    });
    expect(ok.status).toBe(201);
  });
});

describe("media type", () => {
  it.each([
    ["text/plain", "text/plain"],
    ["text/plain with charset", "text/plain;charset=UTF-8"],
    ["form encoding", "application/x-www-form-urlencoded"],
    ["a JSON look-alike", "application/jsonp"],
    ["a +json suffix type", "application/merge-patch+json"],
  ])("rejects %s on a POST with 415 and records nothing", async (_, contentType) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const response = await send(`/v1/accounts/${account}/credits`, {
      idempotencyKey: key,
      contentType,
      body: JSON.stringify(credit()),
    });
    await expectProblem(response, 415, "unsupported_media_type");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it("rejects a POST with no Content-Type at all", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    // Bytes (unlike a string) make fetch add no Content-Type of its own.
    const response = await send(`/v1/accounts/${account}/credits`, {
      idempotencyKey: key,
      contentType: null,
      body: encoder.encode(JSON.stringify(credit())),
    });
    await expectProblem(response, 415, "unsupported_media_type");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it("rejects a PUT with no or a wrong Content-Type without opening the account", async () => {
    const account = uniqueAccount();
    const body = encoder.encode(JSON.stringify({ currency: "USD" }));
    await expectProblem(
      await send(`/v1/accounts/${account}`, { method: "PUT", contentType: null, body }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(
      await send(`/v1/accounts/${account}`, { method: "PUT", contentType: "text/plain", body }),
      415,
      "unsupported_media_type",
    );
    await expectNotOpened(account);
  });

  it.each(["application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"])(
    "accepts %s",
    async (contentType) => {
      const account = uniqueAccount();
      const put = await send(`/v1/accounts/${account}`, {
        method: "PUT",
        contentType,
        body: JSON.stringify({ currency: "USD" }),
      });
      expect(put.status).toBe(201);
      const response = await send(`/v1/accounts/${account}/credits`, {
        idempotencyKey: uniqueKey(),
        contentType,
        body: JSON.stringify(credit(42)),
      });
      expect(response.status).toBe(201);
      expect((await getAccount(account)).balance).toBe(42);
    },
  );
});

describe("Idempotency-Key header", () => {
  it.each(["credits", "charges", "refunds"] as const)("is required on POST %s", async (kind) => {
    const account = await fundedAccount(1000);
    const body = kind === "refunds" ? { charge: "ch_missing" } : credit();
    await expectProblem(await post(account, kind, body, null), 400, "idempotency_key_missing");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);
  });

  it(`accepts a key of ${MAX_IDEMPOTENCY_KEY_LENGTH} characters and rejects ${MAX_IDEMPOTENCY_KEY_LENGTH + 1}`, async () => {
    const account = await fundedAccount(1000);
    const tooLong = "k".repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1);
    await expectProblem(await post(account, "credits", credit(), tooLong), 400, "idempotency_key_invalid");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);

    const longest = `${uniqueKey()}-`.padEnd(MAX_IDEMPOTENCY_KEY_LENGTH, "k");
    expect(longest).toHaveLength(MAX_IDEMPOTENCY_KEY_LENGTH);
    const first = await post(account, "credits", credit(), longest);
    expect(first.status).toBe(201);
    const entry = await json<{ id: string; idempotency_key: string }>(first);
    expect(entry.idempotency_key).toBe(longest);
    // The RFC 9651 string form of the same key is the same key: a replay.
    const quoted = await post(account, "credits", credit(), `"${longest}"`);
    expect(quoted.status).toBe(201);
    expect(quoted.headers.get("idempotent-replayed")).toBe("true");
    expect((await json<{ id: string }>(quoted)).id).toBe(entry.id);
    expect((await getAccount(account)).entry_count).toBe(2);
  });

  it.each([
    ["empty", ""],
    ["containing a space", "a b"],
    ["containing a comma", "a,b"],
    ["containing a tab", "a\tb"],
    ["with a non-ASCII character", "caf\u00e9"],
    ["an unterminated string item", '"abc'],
    ["an empty string item", '""'],
    ["a string item with trailing text", '"abc" x'],
  ])("rejects a key %s with idempotency_key_invalid", async (_, header) => {
    const account = await fundedAccount(1000);
    await expectProblem(await post(account, "credits", credit(), header), 400, "idempotency_key_invalid");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, null);
  });
});

describe("JSON syntax", () => {
  it.each([
    ["an empty body", ""],
    ["a truncated object", '{"amount": 100, "currency": "USD"'],
    ["single quotes", "{'amount': 100, 'currency': 'USD'}"],
    ["a trailing comma", '{"amount": 100, "currency": "USD",}'],
    ["two values", '{"amount": 100, "currency": "USD"} {}'],
    ["NaN", '{"amount": NaN, "currency": "USD"}'],
    ["a leading plus", '{"amount": +100, "currency": "USD"}'],
    ["a raw newline in a string", '{"amount": 100, "currency": "USD", "description": "a\nb"}'],
    ["a duplicate key", '{"amount": 100, "currency": "USD", "currency": "USD"}'],
    ["a duplicate key spelled with an escape", '{"amount": 100, "currency": "USD", "\\u0061mount": 100}'],
    ["a duplicate key inside metadata", '{"amount": 100, "currency": "USD", "metadata": {"a": "1", "a": "2"}}'],
  ])("rejects %s with invalid_json and records nothing", async (_, body) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectProblem(
      await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body }),
      400,
      "invalid_json",
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it("rejects a POST with no body at all", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectProblem(await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key }), 400, "invalid_json");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it.each([
    ["a 0xFF byte", [0xff]],
    ["a truncated three-byte sequence", [0xe2, 0x82]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["an overlong encoding", [0xc0, 0xaf]],
  ])("rejects invalid UTF-8 (%s) with invalid_json", async (_, bad) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const body = new Uint8Array([
      ...encoder.encode('{"amount": 100, "currency": "USD", "description": "'),
      ...bad,
      ...encoder.encode('"}'),
    ]);
    await expectProblem(
      await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body }),
      400,
      "invalid_json",
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it(`parses nesting ${MAX_JSON_DEPTH} deep and rejects ${MAX_JSON_DEPTH + 1}`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const nested = (depth: number) =>
      `{"amount": 100, "currency": "USD", "metadata": ${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`;
    // At the limit the JSON parses, so the schema is what complains.
    await expectInvalid(
      await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body: nested(MAX_JSON_DEPTH) }),
      ["metadata"],
    );
    await expectProblem(
      await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body: nested(MAX_JSON_DEPTH + 1) }),
      400,
      "invalid_json",
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it("rejects malformed JSON on PUT without opening the account", async () => {
    const account = uniqueAccount();
    await expectProblem(
      await send(`/v1/accounts/${account}`, { method: "PUT", body: '{"currency": "USD"' }),
      400,
      "invalid_json",
    );
    await expectProblem(
      await send(`/v1/accounts/${account}`, { method: "PUT", body: '{"currency": "USD", "currency": "EUR"}' }),
      400,
      "invalid_json",
    );
    await expectNotOpened(account);
  });

  it("treats JSON that is not an object as a schema error on the body", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    for (const body of ["null", "[]", '"USD"', "100"]) {
      await expectInvalid(await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body }), ["body"]);
    }
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });
});

describe("amounts", () => {
  it.each(["credits", "charges"] as const)(
    `accepts ${MIN_AMOUNT_MINOR} and ${MAX_AMOUNT_MINOR} as %s amounts`,
    async (kind) => {
      const account =
        kind === "charges" ? await fundedAccount(MAX_AMOUNT_MINOR, MIN_AMOUNT_MINOR) : await fundedAccount(0);
      const before = await getAccount(account);
      const sign = kind === "charges" ? -1 : 1;
      expect((await post(account, kind, credit(MIN_AMOUNT_MINOR))).status).toBe(201);
      expect((await post(account, kind, credit(MAX_AMOUNT_MINOR))).status).toBe(201);
      const after = await getAccount(account);
      expect(after.balance).toBe(before.balance + sign * (MIN_AMOUNT_MINOR + MAX_AMOUNT_MINOR));
      expect(after.entry_count).toBe(before.entry_count + 2);
    },
  );

  const badAmounts: ReadonlyArray<readonly [string, string]> = [
    ["zero", "0"],
    ["one over the maximum", String(MAX_AMOUNT_MINOR + 1)],
    ["a fraction", "1.5"],
    ["a numeric string", '"5000"'],
    ["a negative", "-1"],
    ["a large negative", "-5000"],
    ["null", "null"],
    ["a boolean", "true"],
    ["an overflowing exponent", "1e400"],
    ["an object", "{}"],
  ];

  it.each(["credits", "charges"] as const)("rejects bad %s amounts naming the field", async (kind) => {
    const account = await fundedAccount(10_000);
    const key = uniqueKey();
    for (const [label, amount] of badAmounts) {
      const response = await send(`/v1/accounts/${account}/${kind}`, {
        idempotencyKey: key,
        body: `{"amount": ${amount}, "currency": "USD"}`,
      });
      expect(response.status, label).toBe(400);
      await expectInvalid(response, ["amount"]);
    }
    await expectInvalid(await post(account, kind, { currency: "USD" }, key), ["amount"]);
    await expectUnchanged(account, { balance: 10_000, entry_count: 1 }, key);
  });

  it("rejects bad refund amounts before looking for the charge", async () => {
    const account = await fundedAccount(10_000);
    const charge = await post(account, "charges", credit(500));
    expect(charge.status).toBe(201);
    const chargeId = (await json<{ id: string }>(charge)).id;
    const key = uniqueKey();
    for (const [label, amount] of badAmounts) {
      const response = await send(`/v1/accounts/${account}/refunds`, {
        idempotencyKey: key,
        body: `{"charge": ${JSON.stringify(chargeId)}, "amount": ${amount}}`,
      });
      expect(response.status, label).toBe(400);
      await expectInvalid(response, ["amount"]);
    }
    await expectUnchanged(account, { balance: 9_500, entry_count: 2 }, key);

    // Inside the schema's range the ledger decides: the maximum passes validation.
    await expectProblem(
      await post(account, "refunds", { charge: chargeId, amount: MAX_AMOUNT_MINOR }),
      409,
      "refund_exceeds_charge",
    );
    const refund = await post(account, "refunds", { charge: chargeId, amount: MIN_AMOUNT_MINOR });
    expect(refund.status).toBe(201);
    expect((await getAccount(account)).balance).toBe(9_508);
  });
});

describe("currency", () => {
  it.each([
    ["lower case", '"usd"'],
    ["two letters", '"US"'],
    ["four letters", '"USDX"'],
    ["a digit", '"U5D"'],
    ["empty", '""'],
    ["a number", "840"],
    ["null", "null"],
    ["padded", '" USD"'],
  ])("rejects a currency that is %s", async (_, currency) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    for (const kind of ["credits", "charges"]) {
      await expectInvalid(
        await send(`/v1/accounts/${account}/${kind}`, {
          idempotencyKey: key,
          body: `{"amount": 100, "currency": ${currency}}`,
        }),
        ["currency"],
      );
    }
    await expectInvalid(
      await send(`/v1/accounts/${account}/refunds`, {
        idempotencyKey: key,
        body: `{"charge": "ch_x", "currency": ${currency}}`,
      }),
      ["currency"],
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    const fresh = uniqueAccount();
    await expectInvalid(await send(`/v1/accounts/${fresh}`, { method: "PUT", body: `{"currency": ${currency}}` }), [
      "currency",
    ]);
    await expectNotOpened(fresh);
  });

  it("requires a currency on credits, charges and PUT", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectInvalid(await post(account, "credits", { amount: 1 }, key), ["currency"]);
    await expectInvalid(await post(account, "charges", { amount: 1 }, key), ["currency"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
    const fresh = uniqueAccount();
    await expectInvalid(await call(`/v1/accounts/${fresh}`, { method: "PUT", body: {} }), ["currency"]);
    await expectNotOpened(fresh);
  });

  it("passes a well-formed other currency to the ledger, which declines it", async () => {
    const account = await fundedAccount(1000);
    await expectProblem(await post(account, "credits", { amount: 1, currency: "EUR" }), 409, "currency_mismatch");
    expect((await getAccount(account)).balance).toBe(1000);
  });
});

describe("account names", () => {
  const longest = () => uniqueAccount().padEnd(MAX_ACCOUNT_NAME_LENGTH, "x");

  it(`accepts names of 1 and ${MAX_ACCOUNT_NAME_LENGTH} characters on every route`, async () => {
    const account = longest();
    expect(account).toHaveLength(MAX_ACCOUNT_NAME_LENGTH);
    expect((await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(201);
    expect((await post(account, "credits", credit(300))).status).toBe(201);
    const charge = await post(account, "charges", credit(100));
    expect(charge.status).toBe(201);
    const chargeId = (await json<{ id: string }>(charge)).id;
    expect((await post(account, "refunds", { charge: chargeId, amount: 50 })).status).toBe(201);
    expect((await call(`/v1/accounts/${account}/charges/${chargeId}`)).status).toBe(200);
    expect(await allEntries(account)).toHaveLength(3);
    const view = await getAccount(account);
    expect(view).toMatchObject({ balance: 250, entry_count: 3 });
    expect((view as unknown as { id: string }).id).toBe(account);

    const short = "Z";
    expect((await call(`/v1/accounts/${short}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(201);
    expect((await getAccount(short)).currency).toBe("USD");
    const symbols = `-_${uniqueAccount()}`;
    expect((await call(`/v1/accounts/${symbols}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(201);
  });

  it.each([
    ["too long", () => `${longest()}x`],
    ["with a dot", () => "a.b"],
    ["with an encoded space", () => "a%20b"],
    ["with an encoded non-ASCII letter", () => "caf%C3%A9"],
    ["with a plus", () => "a+b"],
    ["with an encoded slash", () => "a%2Fb"],
  ])("rejects a name %s on every route without creating it", async (_, name) => {
    const account = name();
    const base = `/v1/accounts/${account}`;
    await expectInvalid(await call(base, { method: "PUT", body: { currency: "USD" } }), ["account"]);
    await expectInvalid(await call(base), ["account"]);
    await expectInvalid(await call(`${base}/entries`), ["account"]);
    await expectInvalid(await call(`${base}/charges/ch_x`), ["account"]);
    for (const kind of ["credits", "charges"] as const) {
      await expectInvalid(await post(account, kind, credit()), ["account"]);
    }
    await expectInvalid(await post(account, "refunds", { charge: "ch_x" }), ["account"]);
    const decoded = decodeURIComponent(account);
    expect((await ledgerStub(decoded).getAccount()).status).toBe(404);
  });
});

describe("description", () => {
  it(`accepts ${MAX_DESCRIPTION_LENGTH} code points and rejects ${MAX_DESCRIPTION_LENGTH + 1}`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const astralLimit = EMOJI.repeat(MAX_DESCRIPTION_LENGTH);
    expect(astralLimit).toHaveLength(2 * MAX_DESCRIPTION_LENGTH);

    for (const description of [`${astralLimit}${EMOJI}`, "d".repeat(MAX_DESCRIPTION_LENGTH + 1)]) {
      await expectInvalid(await post(account, "credits", { ...credit(), description }, key), ["description"]);
      await expectInvalid(await post(account, "charges", { ...credit(), description }, key), ["description"]);
      await expectInvalid(await post(account, "refunds", { charge: "ch_x", description }, key), ["description"]);
    }
    await expectInvalid(await post(account, "credits", { ...credit(), description: 5 }, key), ["description"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    const astral = await post(account, "credits", { ...credit(), description: astralLimit });
    expect(astral.status).toBe(201);
    expect((await json<{ description: string }>(astral)).description).toBe(astralLimit);
    const ascii = "d".repeat(MAX_DESCRIPTION_LENGTH);
    const plain = await post(account, "charges", { ...credit(), description: ascii });
    expect(plain.status).toBe(201);
    expect((await json<{ description: string }>(plain)).description).toBe(ascii);
  });

  it("refuses lone surrogates, which storage could not keep as sent, and changes nothing", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const body = '{"amount": 100, "currency": "USD", "description": "a\\ud800b", "metadata": {"\\udc00": "x"}}';
    const response = await send(`/v1/accounts/${account}/credits`, { idempotencyKey: key, body });
    await expectInvalid(response, ["description", "metadata"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it("accepts properly paired surrogates and stores them exactly", async () => {
    const account = await fundedAccount(1000);
    const body = '{"amount": 100, "currency": "USD", "description": "a\\ud83d\\ude00b"}';
    const created = await json<{ id: string; description: string }>(
      await send(`/v1/accounts/${account}/credits`, { idempotencyKey: uniqueKey(), body }),
    );
    expect(created.description).toBe("a\u{1F600}b");
    const page = await json<{ data: { id: string; description: string | null }[] }>(
      await call(`/v1/accounts/${account}/entries?limit=100`),
    );
    expect(page.data.find((entry) => entry.id === created.id)?.description).toBe("a\u{1F600}b");
  });
});

describe("metadata", () => {
  it("refuses a __proto__ metadata key, which would otherwise be dropped silently, and changes nothing", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const errors = await expectInvalid(
      await send(`/v1/accounts/${account}/credits`, {
        idempotencyKey: key,
        body: '{"amount": 100, "currency": "USD", "metadata": {"order": "A-1", "__proto__": "x"}}',
      }),
      ["metadata.__proto__"],
    );
    expect(errors[0]?.message).toBe("reserved key");
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  const pairs = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`key${i}`, `v${i}`]));

  it(`accepts ${MAX_METADATA_PAIRS} pairs and rejects ${MAX_METADATA_PAIRS + 1}`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectInvalid(await post(account, "credits", { ...credit(), metadata: pairs(MAX_METADATA_PAIRS + 1) }, key), [
      "metadata",
    ]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
    const ok = await post(account, "credits", { ...credit(), metadata: pairs(MAX_METADATA_PAIRS) });
    expect(ok.status).toBe(201);
    expect((await json<{ metadata: Record<string, string> }>(ok)).metadata).toEqual(pairs(MAX_METADATA_PAIRS));
  });

  it(`accepts keys of ${MAX_METADATA_KEY_LENGTH} characters and rejects ${MAX_METADATA_KEY_LENGTH + 1}`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const longKey = "k".repeat(MAX_METADATA_KEY_LENGTH + 1);
    await expectInvalid(await post(account, "credits", { ...credit(), metadata: { [longKey]: "v" } }, key), [
      `metadata.${longKey}`,
    ]);
    await expectInvalid(await post(account, "credits", { ...credit(), metadata: { "": "v" } }, key), ["metadata."]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    const metadata = { ["k".repeat(MAX_METADATA_KEY_LENGTH)]: "v", [EMOJI.repeat(MAX_METADATA_KEY_LENGTH)]: "w" };
    const ok = await post(account, "charges", { ...credit(), metadata });
    expect(ok.status).toBe(201);
    expect((await json<{ metadata: Record<string, string> }>(ok)).metadata).toEqual(metadata);
  });

  it(`accepts values of ${MAX_METADATA_VALUE_LENGTH} characters and rejects ${MAX_METADATA_VALUE_LENGTH + 1}`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    for (const value of ["v".repeat(MAX_METADATA_VALUE_LENGTH + 1), EMOJI.repeat(MAX_METADATA_VALUE_LENGTH + 1)]) {
      await expectInvalid(await post(account, "credits", { ...credit(), metadata: { note: value } }, key), [
        "metadata.note",
      ]);
    }
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    const metadata = { plain: "v".repeat(MAX_METADATA_VALUE_LENGTH), astral: EMOJI.repeat(MAX_METADATA_VALUE_LENGTH) };
    const ok = await post(account, "credits", { ...credit(), metadata });
    expect(ok.status).toBe(201);
    expect((await json<{ metadata: Record<string, string> }>(ok)).metadata).toEqual(metadata);
  });

  it.each([
    ["a number", 1],
    ["null", null],
    ["a boolean", false],
    ["an object", { nested: "x" }],
    ["an array", ["x"]],
  ])("rejects a value that is %s, naming the key", async (_, value) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectInvalid(await post(account, "credits", { ...credit(), metadata: { ok: "fine", bad: value } }, key), [
      "metadata.bad",
    ]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });

  it("rejects metadata that is not an object", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    for (const metadata of ["order=1", ["a", "b"], null, 3]) {
      await expectInvalid(await post(account, "credits", { ...credit(), metadata }, key), ["metadata"]);
    }
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });
});

describe("unknown and multiple bad fields", () => {
  it("names each unknown field on every body", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const errors = await expectInvalid(await post(account, "credits", { ...credit(), extra: 1, Amount: 2 }, key), [
      "extra",
      "Amount",
    ]);
    expect(errors.every((error) => error.message === "unknown field")).toBe(true);
    await expectInvalid(await post(account, "charges", { ...credit(), balance: 5 }, key), ["balance"]);
    await expectInvalid(await post(account, "refunds", { charge: "ch_x", reason: "why" }, key), ["reason"]);
    await expectInvalid(
      await send(`/v1/accounts/${account}/credits`, {
        idempotencyKey: key,
        body: '{"amount": 100, "currency": "USD", "__proto__": {"x": 1}}',
      }),
      ["__proto__"],
    );
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    const fresh = uniqueAccount();
    await expectInvalid(await call(`/v1/accounts/${fresh}`, { method: "PUT", body: { currency: "USD", balance: 9 } }), [
      "balance",
    ]);
    await expectNotOpened(fresh);
  });

  it("lists every bad field of one request", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const body = {
      amount: 0,
      currency: "usd",
      description: EMOJI.repeat(MAX_DESCRIPTION_LENGTH + 1),
      metadata: { n: 1 },
      extra: true,
    };
    await expectInvalid(await post(account, "credits", body, key), [
      "amount",
      "currency",
      "description",
      "metadata.n",
      "extra",
    ]);
    await expectInvalid(await post("a.b", "charges", body, key), [
      "account",
      "amount",
      "currency",
      "description",
      "metadata.n",
      "extra",
    ]);
    await expectInvalid(await post(account, "refunds", { charge: "", amount: 1.5, currency: "EURO", other: 1 }, key), [
      "charge",
      "amount",
      "currency",
      "other",
    ]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
    const fresh = uniqueAccount();
    const problem = await expectInvalid(
      await call(`/v1/accounts/${fresh}`, { method: "PUT", body: { currency: "us", overdraft_limit: -1, x: 0 } }),
      ["currency", "overdraft_limit", "x"],
    );
    expect(problem).toHaveLength(3);
    await expectNotOpened(fresh);
  });

  it("never answers 5xx to arbitrary JSON bodies, and records nothing for those it rejects", async () => {
    const account = await fundedAccount(1000);
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const response = await send(`/v1/accounts/${account}/credits`, {
          idempotencyKey: uniqueKey(),
          body: JSON.stringify(value),
        });
        await response.arrayBuffer();
        expect(response.status).toBeLessThan(500);
        expect([201, 400, 409]).toContain(response.status);
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary" }), async (text) => {
        const response = await send(`/v1/accounts/${account}/charges`, { idempotencyKey: uniqueKey(), body: text });
        await response.arrayBuffer();
        expect(response.status).toBeLessThan(500);
      }),
      { numRuns: 60 },
    );
    const entries = await allEntries(account);
    const view = await getAccount(account);
    expect(view.entry_count).toBe(entries.length);
    expect(view.balance).toBe(entries.reduce((sum, entry) => sum + entry.amount, 0));
  });
});

describe("refund charge reference and charge ids", () => {
  it(`accepts ids of ${MAX_ENTRY_ID_LENGTH} characters and rejects ${MAX_ENTRY_ID_LENGTH + 1}`, async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const longest = "c".repeat(MAX_ENTRY_ID_LENGTH);
    const tooLong = `${longest}c`;
    await expectInvalid(await post(account, "refunds", { charge: tooLong }, key), ["charge"]);
    await expectInvalid(await post(account, "refunds", { charge: "" }, key), ["charge"]);
    await expectInvalid(await post(account, "refunds", { amount: 5 }, key), ["charge"]);
    await expectInvalid(await call(`/v1/accounts/${account}/charges/${tooLong}`), ["id"]);
    await expectInvalid(await call(`/v1/accounts/${account}/entries?starting_after=${tooLong}`), ["starting_after"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);

    await expectProblem(await call(`/v1/accounts/${account}/charges/${longest}`), 404, "charge_not_found");
    await expectProblem(await post(account, "refunds", { charge: longest }), 404, "charge_not_found");
    const errors = await expectInvalid(await call(`/v1/accounts/${account}/entries?starting_after=${longest}`), [
      "starting_after",
    ]);
    expect(errors).toEqual([{ field: "starting_after", message: "no such entry" }]);
  });

  it("rejects ids that are not visible ASCII, counted in code points", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectInvalid(await post(account, "refunds", { charge: "ch_é" }, key), ["charge"]);
    await expectInvalid(await post(account, "refunds", { charge: "ch x" }, key), ["charge"]);
    await expectInvalid(await call(`/v1/accounts/${account}/charges/ch_%C3%A9`), ["id"]);
    await expectUnchanged(account, { balance: 1000, entry_count: 1 }, key);
  });
});

describe("one error a field", () => {
  it("reports a huge amount once, without leaking internal bounds", async () => {
    const account = await fundedAccount(1000);
    const errors = await expectInvalid(await post(account, "charges", '{"amount": 1e21, "currency": "USD"}'), [
      "amount",
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).not.toContain("9007199254740991");
  });
});

describe("PUT /v1/accounts/{account}", () => {
  it("opens with 201, repeats with 200 and refuses another currency with 409", async () => {
    const account = uniqueAccount();
    const created = await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } });
    expect(created.status).toBe(201);
    expect(created.headers.get("content-type")).toMatch(/^application\/json/);
    const first = await json(created);
    expect(first).toMatchObject({ id: account, currency: "USD", balance: 0, overdraft_limit: 0, entry_count: 0 });

    const again = await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(first);

    await expectProblem(
      await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "EUR", overdraft_limit: 5 } }),
      409,
      "currency_mismatch",
    );
    expect(await getAccount(account)).toEqual(first);
  });

  it(`accepts overdraft limits 0 and ${MAX_OVERDRAFT_LIMIT_MINOR} and rejects values outside`, async () => {
    const account = uniqueAccount();
    await openAccount(account, { currency: "USD", overdraft_limit: 0 });
    for (const [label, limit] of [
      ["negative", "-1"],
      ["over the maximum", String(MAX_OVERDRAFT_LIMIT_MINOR + 1)],
      ["fractional", "1.5"],
      ["a string", '"100"'],
      ["null", "null"],
    ] as const) {
      const response = await send(`/v1/accounts/${account}`, {
        method: "PUT",
        body: `{"currency": "USD", "overdraft_limit": ${limit}}`,
      });
      expect(response.status, label).toBe(400);
      await expectInvalid(response, ["overdraft_limit"]);
    }
    expect((await getAccount(account)).overdraft_limit).toBe(0);

    const raised = await call(`/v1/accounts/${account}`, {
      method: "PUT",
      body: { currency: "USD", overdraft_limit: MAX_OVERDRAFT_LIMIT_MINOR },
    });
    expect(raised.status).toBe(200);
    expect((await getAccount(account)).overdraft_limit).toBe(MAX_OVERDRAFT_LIMIT_MINOR);
    // Omitted, the limit is kept.
    expect((await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } })).status).toBe(200);
    expect((await getAccount(account)).overdraft_limit).toBe(MAX_OVERDRAFT_LIMIT_MINOR);
    // And it is live: a charge of the whole limit now goes through.
    expect((await post(account, "charges", credit(MAX_AMOUNT_MINOR))).status).toBe(201);

    const fresh = uniqueAccount();
    await expectInvalid(
      await call(`/v1/accounts/${fresh}`, {
        method: "PUT",
        body: { currency: "USD", overdraft_limit: MAX_OVERDRAFT_LIMIT_MINOR + 1 },
      }),
      ["overdraft_limit"],
    );
    await expectNotOpened(fresh);
    const opened = await openAccount(fresh, { currency: "USD", overdraft_limit: MAX_OVERDRAFT_LIMIT_MINOR });
    expect(opened.overdraft_limit).toBe(MAX_OVERDRAFT_LIMIT_MINOR);
  });
});

describe("GET /v1/accounts/{account}/entries?limit=", () => {
  it(`defaults to ${DEFAULT_PAGE_SIZE} and honours 1 and ${MAX_PAGE_SIZE}`, async () => {
    const account = await fundedAccount(1);
    for (let i = 0; i < MAX_PAGE_SIZE; i += 1) {
      expect((await post(account, "credits", credit(1))).status).toBe(201);
    }
    const page = async (query: string) => {
      const response = await call(`/v1/accounts/${account}/entries${query}`);
      expect(response.status).toBe(200);
      return json<{ data: { seq: number }[]; has_more: boolean }>(response);
    };
    const byDefault = await page("");
    expect(byDefault.data.map((entry) => entry.seq)).toEqual(
      Array.from({ length: DEFAULT_PAGE_SIZE }, (_, i) => i + 1),
    );
    expect(byDefault.has_more).toBe(true);
    const one = await page("?limit=1");
    expect(one.data).toHaveLength(1);
    expect(one.has_more).toBe(true);
    const most = await page(`?limit=${MAX_PAGE_SIZE}`);
    expect(most.data).toHaveLength(MAX_PAGE_SIZE);
    expect(most.has_more).toBe(true);
    const rest = await page(
      `?limit=${MAX_PAGE_SIZE}&starting_after=${(await allEntries(account))[MAX_PAGE_SIZE - 1]?.id ?? ""}`,
    );
    expect(rest.data.map((entry) => entry.seq)).toEqual([MAX_PAGE_SIZE + 1]);
    expect(rest.has_more).toBe(false);
  });

  it("rejects an unknown query parameter on every other GET route too, and changes nothing", async () => {
    const account = await fundedAccount(1000);
    const charge = await json<{ id: string }>(await post(account, "charges", credit(5), "lookup-me"));
    for (const path of [
      `/v1/accounts/${account}?expand=all`,
      `/v1/accounts/${account}/charges/${charge.id}?expand=all`,
      `/v1/accounts/${account}/idempotency-keys/lookup-me?expand=all`,
    ]) {
      const errors = await expectInvalid(await call(path), ["expand"]);
      expect(errors[0]?.message).toBe("unknown field");
    }
    expect((await call(`/v1/accounts/${account}/idempotency-keys/lookup-me`)).status).toBe(200);
    expect((await getAccount(account)).entry_count).toBe(2);
  });

  it("rejects an unknown query parameter by name, as Stripe does", async () => {
    const account = await fundedAccount(1000);
    const errors = await expectInvalid(await call(`/v1/accounts/${account}/entries?limt=5`), ["limt"]);
    expect(errors[0]?.message).toBe("unknown field");
  });

  it.each(["limit=5&limit=abc", "limit=5&limit=5", "starting_after=x&starting_after=y"])(
    "rejects a parameter given twice (%s) instead of reading one of them",
    async (query) => {
      const account = await fundedAccount(1000);
      const name = query.split("=")[0] ?? "";
      await expectInvalid(await call(`/v1/accounts/${account}/entries?${query}`), [name]);
    },
  );

  it.each(["0", String(MAX_PAGE_SIZE + 1), "abc", "-1", "1.5", "", "1e2", "10000"])(
    "rejects limit=%s",
    async (limit) => {
      const account = await fundedAccount(1000);
      await expectInvalid(await call(`/v1/accounts/${account}/entries?limit=${limit}`), ["limit"]);
      expect((await getAccount(account)).entry_count).toBe(1);
    },
  );
});
