import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { keyIdOf } from "../../src/config/key-id.ts";
import { sha256Hex } from "../../src/lib/sha256.ts";
import { TEST_API_KEYS } from "./keys.ts";

/** Helpers for driving the real Worker (and through it, real account objects) from tests. */

export const BASE_URL = "https://ledger.test";
export const ACME_KEY = TEST_API_KEYS.acme[0];
export const GLOBEX_KEY = TEST_API_KEYS.globex[0];
/** The id logs, metrics and the ledger name ACME_KEY by. */
export const ACME_KEY_ID = keyIdOf(sha256Hex(ACME_KEY));

export interface CallOptions {
  method?: string;
  /** Bearer key; null sends no Authorization header. Defaults to ACME_KEY. */
  key?: string | null;
  /** Idempotency-Key header; null sends none. */
  idempotencyKey?: string | null;
  /** A JSON value is serialised; a string is sent as it stands. */
  body?: unknown;
  contentType?: string | null;
  headers?: Record<string, string>;
}

export function call(path: string, options: CallOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  const key = options.key === undefined ? ACME_KEY : options.key;
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  if (options.idempotencyKey != null) headers.set("idempotency-key", options.idempotencyKey);
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    const contentType = options.contentType === undefined ? "application/json" : options.contentType;
    if (contentType !== null) headers.set("content-type", contentType);
  }
  return exports.default.fetch(`${BASE_URL}${path}`, { method: options.method ?? "GET", headers, body });
}

/** A fresh account name: storage is shared by every test in a file. */
export function uniqueAccount(prefix = "acct"): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

export function uniqueKey(prefix = "key"): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return response.json<T>();
}

export async function openAccount(account: string, body: Record<string, unknown> = { currency: "USD" }, key?: string) {
  const response = await call(`/v1/accounts/${account}`, { method: "PUT", body, key });
  expect(response.status).toBe(201);
  return json(response);
}

export function post(
  account: string,
  kind: "credits" | "charges" | "refunds",
  body: unknown,
  idempotencyKey: string | null = uniqueKey(),
  options: CallOptions = {},
) {
  return call(`/v1/accounts/${account}/${kind}`, { method: "POST", body, idempotencyKey, ...options });
}

/** Opens a USD account and credits it with `balance`. */
export async function fundedAccount(balance: number, overdraftLimit = 0): Promise<string> {
  const account = uniqueAccount();
  await openAccount(account, { currency: "USD", overdraft_limit: overdraftLimit });
  if (balance > 0) {
    const response = await post(account, "credits", { amount: balance, currency: "USD" });
    expect(response.status).toBe(201);
  }
  return account;
}

export async function getAccount(account: string, key?: string) {
  const response = await call(`/v1/accounts/${account}`, { key });
  expect(response.status).toBe(200);
  return json<{ balance: number; entry_count: number; overdraft_limit: number; currency: string }>(response);
}

export interface EntryJson {
  id: string;
  seq: number;
  type: string;
  amount: number;
  balance_after: number;
  idempotency_key: string;
  charge: string | null;
  key_id: string | null;
}

export async function allEntries(account: string, key?: string): Promise<EntryJson[]> {
  const entries: EntryJson[] = [];
  let cursor: string | undefined;
  for (;;) {
    const query = cursor === undefined ? "?limit=100" : `?limit=100&starting_after=${cursor}`;
    const response = await call(`/v1/accounts/${account}/entries${query}`, { key });
    expect(response.status).toBe(200);
    const page = await json<{ data: EntryJson[]; has_more: boolean }>(response);
    entries.push(...page.data);
    if (!page.has_more) return entries;
    cursor = page.data.at(-1)?.id;
  }
}

/** Asserts a problem+json response with the given status and code, and returns its body. */
export async function expectProblem(response: Response, status: number, code: string) {
  const body = await json(response);
  expect({ status: response.status, code: body.code }).toEqual({ status, code });
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  expect(body).toMatchObject({ status, type: `urn:onceledger:problem:${code}` });
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  return body;
}

/** The account object's stub, for reaching inside it with runInDurableObject. */
export function ledgerStub(account: string, tenant = "acme") {
  return env.ACCOUNTS.getByName(`${tenant}:${account}`);
}

/** Recomputes the ledger invariants inside the object and expects none broken. */
export async function expectLedgerConsistent(account: string, tenant = "acme") {
  const audit = await ledgerStub(account, tenant).audit();
  expect(audit.violations).toEqual([]);
  expect(audit.balance).toBe(audit.sumOfEntries);
  return audit;
}

export interface FieldError {
  field: string;
  message: string;
}

/** Asserts a 400 invalid_request naming exactly `fields`, each with a message. */
export async function expectInvalid(response: Response, fields: readonly string[]): Promise<FieldError[]> {
  const body = await expectProblem(response, 400, "invalid_request");
  expect(Array.isArray(body.errors)).toBe(true);
  const errors = body.errors as FieldError[];
  for (const error of errors) {
    expect(typeof error.field).toBe("string");
    expect(typeof error.message).toBe("string");
    expect(error.message.length).toBeGreaterThan(0);
  }
  expect([...new Set(errors.map((error) => error.field))].sort()).toEqual([...fields].sort());
  return errors;
}
