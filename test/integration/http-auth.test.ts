import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { buildApp, withLastResort } from "../../src/http/app.ts";
import { MAX_API_KEY_LENGTH } from "../../src/domain/limits.ts";
import {
  ACME_KEY,
  GLOBEX_KEY,
  call,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { BASE, expectUnauthorized, fetchUrl, usd } from "../support/http.ts";
import { DEV_API_KEY, TEST_API_KEYS } from "../support/keys.ts";
import { command, RecordingQueue } from "../support/queues.ts";

/**
 * Authentication and tenant isolation, and the development key, accepted only where ALLOW_DEV_KEY allows it.
 */

const ACME_ROTATED_KEY = TEST_API_KEYS.acme[1];

/** Every /v1 route, as [method, path, body?] for an account named `account`. */
function v1Routes(account: string): ReadonlyArray<readonly [string, string, unknown]> {
  return [
    ["PUT", `/v1/accounts/${account}`, { currency: "USD" }],
    ["GET", `/v1/accounts/${account}`, undefined],
    ["POST", `/v1/accounts/${account}/credits`, usd(100)],
    ["POST", `/v1/accounts/${account}/charges`, usd(100)],
    ["POST", `/v1/accounts/${account}/refunds`, { charge: "ch_x" }],
    ["GET", `/v1/accounts/${account}/entries`, undefined],
    ["GET", `/v1/accounts/${account}/charges/ch_x`, undefined],
    ["GET", `/v1/accounts/${account}/idempotency-keys/some-key`, undefined],
  ];
}

describe("authentication", () => {
  it("refuses every /v1 route without Authorization, with WWW-Authenticate: Bearer, and changes nothing", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    for (const [method, path, body] of v1Routes(account)) {
      const response = await call(path, { method, key: null, body, idempotencyKey: key });
      expect(response.status, `${method} ${path}`).toBe(401);
      await expectUnauthorized(response, "none");
    }
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
    // The key the refused POSTs carried was never recorded.
    const credit = await post(account, "credits", usd(5), key);
    expect(credit.status).toBe(201);
    expect(credit.headers.get("idempotent-replayed")).toBe("false");
    expect(await getAccount(account)).toMatchObject({ balance: 1005, entry_count: 2 });
  });

  it("does not open an account for an unauthenticated PUT", async () => {
    const account = uniqueAccount();
    await expectUnauthorized(
      await call(`/v1/accounts/${account}`, { method: "PUT", key: null, body: { currency: "USD" } }),
      "none",
    );
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    await openAccount(account);
  });

  it.each([
    ["an unknown key", "Bearer olk_test_nobody"],
    ["a valid key with a character added", `Bearer ${ACME_KEY}x`],
    ["a valid key missing its last character", `Bearer ${ACME_KEY.slice(0, -1)}`],
    ["the Basic scheme", "Basic x"],
    ["the Basic scheme carrying a valid key", `Basic ${btoa(`${ACME_KEY}:`)}`],
    ["a bare key with no scheme", ACME_KEY],
    ["another scheme name", `Token ${ACME_KEY}`],
    ["Bearer with nothing", "Bearer"],
    ["Bearer and a space", "Bearer "],
    ["no space after Bearer", `Bearer${ACME_KEY}`],
    ["trailing text after the key", `Bearer ${ACME_KEY} extra`],
    ["two keys comma-joined", `Bearer ${ACME_KEY}, Bearer ${ACME_ROTATED_KEY}`],
    ["an overlong token", `Bearer ${"a".repeat(10_000)}`],
    ["an overlong token that starts with a valid key", `Bearer ${ACME_KEY}${"a".repeat(300)}`],
  ])("refuses %s with 401", async (_, authorization) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    await expectUnauthorized(
      await fetchUrl(`${BASE}/v1/accounts/${account}/credits`, {
        method: "POST",
        authorization,
        headers: { "idempotency-key": key },
        body: JSON.stringify(usd(5)),
      }),
    );
    await expectUnauthorized(await fetchUrl(`${BASE}/v1/accounts/${account}`, { authorization }));
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
    expect((await post(account, "credits", usd(5), key)).status).toBe(201);
  });

  it.each([
    ["lower-case bearer", `bearer ${ACME_KEY}`],
    ["upper-case BEARER", `BEARER ${ACME_KEY}`],
    ["several spaces", `Bearer   ${ACME_KEY}`],
  ])("accepts %s", async (_, authorization) => {
    const account = await fundedAccount(1000);
    const response = await fetchUrl(`${BASE}/v1/accounts/${account}`, { authorization });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ id: account, balance: 1000 });
  });

  it(`accepts a configured key of ${MAX_API_KEY_LENGTH} characters and refuses a configured one of ${MAX_API_KEY_LENGTH + 1}`, async () => {
    const [longest, tooLong] = TEST_API_KEYS.edge;
    const account = uniqueAccount();
    // Past authentication, an unopened account is a 404; refused, it is a 401.
    await expectProblem(await call(`/v1/accounts/${account}`, { key: longest }), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}`, { key: tooLong }), 401, "unauthorized");
  });

  it("accepts both of acme's live keys, which see the same accounts", async () => {
    const account = uniqueAccount();
    await openAccount(account, { currency: "USD" }, ACME_KEY);
    const viaRotated = await call(`/v1/accounts/${account}`, { key: ACME_ROTATED_KEY });
    expect(viaRotated.status).toBe(200);
    expect(await json(viaRotated)).toMatchObject({ id: account, currency: "USD", balance: 0 });

    const key = uniqueKey();
    const credit = await post(account, "credits", usd(250), key, { key: ACME_ROTATED_KEY });
    expect(credit.status).toBe(201);
    expect((await getAccount(account, ACME_KEY)).balance).toBe(250);
    // One tenant, one idempotency space: the other key replays the same request.
    const replay = await post(account, "credits", usd(250), key, { key: ACME_KEY });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await getAccount(account, ACME_ROTATED_KEY)).toMatchObject({ balance: 250, entry_count: 1 });
  });

  it("keeps tenants apart: globex cannot see or touch acme's account of the same name", async () => {
    const account = await fundedAccount(1000);
    await expectProblem(await call(`/v1/accounts/${account}`, { key: GLOBEX_KEY }), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/entries`, { key: GLOBEX_KEY }), 404, "account_not_found");
    await expectProblem(
      await post(account, "charges", usd(100), uniqueKey(), { key: GLOBEX_KEY }),
      404,
      "account_not_found",
    );
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });

    // The same name under globex is a different account: another currency opens it fresh.
    const opened = await call(`/v1/accounts/${account}`, { method: "PUT", key: GLOBEX_KEY, body: { currency: "EUR" } });
    expect(opened.status).toBe(201);
    expect(await json(opened)).toMatchObject({ id: account, currency: "EUR", balance: 0, entry_count: 0 });

    const key = uniqueKey();
    const globexCredit = await post(account, "credits", { amount: 30, currency: "EUR" }, key, { key: GLOBEX_KEY });
    expect(globexCredit.status).toBe(201);
    // The same Idempotency-Key under acme is a new request, not a replay of globex's.
    const acmeCredit = await post(account, "credits", usd(7), key);
    expect(acmeCredit.status).toBe(201);
    expect(acmeCredit.headers.get("idempotent-replayed")).toBe("false");

    expect(await getAccount(account)).toMatchObject({ currency: "USD", balance: 1007, entry_count: 2 });
    expect(await getAccount(account, GLOBEX_KEY)).toMatchObject({ currency: "EUR", balance: 30, entry_count: 1 });
    const acmeChargeId = (await json<{ id: string }>(await post(account, "charges", usd(1)))).id;
    await expectProblem(
      await call(`/v1/accounts/${account}/charges/${acmeChargeId}`, { key: GLOBEX_KEY }),
      404,
      "charge_not_found",
    );
  });
});

describe("the development key", () => {
  it.each(["http://localhost:8787", "http://127.0.0.1:8787", "https://ledger.test"])(
    "is accepted where ALLOW_DEV_KEY allows it (as .dev.vars does), on %s alike, as its own tenant",
    async (origin) => {
      const account = uniqueAccount();
      const dev = `Bearer ${DEV_API_KEY}`;
      const opened = await fetchUrl(`${origin}/v1/accounts/${account}`, {
        method: "PUT",
        authorization: dev,
        body: JSON.stringify({ currency: "USD" }),
      });
      expect(opened.status).toBe(201);
      const credit = await fetchUrl(`${origin}/v1/accounts/${account}/credits`, {
        method: "POST",
        authorization: dev,
        headers: { "idempotency-key": uniqueKey() },
        body: JSON.stringify(usd(40)),
      });
      expect(credit.status).toBe(201);
      const read = await fetchUrl(`${origin}/v1/accounts/${account}`, { authorization: dev });
      expect(read.status).toBe(200);
      expect(await json(read)).toMatchObject({ id: account, balance: 40 });
      // The dev tenant is not acme.
      await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    },
  );

  it.each([undefined, "", "false", "TRUE", "1", "yes"])(
    "is refused, on any host, where ALLOW_DEV_KEY is %j, though API_KEYS lists it, and changes nothing",
    async (allow) => {
      const worker = withLastResort(buildApp());
      const account = uniqueAccount();
      const send = async (origin: string, init: RequestInit) => {
        const ctx = createExecutionContext();
        const response = await worker.fetch(
          new Request(`${origin}/v1/accounts/${account}`, init) as Request<unknown, IncomingRequestCfProperties>,
          { ...env, ALLOW_DEV_KEY: allow as string },
          ctx,
        );
        await waitOnExecutionContext(ctx);
        return response;
      };
      const headers = { authorization: `Bearer ${DEV_API_KEY}`, "content-type": "application/json" };
      for (const origin of ["http://localhost:8787", "http://127.0.0.1:8787", "https://ledger.test"]) {
        const refused = await send(origin, { method: "PUT", headers, body: JSON.stringify({ currency: "USD" }) });
        await expectUnauthorized(refused);
        expect(refused.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
      }
      await expectProblem(
        await fetchUrl(`http://localhost/v1/accounts/${account}`, { authorization: `Bearer ${DEV_API_KEY}` }),
        404,
        "account_not_found",
      );
    },
  );

  it("does not make a loopback address special for ordinary keys", async () => {
    const account = await fundedAccount(300);
    const response = await fetchUrl(`http://localhost/v1/accounts/${account}`, { authorization: `Bearer ${ACME_KEY}` });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ id: account, balance: 300 });
  });
});

describe("POST /v1/dev/commands", () => {
  it("acts only for the caller's tenant: a command naming another is refused (400, field tenant) and never queued", async () => {
    const account = await fundedAccount(100);
    const commands = new RecordingQueue(env.COMMANDS);
    const worker = withLastResort(buildApp());
    const send = async (key: string, body: string) => {
      const ctx = createExecutionContext();
      const response = await worker.fetch(
        new Request(`${BASE}/v1/dev/commands`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body,
        }),
        { ...env, COMMANDS: commands.binding },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return response;
    };
    // An amount of 0: the consumer dead-letters what does get queued, deciding nothing.
    const message = (tenant: unknown) =>
      JSON.stringify({
        ...(JSON.parse(
          command({ account, operation: "credit", key: uniqueKey(), request: { amount: 0, currency: "USD" } }),
        ) as object),
        tenant,
      });
    for (const [key, named, own] of [
      [DEV_API_KEY, "acme", "dev"],
      [DEV_API_KEY, null, "dev"],
      [ACME_KEY, "dev", "acme"],
      [ACME_KEY, "globex", "acme"],
    ] as const) {
      const refused = await send(key, message(named));
      await expectProblem(refused.clone(), 400, "invalid_request");
      expect(await json(refused)).toMatchObject({
        errors: [{ field: "tenant", message: `must be "${own}", the tenant of the API key` }],
      });
    }
    expect(commands.sent).toEqual([]);

    // Its own tenant's command is queued, and so is a message that is not JSON (the consumer dead-letters it).
    expect((await send(DEV_API_KEY, message("dev"))).status).toBe(202);
    expect((await send(ACME_KEY, "not json")).status).toBe(202);
    expect(commands.sent).toHaveLength(2);
    expect(await getAccount(account)).toMatchObject({ balance: 100 });
  });
});
