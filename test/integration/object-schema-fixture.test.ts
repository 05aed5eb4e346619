import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { OBJECT_INTERFACE_VERSION } from "../../src/contract/interface-version.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import type { LedgerEvent } from "../../src/ledger/events.ts";
import SCHEMA_SOURCE from "../../src/ledger/schema.ts?raw";
import { SCHEMA_VERSION } from "../../src/ledger/schema.ts";
import FIXTURE from "../fixtures/account-schema-1.sql?raw";
import {
  allEntries,
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  json,
  ledgerStub,
  uniqueKey,
} from "../support/api.ts";
import { TEST_API_KEYS } from "../support/keys.ts";
import { eventsOf, RecordingQueue } from "../support/queues.ts";
import { inLedger } from "../support/storage.ts";

/**
 * Upgrades from storage the previous release really wrote: test/fixtures/account-schema-1.sql
 * was written by commit d784fa3 through its own HTTP API and dumped from its object's SQLite
 * (see the file's header). Each test loads it into an object that has never been reached, lets
 * the current code migrate it on first use, and checks through the current HTTP API that
 * nothing the old code decided has changed. Every expectation is read from the fixture's rows or
 * from the old API's answers recorded in its header, never typed in here.
 */

// ---- What the fixture says -------------------------------------------------------------------

interface FixtureRequest {
  readonly method: string;
  readonly path: string;
  readonly key: string | null;
  readonly body: Record<string, unknown>;
  readonly status: number;
}

/** `-- @request METHOD PATH [KEY] BODY -> STATUS ...`: the requests the old release was sent. */
const REQUESTS: readonly FixtureRequest[] = [
  ...FIXTURE.matchAll(/^-- @request (\S+) (\S+)(?: (\S+))? (\{.*\}) -> (\d+)/gm),
].map((m) => ({
  method: m[1] ?? "",
  path: m[2] ?? "",
  key: m[3] ?? null,
  body: JSON.parse(m[4] ?? "") as Record<string, unknown>,
  status: Number(m[5]),
}));

/** `-- @answer GET PATH -> STATUS BODY`: what the old API answered once the requests were made. */
const ANSWERS = new Map(
  [...FIXTURE.matchAll(/^-- @answer GET (\S+) -> 200 (.*)$/gm)].map((m) => [
    m[1] ?? "",
    JSON.parse(m[2] ?? "") as unknown,
  ]),
);

/** Money-moving requests (the ones with an Idempotency-Key). */
const MONEY_REQUESTS = REQUESTS.filter((request) => request.key !== null);

/**
 * The fixture is addressed under the account name it was written under, not a fresh one. Each
 * stored fingerprint hashes the request's path, `/v1/accounts/<name>/<resource>` (old and new
 * code alike), so under any other name no retry could ever match its record: every replay would
 * be a 422. And the object answers `id` from `account.name`, a real object's name never changes,
 * and rewriting either would test data the old code never wrote. Isolation comes from the
 * tenant instead: the object is `<tenant>:<account>`, the tenant is in neither the fingerprint
 * nor schema 1's rows, and each test below loads its own copy under its own tenant. Storage is
 * per test file, so export.test.ts, which loads the fixture too, never meets these copies.
 */
const ACCOUNT = (/^\/v1\/accounts\/([\w-]+)$/.exec(REQUESTS[0]?.path ?? "") ?? [])[1] ?? "";

type Tenant = keyof typeof TEST_API_KEYS;
const keyOf = (tenant: Tenant) => TEST_API_KEYS[tenant][0];

/** The readableFrom of each migration, in order, as schema.ts declares them. */
const READABLE_FROM = [...SCHEMA_SOURCE.matchAll(/^\s*readableFrom: (\d+),/gm)].map((m) => Number(m[1]));

type AccountRow = { name: string; currency: string; overdraft_limit: number; created_ms: number };
type EntryRow = {
  seq: number;
  id: string;
  type: string;
  amount: number;
  balance_after: number;
  created_ms: number;
  idempotency_key: string;
  charge_id: string | null;
  description: string | null;
  metadata: string;
};
type RecordRow = {
  key: string;
  request_id: string;
  fingerprint: string;
  status: number;
  body: string;
  created_ms: number;
  expires_ms: number;
};

/** The fixture's rows, read back from the object right after loading, before any code of today touched them. */
interface Snapshot {
  readonly version: number;
  readonly account: AccountRow;
  readonly entries: readonly EntryRow[];
  readonly records: readonly RecordRow[];
}

const HOUR_MS = 60 * 60 * 1000;

// ---- Loading ---------------------------------------------------------------------------------

/**
 * Loads the fixture into `<tenant>:<ACCOUNT>`, as the storage that object has. runInDurableObject
 * is the first thing ever to reach it, so its constructor found no schema and migrated nothing;
 * nothing is cached either (no request has read the account). The object is then evicted, as a
 * deployment restarts every object: the next request constructs it afresh under the current
 * code, whose constructor migrates the schema it finds.
 */
async function loadFixture(
  tenant: string,
  beforeUpgrade?: (sql: SqlStorage) => void,
  stub: DurableObjectStub<AccountLedger> = ledgerStub(ACCOUNT, tenant),
): Promise<Snapshot> {
  const loaded = await runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    const existing = sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
      .toArray();
    sql.exec(FIXTURE);
    const snapshot: Snapshot = {
      version: sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version,
      account: sql.exec<AccountRow>("SELECT name, currency, overdraft_limit, created_ms FROM account").one(),
      entries: sql.exec<EntryRow>("SELECT * FROM entries ORDER BY seq").toArray(),
      records: sql.exec<RecordRow>("SELECT * FROM idempotency_records ORDER BY rowid").toArray(),
    };
    beforeUpgrade?.(sql);
    return { existing, snapshot };
  });
  expect(loaded.existing, "the object already had tables: the fixture would not be all it stores").toEqual([]);
  await evictDurableObject(stub);

  const { snapshot } = loaded;
  // The fixture is what its name and header say, and old enough to need migrating.
  expect(snapshot.version).toBe(1);
  expect(snapshot.version).toBeLessThan(SCHEMA_VERSION);
  expect(snapshot.account.name).toBe(ACCOUNT);
  expect(snapshot.entries.length).toBeGreaterThan(0);
  return snapshot;
}

/** Pins the clock (the Worker's and the object's: they share this isolate) at `ms`. */
function pinClock(ms: number): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(ms);
}

afterEach(() => {
  vi.useRealTimers();
});

// ---- Reading what the fixture implies --------------------------------------------------------

function lastEntry(snapshot: Snapshot): EntryRow {
  const last = snapshot.entries.at(-1);
  if (last === undefined) throw new Error("the fixture has no entries");
  return last;
}

function recordOf(snapshot: Snapshot, key: string): RecordRow {
  const record = snapshot.records.find((row) => row.key === key);
  if (record === undefined) throw new Error(`the fixture has no record for ${key}`);
  return record;
}

function entryIdOf(snapshot: Snapshot, key: string): string | null {
  return snapshot.entries.find((entry) => entry.idempotency_key === key)?.id ?? null;
}

function problemCodeOf(record: RecordRow): string | null {
  return record.status >= 400 ? ((JSON.parse(record.body) as { code?: string }).code ?? null) : null;
}

/** The fixture's one declined charge: its recorded request and its record. */
function declined(snapshot: Snapshot): { request: FixtureRequest; record: RecordRow } {
  const declines = snapshot.records.filter((record) => record.status >= 400);
  expect(declines.map((record) => problemCodeOf(record))).toEqual(["insufficient_funds"]);
  const record = declines[0] as RecordRow;
  const request = MONEY_REQUESTS.find((r) => r.key === record.key);
  if (request === undefined) throw new Error(`no @request line for ${record.key}`);
  // The decline must matter: with the money the account holds now, the same charge would succeed.
  expect(request.path.endsWith("/charges")).toBe(true);
  expect(lastEntry(snapshot).balance_after + snapshot.account.overdraft_limit).toBeGreaterThanOrEqual(
    request.body.amount as number,
  );
  return { request, record };
}

/** One request of each money key, as the old API was sent it (the fixture replays one key twice). */
function distinctMoneyRequests(): FixtureRequest[] {
  const seen = new Set<string>();
  return MONEY_REQUESTS.filter((request) => {
    if (seen.has(request.key ?? "")) return false;
    seen.add(request.key ?? "");
    return true;
  });
}

// ---- Talking to the current Worker -----------------------------------------------------------

function resend(tenant: Tenant, request: FixtureRequest, body: unknown = request.body): Promise<Response> {
  return call(request.path, { method: request.method, key: keyOf(tenant), idempotencyKey: request.key, body });
}

async function readAccount(tenant: Tenant) {
  const response = await call(`/v1/accounts/${ACCOUNT}`, { key: keyOf(tenant) });
  expect(response.status).toBe(200);
  return json(response);
}

async function charge(tenant: Tenant, amount: number, currency: string) {
  const response = await call(`/v1/accounts/${ACCOUNT}/charges`, {
    method: "POST",
    key: keyOf(tenant),
    idempotencyKey: uniqueKey("after-upgrade"),
    body: { amount, currency },
  });
  expect(response.status).toBe(201);
  return json<{ id: string; balance_after: number }>(response);
}

/** A new charge after the upgrade appends the next seq, with no gap, on the fixture's balance. */
async function expectLedgerContinues(tenant: Tenant, seqBefore: number, balanceBefore: number, currency: string) {
  const created = await charge(tenant, 1, currency);
  expect(created.balance_after).toBe(balanceBefore - 1);
  const entries = await allEntries(ACCOUNT, keyOf(tenant));
  expect(entries.map((entry) => entry.seq)).toEqual(Array.from({ length: seqBefore + 1 }, (_, i) => i + 1));
  expect(entries.at(-1)?.id).toBe(created.id);
  const account = await readAccount(tenant);
  expect({ balance: account.balance, entry_count: account.entry_count }).toEqual({
    balance: balanceBefore - 1,
    entry_count: seqBefore + 1,
  });
  const audit = await expectLedgerConsistent(ACCOUNT, tenant);
  expect(audit.entryCount).toBe(seqBefore + 1);
}

type SchemaShape = Record<string, string>;

/**
 * Every table's and index's CREATE statement (SQLite rewrites it on ALTER TABLE ADD COLUMN), with
 * whitespace normalised, plus the stored schema version: the object's schema as a whole.
 */
function schemaShape(storage: DurableObjectStorage): { objects: SchemaShape; version: number; readable_from: number } {
  const objects = Object.fromEntries(
    storage.sql
      .exec<{ name: string; sql: string }>(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
      )
      .toArray()
      .map((row) => [row.name, row.sql.replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")")]),
  );
  const stored = storage.sql
    .exec<{ version: number; readable_from: number }>("SELECT version, readable_from FROM schema_version")
    .one();
  return { objects, ...stored };
}

// ---- The tests -------------------------------------------------------------------------------

describe(`the storage d784fa3 wrote (schema 1), upgraded to schema ${SCHEMA_VERSION}`, () => {
  it("parses the fixture's header", () => {
    expect(ACCOUNT).not.toBe("");
    expect(REQUESTS.length).toBeGreaterThan(MONEY_REQUESTS.length);
    expect(MONEY_REQUESTS.length).toBeGreaterThan(0);
    expect(ANSWERS.has(`/v1/accounts/${ACCOUNT}`)).toBe(true);
    expect(ANSWERS.has(`/v1/accounts/${ACCOUNT}/entries?limit=100`)).toBe(true);
    // schema.ts declares one readableFrom per migration.
    expect(READABLE_FROM.length).toBe(SCHEMA_VERSION);
  });

  it("within the records' TTL: the same balance, entries and replays; a new charge continues the ledger", async () => {
    const tenant = "acme";
    const fixture = await loadFixture(tenant);
    const last = lastEntry(fixture);
    // The upgrade comes an hour after the old code's last decision, while every stored response is live.
    const upgradeMs = Math.max(...fixture.records.map((record) => record.created_ms)) + HOUR_MS;
    expect(Math.min(...fixture.records.map((record) => record.expires_ms))).toBeGreaterThan(upgradeMs);
    pinClock(upgradeMs);

    // The account: balance and entry count as the fixture's last entry says, settings as its row says.
    const account = await readAccount(tenant);
    expect(account).toMatchObject({
      id: fixture.account.name,
      currency: fixture.account.currency,
      balance: last.balance_after,
      overdraft_limit: fixture.account.overdraft_limit,
      entry_count: last.seq,
      created: new Date(fixture.account.created_ms).toISOString(),
      // Accounts opened before schema 3 start at version 1 (the column's default).
      version: 1,
    });
    // ...and every field the old API answered, answered the same.
    expect(account).toMatchObject(ANSWERS.get(`/v1/accounts/${ACCOUNT}`) as object);

    // The schema is now the current one, as a fresh object's, and readable as the migrations say.
    const upgraded = await inLedgerOf(tenant, schemaShape);
    const fresh = await inLedger(await fundedAccount(0), schemaShape);
    expect(upgraded.version).toBe(SCHEMA_VERSION);
    expect(upgraded.readable_from).toBe(Math.max(1, ...READABLE_FROM.slice(fixture.version)));
    expect(upgraded).toEqual(fresh);

    // Every record present at the upgrade became a decision (schema 3's copy), the fixture's rows as they were.
    const decisions = await inLedgerOf(tenant, (storage) =>
      storage.sql
        .exec("SELECT key, fingerprint, status, code, entry_id, decided_ms FROM decisions ORDER BY key")
        .toArray(),
    );
    expect(decisions).toEqual(
      [...fixture.records]
        .sort((a, b) => (a.key < b.key ? -1 : 1))
        .map((record) => ({
          key: record.key,
          fingerprint: record.fingerprint,
          status: record.status,
          code: problemCodeOf(record),
          entry_id: entryIdOf(fixture, record.key),
          decided_ms: record.created_ms,
        })),
    );
    const stillStored = await inLedgerOf(tenant, (storage) =>
      storage.sql
        .exec<RecordRow>(
          "SELECT key, request_id, fingerprint, status, body, created_ms, expires_ms FROM idempotency_records ORDER BY rowid",
        )
        .toArray(),
    );
    expect(stillStored).toEqual(fixture.records);

    // The entries: the fixture's rows, and every field the old API listed, the same.
    const entries = await allEntries(ACCOUNT, keyOf(tenant));
    expect(
      entries.map(({ seq, id, type, amount, balance_after, idempotency_key, charge }) => ({
        seq,
        id,
        type,
        amount,
        balance_after,
        idempotency_key,
        charge,
      })),
    ).toEqual(
      fixture.entries.map((row) => ({
        seq: row.seq,
        id: row.id,
        type: row.type,
        amount: row.amount,
        balance_after: row.balance_after,
        idempotency_key: row.idempotency_key,
        charge: row.charge_id,
      })),
    );
    const oldList = ANSWERS.get(`/v1/accounts/${ACCOUNT}/entries?limit=100`) as { data: object[] };
    expect(entries).toMatchObject(oldList.data);

    // Each money request the old API was sent, sent again: its stored answer, byte for byte, as a replay.
    for (const request of MONEY_REQUESTS) {
      const record = recordOf(fixture, request.key ?? "");
      // The header's request and the stored record tell the same story.
      expect(request.status).toBe(record.status);
      const response = await resend(tenant, request);
      expect({
        key: request.key,
        status: response.status,
        replayed: response.headers.get("idempotent-replayed"),
        body: await response.text(),
      }).toEqual({ key: request.key, status: record.status, replayed: "true", body: record.body });
    }

    // The decline replays as a decline although the money is there now (declined() checks that it is).
    const { request: declinedRequest, record: declinedRecord } = declined(fixture);
    const again = await resend(tenant, declinedRequest);
    expect(again.status).toBe(402);
    expect(await again.text()).toBe(declinedRecord.body);

    // A fixture key with a different request: 422. Old records carry no field digests, so no `fields`.
    const reused = distinctMoneyRequests().find((request) => request.path.endsWith("/charges")) as FixtureRequest;
    const problem = await expectProblem(
      await resend(tenant, reused, { ...reused.body, amount: (reused.body.amount as number) + 1 }),
      422,
      "idempotency_key_reused",
    );
    expect(problem.fields).toBeUndefined();

    // None of that moved money; a new charge does, as the next seq.
    await expectLedgerContinues(tenant, last.seq, last.balance_after, fixture.account.currency);

    // An account older than tenant directories gets listed in its tenant's once it is used.
    await vi.waitFor(async () => {
      const page = await json<{ data: { id: string }[] }>(await call("/v1/accounts", { key: keyOf(tenant) }));
      expect(page.data.map((item) => item.id)).toContain(ACCOUNT);
    });
  });

  it("after the records' TTL, before the sweep: every key stays decided, the decline included", async () => {
    const tenant = "globex";
    const fixture = await loadFixture(tenant);
    const last = lastEntry(fixture);
    // Every stored response has expired, but the old code's sweep has not deleted them yet.
    pinClock(Math.max(...fixture.records.map((record) => record.expires_ms)) + HOUR_MS);

    for (const request of distinctMoneyRequests()) {
      const record = recordOf(fixture, request.key ?? "");
      const body = await expectProblem(await resend(tenant, request), 409, "idempotency_key_expired");
      expect({ key: request.key, ...body }).toMatchObject({
        key: request.key,
        original_status: record.status,
        original_code: problemCodeOf(record),
        entry: entryIdOf(fixture, record.key),
      });
    }

    // The decline (decided before decisions were kept; schema 3 copied its record) does not flip into
    // a charge, though the money is there now.
    const { request: declinedRequest } = declined(fixture);
    const body = await expectProblem(await resend(tenant, declinedRequest), 409, "idempotency_key_expired");
    expect(body).toMatchObject({ original_status: 402, original_code: "insufficient_funds", entry: null });

    await expectLedgerContinues(tenant, last.seq, last.balance_after, fixture.account.currency);
  });

  it("after the old code's sweep deleted the records: keys that moved money stay blocked; the decline is forgotten", async () => {
    const tenant = "edge";
    let sweptMs = 0;
    const fixture = await loadFixture(tenant, (sql) => {
      // What d784fa3's alarm did once the TTL had run out, before the new code was deployed.
      sweptMs = sql.exec<{ latest: number }>("SELECT MAX(expires_ms) AS latest FROM idempotency_records").one().latest;
      sql.exec("DELETE FROM idempotency_records WHERE expires_ms <= ?", sweptMs);
    });
    const last = lastEntry(fixture);
    pinClock(sweptMs + HOUR_MS);

    // Keys that moved money are found through their entries (no record, no decision).
    const moved = distinctMoneyRequests().filter((request) => entryIdOf(fixture, request.key ?? "") !== null);
    expect(moved.length).toBe(fixture.entries.length);
    for (const request of moved) {
      const body = await expectProblem(await resend(tenant, request), 409, "idempotency_key_expired");
      expect({ key: request.key, ...body }).toMatchObject({
        key: request.key,
        original_status: 201,
        original_code: null,
        entry: entryIdOf(fixture, request.key ?? ""),
      });
    }
    const decisions = await inLedgerOf(
      tenant,
      (storage) => storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM decisions").one().n,
    );
    expect(decisions).toBe(0);

    // A decline whose record was swept before the upgrade left no trace: docs/storage.md names it the one
    // thing older versions forgot. Sent again, it is decided afresh, now with the money there.
    const { request: declinedRequest } = declined(fixture);
    const first = await resend(tenant, declinedRequest);
    expect(first.status).toBe(201);
    const charged = await json<{ id: string; balance_after: number }>(first);
    expect(charged.balance_after).toBe(last.balance_after - (declinedRequest.body.amount as number));
    // ...and from then on it is decided for ever.
    const replay = await resend(tenant, declinedRequest);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");

    await expectLedgerContinues(tenant, last.seq + 1, charged.balance_after, fixture.account.currency);
  });
});

describe("an account opened before schema 4, which stored no tenant", () => {
  // The tenants here need no API key: the tests call the object itself, as the Worker does.
  const storedTenant = (stub: DurableObjectStub) =>
    runInDurableObject(
      stub,
      (_instance, state) =>
        state.storage.sql.exec<{ tenant: string | null }>("SELECT tenant FROM account").one().tenant,
    );

  /** Points the object's events at a fresh recording queue and runs its alarm now, as often as it re-arms (at most `runs`). */
  async function publishNow(stub: DurableObjectStub, events: RecordingQueue, runs = 3): Promise<void> {
    await runInDurableObject(stub, async (instance, state) => {
      const object = instance as unknown as { env: Env };
      object.env = { ...object.env, EVENTS: events.binding };
      await state.storage.setAlarm(Date.now());
    });
    for (let run = 0; run < runs && (await runDurableObjectAlarm(stub)); run += 1);
  }

  /** The fixture's history as events: one per entry and per change, numbered 1, 2, 3... under `<tenant>:<account>`. */
  function expectEventsNamed(events: readonly LedgerEvent[], tenant: string, fixture: Snapshot): void {
    expect(events.length).toBeGreaterThanOrEqual(fixture.entries.length);
    expect(events.map((event) => event.id)).toEqual(events.map((_, i) => `${tenant}:${ACCOUNT}:${i + 1}`));
    for (const event of events) expect(event).toMatchObject({ tenant, account: ACCOUNT });
  }

  async function expectListed(tenant: string): Promise<void> {
    await vi.waitFor(async () => {
      expect((await env.DIRECTORY.getByName(tenant).list(100, undefined)).accounts).toContain(ACCOUNT);
    });
  }

  it("stores its tenant from the object's name when it starts; its events and its listing name that tenant", async () => {
    const tenant = "fixture-by-name";
    const fixture = await loadFixture(tenant);
    const stub = ledgerStub(ACCOUNT, tenant);
    const events = new RecordingQueue(env.EVENTS);
    await publishNow(stub, events);

    expect(await storedTenant(stub)).toBe(tenant);
    expectEventsNamed(eventsOf(events, ACCOUNT), tenant, fixture);
    await expectListed(tenant);
  });

  it("reached without its name, publishes no event and lists nothing until a PUT brings its tenant, then stores it", async () => {
    const tenant = "fixture-nameless";
    // The platform gives an object its name only when it is reached by name (the Worker always
    // does so); an object made with a unique id has none, so the fixture is loaded into one.
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.newUniqueId());
    const fixture = await loadFixture(tenant, undefined, stub);
    expect(await runInDurableObject(stub, (_instance, state) => state.id.name)).toBeUndefined();
    const events = new RecordingQueue(env.EVENTS);

    await publishNow(stub, events, 1);
    // Nothing went out as "-:<account>:<n>", an id another tenant's account of that name would also use.
    expect(eventsOf(events, ACCOUNT)).toEqual([]);
    expect(await storedTenant(stub)).toBeNull();
    expect((await env.DIRECTORY.getByName(tenant).list(100, undefined)).accounts).toEqual([]);

    // The next PUT names the tenant; the account is otherwise unchanged.
    const put = await stub.openAccount({
      account: ACCOUNT,
      tenant,
      interfaceVersion: OBJECT_INTERFACE_VERSION,
      origin: { requestId: "fixture-put", keyId: null },
      input: { currency: fixture.account.currency, overdraft_limit: fixture.account.overdraft_limit },
    });
    expect(put.status).toBe(200);
    expect(await storedTenant(stub)).toBe(tenant);

    await publishNow(stub, events);
    expectEventsNamed(eventsOf(events, ACCOUNT), tenant, fixture);
    await expectListed(tenant);
  });
});

function inLedgerOf<R>(tenant: string, fn: (storage: DurableObjectStorage) => R): Promise<R> {
  return runInDurableObject(ledgerStub(ACCOUNT, tenant), (_instance, state) => fn(state.storage));
}
