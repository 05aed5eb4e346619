import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { moneyFingerprint } from "../../src/api/money-operation.ts";
import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import worker from "../../src/index.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { ACME_KEY, BASE_URL, fundedAccount, getAccount, ledgerStub, post, uniqueKey } from "../support/api.ts";
import { command, deliver, messageId } from "../support/queues.ts";

/**
 * The Worker-to-object interface across one release in both directions:
 * the previous release's Worker (interface version 1, which d784fa3 shipped)
 * calling this object, and this Worker's calls as a version-1 object reads them.
 */

const usd = (amount: number) => ({ amount, currency: "USD" });

/** A charge exactly as the version-1 Worker sent it: no version, no origin, the entry type as `kind`. */
function versionOneCharge(account: string, key: string, amount: number) {
  return {
    requestId: crypto.randomUUID(),
    idempotencyKey: key,
    fingerprint: moneyFingerprint("charge", account, usd(amount)),
    command: { kind: "charge", input: usd(amount) },
  };
}

type WireCall = Parameters<AccountLedger["moveMoney"]>[0];

describe("a version-1 Worker calling this object", () => {
  it("is refused, loudly, before anything is decided: it sends no origin and knows no If-Match", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    const stub = ledgerStub(account);
    const refused = await stub.moveMoney(versionOneCharge(account, key, 30) as unknown as WireCall);
    expect(refused.status).toBe(500);
    expect(JSON.parse(refused.body)).toMatchObject({ code: "internal_error" });
    const batch = await stub.moveMoneyInBatch([versionOneCharge(account, uniqueKey(), 30) as unknown as WireCall]);
    expect(batch).toMatchObject({ ok: false, error: { status: 500 } });
    const versionOneOpen = { account: "x", input: { currency: "EUR" } };
    const opened = await ledgerStub(`v1_${crypto.randomUUID().slice(0, 8)}`).openAccount(
      versionOneOpen as unknown as Parameters<AccountLedger["openAccount"]>[0],
    );
    expect(opened.status).toBe(500);

    // Nothing was decided under the key: this Worker's request with it is new.
    expect(await getAccount(account)).toMatchObject({ balance: 100, entry_count: 1 });
    const viaHttp = await post(account, "charges", usd(30), key);
    expect(viaHttp.status).toBe(201);
    expect(viaHttp.headers.get("idempotent-replayed")).toBe("false");
  });

  it("is served one release ahead too (fields it does not know are ignored), and refused, loudly, two ahead", async () => {
    const account = await fundedAccount(100);
    const stub = ledgerStub(account);
    const ahead = {
      ...versionOneCharge(account, uniqueKey(), 5),
      origin: { requestId: "req-ahead", keyId: "ahead" },
      command: { type: "charge", kind: "charge", input: usd(5) },
      interfaceVersion: OBJECT_INTERFACE_VERSION + 1,
      someFutureField: { anything: true },
    };
    expect(await stub.moveMoney(ahead as unknown as WireCall)).toMatchObject({ status: 201 });
    const tooFar = { ...ahead, idempotencyKey: uniqueKey(), interfaceVersion: OBJECT_INTERFACE_VERSION + 2 };
    const refused = await stub.moveMoney(tooFar as unknown as WireCall);
    expect(refused.status).toBe(500);
    expect(JSON.parse(refused.body)).toMatchObject({ code: "internal_error" });
    const batch = await stub.moveMoneyInBatch([tooFar as unknown as WireCall]);
    expect(batch).toMatchObject({ ok: false, error: { status: 500 } });
    expect(await getAccount(account)).toMatchObject({ balance: 95, entry_count: 2 });
  });
});

describe("this Worker's calls, as a version-1 object reads them", () => {
  /** The account namespace, recording each money request the Worker sends before passing it on. */
  function recording(sent: Record<string, unknown>[]): Env["ACCOUNTS"] {
    return {
      getByName(name: string) {
        const real = env.ACCOUNTS.getByName(name);
        return {
          moveMoney(request: WireCall) {
            sent.push(request as unknown as Record<string, unknown>);
            return real.moveMoney(request);
          },
          moveMoneyInBatch(requests: WireCall[]) {
            sent.push(...(requests as unknown as Record<string, unknown>[]));
            return real.moveMoneyInBatch(requests);
          },
        };
      },
    } as unknown as Env["ACCOUNTS"];
  }

  /** Every field a version-1 object reads of a money request, with the type it expects. */
  function expectVersionOneReadable(request: Record<string, unknown>) {
    expect(typeof request.requestId).toBe("string");
    expect(typeof request.idempotencyKey).toBe("string");
    expect(typeof request.fingerprint).toBe("string");
    const commandSent = request.command as { kind?: unknown; type?: unknown; input?: unknown };
    expect(["credit", "charge", "refund"]).toContain(commandSent.kind);
    expect(commandSent.kind).toBe(commandSent.type);
    expect(commandSent.input).toBeTypeOf("object");
    expect(request.interfaceVersion).toBe(OBJECT_INTERFACE_VERSION);
  }

  it("carry everything a version-1 object reads, from HTTP, batches and the queue", async () => {
    const account = await fundedAccount(100);
    const sent: Record<string, unknown>[] = [];
    const ACCOUNTS = recording(sent);
    const send = (path: string, body: unknown, key: string | null) =>
      worker.fetch(
        new Request(`${BASE_URL}${path}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${ACME_KEY}`,
            "content-type": "application/json",
            ...(key === null ? {} : { "idempotency-key": key }),
          },
          body: JSON.stringify(body),
        }),
        { ...env, ACCOUNTS },
        {} as ExecutionContext,
      );
    expect((await send(`/v1/accounts/${account}/charges`, usd(1), uniqueKey())).status).toBe(201);
    const operations = [{ type: "credit", idempotency_key: uniqueKey(), ...usd(2) }];
    expect((await send(`/v1/accounts/${account}/batches`, { operations }, null)).status).toBe(200);
    await deliver(
      [{ id: messageId(), body: command({ account, operation: "charge", key: uniqueKey(), request: usd(3) }) }],
      {
        ACCOUNTS,
      },
    );
    expect(sent).toHaveLength(3);
    for (const request of sent) expectVersionOneReadable(request);
  });

  it("answered as a version-1 object answers a PUT (no account version), sends no ETag rather than a false one", async () => {
    const account = `v1_${crypto.randomUUID().slice(0, 8)}`;
    const ACCOUNTS = {
      getByName(name: string) {
        const real = env.ACCOUNTS.getByName(name);
        return {
          async openAccount(request: Parameters<AccountLedger["openAccount"]>[0]) {
            const outcome = await real.openAccount(request);
            const { version: _version, ...view } = JSON.parse(outcome.body) as Record<string, unknown>;
            return { ...outcome, body: JSON.stringify(view) };
          },
        };
      },
    } as unknown as Env["ACCOUNTS"];
    const response = await worker.fetch(
      new Request(`${BASE_URL}/v1/accounts/${account}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ currency: "USD" }),
      }),
      { ...env, ACCOUNTS },
      {} as ExecutionContext,
    );
    expect(response.status).toBe(201);
    expect(response.headers.get("etag")).toBeNull();
  });
});
