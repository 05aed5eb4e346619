import { evictDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allEntries,
  expectLedgerConsistent,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  post,
  uniqueKey,
} from "../support/api.ts";

/**
 * Random sequences of credits, charges and refunds, with retries of earlier
 * keys mixed in, against a simple model applied once per distinct key.
 */

type Op =
  | { kind: "credits"; amount: number }
  | { kind: "charges"; amount: number }
  | { kind: "refunds"; chargeIndex: number; amount: number | undefined };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("credits" as const), amount: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({ kind: fc.constant("charges" as const), amount: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({
    kind: fc.constant("refunds" as const),
    chargeIndex: fc.nat(20),
    amount: fc.option(fc.integer({ min: 1, max: 3000 }), { nil: undefined }),
  }),
);

const stepArb = fc.record({ op: opArb, retryOf: fc.option(fc.nat(100), { nil: undefined }) });

interface Model {
  balance: number;
  charges: { id: string; amount: number; refunded: number }[];
}

describe("ledger invariants under random operations and retries", () => {
  it("balance is the sum of gapless entries, and equals the model applied once per key", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 5, maxLength: 40 }), async (steps) => {
        const overdraft = 2000;
        const account = await fundedAccount(0, overdraft);
        const model: Model = { balance: 0, charges: [] };
        const sent: { key: string; body: Record<string, unknown>; kind: Op["kind"]; response: string }[] = [];

        for (const [index, step] of steps.entries()) {
          const earlier = step.retryOf === undefined ? undefined : sent[step.retryOf % Math.max(sent.length, 1)];
          if (earlier !== undefined) {
            const replay = await post(account, earlier.kind, earlier.body, earlier.key);
            expect(replay.headers.get("idempotent-replayed")).toBe("true");
            expect(await replay.text()).toBe(earlier.response);
            continue;
          }
          const { op } = step;
          const key = `k${index}-${crypto.randomUUID()}`;
          let body: Record<string, unknown>;
          if (op.kind === "refunds") {
            const target = model.charges[op.chargeIndex % Math.max(model.charges.length, 1)];
            body = { charge: target?.id ?? "ch_missing", ...(op.amount === undefined ? {} : { amount: op.amount }) };
          } else {
            body = { amount: op.amount, currency: "USD" };
          }
          const response = await post(account, op.kind, body, key);
          const text = await response.clone().text();
          sent.push({ key, body, kind: op.kind, response: text });
          applyToModel(model, op, body, response.status, await json(response), overdraft);
        }

        const audit = await expectLedgerConsistent(account);
        expect(audit.balance).toBe(model.balance);
        const entries = await allEntries(account);
        expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, i) => i + 1));
        expect(entries.reduce((sum, entry) => sum + entry.amount, 0)).toBe((await getAccount(account)).balance);
        expect(new Set(entries.map((entry) => entry.idempotency_key)).size).toBe(entries.length);
      }),
      { numRuns: 12 },
    );
  }, 120_000);
});

function applyToModel(
  model: Model,
  op: Op,
  body: Record<string, unknown>,
  status: number,
  result: Record<string, unknown>,
  overdraft: number,
) {
  if (op.kind === "credits") {
    expect(status).toBe(201);
    model.balance += op.amount;
  } else if (op.kind === "charges") {
    const allowed = model.balance - op.amount >= -overdraft;
    expect(status).toBe(allowed ? 201 : 402);
    if (allowed) {
      model.balance -= op.amount;
      model.charges.push({ id: String(result.id), amount: op.amount, refunded: 0 });
    }
  } else {
    const charge = model.charges.find((c) => c.id === body.charge);
    if (charge === undefined) {
      expect(status).toBe(404);
      return;
    }
    const rest = charge.amount - charge.refunded;
    const amount = op.amount ?? rest;
    const allowed = amount > 0 && amount <= rest;
    expect(status).toBe(allowed ? 201 : 409);
    if (allowed) {
      charge.refunded += amount;
      model.balance += amount;
    }
  }
}

describe("durability across eviction", () => {
  it("an evicted object re-reads everything from storage: balance, entries and replays", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const charge = await post(account, "charges", { amount: 300, currency: "USD" }, key);
    const original = await charge.text();
    const before = await allEntries(account);

    await evictDurableObject(ledgerStub(account));

    expect(await allEntries(account)).toEqual(before);
    expect((await getAccount(account)).balance).toBe(700);
    const replay = await post(account, "charges", { amount: 300, currency: "USD" }, key);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(original);
    await expectLedgerConsistent(account);
  });
});
