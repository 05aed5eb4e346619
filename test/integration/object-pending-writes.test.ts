import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_PENDING_OPERATIONS, MAX_PENDING_WRITE_BYTES } from "../../src/domain/limits.ts";
import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import type { MoneyRequest } from "../../src/contract/requests.ts";
import type { Outcome } from "../../src/contract/outcome.ts";
import { requestBytes } from "../../src/ledger/pending-writes.ts";
import { ledgerStub, openAccount, uniqueAccount } from "../support/api.ts";

/**
 * What the writes waiting for an account's next commit may hold: past a
 * limit, a write is refused as overloaded (503, retryable) and recorded
 * nowhere. The writes are handed to the object in one turn, so all of them
 * wait for the same commit. The account is never funded: every admitted
 * charge is a decline, which keeps deciding them cheap.
 */

/** A charge whose description is `padding` ASCII characters, `i` fixing its key (so every size is known). */
function charge(i: number, padding: number): MoneyRequest {
  const id = String(i).padStart(6, "0");
  return {
    requestId: `pending-request-${id}`,
    idempotencyKey: `pending-key-${id}`,
    fingerprint: "f".repeat(64),
    origin: { requestId: `pending-request-${id}`, keyId: "pending" },
    interfaceVersion: OBJECT_INTERFACE_VERSION,
    // Only the size counts here, so the description stands for whatever a request carries.
    command: { type: "charge", input: { amount: 1, currency: "USD", description: "d".repeat(padding) } },
  };
}

async function unfundedAccount(): Promise<string> {
  const account = uniqueAccount();
  await openAccount(account);
  return account;
}

function codeOf(outcome: Outcome): string | null {
  return outcome.status < 400 ? null : (JSON.parse(outcome.body) as { code: string }).code;
}

describe("writes waiting for an account's next commit", () => {
  it(`hold at most ${MAX_PENDING_WRITE_BYTES} bytes: a write that would go over is refused, one that fills them exactly is admitted`, async () => {
    const account = await unfundedAccount();
    const base = requestBytes(charge(0, 0));
    const filler = base + 16_000;
    const fillers = Math.floor((MAX_PENDING_WRITE_BYTES - base) / filler);
    // What the fillers leave, filled by the edge write to the byte: at least an empty charge.
    const edgePadding = MAX_PENDING_WRITE_BYTES - fillers * filler - base;
    expect(requestBytes(charge(fillers + 1, edgePadding)) + fillers * filler).toBe(MAX_PENDING_WRITE_BYTES);

    const { over, edge, after, decided } = await runInDurableObject(
      ledgerStub(account),
      async (instance: AccountLedger) => {
        const waiting = Array.from({ length: fillers }, (_, i) => instance.moveMoney(charge(i, 16_000)));
        const overOne = instance.moveMoney(charge(fillers, edgePadding + 1));
        const atEdge = instance.moveMoney(charge(fillers + 1, edgePadding));
        const afterEdge = instance.moveMoney(charge(fillers + 2, 0));
        return {
          over: await overOne,
          edge: await atEdge,
          after: await afterEdge,
          decided: await Promise.all(waiting),
        };
      },
    );
    console.log(
      `${fillers} writes of ${filler} bytes and one of ${base + edgePadding} fill ${MAX_PENDING_WRITE_BYTES} bytes`,
    );
    expect([over.status, codeOf(over)]).toEqual([503, "overloaded"]);
    expect([after.status, codeOf(after)]).toEqual([503, "overloaded"]);
    expect(codeOf(edge)).toBe("insufficient_funds");
    expect(new Set(decided.map(codeOf))).toEqual(new Set(["insufficient_funds"]));
    // A refused write was never queued: its key is unused, and a retry is decided.
    const lookup = await runInDurableObject(ledgerStub(account), (instance: AccountLedger) =>
      instance.lookupIdempotencyKey(charge(fillers, 0).idempotencyKey),
    );
    expect(codeOf(lookup)).toBe("idempotency_key_not_found");
    const retried = await runInDurableObject(ledgerStub(account), (instance: AccountLedger) =>
      instance.moveMoney(charge(fillers, edgePadding + 1)),
    );
    expect(codeOf(retried)).toBe("insufficient_funds");
  });

  it(`hold at most ${MAX_PENDING_OPERATIONS} operations, however few writes carry them`, async () => {
    const account = await unfundedAccount();
    const batch = (first: number, size: number) => Array.from({ length: size }, (_, i) => charge(first + i, 0));
    const batches = Math.floor(MAX_PENDING_OPERATIONS / 1000);
    const { over, edge, after, decided } = await runInDurableObject(
      ledgerStub(account),
      async (instance: AccountLedger) => {
        const waiting = Array.from({ length: batches - 1 }, (_, b) => instance.moveMoneyInBatch(batch(b * 1000, 1000)));
        const last = (batches - 1) * 1000;
        waiting.push(instance.moveMoneyInBatch(batch(last, 999)));
        const overOne = instance.moveMoneyInBatch(batch(last + 999, 2));
        const atEdge = instance.moveMoney(charge(last + 1001, 0));
        const afterEdge = instance.moveMoney(charge(last + 1002, 0));
        return {
          over: await overOne,
          edge: await atEdge,
          after: await afterEdge,
          decided: await Promise.all(waiting),
        };
      },
    );
    expect(over.ok ? null : [over.error.status, codeOf(over.error)]).toEqual([503, "overloaded"]);
    expect(codeOf(edge)).toBe("insufficient_funds");
    expect([after.status, codeOf(after)]).toEqual([503, "overloaded"]);
    const codes = decided.flatMap((result) => (result.ok ? result.value.map(codeOf) : [codeOf(result.error)]));
    expect(codes).toHaveLength(MAX_PENDING_OPERATIONS - 1);
    expect(new Set(codes)).toEqual(new Set(["insufficient_funds"]));
  });
});
