/**
 * The operator's routes into one account object
 * (src/http/routes/operator-accounts.ts), as `npm run backup` and
 * `npm run restore` call them. The transport is injected, so the same code
 * runs in Node and in workerd (the tests). Reads and restore steps are safe
 * to repeat, so a network failure, a 500 or a 503 is retried a few times;
 * any other answer that is not a 200 is thrown with its problem's detail.
 */
import type { Fetch } from "../../src/client/onceledger-client.ts";
import type { BackupPageRequest, RestoreStep } from "../../src/contract/backup-records.ts";
import { BackupError } from "./backup-format.ts";

export interface OperatorSource {
  readonly baseUrl: string;
  readonly operatorKey: string;
  readonly tenant: string;
  readonly fetch: Fetch;
  /** Waits between retries; tests pass one that does not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A restore step's answer (src/ledger/account-restore.ts RestoreAnswer). */
export interface RestoreAnswer {
  readonly step: string;
  readonly done: Readonly<Record<string, unknown>>;
  readonly next: string | null;
}

const ATTEMPTS = 5;
const BACKOFF_MS = 500;

function accountUrl(source: OperatorSource, account: string): string {
  const base = source.baseUrl.replace(/\/+$/, "");
  return `${base}/v1/operator/tenants/${encodeURIComponent(source.tenant)}/accounts/${encodeURIComponent(account)}`;
}

/** One page of a backup part of `account`. */
export async function backupPage<T>(
  source: OperatorSource,
  account: string,
  request: Omit<BackupPageRequest, "limit"> & { readonly limit?: number },
): Promise<T> {
  const query = new URLSearchParams();
  if (request.after !== undefined) query.set("after", request.after);
  if (request.through !== undefined) query.set("through", String(request.through));
  if (request.limit !== undefined) query.set("limit", String(request.limit));
  const search = query.toString();
  const url = `${accountUrl(source, account)}/backup/${request.part}${search === "" ? "" : `?${search}`}`;
  return send<T>(source, url, { method: "GET" });
}

/** One restore step into `account`'s object. */
export function restoreCall(source: OperatorSource, account: string, step: RestoreStep): Promise<RestoreAnswer> {
  return send<RestoreAnswer>(source, `${accountUrl(source, account)}/restore`, {
    method: "POST",
    body: JSON.stringify(step),
  });
}

async function send<T>(source: OperatorSource, url: string, init: { method: string; body?: string }): Promise<T> {
  const sleep = source.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const headers: Record<string, string> = { authorization: `Bearer ${source.operatorKey}` };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  for (let attempt = 1; ; attempt += 1) {
    let response: Response;
    try {
      response = await source.fetch(url, { ...init, headers });
    } catch (error) {
      if (attempt >= ATTEMPTS) throw error;
      await sleep(BACKOFF_MS * attempt);
      continue;
    }
    const text = await response.text();
    if (response.status === 200) {
      const value: unknown = JSON.parse(text);
      return value as T;
    }
    if ((response.status === 500 || response.status === 503) && attempt < ATTEMPTS) {
      await sleep(BACKOFF_MS * attempt);
      continue;
    }
    let detail = text;
    try {
      const problem = JSON.parse(text) as { code?: string; detail?: string };
      detail = `${problem.code ?? ""}: ${problem.detail ?? text}`;
    } catch {
      // Not a problem document: its text says what it is.
    }
    throw new BackupError(`${init.method} ${url} answered ${response.status} ${detail}`);
  }
}
