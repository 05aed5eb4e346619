import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { buildApp, withLastResort } from "../../src/http/app.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import {
  ACME_KEY,
  call,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { expireRecord } from "../support/storage.ts";

/** The review's hardening list: each test here failed on the code before its fix. */

/** The real Worker, with some of its configuration replaced. */
async function fetchWith(overrides: Partial<Env>, path: string, init: RequestInit = {}): Promise<Response> {
  const worker = withLastResort(buildApp());
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", `Bearer ${ACME_KEY}`);
  const response = await worker.fetch(
    new Request(`https://ledger.test${path}`, { ...init, headers }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const AMOUNT_MESSAGE = "must be an integer amount in minor units, e.g. 1050 for 10.50";

describe("integer fields take integer JSON text only", () => {
  it.each(["100.0", "1e2", "-0", "100.000000000000001", "1E2", "0.0"])(
    "refuses %s as an amount or an overdraft limit, naming the field, and changes nothing",
    async (number) => {
      const account = await fundedAccount(1000);
      const charge = await post(account, "charges", `{"amount":${number},"currency":"USD"}`);
      const problem = await expectProblem(charge, 400, "invalid_request");
      expect(problem.errors).toEqual([{ field: "amount", message: AMOUNT_MESSAGE }]);
      const put = await call(`/v1/accounts/${account}`, {
        method: "PUT",
        body: `{"currency":"USD","overdraft_limit":${number}}`,
      });
      expect((await expectProblem(put, 400, "invalid_request")).errors).toEqual([
        { field: "overdraft_limit", message: AMOUNT_MESSAGE },
      ]);
      expect(await getAccount(account)).toMatchObject({ balance: 1000, overdraft_limit: 0, entry_count: 1 });
    },
  );
});

describe("error messages a newcomer can act on", () => {
  it("says what an amount is, that a field is required, how to recover a reused key, and where routes are", async () => {
    const account = await fundedAccount(1000);
    for (const amount of [10.5, "1050"]) {
      const problem = await expectProblem(
        await post(account, "charges", { amount, currency: "USD" }),
        400,
        "invalid_request",
      );
      expect(problem.errors).toEqual([{ field: "amount", message: AMOUNT_MESSAGE }]);
    }
    const missing = await expectProblem(await post(account, "charges", { amount: 5 }), 400, "invalid_request");
    expect(missing.errors).toEqual([{ field: "currency", message: "is required" }]);

    const key = uniqueKey();
    await post(account, "charges", { amount: 5, currency: "USD" }, key);
    const reused = await expectProblem(
      await post(account, "charges", { amount: 6, currency: "USD" }, key),
      422,
      "idempotency_key_reused",
    );
    expect(reused.detail).toMatch(/new key/);
    expect(reused.detail).toMatch(/idempotency-keys/);

    const unknown = await expectProblem(await call("/nowhere"), 404, "not_found");
    expect(unknown.detail).toContain("/openapi.json");
  });

  it("keeps the validation library's wording out of every message", async () => {
    const account = await fundedAccount(1000);
    const problem = await expectProblem(
      await post(account, "charges", { amount: true, currency: 7, description: 3, metadata: [] }),
      400,
      "invalid_request",
    );
    for (const error of problem.errors as { message: string }[]) {
      expect(error.message).not.toMatch(/Invalid input|expected|received/i);
    }
  });
});

describe("a reused key names what differs", () => {
  it("lists the differing top-level fields, sorted, a field on one side only included, values never", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await post(account, "charges", { amount: 5, currency: "USD", description: "secret note" }, key);
    const reused = await post(account, "charges", { amount: 6, currency: "USD", metadata: { a: "b" } }, key);
    const problem = await expectProblem(reused, 422, "idempotency_key_reused");
    expect(problem.fields).toEqual(["amount", "description", "metadata"]);
    expect(JSON.stringify(problem)).not.toContain("secret note");
  });

  it("says [] when only the route differs", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await post(account, "charges", { amount: 5, currency: "USD" }, key);
    const problem = await expectProblem(
      await post(account, "credits", { amount: 5, currency: "USD" }, key),
      422,
      "idempotency_key_reused",
    );
    expect(problem.fields).toEqual([]);
  });
});

describe("Idempotent-Replayed only on answers recorded for the key", () => {
  it("is on the original and its replay, a recorded decline included, and on nothing else", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    const original = await post(account, "charges", { amount: 10, currency: "USD" }, key);
    expect(original.headers.get("idempotent-replayed")).toBe("false");
    expect(
      (await post(account, "charges", { amount: 10, currency: "USD" }, key)).headers.get("idempotent-replayed"),
    ).toBe("true");
    const declined = await post(account, "charges", { amount: 5000, currency: "USD" });
    expect(declined.headers.get("idempotent-replayed")).toBe("false");

    const unrecorded = [
      await post(account, "charges", { amount: 11, currency: "USD" }, key), // 422
      await post(account, "charges", { amount: "x", currency: "USD" }), // 400
      await post(account, "charges", { amount: 1, currency: "USD" }, uniqueKey(), { key: "olk_nobody" }), // 401
      await post(account, "charges", "x".repeat(20_000)), // 413
      await post(account, "charges", { amount: 1, currency: "USD" }, uniqueKey(), { contentType: "text/plain" }), // 415
      await post(uniqueAccount(), "charges", { amount: 1, currency: "USD" }), // 404 account_not_found
    ];
    expect(unrecorded.map((response) => response.status)).toEqual([422, 400, 401, 413, 415, 404]);
    for (const response of unrecorded) expect(response.headers.get("idempotent-replayed")).toBeNull();

    await expireRecord(account, key);
    const expired = await post(account, "charges", { amount: 10, currency: "USD" }, key);
    expect(expired.status).toBe(409);
    expect(expired.headers.get("idempotent-replayed")).toBeNull();
  });
});

describe("responses", () => {
  it("carry Cache-Control: no-store on /v1, whatever their status", async () => {
    const account = await fundedAccount(10);
    const responses = [
      await call(`/v1/accounts/${account}`),
      await call(`/v1/accounts/${account}`, { key: null }),
      await call(`/v1/accounts/${uniqueAccount()}`),
      await post(account, "charges", { amount: 1, currency: "USD" }),
      await post(account, "charges", { amount: 0, currency: "USD" }),
    ];
    for (const response of responses) expect(response.headers.get("cache-control")).toBe("no-store");
  });

  it("give a created charge and a created account a Location, on the replay too", async () => {
    const account = uniqueAccount();
    const opened = await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } });
    expect(opened.headers.get("location")).toBe(`/v1/accounts/${account}`);
    await post(account, "credits", { amount: 100, currency: "USD" });
    const key = uniqueKey();
    const charge = await post(account, "charges", { amount: 10, currency: "USD" }, key);
    const { id } = await json<{ id: string }>(charge);
    expect(charge.headers.get("location")).toBe(`/v1/accounts/${account}/charges/${id}`);
    const replay = await post(account, "charges", { amount: 10, currency: "USD" }, key);
    expect(replay.headers.get("location")).toBe(`/v1/accounts/${account}/charges/${id}`);
    expect((await call(replay.headers.get("location") ?? "")).status).toBe(200);
  });

  it("list at most 50 field errors, found fast, for a body of thousands of bad fields", async () => {
    const account = await fundedAccount(10);
    const fields = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`f${i}`, 1]));
    const response = await call(`/v1/accounts/${account}/batches`, {
      method: "POST",
      body: { operations: [{}], ...fields },
    });
    const problem = await expectProblem(response, 400, "invalid_request");
    expect((problem.errors as unknown[]).length).toBe(50);
    expect(problem.detail).not.toContain("f1,");
    expect((problem.detail as string).length).toBeLessThan(200);
  });
});

describe("configuration", () => {
  it.each([
    ["missing", undefined],
    ["not JSON", "{"],
    ["listing a tenant twice", `{"acme":["${"a".repeat(64)}"],"acme":["${"b".repeat(64)}"]}`],
  ])("answers every /v1 request 500 when API_KEYS is %s, naming no secret", async (_, apiKeys) => {
    const response = await fetchWith({ API_KEYS: apiKeys }, `/v1/accounts/${uniqueAccount()}`);
    const problem = await expectProblem(response, 500, "internal_error");
    expect(JSON.stringify(problem)).not.toContain("acme");
  });

  it("logs a malformed CORS_ALLOWED_ORIGINS once, not on every request", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const worker = withLastResort(buildApp());
      for (let i = 0; i < 3; i += 1) {
        const ctx = createExecutionContext();
        await worker.fetch(
          new Request("https://ledger.test/openapi.json", { headers: { origin: "https://x.example" } }),
          { ...env, CORS_ALLOWED_ORIGINS: "not an origin" },
          ctx,
        );
        await waitOnExecutionContext(ctx);
      }
      expect(errors.mock.calls.filter((args) => String(args[0]).includes("CORS"))).toHaveLength(1);
    } finally {
      errors.mockRestore();
    }
  });
});

describe("the account object", () => {
  it("stores nothing for a name that was never opened, whatever is asked of it", async () => {
    const account = uniqueAccount();
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    await expectProblem(await post(account, "charges", { amount: 1, currency: "USD" }), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/entries`), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/idempotency-keys/k`), 404, "account_not_found");
    const tables = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%'").toArray(),
    );
    expect(tables).toEqual([]);
    expect(await runInDurableObject(ledgerStub(account), (_, state) => state.storage.getAlarm())).toBeNull();
  });

  it("writes the alarm only when the earliest expiry changes", async () => {
    const account = await fundedAccount(1000);
    const writes = await runInDurableObject(ledgerStub(account), async (instance: AccountLedger, state) => {
      const setAlarm = vi.spyOn(state.storage, "setAlarm");
      const request = (key: string) => ({
        requestId: key,
        idempotencyKey: key,
        fingerprint: key,
        command: { type: "charge" as const, input: { amount: 1, currency: "USD" } },
        origin: { requestId: key, keyId: null },
        interfaceVersion: OBJECT_INTERFACE_VERSION,
      });
      await instance.moveMoney(request(uniqueKey()));
      await instance.moveMoney(request(uniqueKey()));
      await instance.moveMoney(request(uniqueKey()));
      const calls = setAlarm.mock.calls.length;
      setAlarm.mockRestore();
      return calls;
    });
    expect(writes).toBe(0);
  });
});

describe("the Worker's own retry of a call whose answer was lost", () => {
  it("gets the committed outcome, labelled as no replay, and applies it once", async () => {
    const account = await fundedAccount(1000);
    let lost = 0;
    const ACCOUNTS = new Proxy(env.ACCOUNTS, {
      get(target, property, receiver) {
        if (property !== "getByName") return Reflect.get(target, property, receiver) as unknown;
        return (name: string) => {
          const stub = target.getByName(name);
          return new Proxy(stub, {
            get(stubTarget, method, stubReceiver) {
              if (method !== "moveMoney") return Reflect.get(stubTarget, method, stubReceiver) as unknown;
              return async (...args: unknown[]) => {
                const outcome: unknown = await (stubTarget.moveMoney as (...a: unknown[]) => Promise<unknown>)(...args);
                if (lost > 0) return outcome;
                lost += 1;
                // The object committed; its answer is lost on the way back, as a retryable error.
                throw Object.assign(new Error("network connection lost"), { retryable: true });
              };
            },
          });
        };
      },
    });
    const response = await fetchWith({ ACCOUNTS }, `/v1/accounts/${account}/charges`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": uniqueKey() },
      body: JSON.stringify({ amount: 250, currency: "USD" }),
    });
    expect(lost).toBe(1);
    expect(response.status).toBe(201);
    expect(response.headers.get("idempotent-replayed")).toBe("false");
    expect(await getAccount(account)).toMatchObject({ balance: 750, entry_count: 2 });
  });
});
