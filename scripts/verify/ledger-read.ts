/**
 * What `npm run verify` reads through the public API (docs/verify.md): every
 * period, the account, and the text of every entry exactly as the entries
 * API served it, across archived and open periods. The transport is
 * injected, so it runs in Node and in workerd alike.
 */
import {
  createLedgerClient,
  LedgerProblemError,
  type AccountView,
  type Fetch,
  type LedgerClient,
  type PeriodView,
} from "../../src/client/onceledger-client.ts";
import { MAX_PAGE_SIZE } from "../../src/domain/limits.ts";
import { verifyChain, type ChainReport, type ObjectReader } from "./chain.ts";

export interface LedgerReadOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly account: string;
  readonly fetch: Fetch;
}

export interface LedgerSnapshot {
  readonly periods: PeriodView[];
  readonly account: AccountView;
  /** Every entry's JSON text, as served, in seq order, up to the account's entry_count. */
  readonly entries: string[];
}

/** The ledger could not be read (not that it does not match: that is a ChainReport's mismatch). */
export class LedgerReadError extends Error {
  override readonly name = "LedgerReadError";
}

/**
 * Reads the periods first, then the account, then its entries up to the
 * account's entry_count: every period listed ends at or before that count,
 * so one consistent snapshot is read of an account that keeps moving.
 */
export async function readLedger(options: LedgerReadOptions): Promise<LedgerSnapshot> {
  // The chained digest is over the entries' bytes as served, so each page's body is kept as it came.
  const served: { body: string | null } = { body: null };
  const fetch: Fetch = async (url, init) => {
    const response = await options.fetch(url, init);
    served.body = response.ok ? await response.clone().text() : null;
    return response;
  };
  const client = createLedgerClient({ baseUrl: options.baseUrl, apiKey: options.apiKey, fetch });
  const periods = await listPeriods(client, options.account, options.baseUrl);
  const account = (await client.getAccount(options.account)).value;

  const entries: string[] = [];
  let startingAfter: string | undefined;
  while (entries.length < account.entry_count) {
    const page = (await client.listEntries(options.account, { limit: MAX_PAGE_SIZE, startingAfter })).value;
    const texts = served.body === null ? [] : dataElementTexts(served.body);
    if (texts.length !== page.data.length) {
      throw new LedgerReadError(`a page of entries after ${startingAfter ?? "the start"} could not be read as served`);
    }
    entries.push(...texts);
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    startingAfter = last.id;
  }
  return { periods, account, entries: entries.slice(0, account.entry_count) };
}

async function listPeriods(client: LedgerClient, account: string, baseUrl: string): Promise<PeriodView[]> {
  const periods: PeriodView[] = [];
  let startingAfter: number | undefined;
  for (;;) {
    let page;
    try {
      page = (await client.listPeriods(account, { limit: MAX_PAGE_SIZE, startingAfter })).value;
    } catch (error) {
      if (error instanceof LedgerProblemError && error.code === "account_not_found") {
        throw new LedgerReadError(`account "${account}" not found at ${baseUrl}`);
      }
      throw error;
    }
    periods.push(...page.data);
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) return periods;
    startingAfter = last.id;
  }
}

/** Reads the account through the API and checks it: the report names the first period that does not match. */
export async function verifyLedger(
  options: LedgerReadOptions & { readonly readObject?: ObjectReader },
): Promise<ChainReport> {
  const snapshot = await readLedger(options);
  return verifyChain({
    periods: snapshot.periods,
    entries: snapshot.entries,
    account: snapshot.account,
    ...(options.readObject === undefined ? {} : { readObject: options.readObject }),
  });
}

/**
 * The exact text of each element of the `data` array of a JSON object's
 * text, such as a page `{"data":[...],"has_more":...}`: what the server sent
 * for each, byte for byte, not a reserialisation of it.
 */
export function dataElementTexts(body: string): string[] {
  const value: unknown = JSON.parse(body);
  if (typeof value !== "object" || value === null || !Array.isArray((value as { data?: unknown }).data)) {
    throw new LedgerReadError("the page has no data array");
  }
  let at = skipSpace(body, 0) + 1; // past "{"
  for (;;) {
    at = skipSpace(body, at);
    const keyEnd = endOfValue(body, at);
    const key = JSON.parse(body.slice(at, keyEnd)) as string;
    at = skipSpace(body, skipSpace(body, keyEnd) + 1); // past ":"
    const end = endOfValue(body, at);
    if (key === "data") return elements(body, at, end);
    at = skipSpace(body, end) + 1; // past ","
  }
}

/** The texts of the elements of the array `text.slice(start, end)`. */
function elements(text: string, start: number, end: number): string[] {
  const out: string[] = [];
  let at = skipSpace(text, start + 1);
  while (at < end - 1) {
    const close = endOfValue(text, at);
    out.push(text.slice(at, close));
    at = skipSpace(text, skipSpace(text, close) + 1); // past "," (or "]", ending the loop)
  }
  return out;
}

/** Where the JSON value starting at `at` ends; the text is known to be valid JSON. */
function endOfValue(text: string, at: number): number {
  const first = text[at];
  if (first === '"') return endOfString(text, at);
  if (first !== "{" && first !== "[") {
    let i = at;
    while (i < text.length && !",]} \t\n\r".includes(text[i] as string)) i += 1;
    return i;
  }
  let depth = 0;
  for (let i = at; i < text.length; i += 1) {
    const c = text[i];
    if (c === '"') i = endOfString(text, i) - 1;
    else if (c === "{" || c === "[") depth += 1;
    else if ((c === "}" || c === "]") && --depth === 0) return i + 1;
  }
  throw new LedgerReadError("unterminated JSON value");
}

function endOfString(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i += 1) {
    if (text[i] === "\\") i += 1;
    else if (text[i] === '"') return i + 1;
  }
  throw new LedgerReadError("unterminated JSON string");
}

function skipSpace(text: string, at: number): number {
  let i = at;
  while (i < text.length && " \t\n\r".includes(text[i] as string)) i += 1;
  return i;
}
