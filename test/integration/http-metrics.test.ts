import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { ACME_KEY, ACME_KEY_ID, BASE_URL, fundedAccount, ledgerStub, uniqueKey } from "../support/api.ts";
import { command, deliver, messageId } from "../support/queues.ts";
import { countRows, expireRecord, inLedger, seedLegacyDeclines } from "../support/storage.ts";

/** Metrics: every request, command and sweep as Analytics Engine data points, written to a dataset that records them. */

class RecordingDataset {
  readonly points: AnalyticsEngineDataPoint[] = [];
  readonly binding = { writeDataPoint: (point?: AnalyticsEngineDataPoint) => point && this.points.push(point) };

  /** The points of one kind, as named columns. */
  requests() {
    return this.points
      .filter((p) => p.blobs?.[0] === "request")
      .map((p) => ({
        route: p.blobs?.[1],
        code: p.blobs?.[2],
        operation: p.blobs?.[3],
        currency: p.blobs?.[4],
        replayed: p.blobs?.[5],
        keyId: p.blobs?.[6],
        tenant: p.blobs?.[7],
        status: p.doubles?.[0],
        amount: p.doubles?.[2],
        retries: p.doubles?.[3],
        count: p.doubles?.[4],
      }));
  }
}

async function send(dataset: RecordingDataset, path: string, init: RequestInit & { key?: string }, bindings = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${init.key ?? ACME_KEY}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`${BASE_URL}${path}`, { ...init, headers }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, METRICS: dataset.binding, ...bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const charge = (dataset: RecordingDataset, account: string, amount: number, key = uniqueKey(), bindings = {}) =>
  send(
    dataset,
    `/v1/accounts/${account}/charges`,
    { method: "POST", headers: { "idempotency-key": key }, body: JSON.stringify({ amount, currency: "USD" }) },
    bindings,
  );

describe("request metrics", () => {
  it("count money moved by operation and currency, declines by code, replays, reused and expired keys", async () => {
    const account = await fundedAccount(100);
    const dataset = new RecordingDataset();
    const key = uniqueKey();
    await charge(dataset, account, 30, key);
    await charge(dataset, account, 30, key);
    await charge(dataset, account, 31, key);
    await charge(dataset, account, 500);
    await expireRecord(account, key);
    await charge(dataset, account, 30, key);

    const route = "POST /v1/accounts/{account}/charges";
    const common = { route, operation: "charge", keyId: ACME_KEY_ID, tenant: "acme", retries: 0, count: 1 };
    expect(dataset.requests()).toEqual([
      { ...common, code: "ok", currency: "USD", replayed: "false", status: 201, amount: 30 },
      { ...common, code: "ok", currency: "", replayed: "true", status: 201, amount: 0 },
      { ...common, code: "idempotency_key_reused", currency: "", replayed: "false", status: 422, amount: 0 },
      { ...common, code: "insufficient_funds", currency: "", replayed: "false", status: 402, amount: 0 },
      { ...common, code: "idempotency_key_expired", currency: "", replayed: "false", status: 409, amount: 0 },
    ]);
  });

  it("count a batch once, and its operations by type and outcome, with the money each group moved", async () => {
    const account = await fundedAccount(100);
    const dataset = new RecordingDataset();
    const operations = [
      { type: "charge", idempotency_key: uniqueKey(), amount: 10, currency: "USD" },
      { type: "charge", idempotency_key: uniqueKey(), amount: 15, currency: "USD" },
      { type: "credit", idempotency_key: uniqueKey(), amount: 7, currency: "USD" },
      { type: "charge", idempotency_key: uniqueKey(), amount: 1000, currency: "USD" },
      { type: "charge", idempotency_key: uniqueKey(), amount: -1, currency: "USD" },
    ];
    await send(dataset, `/v1/accounts/${account}/batches`, { method: "POST", body: JSON.stringify({ operations }) });
    const [batch, ...groups] = dataset.requests();
    expect(batch).toMatchObject({ route: "POST /v1/accounts/{account}/batches", status: 200, count: 5 });
    expect(groups).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ route: "batch op", operation: "charge", code: "ok", count: 2, amount: 25 }),
        expect.objectContaining({ route: "batch op", operation: "credit", code: "ok", count: 1, amount: 7 }),
        expect.objectContaining({ operation: "charge", code: "insufficient_funds", count: 1, amount: 0 }),
        expect.objectContaining({ operation: "charge", code: "invalid_request", count: 1, amount: 0 }),
      ]),
    );
    expect(groups).toHaveLength(4);
  });

  it("count object retries and overloads", async () => {
    const account = await fundedAccount(100);
    const dataset = new RecordingDataset();
    let failures = 1;
    const flaky = {
      getByName(name: string) {
        const real = env.ACCOUNTS.getByName(name);
        return {
          moveMoney(request: Parameters<AccountLedger["moveMoney"]>[0]) {
            if (failures-- > 0) throw Object.assign(new Error("injected: object reset"), { retryable: true });
            return real.moveMoney(request);
          },
        };
      },
    };
    await charge(dataset, account, 5);
    await charge(dataset, account, 5, uniqueKey(), { ACCOUNTS: flaky });
    const overloaded = {
      getByName: () => ({
        moveMoney: () => Promise.reject(Object.assign(new Error("injected: overloaded"), { overloaded: true })),
      }),
    };
    await charge(dataset, account, 5, uniqueKey(), { ACCOUNTS: overloaded });
    expect(dataset.requests().map((r) => [r.status, r.code, r.retries])).toEqual([
      [201, "ok", 0],
      [201, "ok", 1],
      [503, "overloaded", 0],
    ]);
  });

  it("count each queue command, under the queue's route and key id", async () => {
    const account = await fundedAccount(100);
    const dataset = new RecordingDataset();
    await deliver(
      [
        {
          id: messageId(),
          body: command({ account, operation: "charge", key: uniqueKey(), request: { amount: 3, currency: "USD" } }),
        },
      ],
      {
        METRICS: dataset.binding,
      },
    );
    expect(dataset.requests()).toEqual([
      expect.objectContaining({
        route: "queue",
        operation: "charge",
        code: "ok",
        keyId: "queue",
        amount: 3,
        status: 201,
      }),
    ]);
  });
});

describe("refusal metrics, one door for every way in", () => {
  const refusing: RateLimit = { limit: () => Promise.resolve({ success: false }) };
  // Unparsable, so the tenant cannot be placed: a logged 500 that never reaches an object.
  const unplaceable = { TENANT_JURISDICTIONS: "not json" };

  it("count an HTTP request refused by quota or placement, under its route", async () => {
    const account = await fundedAccount(100);
    const dataset = new RecordingDataset();
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      expect((await charge(dataset, account, 5, uniqueKey(), { RATE_LIMITER: refusing })).status).toBe(429);
      expect((await charge(dataset, account, 5, uniqueKey(), unplaceable)).status).toBe(500);
    } finally {
      errors.mockRestore();
    }
    const common = { route: "POST /v1/accounts/{account}/charges", operation: "charge", retries: 0, count: 1 };
    expect(dataset.requests()).toEqual([
      expect.objectContaining({ ...common, status: 429, code: "rate_limited" }),
      expect.objectContaining({ ...common, status: 500, code: "internal_error" }),
    ]);
  });

  it("count a queue command refused by quota or placement, under the queue's route", async () => {
    const account = await fundedAccount(100);
    const dataset = new RecordingDataset();
    const message = () => ({
      id: messageId(),
      body: command({ account, operation: "charge", key: uniqueKey(), request: { amount: 3, currency: "USD" } }),
    });
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      await deliver([message()], { METRICS: dataset.binding, RATE_LIMITER: refusing, COMMANDS: env.COMMANDS });
      await deliver([message()], { METRICS: dataset.binding, ...unplaceable });
    } finally {
      errors.mockRestore();
    }
    const common = { route: "queue", operation: "charge", keyId: "queue", retries: 0, count: 1 };
    expect(dataset.requests()).toEqual([
      expect.objectContaining({ ...common, status: 429, code: "rate_limited" }),
      expect.objectContaining({ ...common, status: 500, code: "internal_error" }),
    ]);
  });
});

describe("sweep metrics", () => {
  it("count records deleted, one batch per run, and the lag behind the oldest expiry", async () => {
    const account = await fundedAccount(100);
    const dataset = new RecordingDataset();
    // Any alarm run the writes started (events, the directory) finishes here, before the metrics are bound.
    await runDurableObjectAlarm(ledgerStub(account));
    // The sweep deletes records stored before schema 7: two of them, expired an hour and a second ago.
    // The lag is how long the sweep let the older one outlive its expiry.
    const [older, newer] = [uniqueKey(), uniqueKey()];
    const expiredMs = Date.now();
    await inLedger(account, async (storage, instance) => {
      seedLegacyDeclines(storage, [
        { key: older, createdMs: expiredMs - 90_000_000, expiresMs: expiredMs - 3_600_000 },
        { key: newer, createdMs: expiredMs - 87_000_000, expiresMs: expiredMs - 1_000 },
      ]);
      // A key row past its expiry is no record to sweep: it is neither deleted nor counted.
      storage.sql.exec("UPDATE keys SET decided_ms = ?, expires_ms = ?", expiredMs - 90_000_000, expiredMs - 7_200_000);
      // The alarm as the write of the older record left it.
      await storage.setAlarm(expiredMs - 3_600_000);
      const object = instance as unknown as { env: Env };
      object.env = { ...object.env, METRICS: dataset.binding };
    });
    const before = Date.now();
    await runDurableObjectAlarm(ledgerStub(account));
    const after = Date.now();
    const sweep = dataset.points.find((p) => p.blobs?.[0] === "sweep");
    expect(sweep?.blobs?.[7]).toBe("acme");
    expect(sweep?.doubles?.slice(0, 2)).toEqual([2, 1]);
    // The alarm read the clock between `before` and `after`, so its lag behind the older expiry lies between these.
    const lag = sweep?.doubles?.[2];
    expect(lag).toBeGreaterThanOrEqual(before - (expiredMs - 3_600_000));
    expect(lag).toBeLessThanOrEqual(after - (expiredMs - 3_600_000));
    expect(await inLedger(account, (storage) => countRows(storage, "keys"))).toBe(1);
  });
});
