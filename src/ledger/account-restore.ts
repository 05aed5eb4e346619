import type {
  BackupChange,
  BackupDecision,
  BackupHoldChange,
  BackupHoldsCut,
  BackupKey,
  BackupRefusal,
  BackupState,
  BackupTransfer,
  BackupTransfersCut,
  RestoreEvent,
  RestoreStep,
} from "../contract/backup-records.ts";
import { ENTRY_TYPE_RULES, isEntryType } from "../domain/entry-types.ts";
import {
  ARCHIVE_OBJECT_MAX_BYTES,
  ARCHIVE_ROWS_PER_OBJECT,
  MAX_AMOUNT_MINOR,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_RESTORE_HOLD_CHANGES_PER_STEP,
  MAX_RESTORE_TRANSFERS_PER_STEP,
  MIN_AMOUNT_MINOR,
  TENANT_ID_PATTERN,
} from "../domain/limits.ts";
import { assertAmount, assertBalance, assertOverdraftLimit } from "../domain/money.ts";
import type { AccountChangeView, EntryView, HoldState, HoldView, PeriodView } from "../domain/views.ts";
import { ACCOUNT_NOT_FOUND } from "./ledger-writes.ts";
import { bytesToHex } from "../lib/hex.ts";
import { hash64 } from "../lib/hash64.ts";
import { saveDecision } from "./decisions.ts";
import { readEventCursor } from "./events.ts";
import {
  findHold,
  HOLD_STATES,
  holdChangeCount,
  holdSeqOf,
  holdsThrough,
  insertRestoredHold,
  resolveHold,
  type HoldRow,
} from "./hold-store.ts";
import { findKeyRow, insertKeyRow } from "./key-rows.ts";
import { auditLedger } from "./ledger-audit.ts";
import {
  addRefund,
  entryTypeCode,
  findEntryById,
  findEntryBySeq,
  parseEntryId,
  readHead,
  type LedgerHead,
} from "./ledger-store.ts";
import { stageHashes, type Hash } from "./key-locator.ts";
import { startStagedRun } from "./locator-job.ts";
import { keyIsTimed } from "./period-archive.ts";
import {
  findPeriod,
  insertObject,
  insertPeriod,
  lastPeriod,
  periodsAfter,
  seqText,
  type ObjectRow,
  type PeriodRow,
} from "./period-store.ts";
import { HOLDS_SCHEMA, hasSchema, migrate, raiseReadableFrom, TRANSFERS_SCHEMA } from "./schema.ts";
import type { CountedSql } from "./sql.ts";
import { legKey, settleKey } from "./transfer-operations.ts";
import {
  findTransfer,
  insertRestoredTransfer,
  parseTransferId,
  pendingTransfersHeld,
  recordRefusal,
  refusalCount,
  resolveTransfer,
  TRANSFER_STATES,
  transferCount,
  type TransferRow,
} from "./transfer-store.ts";

/**
 * Rebuilds an account object whose storage was lost, from what survives
 * it: its archived periods in R2 and a backup of what was still in the
 * object (account-backup.ts), plus, optionally, the ledger events published
 * after the backup. It writes only into an object that holds no account,
 * step by step (RestoreStep), each step a bounded transaction, and the
 * account row last: until then the object answers every request as an
 * account never opened (404, recording nothing), a trigger refuses a PUT
 * that would open it meanwhile, and a step that fails leaves nothing any
 * request was answered from, so the restore is begun again. docs/operations.md
 * ("Back up and restore an account") gives the procedure.
 *
 * What the object ends up holding:
 * - every period whose objects R2 holds whole, archived: its period row,
 *   object rows and its untimed keys' hashes (staged for the locator) rebuilt from the objects themselves, its
 *   chained digest recomputed from the entries objects (and checked against
 *   the backup's, for the periods it lists). Those whose rows the backup
 *   holds keep them (pruned 0, and leave as usual); the others, and every
 *   period before one of those, answer from the archive (pruned 2);
 * - the periods the backup lists as closing that R2 does not hold whole,
 *   closing again: the archive job writes their objects again, the same bytes;
 * - the backup's key rows and entries after those, and the settings history;
 * - every hold as it stood at the backup's cut, rebuilt by replaying its
 *   changes of state in order (holds never leave the object), checked
 *   against the cut's counts and what it held;
 * - every transfer out as it stood at the backup's cut (transfers never
 *   leave the object), the pending ones due for delivery at once, checked
 *   against the cut's count and what the pending ones set aside; and every
 *   leg refused before the account was opened;
 * - entries, settings changes and hold changes from the events after the
 *   backup, each entry's and each placed hold's key stored as a decision
 *   already expired (the events carry no fingerprint, so it could not be
 *   replayed): a retry gets 409 idempotency_key_expired naming the entry.
 *   A transfer_out entry among them posts its transfer, if pending here.
 */

/** A restore that cannot go on as asked; the object is left as it was before the step. */
export class RestoreRefused extends Error {
  override readonly name = "RestoreRefused";
}

function refuse(reason: string): never {
  throw new RestoreRefused(reason);
}

export interface RestoreHost {
  readonly storage: DurableObjectStorage;
  readonly sql: CountedSql;
  /** `<tenant>:<account>` when the object was reached by name. */
  readonly objectName: string | undefined;
  /** The account's archive bucket; null when it is not bound. */
  bucket(): R2Bucket | null;
}

/** What a restore remembers between its steps, kept in its own table until it finishes. */
interface Progress {
  readonly tenant: string;
  readonly account: string;
  readonly state: BackupState;
  readonly keysFrom: number;
  readonly phase: "periods" | "rows";
}

/** Every step's answer: what it did, and the step that comes next. */
export interface RestoreAnswer {
  readonly step: RestoreStep["step"];
  readonly done: Readonly<Record<string, unknown>>;
  readonly next: string | null;
}

/** The origin stored on a key rebuilt from an event: it names no request. */
export const RESTORED_ORIGIN = "restored-from-event";

const PROGRESS_TABLE = "restore_progress";
const GUARD = "restore_holds_account";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A keys line at its longest: a key of 255 characters each escaped, a code, an entry id and a time. */
const MAX_KEY_LINE_BYTES = 2 * MAX_IDEMPOTENCY_KEY_LENGTH + 200;
const FINGERPRINT_HEX = /^[0-9a-f]{32}$/;

export async function restoreStep(host: RestoreHost, step: RestoreStep): Promise<RestoreAnswer> {
  if (step.step === "status") return { step: "status", done: status(host), next: null };
  if (accountExists(host)) {
    refuse("the account exists: a restore writes only into an object that holds no account");
  }
  if (step.step === "begin") return begin(host, step);
  const progress = readProgress(host);
  if (progress === null) refuse("no restore is under way in this object: begin one first");
  switch (step.step) {
    case "period":
      return restorePeriod(host, progress, step.id, step.listed);
    case "periods_done":
      return periodsDone(host, progress, step.listed);
    case "keys":
      return rowsStep(host, progress, "keys", () => restoreKeys(host.sql, progress, step.rows));
    case "decisions":
      return rowsStep(host, progress, "decisions", () => restoreDecisions(host.sql, step.rows));
    case "entries":
      return rowsStep(host, progress, "entries", () => restoreEntries(host.sql, progress, step.rows));
    case "holds":
      return rowsStep(host, progress, "holds", () => restoreHolds(host.sql, progress, step.rows));
    case "transfers":
      return rowsStep(host, progress, "transfers", () => restoreTransfers(host.sql, progress, step.rows));
    case "refusals":
      return rowsStep(host, progress, "refusals", () => restoreRefusals(host.sql, progress.state, step.rows));
    case "events":
      return rowsStep(host, progress, "events", () => restoreEvents(host.sql, step.events));
    case "finish":
      return finish(host, progress);
  }
}

function accountExists(host: RestoreHost): boolean {
  return hasSchema(host.storage.sql) && host.sql.first<{ one: number }>("SELECT 1 AS one FROM account") !== undefined;
}

function progressTableExists(sql: CountedSql): boolean {
  return (
    sql.first<{ one: number }>(
      "SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = ?",
      PROGRESS_TABLE,
    ) !== undefined
  );
}

function readProgress(host: RestoreHost): Progress | null {
  if (!hasSchema(host.storage.sql) || !progressTableExists(host.sql)) return null;
  const row = host.sql.first<{ facts: string }>(`SELECT facts FROM ${PROGRESS_TABLE}`);
  return row === undefined ? null : (JSON.parse(row.facts) as Progress);
}

function saveProgress(sql: CountedSql, progress: Progress): void {
  sql.run(`UPDATE ${PROGRESS_TABLE} SET facts = ?`, JSON.stringify(progress));
}

function status(host: RestoreHost): Record<string, unknown> {
  const progress = readProgress(host);
  const exists = accountExists(host);
  if (progress === null) return { account_exists: exists, restoring: false };
  const sql = host.sql;
  const last = lastPeriod(sql);
  return {
    account_exists: exists,
    restoring: true,
    phase: progress.phase,
    periods: last?.id ?? 0,
    key_pos: sql.first<{ pos: number | null }>("SELECT MAX(pos) AS pos FROM keys")?.pos ?? 0,
    entry_seq: lastSeq(sql),
  };
}

/**
 * Starts a restore: clears whatever an earlier attempt left (an object with
 * no account row has answered nothing from its rows), creates the schema,
 * keeps the backup's cut and writes the settings history; from here a
 * trigger refuses any PUT that would open the account before the restore
 * finishes.
 */
async function begin(host: RestoreHost, step: Extract<RestoreStep, { step: "begin" }>): Promise<RestoreAnswer> {
  const { tenant, account, state } = step;
  if (!TENANT_ID_PATTERN.test(tenant)) refuse(`tenant ${JSON.stringify(tenant)} is not a tenant id`);
  if (host.objectName !== undefined && host.objectName !== `${tenant}:${account}`) {
    refuse(`this object is ${host.objectName}, not ${tenant}:${account}`);
  }
  if (state.account.name !== account) refuse(`the backup is of account ${state.account.name}, not ${account}`);
  if (state.account.tenant !== null && state.account.tenant !== tenant) {
    refuse(`the backup is of tenant ${state.account.tenant}, not ${tenant}`);
  }
  assertOverdraftLimit(state.account.overdraft_limit);
  checkInteger("keys_from", step.keys_from, 1, state.head.key_pos + 1);
  checkInteger("head.entry_count", state.head.entry_count, 0, Number.MAX_SAFE_INTEGER);
  if (state.entries_after !== null && state.entries_after.seq > state.head.entry_count) {
    refuse("the backup's entries start after its head");
  }
  checkHoldsCut(state);
  checkTransfersCut(state);
  await host.storage.deleteAll();
  await host.storage.deleteAlarm();
  const progress: Progress = { tenant, account, state, keysFrom: step.keys_from, phase: "periods" };
  host.storage.transactionSync(() => {
    migrate(host.storage.sql);
    host.sql.run(
      `CREATE TABLE ${PROGRESS_TABLE} (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), facts TEXT NOT NULL)`,
    );
    host.sql.run(`INSERT INTO ${PROGRESS_TABLE} (singleton, facts) VALUES (1, ?)`, JSON.stringify(progress));
    // A PUT that arrived now would open a new, empty account over the one being restored.
    host.sql.run(
      `CREATE TRIGGER ${GUARD} BEFORE INSERT ON account
         BEGIN SELECT RAISE(ABORT, 'refused: the account is being restored (docs/operations.md)'); END`,
    );
    let version = 0;
    for (const change of step.changes) {
      if (change.version < version) refuse(`the settings history goes back from version ${version}`);
      version = change.version;
      insertChange(host.sql, change, change.entry_seq_before);
    }
    if (version > state.account.version) refuse(`the settings history passes the account's version ${version}`);
  });
  return { step: "begin", done: { changes: step.changes.length }, next: "period 1" };
}

function insertChange(sql: CountedSql, change: AccountChangeView, entrySeqBefore: number): void {
  checkInteger(`change ${change.version}`, change.version, 1, Number.MAX_SAFE_INTEGER);
  checkInteger(`change ${change.version} entry_seq_before`, entrySeqBefore, 0, Number.MAX_SAFE_INTEGER);
  if (change.field !== "currency" && change.field !== "overdraft_limit") {
    refuse(`change ${change.version} sets ${change.field}`);
  }
  sql.run(
    "INSERT INTO account_changes (version, field, old, new, created_ms, idempotency_key, entry_seq_before, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    change.version,
    change.field,
    change.old === null ? null : JSON.stringify(change.old),
    JSON.stringify(change.new),
    timeMs(change.created),
    change.idempotency_key,
    entrySeqBefore,
    change.key_id,
  );
}

/** A period's objects as R2 names them: `entries-<n>.jsonl` and `keys-<n>.jsonl`, n from 0 with no gap. */
function periodPrefix(progress: Progress, id: number): string {
  return `${progress.tenant}/${progress.account}/periods/${String(id).padStart(10, "0")}/`;
}

async function listNames(bucket: R2Bucket, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await bucket.list(cursor === undefined ? { prefix } : { prefix, cursor });
    names.push(...page.objects.map((object) => object.key));
    if (!page.truncated) return names;
    cursor = page.cursor;
  }
}

async function readObject(bucket: R2Bucket, name: string): Promise<Uint8Array> {
  const object = await bucket.get(name);
  if (object === null) refuse(`${name} was listed and is gone`);
  return new Uint8Array(await object.arrayBuffer());
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** An archived keys line (period-archive.ts keyLine). */
interface KeyLine {
  readonly key: string;
  readonly status: number;
  readonly code: string | null;
  readonly entry: string | null;
  readonly decided: string;
}

/**
 * Rebuilds period `id` from its objects in R2, in one call: every entries
 * object read in order (checked seq by seq and balance by balance, its
 * digest taken, chained onto the previous period's), every keys object
 * (checked in key order; untimed keys' hashes are staged for the locator), then the period,
 * its objects, its staged hashes and its refunds written in one
 * transaction. The period must be whole in R2: the next period has objects
 * (archiving goes in order, so this one was sealed), or its counts are
 * those the backup lists, or its last keys object is one the archive job
 * writes last (fewer rows than it takes a step). A period the backup lists
 * as closing that is not whole is left to periods_done; any other is
 * refused.
 */
async function restorePeriod(
  host: RestoreHost,
  progress: Progress,
  id: number,
  listed: PeriodView | null,
): Promise<RestoreAnswer> {
  if (progress.phase !== "periods") refuse("the periods are restored already");
  const sql = host.sql;
  const previous = lastPeriod(sql);
  if (id <= (previous?.id ?? 0)) return { step: "period", done: { id, already: true }, next: `period ${id + 1}` };
  if (id !== (previous?.id ?? 0) + 1) refuse(`period ${id} comes after period ${previous?.id ?? 0}, not next`);
  if (listed !== null && listed.id !== id) refuse(`the backup's period ${listed.id} was given for period ${id}`);
  const bucket = host.bucket();
  if (bucket === null) {
    // Unbound, the archive job archives nothing (period-archive.ts): R2 holds no period of this account.
    if (listed?.state === "archived")
      refuse(`period ${id} was archived, but the account's archive bucket is not bound`);
    return { step: "period", done: { id, found: false, bucket: false }, next: "periods_done" };
  }
  const prefix = periodPrefix(progress, id);
  const names = await listNames(bucket, prefix);
  if (names.length === 0) return { step: "period", done: { id, found: false }, next: "periods_done" };
  const entriesNames = objectNames(names, prefix, "entries");
  const keysNames = objectNames(names, prefix, "keys");
  if (entriesNames.length + keysNames.length !== names.length) {
    refuse(`${prefix} holds objects the archive does not write: ${names.join(", ")}`);
  }
  if (entriesNames.length === 0) refuse(`${prefix} holds keys objects and no entries object`);
  const successor = (await bucket.list({ prefix: periodPrefix(progress, id + 1), limit: 1 })).objects.length > 0;

  const previousSha256 = previous?.sha256 ?? "";
  const chain = new crypto.DigestStream("SHA-256");
  const writer = chain.getWriter();
  await writer.write(encoder.encode(`${previousSha256}\n`));
  const objects: ObjectRow[] = [];
  const refunds = new Map<string, number>();
  const firstSeq = (previous?.lastSeq ?? 0) + 1;
  const openingBalance = previous?.closingBalance ?? 0;
  let seq = firstSeq;
  let balance = openingBalance;
  let latestMs = 0;
  let legs = false;
  for (const [n, name] of entriesNames.entries()) {
    const bytes = await readObject(bucket, name);
    await writer.write(bytes);
    const legacy: EntryView[] = [];
    const first = seq;
    for (const line of lines(bytes, name)) {
      const view = JSON.parse(line) as EntryView;
      checkEntry(view, seq, balance, name);
      balance = view.balance_after;
      seq += 1;
      latestMs = Math.max(latestMs, timeMs(view.created));
      if (view.charge !== null) refunds.set(view.charge, (refunds.get(view.charge) ?? 0) + view.amount);
      if (!isCurrentForm(view)) legacy.push(view);
      legs ||= isTransferLeg(view.type);
    }
    objects.push({
      kind: "entries",
      n,
      first: seqText(first),
      name,
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
    });
    // Entries stored before schema 7 never leave the object: they are written back with it.
    if (legacy.length > 0) host.storage.transactionSync(() => insertLegacyEntries(sql, legacy));
  }
  await writer.close();
  const sha256 = bytesToHex(new Uint8Array(await chain.digest));
  const lastSeq = seq - 1;

  let keyCount = 0;
  let previousKey = "";
  let firstDecidedMs: number | null = null;
  let lastDecidedMs: number | null = null;
  const untimed: Hash[] = [];
  let lastKeysObject = { lines: 0, bytes: 0 };
  for (const [n, name] of keysNames.entries()) {
    const bytes = await readObject(bucket, name);
    let count = 0;
    let first: string | null = null;
    for (const line of lines(bytes, name)) {
      const key = JSON.parse(line) as KeyLine;
      if (typeof key.key !== "string" || !(key.key > previousKey)) refuse(`${name} is not in key order at ${line}`);
      previousKey = key.key;
      first ??= key.key;
      const decidedMs = timeMs(key.decided);
      latestMs = Math.max(latestMs, decidedMs);
      if (keyIsTimed(key.key, decidedMs)) {
        firstDecidedMs = Math.min(firstDecidedMs ?? decidedMs, decidedMs);
        lastDecidedMs = Math.max(lastDecidedMs ?? decidedMs, decidedMs);
      } else {
        untimed.push(hash64(key.key));
      }
      count += 1;
    }
    if (first === null) refuse(`${name} is empty`);
    keyCount += count;
    lastKeysObject = { lines: count, bytes: bytes.length };
    objects.push({ kind: "keys", n, first, name, bytes: bytes.length, sha256: await sha256Hex(bytes) });
  }

  const counts = { first_seq: firstSeq, last_seq: lastSeq, entry_count: lastSeq - firstSeq + 1, key_count: keyCount };
  const asListed =
    listed !== null &&
    listed.first_seq === firstSeq &&
    listed.last_seq === lastSeq &&
    listed.key_count === keyCount &&
    listed.opening_balance === openingBalance &&
    listed.closing_balance === balance;
  // The archive job's keys step ends on an object of fewer rows than it reads at once (cut by bytes, never past them).
  const lastWritten =
    keysNames.length > 0 &&
    lastKeysObject.lines < ARCHIVE_ROWS_PER_OBJECT &&
    lastKeysObject.bytes <= ARCHIVE_OBJECT_MAX_BYTES - MAX_KEY_LINE_BYTES;
  if (!(successor || asListed || lastWritten)) {
    if (listed?.state === "closing") {
      return { step: "period", done: { id, found: true, whole: false, ...counts }, next: "periods_done" };
    }
    refuse(
      listed === null
        ? `period ${id}'s objects in R2 are not whole (its archive was cut off) and the backup does not list it: it was closed after the backup. Move ${prefix} aside and restore again; its keys objects hold decisions made after the backup`
        : `period ${id} in R2 does not match the backup's: ${JSON.stringify(counts)} against ${JSON.stringify(listed)}`,
    );
  }
  if (listed !== null) checkListed(listed, { ...counts, sha256, previousSha256, objects, asListed });

  const row = {
    id,
    firstSeq,
    lastSeq,
    firstPos: (previous?.lastPos ?? 0) + 1,
    lastPos: (previous?.lastPos ?? 0) + keyCount,
    openingBalance,
    closingBalance: balance,
    createdMs: listed === null ? latestMs : timeMs(listed.created),
  };
  host.storage.transactionSync(() => {
    insertPeriod(sql, row, null);
    stageHashes(sql, id, untimed);
    startStagedRun(sql, id);
    sql.run(
      `UPDATE periods SET state = 'archived', progress = '{"phase":"seal"}', sha256 = ?, previous_sha256 = ?,
         first_decided_ms = ?, last_decided_ms = ?, pruned = 2 WHERE id = ?`,
      sha256,
      previousSha256,
      firstDecidedMs,
      lastDecidedMs,
      id,
    );
    for (const object of objects) insertObject(sql, id, object);
    for (const [charge, amount] of refunds) addRefund(sql, charge, amount);
    // Code older than transfers cannot read a leg, even one answered from the archive.
    if (legs) raiseReadableFrom(sql, TRANSFERS_SCHEMA);
  });
  return { step: "period", done: { id, found: true, whole: true, ...counts, sha256 }, next: `period ${id + 1}` };
}

/** A period the backup lists must be the one R2 holds: the same counts and, once it was archived, the same digests. */
function checkListed(
  listed: PeriodView,
  found: {
    asListed: boolean;
    sha256: string;
    previousSha256: string;
    objects: readonly ObjectRow[];
    [fact: string]: unknown;
  },
): void {
  const { asListed, objects, ...facts } = found;
  if (!asListed)
    refuse(`period ${listed.id} in R2 is ${JSON.stringify(facts)}; the backup lists ${JSON.stringify(listed)}`);
  if (listed.state !== "archived") return;
  const same =
    listed.sha256 === found.sha256 &&
    listed.previous_sha256 === found.previousSha256 &&
    listed.objects.length === objects.length &&
    listed.objects.every((object, i) => {
      const other = objects[i];
      return (
        other !== undefined &&
        other.name === object.name &&
        other.kind === object.kind &&
        other.bytes === object.bytes &&
        other.sha256 === object.sha256
      );
    });
  if (!same) {
    refuse(
      `period ${listed.id}'s objects in R2 (sha256 ${found.sha256}) are not those the backup lists (sha256 ${listed.sha256 ?? "none"})`,
    );
  }
}

function objectNames(names: readonly string[], prefix: string, kind: "entries" | "keys"): string[] {
  const pattern = new RegExp(`^${kind}-(\\d{6})\\.jsonl$`);
  const found = names
    .map((name) => ({ name, n: pattern.exec(name.slice(prefix.length))?.[1] }))
    .filter((object): object is { name: string; n: string } => object.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n));
  found.forEach((object, i) => {
    if (Number(object.n) !== i) refuse(`${prefix} has no ${kind} object ${i}: the next is ${object.name}`);
  });
  return found.map((object) => object.name);
}

/** An object's lines: every one ends in "\n". */
function lines(bytes: Uint8Array, name: string): string[] {
  const text = decoder.decode(bytes);
  if (!text.endsWith("\n")) refuse(`${name} does not end with a whole line`);
  return text.slice(0, -1).split("\n");
}

/** An entry follows on from the one before it, in seq and in balance, and is well formed. */
function checkEntry(view: EntryView, seq: number, balance: number, where: string): void {
  if (view.seq !== seq) refuse(`${where}: entry ${view.seq} where ${seq} was due`);
  if (!isEntryType(view.type) || Math.sign(view.amount) !== ENTRY_TYPE_RULES[view.type].sign) {
    refuse(`${where}: entry ${seq} is a ${view.type} of ${view.amount}`);
  }
  assertAmount(Math.abs(view.amount));
  assertBalance(view.balance_after);
  if (view.balance_after !== balance + view.amount) {
    refuse(`${where}: entry ${seq} has balance ${view.balance_after}, not ${balance} + ${view.amount}`);
  }
  if ((view.charge !== null) !== (view.type === "refund")) refuse(`${where}: entry ${seq} names charge ${view.charge}`);
  if (typeof view.idempotency_key !== "string" || view.idempotency_key === "") {
    refuse(`${where}: entry ${seq} has no key`);
  }
}

/** Whether an entry's id is of the form entries have had since schema 7 (its seq inside it). */
function isCurrentForm(view: EntryView): boolean {
  return parseEntryId(view.id)?.seq === view.seq;
}

function insertLegacyEntries(sql: CountedSql, views: readonly EntryView[]): void {
  for (const view of views) {
    sql.run(
      `INSERT INTO entries (seq, id, type, amount, balance_after, created_ms, idempotency_key, charge_id, description, metadata, key_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`,
      view.seq,
      view.id,
      view.type,
      view.amount,
      view.balance_after,
      timeMs(view.created),
      view.idempotency_key,
      view.charge,
      view.description,
      JSON.stringify(view.metadata),
      view.key_id,
    );
  }
}

/**
 * After the last period R2 holds whole: which restored periods keep their
 * rows from the backup (those it holds every row of, after the last one it
 * does not), and the backup's closing periods R2 did not hold whole, closed
 * again to be archived again. From here on the rows follow.
 */
function periodsDone(host: RestoreHost, progress: Progress, listed: readonly PeriodView[]): RestoreAnswer {
  const sql = host.sql;
  if (progress.phase !== "periods") return { step: "periods_done", done: { already: true }, next: "keys" };
  const head = progress.state.head;
  const entriesFrom = (progress.state.entries_after?.seq ?? 0) + 1;
  const held = (p: Pick<PeriodRow, "firstPos" | "lastPos" | "firstSeq" | "lastSeq">) =>
    p.firstPos >= progress.keysFrom &&
    p.lastPos <= head.key_pos &&
    p.firstSeq >= entriesFrom &&
    p.lastSeq <= head.entry_count;
  const archived = periodsAfter(sql, 0, Number.MAX_SAFE_INTEGER);
  const fromArchive = archived.filter((period) => !held(period)).at(-1)?.id ?? 0;
  const closing: number[] = [];
  host.storage.transactionSync(() => {
    sql.run("UPDATE periods SET pruned = CASE WHEN id <= ? THEN 2 ELSE 0 END", fromArchive);
    let previous = archived.at(-1) ?? null;
    for (const view of [...listed].sort((a, b) => a.id - b.id)) {
      if (view.id <= (previous?.id ?? 0)) continue;
      if (view.id !== (previous?.id ?? 0) + 1) refuse(`the backup lists period ${view.id} after ${previous?.id ?? 0}`);
      if (view.state === "archived") {
        refuse(`period ${view.id} was archived when the backup was taken, but R2 does not hold it whole`);
      }
      const period = {
        id: view.id,
        firstSeq: view.first_seq,
        lastSeq: view.last_seq,
        firstPos: (previous?.lastPos ?? 0) + 1,
        lastPos: (previous?.lastPos ?? 0) + view.key_count,
        openingBalance: view.opening_balance,
        closingBalance: view.closing_balance,
        createdMs: timeMs(view.created),
      };
      if (
        period.firstSeq !== (previous?.lastSeq ?? 0) + 1 ||
        period.openingBalance !== (previous?.closingBalance ?? 0)
      ) {
        refuse(`the backup's period ${view.id} does not follow on from period ${previous?.id ?? 0}`);
      }
      if (!held(period)) refuse(`the backup does not hold every row of period ${view.id}, closed and not archived`);
      insertPeriod(sql, period, null);
      closing.push(view.id);
      previous = findPeriod(sql, view.id);
    }
    saveProgress(sql, { ...progress, phase: "rows" });
  });
  return {
    step: "periods_done",
    done: { archived: archived.length, answered_from_archive_through: fromArchive, closing },
    next: "keys",
  };
}

/** The rows steps run once the periods are in, each chunk in one transaction. */
function rowsStep(
  host: RestoreHost,
  progress: Progress,
  step: "keys" | "decisions" | "entries" | "holds" | "transfers" | "refusals" | "events",
  write: () => Record<string, unknown>,
): RestoreAnswer {
  if (progress.phase !== "rows") refuse(`${step} come after periods_done`);
  const done = host.storage.transactionSync(write);
  return { step, done, next: null };
}

/** The last period whose rows are answered from the archive: rows of the backup at or before it are not written. */
function archivedFloor(sql: CountedSql): { pos: number; seq: number } {
  const row = sql.first<{ last_pos: number; last_seq: number }>(
    "SELECT last_pos, last_seq FROM periods WHERE pruned = 2 ORDER BY id DESC LIMIT 1",
  );
  return { pos: row?.last_pos ?? 0, seq: row?.last_seq ?? 0 };
}

/** The last seq of the last archived period: the entries R2 holds (and whose refunds were counted from it). */
function archivedThroughSeq(sql: CountedSql): number {
  return (
    sql.first<{ last_seq: number }>("SELECT last_seq FROM periods WHERE state = 'archived' ORDER BY id DESC LIMIT 1")
      ?.last_seq ?? 0
  );
}

function lastSeq(sql: CountedSql): number {
  return (
    sql.first<{ seq: number | null }>(
      `SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM ledger), (SELECT COALESCE(MAX(seq), 0) FROM entries),
                  (SELECT COALESCE(MAX(last_seq), 0) FROM periods)) AS seq`,
    )?.seq ?? 0
  );
}

function restoreKeys(sql: CountedSql, progress: Progress, rows: readonly BackupKey[]): Record<string, unknown> {
  const floor = archivedFloor(sql).pos;
  let have = sql.first<{ pos: number | null }>("SELECT MAX(pos) AS pos FROM keys")?.pos ?? 0;
  let written = 0;
  for (const row of rows) {
    if (row.pos <= floor || row.pos <= have) continue;
    if (row.pos < progress.keysFrom) refuse(`key row ${row.pos} is before the backup's run of key rows`);
    if (row.pos > progress.state.head.key_pos) refuse(`key row ${row.pos} is past the backup's head`);
    if (!FINGERPRINT_HEX.test(row.fingerprint)) refuse(`key row ${row.pos} has fingerprint ${row.fingerprint}`);
    insertKeyRow(
      sql,
      {
        key: row.key,
        fingerprint: row.fingerprint,
        status: row.status,
        code: row.code,
        entrySeq: row.entry_seq,
        decidedMs: timeMs(row.decided),
        expiresMs: timeMs(row.expires),
        requestTag: row.request_tag,
        origin: row.origin,
        digests: row.digests,
        view: row.view,
        body: row.body,
      },
      row.pos,
    );
    have = row.pos;
    written += 1;
  }
  return { written, skipped: rows.length - written };
}

function restoreDecisions(sql: CountedSql, rows: readonly BackupDecision[]): Record<string, unknown> {
  const have = sql.first<{ key: string | null }>("SELECT MAX(key) AS key FROM decisions")?.key ?? "";
  let written = 0;
  let previous = have;
  for (const row of rows) {
    if (row.key <= have) continue;
    if (!(row.key > previous)) refuse(`decision ${row.key} is out of key order`);
    previous = row.key;
    saveDecision(sql, {
      key: row.key,
      fingerprint: row.fingerprint,
      status: row.status,
      code: row.code,
      entryId: row.entry,
      decidedMs: timeMs(row.decided),
    });
    const record = row.record;
    if (record !== null) {
      sql.run(
        `INSERT INTO idempotency_records (key, request_id, fingerprint, status, body, created_ms, expires_ms, field_digests, origin_request_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        row.key,
        record.request_id,
        record.fingerprint,
        record.status,
        record.body,
        timeMs(record.created),
        timeMs(record.expires),
        record.field_digests === null ? null : JSON.stringify(record.field_digests),
        record.origin_request_id,
      );
    }
    written += 1;
  }
  return { written, skipped: rows.length - written };
}

function restoreEntries(sql: CountedSql, progress: Progress, rows: readonly EntryView[]): Record<string, unknown> {
  const floor = archivedFloor(sql).seq;
  const archivedThrough = archivedThroughSeq(sql);
  let have = sql.first<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM ledger")?.seq ?? 0;
  let written = 0;
  for (const view of rows) {
    if (view.seq > progress.state.head.entry_count) refuse(`entry ${view.seq} is past the backup's head`);
    if (!isCurrentForm(view)) {
      // Entries from before schema 7 of archived periods were written back from R2 with their period.
      if (view.seq <= archivedThrough) continue;
      if (sql.first<{ one: number }>("SELECT 1 AS one FROM entries WHERE seq = ?", view.seq) !== undefined) continue;
      insertLegacyEntries(sql, [view]);
    } else {
      if (view.seq <= floor || view.seq <= have) continue;
      insertLedgerRow(sql, view, keyPosOf(sql, view));
      have = view.seq;
    }
    if (view.charge !== null && view.seq > archivedThrough) addRefund(sql, view.charge, view.amount);
    written += 1;
  }
  return { written, skipped: rows.length - written };
}

/** The pos of the key row that appended `view`, which must name it. */
function keyPosOf(sql: CountedSql, view: EntryView): number {
  const key = findKeyRow(sql, view.idempotency_key);
  if (key === null) refuse(`entry ${view.seq}'s key is not among the key rows restored`);
  if (key.entrySeq !== view.seq) refuse(`entry ${view.seq}'s key names entry ${key.entrySeq}`);
  return key.pos;
}

function insertLedgerRow(sql: CountedSql, view: EntryView, keyPos: number): void {
  const parsed = parseEntryId(view.id);
  if (parsed?.seq !== view.seq || parsed.type !== view.type) refuse(`entry ${view.seq} has id ${view.id}`);
  if (isTransferLeg(parsed.type)) {
    if (view.transfer === undefined || parseTransferId(view.transfer) === null) {
      refuse(`entry ${view.seq} is a ${view.type} of transfer ${String(view.transfer)}, not a transfer id`);
    }
    // As sending or receiving a transfer does (transfer-operations.ts): older code cannot read a leg.
    raiseReadableFrom(sql, TRANSFERS_SCHEMA);
  }
  const written = sql.write(
    "INSERT INTO ledger (seq, tag, type, amount, balance_after, created_ms, key_pos, charge_id, description, metadata, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    view.seq,
    parsed.tag,
    entryTypeCode(parsed.type),
    view.amount,
    view.balance_after,
    timeMs(view.created),
    keyPos,
    view.hold ?? view.transfer ?? view.charge,
    view.description,
    Object.keys(view.metadata).length === 0 ? null : JSON.stringify(view.metadata),
    view.key_id,
  );
  if (written === 0) throw new Error(`invariant: entry ${view.seq} was not written`);
}

function isTransferLeg(type: string): boolean {
  return type === "transfer_out" || type === "transfer_in";
}

/** The backup's transfers at its cut; a backup taken before transfers has none. */
function transfersCut(state: BackupState): BackupTransfersCut {
  return state.transfers ?? { count: 0, held: 0, refusals: 0 };
}

/** The cut's transfer counts are counts, and nothing is set aside by no transfer. */
function checkTransfersCut(state: BackupState): void {
  const cut = transfersCut(state);
  checkInteger("transfers.count", cut.count, 0, Number.MAX_SAFE_INTEGER);
  checkInteger("transfers.held", cut.held, 0, cut.count * MAX_AMOUNT_MINOR);
  checkInteger("transfers.refusals", cut.refusals, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * The backup's transfers, in seq order from the first one this object
 * lacks, each written as it stood at the cut (transferOf): transfers are
 * never deleted, so the backup holds every one from 1 to the cut's count
 * with no gap; once the last is in, the pending ones must set aside what
 * the cut says. The first one raises readable_from to TRANSFERS_SCHEMA, as
 * sending one does.
 */
function restoreTransfers(
  sql: CountedSql,
  progress: Progress,
  rows: readonly BackupTransfer[],
): Record<string, unknown> {
  if (rows.length > MAX_RESTORE_TRANSFERS_PER_STEP) {
    refuse(`${rows.length} transfers in one step; at most ${MAX_RESTORE_TRANSFERS_PER_STEP}`);
  }
  const cut = transfersCut(progress.state);
  // One time for the step: every pending transfer it writes is due for delivery at once.
  const nowMs = Date.now();
  let written = 0;
  for (const row of rows) {
    const have = transferCount(sql);
    if (row.seq <= have) continue;
    if (row.seq > cut.count) refuse(`transfer ${row.seq} is past the backup's cut, transfer ${cut.count}`);
    if (row.seq !== have + 1) refuse(`transfer ${row.seq} comes after transfer ${have}: the backup lacks some`);
    raiseReadableFrom(sql, TRANSFERS_SCHEMA);
    insertRestoredTransfer(sql, transferOf(sql, progress, row, nowMs));
    written += 1;
  }
  if (written > 0 && transferCount(sql) === cut.count) checkTransfersHeld(sql, cut);
  return { written, skipped: rows.length - written };
}

/** The transfers pending once the cut's last one is in set aside what the cut says they did. */
function checkTransfersHeld(sql: CountedSql, cut: BackupTransfersCut): void {
  const held = pendingTransfersHeld(sql);
  if (held !== cut.held) {
    refuse(`the transfers restored pending set aside ${held}; the backup's state says ${cut.held}`);
  }
}

/** At finish: every transfer up to the cut's, and every refused leg it counts, is in. */
function checkTransfersAtFinish(sql: CountedSql, cut: BackupTransfersCut): void {
  const count = transferCount(sql);
  if (count !== cut.count) {
    refuse(`the restored transfers end at ${count}; the backup's cut counts ${cut.count}: the backup lacks some`);
  }
  const refusals = refusalCount(sql);
  if (refusals !== cut.refusals) {
    refuse(`${refusals} refused transfer legs were restored; the backup's cut counts ${cut.refusals}`);
  }
}

/**
 * The transfer a backup row carries, checked as transfer-store.ts's reads
 * check a row, and against what the restored keys and entries say of its
 * settlement (its key, transfer-operations.ts settleKey, and a posted one's
 * transfer_out entry, where the object holds them). A pending one keeps
 * its deliveries so far and is due at `nowMs`: its destination may have
 * applied its leg already, and delivering it again is how the source learns.
 */
function transferOf(sql: CountedSql, progress: Progress, row: BackupTransfer, nowMs: number): TransferRow {
  const where = `transfer ${row.seq}`;
  if (parseTransferId(row.id)?.seq !== row.seq)
    refuse(`${where} has id ${row.id}, not a transfer id of seq ${row.seq}`);
  if (!TRANSFER_STATES.includes(row.state)) refuse(`${where} is in state ${row.state}`);
  if (row.from !== progress.account) refuse(`${where} is from ${row.from}, not ${progress.account}`);
  if (typeof row.to !== "string" || row.to === "" || row.to === row.from) refuse(`${where} goes to ${row.to}`);
  checkInteger(`${where} amount`, row.amount, MIN_AMOUNT_MINOR, MAX_AMOUNT_MINOR);
  checkInteger(`${where} attempts`, row.attempts, 0, Number.MAX_SAFE_INTEGER);
  if ((row.state === "voided") !== (typeof row.reason === "string" && row.reason !== "")) {
    refuse(`${where} is ${row.state} with reason ${String(row.reason)}`);
  }
  if ((row.state === "pending") !== (row.resolved === null)) {
    refuse(`${where} is ${row.state}, resolved ${String(row.resolved)}`);
  }
  if (typeof row.idempotency_key !== "string" || row.idempotency_key === "") refuse(`${where} has no key`);
  checkSettlement(sql, progress.state, where, row);
  return {
    seq: row.seq,
    id: row.id,
    to: row.to,
    amount: row.amount,
    state: row.state,
    reason: row.reason,
    createdMs: timeMs(row.created),
    resolvedMs: row.resolved === null ? null : timeMs(row.resolved),
    attempts: row.attempts,
    nextAttemptMs: row.state === "pending" ? nowMs : timeMs(row.next_attempt),
    idempotencyKey: row.idempotency_key,
    description: row.description,
    metadata: row.metadata,
    keyId: row.key_id,
  };
}

/**
 * A transfer is settled under its own key, once (transfer-operations.ts):
 * pending at the cut, its key is not among the backup's; posted, the key
 * (while here) names its transfer_out entry, which comes no later than the
 * cut and, where the object holds it, takes the amount and names the
 * transfer back; voided, the key names no entry.
 */
function checkSettlement(sql: CountedSql, state: BackupState, where: string, row: BackupTransfer): void {
  const settled = findKeyRow(sql, settleKey(row.id));
  if (row.state === "pending") {
    if (settled !== null) refuse(`${where} is pending, yet it was settled at key ${settled.pos}`);
    return;
  }
  if (row.state === "voided") {
    if (settled?.entrySeq != null) refuse(`${where} is voided, yet its settlement appended entry ${settled.entrySeq}`);
    return;
  }
  if (row.entry === null) {
    // Its key left the object with an archived period, and its entry is in R2.
    if (settled !== null) refuse(`${where} is posted naming no entry, yet its settlement is key ${settled.pos}`);
    return;
  }
  const parsed = parseEntryId(row.entry);
  if (parsed?.type !== "transfer_out" || parsed.seq > state.head.entry_count) {
    refuse(`${where} was posted as ${row.entry}, not a transfer_out entry up to the backup's head`);
  }
  if (settled !== null && settled.entrySeq !== parsed.seq) {
    refuse(`${where} was posted as ${row.entry}; its settlement appended entry ${String(settled.entrySeq)}`);
  }
  if (parsed.seq <= archivedFloor(sql).seq) return;
  const entry = findEntryById(sql, row.entry);
  if (entry === null) refuse(`${where}'s transfer_out ${row.entry} is not among the entries`);
  if (entry.amount !== -row.amount || entry.names !== row.id) {
    refuse(`${where} of ${row.amount} was posted as ${entry.id}, of ${-entry.amount} naming ${String(entry.names)}`);
  }
}

/**
 * The legs this account refused before it was opened, in key order from
 * the first one it lacks: each of a leg's key, refused as an account not
 * found (the one refusal an object records so: AccountLedger.receiveTransfer),
 * so a leg sent again is still refused once restored.
 */
function restoreRefusals(sql: CountedSql, state: BackupState, rows: readonly BackupRefusal[]): Record<string, unknown> {
  if (rows.length > MAX_RESTORE_TRANSFERS_PER_STEP) {
    refuse(`${rows.length} refused legs in one step; at most ${MAX_RESTORE_TRANSFERS_PER_STEP}`);
  }
  const have = sql.first<{ key: string | null }>("SELECT MAX(leg_key) AS key FROM transfer_refusals")?.key ?? "";
  let previous = have;
  let written = 0;
  for (const row of rows) {
    if (row.leg_key <= have) continue;
    if (!(row.leg_key > previous)) refuse(`refused leg ${row.leg_key} is out of key order`);
    previous = row.leg_key;
    const [, from, transfer] = row.leg_key.split(" ");
    if (from === undefined || transfer === undefined || legKey(from, transfer) !== row.leg_key) {
      refuse(`refused leg ${row.leg_key} is not a transfer leg's key`);
    }
    if (parseTransferId(transfer) === null) refuse(`refused leg ${row.leg_key} names no transfer id`);
    if (row.code !== ACCOUNT_NOT_FOUND.code) refuse(`refused leg ${row.leg_key} was refused as ${row.code}`);
    recordRefusal(sql, row.leg_key, row.code, timeMs(row.decided));
    written += 1;
  }
  if (refusalCount(sql) > transfersCut(state).refusals) {
    refuse(`more refused legs than the backup's cut counts, ${transfersCut(state).refusals}`);
  }
  return { written, skipped: rows.length - written };
}

/** The backup's holds at its cut; a backup taken before holds has none. */
function holdsCut(state: BackupState): BackupHoldsCut {
  return state.holds ?? { count: 0, changes: 0, held: 0 };
}

/** The cut's hold counts are counts, and its event cursor is not past its hold changes. */
function checkHoldsCut(state: BackupState): void {
  const cut = holdsCut(state);
  checkInteger("holds.count", cut.count, 0, Number.MAX_SAFE_INTEGER);
  checkInteger("holds.changes", cut.changes, cut.count, 2 * cut.count);
  checkInteger("holds.held", cut.held, 0, Number.MAX_SAFE_INTEGER);
  checkInteger("event_cursor.hold_change", state.event_cursor.hold_change ?? 0, 0, cut.changes);
}

/**
 * The backup's hold changes, in seq order from the first one this object
 * lacks: each places its hold or resolves it, as hold-operations.ts did
 * (applyHoldChange). Changes are never deleted, so the backup holds every
 * one from 1 to its cut with no gap; once the last is in, the holds must
 * be those the cut counts and set aside what it held.
 */
function restoreHolds(sql: CountedSql, progress: Progress, rows: readonly BackupHoldChange[]): Record<string, unknown> {
  if (rows.length > MAX_RESTORE_HOLD_CHANGES_PER_STEP) {
    refuse(`${rows.length} hold changes in one step; at most ${MAX_RESTORE_HOLD_CHANGES_PER_STEP}`);
  }
  const cut = holdsCut(progress.state);
  let written = 0;
  for (const row of rows) {
    const have = holdChangeCount(sql);
    if (row.seq <= have) continue;
    if (row.seq > cut.changes) refuse(`hold change ${row.seq} is past the backup's cut, hold change ${cut.changes}`);
    if (row.seq !== have + 1) refuse(`hold change ${row.seq} comes after hold change ${have}: the backup lacks some`);
    checkInteger(`hold change ${row.seq} entry_seq_before`, row.entry_seq_before, 0, progress.state.head.entry_count);
    applyHoldChange(sql, `hold change ${row.seq}`, {
      state: row.state,
      createdMs: timeMs(row.created),
      entrySeqBefore: row.entry_seq_before,
      holdSeq: row.hold_seq,
      view: row.hold,
      keyId: row.hold.key_id,
    });
    written += 1;
  }
  if (written > 0 && holdChangeCount(sql) === cut.changes) checkHoldsAtCut(sql, cut);
  return { written, skipped: rows.length - written };
}

/** The holds restored up to the cut's last change are the ones the cut counts, setting aside what it held. */
function checkHoldsAtCut(sql: CountedSql, cut: BackupHoldsCut): void {
  const found = holdsThrough(sql, cut.changes);
  if (found.changes !== cut.changes || found.holds !== cut.count) {
    refuse(
      `the holds restored up to the backup's cut are ${found.holds} holds and ${found.changes} changes; it counts ${cut.count} and ${cut.changes}: the backup lacks some`,
    );
  }
  if (found.held !== cut.held) {
    refuse(`the holds restored set aside ${found.held} at the backup's cut; the backup's state says ${cut.held}`);
  }
}

/** A change of a hold's state to write back: from the backup (a hold_changes row) or from a hold event. */
interface HoldChange {
  readonly state: HoldState;
  readonly createdMs: number;
  readonly entrySeqBefore: number;
  readonly holdSeq: number;
  /** The hold as the change left it. */
  readonly view: HoldView;
  readonly keyId: string | null;
}

/**
 * Writes one change of a hold's state as the next hold change: `held`
 * places the hold (the next hold, under its own id), any other resolves a
 * held hold once, a capture naming its entry, which comes before it. The
 * first hold restored raises the object's oldest reader to HOLDS_SCHEMA, as
 * placing one does (hold-operations.ts): older code would spend held funds.
 */
function applyHoldChange(sql: CountedSql, where: string, change: HoldChange): void {
  const hold = holdOf(where, change);
  if (change.state === "held") {
    raiseReadableFrom(sql, HOLDS_SCHEMA);
    insertRestoredHold(sql, hold, change.entrySeqBefore);
    return;
  }
  const stored = findHold(sql, hold.id);
  if (stored === null) refuse(`${where} ${change.state} hold ${hold.id}, which was never placed`);
  if (stored.state !== "held") refuse(`${where} ${change.state} hold ${hold.id}, already ${stored.state}`);
  if (!samePlacement(stored, hold)) refuse(`${where} shows hold ${hold.id} otherwise than it was placed`);
  let capture: { amount: number; id: string } | null = null;
  if (change.state === "captured") {
    checkCapture(sql, where, hold, change.entrySeqBefore);
    capture = { amount: hold.captured, id: hold.capture as string };
  }
  resolveHold(sql, stored, change.state, change.createdMs, change.entrySeqBefore, capture);
}

/**
 * The hold a change carries, checked as hold-store.ts's reads check a row:
 * its id parses to its seq, its state is the change's, an amount in bounds,
 * captured only with a capture and never more than held, resolved (at the
 * change's time) once it is no longer held, placed at the change's time.
 */
function holdOf(where: string, change: HoldChange): HoldRow {
  const view = change.view;
  if (!HOLD_STATES.includes(change.state) || view.state !== change.state) {
    refuse(`${where} is a change to ${change.state} of a hold ${view.state}`);
  }
  if (holdSeqOf(view.id) !== change.holdSeq) refuse(`${where} is of hold ${change.holdSeq}, whose id is ${view.id}`);
  checkInteger(`${where} amount`, view.amount, MIN_AMOUNT_MINOR, MAX_AMOUNT_MINOR);
  const captured = view.state === "captured";
  if (captured !== (view.capture !== null)) refuse(`${where}: a ${view.state} hold with capture ${view.capture}`);
  checkInteger(`${where} captured`, view.captured, captured ? MIN_AMOUNT_MINOR : 0, captured ? view.amount : 0);
  const createdMs = timeMs(view.created);
  const resolvedMs = view.resolved === null ? null : timeMs(view.resolved);
  const placedAt = view.state === "held" ? createdMs : resolvedMs;
  if (placedAt !== change.createdMs) refuse(`${where} was made at ${change.createdMs}, its hold says ${placedAt}`);
  if (typeof view.idempotency_key !== "string" || view.idempotency_key === "") refuse(`${where}: its hold has no key`);
  return {
    seq: change.holdSeq,
    id: view.id,
    amount: view.amount,
    state: view.state,
    captured: view.captured,
    capture: view.capture,
    expiresMs: timeMs(view.expires),
    createdMs,
    resolvedMs,
    idempotencyKey: view.idempotency_key,
    description: view.description,
    metadata: view.metadata,
    keyId: change.keyId,
  };
}

/** What a hold was placed with, which no later change of it alters. */
function samePlacement(a: HoldRow, b: HoldRow): boolean {
  return (
    a.amount === b.amount &&
    a.expiresMs === b.expiresMs &&
    a.createdMs === b.createdMs &&
    a.idempotencyKey === b.idempotencyKey &&
    a.description === b.description &&
    JSON.stringify(a.metadata) === JSON.stringify(b.metadata)
  );
}

/**
 * A captured hold names its capture entry, placed just before the change
 * (hold-operations.ts applyCapture): a capture at `entrySeqBefore`, which,
 * when the object holds it (its period not answered from the archive),
 * takes what the hold captured and names the hold back.
 */
function checkCapture(sql: CountedSql, where: string, hold: HoldRow, entrySeqBefore: number): void {
  const parsed = parseEntryId(hold.capture ?? "");
  if (parsed?.type !== "capture" || parsed.seq !== entrySeqBefore) {
    refuse(`${where} captured hold ${hold.id} as ${String(hold.capture)}, not a capture at entry ${entrySeqBefore}`);
  }
  if (parsed.seq <= archivedFloor(sql).seq) return;
  const entry = findEntryById(sql, hold.capture as string);
  if (entry === null) refuse(`${where}: hold ${hold.id}'s capture ${String(hold.capture)} is not among the entries`);
  if (entry.amount !== -hold.captured || entry.names !== hold.id) {
    refuse(
      `${where}: hold ${hold.id} captured ${hold.captured} as ${entry.id}, a capture of ${-entry.amount} naming ${String(entry.names)}`,
    );
  }
}

/**
 * The events published after the backup, in event order. Events are
 * numbered without a gap over the entries, settings changes and hold
 * changes, so the object holds the events up to the count of those: an
 * event after the next one is refused (the events lack some), one the
 * object holds is checked against it, and the next one is applied. Each
 * entry is appended with its own id, seq and time, under a key row decided
 * when it was created and expired at once (the events carry no
 * fingerprint, so a retry gets 409 idempotency_key_expired naming the
 * entry, never a replay); each settings change is added, and each hold
 * change placed or resolved (holdFromEvent), at the place in the ledger
 * its event gives it.
 */
function restoreEvents(sql: CountedSql, events: readonly RestoreEvent[]): Record<string, unknown> {
  const applied = { entries: 0, changes: 0, holds: 0 };
  for (const event of events) {
    const next = eventsHeld(sql) + 1;
    if (event.event_seq > next) {
      refuse(
        `event ${event.event_seq} comes after event ${next - 1}, the last this ledger holds: the events lack some`,
      );
    }
    // The step's body is JSON from the operator: a type this restore does not know is refused, not skipped.
    const type: string = event.type;
    if (type === "entry") {
      if (entryFromEvent(sql, event, next)) applied.entries += 1;
    } else if (type === "account_change") {
      if (changeFromEvent(sql, event, next)) applied.changes += 1;
    } else if (type === "hold") {
      if (holdFromEvent(sql, event, next)) applied.holds += 1;
    } else {
      refuse(`event ${event.event_seq} is of type ${type}`);
    }
  }
  const written = applied.entries + applied.changes + applied.holds;
  return { ...applied, skipped: events.length - written };
}

/** How many events the object holds: one for each entry, settings change and hold change. */
function eventsHeld(sql: CountedSql): number {
  const changes = sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM account_changes")?.n ?? 0;
  return readHead(sql).entryCount + changes + holdChangeCount(sql);
}

/** An event the object does not hold yet must be the next one. */
function checkNext(event: RestoreEvent, next: number, what: string): void {
  if (event.event_seq !== next) {
    refuse(`event ${event.event_seq} is ${what}, which this ledger lacks; its next event is ${next}`);
  }
}

/** An entry event: checked where the ledger holds it, else appended as the next entry. Whether it was appended. */
function entryFromEvent(sql: CountedSql, event: RestoreEvent, next: number): boolean {
  const view = event.data as EntryView;
  const head = readHead(sql);
  if (view.seq <= head.entryCount) {
    const held = findEntryBySeq(sql, view.seq);
    if (held !== null && held.id !== view.id)
      refuse(`event ${event.event_seq} is entry ${view.id}; entry ${view.seq} here is ${held.id}`);
    return false;
  }
  if (view.seq !== head.entryCount + 1)
    refuse(`event ${event.event_seq} is entry ${view.seq}; the ledger ends at ${head.entryCount}`);
  checkNext(event, next, `entry ${view.seq}`);
  appendFromEvent(sql, head, view);
  if (view.type === "transfer_out") postFromEvent(sql, `event ${event.event_seq}`, view);
  return true;
}

/**
 * A transfer_out entry from the events: its transfer was posted after the
 * cut. One the backup holds pending is posted now, at the entry's time, so
 * the restored object never delivers and posts it again; one it holds
 * settled, or otherwise, is refused. One decided after the cut is in no
 * backup and no event (a transfer's own change of state is not an event):
 * the entry stands alone, its settlement key stored with it, so it is
 * posted once, and GET .../transfers/{id} answers 404 (its destination is
 * in no event either).
 */
function postFromEvent(sql: CountedSql, where: string, view: EntryView): void {
  const id = view.transfer ?? "";
  const parsed = parseTransferId(id);
  if (parsed === null) refuse(`${where} is a transfer_out of ${id}, not a transfer id`);
  const transfer = findTransfer(sql, id);
  if (transfer === null) {
    if (parsed.seq <= transferCount(sql))
      refuse(`${where} posts transfer ${id}; transfer ${parsed.seq} here is another`);
    return;
  }
  if (transfer.state !== "pending") refuse(`${where} posts transfer ${id}, which is ${transfer.state} here`);
  if (-view.amount !== transfer.amount) {
    refuse(`${where} posts ${-view.amount} of transfer ${id}, which sets aside ${transfer.amount}`);
  }
  resolveTransfer(sql, transfer, { state: "posted" }, timeMs(view.created));
}

/** A settings change event: added after the history, at the ledger's end, unless the history holds it. */
function changeFromEvent(sql: CountedSql, event: RestoreEvent, next: number): boolean {
  const change = event.data as AccountChangeView;
  const known = sql.first<{ one: number }>(
    "SELECT 1 AS one FROM account_changes WHERE version = ? AND field = ?",
    change.version,
    change.field,
  );
  if (known !== undefined) return false;
  const version =
    sql.first<{ version: number | null }>("SELECT MAX(version) AS version FROM account_changes")?.version ?? 0;
  if (change.version !== version + 1)
    refuse(`event ${event.event_seq} is change ${change.version}; the history ends at ${version}`);
  checkNext(event, next, `change ${change.version}`);
  // The events before it are held: the entries before it are the ledger's.
  insertChange(sql, change, readHead(sql).entryCount);
  if (change.idempotency_key !== null && findKeyRow(sql, change.idempotency_key) === null) {
    decidedFromEvent(
      sql,
      readHead(sql).keyPos + 1,
      change.idempotency_key,
      200,
      null,
      timeMs(change.created),
      JSON.stringify(change),
    );
  }
  return true;
}

/**
 * A hold event (the hold as its change left it). One the object holds must
 * agree with it: the hold is there, and in that state unless the event
 * placed it. The next one is written as the next hold change, after the
 * ledger's entries (a capture's own entry event comes before it); one that
 * places a hold stores the hold's key as decided then and expired at once.
 */
function holdFromEvent(sql: CountedSql, event: RestoreEvent, next: number): boolean {
  const view = event.data as HoldView;
  const where = `event ${event.event_seq}`;
  if (event.event_seq < next) {
    const stored = findHold(sql, view.id);
    if (stored === null) refuse(`${where} is hold ${view.id}, which this ledger does not hold`);
    if (view.state !== "held" && stored.state !== view.state) {
      refuse(`${where} says hold ${view.id} was ${view.state}; here it is ${stored.state}`);
    }
    return false;
  }
  checkNext(event, next, `hold ${view.id} ${view.state}`);
  const holdSeq = holdSeqOf(view.id);
  if (holdSeq === null) refuse(`${where} is hold ${view.id}, not a hold id`);
  const createdMs = timeMs((view.state === "held" ? view.created : view.resolved) ?? "");
  const head = readHead(sql);
  applyHoldChange(sql, where, {
    state: view.state,
    createdMs,
    entrySeqBefore: head.entryCount,
    holdSeq,
    view,
    keyId: null,
  });
  if (view.state === "held") {
    if (findKeyRow(sql, view.idempotency_key) !== null) refuse(`${where}: hold ${view.id}'s key was decided before`);
    decidedFromEvent(sql, head.keyPos + 1, view.idempotency_key, 201, null, createdMs, JSON.stringify(view));
  }
  return true;
}

function appendFromEvent(sql: CountedSql, head: LedgerHead, view: EntryView): void {
  checkEntry(view, head.entryCount + 1, head.balance, "the events");
  if (!isCurrentForm(view)) refuse(`event entry ${view.seq} has id ${view.id}, not one this ledger appends`);
  if (findKeyRow(sql, view.idempotency_key) !== null) refuse(`event entry ${view.seq}'s key was decided before`);
  const pos = head.keyPos + 1;
  decidedFromEvent(sql, pos, view.idempotency_key, 201, view.seq, timeMs(view.created), null);
  insertLedgerRow(sql, view, pos);
  if (view.charge !== null) addRefund(sql, view.charge, view.amount);
}

/** A key known only from an event: decided when its event says, expired a millisecond later, no fingerprint. */
function decidedFromEvent(
  sql: CountedSql,
  pos: number,
  key: string,
  status: 200 | 201,
  entrySeq: number | null,
  decidedMs: number,
  body: string | null,
): void {
  insertKeyRow(
    sql,
    {
      key,
      fingerprint: "0".repeat(32),
      status,
      code: null,
      entrySeq,
      decidedMs,
      expiresMs: decidedMs + 1,
      requestTag: 0,
      origin: RESTORED_ORIGIN,
      digests: null,
      view: entrySeq === null ? 0 : 1,
      body,
    },
    pos,
  );
}

/**
 * Writes the account row last, in one transaction with every check: the
 * key rows of each period still in the object and of the open period have
 * no gap, the holds at the backup's cut are its holds, the head reads back,
 * the event cursor is the backup's, and the audit (ledger-audit.ts) finds
 * nothing. Any failure rolls it back, leaving
 * the object answering 404 as before.
 */
function finish(host: RestoreHost, progress: Progress): RestoreAnswer {
  if (progress.phase !== "rows") refuse("finish comes after periods_done and the rows");
  const sql = host.sql;
  const state = progress.state;
  return host.storage.transactionSync(() => {
    const floor = archivedFloor(sql);
    const gaps = sql.rows<{ id: number | null; expected: number; found: number }>(
      `SELECT p.id, p.last_pos - p.first_pos + 1 AS expected,
              (SELECT COUNT(*) FROM keys k WHERE k.pos BETWEEN p.first_pos AND p.last_pos) AS found
         FROM periods p WHERE p.pruned = 0
       UNION ALL
       SELECT NULL, COALESCE((SELECT MAX(pos) FROM keys), ?1) - ?1,
              (SELECT COUNT(*) FROM keys WHERE pos > ?1)`,
      lastPeriod(sql)?.lastPos ?? 0,
    );
    for (const gap of gaps) {
      if (gap.expected !== gap.found) {
        refuse(
          `${gap.id === null ? "the open period" : `period ${gap.id}`} has ${gap.found} key rows of ${gap.expected}: the backup lacks some`,
        );
      }
    }
    if (
      floor.pos > 0 &&
      sql.first<{ one: number }>("SELECT 1 AS one FROM keys WHERE pos <= ?", floor.pos) !== undefined
    ) {
      throw new Error("invariant: a key row of a period answered from the archive was written");
    }
    sql.run(
      `UPDATE periods SET hot_until_ms = (SELECT MAX(expires_ms) FROM keys k WHERE k.pos BETWEEN periods.first_pos AND periods.last_pos)
        WHERE pruned = 0`,
    );
    const version = Math.max(
      state.account.version,
      sql.first<{ version: number | null }>("SELECT MAX(version) AS version FROM account_changes")?.version ?? 0,
    );
    const changed = sql.first<{ new: string }>(
      "SELECT new FROM account_changes WHERE field = 'overdraft_limit' AND version > ? ORDER BY version DESC LIMIT 1",
      state.account.version,
    );
    const overdraftLimit = changed === undefined ? state.account.overdraft_limit : (JSON.parse(changed.new) as number);
    assertOverdraftLimit(overdraftLimit);
    sql.run(`DROP TRIGGER ${GUARD}`);
    sql.run(`DROP TABLE ${PROGRESS_TABLE}`);
    sql.run(
      "INSERT INTO account (singleton, name, currency, overdraft_limit, version, created_ms, tenant, listed) VALUES (1, ?, ?, ?, ?, ?, ?, 0)",
      state.account.name,
      state.account.currency,
      overdraftLimit,
      version,
      timeMs(state.account.created),
      progress.tenant,
    );
    checkHoldsAtCut(sql, holdsCut(state));
    checkTransfersAtFinish(sql, transfersCut(state));
    const cursor = state.event_cursor;
    sql.run(
      "UPDATE event_cursor SET published_through = ?, entry_seq = ?, change_version = ?, change_field = ?, hold_change = ?",
      cursor.published_through,
      cursor.entry_seq,
      cursor.change_version,
      cursor.change_field,
      cursor.hold_change ?? 0,
    );
    readEventCursor(sql);
    const head = readHead(sql);
    if (head.keyPos < state.head.key_pos) {
      refuse(`the restored keys end at pos ${head.keyPos}, before the backup's ${state.head.key_pos}`);
    }
    if (head.entryCount < state.head.entry_count) {
      refuse(`the restored ledger ends at entry ${head.entryCount}, before the backup's ${state.head.entry_count}`);
    }
    if (head.entryCount === state.head.entry_count && head.balance !== state.head.balance) {
      refuse(`the restored balance is ${head.balance}, the backup's ${state.head.balance}`);
    }
    const audit = auditLedger(sql);
    if (audit.violations.length > 0) refuse(`the audit found: ${audit.violations.slice(0, 5).join("; ")}`);
    return {
      step: "finish",
      done: {
        balance: head.balance,
        held: head.held,
        transfers: transferCount(sql),
        entry_count: head.entryCount,
        key_pos: head.keyPos,
        version,
        periods: lastPeriod(sql)?.id ?? 0,
        answered_from_archive_through_seq: floor.seq,
      },
      next: null,
    };
  });
}

function timeMs(text: string): number {
  const ms = Date.parse(text);
  if (!Number.isSafeInteger(ms)) refuse(`${JSON.stringify(text)} is not a time`);
  return ms;
}

function checkInteger(what: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    refuse(`${what} is ${value}, not in [${min}, ${max}]`);
}

/** For the object: whether an error a step threw is a refusal to report (a check that failed), not a fault. */
export function refusalReason(error: unknown): string | null {
  if (error instanceof RestoreRefused) return error.message;
  if (error instanceof Error && error.message.startsWith("invariant:")) return error.message;
  return null;
}

export type { BackupChange };
