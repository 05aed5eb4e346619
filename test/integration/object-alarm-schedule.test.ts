import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { EVENT_PUBLISH_DELAY_MS, EVENT_RETRY_DELAY_MS } from "../../src/domain/limits.ts";
import { AlarmSchedule, type AlarmJobs } from "../../src/ledger/alarm-schedule.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { fundedAccount, ledgerStub } from "../support/api.ts";

/** Jobs with nothing to do: the schedule is tested on its own, over the object's real storage and alarm. */
const IDLE: AlarmJobs = {
  list: () => Promise.resolve(true),
  publish: () => Promise.resolve({ published: 0, more: false, failed: false }),
  measure: () => undefined,
};

function scheduleIn(account: string, fn: (schedule: AlarmSchedule, storage: DurableObjectStorage) => Promise<void>) {
  return runInDurableObject(ledgerStub(account), (_instance, state) =>
    fn(new AlarmSchedule(state.storage, new CountedSql(state.storage.sql), IDLE), state.storage),
  );
}

describe("the alarm schedule, on a real object", () => {
  it("a group writes the alarm only when it moves earlier", async () => {
    await scheduleIn(await fundedAccount(0), async (schedule, storage) => {
      await storage.deleteAlarm();
      const now = Date.now();
      await schedule.readBeforeGroup();
      schedule.armForGroup(now + 60_000, false, now);
      expect(await storage.getAlarm()).toBe(now + 60_000);
      // Later: left alone, without reading storage again.
      schedule.armForGroup(now + 120_000, false, now);
      expect(await storage.getAlarm()).toBe(now + 60_000);
      // New events are due sooner than the expiry.
      schedule.armForGroup(Number.POSITIVE_INFINITY, true, now);
      expect(await storage.getAlarm()).toBe(now + EVENT_PUBLISH_DELAY_MS);
    });
  });

  it("brings back the sweep of an older record when the alarm was gone", async () => {
    // Funded: the credit's record is stored.
    await scheduleIn(await fundedAccount(10), async (schedule, storage) => {
      await storage.deleteAlarm();
      const now = Date.now();
      storage.sql.exec("UPDATE idempotency_records SET expires_ms = ?", now + 5);
      await schedule.readBeforeGroup();
      schedule.armForGroup(now + 60_000, true, now);
      expect(await storage.getAlarm()).toBe(now + 5);
    });
  });

  it("a group's alarm rolls back with its transaction", async () => {
    await scheduleIn(await fundedAccount(0), async (schedule, storage) => {
      const now = Date.now();
      await storage.setAlarm(now + 60_000);
      await schedule.readBeforeGroup();
      expect(() =>
        storage.transactionSync(() => {
          schedule.armForGroup(now + 1000, false, now);
          throw new Error("the group failed");
        }),
      ).toThrow("the group failed");
      expect(await storage.getAlarm()).toBe(now + 60_000);
    });
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
