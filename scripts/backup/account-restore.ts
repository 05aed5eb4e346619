/**
 * `npm run restore`'s steps: rebuilds one account's object from a backup
 * file (backup-format.ts) and the account's archive in R2, through the
 * operator's restore route, in the order src/ledger/account-restore.ts
 * takes them: begin, the archived periods one by one, periods_done, the key
 * rows, the decisions kept before schema 7, the entries, the hold changes,
 * the transfers and the refused transfer legs in chunks, the events after
 * the backup if given, and finish, which writes the account.
 * The file is read twice: once whole, to refuse an incomplete one before
 * anything is written, then to send its rows. The transport is injected, so
 * the same code runs in Node and in workerd (the tests).
 */
import type { BackupChange, BackupState, RestoreEvent, RestoreStep } from "../../src/contract/backup-records.ts";
import type { Fetch } from "../../src/client/onceledger-client.ts";
import type { PeriodView } from "../../src/domain/views.ts";
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  BackupError,
  parseLine,
  type AccountEndLine,
  type AccountLine,
} from "./backup-format.ts";
import { restoreCall, type OperatorSource, type RestoreAnswer } from "./operator-calls.ts";

export interface RestoreOptions {
  readonly baseUrl: string;
  readonly operatorKey: string;
  readonly tenant: string;
  readonly account: string;
  /** The backup file's lines; called twice. */
  readonly backup: () => Lines;
  /** The ledger events published after the backup, one JSON event a line as the events queue carried them. */
  readonly events?: (() => Lines) | undefined;
  readonly fetch: Fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Rows sent per step (default 500). */
  readonly chunk?: number;
  readonly progress?: (message: string) => void;
}

/** A file's lines, read as they come (a file) or already in hand (the tests). */
export type Lines = AsyncIterable<string> | Iterable<string>;

/** What the restore wrote: periods rebuilt from R2, and the rows the object wrote from the backup and the events. */
export interface RestoreReport {
  readonly periods: number;
  readonly keys: number;
  readonly decisions: number;
  readonly entries: number;
  /** Hold changes written from the backup. */
  readonly holds: number;
  /** Transfers, and legs refused before the account was opened, written from the backup. */
  readonly transfers: number;
  readonly refusals: number;
  /** Entries, settings changes and hold changes appended from the events. */
  readonly events: number;
  /** What finish answered: the restored balance, what is held, entry count, key pos, version and periods. */
  readonly finished: Readonly<Record<string, unknown>>;
}

/** The backup's rows, sent in chunks in the order the file holds them. */
type RowsKind = "keys" | "decisions" | "entries" | "holds" | "transfers" | "refusals";

/** What the first reading keeps of the account: its cut, its history and periods, and its counts. */
interface AccountSection {
  readonly account: AccountLine;
  readonly changes: BackupChange[];
  readonly periods: PeriodView[];
  readonly end: AccountEndLine;
}

export async function restoreAccount(options: RestoreOptions): Promise<RestoreReport> {
  const section = await readSection(options);
  const source: OperatorSource = {
    baseUrl: options.baseUrl,
    operatorKey: options.operatorKey,
    tenant: options.tenant,
    fetch: options.fetch,
    ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
  };
  const say = options.progress ?? (() => undefined);
  const step = (body: RestoreStep): Promise<RestoreAnswer> => restoreCall(source, options.account, body);
  const state: BackupState = section.account.state;

  await step({
    step: "begin",
    tenant: options.tenant,
    account: options.account,
    state,
    changes: section.changes,
    keys_from: section.end.keys_from,
  });
  say(`begun: ${section.changes.length} settings changes`);

  const listed = new Map(section.periods.map((period) => [period.id, period]));
  let periods = 0;
  for (let id = 1; ; id += 1) {
    const answer = await step({ step: "period", id, listed: listed.get(id) ?? null });
    if (answer.next === "periods_done") break;
    periods += 1;
    say(`period ${id} rebuilt from R2: entries ${String(answer.done.first_seq)} to ${String(answer.done.last_seq)}`);
  }
  const done = await step({ step: "periods_done", listed: section.periods });
  say(`periods: ${JSON.stringify(done.done)}`);

  const chunk = options.chunk ?? 500;
  const sent = { keys: 0, decisions: 0, entries: 0, holds: 0, transfers: 0, refusals: 0 };
  let pending: { kind: RowsKind; rows: unknown[] } | null = null;
  const flush = async () => {
    if (pending === null || pending.rows.length === 0) return;
    const answer = await step({ step: pending.kind, rows: pending.rows } as RestoreStep);
    // What the object wrote: rows of periods answered from the archive, or already written, are skipped.
    sent[pending.kind] += Number(answer.done.written);
    pending = null;
  };
  let lineNumber = 0;
  for await (const text of options.backup()) {
    lineNumber += 1;
    if (text === "") continue;
    const record = parseLine(text, lineNumber);
    if (!("account" in record) || record.account !== options.account) continue;
    let kind: RowsKind;
    let row: unknown;
    if (record.type === "key") {
      // Key rows before the backup's run without a gap belong to periods R2 answers for.
      if (record.key.pos < section.end.keys_from) continue;
      kind = "keys";
      row = record.key;
    } else if (record.type === "decision") {
      kind = "decisions";
      row = record.decision;
    } else if (record.type === "entry") {
      kind = "entries";
      row = record.entry;
    } else if (record.type === "hold") {
      kind = "holds";
      row = record.hold;
    } else if (record.type === "transfer") {
      kind = "transfers";
      row = record.transfer;
    } else if (record.type === "refusal") {
      kind = "refusals";
      row = record.refusal;
    } else {
      continue;
    }
    if (pending !== null && pending.kind !== kind) await flush();
    pending ??= { kind, rows: [] };
    pending.rows.push(row);
    if (pending.rows.length >= chunk) await flush();
  }
  await flush();
  say(
    `rows: ${sent.keys} key rows, ${sent.decisions} decisions, ${sent.entries} entries, ${sent.holds} hold changes, ${sent.transfers} transfers, ${sent.refusals} refused legs`,
  );

  let events = 0;
  if (options.events !== undefined) {
    const after = await eventsOf(options.events, options.tenant, options.account);
    for (let i = 0; i < after.length; i += chunk) {
      const batch = after.slice(i, i + chunk);
      const answer = await step({ step: "events", events: batch });
      events += Number(answer.done.entries) + Number(answer.done.changes) + Number(answer.done.holds);
    }
    say(`events: ${events} entries, settings changes and hold changes appended for ${options.account}`);
  }

  const finished = await step({ step: "finish" });
  return { periods, ...sent, events, finished: finished.done };
}

/** Reads the whole file once: refuses a file of another format or tenant, or one cut short, before anything is written. */
async function readSection(options: RestoreOptions): Promise<AccountSection> {
  let lineNumber = 0;
  let header = false;
  let trailer = false;
  let account: AccountLine | null = null;
  let end: AccountEndLine | null = null;
  const changes: BackupChange[] = [];
  const periods: PeriodView[] = [];
  const counted = { changes: 0, periods: 0, keys: 0, decisions: 0, entries: 0, holds: 0, transfers: 0, refusals: 0 };
  for await (const text of options.backup()) {
    lineNumber += 1;
    if (text === "") continue;
    if (trailer) fail(`line ${lineNumber} follows the trailer`);
    const record = parseLine(text, lineNumber);
    if (!header) {
      if (record.type !== "header" || record.format !== BACKUP_FORMAT)
        fail("this is not a backup file: its first line is no header");
      if (record.format_version !== BACKUP_FORMAT_VERSION) {
        fail(`the backup is of format version ${record.format_version}; this restore reads ${BACKUP_FORMAT_VERSION}`);
      }
      if (record.tenant !== options.tenant) fail(`the backup is of tenant ${record.tenant}, not ${options.tenant}`);
      header = true;
      continue;
    }
    if (record.type === "trailer") {
      if (record.lines !== lineNumber - 1)
        fail(`the trailer counts ${record.lines} lines; ${lineNumber - 1} came before it`);
      trailer = true;
      continue;
    }
    if (record.type === "header" || record.account !== options.account) continue;
    switch (record.type) {
      case "account":
        account = record;
        break;
      case "change":
        changes.push(record.change);
        counted.changes += 1;
        break;
      case "period":
        periods.push(record.period);
        counted.periods += 1;
        break;
      case "key":
        counted.keys += 1;
        break;
      case "decision":
        counted.decisions += 1;
        break;
      case "entry":
        counted.entries += 1;
        break;
      case "hold":
        counted.holds += 1;
        break;
      case "transfer":
        counted.transfers += 1;
        break;
      case "refusal":
        counted.refusals += 1;
        break;
      case "account_end":
        end = record;
        break;
    }
  }
  if (!trailer) fail("the backup has no trailer: it was cut short");
  if (account === null || end === null) fail(`the backup holds no account ${options.account}`);
  for (const [what, count] of Object.entries(counted)) {
    // A file written before holds, or before transfers, counts none of them.
    const counts = end[what as keyof typeof counted] ?? 0;
    if (counts !== count) fail(`the backup counts ${counts} ${what} of ${options.account}; it holds ${count}`);
  }
  return { account, changes, periods, end };
}

/** The account's events from a file of them, once each (by id), in event order. */
async function eventsOf(lines: () => Lines, tenant: string, account: string): Promise<RestoreEvent[]> {
  const byId = new Map<string, RestoreEvent>();
  let lineNumber = 0;
  for await (const text of lines()) {
    lineNumber += 1;
    if (text.trim() === "") continue;
    let event: {
      id?: unknown;
      tenant?: unknown;
      account?: unknown;
      event_seq?: unknown;
      type?: unknown;
      data?: unknown;
    };
    try {
      event = JSON.parse(text) as typeof event;
    } catch {
      fail(`events line ${lineNumber} is not JSON`);
    }
    if (event.tenant !== tenant || event.account !== account) continue;
    const type = event.type;
    if (typeof event.event_seq !== "number" || (type !== "entry" && type !== "account_change" && type !== "hold")) {
      fail(`events line ${lineNumber} is not a ledger event`);
    }
    const data = event.data as RestoreEvent["data"];
    byId.set(typeof event.id === "string" ? event.id : String(event.event_seq), {
      event_seq: event.event_seq,
      type,
      data,
    });
  }
  return [...byId.values()].sort((a, b) => a.event_seq - b.event_seq);
}

function fail(message: string): never {
  throw new BackupError(message);
}
