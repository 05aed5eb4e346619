import { describe, expect, it } from "vitest";
import { COMMAND_RETRY_MAX_DELAY_SECONDS, MAX_COMMAND_MESSAGE_BYTES } from "../../src/domain/limits.ts";
import { utf8Length } from "../../src/lib/text.ts";
import { retryDelaySeconds, type CommandResult, type DeadLetter } from "../../src/queue/command-consumer.ts";
import {
  allEntries,
  call,
  expectLedgerConsistent,
  fundedAccount,
  getAccount,
  json,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { command, deliver, recordingQueues, faultyAccounts, messageId } from "../support/queues.ts";

/** The commands queue: each message decided once, as its HTTP twin would be, whatever the queue does. */

const usd = (amount: number) => ({ amount, currency: "USD" });

describe("a command message", () => {
  it("moves money once, is acknowledged, and produces the result the HTTP route would have answered", async () => {
    const account = await fundedAccount(100);
    const { results, deadLetters, bindings } = recordingQueues();
    const id = messageId();
    const key = uniqueKey();
    const outcome = await deliver(
      [{ id, body: command({ account, operation: "charge", key, request: usd(30) }) }],
      bindings,
    );

    expect(outcome.explicitAcks).toEqual([id]);
    expect(outcome.retryMessages).toEqual([]);
    expect(deadLetters.sent).toEqual([]);
    expect(await getAccount(account)).toMatchObject({ balance: 70, entry_count: 2 });
    const [result] = results.sent as CommandResult[];
    expect(results.sent).toHaveLength(1);
    expect(result).toMatchObject({ tenant: "acme", account, operation: "charge", idempotency_key: key, status: 201 });
    expect(result?.replayed).toBe(false);
    // The HTTP twin replays exactly the body the result carried.
    const twin = await post(account, "charges", usd(30), key);
    expect(twin.status).toBe(201);
    expect(twin.headers.get("idempotent-replayed")).toBe("true");
    expect(await json(twin)).toEqual(result?.body);
    expect(await getAccount(account)).toMatchObject({ balance: 70 });
  });

  it("sent twice in one batch applies once: both acknowledged, the second result a replay", async () => {
    const account = await fundedAccount(100);
    const { results, bindings } = recordingQueues();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(40) });
    const [first, second] = [messageId(), messageId()];
    const outcome = await deliver(
      [
        { id: first, body },
        { id: second, body },
      ],
      bindings,
    );

    expect(outcome.explicitAcks.sort()).toEqual([first, second].sort());
    expect(await getAccount(account)).toMatchObject({ balance: 60, entry_count: 2 });
    const sent = results.sent as CommandResult[];
    expect(sent.map((r) => r.replayed)).toEqual([false, true]);
    expect(sent[1]?.body).toEqual(sent[0]?.body);
  });

  it("redelivered in later batches changes nothing and gets the original answer each time", async () => {
    const account = await fundedAccount(100);
    const { results, bindings } = recordingQueues();
    const id = messageId();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(25) });
    for (const attempts of [1, 2, 3]) {
      const outcome = await deliver([{ id, body, attempts }], bindings);
      expect(outcome.explicitAcks).toEqual([id]);
    }
    expect(await getAccount(account)).toMatchObject({ balance: 75, entry_count: 2 });
    const sent = results.sent as CommandResult[];
    expect(sent.map((r) => r.replayed)).toEqual([false, true, true]);
    expect(new Set(sent.map((r) => JSON.stringify(r.body))).size).toBe(1);
  });

  it("arriving after its HTTP twin is a replay of the HTTP answer; before it, the HTTP request replays the message's", async () => {
    const account = await fundedAccount(100);
    const { results, bindings } = recordingQueues();
    const httpFirst = uniqueKey();
    const answer = await post(account, "charges", usd(10), httpFirst);
    expect(answer.status).toBe(201);
    const httpBody = await answer.text();
    await deliver(
      [{ id: messageId(), body: command({ account, operation: "charge", key: httpFirst, request: usd(10) }) }],
      bindings,
    );

    const queueFirst = uniqueKey();
    await deliver(
      [{ id: messageId(), body: command({ account, operation: "charge", key: queueFirst, request: usd(20) }) }],
      bindings,
    );
    const replay = await post(account, "charges", usd(20), queueFirst);

    const sent = results.sent as CommandResult[];
    expect(sent[0]).toMatchObject({ status: 201, replayed: true, body: JSON.parse(httpBody) });
    expect(sent[1]).toMatchObject({ status: 201, replayed: false });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await json(replay)).toEqual(sent[1]?.body);
    expect(await getAccount(account)).toMatchObject({ balance: 70, entry_count: 3 });
  });

  it("accepts the key in its RFC 9651 string form as the same key, and the result names the key as sent", async () => {
    const account = await fundedAccount(100);
    const { results, bindings } = recordingQueues();
    const key = uniqueKey();
    await post(account, "charges", usd(5), key);
    await deliver(
      [{ id: messageId(), body: command({ account, operation: "charge", key: `"${key}"`, request: usd(5) }) }],
      bindings,
    );
    expect(results.sent).toEqual([expect.objectContaining({ idempotency_key: `"${key}"`, replayed: true })]);
    expect(await getAccount(account)).toMatchObject({ balance: 95 });
  });

  it("reusing a key for a different request gets the HTTP route's 422 decision, acknowledged", async () => {
    const account = await fundedAccount(100);
    const { results, bindings } = recordingQueues();
    const key = uniqueKey();
    await post(account, "charges", usd(10), key);
    const id = messageId();
    const outcome = await deliver(
      [{ id, body: command({ account, operation: "charge", key, request: usd(11) }) }],
      bindings,
    );
    expect(outcome.explicitAcks).toEqual([id]);
    const [result] = results.sent as CommandResult[];
    expect(result).toMatchObject({ status: 422, replayed: false, body: { code: "idempotency_key_reused" } });
    const http = await post(account, "charges", usd(11), key);
    expect(await json(http)).toEqual(result?.body);
    expect(await getAccount(account)).toMatchObject({ balance: 90 });
  });
});

describe("order", () => {
  it("is kept within one account in a batch: a credit then the charge it funds both apply", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const { results, bindings } = recordingQueues();
    const messages = [
      { id: messageId(), body: command({ account, operation: "credit", key: uniqueKey(), request: usd(50) }) },
      { id: messageId(), body: command({ account, operation: "charge", key: uniqueKey(), request: usd(50) }) },
      { id: messageId(), body: command({ account, operation: "credit", key: uniqueKey(), request: usd(7) }) },
      { id: messageId(), body: command({ account, operation: "charge", key: uniqueKey(), request: usd(7) }) },
    ];
    await deliver(messages, bindings);
    expect((results.sent as CommandResult[]).map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(await getAccount(account)).toMatchObject({ balance: 0, entry_count: 4 });
  });

  it("is not kept across batches: a charge that arrives before its funding credit is declined for good", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const { results, bindings } = recordingQueues();
    const chargeBody = command({ account, operation: "charge", key: uniqueKey(), request: usd(50) });
    const chargeId = messageId();
    await deliver([{ id: chargeId, body: chargeBody }], bindings);
    await deliver(
      [{ id: messageId(), body: command({ account, operation: "credit", key: uniqueKey(), request: usd(50) }) }],
      bindings,
    );
    // The charge's redelivery, now that the money is there, is still the decline: decisions are final.
    await deliver([{ id: chargeId, body: chargeBody, attempts: 2 }], bindings);
    const sent = results.sent as CommandResult[];
    expect(sent.map((r) => [r.operation, r.status, r.replayed])).toEqual([
      ["charge", 402, false],
      ["credit", 201, false],
      ["charge", 402, true],
    ]);
    expect(await getAccount(account)).toMatchObject({ balance: 50, entry_count: 1 });
  });

  it("runs accounts concurrently: a batch for many accounts is decided in full", async () => {
    const accounts = await Promise.all(Array.from({ length: 8 }, () => fundedAccount(100)));
    const { results, bindings } = recordingQueues();
    const messages = accounts.flatMap((account) =>
      [1, 2, 3].map((n) => ({
        id: messageId(),
        body: command({ account, operation: "charge", key: uniqueKey(), request: usd(n) }),
      })),
    );
    const outcome = await deliver(messages, bindings);
    expect(outcome.explicitAcks).toHaveLength(messages.length);
    expect(results.sent).toHaveLength(messages.length);
    for (const account of accounts) expect(await getAccount(account)).toMatchObject({ balance: 94, entry_count: 4 });
  });
});

describe("a message the ledger could not decide", () => {
  it.each(["before", "after"] as const)(
    "is retried with backoff when the object call fails %s reaching it, and its redelivery applies it once",
    async (when) => {
      const account = await fundedAccount(100);
      const { results, bindings } = recordingQueues();
      const id = messageId();
      const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(30) });
      const failed = await deliver([{ id, body, attempts: 3 }], { ...bindings, ACCOUNTS: faultyAccounts(() => when) });
      expect(failed.explicitAcks).toEqual([]);
      expect(failed.retryMessages.map((m) => m.msgId)).toEqual([id]);
      expect(failed.retryDelays.get(id)).toBe(retryDelaySeconds(3));
      expect(results.sent).toEqual([]);
      expect(await getAccount(account)).toMatchObject({ balance: when === "after" ? 70 : 100 });

      const redelivered = await deliver([{ id, body, attempts: 4 }], bindings);
      expect(redelivered.explicitAcks).toEqual([id]);
      expect(results.sent).toEqual([expect.objectContaining({ status: 201, replayed: when === "after" })]);
      expect(await getAccount(account)).toMatchObject({ balance: 70, entry_count: 2 });
      await expectLedgerConsistent(account);
    },
  );

  it("is retried, not acknowledged, when its result cannot be sent, and the next delivery sends it", async () => {
    const account = await fundedAccount(100);
    const { results, bindings } = recordingQueues();
    const id = messageId();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(30) });
    results.failures = 1;
    const failed = await deliver([{ id, body }], bindings);
    expect(failed.explicitAcks).toEqual([]);
    expect(failed.retryMessages.map((m) => m.msgId)).toEqual([id]);
    const redelivered = await deliver([{ id, body, attempts: 2 }], bindings);
    expect(redelivered.explicitAcks).toEqual([id]);
    expect(results.sent).toEqual([expect.objectContaining({ status: 201, replayed: true })]);
    expect(await getAccount(account)).toMatchObject({ balance: 70 });
  });

  it("waits longer with each attempt, up to a cap", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 50].map(retryDelaySeconds);
    expect(delays.slice(0, 4)).toEqual([2, 4, 8, 16]);
    for (let i = 1; i < delays.length; i += 1) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1] ?? 0);
    expect(delays.at(-1)).toBe(300);
  });

  it("all wait, undecided, while API_KEYS is unusable", async () => {
    const account = await fundedAccount(100);
    const id = messageId();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(30) });
    const outcome = await deliver([{ id, body }], { API_KEYS: "not json" });
    expect(outcome.retryMessages.map((m) => m.msgId)).toEqual([id]);
    expect(outcome.retryDelays.get(id)).toBe(COMMAND_RETRY_MAX_DELAY_SECONDS);
    expect(outcome.explicitAcks).toEqual([]);
    expect(await getAccount(account)).toMatchObject({ balance: 100 });
  });
});

describe("a malformed message", () => {
  const account = "acct_malformed";
  const valid = { tenant: "acme", account, operation: "charge", idempotency_key: "k-1", request: usd(1) };
  const cases: [string, unknown, DeadLetter["reason"], string][] = [
    ["an object, not JSON text", valid, "not_text", "body"],
    ["bytes", new TextEncoder().encode(JSON.stringify(valid)).buffer, "not_text", "body"],
    ["text that is not JSON", "{not json", "invalid_json", "body"],
    ["JSON with a key twice", `{"tenant":"acme","tenant":"globex"}`, "invalid_json", "body"],
    [
      "text over the size limit",
      JSON.stringify({ ...valid, pad: "x".repeat(MAX_COMMAND_MESSAGE_BYTES) }),
      "too_large",
      "body",
    ],
    [
      "text over the size limit in characters of 3 and 4 bytes",
      JSON.stringify({ ...valid, pad: "界😀".repeat(MAX_COMMAND_MESSAGE_BYTES / 4) }),
      "too_large",
      "body",
    ],
    [
      "an amount written as a float",
      JSON.stringify({ ...valid, request: { amount: 10.5, currency: "USD" } }),
      "invalid_command",
      "request.amount",
    ],
    ["an unknown operation", JSON.stringify({ ...valid, operation: "payout" }), "invalid_command", "operation"],
    ["an unknown field", JSON.stringify({ ...valid, priority: 1 }), "invalid_command", "priority"],
    ["no key", JSON.stringify({ ...valid, idempotency_key: undefined }), "invalid_command", "idempotency_key"],
    [
      "an invalid key",
      JSON.stringify({ ...valid, idempotency_key: "with space" }),
      "invalid_command",
      "idempotency_key",
    ],
    [
      "a bad body field",
      JSON.stringify({ ...valid, request: { amount: 1, currency: "usd" } }),
      "invalid_command",
      "request.currency",
    ],
    ["a tenant not in API_KEYS", JSON.stringify({ ...valid, tenant: "initech" }), "unknown_tenant", "tenant"],
  ];

  it.each(cases)(
    "(%s) goes to the dead-letter queue at once with its reason, acknowledged, never retried",
    async (_, body, reason, field) => {
      const { results, deadLetters, bindings } = recordingQueues();
      const id = messageId();
      const outcome = await deliver([{ id, body }], bindings);
      expect(outcome.explicitAcks).toEqual([id]);
      expect(outcome.retryMessages).toEqual([]);
      expect(results.sent).toEqual([]);
      const [letter] = deadLetters.sent as DeadLetter[];
      expect(deadLetters.sent).toHaveLength(1);
      expect(letter?.reason).toBe(reason);
      expect(letter?.errors.map((e) => e.field)).toContain(field);
      if (typeof body === "string") {
        // The message as it came, cut to a command's size in UTF-8 bytes, never inside a character.
        const original = letter?.original as string;
        expect(body.startsWith(original)).toBe(true);
        expect(utf8Length(original)).toBeLessThanOrEqual(MAX_COMMAND_MESSAGE_BYTES);
        expect(utf8Length(original)).toBeGreaterThan(Math.min(utf8Length(body), MAX_COMMAND_MESSAGE_BYTES) - 4);
        expect(original).not.toMatch(/[\uD800-\uDBFF]$/);
      }
      await expect(call(`/v1/accounts/${account}`)).resolves.toHaveProperty("status", 404);
    },
  );

  it("is retried when the dead-letter send fails, so it is never dropped", async () => {
    const { deadLetters, bindings } = recordingQueues();
    deadLetters.failures = 1;
    const id = messageId();
    const outcome = await deliver([{ id, body: "{" }], bindings);
    expect(outcome.explicitAcks).toEqual([]);
    expect(outcome.retryMessages.map((m) => m.msgId)).toEqual([id]);
  });

  it("does not hold up the valid messages beside it", async () => {
    const account = await fundedAccount(100);
    const { results, deadLetters, bindings } = recordingQueues();
    const good = messageId();
    const bad = messageId();
    const outcome = await deliver(
      [
        { id: bad, body: "{" },
        { id: good, body: command({ account, operation: "charge", key: uniqueKey(), request: usd(1) }) },
      ],
      bindings,
    );
    expect(outcome.explicitAcks.sort()).toEqual([bad, good].sort());
    expect(results.sent).toHaveLength(1);
    expect(deadLetters.sent).toHaveLength(1);
  });
});

describe("POST /v1/dev/commands (local development)", () => {
  it("puts a command on the real local queue, whose consumer applies it", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    const response = await call("/v1/dev/commands", {
      method: "POST",
      body: command({ account, operation: "charge", key, request: usd(12) }),
    });
    expect(response.status).toBe(202);
    // The platform's own queue delivers it to the consumer within its batch timeout.
    const deadline = Date.now() + 15_000;
    while ((await getAccount(account)).balance !== 88) {
      if (Date.now() > deadline) throw new Error("the command was not consumed in time");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const entries = await allEntries(account);
    expect(entries.filter((e) => e.type === "charge")).toHaveLength(1);
    const lookup = await call(`/v1/accounts/${account}/idempotency-keys/${encodeURIComponent(key)}`);
    expect(await json(lookup)).toMatchObject({ state: "recorded" });
  });
});
