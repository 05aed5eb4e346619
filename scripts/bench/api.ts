/**
 * The ledger's public API as the benchmark uses it for setup and checks:
 * opening and funding accounts, reading them back. Every call is bounded in
 * time and retried a few times on a network error or a 503, never on an
 * answer the ledger gave.
 */
import { randomBytes, createHash } from "node:crypto";
import { sleep } from "./processes.ts";

/** Every account is funded with this one credit before any charge. */
export const FUNDING = 1_000_000_000_000;
export const CHARGE_AMOUNT = 1;
export const CHARGE_BODY = JSON.stringify({ amount: CHARGE_AMOUNT, currency: "USD" });

export interface BenchKey {
  readonly token: string;
  /** API_KEYS as the Worker reads it: the tenant "bench" with the token's SHA-256. */
  readonly apiKeysJson: string;
}

export function freshBenchKey(): BenchKey {
  const token = `bench_${randomBytes(24).toString("hex")}`;
  const digest = createHash("sha256").update(token).digest("hex");
  return { token, apiKeysJson: JSON.stringify({ bench: [digest] }) };
}

/** An Idempotency-Key as an RFC 9651 string, the form the figures used. */
export function quotedKey(key: string): string {
  return `"${key}"`;
}

/** The funding credit's Idempotency-Key unless a scenario names another. */
export function fundingKeyOf(account: string): string {
  return `fund-${account}`;
}

export interface ApiAnswer {
  readonly status: number;
  readonly json: unknown;
  readonly headers: Headers;
}

export interface Entry {
  readonly id: string;
  readonly seq: number;
  readonly type: string;
  readonly amount: number;
  readonly balance_after: number;
  readonly idempotency_key: string;
}

export interface AccountState {
  readonly balance: number;
  readonly entry_count: number;
  /** The object's databaseSize, as the account view reports it (absent before that field existed). */
  readonly storage_bytes?: number;
}

const CALL_TIMEOUT_MS = 30_000;
const ATTEMPTS = 4;

export class LedgerApi {
  readonly baseUrl: string;
  private readonly token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl;
    this.token = token;
  }

  async call(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<ApiAnswer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (idempotencyKey !== undefined) headers["idempotency-key"] = quotedKey(idempotencyKey);
    let lastError: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        });
        const text = await response.text();
        if (response.status === 503 && attempt < ATTEMPTS) {
          await sleep(200 * attempt);
          continue;
        }
        return { status: response.status, json: parseJson(text), headers: response.headers };
      } catch (error) {
        lastError = error;
        await sleep(200 * attempt);
      }
    }
    throw new Error(`${method} ${path}: ${String(lastError)}`);
  }

  /** Opens `account` in USD and funds it with one credit of FUNDING under `fundingKey` (default `fund-<account>`). */
  async openAndFund(account: string, fundingKey: string = fundingKeyOf(account)): Promise<void> {
    const opened = await this.call("PUT", `/v1/accounts/${account}`, { currency: "USD" });
    if (opened.status !== 201 && opened.status !== 200) throw unexpected("open", account, opened);
    const funded = await this.call(
      "POST",
      `/v1/accounts/${account}/credits`,
      { amount: FUNDING, currency: "USD" },
      fundingKey,
    );
    if (funded.status !== 201) throw unexpected("fund", account, funded);
  }

  async charge(account: string, key: string): Promise<ApiAnswer> {
    return this.call("POST", `/v1/accounts/${account}/charges`, { amount: CHARGE_AMOUNT, currency: "USD" }, key);
  }

  async account(account: string): Promise<AccountState> {
    const answer = await this.call("GET", `/v1/accounts/${account}`);
    if (answer.status !== 200) throw unexpected("read", account, answer);
    return answer.json as AccountState;
  }

  async entries(account: string, after: string | null): Promise<{ data: Entry[]; has_more: boolean }> {
    const cursor = after === null ? "" : `&starting_after=${encodeURIComponent(after)}`;
    const answer = await this.call("GET", `/v1/accounts/${account}/entries?limit=100${cursor}`);
    if (answer.status !== 200) throw unexpected("list entries of", account, answer);
    return answer.json as { data: Entry[]; has_more: boolean };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function unexpected(what: string, account: string, answer: ApiAnswer): Error {
  return new Error(`could not ${what} ${account}: HTTP ${answer.status} ${JSON.stringify(answer.json).slice(0, 300)}`);
}

/** Runs `task` on every item, `concurrency` at a time, and stops starting new ones after `deadlineMs` (epoch). */
export async function forEachUntil<T>(
  items: readonly T[],
  concurrency: number,
  deadlineMs: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && Date.now() < deadlineMs) {
      const item = items[next] as T;
      next += 1;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
