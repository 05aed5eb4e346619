import { describe, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/domain/limits.ts";
import { expectInvalid, expectProblem, fundedAccount, post, uniqueKey } from "../support/api.ts";
import { expectUnchanged, send } from "../support/validation.ts";

/** The order of the request checks: body size, media type, Idempotency-Key, JSON syntax, then the schema. */

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
