import type { MoneyRequest } from "../contract/requests.ts";
import { decidedKeys, insertKeyRows, type KeyRow, type LaterKeyRows } from "./key-rows.ts";
import { insertEntries, type LaterRows, type StoredEntry } from "./ledger-store.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The rows of a batch's operations, written together. Inside the object,
 * each SQL statement and each value bound to one costs far more than
 * SQLite's own work on a row (measured: a charge's entry and key rows cost
 * about 20 µs written one by one, 6 written together), so a batch's new
 * keys are read in one statement before its operations are decided, and
 * the rows of the operations that read nothing are held and written
 * together: before anything reads storage again, and when the batch ends.
 *
 * Nothing else runs meanwhile (the batch is decided synchronously in its
 * savepoint), and the operations whose rows wait read no storage: a credit
 * or a charge whose key was not decided before the batch nor earlier in it,
 * so it needs no lookup (decide()'s `fresh`) and moves money from the head
 * kept in memory. Any other operation (a key seen before, a refund) is
 * decided as a lone request would be, after the held rows are written. Every
 * row is the one the lone path writes, in the same order; a row that cannot
 * be written fails the batch's savepoint, as it would have alone.
 */
export class BatchRows implements LaterRows, LaterKeyRows {
  private readonly sql: CountedSql;
  /** Keys decided before the batch, or by one of its operations. */
  private readonly decided: Set<string>;
  private entries: StoredEntry[] = [];
  private keys: KeyRow[] = [];

  constructor(sql: CountedSql, requests: readonly MoneyRequest[]) {
    this.sql = sql;
    this.decided = decidedKeys(
      sql,
      requests.map((request) => request.idempotencyKey),
    );
  }

  /**
   * Whether `request` can be decided without reading storage, its rows held:
   * a credit or a charge whose key is new to the object and to the batch.
   */
  fresh(request: MoneyRequest): boolean {
    const type = request.command.type;
    return (type === "charge" || type === "credit") && !this.decided.has(request.idempotencyKey);
  }

  /** The request's key is decided now (by the batch): a later operation under it is a retry, decided alone. */
  noteDecided(request: MoneyRequest): void {
    this.decided.add(request.idempotencyKey);
  }

  entry(row: StoredEntry): void {
    this.entries.push(row);
  }

  key(row: KeyRow): void {
    this.keys.push(row);
  }

  /** Writes the held rows: before anything reads storage, and when the batch ends. */
  write(): void {
    if (this.entries.length > 0) {
      const entries = this.entries;
      this.entries = [];
      insertEntries(this.sql, entries);
    }
    if (this.keys.length > 0) {
      const keys = this.keys;
      this.keys = [];
      insertKeyRows(this.sql, keys);
    }
  }
}
