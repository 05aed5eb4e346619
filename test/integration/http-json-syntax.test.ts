import { describe, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../src/domain/limits.ts";
import { expectInvalid, expectProblem, fundedAccount, uniqueAccount, uniqueKey } from "../support/api.ts";
import { encoder, expectNotOpened, expectUnchanged, send } from "../support/validation.ts";

/** Request bodies that are not one well-formed, UTF-8 JSON object. */

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
