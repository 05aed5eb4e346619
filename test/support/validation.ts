import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { ACME_KEY, BASE_URL, call, expectProblem, getAccount, ledgerStub, post } from "./api.ts";

/**
 * Helpers for the request-validation tests (test/integration/http-*.test.ts):
 * body size, media type, Idempotency-Key, JSON syntax and schema, checked in
 * that order, each limit at both edges, and every rejection shown to have
 * changed nothing.
 */

export const encoder = new TextEncoder();
export const EMOJI = "\u{1F600}"; // one code point, two UTF-16 units, four UTF-8 bytes

type RawBody = string | Uint8Array | ReadableStream<Uint8Array>;

interface SendOptions {
  method?: string;
  key?: string | null;
  idempotencyKey?: string | null;
  /** Defaults to application/json; null sends none. */
  contentType?: string | null;
  body?: RawBody;
}

/** Sends a body exactly as given (bytes, stream or text), unlike `call`, which serialises JSON. */
export function send(path: string, options: SendOptions = {}): Promise<Response> {
  const headers = new Headers();
  const key = options.key === undefined ? ACME_KEY : options.key;
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  if (options.idempotencyKey != null) headers.set("idempotency-key", options.idempotencyKey);
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (contentType !== null) headers.set("content-type", contentType);
  return exports.default.fetch(`${BASE_URL}${path}`, { method: options.method ?? "POST", headers, body: options.body });
}

export const credit = (amount = 100) => ({ amount, currency: "USD" });

/**
 * Proves a rejected request recorded nothing: the account is as it was, and
 * (given the key the rejected request carried) the same key still moves
 * money for the first time.
 */
export async function expectUnchanged(
  account: string,
  before: { balance: number; entry_count: number },
  reusableKey: string | null,
): Promise<void> {
  const now = await getAccount(account);
  expect({ balance: now.balance, entry_count: now.entry_count }).toEqual({
    balance: before.balance,
    entry_count: before.entry_count,
  });
  if (reusableKey === null) return;
  const retry = await post(account, "credits", credit(7), reusableKey);
  expect(retry.status).toBe(201);
  expect(retry.headers.get("idempotent-replayed")).toBe("false");
  const after = await getAccount(account);
  expect({ balance: after.balance, entry_count: after.entry_count }).toEqual({
    balance: before.balance + 7,
    entry_count: before.entry_count + 1,
  });
}

/** The account was never opened: GET says so, and a first PUT still creates it. */
export async function expectNotOpened(account: string): Promise<void> {
  await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
  const outcome = await ledgerStub(account).getAccount();
  expect(outcome.status).toBe(404);
}
