import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, fundedAccount, json, ledgerStub } from "../support/api.ts";
import { inLedger } from "../support/storage.ts";

/** Every account reports the bytes its object stores: in GET /v1/accounts/{account} and on each alarm run's metric point. */

describe("an account's storage bytes", () => {
  it("are shown by GET and grow with what it stores", async () => {
    const account = await fundedAccount(1_000_000);
    const before = (await json(await call(`/v1/accounts/${account}`))).storage_bytes as number;
    const operations = Array.from({ length: 1_000 }, (_, i) => ({
      type: "charge",
      idempotency_key: `grow-${i}-${crypto.randomUUID()}`,
      amount: 1,
      currency: "USD",
    }));
    expect((await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } })).status).toBe(200);
    const after = (await json(await call(`/v1/accounts/${account}`))).storage_bytes as number;
    expect(before).toBeGreaterThan(0);
    // About 260 bytes a charge (object-storage-cost.test.ts holds the budget); SQLite grows in whole pages.
    expect(after - before).toBeGreaterThan(1_000 * 100);
    expect(after).toBe(await inLedger(account, (storage) => storage.sql.databaseSize));
  });

  it("are on each alarm run's sweep point, with the account's name", async () => {
    const account = await fundedAccount(100);
    await runDurableObjectAlarm(ledgerStub(account));
    const points: AnalyticsEngineDataPoint[] = [];
    const size = await inLedger(account, async (storage, instance) => {
      const object = instance as unknown as { env: Env };
      object.env = { ...object.env, METRICS: { writeDataPoint: (point) => void points.push(point ?? {}) } };
      await storage.setAlarm(Date.now());
      return storage.sql.databaseSize;
    });
    await runDurableObjectAlarm(ledgerStub(account));
    const sweep = points.find((point) => point.blobs?.[0] === "sweep");
    expect(sweep?.blobs?.[8]).toBe(account);
    expect(sweep?.doubles?.[4]).toBe(size);
  });
});
