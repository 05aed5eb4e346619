import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index.ts";
import { MAX_PAGE_SIZE } from "../../src/domain/limits.ts";
import { sha256Hex } from "../../src/lib/sha256.ts";
import {
  ACME_KEY,
  BASE_URL,
  call,
  expectProblem,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
} from "../support/api.ts";
import { TEST_API_KEYS } from "../support/keys.ts";

/** GET /v1/accounts, the per-tenant directory behind it, and tenants pinned to a jurisdiction. */

interface AccountJson {
  id: string;
  balance: number;
}

async function listAll(key: string = ACME_KEY, limit = MAX_PAGE_SIZE): Promise<AccountJson[]> {
  const all: AccountJson[] = [];
  let after: string | undefined;
  for (;;) {
    const query = `?limit=${limit}${after === undefined ? "" : `&starting_after=${after}`}`;
    const response = await call(`/v1/accounts${query}`, { key });
    expect(response.status).toBe(200);
    const page = await json<{ data: AccountJson[]; has_more: boolean }>(response);
    all.push(...page.data);
    if (!page.has_more) return all;
    after = page.data.at(-1)?.id;
  }
}

async function listed(account: string, key: string = ACME_KEY): Promise<boolean> {
  return (await listAll(key)).some((item) => item.id === account);
}

/** Polls until `account` is listed, failing after `withinMs`. */
async function expectListedWithin(account: string, withinMs: number) {
  const deadline = Date.now() + withinMs;
  while (!(await listed(account))) {
    if (Date.now() > deadline) throw new Error(`${account} was not listed within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("GET /v1/accounts", () => {
  it("lists a new account within a second, as the account itself reads", async () => {
    const account = uniqueAccount("dir");
    await openAccount(account);
    await post(account, "credits", { amount: 42, currency: "USD" });
    await expectListedWithin(account, 1000);
    const item = (await listAll()).find((a) => a.id === account);
    expect(item).toEqual(await getAccount(account));
  });

  it("pages in id order with limit and starting_after, each account once", async () => {
    const mine = Array.from({ length: 5 }, () => uniqueAccount("page"));
    for (const account of mine) await openAccount(account);
    for (const account of mine) await expectListedWithin(account, 1000);
    const ids = (await listAll(ACME_KEY, 2)).map((a) => a.id);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
    for (const account of mine) expect(ids).toContain(account);
  });

  it("shows a tenant only its own accounts", async () => {
    const account = uniqueAccount("own");
    await openAccount(account);
    await expectListedWithin(account, 1000);
    expect(await listed(account, TEST_API_KEYS.globex[0])).toBe(false);
  });

  it("refuses a bad page size or cursor", async () => {
    await expectProblem(await call(`/v1/accounts?limit=${MAX_PAGE_SIZE + 1}`), 400, "invalid_request");
    await expectProblem(await call("/v1/accounts?starting_after=a/b"), 400, "invalid_request");
    await expectProblem(await call("/v1/accounts?colour=red"), 400, "invalid_request");
  });
});

describe("listing", () => {
  /** Points an account object's DIRECTORY at `directory` (until the object is evicted). */
  function useDirectory(account: string, directory: unknown) {
    return runInDurableObject(ledgerStub(account), (instance) => {
      const object = instance as unknown as { env: Env };
      object.env = { ...object.env, DIRECTORY: directory as Env["DIRECTORY"] };
    });
  }

  it("never holds up money: an account whose directory hangs opens and moves money", async () => {
    const account = uniqueAccount("hang");
    await useDirectory(account, { getByName: () => ({ register: () => new Promise(() => undefined) }) });
    await openAccount(account);
    expect((await post(account, "credits", { amount: 10, currency: "USD" })).status).toBe(201);
    expect((await post(account, "charges", { amount: 4, currency: "USD" })).status).toBe(201);
    expect(await getAccount(account)).toMatchObject({ balance: 6 });
  });

  it("happens eventually when the first attempt fails: the alarm tries again", async () => {
    const account = uniqueAccount("retry");
    let attempts = 0;
    const failing = {
      getByName: () => ({
        register: () => {
          attempts += 1;
          return Promise.reject(new Error("injected: directory unavailable"));
        },
      }),
    };
    await useDirectory(account, failing);
    await openAccount(account);
    await vi.waitFor(() => expect(attempts).toBeGreaterThan(0));
    expect(await listed(account)).toBe(false);
    // The alarm is armed to try again shortly, not a retention away.
    const alarm = await runInDurableObject(ledgerStub(account), (_, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm).toBeLessThan(Date.now() + 60_000);
    await useDirectory(account, env.DIRECTORY);
    await runDurableObjectAlarm(ledgerStub(account));
    expect(await listed(account)).toBe(true);
  });
});

describe("a tenant pinned to a jurisdiction", () => {
  /**
   * workerd refuses `jurisdiction()` ("Jurisdiction restrictions are not
   * implemented in workerd"), so this namespace stands in for the platform's:
   * `jurisdiction(j)` is the real namespace with the object's name under
   * `j/`, a distinct real object, and records that it was asked.
   */
  function jurisdictionAware(asked: string[]): Env["ACCOUNTS"] {
    return new Proxy(env.ACCOUNTS, {
      get(target, property, receiver) {
        if (property !== "jurisdiction") return Reflect.get(target, property, receiver) as unknown;
        return (jurisdiction: string) => {
          asked.push(jurisdiction);
          return { getByName: (name: string) => target.getByName(`${jurisdiction}/${name}`) };
        };
      },
    });
  }

  async function send(path: string, init: RequestInit, settings: Partial<Env>, key: string) {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${key}`);
    headers.set("content-type", "application/json");
    const response = await worker.fetch(
      new Request(`${BASE_URL}${path}`, { ...init, headers }) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...settings },
      {} as ExecutionContext,
    );
    return response;
  }

  it("has its accounts in the jurisdiction's objects, not the global ones, and stays pinned there", async () => {
    const key = TEST_API_KEYS.globex[0];
    const asked: string[] = [];
    const pinned = { TENANT_JURISDICTIONS: '{"globex":"eu"}', ACCOUNTS: jurisdictionAware(asked) };
    const account = uniqueAccount("eu");
    const opened = await send(`/v1/accounts/${account}`, { method: "PUT", body: '{"currency":"EUR"}' }, pinned, key);
    expect(opened.status).toBe(201);
    const charged = await send(
      `/v1/accounts/${account}/credits`,
      { method: "POST", body: '{"amount":5,"currency":"EUR"}', headers: { "idempotency-key": "eu-1" } },
      pinned,
      key,
    );
    expect(charged.status).toBe(201);
    expect(new Set(asked)).toEqual(new Set(["eu"]));
    // Object identity: the account is the jurisdiction's object; the global one of that name is empty.
    expect((await env.ACCOUNTS.getByName(`eu/globex:${account}`).getAccount()).status).toBe(200);
    expect((await env.ACCOUNTS.getByName(`globex:${account}`).getAccount()).status).toBe(404);

    // Configuration that no longer pins the tenant fails loudly, and touches no object.
    const errors: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => errors.push(String(line)));
    try {
      const unpinned = await send(
        `/v1/accounts/${account}`,
        { method: "GET" },
        { ACCOUNTS: jurisdictionAware(asked) },
        key,
      );
      await expectProblem(unpinned, 500, "internal_error");
      const opening = await send(
        `/v1/accounts/${uniqueAccount()}`,
        { method: "PUT", body: '{"currency":"EUR"}' },
        { ACCOUNTS: jurisdictionAware(asked) },
        key,
      );
      await expectProblem(opening, 500, "internal_error");
    } finally {
      spy.mockRestore();
    }
    expect(
      errors.some((line) => line.includes("tenant jurisdiction mismatch") && line.includes('"pinnedTo":"eu"')),
    ).toBe(true);
  });

  it("is refused when its tenant was pinned global by its first account", async () => {
    const key = TEST_API_KEYS.edge[0];
    const account = uniqueAccount("global");
    expect((await send(`/v1/accounts/${account}`, { method: "PUT", body: '{"currency":"USD"}' }, {}, key)).status).toBe(
      201,
    );
    const spy = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const moved = await send(
        `/v1/accounts/${account}`,
        { method: "GET" },
        { TENANT_JURISDICTIONS: '{"edge":"eu"}', ACCOUNTS: jurisdictionAware([]) },
        key,
      );
      await expectProblem(moved, 500, "internal_error");
    } finally {
      spy.mockRestore();
    }
    expect((await send(`/v1/accounts/${account}`, { method: "GET" }, {}, key)).status).toBe(200);
  });

  it("makes a malformed TENANT_JURISDICTIONS a logged 500 for everyone, never a silent global", async () => {
    const spy = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      for (const setting of ['{"acme":"mars"}', "not json", '{"Acme!":"eu"}', '["eu"]']) {
        const response = await send(
          `/v1/accounts/${uniqueAccount()}`,
          { method: "GET" },
          { TENANT_JURISDICTIONS: setting },
          ACME_KEY,
        );
        await expectProblem(response, 500, "internal_error");
      }
    } finally {
      spy.mockRestore();
    }
  });
});

describe("the pin check, the one directory call a request can wait for", () => {
  /** env.DIRECTORY, counting the pin checks it is asked for. */
  function countingDirectory(checks: string[]): Env["DIRECTORY"] {
    return new Proxy(env.DIRECTORY, {
      get(target, property, receiver) {
        if (property !== "getByName") return Reflect.get(target, property, receiver) as unknown;
        return (name: string) =>
          new Proxy(target.getByName(name), {
            get(stub, method, stubReceiver) {
              if (method !== "checkPin") return Reflect.get(stub, method, stubReceiver) as unknown;
              return (jurisdiction: string | null, record: boolean) => {
                checks.push(name);
                return stub.checkPin(jurisdiction, record);
              };
            },
          });
      },
    });
  }

  it("is made once per tenant per isolate once the tenant is pinned, and on every request until then", async () => {
    // A tenant of its own, so no other test has pinned it or made this isolate confirm it.
    const tenant = `pin-${crypto.randomUUID().slice(0, 8)}`;
    const key = `olk_test_${tenant}`;
    const checks: string[] = [];
    let settings: Partial<Env> = {
      API_KEYS: JSON.stringify({ [tenant]: [sha256Hex(key)] }),
      DIRECTORY: countingDirectory(checks),
      // A value this isolate has not seen: it forgets every tenant it had confirmed.
      TENANT_JURISDICTIONS: JSON.stringify({ [`other-${tenant}`]: "eu" }),
    };
    const send = async (method: string, path: string, body?: unknown, idempotencyKey?: string) => {
      const headers = new Headers({ authorization: `Bearer ${key}`, "content-type": "application/json" });
      if (idempotencyKey !== undefined) headers.set("idempotency-key", idempotencyKey);
      const request = new Request(`${BASE_URL}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (
        await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, ...settings }, {
          waitUntil: () => undefined,
          passThroughOnException: () => undefined,
        } as unknown as ExecutionContext)
      ).status;
    };
    const account = uniqueAccount("pin");

    // No pin yet (no account opened): every request waits for the check, even a 404.
    for (let i = 0; i < 3; i += 1) expect(await send("GET", `/v1/accounts/${account}`)).toBe(404);
    expect(checks.length).toBe(3);

    // The first PUT records the pin; from then on this isolate does not ask again.
    expect(await send("PUT", `/v1/accounts/${account}`, { currency: "USD" })).toBe(201);
    expect(checks.length).toBe(4);
    expect(await send("POST", `/v1/accounts/${account}/credits`, { amount: 10, currency: "USD" }, "c1")).toBe(201);
    for (let i = 0; i < 5; i += 1) {
      expect(await send("POST", `/v1/accounts/${account}/charges`, { amount: 1, currency: "USD" }, `ch${i}`)).toBe(201);
    }
    expect(await send("GET", `/v1/accounts/${account}`)).toBe(200);
    expect(checks.length).toBe(4);

    // A changed TENANT_JURISDICTIONS is checked afresh: once more, then not again.
    settings = { ...settings, TENANT_JURISDICTIONS: JSON.stringify({ [`another-${tenant}`]: "eu" }) };
    for (let i = 0; i < 3; i += 1) expect(await send("GET", `/v1/accounts/${account}`)).toBe(200);
    expect(checks).toEqual(Array.from({ length: 5 }, () => tenant));
  });
});
