import { describe, expect, it } from "vitest";
import { MAX_IDEMPOTENCY_KEY_LENGTH } from "../../src/domain/limits.ts";
import { expectProblem, fundedAccount, getAccount, json, post, uniqueKey } from "../support/api.ts";
import { credit, expectUnchanged } from "../support/validation.ts";

/** The Idempotency-Key header: required on every POST, its length limit and its syntax. */

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
