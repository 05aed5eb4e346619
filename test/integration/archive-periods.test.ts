import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import type { CommandResult } from "../../src/queue/command-consumer.ts";
import { call, expectProblem, fundedAccount, json, ledgerStub, post, uniqueKey } from "../support/api.ts";
import { archiveAndPrune } from "../support/periods.ts";
import { command, deliver, messageId, recordingQueues } from "../support/queues.ts";

/**
 * Periods end to end, on real local R2 and real alarms: a close, its
 * archive, the rows leaving the object once their keys expired, and every
 * way a key or an entry is still answered from the archive afterwards.
 */

function keyedClose(key: string) {
  return {
    requestId: key,
    idempotencyKey: key,
    fingerprint: "c".repeat(64),
    origin: { requestId: key, keyId: null },
  };
}

async function closePeriod(account: string): Promise<Record<string, unknown>> {
  const outcome = await runInDurableObject(ledgerStub(account), (instance: AccountLedger) =>
    instance.closePeriod(keyedClose(uniqueKey("close"))),
  );
  expect(outcome.status).toBe(201);
  return JSON.parse(outcome.body) as Record<string, unknown>;
}

describe("a closed period, archived and gone from the object", () => {
  it("still answers its keys, entries, charges and refunds from R2", async () => {
    const account = await fundedAccount(10_000);
    const chargeKey = uniqueKey("charge");
    const charge = await json(await post(account, "charges", { amount: 300, currency: "USD" }, chargeKey));
    const declineKey = uniqueKey("decline");
    await expectProblem(
      await post(account, "charges", { amount: 999_999, currency: "USD" }, declineKey),
      402,
      "insufficient_funds",
    );
    const period = await closePeriod(account);
    expect(period).toMatchObject({ id: 1, first_seq: 1, last_seq: 2, state: "closing", sha256: null });
    await archiveAndPrune(account);

    // Only the close's own key is left: it was decided after the close, in the open period.
    const rows = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql
        .exec<{ entries: number; keys: number }>(
          "SELECT (SELECT COUNT(*) FROM ledger) AS entries, (SELECT COUNT(*) FROM keys WHERE pos <= 3) AS keys",
        )
        .one(),
    );
    expect(rows).toEqual({ entries: 0, keys: 0 });
    const listed = await env.ARCHIVE.list({ prefix: `acme/${account}/` });
    // The period's entries and keys, and the locator's object for its keys that carry no time.
    expect(listed.objects.map((o) => o.key)).toEqual([
      `acme/${account}/locator/0000000001/000000.bin`,
      `acme/${account}/periods/0000000001/entries-000000.jsonl`,
      `acme/${account}/periods/0000000001/keys-000000.jsonl`,
    ]);

    // A retry of an archived key: final, the original decision named, nothing moved.
    await expectProblem(
      await post(account, "charges", { amount: 300, currency: "USD" }, chargeKey),
      409,
      "idempotency_key_expired",
    );
    const declined = await post(account, "charges", { amount: 999_999, currency: "USD" }, declineKey);
    const problem = await json(declined);
    expect(declined.status).toBe(409);
    expect(problem).toMatchObject({ original_status: 402, original_code: "insufficient_funds" });
    const balance = (await json(await call(`/v1/accounts/${account}`))).balance;
    expect(balance).toBe(10_000 - 300);

    // Entries page across the archive and the object alike.
    await post(account, "charges", { amount: 1, currency: "USD" }, uniqueKey("after"));
    const page = await json<{ data: { seq: number; id: string }[] }>(await call(`/v1/accounts/${account}/entries`));
    expect(page.data.map((e) => e.seq)).toEqual([1, 2, 3]);
    const after = await json<{ data: { seq: number }[] }>(
      await call(`/v1/accounts/${account}/entries?starting_after=${page.data[0]?.id}`),
    );
    expect(after.data.map((e) => e.seq)).toEqual([2, 3]);

    // The archived charge is read, and refunded, as if it were here.
    const chargeId = charge.id as string;
    expect(await json(await call(`/v1/accounts/${account}/charges/${chargeId}`))).toEqual(charge);
    const refund = await post(account, "refunds", { charge: chargeId, amount: 100 }, uniqueKey("refund"));
    expect(refund.status).toBe(201);
    expect((await json(await call(`/v1/accounts/${account}/charges/${chargeId}`))).amount_refunded).toBe(100);
    await expectProblem(
      await post(account, "refunds", { charge: chargeId, amount: 201 }, uniqueKey("refund")),
      409,
      "refund_exceeds_charge",
    );

    // The key lookup knows archived keys.
    const lookup = await json(await call(`/v1/accounts/${account}/idempotency-keys/${chargeKey}`));
    expect(lookup).toMatchObject({ state: "expired", original_status: 201, entry: { id: chargeId } });

    const audit = await runInDurableObject(ledgerStub(account), (instance: AccountLedger) => instance.audit());
    expect(audit.violations).toEqual([]);
  });

  it("answers a close's and a settings change's key as final once their period left, deciding neither again", async () => {
    const account = await fundedAccount(1_000);
    const settingsKey = uniqueKey("settings");
    const put = await call(`/v1/accounts/${account}`, {
      method: "PUT",
      body: { currency: "USD", overdraft_limit: 50 },
      idempotencyKey: settingsKey,
    });
    expect(put.status).toBe(200);
    const closeKey = uniqueKey("close");
    const close = (key: string) =>
      runInDurableObject(ledgerStub(account), (instance: AccountLedger) => instance.closePeriod(keyedClose(key)));
    expect((await close(closeKey)).status).toBe(201);
    // A later change, which a second decision of the first key would undo.
    await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD", overdraft_limit: 70 } });
    await post(account, "charges", { amount: 1, currency: "USD" });
    expect((await close(uniqueKey("close"))).status).toBe(201);
    await archiveAndPrune(account);
    const left = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM keys WHERE key IN (?, ?)", settingsKey, closeKey)
        .one(),
    );
    expect(left.n).toBe(0);

    const again = await close(closeKey);
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body)).toMatchObject({ code: "idempotency_key_expired", original_status: 201 });
    const putAgain = await call(`/v1/accounts/${account}`, {
      method: "PUT",
      body: { currency: "USD", overdraft_limit: 50 },
      idempotencyKey: settingsKey,
    });
    await expectProblem(putAgain, 409, "idempotency_key_expired");
    expect((await json(await call(`/v1/accounts/${account}`))).overdraft_limit).toBe(70);
    const periods = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM periods").one(),
    );
    expect(periods.n).toBe(2);
  });

  it("answers a queue command whose key left with its period as final: 409 expired, nothing moved", async () => {
    const account = await fundedAccount(1_000);
    const key = uniqueKey("queued");
    expect((await post(account, "charges", { amount: 40, currency: "USD" }, key)).status).toBe(201);
    expect(
      (await runInDurableObject(ledgerStub(account), (i: AccountLedger) => i.closePeriod(keyedClose(uniqueKey()))))
        .status,
    ).toBe(201);
    await archiveAndPrune(account);
    const { results, bindings } = recordingQueues();
    const id = messageId();
    const outcome = await deliver(
      [{ id, body: command({ account, operation: "charge", key, request: { amount: 40, currency: "USD" } }) }],
      bindings,
    );
    expect(outcome.explicitAcks).toEqual([id]);
    const [result] = results.sent as CommandResult[];
    expect(result).toMatchObject({ status: 409, body: { code: "idempotency_key_expired", original_status: 201 } });
    expect((await json(await call(`/v1/accounts/${account}`))).balance).toBe(960);
  });
});
