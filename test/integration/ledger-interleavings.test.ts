import { evictDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allEntries,
  expectLedgerConsistent,
  getAccount,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
} from "../support/api.ts";
import { records } from "../support/storage.ts";

/**
 * Concurrency against one account: batches of requests run at once (new
 * credits, charges and refunds, several copies of one key racing each other,
 * and retries of keys from earlier batches), with the object sometimes
 * evicted between batches. Whatever order the object happened to commit
 * them in, the ledger must be exactly what a simple sequential model gives
 * when it applies each distinct key once, in that commit order.
 */

const OVERDRAFT = 500;
/** A refund of a charge that no earlier batch confirmed: well-formed, but no such charge. */
const MISSING_CHARGE = `ch_${"0".repeat(32)}`;

type Kind = "credits" | "charges" | "refunds";

type NewOp =
  | { readonly kind: "credits"; readonly amount: number }
  | { readonly kind: "charges"; readonly amount: number }
  | { readonly kind: "refunds"; readonly target: number; readonly amount: number | undefined };

type Step =
  | { readonly type: "new"; readonly op: NewOp; readonly copies: number }
  | { readonly type: "retry"; readonly of: number };

const newOpArb: fc.Arbitrary<NewOp> = fc.oneof(
  fc.record({ kind: fc.constant("credits" as const), amount: fc.integer({ min: 1, max: 2000 }) }),
  // Often more than balance + overdraft allows, so charges are declined regularly.
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("charges" as const), amount: fc.integer({ min: 1, max: 3000 }) }),
  },
  fc.record({
    kind: fc.constant("refunds" as const),
    target: fc.nat(50),
    // Undefined refunds the rest; large amounts are often more than is left.
    amount: fc.option(fc.integer({ min: 1, max: 3500 }), { nil: undefined }),
  }),
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ type: fc.constant("new" as const), op: newOpArb, copies: fc.constantFrom(0, 0, 1, 2) }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("retry" as const), of: fc.nat(200) }) },
);

const batchArb = fc.record({
  steps: fc.array(stepArb, { minLength: 1, maxLength: 8 }),
  /** The order the batch's requests start in: copies race their original anywhere in the batch. */
  ranks: fc.array(fc.nat(1000), { minLength: 32, maxLength: 32 }),
  /** Evict the account's object after this batch. */
  evictAfter: fc.boolean(),
});

interface Sent {
  readonly key: string;
  readonly kind: Kind;
  readonly body: Record<string, unknown>;
  readonly responses: { status: number; text: string; replayed: string | null }[];
}

interface ModelCharge {
  readonly id: string;
  readonly amount: number;
  refunded: number;
}

describe("concurrent batches against one account", () => {
  it("answer each key once, byte for byte, and leave the ledger the model predicts in commit order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2000 }),
        fc.array(batchArb, { minLength: 2, maxLength: 5 }),
        async (opening, batches) => {
          const account = uniqueAccount();
          await openAccount(account, { currency: "USD", overdraft_limit: OVERDRAFT });
          const sent = new Map<string, Sent>();
          /** Charges confirmed (201) by an earlier batch, as the responses said. */
          const confirmedCharges: string[] = [];

          const send = async (entry: Sent) => {
            const response = await post(account, entry.kind, entry.body, entry.key);
            entry.responses.push({
              status: response.status,
              text: await response.text(),
              replayed: response.headers.get("idempotent-replayed"),
            });
          };
          const fresh = (kind: Kind, body: Record<string, unknown>): Sent => {
            const entry: Sent = { key: `k${sent.size}-${crypto.randomUUID()}`, kind, body, responses: [] };
            sent.set(entry.key, entry);
            return entry;
          };

          if (opening > 0) await send(fresh("credits", { amount: opening, currency: "USD" }));

          for (const batch of batches) {
            const earlier = [...sent.values()];
            const calls: Sent[] = [];
            const created: Sent[] = [];
            for (const step of batch.steps) {
              if (step.type === "retry") {
                const target = earlier[step.of % Math.max(earlier.length, 1)];
                if (target !== undefined) calls.push(target);
                continue;
              }
              const { op } = step;
              let body: Record<string, unknown>;
              if (op.kind === "refunds") {
                const charge = confirmedCharges[op.target % Math.max(confirmedCharges.length, 1)] ?? MISSING_CHARGE;
                body = op.amount === undefined ? { charge } : { charge, amount: op.amount };
              } else {
                body = { amount: op.amount, currency: "USD" };
              }
              const entry = fresh(op.kind, body);
              created.push(entry);
              for (let copy = 0; copy <= step.copies; copy += 1) calls.push(entry);
            }
            const order = calls.map((entry, i) => ({ entry, rank: batch.ranks[i] ?? i }));
            order.sort((a, b) => a.rank - b.rank);
            await Promise.all(order.map(({ entry }) => send(entry)));

            for (const entry of created) {
              const first = entry.responses[0];
              if (entry.kind === "charges" && first?.status === 201) {
                confirmedCharges.push((JSON.parse(first.text) as { id: string }).id);
              }
            }

            if (batch.evictAfter) {
              const before = { account: await getAccount(account), entries: await allEntries(account) };
              await evictDurableObject(ledgerStub(account));
              // A fresh instance reads everything back from storage.
              expect({ account: await getAccount(account), entries: await allEntries(account) }).toEqual(before);
            }
          }

          // (a) The audit: balance is the sum of entries, seq gapless, refunds within their charges.
          const audit = await expectLedgerConsistent(account);

          // (b) Every answer for a key is the first one, byte for byte; exactly one was not a replay.
          for (const entry of sent.values()) {
            const [first] = entry.responses;
            expect(first).toBeDefined();
            for (const response of entry.responses) {
              expect({ status: response.status, text: response.text }).toEqual({
                status: first?.status,
                text: first?.text,
              });
            }
            const fresh = entry.responses.filter((response) => response.replayed === "false");
            const replays = entry.responses.filter((response) => response.replayed === "true");
            expect({ fresh: fresh.length, replays: replays.length }).toEqual({
              fresh: 1,
              replays: entry.responses.length - 1,
            });
          }

          // (c) The model, applied once per distinct key in the order the object committed them.
          // Key rows are in decision (pos) order; a money-moving one names its entry.
          const committed = await records(account);
          const entries = await allEntries(account);
          const entryBySeq = new Map(entries.map((entry) => [entry.seq, entry]));
          expect(committed.map((row) => row.key).sort()).toEqual([...sent.keys()].sort());
          let balance = 0;
          const charges = new Map<string, ModelCharge>();
          const applied = new Set<string>();
          for (const row of committed) {
            const entry = sent.get(row.key);
            if (entry === undefined) throw new Error(`record for a key never sent: ${row.key}`);
            const first = entry.responses[0];
            const moved = first?.status === 201;
            const stored = row.entry_seq === null ? undefined : entryBySeq.get(row.entry_seq);
            // A decline's answer is stored as sent; a 201's is rendered from the entry the row names.
            expect({ key: row.key, status: row.status, body: row.body, entryKey: stored?.idempotency_key }).toEqual({
              key: row.key,
              status: first?.status,
              body: moved ? null : first?.text,
              entryKey: moved ? row.key : undefined,
            });
            const predicted = predict(entry, balance, charges);
            const view = JSON.parse(first?.text ?? "null") as {
              id?: string;
              amount?: number;
              balance_after?: number;
              code?: string;
            };
            expect({ key: row.key, kind: entry.kind, status: row.status }).toEqual({
              key: row.key,
              kind: entry.kind,
              status: predicted.status,
            });
            if (predicted.status !== 201) {
              expect(view.code).toBe(predicted.code);
              continue;
            }
            balance += predicted.delta;
            expect({ amount: view.amount, balance_after: view.balance_after }).toEqual({
              amount: Math.abs(predicted.delta),
              balance_after: balance,
            });
            expect({ id: stored?.id, balance_after: stored?.balance_after }).toEqual({
              id: view.id,
              balance_after: balance,
            });
            applied.add(row.key);
            if (entry.kind === "charges" && view.id !== undefined) {
              charges.set(view.id, { id: view.id, amount: -predicted.delta, refunded: 0 });
            }
            if (entry.kind === "refunds") {
              const charge = charges.get(String(entry.body.charge));
              if (charge !== undefined) charge.refunded += predicted.delta;
            }
          }

          const view = await getAccount(account);
          expect(view.balance).toBe(balance);
          expect(audit.balance).toBe(balance);
          expect(view.entry_count).toBe(applied.size);
          expect(entries.map((entry) => entry.idempotency_key).sort()).toEqual([...applied].sort());
          expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, i) => i + 1));
        },
      ),
      { numRuns: 15 },
    );
  }, 120_000);
});

/** What a sequential ledger answers to `entry` given the state so far. */
function predict(
  entry: Sent,
  balance: number,
  charges: ReadonlyMap<string, ModelCharge>,
): { status: 201; delta: number } | { status: 402 | 404 | 409; code: string } {
  if (entry.kind === "credits") return { status: 201, delta: Number(entry.body.amount) };
  if (entry.kind === "charges") {
    const amount = Number(entry.body.amount);
    if (balance - amount < -OVERDRAFT) return { status: 402, code: "insufficient_funds" };
    return { status: 201, delta: -amount };
  }
  const charge = charges.get(String(entry.body.charge));
  if (charge === undefined) return { status: 404, code: "charge_not_found" };
  const rest = charge.amount - charge.refunded;
  const amount = entry.body.amount === undefined ? rest : Number(entry.body.amount);
  if (amount === 0 || amount > rest) return { status: 409, code: "refund_exceeds_charge" };
  return { status: 201, delta: amount };
}
