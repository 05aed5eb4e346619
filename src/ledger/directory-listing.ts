import { logError } from "../observability/log.ts";
import type { AlarmSchedule } from "./alarm-schedule.ts";
import { tenantOf } from "./account-tenant.ts";
import { markListed, type AccountRow } from "./ledger-store.ts";
import type { CountedSql } from "./sql.ts";

/** What the listing reads of its object; the binding is read on every attempt. */
export interface ListingHost {
  readonly ctx: DurableObjectState;
  readonly sql: CountedSql;
  readonly schedule: AlarmSchedule;
  directory(): Env["DIRECTORY"] | undefined;
  /** The committed account; null if it was never opened. */
  account(): AccountRow | null;
  /** The account is now listed in storage: so it is in memory too. */
  noteListed(): void;
}

/**
 * The account's entry in its tenant's directory (the account list): made
 * once, beside the money path, and retried by the alarm until it holds.
 */
export class DirectoryListing {
  private readonly host: ListingHost;
  /** Whether this instance has started listing the account. */
  private started = false;

  constructor(host: ListingHost) {
    this.host = host;
  }

  /** For an account read unlisted (new, or opened before directories existed): lists it now, once per instance. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.listSoon();
  }

  /** Lists the account now; if that fails, the alarm tries again shortly, and after every run until it works. */
  private async listSoon(): Promise<void> {
    if (await this.list()) return;
    await this.host.schedule.armBy({ listed: false }, Date.now());
  }

  /**
   * Lists the account in its tenant's directory, once; true when it is
   * listed (or there is no directory to list it in). Never on the money path.
   */
  async list(): Promise<boolean> {
    const { ctx, sql } = this.host;
    const account = this.host.account();
    if (account === null || account.listed) return true;
    const tenant = tenantOf(account, ctx.id.name);
    const directory = this.host.directory();
    if (directory === undefined) return true;
    // A tenant not known yet (an account opened before schema 4) is listed once it is; the alarm tries again.
    if (tenant === null) return false;
    try {
      await directory.getByName(tenant).register(account.name, ctx.id.jurisdiction ?? null);
    } catch (error) {
      logError("directoryListingFailed", { account: account.name, error: String(error) });
      return false;
    }
    ctx.storage.transactionSync(() => markListed(sql));
    this.host.noteListed();
    return true;
  }
}
