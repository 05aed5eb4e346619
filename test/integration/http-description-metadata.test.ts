import { describe, expect, it } from "vitest";
import {
  MAX_DESCRIPTION_LENGTH,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_PAIRS,
  MAX_METADATA_VALUE_LENGTH,
} from "../../src/domain/limits.ts";
import { call, expectInvalid, fundedAccount, json, post, uniqueKey } from "../support/api.ts";
import { EMOJI, credit, expectUnchanged, send } from "../support/validation.ts";

/** Schema validation of descriptions and metadata: limits counted in code points, and strings storage can keep. */

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
