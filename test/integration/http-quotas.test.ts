import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RATE_LIMITED_RETRY_AFTER_SECONDS } from "../../src/domain/limits.ts";
import worker from "../../src/index.ts";
import { ACME_KEY, BASE_URL, expectProblem, fundedAccount, getAccount, uniqueKey } from "../support/api.ts";
import { TEST_QUOTA } from "../support/keys.ts";
import { command, deliver, messageId, RecordingQueue } from "../support/queues.ts";

/** Per-tenant quotas through a real rate-limiting binding (configured in vitest.config.ts). */

type Limiters = Record<"TEST_RATE_LIMITER_SINGLE" | "TEST_RATE_LIMITER_BATCH" | "TEST_RATE_LIMITER_QUEUE", RateLimit>;
const limiters = env as unknown as Limiters;

function send(limiter: RateLimit, path: string, body: unknown, key: string | null = uniqueKey()) {
  const headers: Record<string, string> = { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" };
  if (key !== null) headers["idempotency-key"] = key;
  return worker.fetch(
    new Request(`${BASE_URL}${path}`, { method: "POST", headers, body: JSON.stringify(body) }),
    { ...env, RATE_LIMITER: limiter },
    {} as ExecutionContext,
  );
}

describe("a tenant over its quota", () => {
  it("gets 429 rate_limited with Retry-After, and nothing changes", async () => {
    const account = await fundedAccount(100);
    const limiter = limiters.TEST_RATE_LIMITER_SINGLE;
    for (let i = 0; i < TEST_QUOTA; i += 1) {
      expect((await send(limiter, `/v1/accounts/${account}/charges`, { amount: 1, currency: "USD" })).status).toBe(201);
    }
    const key = uniqueKey();
    const refused = await send(limiter, `/v1/accounts/${account}/charges`, { amount: 1, currency: "USD" }, key);
    await expectProblem(refused, 429, "rate_limited");
    expect(refused.headers.get("retry-after")).toBe(String(RATE_LIMITED_RETRY_AFTER_SECONDS));
    expect(await getAccount(account)).toMatchObject({ balance: 100 - TEST_QUOTA });
    // The refused key was not used: without a quota in the way, it applies.
    const later = await send(
      { limit: () => Promise.resolve({ success: true }) },
      `/v1/accounts/${account}/charges`,
      {
        amount: 1,
        currency: "USD",
      },
      key,
    );
    expect(later.headers.get("idempotent-replayed")).toBe("false");
  });

  it("counts a batch once per operation", async () => {
    const account = await fundedAccount(100);
    const limiter = limiters.TEST_RATE_LIMITER_BATCH;
    const operations = (n: number) =>
      Array.from({ length: n }, () => ({ type: "charge", idempotency_key: uniqueKey(), amount: 1, currency: "USD" }));
    expect(
      (await send(limiter, `/v1/accounts/${account}/batches`, { operations: operations(TEST_QUOTA - 1) }, null)).status,
    ).toBe(200);
    await expectProblem(
      await send(limiter, `/v1/accounts/${account}/batches`, { operations: operations(2) }, null),
      429,
      "rate_limited",
    );
    expect(await getAccount(account)).toMatchObject({ balance: 100 - (TEST_QUOTA - 1) });
  });

  it("has its queue messages sent back to the queue for later, not dead-lettered or decided", async () => {
    const account = await fundedAccount(100);
    const limiter = limiters.TEST_RATE_LIMITER_QUEUE;
    const messages = Array.from({ length: TEST_QUOTA + 2 }, () => ({
      id: messageId(),
      body: command({ account, operation: "charge", key: uniqueKey(), request: { amount: 1, currency: "USD" } }),
    }));
    const commands = new RecordingQueue(env.COMMANDS);
    const outcome = await deliver(messages, { RATE_LIMITER: limiter, COMMANDS: commands.binding });
    // Every message is acknowledged: the two over quota went back to the queue as new messages.
    expect(outcome.explicitAcks).toHaveLength(TEST_QUOTA + 2);
    expect(outcome.retryMessages).toHaveLength(0);
    expect(commands.requests).toHaveLength(2);
    for (const request of commands.requests) {
      expect(request.delaySeconds).toBe(RATE_LIMITED_RETRY_AFTER_SECONDS);
    }
    expect(await getAccount(account)).toMatchObject({ balance: 100 - TEST_QUOTA });
  });
});
