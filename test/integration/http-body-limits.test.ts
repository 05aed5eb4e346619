import { describe, expect, it } from "vitest";
import { MAX_BODY_BYTES, MAX_METADATA_VALUE_LENGTH } from "../../src/domain/limits.ts";
import { BASE_URL, expectProblem, fundedAccount, getAccount, json, uniqueAccount, uniqueKey } from "../support/api.ts";
import { credit, encoder, expectNotOpened, expectUnchanged, send } from "../support/validation.ts";

/** Body size, counted in bytes however the body is sent, and the JSON media type. */

const EURO = "\u20AC"; // one code point, one UTF-16 unit, three UTF-8 bytes

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
