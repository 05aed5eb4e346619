import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { EVENT_PUBLISH_DELAY_MS, EVENT_RETRY_DELAY_MS } from "../../src/domain/limits.ts";
import { AlarmSchedule, type AlarmJobs } from "../../src/ledger/alarm-schedule.ts";
import type { LedgerHead } from "../../src/ledger/ledger-store.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { fundedAccount, ledgerStub } from "../support/api.ts";
import { seedLegacyDeclines } from "../support/storage.ts";

/** Jobs with nothing to do: the schedule is tested on its own, over the object's real storage and alarm. */
const IDLE: AlarmJobs = {
  list: () => Promise.resolve(true),
  publish: () => Promise.resolve({ published: 0, more: false, failed: false }),
  periods: () => Promise.resolve({ did: "nothing", period: null, r2Operations: 0, nextDueMs: null }),
  periodsDue: () => null,
  expireHolds: () => Promise.resolve(null),
  deliverTransfers: () => Promise.resolve(null),
  headNeeds: () => ({}),
  measure: () => undefined,
};

/** A ledger head a group leaves: the periods' job says when it is next due for it. */
const HEAD: LedgerHead = { balance: 0, entryCount: 1, keyPos: 1, held: 0, holdsDueMs: null, transfersDueMs: null };

function scheduleIn(
  account: string,
  fn: (schedule: AlarmSchedule, storage: DurableObjectStorage) => Promise<void>,
  jobs: AlarmJobs = IDLE,
) {
  return runInDurableObject(ledgerStub(account), (_instance, state) =>
    fn(new AlarmSchedule(state.storage, new CountedSql(state.storage.sql), jobs), state.storage),
  );
}

/** Jobs whose periods' job is next due whenever `due.ms` says. */
function periodsDueAt(due: { ms: number | null }): AlarmJobs {
  return { ...IDLE, periodsDue: () => due.ms };
}

describe("the alarm schedule, on a real object", () => {
  it("a group writes the alarm only when it moves earlier, and none when nothing is due", async () => {
    const due: { ms: number | null } = { ms: null };
    await scheduleIn(
      await fundedAccount(10),
      async (schedule, storage) => {
        await storage.deleteAlarm();
        const now = Date.now();
        await schedule.readBeforeGroup();
        // The group's key row is no job: its expiry is not due.
        schedule.armForGroup(false, HEAD, now);
        expect(await storage.getAlarm()).toBeNull();
        due.ms = now + 60_000;
        schedule.armForGroup(false, HEAD, now);
        expect(await storage.getAlarm()).toBe(now + 60_000);
        // Later: left alone, without reading storage again.
        due.ms = now + 120_000;
        schedule.armForGroup(false, HEAD, now);
        expect(await storage.getAlarm()).toBe(now + 60_000);
        // New events are due sooner than the periods' job.
        schedule.armForGroup(true, HEAD, now);
        expect(await storage.getAlarm()).toBe(now + EVENT_PUBLISH_DELAY_MS);
      },
      periodsDueAt(due),
    );
  });

  it("brings back the sweep of an older legacy record when the alarm was gone, never for a key row", async () => {
    // Funded: the credit's key row is stored; a record of older code is stored beside it.
    await scheduleIn(await fundedAccount(10), async (schedule, storage) => {
      await storage.deleteAlarm();
      const now = Date.now();
      storage.sql.exec("UPDATE keys SET decided_ms = ?, expires_ms = ?", now - 10, now + 1);
      seedLegacyDeclines(storage, [{ key: "legacy", createdMs: now - 10, expiresMs: now + 5 }]);
      await schedule.readBeforeGroup();
      schedule.armForGroup(true, HEAD, now);
      expect(await storage.getAlarm()).toBe(now + 5);
    });
  });

  it("a run sets the alarm no later than what a group that committed meanwhile needs", async () => {
    const dayMs = 86_400_000;
    const head: { transfersDueMs: number | null } = { transfersDueMs: null };
    const jobs: AlarmJobs = {
      ...IDLE,
      // While this run publishes, a group decides a transfer: due at once, and the alarm it read was earlier still.
      publish: () => {
        head.transfersDueMs = Date.now();
        return Promise.resolve({ published: 0, more: false, failed: false });
      },
      periods: () => Promise.resolve({ did: "none", period: null, r2Operations: 0, nextDueMs: Date.now() + dayMs }),
      headNeeds: () => ({ transfersDueMs: head.transfersDueMs }),
    };
    await scheduleIn(
      await fundedAccount(0),
      async (schedule, storage) => {
        await storage.deleteAlarm();
        await schedule.run();
        const alarm = await storage.getAlarm();
        expect(alarm).not.toBeNull();
        expect(alarm ?? Infinity).toBeLessThanOrEqual(Date.now() + 1000);
      },
      jobs,
    );
  });

  it("a group's alarm rolls back with its transaction", async () => {
    const due = { ms: null as number | null };
    await scheduleIn(
      await fundedAccount(0),
      async (schedule, storage) => {
        const now = Date.now();
        await storage.setAlarm(now + 60_000);
        await schedule.readBeforeGroup();
        due.ms = now + 1000;
        expect(() =>
          storage.transactionSync(() => {
            schedule.armForGroup(false, HEAD, now);
            throw new Error("the group failed");
          }),
        ).toThrow("the group failed");
        expect(await storage.getAlarm()).toBe(now + 60_000);
      },
      periodsDueAt(due),
    );
  });

  it("a failed listing sets the alarm for its retry, never later than it already is", async () => {
    await scheduleIn(await fundedAccount(0), async (schedule, storage) => {
      const now = Date.now();
      await storage.setAlarm(now + 1000);
      await schedule.armBy({ listed: false }, now);
      expect(await storage.getAlarm()).toBe(now + 1000);
      await storage.deleteAlarm();
      await schedule.armBy({ listed: false }, now);
      expect(await storage.getAlarm()).toBe(now + EVENT_RETRY_DELAY_MS);
      await schedule.armBy({ listed: true }, now);
      expect(await storage.getAlarm()).toBe(now + EVENT_RETRY_DELAY_MS);
    });
  });

  it("runs one at a time, and re-arms for a failed send", async () => {
    const account = await fundedAccount(0);
    await runInDurableObject(ledgerStub(account), async (_instance, state) => {
      const lists: string[] = [];
      const { promise: gate, resolve: release } = Promise.withResolvers<undefined>();
      const schedule = new AlarmSchedule(state.storage, new CountedSql(state.storage.sql), {
        ...IDLE,
        list: async () => {
          lists.push("start");
          await gate;
          lists.push("end");
          return true;
        },
        publish: () => Promise.resolve({ published: 0, more: true, failed: true }),
      });
      const first = schedule.run();
      const second = schedule.run();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(lists).toEqual(["start"]);
      release(undefined);
      const before = Date.now();
      await Promise.all([first, second]);
      expect(lists).toEqual(["start", "end", "start", "end"]);
      const alarm = await state.storage.getAlarm();
      expect(alarm).toBeGreaterThanOrEqual(before + EVENT_RETRY_DELAY_MS);
      expect(alarm).toBeLessThanOrEqual(Date.now() + EVENT_RETRY_DELAY_MS);
    });
  });
});
