import { DurableObject } from "cloudflare:workers";
import type { AccountPage, PinCheck } from "./directory-types.ts";

/**
 * One object per tenant, in the global namespace: the tenant's account
 * names, for listing, and the jurisdiction its accounts live in, recorded
 * when its first account opens and never changed after. It holds no money
 * state, and registering never holds a request up: accounts register
 * themselves beside the request that first reads them (their alarm retries
 * a failed attempt). Besides list (GET /v1/accounts), a request waits only
 * for checkPin, which the Worker calls once per tenant per isolate once the
 * tenant is pinned, and on every request until then (tenant-placement.ts).
 */
export class TenantDirectory extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Two small tables, created on first use; `jurisdiction` is "" for the global one.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS pin (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        jurisdiction TEXT NOT NULL,
        pinned_ms INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, registered_ms INTEGER NOT NULL) WITHOUT ROWID;`);
  }

  /**
   * Whether `jurisdiction` (null: global) is where this tenant's accounts
   * live. With `record`, a tenant with no pin yet is pinned to it.
   */
  checkPin(jurisdiction: string | null, record: boolean): PinCheck {
    const pinned = this.pinned();
    if (pinned === undefined) {
      if (record) this.pin(jurisdiction);
      return { ok: true, pinned: record };
    }
    return pinned === jurisdiction ? { ok: true, pinned: true } : { ok: false, pinnedTo: pinned };
  }

  /**
   * Lists an account (again, harmlessly). A tenant with no pin yet (its
   * accounts predate directories) is pinned where the account lives. The
   * pin itself is enforced by the Worker before any account is reached.
   */
  register(account: string, jurisdiction: string | null): void {
    if (this.pinned() === undefined) this.pin(jurisdiction);
    this.sql.exec("INSERT OR IGNORE INTO accounts (name, registered_ms) VALUES (?, ?)", account, Date.now());
  }

  /** Account names in order, after `startingAfter`: at most `limit`, and whether more follow. */
  list(limit: number, startingAfter: string | undefined): AccountPage {
    const rows = this.sql
      .exec<{ name: string }>(
        "SELECT name FROM accounts WHERE name > ? ORDER BY name LIMIT ?",
        startingAfter ?? "",
        limit + 1,
      )
      .toArray();
    return { accounts: rows.slice(0, limit).map((row) => row.name), hasMore: rows.length > limit };
  }

  private pinned(): string | null | undefined {
    const row = this.sql.exec<{ jurisdiction: string }>("SELECT jurisdiction FROM pin").toArray()[0];
    return row === undefined ? undefined : row.jurisdiction === "" ? null : row.jurisdiction;
  }

  private pin(jurisdiction: string | null): void {
    this.sql.exec(
      "INSERT INTO pin (singleton, jurisdiction, pinned_ms) VALUES (1, ?, ?)",
      jurisdiction ?? "",
      Date.now(),
    );
  }
}
