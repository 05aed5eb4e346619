import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildApp, withLastResort } from "../../src/http/app.ts";
import { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { logError, SETTING_FIXES } from "../../src/observability/log.ts";
import {
  ACME_KEY,
  expectProblem,
  fundedAccount,
  getAccount,
  openAccount,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { usd } from "../support/http.ts";
import { command, deliver, messageId, recordingQueues } from "../support/queues.ts";

/**
 * A Worker that reads a malformed setting fails closed, and the line it
 * logs names the setting and the fix, so the on-call engineer needs nothing
 * but that line.
 */

let errorLines: Record<string, unknown>[];
beforeEach(() => {
  errorLines = [];
  vi.spyOn(console, "error").mockImplementation((line: unknown) => {
    errorLines.push(JSON.parse(String(line)) as Record<string, unknown>);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** The real Worker, with some of its settings replaced. */
async function fetchWith(settings: Partial<Env>, path: string, init: RequestInit = {}): Promise<Response> {
  const worker = withLastResort(buildApp());
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${ACME_KEY}`);
  const request = new Request(`https://ledger.test${path}`, { ...init, headers });
  const response = await worker.fetch(
    request as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...settings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

/** The one logged line that names `setting`, which must carry its fix. */
function lineNaming(setting: keyof typeof SETTING_FIXES): Record<string, unknown> {
  const naming = errorLines.filter((line) => line.setting === setting);
  expect(naming, JSON.stringify(errorLines)).toHaveLength(1);
  const [line] = naming;
  expect(line?.fix).toBe(SETTING_FIXES[setting]);
  expect(JSON.stringify(line)).not.toContain("\\n");
  return line ?? {};
}

describe("a malformed API_KEYS", () => {
  it.each([
    ["not set", undefined, "API_KEYS is not set"],
    ["not JSON", "{", "API_KEYS is not valid JSON"],
    ["a list", '["x"]', "API_KEYS must be a JSON object"],
  ])(
    "when %s: every /v1 request is a 500, logged in one line with the setting, the reason and the fix",
    async (_, value, reason) => {
      const account = await fundedAccount(100);
      const charge = await fetchWith({ API_KEYS: value }, `/v1/accounts/${account}/charges`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": uniqueKey() },
        body: JSON.stringify(usd(5)),
      });
      await expectProblem(charge, 500, "internal_error");
      const line = lineNaming("API_KEYS");
      expect(line).toMatchObject({ msg: "OnceLedger is misconfigured", setting: "API_KEYS" });
      expect(line.reason).toContain(reason);
      expect(await getAccount(account)).toMatchObject({ balance: 100 });
    },
  );

  it("holds back queue commands, logged with the setting and the fix", async () => {
    const account = await fundedAccount(100);
    const { bindings } = recordingQueues();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(5) });
    const outcome = await deliver([{ id: messageId(), body }], { ...bindings, API_KEYS: "not json" });
    expect(outcome.explicitAcks).toEqual([]);
    expect(lineNaming("API_KEYS")).toMatchObject({ msg: "OnceLedger is misconfigured: API_KEYS is unusable" });
    expect(await getAccount(account)).toMatchObject({ balance: 100 });
  });
});

describe("a malformed TENANT_JURISDICTIONS", () => {
  it("makes a request a 500 that opens nothing, logged with the setting, the reason and the fix", async () => {
    const account = uniqueAccount();
    const response = await fetchWith({ TENANT_JURISDICTIONS: '{"acme":"mars"}' }, `/v1/accounts/${account}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ currency: "USD" }),
    });
    await expectProblem(response, 500, "internal_error");
    const line = lineNaming("TENANT_JURISDICTIONS");
    expect(line).toMatchObject({ msg: "OnceLedger is misconfigured", tenant: "acme" });
    expect(line.reason).toContain('TENANT_JURISDICTIONS[acme] must be one of "eu"');
    await expectProblem(await fetchWith({}, `/v1/accounts/${account}`), 404, "account_not_found");
    await openAccount(account);
  });
});

describe("a malformed TENANT_JURISDICTIONS over the queue", () => {
  it("holds a command back undecided, logged with the setting, the reason and the fix", async () => {
    const account = await fundedAccount(100);
    const { bindings } = recordingQueues();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(5) });
    const outcome = await deliver([{ id: messageId(), body }], { ...bindings, TENANT_JURISDICTIONS: "not json" });
    expect(outcome.explicitAcks).toEqual([]);
    const line = lineNaming("TENANT_JURISDICTIONS");
    expect(line).toMatchObject({ msg: "cannot place tenant", tenant: "acme", kind: "misconfigured" });
    expect(line.reason).toContain("TENANT_JURISDICTIONS is not valid JSON");
    expect(await getAccount(account)).toMatchObject({ balance: 100 });
  });
});

describe("a malformed OPERATOR_KEYS", () => {
  it("is logged, as every setting is, with the setting and the fix", () => {
    logError("misconfigured", { reason: "OPERATOR_KEYS is not valid JSON: unexpected end of input at offset 1" });
    expect(lineNaming("OPERATOR_KEYS")).toMatchObject({ msg: "OnceLedger is misconfigured" });
  });
});

describe("a malformed CORS_ALLOWED_ORIGINS", () => {
  it("turns CORS off, logged with the setting, the reason and the fix", async () => {
    await fetchWith({ CORS_ALLOWED_ORIGINS: "admin.example.com" }, "/openapi.json", {
      headers: { origin: "https://a.example.com" },
    });
    const line = lineNaming("CORS_ALLOWED_ORIGINS");
    expect(line).toMatchObject({ msg: "CORS is off" });
    expect(line.reason).toContain("CORS_ALLOWED_ORIGINS entry");
  });
});

describe("a malformed IDEMPOTENCY_TTL_SECONDS", () => {
  it("stops an account object from starting, with an error naming the setting and the fix", async () => {
    const account = await fundedAccount(100);
    const stub = env.ACCOUNTS.getByName(`acme:${account}`);
    await runInDurableObject(stub, (_instance, state) => {
      expect(() => new AccountLedger(state, { ...env, IDEMPOTENCY_TTL_SECONDS: "1 day" })).toThrow(
        'IDEMPOTENCY_TTL_SECONDS must be an integer from 60 to 2592000, got "1 day"; fix: set it to whole seconds in that range, or delete it for the default 86400',
      );
    });
  });

  it("has the fix the settings check prints", () => {
    expect(SETTING_FIXES.IDEMPOTENCY_TTL_SECONDS).toBe(
      "set IDEMPOTENCY_TTL_SECONDS to whole seconds from 60 to 2592000, or delete it for the default 86400",
    );
  });
});
