import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  LedgerProblemError,
  OutcomeUnknownError,
  allEntries,
  createLedgerClient,
  type Fetch,
  type LedgerClientOptions,
} from "../../src/client/onceledger-client.ts";
import { ACME_KEY, BASE_URL, expectLedgerConsistent, getAccount, uniqueAccount } from "../support/api.ts";

/**
 * The client against the real Worker and real account objects, through
 * transports that lose, fail or delay what the network would.
 */

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: string | undefined;
}

/** The Worker itself as the network. */
function worker(): Fetch {
  return (url, init) => exports.default.fetch(url, init);
}

/** Records every request handed to `inner`, as the client sent it. */
function recording(log: Sent[], inner: Fetch): Fetch {
  return (url, init) => {
    log.push({
      url,
      method: init.method ?? "GET",
      headers: new Headers(init.headers),
      body: typeof init.body === "string" ? init.body : undefined,
    });
    return inner(url, init);
  };
}

/** A network that loses the first `count` answers after the server has processed the request. */
function dropsAnswers(count: number, inner: Fetch): Fetch {
  let dropped = 0;
  return async (url, init) => {
    const response = await inner(url, init);
    if (dropped >= count) return response;
    dropped += 1;
    await response.arrayBuffer();
    throw new TypeError("connection reset after the request was processed");
  };
}

/** A network that fails the first `count` attempts before they reach the server. */
function failsBeforeSending(count: number, inner: Fetch): Fetch {
  let failed = 0;
  return async (url, init) => {
    if (failed >= count) return inner(url, init);
    failed += 1;
    throw new TypeError("connection refused");
  };
}

/** A gateway answering the first `count` attempts itself with `status`, before the Worker sees them. */
function gatewayErrors(count: number, status: number, headers: Record<string, string>, inner: Fetch, body?: string) {
  let answered = 0;
  return (async (url, init) => {
    if (answered >= count) return inner(url, init);
    answered += 1;
    const problemBody =
      body ?? JSON.stringify({ type: "about:blank", title: "Busy", status, detail: "try later", code: "overloaded" });
    return new Response(problemBody, {
      status,
      headers: { "content-type": "application/problem+json", ...headers },
    });
  }) satisfies Fetch;
}

/** Sleeps recorded and skipped, on a clock that advances by them. */
function virtualTime() {
  const state = { nowMs: 1_000_000, sleeps: [] as number[] };
  return {
    state,
    now: () => state.nowMs,
    sleep: (ms: number) => {
      state.sleeps.push(ms);
      state.nowMs += ms;
      return Promise.resolve();
    },
  };
}

function client(fetch: Fetch, options: Partial<LedgerClientOptions> = {}) {
  const time = virtualTime();
  return createLedgerClient({
    baseUrl: BASE_URL,
    apiKey: ACME_KEY,
    fetch,
    now: time.now,
    sleep: time.sleep,
    ...options,
  });
}

const usd = (amount: number) => ({ amount, currency: "USD" });

async function openFunded(balance: number, overdraftLimit = 0): Promise<string> {
  const account = uniqueAccount("client");
  const c = client(worker());
  await c.openAccount(account, { currency: "USD", overdraft_limit: overdraftLimit });
  if (balance > 0) await c.credit(account, usd(balance));
  return account;
}

async function entriesWithKey(account: string, key: string | null) {
  const c = client(worker());
  const found = [];
  for await (const entry of allEntries(c, account)) if (entry.idempotency_key === key) found.push(entry);
  return found;
}

describe("typed operations against the real Worker", () => {
  it("opens, credits, charges, refunds, reads and lists, with typed values", async () => {
    const account = uniqueAccount("client");
    const c = client(worker());
    const opened = await c.openAccount(account, { currency: "EUR", overdraft_limit: 100 });
    // The client sends every PUT with a key of its own, so its retry replays rather than applies again.
    expect(opened).toMatchObject({ status: 201, replayed: false, idempotencyKey: expect.any(String), attempts: 1 });
    expect(opened.value).toMatchObject({ id: account, currency: "EUR", balance: 0, overdraft_limit: 100 });
    expect((await c.openAccount(account, { currency: "EUR" })).status).toBe(200);

    const credit = await c.credit(account, { amount: 1000, currency: "EUR", metadata: { order: "A-1" } });
    expect(credit.value).toMatchObject({ type: "credit", amount: 1000, balance_after: 1000, seq: 1 });
    const charge = await c.charge(account, { amount: 400, currency: "EUR" });
    expect(charge.value).toMatchObject({ amount: 400, amount_refunded: 0, balance_after: 600 });
    const refund = await c.refund(account, { charge: charge.value.id, amount: 150 });
    expect(refund.value).toMatchObject({ charge: charge.value.id, amount: 150, balance_after: 750 });

    expect((await c.getCharge(account, charge.value.id)).value.amount_refunded).toBe(150);
    expect((await c.getAccount(account)).value).toMatchObject({ balance: 750, entry_count: 3 });
    const page = await c.listEntries(account, { limit: 2 });
    expect(page.value.data.map((entry) => entry.seq)).toEqual([1, 2]);
    expect(page.value.has_more).toBe(true);
    const all = [];
    for await (const entry of allEntries(c, account, 1)) all.push(entry.id);
    expect(all).toEqual([credit.value.id, charge.value.id, refund.value.id]);
  });

  it("surfaces the problem code, status and detail as a typed error", async () => {
    const account = await openFunded(100);
    const c = client(worker());
    const error = await c.charge(account, usd(101)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerProblemError);
    const problem = error as LedgerProblemError;
    expect({ code: problem.code, status: problem.status, replayed: problem.replayed }).toEqual({
      code: "insufficient_funds",
      status: 402,
      replayed: false,
    });
    expect(problem.problem.detail.length).toBeGreaterThan(0);

    const missing = await c.getAccount(uniqueAccount("never")).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: "account_not_found", status: 404 });
  });
});

describe("idempotency keys", () => {
  it("generates one UUIDv7 per logical operation and sends it, with the same body, on every retry", async () => {
    const account = await openFunded(1000);
    const log: Sent[] = [];
    const c = client(recording(log, failsBeforeSending(2, worker())));
    const first = await c.charge(account, usd(10));
    const second = await c.charge(account, usd(10));
    expect(first.idempotencyKey).toMatch(UUID_V7);
    expect(second.idempotencyKey).toMatch(UUID_V7);
    expect(second.idempotencyKey).not.toBe(first.idempotencyKey);
    expect([first.attempts, second.attempts]).toEqual([3, 1]);

    const sent = log.map((request) => [request.headers.get("idempotency-key"), request.body]);
    const firstSend = [`"${first.idempotencyKey ?? ""}"`, JSON.stringify(usd(10))];
    expect(sent).toEqual([
      firstSend,
      firstSend,
      firstSend,
      [`"${second.idempotencyKey ?? ""}"`, JSON.stringify(usd(10))],
    ]);
    expect((await entriesWithKey(account, first.idempotencyKey)).length).toBe(1);
  });

  it("uses a key the caller gives, so a restarted caller can retry an operation safely", async () => {
    const account = await openFunded(1000);
    const c = client(worker());
    const key = 'order-42/attempt-"1"\\x';
    const first = await c.charge(account, usd(300), { idempotencyKey: key });
    const again = await c.charge(account, usd(300), { idempotencyKey: key });
    expect(first.idempotencyKey).toBe(key);
    expect([first.replayed, again.replayed]).toEqual([false, true]);
    expect(again.value).toEqual(first.value);
    expect((await getAccount(account)).balance).toBe(700);
    expect((await entriesWithKey(account, key)).length).toBe(1);
  });

  it("refuses a key the server would refuse, before sending anything", async () => {
    const log: Sent[] = [];
    const c = client(recording(log, worker()));
    for (const key of ["", "k".repeat(256), "caf\u00e9", "tab\there"]) {
      const error = await c.credit("anything", usd(1), { idempotencyKey: key }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "idempotency_key_invalid", status: 400, attempts: 0 });
    }
    expect(log).toEqual([]);
  });
});

describe("answers lost after the server processed the request", () => {
  it("a charge whose answers are lost twice is applied once, and the answer that arrives is the replay", async () => {
    const account = await openFunded(1000);
    const log: Sent[] = [];
    const c = client(dropsAnswers(2, recording(log, worker())));
    const result = await c.charge(account, usd(250));
    expect(result.replayed).toBe(true);
    expect(result.attempts).toBe(3);
    expect(log).toHaveLength(3);
    expect(
      new Set(log.map((request) => `${request.headers.get("idempotency-key") ?? ""} ${request.body ?? ""}`)).size,
    ).toBe(1);
    expect(result.value.balance_after).toBe(750);
    expect((await getAccount(account)).balance).toBe(750);
    const entries = await entriesWithKey(account, result.idempotencyKey);
    expect(entries.map((entry) => entry.id)).toEqual([result.value.id]);
    await expectLedgerConsistent(account);
  });

  it("a decline whose answer is lost is still one decline, replayed as the same typed error", async () => {
    const account = await openFunded(100);
    const c = client(dropsAnswers(1, worker()));
    const error = await c.charge(account, usd(500)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerProblemError);
    expect(error).toMatchObject({ code: "insufficient_funds", replayed: true, attempts: 2 });
    expect((await getAccount(account)).entry_count).toBe(1);
  });

  it("concurrent copies of one operation apply once and all see the same outcome", async () => {
    const account = await openFunded(1000);
    const c = client(worker());
    const key = `copies-${crypto.randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => c.charge(account, usd(100), { idempotencyKey: key })),
    );
    expect(new Set(results.map((r) => JSON.stringify(r.value))).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await getAccount(account)).balance).toBe(900);
  });
});

describe("retry policy", () => {
  it("never retries a 4xx answer", async () => {
    const account = await openFunded(50);
    const log: Sent[] = [];
    const c = client(recording(log, worker()));
    const key = `reused-${crypto.randomUUID()}`;
    await c.credit(account, usd(5), { idempotencyKey: key });
    log.length = 0;
    const attempts = [
      () => c.charge(account, usd(1000)),
      () => c.credit(account, usd(6), { idempotencyKey: key }),
      () => c.refund(account, { charge: "ch_missing" }),
      () => c.credit(account, { amount: 0, currency: "USD" }),
    ];
    const codes = [];
    for (const send of attempts) codes.push(((await send().catch((e: unknown) => e)) as LedgerProblemError).code);
    expect(codes).toEqual(["insufficient_funds", "idempotency_key_reused", "charge_not_found", "invalid_request"]);
    expect(log).toHaveLength(4);
  });

  it("retries a 503 after the Retry-After it names, then succeeds", async () => {
    const account = await openFunded(100);
    const time = virtualTime();
    const c = client(gatewayErrors(2, 503, { "retry-after": "3" }, worker()), { now: time.now, sleep: time.sleep });
    const result = await c.charge(account, usd(10));
    expect(result.attempts).toBe(3);
    expect(time.state.sleeps).toHaveLength(2);
    for (const ms of time.state.sleeps) expect(ms).toBeGreaterThanOrEqual(3000);
  });

  it("retries 429 and 500 with full-jitter backoff", async () => {
    const account = await openFunded(100);
    for (const status of [429, 500, 502]) {
      const time = virtualTime();
      const c = client(gatewayErrors(3, status, {}, worker()), {
        now: time.now,
        sleep: time.sleep,
        random: () => 0.5,
        retry: { baseDelayMs: 100, maxDelayMs: 10_000 },
      });
      expect((await c.charge(account, usd(1))).attempts).toBe(4);
      expect(time.state.sleeps).toEqual([50, 100, 200]);
    }
  });

  it("gives up after maxAttempts with OutcomeUnknownError, carrying the key and the last failure", async () => {
    let calls = 0;
    const c = client(
      () => {
        calls += 1;
        return Promise.reject(new TypeError("network down"));
      },
      { retry: { maxAttempts: 4 } },
    );
    const error = await c.charge("acct", usd(1), { idempotencyKey: "kept-key" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect(error).toMatchObject({ reason: "attempts_exhausted", attempts: 4, idempotencyKey: "kept-key" });
    expect((error as Error).cause).toBeInstanceOf(TypeError);
    expect(calls).toBe(4);
  });

  it("gives up when the next wait would pass maxElapsedMs, and never waits past it", async () => {
    const time = virtualTime();
    const c = client(() => Promise.reject(new TypeError("down")), {
      now: time.now,
      sleep: time.sleep,
      random: () => 0.999,
      retry: { maxAttempts: 100, maxElapsedMs: 5000, baseDelayMs: 500, maxDelayMs: 4000 },
    });
    const error = await c.getAccount("acct").catch((e: unknown) => e);
    // Attempts start at 0, 499, 1498 and 3496 ms; a fifth would start at 7492 ms, past the 5000 ms budget.
    expect(error).toMatchObject({ reason: "time_exhausted", attempts: 4 });
    expect(time.state.sleeps).toEqual([499, 999, 1998]);
  });

  it("gives up at once when Retry-After asks for longer than the time left", async () => {
    const time = virtualTime();
    const c = client(gatewayErrors(1, 503, { "retry-after": "120" }, worker()), {
      now: time.now,
      sleep: time.sleep,
      retry: { maxElapsedMs: 60_000 },
    });
    const error = await c.getAccount("acct").catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: "time_exhausted", attempts: 1 });
    expect((error as Error).cause).toMatchObject({ code: "overloaded", status: 503 });
    expect(time.state.sleeps).toEqual([]);
  });

  it("abandons an attempt that hangs past attemptTimeoutMs, even if the transport ignores the signal", async () => {
    const account = await openFunded(100);
    let calls = 0;
    const inner = worker();
    const hangsOnce: Fetch = (url, init) => {
      calls += 1;
      return calls === 1 ? new Promise<Response>(() => undefined) : inner(url, init);
    };
    const c = createLedgerClient({
      baseUrl: BASE_URL,
      apiKey: ACME_KEY,
      fetch: hangsOnce,
      retry: { attemptTimeoutMs: 50, baseDelayMs: 1 },
    });
    const result = await c.charge(account, usd(7));
    expect(result.attempts).toBe(2);
    expect((await getAccount(account)).balance).toBe(93);
  });

  it("stops retrying when the caller aborts, and says the outcome is unknown", async () => {
    const controller = new AbortController();
    let calls = 0;
    const c = createLedgerClient({
      baseUrl: BASE_URL,
      apiKey: ACME_KEY,
      fetch: () => {
        calls += 1;
        if (calls === 2) controller.abort(new Error("caller gave up"));
        return Promise.reject(new TypeError("down"));
      },
      retry: { baseDelayMs: 1 },
    });
    const error = await c.credit("acct", usd(1), { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: "aborted", attempts: 2 });
    expect(calls).toBe(2);
  });

  it("reports a gateway's non-problem 5xx page as unexpected_response once retries run out", async () => {
    const c = client(gatewayErrors(10, 502, { "content-type": "text/html" }, worker(), "<html>Bad gateway</html>"), {
      retry: { maxAttempts: 2 },
    });
    const error = await c.getAccount("acct").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect((error as Error).cause).toMatchObject({ code: "unexpected_response", status: 502 });
  });

  it("does not follow redirects: a redirected POST is an unexpected answer, not a success elsewhere", async () => {
    const seen: RequestInit[] = [];
    const c = client((_url, init) => {
      seen.push(init);
      return Promise.resolve(new Response(null, { status: 302, headers: { location: "https://elsewhere.test/" } }));
    });
    const error = await c.charge("acct", usd(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerProblemError);
    expect(error).toMatchObject({ code: "unexpected_response", status: 302, attempts: 1 });
    expect(seen.map((init) => init.redirect)).toEqual(["manual"]);
  });

  it("refuses a 2xx that is not JSON (a wrong baseUrl), and retries a JSON 2xx cut short", async () => {
    const html = client(() =>
      Promise.resolve(new Response("<html>ok</html>", { headers: { "content-type": "text/html" } })),
    );
    const error = await html.getAccount("acct").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "unexpected_response", status: 200, attempts: 1 });

    const account = await openFunded(100);
    let calls = 0;
    const inner = worker();
    const truncatedOnce: Fetch = async (url, init) => {
      calls += 1;
      const response = await inner(url, init);
      if (calls > 1) return response;
      const text = await response.text();
      return new Response(text.slice(0, 10), { status: response.status, headers: response.headers });
    };
    const result = await client(truncatedOnce).charge(account, usd(40));
    expect(result).toMatchObject({ attempts: 2, replayed: true });
    expect((await getAccount(account)).balance).toBe(60);
  });

  it("retries when the body fails mid-stream", async () => {
    const account = await openFunded(100);
    let calls = 0;
    const inner = worker();
    const brokenBodyOnce: Fetch = async (url, init) => {
      calls += 1;
      const response = await inner(url, init);
      if (calls > 1) return response;
      await response.arrayBuffer();
      const body = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"id":'));
          controller.error(new TypeError("connection reset mid-body"));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const result = await client(brokenBodyOnce).charge(account, usd(25));
    expect(result).toMatchObject({ attempts: 2, replayed: true });
    expect((await getAccount(account)).balance).toBe(75);
  });

  it("stops during the wait between attempts when the caller aborts", async () => {
    const controller = new AbortController();
    let calls = 0;
    const c = createLedgerClient({
      baseUrl: BASE_URL,
      apiKey: ACME_KEY,
      fetch: () => {
        calls += 1;
        return Promise.reject(new TypeError("down"));
      },
      random: () => 0.999,
      retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, maxElapsedMs: 3_600_000 },
    });
    const pending = c.credit("acct", usd(1), { signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(new Error("shutting down"));
    expect(await pending).toMatchObject({ reason: "aborted", attempts: 1 });
    expect(calls).toBe(1);
  });

  it("passes on a failure of the caller's own sleep instead of calling it an abort", async () => {
    const c = client(() => Promise.reject(new TypeError("down")), {
      sleep: () => Promise.reject(new RangeError("timer broke")),
    });
    await expect(c.getAccount("acct")).rejects.toThrow(RangeError);
  });

  it("starts no retry with less than a second of the time budget left", async () => {
    const time = virtualTime();
    let calls = 0;
    const c = client(
      () => {
        calls += 1;
        return Promise.reject(new TypeError("down"));
      },
      {
        now: time.now,
        sleep: time.sleep,
        random: () => 0.999,
        retry: { maxElapsedMs: 2_500, baseDelayMs: 1_000, maxDelayMs: 1_000, maxAttempts: 10 },
      },
    );
    const error = await c.getAccount("acct").catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: "time_exhausted" });
    // Waits of 999 ms: the second attempt starts at 999 ms, a third would start at 1998 ms with 502 ms left.
    expect(calls).toBe(2);
  });

  it("honours a Retry-After given as an HTTP-date", async () => {
    const account = await openFunded(100);
    const time = virtualTime();
    const later = new Date(Date.now() + 30_000).toUTCString();
    const c = client(gatewayErrors(1, 503, { "retry-after": later }, worker()), { now: time.now, sleep: time.sleep });
    expect((await c.charge(account, usd(1))).attempts).toBe(2);
    expect(time.state.sleeps[0]).toBeGreaterThan(25_000);
  });
});
