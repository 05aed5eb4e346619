import type { StorageWork } from "../contract/storage-work.ts";
/**
 * The account object's SQL, counted: every statement adds the rows its
 * cursor read and wrote (Cloudflare bills both, index entries included) to
 * `work`, so a caller can tell what a request cost.
 */

type Row = Record<string, SqlStorageValue>;

export class CountedSql {
  private readonly storage: SqlStorage;
  private read = 0;
  private written = 0;

  constructor(storage: SqlStorage) {
    this.storage = storage;
  }

  /** Every row of a statement's result. */
  rows<T extends Row>(query: string, ...bindings: SqlStorageValue[]): T[] {
    const cursor = this.storage.exec<T>(query, ...bindings);
    const rows = cursor.toArray();
    this.read += cursor.rowsRead;
    this.written += cursor.rowsWritten;
    return rows;
  }

  /** The first row, or undefined. `T` is the caller's statement of the query's columns, as with `exec`. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  first<T extends Row>(query: string, ...bindings: SqlStorageValue[]): T | undefined {
    return this.rows<T>(query, ...bindings)[0];
  }

  run(query: string, ...bindings: SqlStorageValue[]): void {
    this.rows(query, ...bindings);
  }

  /**
   * Runs a write and answers the rows it wrote, index entries included: 0
   * when nothing was written. (A RETURNING clause would say the same and
   * cost a quarter of a batch's throughput, measured.)
   */
  write(query: string, ...bindings: SqlStorageValue[]): number {
    const cursor = this.storage.exec(query, ...bindings);
    cursor.toArray();
    this.read += cursor.rowsRead;
    this.written += cursor.rowsWritten;
    return cursor.rowsWritten;
  }

  /** The bytes the database takes (pages in use and free): what the object stores. */
  databaseSize(): number {
    return this.storage.databaseSize;
  }

  /** The work done so far; subtract two readings to get what happened in between. */
  work(): StorageWork {
    return { rowsRead: this.read, rowsWritten: this.written };
  }
}

/** The rows the last INSERT, UPDATE or DELETE stored or removed, its indexes' entries not counted. */
export function insertedRows(sql: CountedSql): number {
  return sql.first<{ n: number }>("SELECT changes() AS n")?.n ?? 0;
}

export function workSince(sql: CountedSql, before: StorageWork): StorageWork {
  const now = sql.work();
  return { rowsRead: now.rowsRead - before.rowsRead, rowsWritten: now.rowsWritten - before.rowsWritten };
}
