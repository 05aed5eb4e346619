import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "../../src/ledger/schema.ts";
import FIXTURE from "../fixtures/account-schema-1.sql?raw";
import { call, expectProblem, fundedAccount, json, ledgerStub, post, uniqueKey } from "../support/api.ts";
import { TEST_API_KEYS } from "../support/keys.ts";

/**
 * The rollback direction: storage the previous release really wrote
 * (test/fixtures/account-schema-1.sql, by d784fa3), upgraded by this code,
 * then written to by d784fa3's own statements, as a rollback past the
 * floor would run them. That code ignores decisions: it would apply a
 * declined key whose record has expired, and change a setting without a
 * version. The storage refuses both; the code can still read. The
 * statements below are copied from d784fa3 (src/ledger/ledger-store.ts
 * appendEntry and updateOverdraftLimit, src/ledger/idempotency-records.ts
 * saveRecord) and must stay as that release wrote them.
 *
 * From schema 7 (the lean ledger) keys and entries are stored in tables
 * older code never reads (`keys`, `ledger`), so the schema's oldest reader
 * is 7: every release that reads readable_from refuses it (object-schema.test.ts),
 * and d784fa3, which predates it, is stopped only by the floor.
 */

const D784FA3_ENTRY_COLUMNS =
  "seq, id, type, amount, balance_after, created_ms, idempotency_key, charge_id, description, metadata";
const D784FA3_INSERT_ENTRY = `INSERT INTO entries (${D784FA3_ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const D784FA3_SAVE_RECORD =
  "INSERT OR REPLACE INTO idempotency_records (key, request_id, fingerprint, status, body, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)";
const D784FA3_UPDATE_OVERDRAFT = "UPDATE account SET overdraft_limit = ?";

const ACCOUNT = /^-- @request PUT \/v1\/accounts\/([\w-]+) /m.exec(FIXTURE)?.[1] ?? "";
/** The fixture's declined charge: its key and body (`@request ... KEY BODY -> 402 ...`). */
const DECLINED = (() => {
  const m = /^-- @request POST (\S+) (\S+) (\{.*\}) -> 402/m.exec(FIXTURE);
  return { path: m?.[1] ?? "", key: m?.[2] ?? "", body: JSON.parse(m?.[3] ?? "{}") as { amount: number } };
})();

type Tenant = keyof typeof TEST_API_KEYS;

/** Loads the fixture into `<tenant>:<ACCOUNT>`, and lets this code upgrade it through its API. */
async function upgradedFixture(tenant: Tenant): Promise<void> {
  const stub = ledgerStub(ACCOUNT, tenant);
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec(FIXTURE);
  });
  await evictDurableObject(stub);
  const response = await call(`/v1/accounts/${ACCOUNT}`, { key: TEST_API_KEYS[tenant][0] });
  expect(response.status).toBe(200);
}

interface Row {
  [column: string]: SqlStorageValue;
}

function snapshot(sql: SqlStorage) {
  return {
    entries: sql.exec<Row>("SELECT * FROM entries ORDER BY seq").toArray(),
    records: sql.exec<Row>("SELECT * FROM idempotency_records ORDER BY key").toArray(),
    decisions: sql.exec<Row>("SELECT * FROM decisions ORDER BY key").toArray(),
    keys: sql.exec<Row>("SELECT pos, key, status, code, entry_seq, expires_ms FROM keys ORDER BY pos").toArray(),
    ledger: sql.exec<Row>("SELECT seq, tag, type, amount, balance_after, key_pos FROM ledger ORDER BY seq").toArray(),
    account: sql.exec<Row>("SELECT * FROM account").one(),
  };
}

describe(`rolling back past the floor onto storage upgraded to schema ${SCHEMA_VERSION}`, () => {
  it("d784fa3's code cannot apply a declined key whose record expired, nor write any record", async () => {
    const tenant: Tenant = "acme";
    await upgradedFixture(tenant);
    expect(DECLINED.key).not.toBe("");

    const outcome = await runInDurableObject(ledgerStub(ACCOUNT, tenant), (_instance, state) => {
      const sql = state.storage.sql;
      // The stored responses have expired and been swept; the decisions remain.
      sql.exec("DELETE FROM idempotency_records");
      const before = snapshot(sql);
      const decision = sql.exec<Row>("SELECT status, code FROM decisions WHERE key = ?", DECLINED.key).one();
      const head = sql.exec<Row>("SELECT seq, balance_after FROM entries ORDER BY seq DESC LIMIT 1").one();
      const nowMs = Date.now();
      let refusal: unknown = null;
      try {
        // d784fa3's moveMoney for the declined key: no live record, no entry with the key, money
        // there now, so it appends the charge and saves its record, in one transaction.
        state.storage.transactionSync(() => {
          sql.exec(
            D784FA3_INSERT_ENTRY,
            Number(head.seq) + 1,
            `ch_${crypto.randomUUID().replaceAll("-", "")}`,
            "charge",
            -DECLINED.body.amount,
            Number(head.balance_after) - DECLINED.body.amount,
            nowMs,
            DECLINED.key,
            null,
            null,
            "{}",
          );
          sql.exec(D784FA3_SAVE_RECORD, DECLINED.key, crypto.randomUUID(), "fp", 201, "{}", nowMs, nowMs + 1000);
        });
      } catch (error) {
        refusal = error;
      }
      const available = Number(head.balance_after) + Number(before.account.overdraft_limit);
      return { refusal: String(refusal), decision, before, after: snapshot(sql), available };
    });

    expect(outcome.decision).toEqual({ status: 402, code: "insufficient_funds" });
    // The money was there: only the refusal kept the decline from flipping.
    expect(outcome.available).toBeGreaterThanOrEqual(DECLINED.body.amount);
    expect(outcome.refusal).toMatch(/rollback.floor/);
    expect(outcome.after).toEqual(outcome.before);

    // Rolled forward again, the key is still declined for ever.
    const retried = await call(DECLINED.path, {
      method: "POST",
      key: TEST_API_KEYS[tenant][0],
      idempotencyKey: DECLINED.key,
      body: DECLINED.body,
    });
    const problem = await expectProblem(retried, 409, "idempotency_key_expired");
    expect(problem).toMatchObject({ original_status: 402, original_code: "insufficient_funds", entry: null });
  });

  it("d784fa3's code cannot change a setting without a version, and can still read the account", async () => {
    const tenant: Tenant = "globex";
    await upgradedFixture(tenant);
    const outcome = await runInDurableObject(ledgerStub(ACCOUNT, tenant), (_instance, state) => {
      const sql = state.storage.sql;
      const before = snapshot(sql);
      let refusal: unknown = null;
      try {
        state.storage.transactionSync(() =>
          sql.exec(D784FA3_UPDATE_OVERDRAFT, Number(before.account.overdraft_limit) + 1),
        );
      } catch (error) {
        refusal = error;
      }
      // What d784fa3's reads select still reads.
      const read = sql.exec<Row>("SELECT name, currency, overdraft_limit, created_ms FROM account").one();
      const entries = sql.exec<Row>(`SELECT ${D784FA3_ENTRY_COLUMNS} FROM entries ORDER BY seq`).toArray();
      return { refusal: String(refusal), before, after: snapshot(sql), read, entries: entries.length };
    });
    expect(outcome.refusal).toMatch(/rollback.floor/);
    expect(outcome.after).toEqual(outcome.before);
    expect(outcome.read.name).toBe(ACCOUNT);
    expect(outcome.entries).toBe(outcome.before.entries.length);
  });

  it("d784fa3's code does not see a key decided in the lean tables, and cannot decide it afresh", async () => {
    // An account of this code's: its keys and entries are only in `keys` and `ledger`.
    const account = await fundedAccount(100);
    const key = uniqueKey();
    expect((await post(account, "credits", { amount: 250, currency: "USD" }, key)).status).toBe(201);

    const outcome = await runInDurableObject(ledgerStub(account), (_instance, state) => {
      const sql = state.storage.sql;
      const before = snapshot(sql);
      const schema = sql.exec<Row>("SELECT version, readable_from FROM schema_version").one();
      // What d784fa3's moveMoney reads: no record and no entry carry the key, and the ledger looks empty.
      const seen = {
        record: sql.exec("SELECT key FROM idempotency_records WHERE key = ?", key).toArray().length,
        entry: sql.exec("SELECT id FROM entries WHERE idempotency_key = ?", key).toArray().length,
        head: sql.exec("SELECT seq FROM entries ORDER BY seq DESC LIMIT 1").toArray().length,
      };
      const nowMs = Date.now();
      let refusal: unknown = null;
      try {
        // So it would apply the credit again, as the first entry, and save its record.
        state.storage.transactionSync(() => {
          sql.exec(
            D784FA3_INSERT_ENTRY,
            1,
            `cr_${crypto.randomUUID().replaceAll("-", "")}`,
            "credit",
            250,
            250,
            nowMs,
            key,
            null,
            null,
            "{}",
          );
          sql.exec(D784FA3_SAVE_RECORD, key, crypto.randomUUID(), "fp", 201, "{}", nowMs, nowMs + 1000);
        });
      } catch (error) {
        refusal = error;
      }
      return { schema, seen, refusal: String(refusal), before, after: snapshot(sql) };
    });

    // No release that reads readable_from and predates the lean tables starts on this schema...
    expect(outcome.schema).toEqual({ version: SCHEMA_VERSION, readable_from: 8 });
    // ...and d784fa3, which reads no readable_from, would take the key for unused: only the floor stops it.
    expect(outcome.seen).toEqual({ record: 0, entry: 0, head: 0 });
    expect(outcome.refusal).toMatch(/rollback.floor/);
    expect(outcome.after).toEqual(outcome.before);
    expect(outcome.before.keys.map((row) => row.key)).toContain(key);

    // Rolled forward again, the key replays its one credit.
    const replay = await post(account, "credits", { amount: 250, currency: "USD" }, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect((await json<{ balance_after: number }>(replay)).balance_after).toBe(350);
  });

  it("this code's own writes pass the floor: a new charge and a settings change", async () => {
    const tenant: Tenant = "edge";
    await upgradedFixture(tenant);
    const key = TEST_API_KEYS[tenant][0];
    const charged = await call(`/v1/accounts/${ACCOUNT}/charges`, {
      method: "POST",
      key,
      idempotencyKey: uniqueKey(),
      body: { amount: 1, currency: "USD" },
    });
    expect(charged.status).toBe(201);
    const account = await json<{ overdraft_limit: number; version: number }>(
      await call(`/v1/accounts/${ACCOUNT}`, { key }),
    );
    const changed = await call(`/v1/accounts/${ACCOUNT}`, {
      method: "PUT",
      key,
      headers: { "if-match": `"${account.version}"` },
      body: { currency: "USD", overdraft_limit: account.overdraft_limit + 1 },
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).toBe(`"${account.version + 1}"`);
  });
});
