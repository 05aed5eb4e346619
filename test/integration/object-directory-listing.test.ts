import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { EVENT_RETRY_DELAY_MS } from "../../src/domain/limits.ts";
import { AlarmSchedule } from "../../src/ledger/alarm-schedule.ts";
import { DirectoryListing, type ListingHost } from "../../src/ledger/directory-listing.ts";
import { readAccount } from "../../src/ledger/ledger-store.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { fundedAccount, ledgerStub } from "../support/api.ts";

const FAILING = {
  getByName: () => ({
    register: () => Promise.reject(new Error("injected: the directory is down")),
  }),
} as unknown as Env["DIRECTORY"];

/** The account's own listing undone, so that a listing built here over the object's real storage does it again. */
function withUnlistedAccount<R>(
  account: string,
  fn: (listing: DirectoryListing, host: ListingHost & { noted: number }) => Promise<R>,
  directory: Env["DIRECTORY"] | undefined = env.DIRECTORY,
): Promise<R> {
  return runInDurableObject(ledgerStub(account), (_instance, state) => {
    const sql = new CountedSql(state.storage.sql);
    state.storage.sql.exec("UPDATE account SET listed = 0");
    const host = {
      ctx: state,
      sql,
      schedule: new AlarmSchedule(state.storage, sql, {
        list: () => Promise.resolve(true),
        publish: () => Promise.resolve({ published: 0, more: false, failed: false }),
        periods: () => Promise.resolve({ did: "nothing", period: null, r2Operations: 0, nextDueMs: null }),
        periodsDue: () => null,
        expireHolds: () => Promise.resolve(null),
        deliverTransfers: () => Promise.resolve(null),
        headNeeds: () => ({}),
        measure: () => undefined,
      }),
      directory: () => directory,
      account: () => readAccount(sql),
      noted: 0,
      noteListed: () => {
        host.noted += 1;
      },
    };
    return fn(new DirectoryListing(host), host);
  });
}

/** An account its own object has listed (beside the money path, so awaited here) before a test undoes it. */
async function listedAccount(): Promise<string> {
  const account = await fundedAccount(0);
  await vi.waitFor(async () => {
    const listed = await runInDurableObject(ledgerStub(account), (_instance, state) => {
      return state.storage.sql.exec<{ listed: number }>("SELECT listed FROM account").one().listed;
    });
    expect(listed).toBe(1);
  });
  return account;
}

async function directoryLists(account: string): Promise<boolean> {
  return (await env.DIRECTORY.getByName("acme").list(1000, undefined)).accounts.includes(account);
}

describe("the directory listing, on a real object", () => {
  it("lists the account in its tenant's directory and records it, once", async () => {
    const account = await listedAccount();
    const seen = await withUnlistedAccount(account, async (listing, host) => {
      const listed = await listing.list();
      const again = await listing.list();
      return { listed, again, stored: readAccount(host.sql)?.listed, noted: host.noted };
    });
    expect(seen).toEqual({ listed: true, again: true, stored: true, noted: 1 });
    expect(await directoryLists(account)).toBe(true);
  });

  it("answers false for a failed attempt, stores nothing, and the first start arms the alarm for a retry", async () => {
    const account = await listedAccount();
    const seen = await withUnlistedAccount(
      account,
      async (listing, host) => {
        const listed = await listing.list();
        await host.ctx.storage.deleteAlarm();
        const before = Date.now();
        listing.start();
        listing.start();
        await new Promise((resolve) => setTimeout(resolve, 50));
        const alarm = await host.ctx.storage.getAlarm();
        return {
          listed,
          stored: readAccount(host.sql)?.listed,
          retryIn: alarm === null ? null : alarm - before,
          noted: host.noted,
        };
      },
      FAILING,
    );
    expect(seen).toMatchObject({ listed: false, stored: false, noted: 0 });
    expect(seen.retryIn).toBeGreaterThanOrEqual(EVENT_RETRY_DELAY_MS);
    expect(seen.retryIn).toBeLessThan(EVENT_RETRY_DELAY_MS + 1000);
  });

  it("is done when there is no directory to list it in", async () => {
    const account = await listedAccount();
    expect(await withUnlistedAccount(account, (listing) => listing.list(), undefined)).toBe(true);
  });
});
