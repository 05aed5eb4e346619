import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { Fetch } from "../../src/client/onceledger-client.ts";
import {
  ALARM_RUN_STALE_MS,
  ARCHIVE_KEYS_WALKED_PER_SLICE,
  ARCHIVE_ROWS_PER_OBJECT,
  ARCHIVE_ROWS_PER_SLICE,
  ARCHIVE_SLICED_FROM_ROWS,
} from "../../src/domain/limits.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { closeOpenPeriod } from "../../src/ledger/period-close.ts";
import type { CountedSql } from "../../src/ledger/sql.ts";
import { verifyLedger } from "../../scripts/verify/ledger-read.ts";
import { ACME_KEY, BASE_URL, call, fundedAccount, json, ledgerStub, uniqueKey } from "../support/api.ts";
import { chargeAll } from "../support/periods.ts";

/**
 * A close larger than one object, archived in slices: each entries and keys
 * step yields to the object's requests every few hundred rows (a request
 * arriving meanwhile waits for one slice, not the step), and the objects are
 * still cut at ARCHIVE_ROWS_PER_OBJECT rows, in seq and key order, with the
 * bytes the entries API shows and the digests `npm run verify` checks. The
 * open period's keys, interleaved with the closed one's in key order, stay
 * out of its keys objects.
 */

/** The closed period: the funding credit and these charges, so two objects of each kind. */
const CLOSED_CHARGES = ARCHIVE_ROWS_PER_OBJECT + 600;
const OPEN_CHARGES = 3_000;

const worker: Fetch = (url, init) => exports.default.fetch(url, init);

interface PeriodJson {
  id: number;
  state: string;
  key_count: number;
  objects: { name: string; kind: string }[];
}

async function period(account: string, id: number): Promise<PeriodJson> {
  const response = await call(`/v1/accounts/${account}/periods/${id}`);
  expect(response.status).toBe(200);
  return json<PeriodJson>(response);
}

/** One archive step, by the period's progress it ran from: its yields, and the most rows its object's SQL read between two. */
interface StepSlices {
  progress: string;
  yields: number;
  mostRowsBetweenYields: number;
  readAt: number;
}

const realWait = scheduler.wait.bind(scheduler);
afterEach(() => {
  scheduler.wait = realWait;
});

/**
 * Watches the object's yields (scheduler.wait, which only the archive job calls), each counted to
 * the step under way: the period's progress, which a step records only as it ends. Alarms run on
 * their own here too, so steps are told apart by their progress, not by who ran them.
 */
function watchYields(account: string): Promise<StepSlices[]> {
  return runInDurableObject(ledgerStub(account), (instance: AccountLedger, state) => {
    const sql = (instance as unknown as { sql: CountedSql }).sql;
    const steps: StepSlices[] = [];
    scheduler.wait = (delay, options) => {
      const progress =
        state.storage.sql.exec<{ progress: string }>("SELECT progress FROM periods WHERE id = 1").toArray()[0]
          ?.progress ?? "";
      const read = sql.work().rowsRead;
      const step = steps.at(-1);
      if (step?.progress === progress) {
        step.yields += 1;
        step.mostRowsBetweenYields = Math.max(step.mostRowsBetweenYields, read - step.readAt);
        step.readAt = read;
      } else {
        steps.push({ progress, yields: 1, mostRowsBetweenYields: 0, readAt: read });
      }
      return realWait(delay, options);
    };
    return steps;
  });
}

describe("a close larger than one object", () => {
  it("is archived in slices that yield, into the objects and bytes of one pass", async () => {
    const account = await fundedAccount(1_000_000_000);
    const closedKeys = Array.from({ length: CLOSED_CHARGES }, () => crypto.randomUUID());
    await chargeAll(account, closedKeys);
    const watched = await watchYields(account);
    const closed = await call(`/v1/accounts/${account}/periods`, {
      method: "POST",
      body: {},
      idempotencyKey: uniqueKey("close"),
    });
    expect(closed.status).toBe(201);
    // Keys of the open period, spread through the closed period's keys in key order.
    await chargeAll(
      account,
      Array.from({ length: OPEN_CHARGES }, () => crypto.randomUUID()),
    );

    const stub = ledgerStub(account);
    // Each run after any the runtime has under way (runDurableObjectAlarm runs none while the runtime runs the alarm).
    for (let run = 0; run < 40 && (await period(account, 1)).state !== "archived"; run += 1) {
      await runInDurableObject(stub, (instance: AccountLedger) => instance.alarm());
    }
    const archived = await period(account, 1);
    expect(archived.state).toBe("archived");
    const steps = await runInDurableObject(stub, () =>
      watched.map((step) => ({ ...step, phase: (JSON.parse(step.progress) as { phase: string }).phase })),
    );

    // A full object's step yields at least once every ARCHIVE_ROWS_PER_SLICE rows (its hashing, more often),
    // a keys step once every window of the key index it walks.
    expect(steps.filter((step) => step.phase === "entries").length).toBe(2);
    expect(steps.find((step) => step.phase === "entries")?.yields).toBeGreaterThanOrEqual(
      ARCHIVE_ROWS_PER_OBJECT / ARCHIVE_ROWS_PER_SLICE - 1,
    );
    expect(steps.find((step) => step.phase === "keys")?.yields).toBeGreaterThanOrEqual(
      Math.floor(ARCHIVE_ROWS_PER_OBJECT / ARCHIVE_KEYS_WALKED_PER_SLICE) - 1,
    );
    // A slice reads a few rows per row or key it takes (index entries, the row, its entry), and a batch of the
    // open period's charges that runs between two yields counts too (2 rows a charge): never the period whole,
    // as one read of it did (over 20,000 rows).
    expect(Math.max(...steps.map((step) => step.mostRowsBetweenYields))).toBeLessThan(
      8 * Math.max(ARCHIVE_ROWS_PER_SLICE, ARCHIVE_KEYS_WALKED_PER_SLICE) + 2 * 1_000,
    );

    // The objects: cut at ARCHIVE_ROWS_PER_OBJECT rows, entries in seq order, keys in key order, only the period's.
    const lines = async (name: string) => {
      const object = await env.ARCHIVE.get(name);
      expect(object).not.toBeNull();
      const text = await (object as R2ObjectBody).text();
      expect(text.endsWith("\n")).toBe(true);
      return text.slice(0, -1).split("\n");
    };
    const entries = archived.objects.filter((o) => o.kind === "entries");
    const keys = archived.objects.filter((o) => o.kind === "keys");
    expect(entries.length).toBe(2);
    expect(keys.length).toBe(2);
    const entryLines = [...(await lines(entries[0]?.name ?? "")), ...(await lines(entries[1]?.name ?? ""))];
    expect((await lines(entries[0]?.name ?? "")).length).toBe(ARCHIVE_ROWS_PER_OBJECT);
    expect(entryLines.map((line) => (JSON.parse(line) as { seq: number }).seq)).toEqual(
      Array.from({ length: CLOSED_CHARGES + 1 }, (_, i) => i + 1),
    );
    const keyLines = [...(await lines(keys[0]?.name ?? "")), ...(await lines(keys[1]?.name ?? ""))];
    expect((await lines(keys[0]?.name ?? "")).length).toBe(ARCHIVE_ROWS_PER_OBJECT);
    const archivedKeys = keyLines.map((line) => (JSON.parse(line) as { key: string }).key);
    expect(archivedKeys.length).toBe(archived.key_count);
    expect(archivedKeys).toEqual([...archivedKeys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(new Set(archivedKeys).size).toBe(archivedKeys.length);
    const closedSet = new Set(closedKeys);
    expect(archivedKeys.filter((key) => closedSet.has(key)).length).toBe(CLOSED_CHARGES);

    // And `npm run verify`: every object's digest, and the period's chained digest over the entries' API text.
    const report = await verify(account);
    expect(report.mismatch).toBeNull();
    expect(report).toMatchObject({ periods: 1, archived: 1, openEntries: OPEN_CHARGES, objects: { read: 4 } });
  }, 300_000);
});

/** `npm run verify` on the account, its objects read from the test's bucket. */
function verify(account: string) {
  return verifyLedger({
    baseUrl: BASE_URL,
    apiKey: ACME_KEY,
    account,
    fetch: worker,
    readObject: async (name) => {
      const object = await env.ARCHIVE.get(name);
      return object === null ? null : new Uint8Array(await object.arrayBuffer());
    },
  });
}

describe("an alarm run cut off at a yield", () => {
  it(`holds later runs back ${ALARM_RUN_STALE_MS} ms at most, and records nothing if it resumes`, async () => {
    const account = await fundedAccount(1_000_000_000);
    // Sliced: a step of this period yields, so a run can be cut off inside it.
    await chargeAll(
      account,
      Array.from({ length: ARCHIVE_SLICED_FROM_ROWS + 500 }, () => crypto.randomUUID()),
    );
    const stub = ledgerStub(account);
    // The charges' alarm (their events) runs now, so that no run the runtime starts is under way below.
    await runDurableObjectAlarm(stub);

    // The archive job's first yield waits on a timer that fires only when the test says: workerd cancels a handler
    // waiting on a timer that way (a test running the alarm by hand while the runtime runs it too), and it never ends.
    // The object is told in its own context (a promise settled in one runs its reactions there).
    const { promise: gate, resolve: release } = Promise.withResolvers<undefined>();
    let parked = false;
    scheduler.wait = (delay, options) => {
      if (parked) return realWait(delay, options);
      parked = true;
      return gate;
    };
    // The period is closed as the periods' job closes one, with no alarm left for the runtime to run (the next
    // automatic close's), then one run starts and parks.
    const cutOff = runInDurableObject(stub, async (instance: AccountLedger, state) => {
      await state.storage.deleteAlarm();
      const sql = (instance as unknown as { sql: CountedSql }).sql;
      state.storage.transactionSync(() => closeOpenPeriod(sql, Date.now(), null));
      return instance.alarm();
    });
    while (!(await runInDurableObject(stub, () => parked))) await realWait(5);

    // Later runs wait for it no longer than ALARM_RUN_STALE_MS (before, the first of them waited for ever), and archive the period.
    for (let run = 0; run < 40 && (await period(account, 1)).state !== "archived"; run += 1) {
      await runInDurableObject(stub, (instance: AccountLedger) => instance.alarm());
    }
    const archived = await period(account, 1);
    expect(archived.state).toBe("archived");

    // The cut-off run resumes with what it read before its yield, out of date: it writes nothing, in R2 or the object.
    await runInDurableObject(stub, () => {
      release(undefined);
    });
    await cutOff;
    expect(await period(account, 1)).toEqual(archived);
    const listed = await env.ARCHIVE.list({ prefix: archived.objects[0]?.name.replace(/[^/]*$/, "") ?? "" });
    expect(listed.objects.map((object) => object.key).sort()).toEqual(archived.objects.map((o) => o.name).sort());
    const report = await verify(account);
    expect(report.mismatch).toBeNull();
    expect(report).toMatchObject({ periods: 1, archived: 1 });
  }, 120_000);
});
