import type { CountedSql } from "./sql.ts";

/**
 * The account object's SQLite schema; docs/storage.md describes it.
 *
 * Migrations only ever append, and each is additive (new tables, columns,
 * indexes), so code that predates a migration can still read what it
 * migrated. Each migration names the oldest schema version whose code can
 * read the result (`readableFrom`); the stored schema keeps that number, and
 * code refuses, loudly, only a schema whose oldest reader is newer than
 * itself. So a Worker rolled back by one release keeps working on objects
 * the newer release migrated.
 */
interface Migration {
  /** The statements; a function of the time it runs, for a migration that must tell rows it found from rows written after. */
  readonly sql: string | ((nowMs: number) => string);
  /** The oldest schema version (1-based) whose code can read a schema with this migration applied. */
  readonly readableFrom: number;
}

/**
 * Transfer legs refused by an object whose account was never opened: kept
 * there (the one table such an object has), so the refusal is as final as
 * any decision; schema 10 creates it in every account too.
 */
export const TRANSFER_REFUSALS_TABLE = `CREATE TABLE IF NOT EXISTS transfer_refusals (
       leg_key TEXT PRIMARY KEY,
       code TEXT NOT NULL,
       decided_ms INTEGER NOT NULL
     ) WITHOUT ROWID;`;

const MIGRATIONS: readonly Migration[] = [
  {
    readableFrom: 1,
    sql: `CREATE TABLE account (
       singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
       name TEXT NOT NULL,
       currency TEXT NOT NULL,
       overdraft_limit INTEGER NOT NULL,
       created_ms INTEGER NOT NULL
     );
     CREATE TABLE entries (
       seq INTEGER PRIMARY KEY,
       id TEXT NOT NULL UNIQUE,
       type TEXT NOT NULL CHECK (type IN ('credit', 'charge', 'refund')),
       amount INTEGER NOT NULL,
       balance_after INTEGER NOT NULL,
       created_ms INTEGER NOT NULL,
       idempotency_key TEXT NOT NULL UNIQUE,
       charge_id TEXT,
       description TEXT,
       metadata TEXT NOT NULL
     );
     CREATE INDEX entries_by_charge ON entries (charge_id) WHERE charge_id IS NOT NULL;
     CREATE TABLE idempotency_records (
       key TEXT PRIMARY KEY,
       request_id TEXT NOT NULL,
       fingerprint TEXT NOT NULL,
       status INTEGER NOT NULL,
       body TEXT NOT NULL,
       created_ms INTEGER NOT NULL,
       expires_ms INTEGER NOT NULL
     );
     CREATE INDEX idempotency_records_by_expiry ON idempotency_records (expires_ms);`,
  },
  {
    // Version 1 stored only `version`; from here the oldest reader is stored beside it.
    readableFrom: 1,
    sql: "ALTER TABLE schema_version ADD COLUMN readable_from INTEGER NOT NULL DEFAULT 1",
  },
  {
    // Every decided key, for ever (a decline included), so a decision outlives its stored response.
    // Every record still present becomes a decision, so no decline made before this migration can
    // flip later. (Keys that moved money before it, or under code one release older, and whose
    // records are gone are still found through their entries.) Accounts get a version and a history
    // of their settings; field digests let a reused key be told which fields differ.
    readableFrom: 1,
    sql: `CREATE TABLE decisions (
       key TEXT PRIMARY KEY,
       fingerprint TEXT NOT NULL,
       status INTEGER NOT NULL,
       code TEXT,
       entry_id TEXT,
       decided_ms INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO decisions (key, fingerprint, status, code, entry_id, decided_ms)
       SELECT r.key, r.fingerprint, r.status,
              CASE WHEN r.status >= 400 THEN json_extract(r.body, '$.code') END,
              (SELECT e.id FROM entries e WHERE e.idempotency_key = r.key),
              r.created_ms
       FROM idempotency_records r;
     ALTER TABLE idempotency_records ADD COLUMN field_digests TEXT;
     ALTER TABLE account ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
     CREATE TABLE account_changes (
       version INTEGER NOT NULL,
       field TEXT NOT NULL,
       old TEXT,
       new TEXT NOT NULL,
       created_ms INTEGER NOT NULL,
       idempotency_key TEXT,
       PRIMARY KEY (version, field)
     ) WITHOUT ROWID;`,
  },
  {
    // Ledger events: entries and account changes interleaved in the order they happened (a change
    // knows how many entries came before it), numbered gaplessly as they are published. The cursor
    // records how far publication got, in the same storage, so a crash between a send and its
    // record repeats events but never skips one. Accounts remember their tenant, which events name.
    readableFrom: 1,
    sql: `ALTER TABLE account_changes ADD COLUMN entry_seq_before INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE event_cursor (
       singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
       published_through INTEGER NOT NULL,
       entry_seq INTEGER NOT NULL,
       change_version INTEGER NOT NULL,
       change_field TEXT NOT NULL
     );
     INSERT INTO event_cursor VALUES (1, 0, 0, 0, '');
     ALTER TABLE account ADD COLUMN tenant TEXT;`,
  },
  {
    // Who moved money: the API key's id (the first 8 hex of its digest, or "queue") on every entry
    // and change, and the caller's Request-Id beside the internal request id of each record. And
    // whether the account is listed in its tenant's directory yet (set once it is; the alarm retries until then).
    readableFrom: 1,
    sql: `ALTER TABLE entries ADD COLUMN key_id TEXT;
     ALTER TABLE account_changes ADD COLUMN key_id TEXT;
     ALTER TABLE idempotency_records ADD COLUMN origin_request_id TEXT;
     ALTER TABLE account ADD COLUMN listed INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    // The rollback floor, enforced by storage. Code older than schema 3 (d784fa3 and before) ignores
    // decisions, so it could apply a declined key whose record has expired, and it changes settings
    // without a version. It writes every record without an origin and every settings change without
    // a new version; code since schema 5 never does (objects refuse callers too old to send an
    // origin). Refusing those writes leaves such code able to read an account, never to decide.
    // The records' rule is a CHECK, not a trigger: a trigger on every record insert cost about a
    // sixth of a batch's throughput (measured). Records already stored, older than this migration,
    // are left as they are; the column itself stays NULL and costs a byte a record.
    readableFrom: 3,
    sql: (nowMs) => `ALTER TABLE idempotency_records ADD COLUMN rollback_floor INTEGER
       CONSTRAINT rollback_floor CHECK (origin_request_id IS NOT NULL OR created_ms < ${nowMs});
     CREATE TRIGGER settings_carry_version BEFORE UPDATE OF overdraft_limit ON account
       WHEN NEW.version = OLD.version AND NEW.overdraft_limit IS NOT OLD.overdraft_limit
       BEGIN SELECT RAISE(ABORT, 'refused: code older than the rollback floor (schema 3) changed a setting'); END;`,
  },
  {
    // The lean ledger (docs/storage.md). A decided key is one row of `keys` (and its key index): the
    // decision for ever and, while its TTL lasts, what its replay needs; a response that moved money
    // is not stored but rendered again from its entry by the view version it was answered with. New
    // entries are one row of `ledger`, their id derived from their seq, so neither needs an index of
    // its own. Entries, records and decisions stored before stay where they are and are still read.
    // Refund totals are kept per refunded charge, so a charge's refunds outlive its archived period.
    // Periods (period-store.ts) and the archived keys' filter (archive-filter.ts) trace what left.
    // Code older than this migration would not see the new tables, and would decide an archived or
    // lean key afresh: the oldest reader becomes this schema.
    readableFrom: 7,
    sql: `CREATE TABLE keys (
       pos INTEGER PRIMARY KEY,
       key TEXT NOT NULL UNIQUE,
       fingerprint BLOB NOT NULL,
       status INTEGER NOT NULL,
       code TEXT,
       entry_seq INTEGER,
       decided_ms INTEGER NOT NULL,
       expires_ms INTEGER NOT NULL,
       request_tag INTEGER NOT NULL,
       origin TEXT NOT NULL,
       digests TEXT,
       view INTEGER NOT NULL,
       body TEXT
     );
     CREATE TABLE ledger (
       seq INTEGER PRIMARY KEY,
       tag INTEGER NOT NULL,
       type INTEGER NOT NULL,
       amount INTEGER NOT NULL,
       balance_after INTEGER NOT NULL,
       created_ms INTEGER NOT NULL,
       key_pos INTEGER NOT NULL,
       charge_id TEXT,
       description TEXT,
       metadata TEXT,
       key_id TEXT
     );
     CREATE TABLE refund_totals (charge_id TEXT PRIMARY KEY, refunded INTEGER NOT NULL) WITHOUT ROWID;
     INSERT INTO refund_totals (charge_id, refunded)
       SELECT charge_id, SUM(amount) FROM entries WHERE charge_id IS NOT NULL GROUP BY charge_id;
     CREATE TABLE periods (
       id INTEGER PRIMARY KEY,
       first_seq INTEGER NOT NULL,
       last_seq INTEGER NOT NULL,
       first_pos INTEGER NOT NULL,
       last_pos INTEGER NOT NULL,
       opening_balance INTEGER NOT NULL,
       closing_balance INTEGER NOT NULL,
       first_decided_ms INTEGER,
       last_decided_ms INTEGER,
       created_ms INTEGER NOT NULL,
       idempotency_key TEXT,
       state TEXT NOT NULL CHECK (state IN ('closing', 'archived')),
       progress TEXT NOT NULL,
       sha256 TEXT,
       previous_sha256 TEXT NOT NULL,
       hot_until_ms INTEGER,
       pruned INTEGER NOT NULL DEFAULT 0 CHECK (pruned IN (0, 1, 2)),
       filter_keys INTEGER NOT NULL DEFAULT 0,
       filter_generation INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE period_objects (
       period_id INTEGER NOT NULL,
       kind TEXT NOT NULL CHECK (kind IN ('entries', 'keys')),
       n INTEGER NOT NULL,
       first TEXT NOT NULL,
       name TEXT NOT NULL,
       bytes INTEGER NOT NULL,
       sha256 TEXT NOT NULL,
       PRIMARY KEY (period_id, kind, n)
     ) WITHOUT ROWID;
     CREATE TABLE key_filter (
       generation INTEGER NOT NULL,
       bucket INTEGER NOT NULL,
       data BLOB NOT NULL,
       PRIMARY KEY (generation, bucket)
     ) WITHOUT ROWID;`,
  },
  {
    // The locator (key-locator.ts) replaces the filter for periods archived from here on; the filter
    // stays readable for those already in it. Code older than this would not look in the locator and
    // would decide a key archived there afresh: the oldest reader becomes this schema.
    readableFrom: 8,
    sql: `CREATE TABLE filter_staging (
       period_id INTEGER NOT NULL,
       high INTEGER NOT NULL,
       low INTEGER NOT NULL,
       PRIMARY KEY (period_id, high, low)
     ) WITHOUT ROWID;
     CREATE INDEX filter_staging_by_hash ON filter_staging (high, low);
     CREATE TABLE locator_runs (
       id INTEGER PRIMARY KEY,
       state TEXT NOT NULL CHECK (state IN ('building', 'live', 'retired')),
       keys INTEGER NOT NULL,
       bucket_bits INTEGER NOT NULL,
       value_range INTEGER NOT NULL,
       source TEXT NOT NULL,
       next_object INTEGER NOT NULL,
       written INTEGER NOT NULL,
       staged INTEGER NOT NULL CHECK (staged IN (0, 1))
     );
     CREATE TABLE locator_buckets (
       id INTEGER PRIMARY KEY,
       data BLOB NOT NULL
     );`,
  },
  {
    // Holds (hold-store.ts): funds set aside until captured, voided or expired, and each change of a
    // hold's state, numbered gaplessly for the event outbox, whose cursor now counts them too. Code
    // older than this would let a charge spend held funds, so the first hold placed raises the
    // oldest reader to this schema (HOLDS_SCHEMA); an account that never held keeps its floor.
    readableFrom: 8,
    sql: `CREATE TABLE holds (
       seq INTEGER PRIMARY KEY,
       tag INTEGER NOT NULL,
       amount INTEGER NOT NULL,
       state TEXT NOT NULL CHECK (state IN ('held', 'captured', 'voided', 'expired')),
       captured INTEGER NOT NULL DEFAULT 0,
       capture TEXT,
       expires_ms INTEGER NOT NULL,
       created_ms INTEGER NOT NULL,
       resolved_ms INTEGER,
       idempotency_key TEXT NOT NULL,
       description TEXT,
       metadata TEXT,
       key_id TEXT
     );
     CREATE INDEX holds_held_by_expiry ON holds (expires_ms) WHERE state = 'held';
     CREATE TABLE hold_changes (
       seq INTEGER PRIMARY KEY,
       hold_seq INTEGER NOT NULL,
       state TEXT NOT NULL,
       created_ms INTEGER NOT NULL,
       entry_seq_before INTEGER NOT NULL
     );
     ALTER TABLE event_cursor ADD COLUMN hold_change INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    // Transfers (transfer-store.ts): a transfer out, pending until its destination answers for good,
    // its amount set aside meanwhile; and the transfer legs an account refused before it was opened.
    // Code older than this would spend what a pending transfer set aside, and cannot read a leg's
    // entry type: the first transfer an account sends or receives raises the oldest reader to this
    // schema (TRANSFERS_SCHEMA), as the first hold does to schema 9.
    readableFrom: 8,
    sql: `CREATE TABLE transfers (
       seq INTEGER PRIMARY KEY,
       tag INTEGER NOT NULL,
       to_account TEXT NOT NULL,
       amount INTEGER NOT NULL,
       state TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
       reason TEXT,
       created_ms INTEGER NOT NULL,
       resolved_ms INTEGER,
       attempts INTEGER NOT NULL DEFAULT 0,
       next_attempt_ms INTEGER NOT NULL,
       idempotency_key TEXT NOT NULL,
       description TEXT,
       metadata TEXT,
       key_id TEXT
     );
     CREATE INDEX transfers_pending_by_attempt ON transfers (next_attempt_ms) WHERE state = 'pending';
     ${TRANSFER_REFUSALS_TABLE}`,
  },
];

/** The schema that brought transfers: the oldest that may read an account that sent or received one. */
export const TRANSFERS_SCHEMA = 10;

/** The schema that brought holds: the oldest that may read an account that has placed one. */
export const HOLDS_SCHEMA = 9;

/** Raises the stored oldest reader to `version`, never lowering it. */
export function raiseReadableFrom(sql: CountedSql, version: number): void {
  sql.run("UPDATE schema_version SET readable_from = ? WHERE readable_from < ?", version, version);
}

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface StoredSchema {
  readonly version: number;
  readonly readableFrom: number;
}

/** Thrown when storage holds a schema this code is too old to read. */
export class UnreadableSchemaError extends Error {
  override readonly name = "UnreadableSchemaError";
}

/**
 * Whether this object has any schema yet. An account's tables are created
 * when it is opened, so probing a name that was never opened writes nothing.
 */
export function hasSchema(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").toArray().length > 0;
}

/**
 * Brings storage up to SCHEMA_VERSION, creating it on first use. A newer
 * schema is left as it is when this code can read it; one it cannot read is
 * refused with an error. Writes nothing when storage is current.
 */
export function migrate(sql: SqlStorage): StoredSchema {
  if (!hasSchema(sql)) {
    sql.exec(
      "CREATE TABLE schema_version (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), version INTEGER NOT NULL)",
    );
  }
  const stored = readStoredSchema(sql);
  if (stored.readableFrom > SCHEMA_VERSION) {
    throw new UnreadableSchemaError(
      `storage holds schema ${stored.version}, readable only by code of schema ${stored.readableFrom} or later; this code writes schema ${SCHEMA_VERSION}`,
    );
  }
  if (stored.version >= SCHEMA_VERSION) return stored;
  let readableFrom = stored.readableFrom;
  sql.exec("INSERT OR IGNORE INTO schema_version (singleton, version) VALUES (1, 0)");
  for (let version = stored.version; version < SCHEMA_VERSION; version += 1) {
    const migration = MIGRATIONS[version] as Migration;
    sql.exec(typeof migration.sql === "string" ? migration.sql : migration.sql(Date.now()));
    readableFrom = Math.max(readableFrom, migration.readableFrom);
  }
  sql.exec("UPDATE schema_version SET version = ?, readable_from = ?", SCHEMA_VERSION, readableFrom);
  return readStoredSchema(sql);
}

/** The stored schema, whichever version wrote it: columns a version lacks read as their defaults. */
function readStoredSchema(sql: SqlStorage): StoredSchema {
  const columns = new Set(
    sql
      .exec<{ name: string }>("SELECT name FROM pragma_table_info('schema_version')")
      .toArray()
      .map((column) => column.name),
  );
  const row = sql
    .exec<{ version: number; readable_from: number }>(
      `SELECT version, ${columns.has("readable_from") ? "readable_from" : "1 AS readable_from"} FROM schema_version`,
    )
    .toArray()[0];
  return { version: row?.version ?? 0, readableFrom: row?.readable_from ?? 1 };
}
