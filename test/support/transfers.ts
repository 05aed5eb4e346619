import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { Outcome } from "../../src/contract/outcome.ts";
import type { MoneyRequest } from "../../src/contract/requests.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { legRequest } from "../../src/ledger/transfer-operations.ts";
import { findTransfer } from "../../src/ledger/transfer-store.ts";
import { call, getAccount, json, ledgerStub, uniqueKey } from "./api.ts";
import { inLedger } from "./storage.ts";

/**
 * Helpers of the transfer tests: sending one, reading it, running the
 * source's alarm until it settles, pointing the source's deliveries through
 * a fault, and sending a leg again as the source would.
 */

export interface TransferJson {
  id: string;
  from: string;
  to: string;
  amount: number;
  state: string;
  reason: string | null;
  resolved: string | null;
}

export function transfer(from: string, body: Record<string, unknown>, key: string = uniqueKey("transfer")) {
  return call(`/v1/accounts/${from}/transfers`, { method: "POST", body, idempotencyKey: key });
}

export async function pendingTransfer(from: string, to: string, amount: number): Promise<TransferJson> {
  const response = await transfer(from, { to, amount, currency: "USD" });
  expect(response.status).toBe(201);
  return json<TransferJson>(response);
}

export async function getTransfer(from: string, id: string): Promise<TransferJson> {
  const response = await call(`/v1/accounts/${from}/transfers/${id}`);
  expect(response.status).toBe(200);
  return json<TransferJson>(response);
}

/** Runs the source's alarm handler in the object (as the runtime does, without deleting the alarm). */
export function runAlarm(account: string): Promise<void> {
  return runInDurableObject(ledgerStub(account), (instance) => instance.alarm());
}

/** Runs the source's alarm until the transfer leaves `pending` (the runtime may run it meanwhile too). */
export async function settled(from: string, id: string, runs = 5): Promise<TransferJson> {
  for (let run = 0; run < runs; run += 1) {
    const now = await getTransfer(from, id);
    if (now.state !== "pending") return now;
    await runAlarm(from);
  }
  return getTransfer(from, id);
}

/** Sums balances: what conservation compares with the money that came in from outside. */
export async function totalBalance(accounts: readonly string[]): Promise<number> {
  let total = 0;
  for (const account of accounts) total += ((await getAccount(account)) as { balance: number }).balance;
  return total;
}

export type LegCall = (request: MoneyRequest, real: () => Promise<Outcome>) => Promise<Outcome>;

/** Points the source's ACCOUNTS binding at one whose receiveTransfer goes through `leg` (the real call is `real`). */
export function wrapDeliveries(from: string, leg: LegCall): Promise<void> {
  return runInDurableObject(ledgerStub(from), (instance) => {
    const object = instance as unknown as { env: Env };
    const accounts = env.ACCOUNTS;
    const wrapped = {
      getByName: (name: string) => {
        const stub = accounts.getByName(name);
        return { receiveTransfer: (request: MoneyRequest) => leg(request, () => stub.receiveTransfer(request)) };
      },
    };
    object.env = { ...object.env, ACCOUNTS: wrapped as unknown as Env["ACCOUNTS"] };
  });
}

export function restoreDeliveries(from: string): Promise<void> {
  return wrapDeliveries(from, (_request, real) => real());
}

/** Sends a transfer's leg again, as its source would, and returns the destination's answer. */
export async function redeliver(from: string, to: string, id: string): Promise<Outcome> {
  const request = await inLedger(from, (storage) => {
    const row = findTransfer(new CountedSql(storage.sql), id);
    if (row === null) throw new Error(`no transfer ${id}`);
    return legRequest(from, "USD", row, 99);
  });
  return ledgerStub(to).receiveTransfer(request);
}
