/**
 * The routes of holds and transfers, for the chaos run: the typed client
 * (src/client) has no calls for them yet, so these send them the way it
 * sends a money request (sendWithRetries: one Idempotency-Key, the same key
 * and body on every retry, the same errors) through the same transport.
 */
import type { LedgerResult, RetryPolicy } from "../../src/client/onceledger-client.ts";
import { resolveRetryPolicy } from "../../src/client/retry-policy.ts";
import { sendWithRetries, sleep, type Fetch } from "../../src/client/send-with-retries.ts";
import { uuidV7 } from "../../src/client/uuid-v7.ts";
import type { HoldInput, TransferInput } from "../../src/domain/commands.ts";
import type { EntryView, HoldList, HoldView, TransferView } from "../../src/domain/views.ts";

/** A capture's body: all of the hold when `amount` is omitted. */
export interface CaptureBody {
  readonly amount?: number;
}

export interface KeyedOptions {
  readonly idempotencyKey?: string;
}

export type HoldClient = ReturnType<typeof createHoldClient>;

export function createHoldClient(options: {
  baseUrl: string;
  apiKey: string;
  fetch?: Fetch;
  retry?: Partial<RetryPolicy>;
}) {
  const runtime = {
    fetch: options.fetch ?? ((url: string, init: RequestInit) => fetch(url, init)),
    policy: resolveRetryPolicy(options.retry),
    random: Math.random,
    now: () => performance.now(),
    sleep,
  };
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const accountPath = (account: string) => `/v1/accounts/${encodeURIComponent(account)}`;
  const holdPath = (account: string, hold: string) => `${accountPath(account)}/holds/${encodeURIComponent(hold)}`;

  async function request<T>(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    idempotencyKey: string | null,
  ): Promise<LedgerResult<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    // Keys the run makes are UUIDs: an sf-string needs no escaping.
    if (idempotencyKey !== null) headers["idempotency-key"] = `"${idempotencyKey}"`;
    const answer = await sendWithRetries(runtime, {
      method,
      url: `${baseUrl}${path}`,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      idempotencyKey,
    });
    return {
      value: answer.value as T,
      status: answer.status,
      replayed: answer.replayed,
      idempotencyKey,
      attempts: answer.attempts,
    };
  }
  const keyed = <T>(path: string, body: unknown, opts: KeyedOptions) =>
    request<T>("POST", path, body, opts.idempotencyKey ?? uuidV7());

  return {
    placeHold: (account: string, body: HoldInput, opts: KeyedOptions = {}) =>
      keyed<HoldView>(`${accountPath(account)}/holds`, body, opts),
    captureHold: (account: string, hold: string, body: CaptureBody, opts: KeyedOptions = {}) =>
      keyed<EntryView>(`${holdPath(account, hold)}/captures`, body, opts),
    voidHold: (account: string, hold: string, opts: KeyedOptions = {}) =>
      keyed<HoldView>(`${holdPath(account, hold)}/voids`, {}, opts),
    transfer: (account: string, body: TransferInput, opts: KeyedOptions = {}) =>
      keyed<TransferView>(`${accountPath(account)}/transfers`, body, opts),
    getHold: (account: string, hold: string) => request<HoldView>("GET", holdPath(account, hold), undefined, null),
    getTransfer: (account: string, transfer: string) =>
      request<TransferView>(
        "GET",
        `${accountPath(account)}/transfers/${encodeURIComponent(transfer)}`,
        undefined,
        null,
      ),
    /** Every hold of the account, oldest first. */
    async listHolds(account: string): Promise<HoldView[]> {
      const holds: HoldView[] = [];
      let startingAfter: string | null = null;
      for (;;) {
        const query: string = startingAfter === null ? "?limit=100" : `?limit=100&starting_after=${startingAfter}`;
        const page: HoldList = (
          await request<HoldList>("GET", `${accountPath(account)}/holds${query}`, undefined, null)
        ).value;
        holds.push(...page.data);
        const last = page.data.at(-1);
        if (!page.has_more || last === undefined) return holds;
        startingAfter = encodeURIComponent(last.id);
      }
    },
  };
}
