/**
 * One account's ledger and settings changes as JSON Lines for an auditor
 * (format: docs/export.md), read through the public API alone. The
 * transport is injected, so it runs in Node and in workerd alike.
 */
import {
  allEntries,
  createLedgerClient,
  LedgerProblemError,
  type AccountChangeView,
  type AccountView,
  type Fetch,
  type LedgerClient,
} from "../../src/client/onceledger-client.ts";
import { bytesToHex } from "../../src/lib/hex.ts";
import { MAX_PAGE_SIZE } from "../../src/domain/limits.ts";

export const EXPORT_FORMAT = "onceledger-export";
export const EXPORT_FORMAT_VERSION = 1;

/** Where the changes of an account opened before they were recorded begin: its opening, version 1, has none. */
const UNRECORDED_OPENING_FIRST_VERSION = 2;

export interface ExportOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly account: string;
  readonly fetch: Fetch;
}

/** What was read does not add up, or could not be read: no trailer may vouch for it. */
export class ExportError extends Error {
  override readonly name = "ExportError";
}

/**
 * The export's lines, each ending in "\n", checked as they are read; it
 * throws an ExportError instead of yielding the trailer if anything is off.
 * The account is read first and only what existed then is exported, so the
 * trailer describes one consistent snapshot of an account that keeps moving.
 */
export async function* exportLedger(options: ExportOptions): AsyncGenerator<string> {
  const source = options.baseUrl.replace(/\/+$/, "");
  const client = createLedgerClient({ baseUrl: source, apiKey: options.apiKey, fetch: options.fetch });
  // The trailer's digest covers every byte before it; WebCrypto has no incremental digest.
  const written: Uint8Array[] = [];
  const encoder = new TextEncoder();
  const line = (record: Readonly<Record<string, unknown>>): string => {
    const text = `${JSON.stringify(record)}\n`;
    written.push(encoder.encode(text));
    return text;
  };

  const account = await readAccount(client, options.account, source);
  yield line({
    type: "header",
    format: EXPORT_FORMAT,
    format_version: EXPORT_FORMAT_VERSION,
    exported_at: new Date().toISOString(),
    source,
    account,
  });

  let entries = 0;
  let balance = 0;
  if (account.entry_count > 0) {
    for await (const entry of allEntries(client, options.account, MAX_PAGE_SIZE)) {
      const seq = entries + 1;
      if (entry.seq !== seq) fail(`entry seq ${String(entry.seq)} where ${seq} was due: the ledger has a gap`);
      if (!Number.isSafeInteger(entry.amount)) fail(`entry ${seq} has amount ${String(entry.amount)}`);
      balance += entry.amount;
      if (!Number.isSafeInteger(balance)) fail(`the balance leaves the safe integers at entry ${seq}`);
      if (entry.balance_after !== balance) {
        fail(
          `entry ${seq} has balance_after ${String(entry.balance_after)}, but the entries up to it sum to ${balance}`,
        );
      }
      entries = seq;
      yield line({ type: "entry", entry });
      if (seq === account.entry_count) break;
    }
  }
  if (entries !== account.entry_count) {
    fail(`the ledger lists ${entries} entries, but the account's entry_count is ${account.entry_count}`);
  }
  if (balance !== account.balance) {
    fail(`the entries sum to ${balance}, but the account's balance is ${account.balance}`);
  }

  // An account opened before settings changes were recorded (schema 3) migrated to version 1 with
  // no rows, so its history starts at version 2, the first change after the upgrade, or is empty.
  let changes = 0;
  let version = 0;
  const fieldsOfVersion = new Set<string>();
  for await (const change of changesUpTo(client, options.account, account.version)) {
    if (changes === 0 && change.version !== 1 && change.version !== UNRECORDED_OPENING_FIRST_VERSION) {
      fail(`the changes start at version ${String(change.version)}: the versions before it are missing`);
    }
    if (changes === 0 || change.version === version + 1) fieldsOfVersion.clear();
    else if (change.version !== version) {
      fail(`change version ${String(change.version)} follows version ${version}: the changes have a gap`);
    }
    if (fieldsOfVersion.has(change.field)) fail(`version ${version} changes ${change.field} twice`);
    // Only the opening sets a field from nothing, so a moved or dropped opening cannot pass as a later change.
    if (change.version === 1 && change.old !== null) fail(`the opening (version 1) sets ${change.field} from a value`);
    if (change.version !== 1 && change.old === null) {
      fail(`version ${String(change.version)} changes ${change.field} from nothing, as only the opening may`);
    }
    fieldsOfVersion.add(change.field);
    version = change.version;
    changes += 1;
    yield line({ type: "account_change", change });
  }
  if (changes === 0 && account.version !== 1) {
    fail(`no changes are listed, but the account is at version ${account.version}`);
  }
  if (changes > 0 && version !== account.version) {
    fail(`the changes end at version ${version}, but the account is at version ${account.version}`);
  }

  yield `${JSON.stringify({ type: "trailer", entries, changes, balance, sha256: await sha256Hex(written) })}\n`;
}

async function readAccount(client: LedgerClient, name: string, source: string): Promise<AccountView> {
  let account: AccountView;
  try {
    account = (await client.getAccount(name)).value;
  } catch (error) {
    if (error instanceof LedgerProblemError && error.code === "account_not_found") {
      throw new ExportError(`account "${name}" not found at ${source}`);
    }
    throw error;
  }
  const counts = { balance: account.balance, entry_count: account.entry_count, version: account.version };
  for (const [field, value] of Object.entries(counts)) {
    if (!Number.isSafeInteger(value)) fail(`the account's ${field} is ${String(value)}, not an integer`);
  }
  if (account.entry_count < 0 || account.version < 1) {
    fail(`the account's entry_count ${account.entry_count} or version ${account.version} is out of range`);
  }
  return account;
}

/** The changes up to `lastVersion`, oldest first; a page never splits a version, so a page reaching it is the last. */
async function* changesUpTo(
  client: LedgerClient,
  account: string,
  lastVersion: number,
): AsyncGenerator<AccountChangeView> {
  let startingAfter: number | undefined;
  for (;;) {
    const page = (await client.listChanges(account, { limit: MAX_PAGE_SIZE, startingAfter })).value;
    for (const change of page.data) {
      if (change.version > lastVersion) return;
      yield change;
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined || last.version >= lastVersion) return;
    startingAfter = last.version;
  }
}

async function sha256Hex(chunks: readonly Uint8Array[]): Promise<string> {
  const bytes = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

function fail(message: string): never {
  throw new ExportError(message);
}
