import type {
  BatchOperation,
  HoldInput,
  MoneyInput,
  OpenAccountInput,
  RefundInput,
  TransferInput,
} from "../domain/commands.ts";
import { parseIdempotencyKey, parseLookupKey } from "../domain/idempotency-key.ts";
import { renderProblem, toProblem, type ProblemDocument } from "../domain/problems.ts";
import type {
  AccountChangeList,
  AccountList,
  AccountView,
  BatchResponse,
  ChargeView,
  EntryList,
  EntryView,
  HoldView,
  IdempotencyKeyLookupView,
  PeriodListView,
  PeriodView,
  RefundView,
  TransferView,
} from "../domain/views.ts";
import { LedgerProblemError } from "./errors.ts";
import { resolveRetryPolicy, type RetryPolicy } from "./retry-policy.ts";
import { sendWithRetries, sleep, type Fetch, type PreparedRequest, type Runtime } from "./send-with-retries.ts";
import { uuidV7 } from "./uuid-v7.ts";

/**
 * A typed OnceLedger client on plain `fetch` (Workers, Node 20+, browsers).
 * Each money-moving call is one logical operation: it gets one
 * Idempotency-Key, and every retry of it sends that same key and body.
 */

export interface LedgerClientOptions {
  /** E.g. "https://ledger.example.com" or "http://127.0.0.1:8787". */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** Defaults to the global fetch. */
  readonly fetch?: Fetch;
  readonly retry?: Partial<RetryPolicy>;
  /** Makes the key of an operation whose caller gave none. Defaults to UUIDv7. */
  readonly newIdempotencyKey?: () => string;
  /** For tests: the jitter source, the clock and the wait between attempts. */
  readonly random?: () => number;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export interface AccountOptions extends RequestOptions {
  /** Reuse the key of a change you may have sent before, to retry it safely. */
  readonly idempotencyKey?: string;
  /** The version you last read (`account.version`): the change applies only if it is still current. */
  readonly expectedVersion?: number;
}

export interface MoneyOptions extends RequestOptions {
  /** Reuse the key of an operation you may have sent before (e.g. before a crash) to retry it safely. */
  readonly idempotencyKey?: string;
}

export interface LedgerResult<T> {
  readonly value: T;
  readonly status: number;
  /** From `Idempotent-Replayed`: this is the recorded outcome of an earlier request with the same key. */
  readonly replayed: boolean;
  readonly idempotencyKey: string | null;
  readonly attempts: number;
}

/** What the ledger knows about a key: see GET /v1/accounts/{account}/idempotency-keys/{key}. */
export type IdempotencyKeyLookup = IdempotencyKeyLookupView;

export type LedgerClient = ReturnType<typeof createLedgerClient>;

export function createLedgerClient(options: LedgerClientOptions) {
  const runtime: Runtime = {
    fetch: options.fetch ?? ((url, init) => fetch(url, init)),
    policy: resolveRetryPolicy(options.retry),
    random: options.random ?? Math.random,
    // A monotonic clock, so a wall-clock step cannot stretch or cut the time budget.
    now: options.now ?? (() => performance.now()),
    sleep: options.sleep ?? sleep,
  };
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const newKey = options.newIdempotencyKey ?? (() => uuidV7());
  const accountPath = (account: string) => `/v1/accounts/${encodeURIComponent(account)}`;

  async function request<T>(
    method: PreparedRequest["method"],
    path: string,
    body: unknown,
    idempotencyKey: string | null,
    signal: AbortSignal | undefined,
    extraHeaders: Readonly<Record<string, string>> = {},
  ): Promise<LedgerResult<T>> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.apiKey}`,
      accept: "application/json",
      ...extraHeaders,
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (idempotencyKey !== null) headers["idempotency-key"] = sfString(idempotencyKey);
    const answer = await sendWithRetries(runtime, {
      method,
      url: `${baseUrl}${path}`,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      idempotencyKey,
      ...(signal === undefined ? {} : { signal }),
    });
    return {
      value: answer.value as T,
      status: answer.status,
      replayed: answer.replayed,
      idempotencyKey,
      attempts: answer.attempts,
    };
  }

  async function moneyRequest<T>(
    path: string,
    body: unknown,
    moneyOptions: MoneyOptions = {},
  ): Promise<LedgerResult<T>> {
    const key = moneyOptions.idempotencyKey ?? newKey();
    checkKey(key);
    return request<T>("POST", path, body, key, moneyOptions.signal);
  }

  return {
    /** Opens the account, or updates its overdraft limit. Safe to repeat. */
    /**
     * Opens the account, or changes its settings. Always sent with an
     * Idempotency-Key (made here unless given), so a retry after a lost
     * answer gets that answer back; with `expectedVersion` also with If-Match,
     * so a change someone else made meanwhile is never silently undone
     * (a LedgerProblemError `precondition_failed` instead).
     */
    openAccount: (account: string, body: OpenAccountInput, opts: AccountOptions = {}) => {
      const key = opts.idempotencyKey ?? newKey();
      checkKey(key);
      const extra: Record<string, string> =
        opts.expectedVersion === undefined ? {} : { "if-match": `"${opts.expectedVersion}"` };
      return request<AccountView>("PUT", accountPath(account), body, key, opts.signal, extra);
    },

    /** The account's settings changes, oldest first. */
    listChanges: (
      account: string,
      page: { limit?: number; startingAfter?: number } = {},
      opts: RequestOptions = {},
    ) => {
      const query = new URLSearchParams();
      if (page.limit !== undefined) query.set("limit", String(page.limit));
      if (page.startingAfter !== undefined) query.set("starting_after", String(page.startingAfter));
      const search = query.toString();
      return request<AccountChangeList>(
        "GET",
        `${accountPath(account)}/changes${search === "" ? "" : `?${search}`}`,
        undefined,
        null,
        opts.signal,
      );
    },

    /** The tenant's accounts, in id order; an account is listed within moments of opening. */
    listAccounts: (page: { limit?: number; startingAfter?: string } = {}, opts: RequestOptions = {}) => {
      const query = new URLSearchParams();
      if (page.limit !== undefined) query.set("limit", String(page.limit));
      if (page.startingAfter !== undefined) query.set("starting_after", page.startingAfter);
      const search = query.toString();
      return request<AccountList>(
        "GET",
        `/v1/accounts${search === "" ? "" : `?${search}`}`,
        undefined,
        null,
        opts.signal,
      );
    },

    getAccount: (account: string, opts: RequestOptions = {}) =>
      request<AccountView>("GET", accountPath(account), undefined, null, opts.signal),

    credit: (account: string, body: MoneyInput, opts?: MoneyOptions) =>
      moneyRequest<EntryView>(`${accountPath(account)}/credits`, body, opts),

    charge: (account: string, body: MoneyInput, opts?: MoneyOptions) =>
      moneyRequest<ChargeView>(`${accountPath(account)}/charges`, body, opts),

    refund: (account: string, body: RefundInput, opts?: MoneyOptions) =>
      moneyRequest<RefundView>(`${accountPath(account)}/refunds`, body, opts),

    /**
     * Moves money to another account of the tenant. The answer is the
     * transfer as decided, `pending`: read it with `getTransfer` until it is
     * `posted` (or `voided`, with the destination's `reason`).
     */
    transfer: (account: string, body: TransferInput, opts?: MoneyOptions) =>
      moneyRequest<TransferView>(`${accountPath(account)}/transfers`, body, opts),

    getTransfer: (account: string, transferId: string, opts: RequestOptions = {}) =>
      request<TransferView>(
        "GET",
        `${accountPath(account)}/transfers/${encodeURIComponent(transferId)}`,
        undefined,
        null,
        opts.signal,
      ),

    /** Sets funds aside until captured, voided or expired. */
    hold: (account: string, body: HoldInput, opts?: MoneyOptions) =>
      moneyRequest<HoldView>(`${accountPath(account)}/holds`, body, opts),

    /** Captures all of a hold, or `amount` of it, as one `capture` entry; the rest goes back. */
    capture: (account: string, holdId: string, body: { amount?: number } = {}, opts?: MoneyOptions) =>
      moneyRequest<EntryView>(`${accountPath(account)}/holds/${encodeURIComponent(holdId)}/captures`, body, opts),

    /** Releases all of a hold. */
    voidHold: (account: string, holdId: string, opts?: MoneyOptions) =>
      moneyRequest<HoldView>(`${accountPath(account)}/holds/${encodeURIComponent(holdId)}/voids`, {}, opts),

    getHold: (account: string, holdId: string, opts: RequestOptions = {}) =>
      request<HoldView>(
        "GET",
        `${accountPath(account)}/holds/${encodeURIComponent(holdId)}`,
        undefined,
        null,
        opts.signal,
      ),

    getCharge: (account: string, chargeId: string, opts: RequestOptions = {}) =>
      request<ChargeView>(
        "GET",
        `${accountPath(account)}/charges/${encodeURIComponent(chargeId)}`,
        undefined,
        null,
        opts.signal,
      ),

    listEntries: (
      account: string,
      page: { limit?: number; startingAfter?: string } = {},
      opts: RequestOptions = {},
    ) => {
      const query = new URLSearchParams();
      if (page.limit !== undefined) query.set("limit", String(page.limit));
      if (page.startingAfter !== undefined) query.set("starting_after", page.startingAfter);
      const search = query.toString();
      const path = `${accountPath(account)}/entries${search === "" ? "" : `?${search}`}`;
      return request<EntryList>("GET", path, undefined, null, opts.signal);
    },

    /**
     * Closes the account's open period at its latest entry. Sent with an
     * Idempotency-Key (made here unless given), so a retry after a lost
     * answer gets that answer back and closes nothing more. A
     * LedgerProblemError `period_empty` when nothing was appended since the
     * last close. The answer shows the period as closed (`state` closing):
     * read it with `getPeriod` for its state now.
     */
    closePeriod: (account: string, opts?: MoneyOptions) =>
      moneyRequest<PeriodView>(`${accountPath(account)}/periods`, {}, opts),

    /** The account's closed periods, oldest first, each in its state now. */
    listPeriods: (
      account: string,
      page: { limit?: number; startingAfter?: number } = {},
      opts: RequestOptions = {},
    ) => {
      const query = new URLSearchParams();
      if (page.limit !== undefined) query.set("limit", String(page.limit));
      if (page.startingAfter !== undefined) query.set("starting_after", String(page.startingAfter));
      const search = query.toString();
      const path = `${accountPath(account)}/periods${search === "" ? "" : `?${search}`}`;
      return request<PeriodListView>("GET", path, undefined, null, opts.signal);
    },

    /** One closed period as it is now: once archived, its `sha256` and its objects. */
    getPeriod: (account: string, id: number, opts: RequestOptions = {}) =>
      request<PeriodView>("GET", `${accountPath(account)}/periods/${String(id)}`, undefined, null, opts.signal),

    /** Whether a money-moving request with `key` landed on the account, and its outcome. */
    lookupIdempotencyKey: async (account: string, key: string, opts: RequestOptions = {}) => {
      checkKey(key);
      const path = `${accountPath(account)}/idempotency-keys/${encodeURIComponent(lookupSegment(key))}`;
      return request<IdempotencyKeyLookup>("GET", path, undefined, null, opts.signal);
    },

    /**
     * Up to 1,000 credits, charges and refunds on one account, in order, in
     * one transaction. Each operation is its own logical operation with its
     * own key (made here when not given, and returned in `keys`), so the
     * whole batch is retried safely: an operation that already landed is
     * replayed, not applied again. One result per operation, in order.
     */
    batch: async (account: string, operations: readonly BatchOperationInput[], opts: RequestOptions = {}) => {
      const keyed = operations.map((operation) => ({
        ...operation,
        idempotency_key: operation.idempotency_key ?? newKey(),
      })) as BatchOperation[];
      for (const operation of keyed) checkKey(operation.idempotency_key);
      const result = await request<BatchResponse>(
        "POST",
        `${accountPath(account)}/batches`,
        { operations: keyed },
        null,
        opts.signal,
      );
      return { ...result, keys: keyed.map((operation) => operation.idempotency_key) };
    },
  };
}

/** A batch operation as the client takes it: the key may be left for the client to make. */
export type BatchOperationInput = {
  [T in BatchOperation["type"]]: Omit<Extract<BatchOperation, { type: T }>, "idempotency_key"> & {
    readonly idempotency_key?: string;
  };
}[BatchOperation["type"]];

/** Every entry of the account, oldest first, a page at a time. */
export async function* allEntries(
  client: LedgerClient,
  account: string,
  pageSize = 100,
  opts: RequestOptions = {},
): AsyncGenerator<EntryView> {
  let startingAfter: string | undefined;
  for (;;) {
    const page = await client.listEntries(
      account,
      startingAfter === undefined ? { limit: pageSize } : { limit: pageSize, startingAfter },
      opts,
    );
    yield* page.value.data;
    const last = page.value.data.at(-1);
    if (!page.value.has_more || last === undefined) return;
    startingAfter = last.id;
  }
}

/** The Idempotency-Key header in the IETF draft's form: an RFC 9651 sf-string. */
function sfString(key: string): string {
  return `"${key.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * The lookup path names a key as the header does, so a key that reads as an
 * RFC 9651 string (`"k6"`, quotes and all) goes quoted, or it would name `k6`.
 */
function lookupSegment(key: string): string {
  const named = parseLookupKey(key);
  return named.ok && named.value === key ? key : sfString(key);
}

/** A key the server would refuse fails here, with the server's own problem, before anything is sent. */
function checkKey(key: string): void {
  const parsed = parseIdempotencyKey(sfString(key));
  if (parsed.ok && parsed.value === key) return;
  const problem = toProblem(
    parsed.ok ? { code: "idempotency_key_invalid", reason: "it cannot be sent as given" } : parsed.error,
  );
  throw new LedgerProblemError(JSON.parse(renderProblem(problem)) as ProblemDocument, {
    replayed: false,
    idempotencyKey: key,
    attempts: 0,
  });
}
