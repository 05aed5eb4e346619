/**
 * `npm run backup`'s reads: every account of one tenant (or the ones named),
 * each as its object holds it now, as backup lines (backup-format.ts). The
 * tenants' API gives the accounts, the settings history, the periods and the
 * entries; the operator's backup routes give what it does not show: the
 * head and event cursor the account is cut at, each change's place among
 * the entries, every key decision still in the object, whole, every change
 * of its holds, every transfer out as it stood at the cut and every leg it
 * refused before it was opened. What the
 * archive already holds in R2 (the periods whose rows left the object) is
 * not copied: a restore reads it there. The transport is injected, so the
 * same code runs in Node and in workerd (the tests).
 */
import {
  createLedgerClient,
  LedgerProblemError,
  type AccountChangeView,
  type Fetch,
  type LedgerClient,
} from "../../src/client/onceledger-client.ts";
import type {
  BackupChange,
  BackupDecision,
  BackupHoldChange,
  BackupKey,
  BackupPage,
  BackupRefusal,
  BackupState,
  BackupTransfer,
} from "../../src/contract/backup-records.ts";
import { MAX_PAGE_SIZE } from "../../src/domain/limits.ts";
import type { PeriodView } from "../../src/domain/views.ts";
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  BackupError,
  type AccountEndLine,
  type BackupLine,
} from "./backup-format.ts";
import { backupPage, type OperatorSource } from "./operator-calls.ts";

export interface BackupOptions {
  readonly baseUrl: string;
  readonly tenant: string;
  /** An API key of the tenant: the tenants' API reads. */
  readonly tenantKey: string;
  /** A key in OPERATOR_KEYS: the operator's backup reads. */
  readonly operatorKey: string;
  /** Only these accounts; every account the tenant lists when absent. */
  readonly accounts?: readonly string[] | undefined;
  readonly fetch: Fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told of each account as it is done. */
  readonly progress?: (message: string) => void;
}

/** Rows asked for per page of the operator's reads. */
const OPERATOR_PAGE = 1000;

/** The backup's lines, each ending in "\n"; throws a BackupError, before the trailer, if anything does not add up. */
export async function* backupTenant(options: BackupOptions): AsyncGenerator<string> {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const client = createLedgerClient({ baseUrl, apiKey: options.tenantKey, fetch: options.fetch });
  const operator: OperatorSource = {
    baseUrl,
    operatorKey: options.operatorKey,
    tenant: options.tenant,
    fetch: options.fetch,
    ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
  };
  let lines = 0;
  const line = (record: BackupLine): string => {
    lines += 1;
    return `${JSON.stringify(record)}\n`;
  };
  yield line({
    type: "header",
    format: BACKUP_FORMAT,
    format_version: BACKUP_FORMAT_VERSION,
    tenant: options.tenant,
    source: baseUrl,
    started: new Date().toISOString(),
  });
  const accounts = options.accounts ?? (await listedAccounts(client));
  for (const account of accounts) {
    yield* accountLines(client, operator, account, line);
    options.progress?.(`backed up ${account}`);
  }
  yield `${JSON.stringify({ type: "trailer", accounts: accounts.length, lines, finished: new Date().toISOString() })}\n`;
}

async function listedAccounts(client: LedgerClient): Promise<string[]> {
  const names: string[] = [];
  let startingAfter: string | undefined;
  for (;;) {
    const page = (
      await client.listAccounts({ limit: MAX_PAGE_SIZE, ...(startingAfter === undefined ? {} : { startingAfter }) })
    ).value;
    names.push(...page.data.map((account) => account.id));
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) return names;
    startingAfter = last.id;
  }
}

async function* accountLines(
  client: LedgerClient,
  operator: OperatorSource,
  account: string,
  line: (record: BackupLine) => string,
): AsyncGenerator<string> {
  // The cut first: everything after is read up to it, so the account is one consistent state.
  const state = await backupPage<BackupState>(operator, account, { part: "state" });
  if (state.account.tenant !== null && state.account.tenant !== operator.tenant) {
    fail(`account ${account}'s object belongs to tenant ${state.account.tenant}, not ${operator.tenant}`);
  }
  let view;
  try {
    view = (await client.getAccount(account)).value;
  } catch (error) {
    if (error instanceof LedgerProblemError && error.code === "account_not_found") {
      fail(`the tenant key does not see account ${account}: it is not a key of tenant ${operator.tenant}`);
    }
    throw error;
  }
  yield line({ type: "account", account, state, view });

  const counts = { changes: 0, periods: 0, keys: 0, decisions: 0, entries: 0, holds: 0, transfers: 0, refusals: 0 };
  for (const change of await changesOf(client, operator, account, state.account.version)) {
    counts.changes += 1;
    yield line({ type: "change", account, change });
  }

  // The periods closed up to the cut: a period's keys end where the key counts up to it sum to (positions have no gap).
  const periods: PeriodView[] = [];
  let keysClosed = 0;
  periodPages: for (let startingAfter: number | undefined; ;) {
    const page = (
      await client.listPeriods(account, {
        limit: MAX_PAGE_SIZE,
        ...(startingAfter === undefined ? {} : { startingAfter }),
      })
    ).value;
    for (const period of page.data) {
      keysClosed += period.key_count;
      if (period.last_seq > state.head.entry_count || keysClosed > state.head.key_pos) break periodPages;
      periods.push(period);
      counts.periods += 1;
      yield line({ type: "period", account, period });
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    startingAfter = last.id;
  }

  // Key rows up to the head's; pruning may delete rows as they are read, so the run kept is the last one without a gap.
  let runFrom = 1;
  let previous = 0;
  for (let after = 0; ;) {
    const page = await backupPage<BackupPage<BackupKey>>(operator, account, {
      part: "keys",
      after: String(after),
      through: state.head.key_pos,
      limit: OPERATOR_PAGE,
    });
    for (const key of page.data) {
      if (key.pos !== previous + 1) runFrom = key.pos;
      previous = key.pos;
      counts.keys += 1;
      yield line({ type: "key", account, key });
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    after = last.pos;
  }
  const keysFrom = previous === state.head.key_pos && counts.keys > 0 ? runFrom : state.head.key_pos + 1;

  for (let after = ""; ;) {
    const page = await backupPage<BackupPage<BackupDecision>>(operator, account, {
      part: "decisions",
      after,
      limit: OPERATOR_PAGE,
    });
    for (const decision of page.data) {
      counts.decisions += 1;
      yield line({ type: "decision", account, decision });
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    after = last.key;
  }

  // The entries after the last period whose rows may have left the object, up to the head, checked as they come.
  const head = state.head;
  let seq = (state.entries_after?.seq ?? 0) + 1;
  let balance = 0;
  if (state.entries_after !== null) {
    const closed = periods.find((period) => period.last_seq === state.entries_after?.seq);
    if (closed === undefined) fail(`account ${account}: no period ends at entry ${state.entries_after.seq}`);
    balance = closed.closing_balance;
  }
  let startingAfter = state.entries_after?.id;
  while (seq <= head.entry_count) {
    const page = (
      await client.listEntries(account, {
        limit: MAX_PAGE_SIZE,
        ...(startingAfter === undefined ? {} : { startingAfter }),
      })
    ).value;
    for (const entry of page.data) {
      if (entry.seq > head.entry_count) break;
      if (entry.seq !== seq) fail(`account ${account}: entry ${entry.seq} where ${seq} was due`);
      if (entry.balance_after !== balance + entry.amount) {
        fail(`account ${account}: entry ${seq} has balance ${entry.balance_after}, not ${balance} + ${entry.amount}`);
      }
      balance = entry.balance_after;
      seq += 1;
      counts.entries += 1;
      yield line({ type: "entry", account, entry });
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    startingAfter = last.id;
  }
  if (seq !== head.entry_count + 1)
    fail(`account ${account}: the entries end at ${seq - 1}, the head at ${head.entry_count}`);
  if (counts.entries > 0 && balance !== head.balance) {
    fail(`account ${account}: the entries end at balance ${balance}, the head's is ${head.balance}`);
  }
  counts.holds = yield* holdLines(operator, account, state, line);
  counts.transfers = yield* transferLines(operator, account, state, line);
  counts.refusals = yield* refusalLines(operator, account, state, line);
  const end: AccountEndLine = { type: "account_end", account, ...counts, keys_from: keysFrom };
  yield line(end);
}

/**
 * Every change of a hold's state up to the cut's last, in order, with its
 * hold as that change left it (holds never leave the object, so they start
 * at 1 with no gap). Yields their lines; returns how many.
 */
async function* holdLines(
  operator: OperatorSource,
  account: string,
  state: BackupState,
  line: (record: BackupLine) => string,
): AsyncGenerator<string, number> {
  const through = state.holds?.changes ?? 0;
  let seq = 0;
  for (let after = 0; seq < through;) {
    const page = await backupPage<BackupPage<BackupHoldChange>>(operator, account, {
      part: "holds",
      after: String(after),
      through,
      limit: OPERATOR_PAGE,
    });
    for (const hold of page.data) {
      if (hold.seq !== seq + 1) fail(`account ${account}: hold change ${hold.seq} where ${seq + 1} was due`);
      seq = hold.seq;
      yield line({ type: "hold", account, hold });
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    after = last.seq;
  }
  if (seq !== through) fail(`account ${account}: the hold changes end at ${seq}, the cut at ${through}`);
  return seq;
}

/**
 * Every transfer out up to the cut's last, in seq order from 1 with no gap
 * (transfers never leave the object), each as it stood at the cut's key
 * position. Yields their lines; returns how many.
 */
async function* transferLines(
  operator: OperatorSource,
  account: string,
  state: BackupState,
  line: (record: BackupLine) => string,
): AsyncGenerator<string, number> {
  const count = state.transfers?.count ?? 0;
  let seq = 0;
  for (let after = 0; seq < count;) {
    const page = await backupPage<BackupPage<BackupTransfer>>(operator, account, {
      part: "transfers",
      after: String(after),
      through: state.head.key_pos,
      limit: OPERATOR_PAGE,
    });
    // Transfers past the cut's count were decided after it: the next backup holds them.
    for (const transfer of page.data.filter((row) => row.seq <= count)) {
      if (transfer.seq !== seq + 1) fail(`account ${account}: transfer ${transfer.seq} where ${seq + 1} was due`);
      seq = transfer.seq;
      yield line({ type: "transfer", account, transfer });
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    after = last.seq;
  }
  if (seq !== count) fail(`account ${account}: the transfers end at ${seq}, the cut at ${count}`);
  return seq;
}

/** Every transfer leg the account refused before it was opened, in key order. Yields their lines; returns how many. */
async function* refusalLines(
  operator: OperatorSource,
  account: string,
  state: BackupState,
  line: (record: BackupLine) => string,
): AsyncGenerator<string, number> {
  let count = 0;
  for (let after = ""; ;) {
    const page = await backupPage<BackupPage<BackupRefusal>>(operator, account, {
      part: "refusals",
      after,
      limit: OPERATOR_PAGE,
    });
    for (const refusal of page.data) {
      count += 1;
      yield line({ type: "refusal", account, refusal });
    }
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) break;
    after = last.leg_key;
  }
  const cut = state.transfers?.refusals ?? 0;
  if (count !== cut) fail(`account ${account}: ${count} refused transfer legs, the cut counts ${cut}`);
  return count;
}

/**
 * The settings history up to `version`: the tenants' view of each change,
 * with its place among the entries from the operator's read, the two read
 * alike or the backup fails.
 */
async function changesOf(
  client: LedgerClient,
  operator: OperatorSource,
  account: string,
  version: number,
): Promise<BackupChange[]> {
  const placed: BackupChange[] = [];
  for (let after = 0; ;) {
    const page = await backupPage<BackupPage<BackupChange>>(operator, account, {
      part: "changes",
      after: String(after),
      limit: MAX_PAGE_SIZE,
    });
    placed.push(...page.data.filter((change) => change.version <= version));
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined || last.version >= version) break;
    after = last.version;
  }
  const shown: AccountChangeView[] = [];
  for (let startingAfter: number | undefined; ;) {
    const page = (
      await client.listChanges(account, {
        limit: MAX_PAGE_SIZE,
        ...(startingAfter === undefined ? {} : { startingAfter }),
      })
    ).value;
    shown.push(...page.data.filter((change) => change.version <= version));
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined || last.version >= version) break;
    startingAfter = last.version;
  }
  if (shown.length !== placed.length) {
    fail(`account ${account}: the history shows ${shown.length} changes, the object holds ${placed.length}`);
  }
  return shown.map((change, i) => {
    const { entry_seq_before: entrySeqBefore, ...rest } = placed[i] as BackupChange;
    if (JSON.stringify(rest) !== JSON.stringify(change)) {
      fail(`account ${account}: change ${change.version} ${change.field} reads differently through the two routes`);
    }
    return { ...change, entry_seq_before: entrySeqBefore };
  });
}

function fail(message: string): never {
  throw new BackupError(message);
}
