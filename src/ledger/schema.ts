/**
 * The account object's SQLite schema; docs/storage.md describes it.
 * Migrations only ever append: each runs once, in order, and its index + 1
 * is stored as the schema version.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE account (
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
];

export function migrate(sql: SqlStorage): void {
  sql.exec(
    "CREATE TABLE IF NOT EXISTS schema_version (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), version INTEGER NOT NULL)",
  );
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  const current = row?.version ?? 0;
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    sql.exec(MIGRATIONS[version] as string);
  }
  if (current < MIGRATIONS.length) {
    sql.exec("INSERT OR REPLACE INTO schema_version (singleton, version) VALUES (1, ?)", MIGRATIONS.length);
  }
}
