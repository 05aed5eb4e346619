import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import { call, fundedAccount, json, ledgerStub, post, uniqueKey } from "../support/api.ts";
import { closeInside } from "../support/periods.ts";

/**
 * Faults between every step of a close, on real local R2 and real alarms:
 * the R2 write fails, the read-back does not match, an object is damaged
 * before the seal, the object restarts before the delete, the delete is
 * half done. Each ends with every entry in the object, in R2 or both, every
 * key answered as first decided, and the period sealed with the digest an
 * undisturbed archive gives.
 */

type Stub = ReturnType<typeof ledgerStub>;

/** The object's own env, which its archive job reads the bucket from on every step. */
function envOf(instance: AccountLedger): { ARCHIVE: R2Bucket } {
  return (instance as unknown as { env: { ARCHIVE: R2Bucket } }).env;
}

/** Wraps the real bucket so that its next `failures` calls of `method` fail (or return damaged bytes). */
function faulty(real: R2Bucket, method: "put" | "get", failures: { left: number }): R2Bucket {
  return new Proxy(real, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property !== method || typeof value !== "function") {
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      }
      return async (...args: unknown[]) => {
        if (failures.left <= 0) return (value as (...a: unknown[]) => unknown).apply(target, args);
        failures.left -= 1;
        if (method === "put") throw new Error("injected R2 put failure");
        const object = (await (value as (...a: unknown[]) => Promise<R2ObjectBody | null>).apply(
          target,
          args,
        )) as R2ObjectBody;
        const bytes = new Uint8Array(await object.arrayBuffer());
        bytes[0] = (bytes[0] ?? 0) ^ 1;
        return {
          ...object,
          arrayBuffer: () => Promise.resolve(bytes.buffer),
          text: () => Promise.resolve(new TextDecoder().decode(bytes)),
        };
      };
    },
  });
}

async function withCharges(count: number): Promise<{ account: string; keys: string[] }> {
  const account = await fundedAccount(1_000_000);
  const keys: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const key = uniqueKey("charge");
    expect((await post(account, "charges", { amount: 10 + i, currency: "USD" }, key)).status).toBe(201);
    keys.push(key);
  }
  return { account, keys };
}

type PeriodState = { state: string; sha256: string | null; pruned: number; progress: string; objects: number };

function periodState(stub: Stub): Promise<PeriodState> {
  return runInDurableObject(stub, (_, state) =>
    state.storage.sql
      .exec<PeriodState>(
        "SELECT state, sha256, pruned, progress, (SELECT COUNT(*) FROM period_objects WHERE period_id = 1) AS objects FROM periods WHERE id = 1",
      )
      .one(),
  );
}

async function alarmUntil(stub: Stub, done: (p: PeriodState) => boolean, runs = 50): Promise<PeriodState> {
  for (let run = 0; run < runs; run += 1) {
    await runDurableObjectAlarm(stub);
    const p = await periodState(stub);
    if (done(p)) return p;
  }
  throw new Error("the alarm did not get there");
}

function expireKeys(stub: Stub): Promise<void> {
  return runInDurableObject(stub, (_, state) => {
    const past = Date.now() - 1;
    state.storage.sql.exec("UPDATE keys SET expires_ms = ? WHERE expires_ms > ?", past, past);
    state.storage.sql.exec("UPDATE periods SET hot_until_ms = ? WHERE hot_until_ms > ?", past, past);
  });
}

/** Every key answers as decided: a 409 naming its 201 once expired, whether its rows are here or in R2. */
async function expectKeysFinal(account: string, keys: readonly string[]): Promise<void> {
  for (const [i, key] of keys.entries()) {
    const problem = await json(await post(account, "charges", { amount: 10 + i, currency: "USD" }, key));
    expect(problem).toMatchObject({ code: "idempotency_key_expired", original_status: 201 });
  }
  const page = await json<{ data: { seq: number; amount: number }[] }>(
    await call(`/v1/accounts/${account}/entries?limit=100`),
  );
  expect(page.data.map((e) => e.seq)).toEqual(Array.from({ length: keys.length + 1 }, (_, i) => i + 1));
  expect((await json(await call(`/v1/accounts/${account}`))).balance).toBe(
    1_000_000 - keys.reduce((sum, _, i) => sum + 10 + i, 0),
  );
}

describe("a close, faults between its steps", () => {
  it("survives a failed R2 write: nothing recorded, the next alarm writes it", async () => {
    const { account, keys } = await withCharges(5);
    const stub = ledgerStub(account);
    await closeInside(stub);
    const failures = { left: 1 };
    await runInDurableObject(stub, (instance: AccountLedger) => {
      envOf(instance).ARCHIVE = faulty(env.ARCHIVE, "put", failures);
    });
    await runDurableObjectAlarm(stub);
    expect(failures.left).toBe(0);
    expect(await periodState(stub)).toMatchObject({ state: "closing", objects: 0 });
    const sealed = await alarmUntil(stub, (p) => p.state === "archived");
    expect(sealed.sha256).toMatch(/^[0-9a-f]{64}$/);
    await expireKeys(stub);
    await alarmUntil(stub, (p) => p.pruned === 2);
    await expectKeysFinal(account, keys);
  });

  it("does not record an object whose read-back differs, and writes it again", async () => {
    const { account, keys } = await withCharges(5);
    const stub = ledgerStub(account);
    await closeInside(stub);
    const failures = { left: 1 };
    await runInDurableObject(stub, (instance: AccountLedger) => {
      envOf(instance).ARCHIVE = faulty(env.ARCHIVE, "get", failures);
    });
    await runDurableObjectAlarm(stub);
    expect(failures.left).toBe(0);
    expect(await periodState(stub)).toMatchObject({ state: "closing", objects: 0 });
    await alarmUntil(stub, (p) => p.state === "archived");
    await expireKeys(stub);
    await alarmUntil(stub, (p) => p.pruned === 2);
    await expectKeysFinal(account, keys);
  });

  it("rewrites an object damaged before the seal, and seals with the digest of the true bytes", async () => {
    const { account, keys } = await withCharges(5);
    const stub = ledgerStub(account);
    await closeInside(stub);
    await alarmUntil(stub, (p) => (JSON.parse(p.progress) as { phase: string }).phase === "seal");
    const name = `acme/${account}/periods/0000000001/entries-000000.jsonl`;
    const good = await (await env.ARCHIVE.get(name))?.text();
    await env.ARCHIVE.put(name, `${good ?? ""}tampered`);
    const sealed = await alarmUntil(stub, (p) => p.state === "archived");
    expect(await (await env.ARCHIVE.get(name))?.text()).toBe(good);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`\n${good ?? ""}`));
    expect(sealed.sha256).toBe([...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    await expireKeys(stub);
    await alarmUntil(stub, (p) => p.pruned === 2);
    await expectKeysFinal(account, keys);
  });

  it("writes the same bytes when an archive is run again from the start", async () => {
    const { account } = await withCharges(5);
    const stub = ledgerStub(account);
    await closeInside(stub);
    const first = await alarmUntil(stub, (p) => p.state === "archived");
    const before = await (await env.ARCHIVE.get(`acme/${account}/periods/0000000001/keys-000000.jsonl`))?.text();
    // As if the records of both objects were lost in a crash after their writes.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("DELETE FROM period_objects WHERE period_id = 1");
      state.storage.sql.exec(
        `UPDATE periods SET state = 'closing', sha256 = NULL, progress = '{"phase":"entries","afterSeq":0}' WHERE id = 1`,
      );
    });
    const again = await alarmUntil(stub, (p) => p.state === "archived");
    expect(again.sha256).toBe(first.sha256);
    expect(await (await env.ARCHIVE.get(`acme/${account}/periods/0000000001/keys-000000.jsonl`))?.text()).toBe(before);
  });

  it("restarts before the delete: the new instance deletes, and answers from R2 after", async () => {
    const { account, keys } = await withCharges(5);
    const stub = ledgerStub(account);
    await closeInside(stub);
    await alarmUntil(stub, (p) => p.state === "archived");
    await expireKeys(stub);
    // The object is thrown away with whatever it held in memory; storage is all the next one has.
    await evictDurableObject(stub);
    await alarmUntil(stub, (p) => p.pruned === 2);
    await expectKeysFinal(account, keys);
  });

  it.each([
    ["some of its keys gone, all its entries here", ["DELETE FROM keys WHERE pos % 2 = 1 AND pos <= 7"]],
    [
      "all of its keys gone, some of its entries",
      ["DELETE FROM keys WHERE pos <= 7", "DELETE FROM ledger WHERE seq % 2 = 0"],
    ],
  ])("answers every key while the delete is half done (%s): each row is here or in R2", async (_, deletes) => {
    const { account, keys } = await withCharges(6);
    const stub = ledgerStub(account);
    await closeInside(stub);
    await alarmUntil(stub, (p) => p.state === "archived");
    await expireKeys(stub);
    // Delete steps that committed, then a restart: the period marked as leaving, some rows gone.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE periods SET pruned = 1 WHERE id = 1");
      for (const statement of deletes) state.storage.sql.exec(statement);
    });
    await evictDurableObject(stub);
    await expectKeysFinal(account, keys);
    await alarmUntil(stub, (p) => p.pruned === 2);
    await expectKeysFinal(account, keys);
  });
});
