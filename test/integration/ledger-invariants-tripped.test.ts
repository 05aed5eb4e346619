import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { saveDecision } from "../../src/ledger/decisions.ts";
import { readEventCursor, saveEventCursor } from "../../src/ledger/events.ts";
import { saveRecord } from "../../src/ledger/idempotency-records.ts";
import { insertKeyRow, type KeyRow } from "../../src/ledger/key-rows.ts";
import { appendEntry } from "../../src/ledger/ledger-store.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import {
  call,
  expectProblem,
  fundedAccount,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { expireRecord, inLedger } from "../support/storage.ts";

/**
 * Every invariant the ledger core asserts (docs/storage.md, "Invariants"),
 * tripped through a store corrupted behind the object's back: the request
 * that meets it answers 500 internal_error and nothing is written.
 * Assertions over values that only ever come from memory are tripped by
 * calling the store function inside the object with such a value. Rows of
 * the tables older code wrote (entries, decisions, idempotency_records) are
 * still read, so their checks are tripped on accounts seeded with such rows.
 */

const usd = (amount: number) => ({ amount, currency: "USD" });

/**
 * Runs the account's pending alarm now (publishing the events its writes
 * made), so that it cannot run on its own while a test compares the store
 * before and after a request. A run that fails on a store already corrupted
 * is no concern here.
 */
async function settle(account: string): Promise<void> {
  await runDurableObjectAlarm(ledgerStub(account)).catch(() => undefined);
}

/** Runs SQL inside the account's object, as a corrupted disk or a stray hand would (its pending alarm run first). */
async function corrupt(account: string, query: string, ...bindings: SqlStorageValue[]): Promise<void> {
  await settle(account);
  await inLedger(account, (storage) => {
    storage.sql.exec(query, ...bindings);
  });
}

/** Drops the object's memory, so the head and the account are read back from storage. */
function evict(account: string): Promise<void> {
  return evictDurableObject(ledgerStub(account));
}

/** Everything a write could change. */
function traces(account: string) {
  return inLedger(account, (storage) => {
    const all = (query: string) => storage.sql.exec(query).toArray();
    return {
      ledger: all("SELECT seq, tag, type, amount, balance_after, key_pos, charge_id FROM ledger ORDER BY seq"),
      keys: all("SELECT pos, key, status, code, entry_seq, decided_ms, expires_ms, view, body FROM keys ORDER BY pos"),
      refundTotals: all("SELECT charge_id, refunded FROM refund_totals ORDER BY charge_id"),
      entries: all("SELECT seq, id, type, amount, balance_after, charge_id FROM entries ORDER BY seq"),
      decisions: all("SELECT key, status, code, entry_id FROM decisions ORDER BY key"),
      records: all("SELECT key, status, created_ms, expires_ms FROM idempotency_records ORDER BY key"),
      account: all("SELECT overdraft_limit, version FROM account"),
      changes: all("SELECT version, field FROM account_changes ORDER BY version, field"),
      cursor: all("SELECT published_through, entry_seq, change_version, change_field FROM event_cursor"),
    };
  });
}

/** Sends `request`, expects a 500 internal_error that names no invariant, and that nothing changed. */
async function expectRefused(account: string, request: () => Promise<Response>): Promise<void> {
  const before = await traces(account);
  const response = await request();
  const text = await response.clone().text();
  await expectProblem(response, 500, "internal_error");
  expect(text).not.toContain("invariant");
  expect(await traces(account)).toEqual(before);
}

/** Runs `fn` with the object's counted SQL, and expects it to throw an invariant and write nothing. */
async function expectThrowsInside(account: string, fn: (sql: CountedSql) => unknown, message: RegExp) {
  await settle(account);
  const before = await traces(account);
  await inLedger(account, (storage) => {
    expect(() => storage.transactionSync(() => fn(new CountedSql(storage.sql)))).toThrow(message);
  });
  expect(await traces(account)).toEqual(before);
}

async function chargeOf(account: string, amount: number): Promise<string> {
  const response = await post(account, "charges", usd(amount));
  expect(response.status).toBe(201);
  return (await json<{ id: string }>(response)).id;
}

function lookupOf(account: string, key: string): Promise<Response> {
  return call(`/v1/accounts/${account}/idempotency-keys/${key}`);
}

const LEGACY_CREDIT = "legacy-credit";
const LEGACY_DECLINE = "legacy-decline";
const LEGACY_CREDIT_ID = `cr_${"a".repeat(32)}`;

/**
 * An account as an older release left it: a credit of 1000 (its entry,
 * decision and record) and a declined charge (its decision and record), in
 * the legacy tables, each record expiring at `expiresMs`. Opened without a
 * key and restarted once seeded, so the object reads them as it would after
 * an upgrade.
 */
async function legacyAccount(expiresMs: number): Promise<string> {
  const account = uniqueAccount("legacy");
  await openAccount(account);
  await inLedger(account, (storage) => {
    const sql = storage.sql;
    const decidedMs = Date.now() - 60_000;
    sql.exec(
      `INSERT INTO entries (seq, id, type, amount, balance_after, created_ms, idempotency_key, charge_id, description, metadata)
       VALUES (1, ?, 'credit', 1000, 1000, ?, ?, NULL, NULL, '{}')`,
      LEGACY_CREDIT_ID,
      decidedMs,
      LEGACY_CREDIT,
    );
    for (const [key, status, code, entryId, body] of [
      [LEGACY_CREDIT, 201, null, LEGACY_CREDIT_ID, JSON.stringify({ id: LEGACY_CREDIT_ID })],
      [LEGACY_DECLINE, 402, "insufficient_funds", null, JSON.stringify({ code: "insufficient_funds" })],
    ] as const) {
      sql.exec(
        "INSERT INTO decisions (key, fingerprint, status, code, entry_id, decided_ms) VALUES (?, 'f', ?, ?, ?, ?)",
        key,
        status,
        code,
        entryId,
        decidedMs,
      );
      sql.exec(
        `INSERT INTO idempotency_records (key, request_id, fingerprint, status, body, created_ms, expires_ms, origin_request_id)
         VALUES (?, 'legacy', 'f', ?, ?, ?, ?, 'legacy')`,
        key,
        status,
        body,
        decidedMs,
        expiresMs,
      );
    }
  });
  await evict(account);
  return account;
}

describe("the ledger head read back from storage (ledger-store.ts readHead)", () => {
  it("refuses a last entry whose balance is not the previous balance plus its amount", async () => {
    const account = await fundedAccount(1000);
    await chargeOf(account, 300);
    await corrupt(
      account,
      "UPDATE ledger SET balance_after = balance_after + 1 WHERE seq = (SELECT MAX(seq) FROM ledger)",
    );
    await evict(account);
    await expectRefused(account, () => post(account, "charges", usd(100)));
    await expectRefused(account, () => call(`/v1/accounts/${account}`));
  });

  it("refuses a lone first entry whose balance is not its amount", async () => {
    const account = await fundedAccount(1000);
    await corrupt(account, "UPDATE ledger SET balance_after = 999");
    await evict(account);
    await expectRefused(account, () => post(account, "credits", usd(1)));
  });

  it("refuses a last entry whose seq does not follow the one before it", async () => {
    const account = await fundedAccount(1000);
    await chargeOf(account, 300);
    await corrupt(account, "UPDATE ledger SET seq = seq + 1 WHERE seq = (SELECT MAX(seq) FROM ledger)");
    await evict(account);
    await expectRefused(account, () => post(account, "charges", usd(100)));
  });

  it("refuses a lone entry whose seq is not 1", async () => {
    const account = await fundedAccount(1000);
    await corrupt(account, "UPDATE ledger SET seq = 2");
    await evict(account);
    await expectRefused(account, () => post(account, "charges", usd(100)));
  });

  it("refuses a last balance outside the ledger's bounds", async () => {
    const account = await fundedAccount(1000);
    await corrupt(account, "UPDATE ledger SET amount = 2e15, balance_after = 2e15");
    await evict(account);
    await expectRefused(account, () => call(`/v1/accounts/${account}`));
  });

  it("checks the last entry stored before schema 7 the same way, and one after it against it", async () => {
    const legacy = await legacyAccount(Date.now() + 3_600_000);
    await corrupt(legacy, "UPDATE entries SET balance_after = 999");
    await evict(legacy);
    await expectRefused(legacy, () => call(`/v1/accounts/${legacy}`));

    // A new entry after a legacy one: the balance before it is the legacy entry's.
    const mixed = await legacyAccount(Date.now() + 3_600_000);
    await chargeOf(mixed, 100);
    await corrupt(mixed, "UPDATE entries SET balance_after = 901");
    await evict(mixed);
    await expectRefused(mixed, () => post(mixed, "charges", usd(100)));
  });
});

describe("appending an entry (ledger-store.ts appendEntry)", () => {
  it("refuses an append whose row is not written", async () => {
    const account = await fundedAccount(1000);
    await corrupt(account, "CREATE TRIGGER drop_entries BEFORE INSERT ON ledger BEGIN SELECT RAISE(IGNORE); END");
    await expectRefused(account, () => post(account, "charges", usd(100)));
  });

  it("refuses a batch whose entries or key rows are not all written, written together or alone", async () => {
    // Rows of a batch's new keys are written many to a statement (batch-rows.ts): one row that is not
    // written, among others that are, fails the batch as its own INSERT would.
    for (const table of ["ledger", "keys"]) {
      const column = table === "ledger" ? "seq" : "pos";
      const account = await fundedAccount(1000);
      await corrupt(
        account,
        `CREATE TRIGGER drop_one BEFORE INSERT ON ${table} WHEN NEW.${column} = 5 BEGIN SELECT RAISE(IGNORE); END`,
      );
      const operations = Array.from({ length: 10 }, () => ({
        type: "charge",
        idempotency_key: uniqueKey(),
        ...usd(1),
      }));
      await expectRefused(account, () =>
        call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } }),
      );
    }
  });

  it("refuses an amount outside the limits, and a refund without its charge", async () => {
    const account = await fundedAccount(1000);
    const head = { balance: 1000, entryCount: 1, keyPos: 1, held: 0, holdsDueMs: null, transfersDueMs: null };
    const entry = {
      type: "credit" as const,
      createdMs: Date.now(),
      idempotencyKey: uniqueKey(),
      keyPos: 2,
      names: null,
      description: null,
      metadata: {},
      keyId: null,
    };
    await expectThrowsInside(
      account,
      (sql) => appendEntry(sql, head, 1000 + 2e12, { ...entry, amount: 2e12 }),
      /^invariant: amount/,
    );
    await expectThrowsInside(
      account,
      (sql) => appendEntry(sql, head, 1010, { ...entry, type: "refund", amount: 10 }),
      /^invariant: a refund names nothing/,
    );
  });
});

describe("entries read back from storage (ledger-store.ts toEntryRow)", () => {
  it("refuses an entry of the wrong sign, an unknown type, an amount outside the limits, a charge naming a charge", async () => {
    for (const change of [
      // Types are stored as 1 credit, 2 charge, 3 refund, 4 capture.
      "UPDATE ledger SET type = 1 WHERE seq = 2",
      "UPDATE ledger SET type = 4 WHERE seq = 2",
      "UPDATE ledger SET type = 5 WHERE seq = 2",
      "UPDATE ledger SET amount = 2e12 WHERE seq = 1",
      "UPDATE ledger SET charge_id = 'ch_0' WHERE seq = 2",
    ]) {
      const account = await fundedAccount(1000);
      await chargeOf(account, 100);
      await chargeOf(account, 100);
      await corrupt(account, change);
      await expectRefused(account, () => call(`/v1/accounts/${account}/entries`));
    }
  });

  it("refuses a legacy entry of the wrong sign", async () => {
    const account = await legacyAccount(Date.now() + 3_600_000);
    await corrupt(account, "UPDATE entries SET type = 'charge'");
    await expectRefused(account, () => call(`/v1/accounts/${account}/entries`));
  });
});

describe("refunds never exceed their charge (money-operations.ts applyRefund, row-views.ts chargeView)", () => {
  it("refuses a refund, and shows no charge, once the stored refunds exceed the charge", async () => {
    for (const change of [
      // The charge (seq 2) made smaller than what was refunded of it...
      "UPDATE ledger SET amount = -100 WHERE seq = 2",
      // ...or its stored refund total made larger than the charge.
      "UPDATE refund_totals SET refunded = 401",
    ]) {
      const account = await fundedAccount(1000);
      const charge = await chargeOf(account, 400);
      expect((await post(account, "refunds", { charge, amount: 150 })).status).toBe(201);
      expect((await post(account, "credits", usd(10))).status).toBe(201);
      await corrupt(account, change);
      await expectRefused(account, () => post(account, "refunds", { charge, amount: 10 }));
      await expectRefused(account, () => post(account, "refunds", { charge }));
      await expectRefused(account, () => call(`/v1/accounts/${account}/charges/${charge}`));
    }
  });
});

describe("a key row is written once and agrees with its entry (key-rows.ts, decide.ts)", () => {
  it("refuses a key row that is not written", async () => {
    const account = await fundedAccount(1000);
    await corrupt(account, "CREATE TRIGGER drop_keys BEFORE INSERT ON keys BEGIN SELECT RAISE(IGNORE); END");
    await expectRefused(account, () => post(account, "charges", usd(100)));
    await expectRefused(account, () => post(account, "charges", usd(5000)));
  });

  it("refuses a key row that moved money but names no entry", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    expect((await post(account, "charges", usd(100), key)).status).toBe(201);
    await corrupt(account, "UPDATE keys SET entry_seq = NULL WHERE key = ?", key);
    await expectRefused(account, () => post(account, "charges", usd(100), key));
    await expectRefused(account, () => lookupOf(account, key));
  });

  it("refuses a key row that names another entry than the one naming it, or one that is not there", async () => {
    for (const seq of [1, 99]) {
      const account = await fundedAccount(1000);
      const key = uniqueKey();
      expect((await post(account, "charges", usd(100), key)).status).toBe(201);
      await corrupt(account, "UPDATE keys SET entry_seq = ? WHERE key = ?", seq, key);
      await expectRefused(account, () => post(account, "charges", usd(100), key));
      // And the key lookup, which shows the entry.
      await expectRefused(account, () => lookupOf(account, key));
      // Also once expired: the 409 names its entry.
      await expireRecord(account, key);
      await expectRefused(account, () => post(account, "charges", usd(100), key));
      await expectRefused(account, () => lookupOf(account, key));
    }
  });

  it("refuses a stored decline without its code, and a success with one", async () => {
    const account = await fundedAccount(100);
    const declined = uniqueKey();
    expect((await post(account, "charges", usd(500), declined)).status).toBe(402);
    await corrupt(account, "UPDATE keys SET code = NULL WHERE key = ?", declined);
    await expectRefused(account, () => post(account, "charges", usd(500), declined));
    await expectRefused(account, () => lookupOf(account, declined));

    const moved = uniqueKey();
    expect((await post(account, "credits", usd(5), moved)).status).toBe(201);
    await expireRecord(account, moved);
    await corrupt(account, "UPDATE keys SET code = 'insufficient_funds' WHERE key = ?", moved);
    await expectRefused(account, () => post(account, "credits", usd(5), moved));
    await expectRefused(account, () => lookupOf(account, moved));
  });

  it("refuses a stored body on a row rendered from its entry, and a decline rendered from none", async () => {
    const account = await fundedAccount(100);
    const moved = uniqueKey();
    expect((await post(account, "credits", usd(5), moved)).status).toBe(201);
    await corrupt(account, "UPDATE keys SET body = '{}' WHERE key = ?", moved);
    await expectRefused(account, () => post(account, "credits", usd(5), moved));
    await expectRefused(account, () => lookupOf(account, moved));

    const declined = uniqueKey();
    expect((await post(account, "charges", usd(500), declined)).status).toBe(402);
    await corrupt(account, "UPDATE keys SET view = 1, body = NULL WHERE key = ?", declined);
    await expectRefused(account, () => post(account, "charges", usd(500), declined));
    await expectRefused(account, () => lookupOf(account, declined));
  });

  it("refuses a key row that expires at or before its decision", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    expect((await post(account, "charges", usd(100), key)).status).toBe(201);
    await corrupt(account, "UPDATE keys SET expires_ms = decided_ms WHERE key = ?", key);
    await expectRefused(account, () => post(account, "charges", usd(100), key));
    await expectRefused(account, () => lookupOf(account, key));
  });

  it("refuses to write a key row whose facts disagree", async () => {
    const account = await fundedAccount(100);
    const now = Date.now();
    const row: Omit<KeyRow, "pos"> = {
      key: uniqueKey(),
      fingerprint: "f".repeat(32),
      status: 402,
      code: "insufficient_funds",
      entrySeq: null,
      decidedMs: now,
      expiresMs: now + 60_000,
      requestTag: 1,
      origin: "r",
      digests: null,
      view: 0,
      body: "{}",
    };
    const cases: readonly [Partial<Omit<KeyRow, "pos">>, RegExp][] = [
      [{ code: null }, /^invariant: key .* has status 402 and code null/],
      [{ status: 200, code: null, entrySeq: 1 }, /^invariant: key .* names entry 1 with status 200/],
      [{ status: 201, code: null, entrySeq: 1 }, /^invariant: key .* has entry 1, view 0 and a body: true/],
      [{ status: 201, code: null, view: 1, body: null }, /^invariant: key .* has entry null, view 1 and a body: false/],
      [{ expiresMs: now }, /^invariant: key .* decided at \d+ expires at \d+/],
      [{ decidedMs: 0.5 }, /^invariant: key .* decided at 0.5 expires at/],
    ];
    for (const [change, message] of cases) {
      await expectThrowsInside(account, (sql) => insertKeyRow(sql, { ...row, ...change }, 2), message);
    }
  });
});

describe("a legacy decision agrees with its entry (decisions.ts, key-state.ts)", () => {
  it("replays a seeded legacy account as it was decided", async () => {
    // The seeding below stands for what older releases stored: answered as such before it is corrupted.
    const account = await legacyAccount(Date.now() - 1);
    const moved = await expectProblem(
      await post(account, "credits", usd(1000), LEGACY_CREDIT),
      409,
      "idempotency_key_expired",
    );
    expect(moved).toMatchObject({ original_status: 201, entry: LEGACY_CREDIT_ID });
    const declined = await expectProblem(
      await post(account, "charges", usd(1), LEGACY_DECLINE),
      409,
      "idempotency_key_expired",
    );
    expect(declined).toMatchObject({ original_status: 402, original_code: "insufficient_funds", entry: null });
  });

  it("refuses a decision that names no entry when its key carries one", async () => {
    const account = await legacyAccount(Date.now() - 1);
    await corrupt(account, "UPDATE decisions SET entry_id = NULL WHERE key = ?", LEGACY_CREDIT);
    await expectRefused(account, () => post(account, "credits", usd(1000), LEGACY_CREDIT));
  });

  it("refuses a decision that names another entry than the one its key carries", async () => {
    const account = await legacyAccount(Date.now() - 1);
    await corrupt(account, "UPDATE decisions SET entry_id = 'cr_0' WHERE key = ?", LEGACY_CREDIT);
    await expectRefused(account, () => post(account, "credits", usd(1000), LEGACY_CREDIT));
  });

  it("refuses a stored decline without its code, and a success with one", async () => {
    const account = await legacyAccount(Date.now() - 1);
    await corrupt(account, "UPDATE decisions SET code = NULL WHERE key = ?", LEGACY_DECLINE);
    await expectRefused(account, () => post(account, "charges", usd(1), LEGACY_DECLINE));
    await expectRefused(account, () => lookupOf(account, LEGACY_DECLINE));

    await corrupt(account, "UPDATE decisions SET code = 'insufficient_funds' WHERE key = ?", LEGACY_CREDIT);
    await expectRefused(account, () => post(account, "credits", usd(1000), LEGACY_CREDIT));
  });

  it("refuses to write a decision whose facts disagree", async () => {
    const account = await fundedAccount(100);
    const decision = { key: uniqueKey(), fingerprint: "f", entryId: null, decidedMs: Date.now() };
    await expectThrowsInside(
      account,
      (sql) => {
        saveDecision(sql, { ...decision, status: 402, code: null });
      },
      /^invariant: decision .* has status 402 and code null/,
    );
    await expectThrowsInside(
      account,
      (sql) => {
        saveDecision(sql, { ...decision, status: 200, code: null, entryId: "cr_0" });
      },
      /^invariant: decision .* names entry cr_0 with status 200/,
    );
  });
});

describe("a legacy record expires after it was created (idempotency-records.ts, key-state.ts)", () => {
  it("refuses to replay, or look up, a live record created at or after its expiry", async () => {
    const account = await legacyAccount(Date.now() + 3_600_000);
    await corrupt(account, "UPDATE idempotency_records SET created_ms = expires_ms WHERE key = ?", LEGACY_CREDIT);
    await expectRefused(account, () => post(account, "credits", usd(1000), LEGACY_CREDIT));
    await expectRefused(account, () => lookupOf(account, LEGACY_CREDIT));
  });

  it("refuses to write a record that expires at or before its creation", async () => {
    const account = await fundedAccount(1000);
    const now = Date.now();
    await expectThrowsInside(
      account,
      (sql) => {
        saveRecord(sql, {
          key: uniqueKey(),
          requestId: "r",
          fingerprint: "f",
          status: 201,
          body: "{}",
          createdMs: now,
          expiresMs: now,
          fieldDigests: null,
          originRequestId: "r",
        });
      },
      /^invariant: record .* expires at/,
    );
  });
});

describe("the account's settings (ledger-store.ts updateOverdraftLimit, row-views.ts accountView, money.ts debit)", () => {
  it("refuses a stored overdraft limit outside its bounds", async () => {
    const account = await fundedAccount(1000);
    await corrupt(account, "UPDATE account SET overdraft_limit = -5, version = version + 1");
    await evict(account);
    await expectRefused(account, () => post(account, "charges", usd(100)));
    await expectRefused(account, () => call(`/v1/accounts/${account}`));
  });

  it("refuses a stored version below 1", async () => {
    const account = await fundedAccount(1000);
    await corrupt(account, "UPDATE account SET version = 0");
    await evict(account);
    await expectRefused(account, () => call(`/v1/accounts/${account}`));
  });

  it("refuses a settings change that does not move the version by one", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    await corrupt(
      account,
      "CREATE TRIGGER keep_settings BEFORE UPDATE OF overdraft_limit ON account BEGIN SELECT RAISE(IGNORE); END",
    );
    await expectRefused(account, () =>
      call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD", overdraft_limit: 50 } }),
    );
  });
});

describe("the event cursor (events.ts readEventCursor, saveEventCursor)", () => {
  /** An account whose events were published once, its alarm cleared so nothing runs behind the test. */
  async function published(): Promise<string> {
    const account = await fundedAccount(1000);
    await chargeOf(account, 100);
    await inLedger(account, async (storage, instance) => {
      await instance.alarm();
      await storage.deleteAlarm();
    });
    const cursor = await inLedger(account, (storage) => readEventCursor(new CountedSql(storage.sql)));
    expect(cursor).toMatchObject({ entrySeq: 2, publishedThrough: 4 });
    return account;
  }

  async function expectAlarmRefused(account: string, message: RegExp): Promise<void> {
    const before = await traces(account);
    await inLedger(account, async (_, instance) => {
      await expect(instance.alarm()).rejects.toThrow(message);
    });
    expect(await traces(account)).toEqual(before);
  }

  it("refuses a cursor past the ledger's last entry", async () => {
    const account = await published();
    await corrupt(
      account,
      "UPDATE event_cursor SET entry_seq = entry_seq + 5, published_through = published_through + 5",
    );
    await expectAlarmRefused(account, /^invariant: the event cursor is at entry 7, the ledger ends at 2/);
  });

  it("refuses a cursor whose count of events is not its entries and changes", async () => {
    const account = await published();
    await corrupt(account, "UPDATE event_cursor SET published_through = published_through - 1");
    await expectAlarmRefused(
      account,
      /^invariant: the event cursor counts 3 events for 2 entries, 2 changes and 0 hold changes/,
    );
  });

  it("refuses to move the cursor back", async () => {
    const account = await published();
    await expectThrowsInside(
      account,
      (sql) => {
        saveEventCursor(sql, {
          publishedThrough: 3,
          entrySeq: 1,
          changeVersion: 1,
          changeField: "overdraft_limit",
          holdChange: 0,
        });
      },
      /^invariant: the event cursor would move back from 4 to 3/,
    );
    // The same position again changes nothing.
    await inLedger(account, (storage) => {
      const sql = new CountedSql(storage.sql);
      storage.transactionSync(() => {
        saveEventCursor(sql, readEventCursor(sql));
      });
    });
  });
});

describe("the audit (ledger-audit.ts) names what a corrupted store breaks", () => {
  /** An account with a credit, a charge of 400 refunded 150 then 50, and the charge's id. */
  async function refundedAccount(): Promise<{ account: string; charge: string }> {
    const account = await fundedAccount(1000);
    const charge = await chargeOf(account, 400);
    for (const amount of [150, 50]) expect((await post(account, "refunds", { charge, amount })).status).toBe(201);
    const audit = await ledgerStub(account).audit();
    expect(audit.violations).toEqual([]);
    return { account, charge };
  }

  async function violationsAfter(account: string, query: string, ...bindings: SqlStorageValue[]) {
    await corrupt(account, query, ...bindings);
    return (await ledgerStub(account).audit()).violations;
  }

  it("a key row naming an entry that does not name it, and an entry no key row names", async () => {
    const { account } = await refundedAccount();
    expect(await violationsAfter(account, "UPDATE keys SET entry_seq = 1 WHERE entry_seq = 2")).toEqual([
      expect.stringMatching(/^key .* names an entry that does not name it$/),
      "entry 2 has no key row naming it",
    ]);
  });

  it("a refund total that is not the sum of its charge's refunds, or none for a refunded charge", async () => {
    for (const change of [
      // Understated: the next refund would find more refundable than is left.
      "UPDATE refund_totals SET refunded = 150",
      // Overstated, though within the charge.
      "UPDATE refund_totals SET refunded = 399",
      // Lost.
      "DELETE FROM refund_totals",
    ]) {
      const { account, charge } = await refundedAccount();
      expect(await violationsAfter(account, change), change).toEqual([
        expect.stringMatching(new RegExp(`^charge ${charge}: refunded \\d+ of 400, its refunds sum to 200$`)),
      ]);
    }
  });

  it("a refund total beyond its charge", async () => {
    const { account, charge } = await refundedAccount();
    expect(
      await violationsAfter(
        account,
        "UPDATE ledger SET amount = -100, balance_after = balance_after + 300 WHERE seq = 2",
      ),
    ).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^charge ${charge}: refunded 200 of 100`))]));
  });
});
