import type { Metadata } from "../domain/commands.ts";
import { ENTRY_TYPE_RULES, ENTRY_TYPES, isEntryType, type EntryType } from "../domain/entry-types.ts";
import { assertAmount, assertBalance, assertHeld, assertOverdraftLimit } from "../domain/money.ts";
import { readHeldFunds, type HeldFunds } from "./held-funds.ts";
import { formatRowId, parseRowId, randomTag } from "./row-ids.ts";
import { insertedRows, type CountedSql } from "./sql.ts";

/** Reads and appends of the account row and its ledger entries: SQL only; row-views.ts shapes them for the API. */

export interface AccountRow {
  readonly name: string;
  readonly currency: string;
  readonly overdraftLimit: number;
  /** 1 when opened, one more on each real change of its settings. */
  readonly version: number;
  readonly createdMs: number;
  /** The tenant it belongs to; null for accounts opened before it was stored. */
  readonly tenant: string | null;
  /** Whether its tenant's directory lists it yet. */
  readonly listed: boolean;
}

export interface EntryRow {
  readonly seq: number;
  readonly id: string;
  readonly type: EntryType;
  readonly amount: number;
  readonly balanceAfter: number;
  readonly createdMs: number;
  readonly idempotencyKey: string;
  /** The id of what it names, kept in `charge_id`: a refund's charge, a capture's hold (NAMES_ROW); null for others. */
  readonly names: string | null;
  readonly description: string | null;
  readonly metadata: Metadata;
  /** The API key that moved the money; null for entries from before keys were recorded. */
  readonly keyId: string | null;
}

/** The entry types that name another row (EntryRow.names). */
export const NAMES_ROW: ReadonlySet<string> = new Set<EntryType>(["refund", "capture", "transfer_out", "transfer_in"]);

/**
 * The balance and entry count are not stored twice: both are read off the
 * last entry (and kept in memory). What holds set aside is summed from
 * them once, then kept beside (hold-store.ts).
 */
export interface LedgerHead extends HeldFunds {
  readonly balance: number;
  readonly entryCount: number;
  /** The last key row's pos (key-rows.ts): the next decision takes the one after. */
  readonly keyPos: number;
}

type EntryRecord = {
  seq: number;
  id: string;
  type: string;
  amount: number;
  balance_after: number;
  created_ms: number;
  idempotency_key: string;
  charge_id: string | null;
  description: string | null;
  metadata: string;
  key_id: string | null;
};

const ENTRY_COLUMNS =
  "seq, id, type, amount, balance_after, created_ms, idempotency_key, charge_id, description, metadata, key_id";

export function readAccount(sql: CountedSql): AccountRow | null {
  const row = sql.first<{
    name: string;
    currency: string;
    overdraft_limit: number;
    version: number;
    created_ms: number;
    tenant: string | null;
    listed: number;
  }>("SELECT name, currency, overdraft_limit, version, created_ms, tenant, listed FROM account");
  if (row === undefined) return null;
  return {
    name: row.name,
    currency: row.currency,
    overdraftLimit: row.overdraft_limit,
    version: row.version,
    createdMs: row.created_ms,
    tenant: row.tenant,
    listed: row.listed === 1,
  };
}

/** Stores the tenant of an account opened before schema 4, which has none; once, never changing one. */
export function storeTenant(sql: CountedSql, tenant: string): void {
  sql.run("UPDATE account SET tenant = ? WHERE tenant IS NULL", tenant);
}

/** Notes that the tenant's directory lists the account. */
export function markListed(sql: CountedSql): void {
  sql.run("UPDATE account SET listed = 1");
}

/** A settings change as kept in the account's history. */
export interface AccountChangeRow {
  readonly version: number;
  readonly field: "currency" | "overdraft_limit";
  readonly old: string | number | null;
  readonly new: string | number;
  readonly createdMs: number;
  readonly idempotencyKey: string | null;
  /** How many ledger entries existed when it was made: its place among the ledger's events. */
  readonly entrySeqBefore: number;
  /** The API key that made it; null for changes from before keys were recorded. */
  readonly keyId: string | null;
}

/** Opens the account at version 1, its opening values the first entries of its history. */
export function insertAccount(
  sql: CountedSql,
  account: AccountRow,
  idempotencyKey: string | null,
  keyId: string | null,
): void {
  sql.run(
    "INSERT INTO account (singleton, name, currency, overdraft_limit, version, created_ms, tenant) VALUES (1, ?, ?, ?, 1, ?, ?)",
    account.name,
    account.currency,
    account.overdraftLimit,
    account.createdMs,
    account.tenant,
  );
  const opened = { version: 1, old: null, createdMs: account.createdMs, idempotencyKey, entrySeqBefore: 0, keyId };
  insertChange(sql, { ...opened, field: "currency", new: account.currency });
  insertChange(sql, { ...opened, field: "overdraft_limit", new: account.overdraftLimit });
}

/** Changes the overdraft limit as the next version, and keeps the change. */
export function updateOverdraftLimit(
  sql: CountedSql,
  account: AccountRow,
  overdraftLimit: number,
  nowMs: number,
  idempotencyKey: string | null,
  keyId: string | null,
): AccountRow {
  assertOverdraftLimit(overdraftLimit);
  const version = account.version + 1;
  // Compare-and-set on the version read: a change moves the version by exactly one, once.
  const updated = sql.rows<{ version: number }>(
    "UPDATE account SET overdraft_limit = ?, version = ? WHERE version = ? RETURNING version",
    overdraftLimit,
    version,
    account.version,
  );
  if (updated.length !== 1) {
    throw new Error(`invariant: moving the account from version ${account.version} changed ${updated.length} rows`);
  }
  insertChange(sql, {
    version,
    field: "overdraft_limit",
    old: account.overdraftLimit,
    new: overdraftLimit,
    createdMs: nowMs,
    idempotencyKey,
    entrySeqBefore: readHead(sql).entryCount,
    keyId,
  });
  return { ...account, overdraftLimit, version };
}

function insertChange(sql: CountedSql, change: AccountChangeRow): void {
  sql.run(
    "INSERT INTO account_changes (version, field, old, new, created_ms, idempotency_key, entry_seq_before, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    change.version,
    change.field,
    change.old === null ? null : JSON.stringify(change.old),
    JSON.stringify(change.new),
    change.createdMs,
    change.idempotencyKey,
    change.entrySeqBefore,
    change.keyId,
  );
}

/**
 * The changes after version `afterVersion`, oldest first: at most `limit`
 * rows, never splitting a version across pages (a version's rows all fit,
 * or the page ends before it, unless it is the page's only version).
 */
export function changesAfter(
  sql: CountedSql,
  afterVersion: number,
  limit: number,
): { rows: AccountChangeRow[]; hasMore: boolean } {
  const rows = sql
    .rows<ChangeRecord>(
      `SELECT ${CHANGE_COLUMNS} FROM account_changes WHERE version > ? ORDER BY version, field LIMIT ?`,
      afterVersion,
      limit + MAX_FIELDS_PER_CHANGE,
    )
    .map(toChangeRow);
  if (rows.length <= limit) return { rows, hasMore: false };
  let end = limit;
  const cut = rows[limit]?.version;
  while (end > 0 && rows[end - 1]?.version === cut) end -= 1;
  if (end === 0) end = rows.filter((row) => row.version === cut).length;
  return { rows: rows.slice(0, end), hasMore: true };
}

/** The changes after (version, field) in event order, at most `limit`. */
export function changesAfterPosition(
  sql: CountedSql,
  version: number,
  field: string,
  limit: number,
): AccountChangeRow[] {
  return sql
    .rows<ChangeRecord>(
      `SELECT ${CHANGE_COLUMNS} FROM account_changes WHERE (version, field) > (?, ?) ORDER BY version, field LIMIT ?`,
      version,
      field,
      limit,
    )
    .map(toChangeRow);
}

type ChangeRecord = {
  version: number;
  field: string;
  old: string | null;
  new: string;
  created_ms: number;
  idempotency_key: string | null;
  entry_seq_before: number;
  key_id: string | null;
};

const CHANGE_COLUMNS = "version, field, old, new, created_ms, idempotency_key, entry_seq_before, key_id";

function toChangeRow(row: ChangeRecord): AccountChangeRow {
  return {
    version: row.version,
    field: row.field as AccountChangeRow["field"],
    old: row.old === null ? null : (JSON.parse(row.old) as string | number),
    new: JSON.parse(row.new) as string | number,
    createdMs: row.created_ms,
    idempotencyKey: row.idempotency_key,
    entrySeqBefore: row.entry_seq_before,
    keyId: row.key_id,
  };
}

/** Settings one change can touch at once (opening sets both). */
const MAX_FIELDS_PER_CHANGE = 2;

/**
 * The head as stored: the last entry's balance and seq, or, once every entry
 * has left for the archive, the last period's close. Read once per object
 * start (and by a PUT), so it is checked against the balance before it,
 * paired with appendEntry's checks: the seq follows on with no gap (a lone
 * entry is seq 1) and the balance is the previous one plus the amount. A full
 * recount is audit()'s job (ledger-audit.ts).
 */
export function readHead(sql: CountedSql): LedgerHead {
  type Last = { seq: number; amount: number; balance_after: number };
  const last =
    sql.first<Last>("SELECT seq, amount, balance_after FROM ledger ORDER BY seq DESC LIMIT 1") ??
    sql.first<Last>("SELECT seq, amount, balance_after FROM entries ORDER BY seq DESC LIMIT 1");
  const closed = lastClose(sql);
  const held = readHeldFunds(sql);
  assertHeld(held.held);
  const keyPos = Math.max(
    sql.first<{ pos: number | null }>("SELECT MAX(pos) AS pos FROM keys")?.pos ?? 0,
    closed?.pos ?? 0,
  );
  // At or before the last close, the period's close is the head: its rows may be leaving (period-archive.ts).
  if (last === undefined || (closed !== null && closed.seq >= last.seq)) {
    if (closed === null) return { balance: 0, entryCount: 0, keyPos, ...held };
    assertBalance(closed.balance);
    return { balance: closed.balance, entryCount: closed.seq, keyPos, ...held };
  }
  const before = balanceBefore(sql, last.seq);
  if (last.balance_after !== before + last.amount) {
    throw new Error(
      `invariant: entry ${last.seq} stores balance ${last.balance_after}, not ${before} + ${last.amount}`,
    );
  }
  assertBalance(last.balance_after);
  return { balance: last.balance_after, entryCount: last.seq, keyPos, ...held };
}

/** The last period's last seq, last key pos and closing balance; null before the first close. */
function lastClose(sql: CountedSql): { seq: number; pos: number; balance: number } | null {
  const row = sql.first<{ last_seq: number; last_pos: number; closing_balance: number }>(
    "SELECT last_seq, last_pos, closing_balance FROM periods ORDER BY id DESC LIMIT 1",
  );
  return row === undefined ? null : { seq: row.last_seq, pos: row.last_pos, balance: row.closing_balance };
}

/** The balance after entry `seq - 1`, wherever it is kept; throws if the entry before is nowhere (a gap). */
function balanceBefore(sql: CountedSql, seq: number): number {
  if (seq === 1) return 0;
  const row = sql.first<{ balance: number }>(
    `SELECT balance_after AS balance FROM ledger WHERE seq = ?1
     UNION ALL SELECT balance_after FROM entries WHERE seq = ?1
     UNION ALL SELECT closing_balance FROM periods WHERE last_seq = ?1
     LIMIT 1`,
    seq - 1,
  );
  if (row === undefined) throw new Error(`invariant: the entry before seq ${seq} is missing`);
  return row.balance;
}

export interface NewEntry {
  readonly type: EntryType;
  readonly amount: number;
  readonly createdMs: number;
  readonly idempotencyKey: string;
  /** The pos of the key row that decided it (key-rows.ts). */
  readonly keyPos: number;
  readonly names: string | null;
  readonly description: string | null;
  readonly metadata: Metadata;
  readonly keyId: string | null;
}

/** An entry's id (row-ids.ts). Ids stored before schema 7 are 32 random hex and are found through `entries`' index. */
export function formatEntryId(type: EntryType, tag: number, seq: number): string {
  return formatRowId(ENTRY_TYPE_RULES[type].idPrefix, tag, seq);
}

/** The id of a `ledger` row from its stored seq, tag and type code; throws on a code no type has. */
export function storedEntryId(seq: number, tag: number, typeCode: number): string {
  const type = ENTRY_TYPES[typeCode - 1];
  if (type === undefined) throw new Error(`invariant: stored entry ${seq} has type code ${typeCode}`);
  return formatEntryId(type, tag, seq);
}

/** The type, seq and tag an entry id of the current form carries; null for any other string. */
export function parseEntryId(id: string): { type: EntryType; tag: number; seq: number } | null {
  const parsed = parseRowId(id);
  if (parsed === null) return null;
  const type = ENTRY_TYPES.find((t) => ENTRY_TYPE_RULES[t].idPrefix === parsed.prefix);
  return type === undefined ? null : { type, tag: parsed.tag, seq: parsed.seq };
}

/**
 * Appends the next entry. Its seq follows the head's, so seq stays gapless,
 * and the caller's balance must be the head's plus the amount, so the balance
 * stays the sum of the entries.
 */
export function appendEntry(
  sql: CountedSql,
  head: LedgerHead,
  balanceAfter: number,
  entry: NewEntry,
  later?: LaterRows,
): EntryRow {
  assertBalance(balanceAfter);
  assertAmount(Math.abs(entry.amount));
  if ((entry.names !== null) !== NAMES_ROW.has(entry.type)) {
    throw new Error(`invariant: a ${entry.type} names ${entry.names ?? "nothing"}`);
  }
  if (balanceAfter !== head.balance + entry.amount) {
    throw new Error(`invariant: balance ${head.balance} + ${entry.amount} is not ${balanceAfter}`);
  }
  if (Math.sign(entry.amount) !== ENTRY_TYPE_RULES[entry.type].sign) {
    throw new Error(`invariant: a ${entry.type} of ${entry.amount} has the wrong sign`);
  }
  const seq = head.entryCount + 1;
  const tag = randomTag();
  const { keyPos, ...fields } = entry;
  const row: EntryRow = { ...fields, seq, id: formatEntryId(entry.type, tag, seq), balanceAfter };
  const stored: StoredEntry = {
    seq,
    tag,
    type: entryTypeCode(entry.type),
    amount: row.amount,
    balanceAfter: row.balanceAfter,
    createdMs: row.createdMs,
    keyPos,
    names: row.names,
    description: row.description,
    metadata: Object.keys(row.metadata).length === 0 ? null : JSON.stringify(row.metadata),
    keyId: row.keyId,
  };
  if (later === undefined) insertEntries(sql, [stored]);
  else later.entry(stored);
  return row;
}

/** Rows a batch writes together once it is decided, or before anything reads them (batch-rows.ts). */
export interface LaterRows {
  entry(row: StoredEntry): void;
}

/** A `ledger` row's values as stored. */
export interface StoredEntry {
  readonly seq: number;
  readonly tag: number;
  readonly type: number;
  readonly amount: number;
  readonly balanceAfter: number;
  readonly createdMs: number;
  readonly keyPos: number;
  readonly names: string | null;
  readonly description: string | null;
  readonly metadata: string | null;
  readonly keyId: string | null;
}

const INSERT_ENTRY =
  "INSERT INTO ledger (seq, tag, type, amount, balance_after, created_ms, key_pos, charge_id, description, metadata, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/** Rows of one INSERT of plain entries: its 3 shared values and 5 of each row's within the 100 bound values a statement takes. */
const PLAIN_ENTRIES_PER_INSERT = 19;
const plainInserts = new Map<number, string>();

/**
 * The statement that writes `count` plain entries (no charge, description or
 * metadata) of one type, time and API key: each bound value costs the
 * runtime more than SQLite's own work on the row, so what they share is
 * bound once, and one statement writes many.
 */
function plainEntriesInsert(count: number): string {
  let query = plainInserts.get(count);
  if (query === undefined) {
    const rows = Array.from({ length: count }, (_, i) => {
      const at = 4 + i * 5;
      return `(?${at}, ?${at + 1}, ?${at + 2}, ?${at + 3}, ?${at + 4})`;
    });
    // The shared values are ?1 to ?3; each row's follow. Selecting from VALUES reads each row once, as
    // its own INSERT would (a CTE of the shared values would be read once per row).
    query = `INSERT INTO ledger (seq, tag, type, amount, balance_after, created_ms, key_pos, charge_id, description, metadata, key_id)
SELECT v.column1, v.column2, ?1, v.column3, v.column4, ?2, v.column5, NULL, NULL, NULL, ?3 FROM (VALUES ${rows.join(", ")}) AS v`;
    plainInserts.set(count, query);
  }
  return query;
}

function isPlain(row: StoredEntry): boolean {
  return row.names === null && row.description === null && row.metadata === null;
}

/**
 * Writes entries, in order: runs of plain ones that share a type, a time and
 * an API key together, any other alone. A plain INSERT: a seq already stored
 * fails the transaction, never overwritten.
 */
export function insertEntries(sql: CountedSql, rows: readonly StoredEntry[]): void {
  let at = 0;
  while (at < rows.length) {
    const first = rows[at] as StoredEntry;
    let end = at + 1;
    if (isPlain(first)) {
      while (end < rows.length && end - at < PLAIN_ENTRIES_PER_INSERT) {
        const row = rows[end] as StoredEntry;
        if (
          !isPlain(row) ||
          row.type !== first.type ||
          row.createdMs !== first.createdMs ||
          row.keyId !== first.keyId
        ) {
          break;
        }
        end += 1;
      }
    }
    let written: number;
    if (end - at === 1) {
      written = sql.write(
        INSERT_ENTRY,
        first.seq,
        first.tag,
        first.type,
        first.amount,
        first.balanceAfter,
        first.createdMs,
        first.keyPos,
        first.names,
        first.description,
        first.metadata,
        first.keyId,
      );
    } else {
      const values: SqlStorageValue[] = [first.type, first.createdMs, first.keyId];
      for (let i = at; i < end; i += 1) {
        const row = rows[i] as StoredEntry;
        values.push(row.seq, row.tag, row.amount, row.balanceAfter, row.keyPos);
      }
      sql.run(plainEntriesInsert(end - at), ...values);
      // Written counts index entries too: the rows the INSERT itself stored are what changes() says.
      written = insertedRows(sql);
    }
    // Every row the head moves to is written (its seq follows the head's: the primary key refuses a second).
    if (written < end - at) throw new Error(`invariant: entries from seq ${first.seq} were not all written`);
    at = end;
  }
}

/** Entry types are stored in `ledger` as their place in ENTRY_TYPES, from 1. */
export function entryTypeCode(type: EntryType): number {
  return ENTRY_TYPES.indexOf(type) + 1;
}

/** `ledger` rows read as `entries` rows, so one conversion (and its checks) serves both. */
const LEDGER_COLUMNS = `l.seq, l.tag, l.type AS type_code, l.amount, l.balance_after, l.created_ms, k.key AS idempotency_key,
  l.charge_id, l.description, COALESCE(l.metadata, '{}') AS metadata, l.key_id`;
const LEDGER_FROM = "ledger l JOIN keys k ON k.pos = l.key_pos";

type LedgerRecord = Omit<EntryRecord, "id" | "type"> & { tag: number; type_code: number };

function fromLedger(row: LedgerRecord): EntryRecord {
  const type = ENTRY_TYPES[row.type_code - 1];
  if (type === undefined) throw new Error(`invariant: stored entry ${row.seq} has type code ${row.type_code}`);
  const { tag, type_code: _code, ...rest } = row;
  return { ...rest, type, id: formatEntryId(type, tag, row.seq) };
}

export function findEntryBySeq(sql: CountedSql, seq: number): EntryRow | null {
  const row = sql.first<LedgerRecord>(`SELECT ${LEDGER_COLUMNS} FROM ${LEDGER_FROM} WHERE l.seq = ?`, seq);
  if (row !== undefined) return toEntryRow(fromLedger(row));
  return toEntryRowOrNull(sql.first<EntryRecord>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE seq = ?`, seq));
}

/** The entry with this id while it is in the object (an archived one is found through the archive). */
export function findEntryById(sql: CountedSql, id: string): EntryRow | null {
  const parsed = parseEntryId(id);
  if (parsed !== null) {
    const row = sql.first<LedgerRecord>(
      `SELECT ${LEDGER_COLUMNS} FROM ${LEDGER_FROM} WHERE l.seq = ? AND l.tag = ? AND l.type = ?`,
      parsed.seq,
      parsed.tag,
      entryTypeCode(parsed.type),
    );
    if (row !== undefined) return toEntryRow(fromLedger(row));
  }
  return toEntryRowOrNull(sql.first<EntryRecord>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE id = ?`, id));
}

/** The entry a key appended, while both are in the object. */
export function findEntryByKey(sql: CountedSql, idempotencyKey: string): EntryRow | null {
  const row = sql.first<LedgerRecord>(
    `SELECT ${LEDGER_COLUMNS} FROM keys k JOIN ledger l ON l.seq = k.entry_seq WHERE k.key = ?`,
    idempotencyKey,
  );
  if (row !== undefined) return toEntryRow(fromLedger(row));
  return toEntryRowOrNull(
    sql.first<EntryRecord>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE idempotency_key = ?`, idempotencyKey),
  );
}

/**
 * The entries after `afterSeq` still in the object, oldest first; one more
 * than `limit` tells whether there are more. Entries stored before schema 7
 * all come before those stored since.
 */
export function entriesAfter(sql: CountedSql, afterSeq: number, limit: number): EntryRow[] {
  const older = sql
    .rows<EntryRecord>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
    .map(toEntryRow);
  if (older.length === limit) return older;
  const newer = sql
    .rows<LedgerRecord>(
      `SELECT ${LEDGER_COLUMNS} FROM ${LEDGER_FROM} WHERE l.seq > ? ORDER BY l.seq LIMIT ?`,
      older.at(-1)?.seq ?? afterSeq,
      limit - older.length,
    )
    .map((row) => toEntryRow(fromLedger(row)));
  return [...older, ...newer];
}

/** Total refunded against a charge so far, as a positive amount; kept per charge, so it outlives the charge's period. */
export function refundedAmount(sql: CountedSql, chargeId: string): number {
  return (
    sql.first<{ refunded: number }>("SELECT refunded FROM refund_totals WHERE charge_id = ?", chargeId)?.refunded ?? 0
  );
}

/** Adds a refund to its charge's total. */
export function addRefund(sql: CountedSql, chargeId: string, amount: number): void {
  const written = sql.write(
    `INSERT INTO refund_totals (charge_id, refunded) VALUES (?, ?)
     ON CONFLICT (charge_id) DO UPDATE SET refunded = refunded + excluded.refunded`,
    chargeId,
    amount,
  );
  if (written === 0) throw new Error(`invariant: the refund total of ${chargeId} was not written`);
}

function toEntryRowOrNull(row: EntryRecord | undefined): EntryRow | null {
  return row === undefined ? null : toEntryRow(row);
}

/** Paired with appendEntry's checks: a stored entry has a known type, its sign, an amount and balance in bounds. */
function toEntryRow(row: EntryRecord): EntryRow {
  if (!isEntryType(row.type) || Math.sign(row.amount) !== ENTRY_TYPE_RULES[row.type].sign) {
    throw new Error(`invariant: stored entry ${row.seq} is a ${row.type} of ${row.amount}`);
  }
  if ((row.charge_id !== null) !== NAMES_ROW.has(row.type)) {
    throw new Error(`invariant: stored ${row.type} ${row.seq} names ${row.charge_id ?? "nothing"}`);
  }
  assertAmount(Math.abs(row.amount));
  assertBalance(row.balance_after);
  return {
    seq: row.seq,
    id: row.id,
    type: row.type,
    amount: row.amount,
    balanceAfter: row.balance_after,
    createdMs: row.created_ms,
    idempotencyKey: row.idempotency_key,
    names: row.charge_id,
    description: row.description,
    metadata: JSON.parse(row.metadata) as Metadata,
    keyId: row.key_id,
  };
}
