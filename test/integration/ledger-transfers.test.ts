import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR, TRANSFER_RETRY_MAX_MS } from "../../src/domain/limits.ts";
import { failure } from "../../src/contract/outcome.ts";
import {
  allEntries,
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { command, deliver, messageId, recordingQueues } from "../support/queues.ts";
import { archiveAndPrune, closeInside } from "../support/periods.ts";
import { healFault, inLedger, injectFault } from "../support/storage.ts";
import {
  getTransfer,
  pendingTransfer,
  redeliver,
  restoreDeliveries,
  runAlarm,
  settled,
  totalBalance,
  transfer,
  wrapDeliveries,
  type TransferJson,
} from "../support/transfers.ts";

/**
 * Transfers between two accounts, two objects with no shared transaction:
 * the source sets the amount aside and records the transfer pending under
 * the client's key; its alarm has the destination apply its leg once (keyed
 * by the transfer) and then posts or voids. Faults are injected at every
 * step, with the real objects, storage and alarm.
 */

afterEach(() => {
  vi.useRealTimers();
});

describe("a transfer", () => {
  it("sets the amount aside pending, then posts both legs once", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    const key = uniqueKey("transfer");
    const response = await transfer(from, { to, amount: 300, currency: "USD", metadata: { invoice: "7" } }, key);
    expect(response.status).toBe(201);
    const created = await json<TransferJson>(response);
    expect(created).toMatchObject({ from, to, amount: 300, currency: "USD", state: "pending", reason: null });
    expect(created.id).toMatch(/^tr_[0-9a-f]{32}$/);
    expect(response.headers.get("location")).toBe(`/v1/accounts/${from}/transfers/${created.id}`);

    const posted = await settled(from, created.id);
    expect(posted).toMatchObject({ state: "posted", reason: null, resolved: expect.any(String) });
    expect(await getAccount(from)).toMatchObject({ balance: 700, held: 0, available: 700, entry_count: 2 });
    expect(await getAccount(to)).toMatchObject({ balance: 300, entry_count: 1 });
    const out = (await allEntries(from)).at(-1);
    const into = (await allEntries(to)).at(-1);
    expect(out).toMatchObject({ type: "transfer_out", amount: -300, transfer: created.id, charge: null });
    expect(into).toMatchObject({ type: "transfer_in", amount: 300, transfer: created.id, balance_after: 300 });
    expect(into).toMatchObject({ metadata: { invoice: "7" } });

    // The client's retry replays the first answer, byte for byte, and moves nothing more.
    const again = await transfer(from, { to, amount: 300, currency: "USD", metadata: { invoice: "7" } }, key);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(created);
    await runAlarm(from);
    expect(await totalBalance([from, to])).toBe(1000);
    expect((await allEntries(to)).length).toBe(1);
    await expectLedgerConsistent(from);
    await expectLedgerConsistent(to);
  });

  it("keeps a pending transfer's amount from charges, holds and other transfers", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    await wrapDeliveries(from, () => Promise.resolve(failure({ code: "overloaded" })));
    await pendingTransfer(from, to, 600);
    expect(await getAccount(from)).toMatchObject({ balance: 1000, held: 600, available: 400 });
    await expectProblem(await post(from, "charges", { amount: 401, currency: "USD" }), 402, "insufficient_funds");
    await expectProblem(await transfer(from, { to, amount: 401, currency: "USD" }), 402, "insufficient_funds");
    expect((await post(from, "charges", { amount: 400, currency: "USD" })).status).toBe(201);
  });

  it("declines as a charge would, and to its own account, recorded and final", async () => {
    const from = await fundedAccount(100);
    const to = uniqueAccount();
    await openAccount(to);
    const cases: [Record<string, unknown>, number, string][] = [
      [{ to, amount: 101, currency: "USD" }, 402, "insufficient_funds"],
      [{ to, amount: 1, currency: "EUR" }, 409, "currency_mismatch"],
      [{ to: from, amount: 1, currency: "USD" }, 409, "transfer_to_self"],
    ];
    for (const [body, status, code] of cases) {
      const key = uniqueKey("declined");
      await expectProblem(await transfer(from, body, key), status, code);
      const again = await transfer(from, body, key);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      await expectProblem(again, status, code);
    }
    expect(await getAccount(from)).toMatchObject({ balance: 100, held: 0 });
    const unknown = await call(`/v1/accounts/${uniqueAccount()}/transfers`, {
      method: "POST",
      body: { to, amount: 1, currency: "USD" },
      idempotencyKey: uniqueKey(),
    });
    await expectProblem(unknown, 404, "account_not_found");
    await expectProblem(
      await call(`/v1/accounts/${from}/transfers/tr_00000000000000000000000000000001`),
      404,
      "transfer_not_found",
    );
  });
});

describe("a transfer by every way in", () => {
  it("is one request in one key space over HTTP, in a batch and as a queue command", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    const body = { to, amount: 100, currency: "USD" };
    const batched = uniqueKey("batched");
    const queued = uniqueKey("queued");
    const batch = await call(`/v1/accounts/${from}/batches`, {
      method: "POST",
      body: { operations: [{ type: "transfer", idempotency_key: batched, ...body }] },
    });
    expect(batch.status).toBe(200);
    const [result] = (await json<{ results: { status: number; body: TransferJson }[] }>(batch)).results;
    expect(result).toMatchObject({ status: 201, body: { state: "pending", to } });
    const { bindings } = recordingQueues();
    const outcome = await deliver(
      [{ id: messageId(), body: command({ account: from, operation: "transfer", key: queued, request: body }) }],
      bindings,
    );
    expect(outcome.retryMessages).toEqual([]);
    // Each replays through the single route: the same request under its key, nothing moved twice.
    for (const key of [batched, queued]) {
      const replay = await transfer(from, body, key);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      await settled(from, (await json<TransferJson>(replay)).id);
    }
    expect(await getAccount(from)).toMatchObject({ balance: 800, held: 0 });
    expect(await getAccount(to)).toMatchObject({ balance: 200, entry_count: 2 });
  });
});

describe("a destination that refuses its leg", () => {
  it("voids the transfer naming the destination's code: an account never opened, for good", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    const created = await pendingTransfer(from, to, 250);
    expect(await settled(from, created.id)).toMatchObject({ state: "voided", reason: "account_not_found" });
    expect(await getAccount(from)).toMatchObject({ balance: 1000, held: 0, entry_count: 1 });
    // Opened afterwards, the destination still refuses that leg: the refusal was recorded.
    await openAccount(to);
    const redelivered = await redeliver(from, to, created.id);
    expect(redelivered).toMatchObject({ status: 404 });
    expect(await getAccount(to)).toMatchObject({ balance: 0, entry_count: 0 });
  });

  it("voids on a currency the destination does not keep, and on its balance cap", async () => {
    const from = await fundedAccount(1000);
    const euros = uniqueAccount();
    await openAccount(euros, { currency: "EUR" });
    const full = await fundedAccount(0);
    // The balance cap is 1,000 of the largest credits: one batch of them.
    const credits = Array.from({ length: MAX_BALANCE_MINOR / MAX_AMOUNT_MINOR }, (_, i) => ({
      type: "credit",
      idempotency_key: `fill-${String(i)}`,
      amount: MAX_AMOUNT_MINOR,
      currency: "USD",
    }));
    const filled = await call(`/v1/accounts/${full}/batches`, { method: "POST", body: { operations: credits } });
    expect(filled.status).toBe(200);
    expect(await getAccount(full)).toMatchObject({ balance: MAX_BALANCE_MINOR });
    const toEuros = await pendingTransfer(from, euros, 10);
    const toFull = await pendingTransfer(from, full, 10);
    expect(await settled(from, toEuros.id)).toMatchObject({ state: "voided", reason: "currency_mismatch" });
    expect(await settled(from, toFull.id)).toMatchObject({ state: "voided", reason: "balance_limit_exceeded" });
    expect(await getAccount(from)).toMatchObject({ balance: 1000, held: 0, available: 1000 });
    await expectLedgerConsistent(from);
  });
});

describe("a transfer's leg, once its period has left the destination", () => {
  it("is still applied only once: a leg sent again gets the final answer from the archive", async () => {
    const from = await fundedAccount(1000);
    const to = await fundedAccount(5);
    const created = await pendingTransfer(from, to, 100);
    expect(await settled(from, created.id)).toMatchObject({ state: "posted" });
    await closeInside(ledgerStub(to));
    await archiveAndPrune(to);
    const left = await inLedger(to, (storage) =>
      storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM ledger").one(),
    );
    expect(left.n).toBe(0);
    const again = await redeliver(from, to, created.id);
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body)).toMatchObject({ code: "idempotency_key_expired", original_status: 201 });
    expect(await getAccount(to)).toMatchObject({ balance: 105, entry_count: 2 });
    const transferIn = (await allEntries(to)).filter((entry) => entry.type === "transfer_in");
    expect(transferIn).toHaveLength(1);
  });
});

describe("faults at every step", () => {
  it("before the transfer commits: nothing is recorded, and the retry is decided once", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    const fault = { timing: "BEFORE", event: "INSERT", table: "transfers" } as const;
    await injectFault(from, fault);
    const key = uniqueKey("transfer");
    const body = { to, amount: 100, currency: "USD" };
    expect((await transfer(from, body, key)).status).toBe(500);
    expect(await getAccount(from)).toMatchObject({ balance: 1000, held: 0 });
    await healFault(from, fault);
    const created = await json<TransferJson>(await transfer(from, body, key));
    expect(await settled(from, created.id)).toMatchObject({ state: "posted" });
    expect(await totalBalance([from, to])).toBe(1000);
  });

  it("after it commits, with the destination unreachable: pending, never voided, posted once it answers", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    let calls = 0;
    await wrapDeliveries(from, () => {
      calls += 1;
      return Promise.reject(new Error("injected: the destination cannot be reached"));
    });
    const created = await pendingTransfer(from, to, 100);
    vi.useFakeTimers({ toFake: ["Date"] });
    for (let run = 0; run < 4; run += 1) {
      vi.setSystemTime(Date.now() + TRANSFER_RETRY_MAX_MS);
      await runAlarm(from);
    }
    expect(calls).toBeGreaterThanOrEqual(4);
    expect(await getTransfer(from, created.id)).toMatchObject({ state: "pending" });
    expect(await getAccount(from)).toMatchObject({ balance: 1000, held: 100 });
    // Each failed delivery moved the next one later, at most TRANSFER_RETRY_MAX_MS away.
    const next = await inLedger(from, (storage) =>
      storage.sql
        .exec<{ attempts: number; next: number }>("SELECT attempts, next_attempt_ms AS next FROM transfers")
        .one(),
    );
    expect(next.attempts).toBeGreaterThanOrEqual(4);
    expect(next.next - Date.now()).toBeLessThanOrEqual(TRANSFER_RETRY_MAX_MS);
    await restoreDeliveries(from);
    vi.setSystemTime(Date.now() + TRANSFER_RETRY_MAX_MS);
    expect(await settled(from, created.id)).toMatchObject({ state: "posted" });
    expect(await totalBalance([from, to])).toBe(1000);
  });

  it("a destination that cannot serve the request's interface version leaves it pending", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    await wrapDeliveries(from, () => Promise.resolve(failure({ code: "internal_error", cause: "interface_version" })));
    const created = await pendingTransfer(from, to, 100);
    await runAlarm(from);
    expect(await getTransfer(from, created.id)).toMatchObject({ state: "pending" });
  });

  it("after the destination applied its leg but before its answer came back: applied once, posted once", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    let lost = 0;
    await wrapDeliveries(from, async (_request, real) => {
      await real();
      lost += 1;
      throw new Error("injected: the answer was lost");
    });
    const created = await pendingTransfer(from, to, 400);
    await runAlarm(from);
    expect(lost).toBeGreaterThanOrEqual(1);
    expect(await getTransfer(from, created.id)).toMatchObject({ state: "pending" });
    expect(await getAccount(to)).toMatchObject({ balance: 400 });
    await restoreDeliveries(from);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + TRANSFER_RETRY_MAX_MS);
    expect(await settled(from, created.id)).toMatchObject({ state: "posted" });
    expect((await allEntries(to)).filter((entry) => entry.type === "transfer_in")).toHaveLength(1);
    expect((await allEntries(from)).filter((entry) => entry.type === "transfer_out")).toHaveLength(1);
    expect(await totalBalance([from, to])).toBe(1000);
    await expectLedgerConsistent(from);
    await expectLedgerConsistent(to);
  });

  it("before the post: the settlement fails, stays pending, and posts once on the next run", async () => {
    const from = await fundedAccount(1000);
    const to = uniqueAccount();
    await openAccount(to);
    const fault = { timing: "BEFORE", event: "INSERT", table: "ledger" } as const;
    await wrapDeliveries(from, () => Promise.resolve(failure({ code: "overloaded" })));
    const created = await pendingTransfer(from, to, 300);
    await injectFault(from, fault);
    await restoreDeliveries(from);
    await runAlarm(from);
    expect(await getTransfer(from, created.id)).toMatchObject({ state: "pending" });
    expect(await getAccount(to)).toMatchObject({ balance: 300 });
    await healFault(from, fault);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + TRANSFER_RETRY_MAX_MS);
    expect(await settled(from, created.id)).toMatchObject({ state: "posted" });
    expect(await getAccount(from)).toMatchObject({ balance: 700, held: 0 });
    expect(await totalBalance([from, to])).toBe(1000);
  });
});
