import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { call, fundedAccount, ledgerStub, post } from "../support/api.ts";
import { chargeAll, closeInside, expireReplayWindows } from "../support/periods.ts";

/**
 * The locator's job (locator-job.ts) on real local R2 and real alarms: at
 * every step of building and merging runs, every archived key is found; a
 * failed R2 write or a read-back that differs records nothing and is done
 * again; a run built again writes the same bytes; a merge whose input
 * object is missing stops rather than drop its keys.
 */

type Stub = ReturnType<typeof ledgerStub>;
type Run = { id: number; state: string; keys: number; staged: number; next_object: number };
type Archive = {
  reads: number;
  refresh(): void;
  findKey(key: string, tally: { reads: number; rowsRead: number }): Promise<{ key: string } | null>;
};

function envOf(instance: AccountLedger): { ARCHIVE: R2Bucket } {
  return (instance as unknown as { env: { ARCHIVE: R2Bucket } }).env;
}

function archiveOf(instance: AccountLedger): Archive {
  return (instance as unknown as { archive: Archive }).archive;
}

/** The real bucket, whose next `failures.left` puts fail, or whose gets return one byte flipped. */
function faulty(real: R2Bucket, method: "put" | "get", failures: { left: number }): R2Bucket {
  return new Proxy(real, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      const bound = (value as (...a: unknown[]) => unknown).bind(target);
      if (property !== method) return bound;
      return async (...args: unknown[]) => {
        if (failures.left <= 0) return bound(...args);
        failures.left -= 1;
        if (method === "put") throw new Error("injected R2 put failure");
        const object = (await bound(...args)) as R2ObjectBody;
        const bytes = new Uint8Array(await object.arrayBuffer());
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
        return { ...object, arrayBuffer: () => Promise.resolve(bytes.buffer) };
      };
    },
  });
}

/** The real bucket, except that the objects named in `tampered` read as absent, or with one byte flipped. */
function tampering(real: R2Bucket, tampered: ReadonlyMap<string, "absent" | "damaged">): R2Bucket {
  return new Proxy(real, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      const bound = (value as (...a: unknown[]) => unknown).bind(target);
      if (property !== "get") return bound;
      return async (name: string, ...rest: unknown[]) => {
        const how = tampered.get(name);
        if (how === "absent") return null;
        const object = (await bound(name, ...rest)) as R2ObjectBody | null;
        if (how === undefined || object === null) return object;
        const bytes = new Uint8Array(await object.arrayBuffer());
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
        return { ...object, arrayBuffer: () => Promise.resolve(bytes.buffer) };
      };
    },
  });
}

/** Runs the alarm (expiring keys first, when asked) until the locator's runs satisfy `done`. */
async function alarmUntil(stub: Stub, done: (runs: Run[]) => boolean, expire = false): Promise<void> {
  for (let run = 0; run < 200; run += 1) {
    if (done(await runs(stub))) return;
    if (expire) await expireReplayWindows(stub);
    await runDurableObjectAlarm(stub);
  }
  throw new Error("the locator did not get there");
}

function runs(stub: Stub): Promise<Run[]> {
  return runInDurableObject(stub, (_, state) =>
    state.storage.sql.exec<Run>("SELECT id, state, keys, staged, next_object FROM locator_runs ORDER BY id").toArray(),
  );
}

function unpruned(stub: Stub): Promise<number> {
  return runInDurableObject(
    stub,
    (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM periods WHERE pruned < 2").one().n,
  );
}

/** How many of `keys` the object's archive lookup finds. */
function found(stub: Stub, keys: readonly string[]): Promise<number> {
  return runInDurableObject(stub, async (instance: AccountLedger) => {
    let n = 0;
    for (const key of keys)
      if ((await archiveOf(instance).findKey(key, { reads: 0, rowsRead: 0 }))?.key === key) n += 1;
    return n;
  });
}

/** Two periods of untimed keys, archived and pruned, whose runs are about to merge (2,001 and 501 keys). */
async function twoPeriods(): Promise<{ account: string; stub: Stub; keys: string[] }> {
  const account = await fundedAccount(1_000_000_000);
  const stub = ledgerStub(account);
  const first = Array.from({ length: 2_000 }, () => crypto.randomUUID());
  const second = Array.from({ length: 499 }, () => crypto.randomUUID());
  await chargeAll(account, first);
  await closeInside(stub);
  await chargeAll(account, second);
  await closeInside(stub);
  for (let run = 0; run < 100 && (await unpruned(stub)) > 0; run += 1) {
    await expireReplayWindows(stub);
    await runDurableObjectAlarm(stub);
  }
  expect(await unpruned(stub)).toBe(0);
  return { account, stub, keys: [...first, ...second] };
}

describe("the locator's job", () => {
  it("finds every archived key after every step of building and merging its runs", async () => {
    const { stub, keys } = await twoPeriods();
    const sample = keys.filter((_, i) => i % 25 === 0);
    let steps = 0;
    let merged = false;
    for (; steps < 200; steps += 1) {
      expect(await found(stub, sample)).toBe(sample.length);
      const now = await runs(stub);
      if (now.length === 1 && now[0]?.state === "live" && now[0].staged === 0) {
        merged = true;
        break;
      }
      await runDurableObjectAlarm(stub);
    }
    expect(merged).toBe(true);
    // The funding credit, the charges, and the first close (decided in the second period).
    expect((await runs(stub))[0]?.keys).toBe(1 + keys.length + 1);
    // The retired runs' objects are gone from R2.
    const listed = await env.ARCHIVE.list({ prefix: `acme/` });
    const runIds = new Set(
      listed.objects.map((o) => /\/locator\/(\d+)\//.exec(o.key)?.[1]).filter((id) => id !== undefined),
    );
    expect(runIds.size).toBeGreaterThan(0);
    for (const id of runIds) expect(Number(id)).toBe((await runs(stub))[0]?.id);
  });

  it("records nothing when a locator object's write fails or reads back different, and writes it again", async () => {
    for (const method of ["put", "get"] as const) {
      const { stub, keys } = await twoPeriods();
      const failures = { left: 2 };
      await runInDurableObject(stub, (instance: AccountLedger) => {
        envOf(instance).ARCHIVE = faulty(env.ARCHIVE, method, failures);
      });
      const before = await runs(stub);
      for (let run = 0; run < 10 && failures.left > 0; run += 1) {
        // The alarm's step fails and is retried later; run it now.
        await runDurableObjectAlarm(stub);
      }
      expect(failures.left).toBe(0);
      const building = (await runs(stub)).filter((r) => r.state === "building");
      for (const run of building) {
        expect(run.next_object).toBe(before.find((b) => b.id === run.id)?.next_object ?? 0);
      }
      for (let run = 0; run < 200; run += 1) {
        const now = await runs(stub);
        if (now.length === 1 && now[0]?.state === "live" && now[0].staged === 0) break;
        await runDurableObjectAlarm(stub);
      }
      expect(await runs(stub)).toMatchObject([{ state: "live", staged: 0 }]);
      expect(await found(stub, keys.slice(0, 40))).toBe(40);
    }
  });

  it("writes the same bytes and buckets when a run is built again from the start", async () => {
    const account = await fundedAccount(1_000_000_000);
    const stub = ledgerStub(account);
    const keys = Array.from({ length: 9_000 }, () => crypto.randomUUID());
    await chargeAll(account, keys);
    await closeInside(stub);
    const untilLive = async () => {
      for (let run = 0; run < 100; run += 1) {
        await runDurableObjectAlarm(stub);
        const [only] = await runs(stub);
        // Stopped while its staged hashes are still there, so it can be built again.
        if (only?.state === "live" && only.staged === 1) return only;
      }
      throw new Error("the run did not go live");
    };
    const snapshot = async () => {
      const listed = await env.ARCHIVE.list({ prefix: `acme/${account}/locator/` });
      const objects: Record<string, string> = {};
      for (const object of listed.objects) {
        const bytes = new Uint8Array(await ((await env.ARCHIVE.get(object.key)) as R2ObjectBody).arrayBuffer());
        objects[object.key] = [...bytes].join(",");
      }
      const buckets = await runInDurableObject(stub, (_, state) =>
        state.storage.sql
          .exec<{ id: number; data: ArrayBuffer }>("SELECT id, data FROM locator_buckets ORDER BY id")
          .toArray()
          .map((row) => `${row.id}:${[...new Uint8Array(row.data)].join(",")}`),
      );
      return { objects, buckets };
    };
    const built = await untilLive();
    const first = await snapshot();
    expect(Object.keys(first.objects).length).toBeGreaterThan(1);
    // As if the object had lost every record of the build after writing its objects.
    await runInDurableObject(stub, (instance: AccountLedger, state) => {
      state.storage.sql.exec("DELETE FROM locator_buckets");
      state.storage.sql.exec(
        "UPDATE locator_runs SET state = 'building', next_object = 0, written = 0 WHERE id = ?",
        built.id,
      );
      archiveOf(instance).refresh();
    });
    await untilLive();
    expect(await snapshot()).toEqual(first);
  });

  for (const how of ["absent", "damaged"] as const) {
    it(`stops a merge whose input object reads ${how}, and loses no key`, async () => {
      const account = await fundedAccount(1_000_000_000);
      const stub = ledgerStub(account);
      // The alarm also runs on its own here, so the object is tampered with through its bucket, not raced.
      const tampered = new Map<string, "absent" | "damaged">();
      await runInDurableObject(stub, (instance: AccountLedger) => {
        envOf(instance).ARCHIVE = tampering(env.ARCHIVE, tampered);
      });
      const first = Array.from({ length: 2_000 }, () => crypto.randomUUID());
      await chargeAll(account, first);
      await closeInside(stub);
      await alarmUntil(stub, (now) => now.some((r) => r.id === 1 && r.state === "live"));
      const victim = `acme/${account}/locator/0000000001/000000.bin`;
      tampered.set(victim, how);
      const second = Array.from({ length: 499 }, () => crypto.randomUUID());
      await chargeAll(account, second);
      await closeInside(stub);
      await alarmUntil(stub, (now) => now.some((r) => r.id === 3), true);
      for (let run = 0; run < 5; run += 1) await runDurableObjectAlarm(stub);
      // The merge cannot go on: its inputs are still the live runs, and it has built nothing.
      expect(await runs(stub)).toMatchObject([
        { id: 1, state: "live" },
        { id: 2, state: "live" },
        { id: 3, state: "building", next_object: 0 },
      ]);
      tampered.delete(victim);
      await alarmUntil(stub, (now) => now.length === 1 && now[0]?.state === "live" && now[0].staged === 0);
      const keys = [...first, ...second];
      expect(await runs(stub)).toMatchObject([{ id: 3, keys: 1 + keys.length + 1 }]);
      expect(await found(stub, keys)).toBe(keys.length);
    });
  }
});

describe("archive_reads", () => {
  afterEach(() => vi.restoreAllMocks());

  it("counts the R2 reads of each request itself, while others read meanwhile, and of each operation of a batch", async () => {
    const account = await fundedAccount(1_000_000_000);
    const stub = ledgerStub(account);
    const archived = Array.from({ length: 200 }, () => crypto.randomUUID());
    await chargeAll(account, archived);
    await closeInside(stub);
    await alarmUntil(stub, (now) => now.length === 1 && now[0]?.state === "live" && now[0].staged === 0, true);
    expect(await unpruned(stub)).toBe(0);
    const before = await runInDurableObject(stub, (instance: AccountLedger) => archiveOf(instance).reads);

    const lines: unknown[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => lines.push(line));
    const retries = archived.slice(0, 6);
    const fresh = Array.from({ length: 6 }, () => crypto.randomUUID());
    const statuses = await Promise.all(
      [...retries, ...fresh].map(
        async (key) => (await post(account, "charges", { amount: 1, currency: "USD" }, key)).status,
      ),
    );
    const batch = await call(`/v1/accounts/${account}/batches`, {
      method: "POST",
      body: {
        operations: [archived[10], crypto.randomUUID(), archived[11]].map((key) => ({
          type: "charge",
          idempotency_key: key,
          amount: 1,
          currency: "USD",
        })),
      },
    });
    vi.restoreAllMocks();
    expect(statuses).toEqual([...retries.map(() => 409), ...fresh.map(() => 201)]);
    expect(batch.status).toBe(200);

    const requests = lines
      .filter((line): line is string => typeof line === "string" && line.includes('"msg":"request"'))
      .map(
        (line) =>
          JSON.parse(line) as {
            route: string;
            idempotency_key_hash: string | null;
            status: number;
            archive_reads: number;
          },
      );
    const charges = requests.filter((line) => line.route.endsWith("/charges"));
    expect(charges).toHaveLength(12);
    // A new key reads nothing, whatever its neighbours read; a retry reads its locator object, and its keys
    // object unless another read left it in the object's cache.
    for (const line of charges.filter((l) => l.status === 201)) expect(line.archive_reads).toBe(0);
    for (const line of charges.filter((l) => l.status === 409)) expect(line.archive_reads).toBeGreaterThanOrEqual(1);
    const batchLine = requests.find((line) => line.route.endsWith("/batches"));
    expect(batchLine?.archive_reads).toBeGreaterThanOrEqual(2);
    const after = await runInDurableObject(stub, (instance: AccountLedger) => archiveOf(instance).reads);
    // Every read is counted once, by the request that made it.
    expect(charges.reduce((sum, line) => sum + line.archive_reads, 0) + (batchLine?.archive_reads ?? 0)).toBe(
      after - before,
    );
  });
});
