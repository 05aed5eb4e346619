import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import { runDurableObjectAlarm } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { EXPIRY_SWEEP_BATCH_SIZE } from "../../src/domain/limits.ts";
import type { MoneyRequest } from "../../src/contract/requests.ts";
import { expectLedgerConsistent, fundedAccount, ledgerStub, uniqueKey } from "../support/api.ts";
import {
  FAULT_MESSAGE,
  faultSql,
  healSql,
  inLedger,
  legacyRecords,
  readLegacyRecords,
  readRecords,
  seedLegacyDeclines,
  type Fault,
  type LegacyRecordRow,
} from "../support/storage.ts";

/**
 * The expiry alarm under failures and at-least-once delivery. It sweeps the
 * records older code stored (`idempotency_records`; a key decided from
 * schema 7 on is a row of `keys`, which no sweep touches): they are seeded
 * as that code wrote them, with the alarm it set, and their expiries
 * rewritten inside the object. A trigger makes every DELETE of a record
 * fail, as a storage fault would. Whatever happens, the sweep never deletes
 * a record that has not expired, a failed run deletes nothing, the alarm
 * survives (or the next write re-arms it), and once healed, repeated runs
 * leave no expired record and the alarm at the earliest remaining expiry.
 */

const DELETE_FAULT: Fault = { timing: "BEFORE", event: "DELETE", table: "idempotency_records" };
/** Live records expire at least this far ahead, so none can expire during a test. */
const LIVE_MARGIN_MS = 10 * 60_000;

type Expiries = ReadonlyMap<string, number>;

/**
 * `count` legacy records (declines, each with its decision), live, and the
 * alarm at the earliest of them, as older code left them. Seeded before the
 * object first decides a key: it asks once whether it holds legacy keys.
 */
async function seedRecords(account: string, count: number): Promise<string[]> {
  const keys = Array.from({ length: count }, (_, i) => `r${i}-${uniqueKey()}`);
  await inLedger(account, async (storage) => {
    const now = Date.now();
    const expiries = keys.map((_, i) => now + LIVE_MARGIN_MS + i);
    seedLegacyDeclines(
      storage,
      keys.map((key, i) => ({ key, createdMs: now - 1000, expiresMs: expiries[i] ?? now })),
    );
    const alarm = await storage.getAlarm();
    const earliest = Math.min(...expiries);
    if (count > 0 && (alarm === null || alarm > earliest)) await storage.setAlarm(earliest);
  });
  return keys;
}

function expiriesOf(rows: readonly LegacyRecordRow[]): Map<string, number> {
  return new Map(rows.map((row) => [row.key, row.expires_ms]));
}

function earliest(expiries: Expiries): number | null {
  return expiries.size === 0 ? null : Math.min(...expiries.values());
}

/**
 * What one or more sweeps at `nowMs` may have done to `planned`: only
 * expired records gone, and always the oldest first (ties aside).
 */
function checkSweep(planned: Expiries, remaining: Expiries, nowMs: number, expectedDeleted?: number) {
  const deleted = [...planned.keys()].filter((key) => !remaining.has(key));
  const deletedExpiries = deleted.map((key) => planned.get(key) ?? Number.NaN);
  const unexpiredDeleted = deletedExpiries.filter((expires) => !(expires <= nowMs));
  expect({ unexpiredDeleted: unexpiredDeleted.length }).toEqual({ unexpiredDeleted: 0 });
  const expiredLeft = [...remaining.values()].filter((expires) => expires <= nowMs);
  if (deleted.length > 0 && expiredLeft.length > 0) {
    expect(Math.max(...deletedExpiries)).toBeLessThanOrEqual(Math.min(...expiredLeft));
  }
  for (const [key, expires] of remaining) {
    if (planned.has(key)) expect(expires).toBe(planned.get(key));
  }
  if (expectedDeleted !== undefined) expect(deleted).toHaveLength(expectedDeleted);
  return { deleted: deleted.length, expiredLeft: expiredLeft.length };
}

/**
 * The alarm is at the earliest expiry. The runtime keeps an alarm set in the
 * past as "due now" (it stores the time it was set), so a past expiry can
 * only be checked as due: at or after the expiry and no later than the check.
 */
function expectAlarmAt(alarm: number | null, earliestExpiry: number | null, checkedAtMs = Date.now()) {
  if (earliestExpiry === null || earliestExpiry > checkedAtMs) {
    expect(alarm).toBe(earliestExpiry);
    return;
  }
  expect(alarm).not.toBeNull();
  expect(alarm).toBeGreaterThanOrEqual(earliestExpiry);
  expect(alarm).toBeLessThanOrEqual(checkedAtMs);
}

function creditRequest(key: string): MoneyRequest {
  return {
    requestId: crypto.randomUUID(),
    idempotencyKey: key,
    fingerprint: "direct-call",
    command: { type: "credit", input: { amount: 1, currency: "USD" } },
    origin: { requestId: "direct-call", keyId: null },
    interfaceVersion: OBJECT_INTERFACE_VERSION,
  };
}

/** Past any live lead the property draws: the lead of the record that outlives every other. */
const LAST_LEAD_MS = 10_000_001;

/**
 * The whole story for one set of records: `expiredAges` records expired that
 * many ms ago, `liveLeads` records expiring that many ms after LIVE_MARGIN_MS,
 * and one more live record expiring after all of them (as the write's own
 * record did under older code), so that the sweep always has a next expiry
 * to arm; when it has none, the alarm is left to the object's other jobs.
 */
async function sweepStory(expiredAges: readonly number[], drawnLeads: readonly number[], redeliveries: number) {
  // A delete must be attempted for the fault to bite.
  expect(expiredAges.length).toBeGreaterThan(0);
  const liveLeads = [...drawnLeads, LAST_LEAD_MS];
  const account = await fundedAccount(0);
  const stub = ledgerStub(account);
  const keys = await seedRecords(account, expiredAges.length + liveLeads.length);

  // Delivered early, before anything expired: deletes nothing, keeps the alarm at the earliest expiry.
  const fresh = expiriesOf(await legacyRecords(account));
  expect(await runDurableObjectAlarm(stub)).toBe(keys.length > 0);
  const afterEarly = await inLedger(account, async (storage) => ({
    expiries: expiriesOf(readLegacyRecords(storage)),
    alarm: await storage.getAlarm(),
  }));
  expect(afterEarly.expiries).toEqual(fresh);
  expect(afterEarly.alarm).toBe(earliest(fresh));

  // Time passes: rewrite the expiries, and storage starts failing every delete.
  const planned = await inLedger(account, (storage) => {
    const now = Date.now();
    for (const [i, key] of keys.entries()) {
      const expires =
        i < expiredAges.length
          ? now - (expiredAges[i] ?? 0)
          : now + LIVE_MARGIN_MS + (liveLeads[i - expiredAges.length] ?? 0);
      storage.sql.exec("UPDATE idempotency_records SET expires_ms = ? WHERE key = ?", expires, key);
    }
    storage.sql.exec(faultSql(DELETE_FAULT));
    return expiriesOf(readLegacyRecords(storage));
  });
  const expiredKeys = new Set(keys.slice(0, expiredAges.length));

  // A delivery that fails: throws, deletes nothing, and the scheduled alarm stays as it was.
  const failed = await inLedger(account, async (storage, instance) => {
    const alarmBefore = await storage.getAlarm();
    let error = "no error";
    try {
      await instance.alarm();
    } catch (e) {
      error = String(e);
    }
    return {
      error,
      alarmBefore,
      alarmAfter: await storage.getAlarm(),
      expiries: expiriesOf(readLegacyRecords(storage)),
    };
  });
  expect(failed.error).toContain(FAULT_MESSAGE);
  expect(failed.alarmAfter).toBe(failed.alarmBefore);
  expect(failed.alarmAfter).not.toBeNull();
  expect(failed.expiries).toEqual(planned);

  // The test harness's delivery removes the alarm before running it, like an
  // alarm whose retries ran out: it rejects, deletes nothing, and no alarm is left.
  await expect(runDurableObjectAlarm(stub)).rejects.toThrow(FAULT_MESSAGE);
  expect(expiriesOf(await legacyRecords(account))).toEqual(planned);
  expect(await inLedger(account, (storage) => storage.getAlarm())).toBeNull();

  // The next write (a key row, no record) re-arms the alarm at the earliest unswept expiry
  // (still faulty storage: writes work, deletes fail). Healed in the same turn, the first
  // delivery deletes one bounded batch, oldest first, and re-arms.
  const writeKey = uniqueKey();
  const rearmed = await inLedger(account, async (storage, instance) => {
    const outcome = await instance.moveMoney(creditRequest(writeKey));
    const alarm = await storage.getAlarm();
    const withWrite = expiriesOf(readLegacyRecords(storage));
    const keyRows = readRecords(storage).map((row) => row.key);
    storage.sql.exec(healSql(DELETE_FAULT));
    const published = instance.alarm();
    const nowMs = Date.now();
    return {
      status: outcome.status,
      alarm,
      withWrite,
      keyRows,
      nowMs,
      swept: expiriesOf(readLegacyRecords(storage)),
      alarmAfterSweep: await storage.getAlarm(),
      published: await published,
    };
  });
  expect(rearmed.status).toBe(201);
  expect(rearmed.withWrite).toEqual(planned);
  expect(rearmed.keyRows).toEqual([writeKey]);
  expectAlarmAt(rearmed.alarm, earliest(rearmed.withWrite));
  const firstSweep = checkSweep(
    rearmed.withWrite,
    rearmed.swept,
    rearmed.nowMs,
    Math.min(expiredKeys.size, EXPIRY_SWEEP_BATCH_SIZE),
  );
  expect(firstSweep.expiredLeft).toBe(Math.max(0, expiredKeys.size - EXPIRY_SWEEP_BATCH_SIZE));
  expectAlarmAt(rearmed.alarmAfterSweep, earliest(rearmed.swept));

  // Redelivered at least once more, twice in a row or more: never an unexpired record.
  for (let run = 0; run < redeliveries; run += 1) {
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const now = Date.now();
    checkSweep(rearmed.withWrite, expiriesOf(await legacyRecords(account)), now);
  }
  const final = await inLedger(account, async (storage) => ({
    expiries: expiriesOf(readLegacyRecords(storage)),
    keyRows: readRecords(storage).map((row) => row.key),
    alarm: await storage.getAlarm(),
  }));
  // No sweep touches a key row.
  expect(final.keyRows).toEqual([writeKey]);
  const expectedLeft = new Map([...rearmed.withWrite].filter(([key]) => !expiredKeys.has(key)));
  expect(final.expiries).toEqual(expectedLeft);
  expectAlarmAt(final.alarm, earliest(expectedLeft));
  await expectLedgerConsistent(account);
}

describe("expiry alarm under faults and redelivery", () => {
  it("deletes exactly the expired records, whatever fails and however often it runs", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { maxLength: 12 }),
        fc.integer({ min: 2, max: 3 }),
        sweepStory,
      ),
      { numRuns: 8 },
    );
  }, 120_000);

  it(`needs more than one run for more than ${EXPIRY_SWEEP_BATCH_SIZE} expired records, with ties at the batch edge`, async () => {
    // Many records share an expiry, so the batch boundary falls inside a tie.
    const ages = Array.from({ length: EXPIRY_SWEEP_BATCH_SIZE + 7 }, (_, i) => (i % 40) * 1000);
    await sweepStory(ages, [0, 5_000, 5_000], 2);
  }, 60_000);

  it("sweeps at the exact millisecond the money path stops replaying", async () => {
    const account = await fundedAccount(0);
    const keys = await seedRecords(account, 4);
    // Pin the clock so one turn sees one instant; storage and alarms stay real.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now());
    try {
      const seen = await inLedger(account, async (storage, instance) => {
        const now = Date.now();
        const offsets = [-1, 0, 1, 2];
        for (const [i, key] of keys.entries()) {
          storage.sql.exec("UPDATE idempotency_records SET expires_ms = ? WHERE key = ?", now + (offsets[i] ?? 0), key);
        }
        const byKey = new Map(readLegacyRecords(storage).map((row) => [row.key, row]));
        // Replaying key i with its own fingerprint: live records replay, expired ones answer 409.
        // An answer from stored state is decided as the call is made, before the sweep below runs.
        const outcomes = keys.map((key) => {
          const row = byKey.get(key);
          return instance.moveMoney({
            requestId: "another-request",
            idempotencyKey: key,
            fingerprint: row?.fingerprint ?? "",
            command: { type: "credit", input: { amount: 1, currency: "USD" } },
            origin: { requestId: "another-request", keyId: null },
            interfaceVersion: OBJECT_INTERFACE_VERSION,
          });
        });
        const published = instance.alarm();
        const replayed = (await Promise.all(outcomes)).map((outcome) => [outcome.status, outcome.replayed]);
        return {
          now,
          replayed,
          kept: keys.filter((key) => readLegacyRecords(storage).some((row) => row.key === key)),
          alarm: await storage.getAlarm(),
          published: await published,
        };
      });
      // Offsets -1 and 0 are expired (expires_ms <= now): not replayed, and swept.
      expect(seen.replayed).toEqual([
        [409, false],
        [409, false],
        [402, true],
        [402, true],
      ]);
      expect(seen.kept).toEqual([keys[2], keys[3]]);
      expectAlarmAt(seen.alarm, seen.now + 1, vi.getRealSystemTime());
    } finally {
      vi.useRealTimers();
    }
  });

  it("a real alarm that fails is retried by the runtime, and the retry sweeps once storage heals", async () => {
    const account = await fundedAccount(0);
    const keys = await seedRecords(account, 6);
    const deliveries: string[] = [];
    const planned = await inLedger(account, async (storage, instance) => {
      // Count deliveries; the object's own alarm() still does all the work.
      const alarm = instance.alarm.bind(instance);
      instance.alarm = async () => {
        try {
          await alarm();
          deliveries.push("ok");
        } catch (error) {
          deliveries.push(String(error).includes(FAULT_MESSAGE) ? "fault" : String(error));
          throw error;
        }
      };
      const now = Date.now();
      for (const [i, key] of keys.entries()) {
        const expires = i < 4 ? now - 1000 * (i + 1) : now + LIVE_MARGIN_MS + i;
        storage.sql.exec("UPDATE idempotency_records SET expires_ms = ? WHERE key = ?", expires, key);
      }
      storage.sql.exec(faultSql(DELETE_FAULT));
      // As the write that made the oldest of them would have set it: due now.
      await storage.setAlarm(now - 4000);
      return expiriesOf(readLegacyRecords(storage));
    });

    await waitFor(() => deliveries.length >= 1, 10_000);
    expect(deliveries[0]).toBe("fault");
    expect(expiriesOf(await legacyRecords(account))).toEqual(planned);
    expect(await inLedger(account, (storage) => storage.getAlarm())).not.toBeNull();

    await inLedger(account, (storage) => {
      storage.sql.exec(healSql(DELETE_FAULT));
    });
    await waitFor(() => deliveries.includes("ok"), 20_000);
    const left = new Map([...planned].filter(([key]) => !keys.slice(0, 4).includes(key)));
    expect(expiriesOf(await legacyRecords(account))).toEqual(left);
    expect(await inLedger(account, (storage) => storage.getAlarm())).toBe(earliest(left));
    await expectLedgerConsistent(account);
  }, 40_000);
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
