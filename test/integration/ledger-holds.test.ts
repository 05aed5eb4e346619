import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HOLD_DEFAULT_EXPIRES_IN_SECONDS, HOLD_MAX_EXPIRES_IN_SECONDS } from "../../src/domain/limits.ts";
import {
  allEntries,
  call,
  expectInvalid,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  post,
  uniqueKey,
} from "../support/api.ts";
import { inLedger } from "../support/storage.ts";

/**
 * Holds on one account: placed (funds set aside, the balance unmoved),
 * captured (one entry), voided or expired (no entry), each keyed like a
 * charge, recorded, replayed byte for byte and final.
 */

interface HoldJson {
  id: string;
  amount: number;
  state: string;
  captured: number;
  capture: string | null;
  expires: string;
  created: string;
  resolved: string | null;
}

function placeHold(account: string, body: Record<string, unknown>, key: string = uniqueKey("hold")) {
  return call(`/v1/accounts/${account}/holds`, { method: "POST", body, idempotencyKey: key });
}

function capture(account: string, hold: string, body: Record<string, unknown> = {}, key = uniqueKey("capture")) {
  return call(`/v1/accounts/${account}/holds/${hold}/captures`, { method: "POST", body, idempotencyKey: key });
}

function voidHold(account: string, hold: string, key = uniqueKey("void")) {
  return call(`/v1/accounts/${account}/holds/${hold}/voids`, { method: "POST", body: {}, idempotencyKey: key });
}

async function getHold(account: string, hold: string): Promise<HoldJson> {
  const response = await call(`/v1/accounts/${account}/holds/${hold}`);
  expect(response.status).toBe(200);
  return json<HoldJson>(response);
}

async function heldHold(account: string, amount: number, extra: Record<string, unknown> = {}): Promise<HoldJson> {
  const response = await placeHold(account, { amount, currency: "USD", ...extra });
  expect(response.status).toBe(201);
  return json<HoldJson>(response);
}

/** Sends the same request twice: the second is a replay of the same bytes, marked so. */
async function expectReplayed(send: () => Promise<Response>): Promise<Response> {
  const first = await send();
  const firstBody = await first.clone().text();
  const again = await send();
  expect(again.status).toBe(first.status);
  expect(await again.text()).toBe(firstBody);
  expect(again.headers.get("idempotent-replayed")).toBe("true");
  return first;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("placing a hold", () => {
  it("sets funds aside without moving the balance or appending an entry", async () => {
    const account = await fundedAccount(1000);
    const response = await placeHold(account, { amount: 700, currency: "USD", metadata: { order: "A-1" } });
    expect(response.status).toBe(201);
    const hold = await json<HoldJson>(response);
    expect(hold).toMatchObject({ amount: 700, currency: "USD", state: "held", captured: 0, capture: null });
    expect(hold.id).toMatch(/^ho_[0-9a-f]{32}$/);
    expect(response.headers.get("location")).toBe(`/v1/accounts/${account}/holds/${hold.id}`);
    expect(Date.parse(hold.expires) - Date.parse(hold.created)).toBe(HOLD_DEFAULT_EXPIRES_IN_SECONDS * 1000);
    expect(await getAccount(account)).toMatchObject({ balance: 1000, held: 700, available: 300, entry_count: 1 });
    expect(await getHold(account, hold.id)).toEqual(hold);
    await expectLedgerConsistent(account);
  });

  it("keeps held funds from later charges and holds, down to the overdraft", async () => {
    const account = await fundedAccount(1000, 200);
    await heldHold(account, 700);
    await expectProblem(await post(account, "charges", { amount: 501, currency: "USD" }), 402, "insufficient_funds");
    await expectProblem(await placeHold(account, { amount: 501, currency: "USD" }), 402, "insufficient_funds");
    expect((await post(account, "charges", { amount: 500, currency: "USD" })).status).toBe(201);
    expect(await getAccount(account)).toMatchObject({ balance: 500, held: 700, available: 0 });
  });

  it("declines as a charge would, recorded and replayed", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey("hold");
    const declined = await expectReplayed(() => placeHold(account, { amount: 101, currency: "USD" }, key));
    await expectProblem(declined, 402, "insufficient_funds");
    // Final: the funds arriving later do not turn the recorded decline into a hold.
    expect((await post(account, "credits", { amount: 1000, currency: "USD" })).status).toBe(201);
    await expectProblem(await placeHold(account, { amount: 101, currency: "USD" }, key), 402, "insufficient_funds");
    await expectProblem(await placeHold(account, { amount: 1, currency: "EUR" }), 409, "currency_mismatch");
    expect(await getAccount(account)).toMatchObject({ held: 0 });
  });

  it("replays a placed hold byte for byte and sets nothing more aside", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey("hold");
    await expectReplayed(() => placeHold(account, { amount: 300, currency: "USD" }, key));
    expect(await getAccount(account)).toMatchObject({ held: 300 });
    const reused = await placeHold(account, { amount: 301, currency: "USD" }, key);
    await expectProblem(reused, 422, "idempotency_key_reused");
  });

  it("refuses an expires_in outside its limits, changing nothing", async () => {
    const account = await fundedAccount(1000);
    for (const expires_in of [59, HOLD_MAX_EXPIRES_IN_SECONDS + 1, 60.5, "60"]) {
      await expectInvalid(await placeHold(account, { amount: 1, currency: "USD", expires_in }), ["expires_in"]);
    }
    const longest = await heldHold(account, 1, { expires_in: HOLD_MAX_EXPIRES_IN_SECONDS });
    expect(Date.parse(longest.expires) - Date.parse(longest.created)).toBe(HOLD_MAX_EXPIRES_IN_SECONDS * 1000);
    expect(await getAccount(account)).toMatchObject({ held: 1 });
  });
});

describe("capturing a hold", () => {
  it("appends one capture entry naming the hold and releases the rest", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 700, { description: "order A-1" });
    const key = uniqueKey("capture");
    const response = await expectReplayed(() => capture(account, hold.id, { amount: 500 }, key));
    expect(response.status).toBe(201);
    const entry = await json(response);
    expect(entry).toMatchObject({ type: "capture", amount: -500, hold: hold.id, charge: null, balance_after: 500 });
    expect(entry.description).toBe("order A-1");
    expect(response.headers.get("location")).toBe(`/v1/accounts/${account}/holds/${hold.id}`);
    expect(await getAccount(account)).toMatchObject({ balance: 500, held: 0, available: 500, entry_count: 2 });
    expect(await getHold(account, hold.id)).toMatchObject({ state: "captured", captured: 500, capture: entry.id });
    expect((await allEntries(account)).map((e) => e.type)).toEqual(["credit", "capture"]);
    await expectLedgerConsistent(account);
  });

  it("captures the whole hold by default, even when the rest of the balance is spoken for", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 600);
    expect((await post(account, "charges", { amount: 400, currency: "USD" })).status).toBe(201);
    const response = await capture(account, hold.id);
    expect(response.status).toBe(201);
    expect(await json(response)).toMatchObject({ amount: -600, balance_after: 0 });
    expect(await getAccount(account)).toMatchObject({ balance: 0, held: 0, available: 0 });
  });

  it("refuses more than the hold, and leaves it held", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 300);
    const body = await expectProblem(await capture(account, hold.id, { amount: 301 }), 409, "capture_exceeds_hold");
    expect(body.amount_capturable).toBe(300);
    expect(await getHold(account, hold.id)).toMatchObject({ state: "held" });
    expect(await getAccount(account)).toMatchObject({ held: 300 });
  });

  it("answers a hold that is no longer held with a recorded 409 for its state", async () => {
    const account = await fundedAccount(1000);
    const captured = await heldHold(account, 100);
    expect((await capture(account, captured.id)).status).toBe(201);
    const voided = await heldHold(account, 100);
    expect((await voidHold(account, voided.id)).status).toBe(200);
    for (const [hold, code] of [
      [captured, "hold_captured"],
      [voided, "hold_voided"],
    ] as const) {
      const key = uniqueKey("again");
      await expectProblem(await expectReplayed(() => capture(account, hold.id, {}, key)), 409, code);
      await expectProblem(await voidHold(account, hold.id), 409, code);
    }
    await expectProblem(await capture(account, "ho_000000000000000000000000000000ff"), 404, "hold_not_found");
    expect(await getAccount(account)).toMatchObject({ balance: 900, held: 0, entry_count: 2 });
    await expectLedgerConsistent(account);
  });

  it("lets a capture be refunded as a charge is", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 400);
    const entry = await json(await capture(account, hold.id));
    const refund = await post(account, "refunds", { charge: entry.id, amount: 150 });
    expect(refund.status).toBe(201);
    expect(await json(refund)).toMatchObject({ charge: entry.id, amount: 150 });
    await expectProblem(
      await post(account, "refunds", { charge: entry.id, amount: 251 }),
      409,
      "refund_exceeds_charge",
    );
    await expectProblem(await post(account, "refunds", { charge: hold.id }), 404, "charge_not_found");
    await expectLedgerConsistent(account);
  });
});

describe("voiding a hold", () => {
  it("releases all of it, appends no entry, and replays", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 700);
    const key = uniqueKey("void");
    const response = await expectReplayed(() => voidHold(account, hold.id, key));
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ id: hold.id, state: "voided", captured: 0 });
    expect(await getAccount(account)).toMatchObject({ balance: 1000, held: 0, available: 1000, entry_count: 1 });
    const reused = await call(`/v1/accounts/${account}/holds/${hold.id}/voids`, {
      method: "POST",
      body: { reason: "x" },
      idempotencyKey: uniqueKey(),
    });
    await expectInvalid(reused, ["reason"]);
  });
});

describe("expiry", () => {
  it("is released by the alarm at its expires, once", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 700, { expires_in: 60 });
    const other = await heldHold(account, 100, { expires_in: 3600 });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(hold.expires));
    expect(await runDurableObjectAlarm(ledgerStub(account))).toBe(true);
    const expired = await getHold(account, hold.id);
    expect(expired).toMatchObject({ state: "expired", captured: 0, resolved: hold.expires });
    expect(await getHold(account, other.id)).toMatchObject({ state: "held" });
    expect(await getAccount(account)).toMatchObject({ balance: 1000, held: 100, available: 900, entry_count: 1 });
    // A second alarm run (the platform retries) changes nothing more.
    await runDurableObjectAlarm(ledgerStub(account));
    expect(await getHold(account, hold.id)).toEqual(expired);
    await expectProblem(await capture(account, hold.id), 409, "hold_expired");
    await expectLedgerConsistent(account);
  });

  it("wins over a capture sent after expires but before the alarm ran, and the alarm then finds nothing", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 700, { expires_in: 60 });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(hold.expires) + 1);
    const key = uniqueKey("late");
    await expectProblem(await expectReplayed(() => capture(account, hold.id, {}, key)), 409, "hold_expired");
    expect(await getHold(account, hold.id)).toMatchObject({ state: "expired" });
    expect(await getAccount(account)).toMatchObject({ balance: 1000, held: 0 });
    await runDurableObjectAlarm(ledgerStub(account));
    expect(await getHold(account, hold.id)).toMatchObject({ state: "expired", resolved: expect.any(String) });
    await expectLedgerConsistent(account);
  });

  it("is applied before a charge that needs the funds, though the alarm has not run", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 700, { expires_in: 60 });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(hold.expires));
    expect((await post(account, "charges", { amount: 1000, currency: "USD" })).status).toBe(201);
    expect(await getHold(account, hold.id)).toMatchObject({ state: "expired" });
    expect(await getAccount(account)).toMatchObject({ balance: 0, held: 0 });
  });

  it("survives the object's restart: what is held is read back from storage", async () => {
    const account = await fundedAccount(1000);
    const hold = await heldHold(account, 250, { expires_in: 120 });
    const stored = await inLedger(account, (storage) =>
      storage.sql
        .exec<{ held: number; due: number }>(
          "SELECT SUM(amount) AS held, MIN(expires_ms) AS due FROM holds WHERE state = 'held'",
        )
        .one(),
    );
    expect(stored).toEqual({ held: 250, due: Date.parse(hold.expires) });
    expect(await inLedger(account, (storage) => storage.getAlarm())).toBeLessThanOrEqual(Date.parse(hold.expires));
  });
});

describe("listing holds", () => {
  it("pages oldest first with starting_after, each as it is now", async () => {
    const account = await fundedAccount(1000);
    const holds = [await heldHold(account, 1), await heldHold(account, 2), await heldHold(account, 3)];
    expect((await voidHold(account, holds[1]?.id ?? "")).status).toBe(200);
    const first = await json<{ data: HoldJson[]; has_more: boolean }>(
      await call(`/v1/accounts/${account}/holds?limit=2`),
    );
    expect(first.data.map((hold) => [hold.amount, hold.state])).toEqual([
      [1, "held"],
      [2, "voided"],
    ]);
    expect(first.has_more).toBe(true);
    const rest = await json<{ data: HoldJson[]; has_more: boolean }>(
      await call(`/v1/accounts/${account}/holds?starting_after=${first.data[1]?.id ?? ""}`),
    );
    expect(rest).toEqual({ data: [await getHold(account, holds[2]?.id ?? "")], has_more: false });
    await expectInvalid(
      await call(`/v1/accounts/${account}/holds?starting_after=ho_000000000000000000000000000000ff`),
      ["starting_after"],
    );
  });
});
