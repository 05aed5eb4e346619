/**
 * An account object's storage, read from outside: its SQLite file on the
 * server's disk, opened read-only (the server keeps it in WAL mode, so a
 * reader sees what is committed and never blocks it). The file is its page
 * count times its page size; pages freed by deletes stay in it, on the
 * freelist, until a VACUUM. The object's own `databaseSize` counts the pages
 * in use, the file less its freelist (the account view's storage_bytes
 * agrees, measured). SQLite's dbstat gives the bytes of each table and index.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { LOCATOR_MERGE_RATIO } from "../../src/domain/limits.ts";
import { DatabaseSync } from "node:sqlite";
import type { AccountObjectsDir } from "./context.ts";

export interface ObjectSize {
  /** page_count x page_size: the file, free pages included. */
  readonly fileBytes: number;
  /** The file less its freelist: the pages in use, what `ctx.storage.sql.databaseSize` reports. */
  readonly databaseBytes: number;
  readonly freelistBytes: number;
  /** Bytes of each table and index (dbstat's pages), by name. */
  readonly tables: Readonly<Record<string, number>>;
  /** Rows of the tables a charge or a period writes. */
  readonly rows: Readonly<Record<string, number>>;
}

const COUNTED = [
  "ledger",
  "keys",
  "periods",
  "period_objects",
  "key_filter",
  "filter_staging",
  "locator_runs",
  "locator_buckets",
] as const;

/** Finds each account's SQLite file once (by the name its `account` row holds) and measures it. */
export class AccountObjects {
  private readonly dir: AccountObjectsDir;
  private readonly files = new Map<string, string>();

  constructor(dir: AccountObjectsDir) {
    this.dir = dir;
  }

  private directory(): string | null {
    try {
      const name = readdirSync(this.dir.root).find((entry) => entry.endsWith(this.dir.suffix));
      return name === undefined ? null : join(this.dir.root, name);
    } catch {
      return null;
    }
  }

  /** The file of `account`'s object; throws if no object holds it. */
  file(account: string): string {
    const known = this.files.get(account);
    if (known !== undefined) return known;
    const dir = this.directory();
    if (dir !== null) {
      for (const name of readdirSync(dir)) {
        if (!name.endsWith(".sqlite")) continue;
        const path = join(dir, name);
        const held = withDatabase(path, (db) => {
          try {
            return (db.prepare("SELECT name FROM account").get() as { name?: string } | undefined)?.name ?? null;
          } catch {
            return null; // not an opened account
          }
        });
        if (held !== null) this.files.set(held, path);
      }
    }
    const found = this.files.get(account);
    if (found === undefined) throw new Error(`no object file holds account ${account} under ${this.dir.root}`);
    return found;
  }

  measure(account: string): ObjectSize {
    return withDatabase(this.file(account), (db) => {
      const pragma = (name: string) => Number((db.prepare(`PRAGMA ${name}`).get() as Record<string, number>)[name]);
      const pageSize = pragma("page_size");
      const pageCount = pragma("page_count");
      const freelist = pragma("freelist_count");
      const tables: Record<string, number> = {};
      for (const row of db.prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name").all() as Array<{
        name: string;
        bytes: number;
      }>) {
        tables[row.name] = row.bytes;
      }
      const rows: Record<string, number> = {};
      for (const table of COUNTED) {
        try {
          rows[table] = (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
        } catch {
          rows[table] = Number.NaN; // an older schema
        }
      }
      return {
        fileBytes: pageCount * pageSize,
        databaseBytes: (pageCount - freelist) * pageSize,
        freelistBytes: freelist * pageSize,
        tables,
        rows,
      };
    });
  }

  /**
   * How far the archive job has got with the account's periods, and the
   * locator's work left (src/ledger/locator-job.ts): runs not yet live,
   * staged hashes, a merge due.
   */
  periods(account: string): { total: number; closing: number; unpruned: number; locatorPending: number } {
    return withDatabase(this.file(account), (db) => {
      const row = db
        .prepare(
          "SELECT COUNT(*) AS total, SUM(state = 'closing') AS closing, SUM(pruned < 2) AS unpruned FROM periods",
        )
        .get() as { total: number; closing: number | null; unpruned: number | null };
      let locatorPending = 0;
      try {
        const runs = db.prepare("SELECT state, keys, staged FROM locator_runs ORDER BY keys").all() as Array<{
          state: string;
          keys: number;
          staged: number;
        }>;
        locatorPending = runs.filter((run) => run.state !== "live" || run.staged === 1).length;
        const [smaller, larger] = runs.filter((run) => run.state === "live");
        if (smaller !== undefined && larger !== undefined && larger.keys < LOCATOR_MERGE_RATIO * smaller.keys) {
          locatorPending += 1;
        }
      } catch {
        // an older schema: no locator
      }
      return { total: row.total, closing: row.closing ?? 0, unpruned: row.unpruned ?? 0, locatorPending };
    });
  }

  /** One period's archive state: whether it is archived, and pruned (0 none, 1 partly, 2 whole). */
  period(account: string, id: number): { state: string; pruned: number } | null {
    return withDatabase(this.file(account), (db) => {
      const row = db.prepare("SELECT state, pruned FROM periods WHERE id = ?").get(id) as
        { state: string; pruned: number } | undefined;
      return row === undefined ? null : { state: row.state, pruned: row.pruned };
    });
  }
}

function withDatabase<T>(path: string, read: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec("PRAGMA busy_timeout = 2000");
    return read(db);
  } finally {
    db.close();
  }
}
