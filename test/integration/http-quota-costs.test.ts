import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { RATE_LIMITED_RETRY_AFTER_SECONDS } from "../../src/domain/limits.ts";
import worker from "../../src/index.ts";
import {
  ACME_KEY,
  BASE_URL,
  call,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  openAccount,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { TEST_QUOTA } from "../support/keys.ts";
import { command } from "../support/queues.ts";

/**
 * What each request costs of its tenant's quota, through real rate-limiting
 * bindings (vitest.config.ts; one each, so the tests cannot use up each
 * other's quota): a refused batch, a list of accounts, a development command.
 */

type Limiters = Record<
  "TEST_RATE_LIMITER_REFUSED_BATCH" | "TEST_RATE_LIMITER_LIST" | "TEST_RATE_LIMITER_DEV_COMMANDS",
  RateLimit
>;
const limiters = env as unknown as Limiters;

/** The real limiter, counting the calls made to it and their answers. */
function counting(limiter: RateLimit) {
  const calls = { granted: 0, refused: 0 };
  const binding: RateLimit = {
    async limit(options) {
      const outcome = await limiter.limit(options);
      if (outcome.success) calls.granted += 1;
      else calls.refused += 1;
      return outcome;
    },
  };
  return { calls, binding };
}

function send(limiter: RateLimit, method: string, path: string, body?: unknown, key: string | null = null) {
  const headers: Record<string, string> = { authorization: `Bearer ${ACME_KEY}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (key !== null) headers["idempotency-key"] = key;
  return worker.fetch(
    new Request(`${BASE_URL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
    { ...env, RATE_LIMITER: limiter },
    {} as ExecutionContext,
  );
}

const charges = (n: number) =>
  Array.from({ length: n }, () => ({ type: "charge", idempotency_key: uniqueKey(), amount: 1, currency: "USD" }));

describe("a batch refused for quota", () => {
  it("stops taking units at its first refusal: it spends what remained, not one limiter call per operation", async () => {
    const account = await fundedAccount(100);
    const limiter = limiters.TEST_RATE_LIMITER_REFUSED_BATCH;
    for (let i = 0; i < 2; i += 1) {
      const single = await send(
        limiter,
        "POST",
        `/v1/accounts/${account}/charges`,
        { amount: 1, currency: "USD" },
        uniqueKey(),
      );
      expect(single.status).toBe(201);
    }
    const left = TEST_QUOTA - 2;

    // A batch of 1,000 with 3 units left: granted those 3, refused at the first call past them.
    const big = counting(limiter);
    const refused = await send(big.binding, "POST", `/v1/accounts/${account}/batches`, { operations: charges(1000) });
    await expectProblem(refused, 429, "rate_limited");
    expect(refused.headers.get("retry-after")).toBe(String(RATE_LIMITED_RETRY_AFTER_SECONDS));
    expect(big.calls.granted).toBe(left);
    expect(big.calls.refused).toBeGreaterThanOrEqual(1);
    expect(big.calls.refused).toBeLessThanOrEqual(left + 1);

    // Over its quota now, another big batch makes one call to the limiter, not 1,000.
    const again = counting(limiter);
    await expectProblem(
      await send(again.binding, "POST", `/v1/accounts/${account}/batches`, { operations: charges(1000) }),
      429,
      "rate_limited",
    );
    expect(again.calls).toEqual({ granted: 0, refused: 1 });
    expect(await getAccount(account)).toMatchObject({ balance: 98 });
  });

  it("that fits its quota takes every unit and runs", async () => {
    // The rounds (1, 1, 2, 4, ...) add up to the batch's weight exactly.
    const account = await fundedAccount(100);
    const taken = counting({ limit: () => Promise.resolve({ success: true }) });
    const answered = await send(taken.binding, "POST", `/v1/accounts/${account}/batches`, { operations: charges(37) });
    expect(answered.status).toBe(200);
    expect(taken.calls).toEqual({ granted: 37, refused: 0 });
    expect(await getAccount(account)).toMatchObject({ balance: 63 });
  });
});

describe("GET /v1/accounts", () => {
  it("counts once per account it reads, as reading each alone would", async () => {
    const prefix = uniqueAccount("list");
    const accounts = [`${prefix}_a`, `${prefix}_b`, `${prefix}_c`];
    for (const account of accounts) await openAccount(account);
    const page = `/v1/accounts?limit=3&starting_after=${prefix}`;
    // The directory learns of an account beside the request that opened it: wait until all three are listed.
    await vi.waitFor(
      async () => {
        const listed = await json<{ data: { id: string }[] }>(await call(page));
        expect(listed.data.map((a) => a.id)).toEqual(accounts);
      },
      { timeout: 10_000, interval: 50 },
    );

    const limiter = limiters.TEST_RATE_LIMITER_LIST;
    const list = await send(limiter, "GET", page);
    expect(list.status).toBe(200);
    expect((await json<{ data: unknown[] }>(list)).data).toHaveLength(3);
    // Three of the five units are spent: two single reads remain, then 429.
    for (let i = 0; i < TEST_QUOTA - 3; i += 1) {
      expect((await send(limiter, "GET", `/v1/accounts/${accounts[0]}`)).status).toBe(200);
    }
    await expectProblem(await send(limiter, "GET", `/v1/accounts/${accounts[0]}`), 429, "rate_limited");
    // And a list that would read three accounts is refused before reading them.
    await expectProblem(await send(limiter, "GET", page), 429, "rate_limited");
  });

  it("counts once for a page with no accounts", async () => {
    const taken = counting({ limit: () => Promise.resolve({ success: true }) });
    const list = await send(taken.binding, "GET", `/v1/accounts?limit=100&starting_after=${"z".repeat(64)}`);
    expect(list.status).toBe(200);
    expect(await json(list)).toEqual({ data: [], has_more: false });
    expect(taken.calls).toEqual({ granted: 1, refused: 0 });
  });
});

describe("POST /v1/dev/commands", () => {
  it("counts once against the caller's quota, and is refused with 429 once it is spent", async () => {
    const limiter = limiters.TEST_RATE_LIMITER_DEV_COMMANDS;
    // An amount of 0: the consumer dead-letters each of these, deciding nothing.
    const account = uniqueAccount();
    const message = (): unknown =>
      JSON.parse(command({ account, operation: "credit", key: uniqueKey(), request: { amount: 0, currency: "USD" } }));
    for (let i = 0; i < TEST_QUOTA; i += 1) {
      expect((await send(limiter, "POST", "/v1/dev/commands", message())).status).toBe(202);
    }
    const refused = await send(limiter, "POST", "/v1/dev/commands", message());
    await expectProblem(refused, 429, "rate_limited");
    expect(refused.headers.get("retry-after")).toBe(String(RATE_LIMITED_RETRY_AFTER_SECONDS));
  });
});
