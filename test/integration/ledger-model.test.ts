import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  call,
  expectLedgerConsistent,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";

/**
 * Holds, captures, voids, expiries and transfers over a few accounts, at
 * random, against a model of what each should answer and leave behind,
 * with time moved forward. Time is pinned a day ahead of the runtime's
 * clock, so the objects' own alarms never fire by themselves: a transfer is
 * delivered exactly when the sequence says, and every answer is determined.
 */

type Op =
  | { kind: "charge"; account: number; amount: number }
  | { kind: "credit"; account: number; amount: number }
  | { kind: "hold"; account: number; amount: number; expiresIn: number }
  | { kind: "capture"; hold: number; amount: number | null }
  | { kind: "void"; hold: number }
  | { kind: "transfer"; from: number; to: number; amount: number }
  | { kind: "deliver"; account: number }
  | { kind: "advance"; seconds: number };

/** Accounts 0-2 are open in USD, 3 in EUR, 4 never opened. */
const OPEN = 3;
const ACCOUNTS = 5;

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("charge" as const),
    account: fc.nat(OPEN - 1),
    amount: fc.integer({ min: 1, max: 400 }),
  }),
  fc.record({
    kind: fc.constant("credit" as const),
    account: fc.nat(OPEN - 1),
    amount: fc.integer({ min: 1, max: 400 }),
  }),
  fc.record({
    kind: fc.constant("hold" as const),
    account: fc.nat(OPEN - 1),
    amount: fc.integer({ min: 1, max: 400 }),
    expiresIn: fc.integer({ min: 60, max: 600 }),
  }),
  fc.record({
    kind: fc.constant("capture" as const),
    hold: fc.nat(20),
    amount: fc.option(fc.integer({ min: 1, max: 450 }), { nil: null }),
  }),
  fc.record({ kind: fc.constant("void" as const), hold: fc.nat(20) }),
  fc.record({
    kind: fc.constant("transfer" as const),
    from: fc.nat(OPEN - 1),
    to: fc.nat(ACCOUNTS - 1),
    amount: fc.integer({ min: 1, max: 400 }),
  }),
  fc.record({ kind: fc.constant("deliver" as const), account: fc.nat(OPEN - 1) }),
  fc.record({ kind: fc.constant("advance" as const), seconds: fc.integer({ min: 1, max: 400 }) }),
);

interface ModelHold {
  id: string;
  account: number;
  amount: number;
  expiresMs: number;
  state: "held" | "captured" | "voided" | "expired";
}

interface ModelTransfer {
  id: string;
  from: number;
  to: number;
  amount: number;
  state: "pending" | "posted" | "voided";
}

class Model {
  readonly balances = [1000, 1000, 1000, 0, 0];
  readonly holds: ModelHold[] = [];
  readonly transfers: ModelTransfer[] = [];
  nowMs: number;

  constructor(nowMs: number) {
    this.nowMs = nowMs;
  }

  /** What holds and pending transfers set aside on `account`, expiring what is due as the object does first. */
  held(account: number): number {
    this.expire();
    const holds = this.holds.filter((h) => h.account === account && h.state === "held");
    const transfers = this.transfers.filter((t) => t.from === account && t.state === "pending");
    return [...holds, ...transfers].reduce((sum, item) => sum + item.amount, 0);
  }

  available(account: number): number {
    return (this.balances[account] ?? 0) - this.held(account);
  }

  expire(): void {
    for (const hold of this.holds) if (hold.state === "held" && hold.expiresMs <= this.nowMs) hold.state = "expired";
  }
}

async function post(path: string, body: unknown): Promise<Response> {
  return call(path, { method: "POST", body, idempotencyKey: uniqueKey() });
}

afterEach(() => {
  vi.useRealTimers();
});

describe("holds and transfers against a model", () => {
  it("answer and leave what the model says, in any order, with time moving", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
        vi.setSystemTime(Date.now() + 86_400_000);
        const names = Array.from({ length: ACCOUNTS }, () => uniqueAccount("model"));
        const model = new Model(Date.now());
        for (let i = 0; i < OPEN; i += 1) {
          await openAccount(names[i] as string);
          expect((await post(`/v1/accounts/${names[i] ?? ""}/credits`, { amount: 1000, currency: "USD" })).status).toBe(
            201,
          );
        }
        await openAccount(names[OPEN] as string, { currency: "EUR" });
        for (const step of ops) await apply(step, names, model);
        for (let i = 0; i < ACCOUNTS - 1; i += 1) {
          const name = names[i] as string;
          expect(await getAccount(name), `account ${String(i)}`).toMatchObject({
            balance: model.balances[i],
            held: model.held(i),
          });
          await expectLedgerConsistent(name);
        }
        for (const hold of model.holds) {
          const stored = await json(await call(`/v1/accounts/${names[hold.account] ?? ""}/holds/${hold.id}`));
          expect(stored.state, hold.id).toBe(hold.state);
        }
        for (const transfer of model.transfers) {
          const stored = await json(await call(`/v1/accounts/${names[transfer.from] ?? ""}/transfers/${transfer.id}`));
          expect(stored.state, transfer.id).toBe(transfer.state);
        }
      }),
      { numRuns: 15 },
    );
  }, 120_000);
});

async function apply(step: Op, names: readonly string[], model: Model): Promise<void> {
  const at = (i: number) => `/v1/accounts/${names[i] ?? ""}`;
  switch (step.kind) {
    case "advance":
      model.nowMs += step.seconds * 1000;
      vi.setSystemTime(model.nowMs);
      return;
    case "credit": {
      const response = await post(`${at(step.account)}/credits`, { amount: step.amount, currency: "USD" });
      expect(response.status).toBe(201);
      model.balances[step.account] = (model.balances[step.account] ?? 0) + step.amount;
      return;
    }
    case "charge": {
      const ok = step.amount <= model.available(step.account);
      const response = await post(`${at(step.account)}/charges`, { amount: step.amount, currency: "USD" });
      expect(response.status, JSON.stringify(step)).toBe(ok ? 201 : 402);
      if (ok) model.balances[step.account] = (model.balances[step.account] ?? 0) - step.amount;
      return;
    }
    case "hold": {
      const ok = step.amount <= model.available(step.account);
      const body = { amount: step.amount, currency: "USD", expires_in: step.expiresIn };
      const response = await post(`${at(step.account)}/holds`, body);
      expect(response.status, JSON.stringify(step)).toBe(ok ? 201 : 402);
      if (ok) {
        const { id } = await json<{ id: string }>(response);
        model.holds.push({
          id,
          account: step.account,
          amount: step.amount,
          expiresMs: model.nowMs + step.expiresIn * 1000,
          state: "held",
        });
      }
      return;
    }
    case "capture":
    case "void": {
      const hold = model.holds[step.hold % Math.max(1, model.holds.length)];
      if (hold === undefined) return;
      model.expire();
      const amount = step.kind === "capture" ? (step.amount ?? hold.amount) : 0;
      const path = `${at(hold.account)}/holds/${hold.id}/${step.kind === "capture" ? "captures" : "voids"}`;
      const body = step.kind === "capture" && step.amount !== null ? { amount: step.amount } : {};
      const response = await post(path, body);
      const code =
        hold.state === "held" ? (amount > hold.amount ? "capture_exceeds_hold" : null) : `hold_${hold.state}`;
      if (code !== null) {
        expect(response.status, JSON.stringify(step)).toBe(409);
        expect((await json(response)).code).toBe(code);
        return;
      }
      expect(response.status, JSON.stringify(step)).toBe(step.kind === "capture" ? 201 : 200);
      hold.state = step.kind === "capture" ? "captured" : "voided";
      if (step.kind === "capture") model.balances[hold.account] = (model.balances[hold.account] ?? 0) - amount;
      return;
    }
    case "transfer": {
      const self = step.from === step.to;
      const ok = !self && step.amount <= model.available(step.from);
      const response = await post(`${at(step.from)}/transfers`, {
        to: names[step.to],
        amount: step.amount,
        currency: "USD",
      });
      expect(response.status, JSON.stringify(step)).toBe(self ? 409 : ok ? 201 : 402);
      if (ok) {
        const { id } = await json<{ id: string }>(response);
        model.transfers.push({ id, from: step.from, to: step.to, amount: step.amount, state: "pending" });
      }
      return;
    }
    case "deliver": {
      await runInDurableObject(ledgerStub(names[step.account] as string), (instance) => instance.alarm());
      // The alarm delivers every pending transfer due (at most 100 a run; a sequence makes fewer).
      for (const transfer of model.transfers) {
        if (transfer.from !== step.account || transfer.state !== "pending") continue;
        const refused = transfer.to >= OPEN;
        transfer.state = refused ? "voided" : "posted";
        if (refused) continue;
        model.balances[transfer.from] = (model.balances[transfer.from] ?? 0) - transfer.amount;
        model.balances[transfer.to] = (model.balances[transfer.to] ?? 0) + transfer.amount;
      }
      return;
    }
  }
}
