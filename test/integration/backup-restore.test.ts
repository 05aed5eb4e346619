import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Fetch } from "../../src/client/onceledger-client.ts";
import type { LedgerEvent } from "../../src/ledger/events.ts";
import { restoreAccount } from "../../scripts/backup/account-restore.ts";
import { restoreCall } from "../../scripts/backup/operator-calls.ts";
import { backupTenant } from "../../scripts/backup/tenant-backup.ts";
import {
  ACME_KEY,
  allEntries,
  BASE_URL,
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import FIXTURE from "../fixtures/account-schema-1.sql?raw";
import { TEST_OPERATOR_KEYS } from "../support/keys.ts";
import { drainEvents, eventsOf, publishEventsTo, RecordingQueue } from "../support/queues.ts";
import {
  getTransfer,
  pendingTransfer,
  redeliver,
  restoreDeliveries,
  settled,
  totalBalance,
  wrapDeliveries,
  type TransferJson,
} from "../support/transfers.ts";
import { failure } from "../../src/contract/outcome.ts";
import { TRANSFER_RETRY_MAX_MS } from "../../src/domain/limits.ts";

/**
 * `npm run backup` and `npm run restore`, their own modules, against the
 * real Worker, real object storage and real local R2: an account with
 * charges, declines, refunds, a settings change, a period archived and gone
 * from the object, a period archived and still in it, and an open period;
 * backed up, its object wiped, restored from the backup and R2. Every key
 * answers as it did, the ledger reads the same, the audit is clean and new
 * money continues the seq. The gap after a backup is closed from the events.
 * Holds come back as they stood: held, captured, voided and expired, from
 * the backup and from the events after it. Transfers come back as they
 * stood at the cut, a pending one delivered and posted once after the
 * restore, and a destination's legs stay applied once.
 */

const worker: Fetch = (url, init) => exports.default.fetch(url, init);
const OPERATOR_KEY = TEST_OPERATOR_KEYS.oncall[0];
const noWait = () => Promise.resolve();

/** A request that was decided under a key, sent again exactly as it was. */
interface Decided {
  readonly path: string;
  readonly method: "POST" | "PUT";
  readonly body: unknown;
  readonly key: string;
}

async function decide(decisions: Decided[], request: Decided, status: number): Promise<Record<string, unknown>> {
  const response = await call(request.path, {
    method: request.method,
    body: request.body,
    idempotencyKey: request.key,
  });
  const body = await json(response);
  expect(response.status, JSON.stringify(body)).toBe(status);
  decisions.push(request);
  return body;
}

/** What a retry of each decided key gets, and what its lookup says: all must be the same after the restore. */
async function answers(account: string, decisions: readonly Decided[]) {
  const out: Record<string, unknown> = {};
  for (const request of decisions) {
    const retry = await call(request.path, { method: request.method, body: request.body, idempotencyKey: request.key });
    const lookup = await call(`/v1/accounts/${account}/idempotency-keys/${encodeURIComponent(request.key)}`);
    out[request.key] = {
      status: retry.status,
      replayed: retry.headers.get("idempotent-replayed"),
      body: await retry.text(),
      lookup: { status: lookup.status, body: await lookup.text() },
    };
  }
  return out;
}

/** Everything the tenants' API shows of the account (its storage bytes aside). */
async function ledgerOf(account: string, charges: readonly string[]) {
  const { storage_bytes: _bytes, ...view } = await json(await call(`/v1/accounts/${account}`));
  const changes = await json(await call(`/v1/accounts/${account}/changes?limit=100`));
  const periods = await json(await call(`/v1/accounts/${account}/periods?limit=100`));
  const chargeViews = [];
  for (const id of charges) chargeViews.push(await json(await call(`/v1/accounts/${account}/charges/${id}`)));
  return { view, changes, periods, entries: await allEntries(account), charges: chargeViews };
}

async function backupLines(account: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of backupTenant({
    baseUrl: `${BASE_URL}/`,
    tenant: "acme",
    tenantKey: ACME_KEY,
    operatorKey: OPERATOR_KEY,
    accounts: [account],
    fetch: worker,
    sleep: noWait,
  })) {
    lines.push(line);
  }
  return lines;
}

function linesOf(lines: readonly string[]): string[] {
  return lines.map((line) => line.replace(/\n$/, ""));
}

function restore(account: string, lines: readonly string[], events?: readonly string[]) {
  return restoreAccount({
    baseUrl: BASE_URL,
    operatorKey: OPERATOR_KEY,
    tenant: "acme",
    account,
    backup: () => linesOf(lines),
    events: events === undefined ? undefined : () => linesOf(events),
    fetch: worker,
    sleep: noWait,
    chunk: 3,
  });
}

/** The loss of the object: every row of it gone, and the instance that held it in memory with it. */
async function wipe(account: string): Promise<void> {
  const stub = ledgerStub(account);
  // A restored account lists itself in its tenant's directory beside the requests: let that finish first.
  for (let wait = 0; wait < 50; wait += 1) {
    const listed = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec<{ listed: number }>("SELECT listed FROM account").toArray(),
    );
    if (listed[0]?.listed !== 0) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await runInDurableObject(stub, (_, state) => state.storage.deleteAll());
  await evictDurableObject(stub);
  await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
}

/** Runs the alarm until every period is archived and gone from the object, the keys' replay window closed first. */
async function archiveAndPrune(account: string): Promise<void> {
  const expire = () =>
    runInDurableObject(ledgerStub(account), (_, state) => {
      state.storage.sql.exec("UPDATE periods SET hot_until_ms = ? WHERE state = 'archived'", Date.now() - 1);
      state.storage.sql.exec("UPDATE keys SET expires_ms = ? WHERE expires_ms > ?", Date.now() - 1, Date.now() - 1);
    });
  await expire();
  for (let run = 0; run < 200; run += 1) {
    await runDurableObjectAlarm(ledgerStub(account));
    const left = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM periods WHERE state = 'closing' OR pruned < 2")
        .one(),
    );
    if (left.n === 0) return;
    await expire();
  }
  throw new Error("the archive did not finish in 200 alarm runs");
}

/** Runs the alarm until every closed period is archived (its keys still replaying, so its rows stay). */
async function archiveOnly(account: string): Promise<void> {
  for (let run = 0; run < 50; run += 1) {
    await runDurableObjectAlarm(ledgerStub(account));
    const closing = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM periods WHERE state = 'closing'").one(),
    );
    if (closing.n === 0) return;
  }
  throw new Error("the archive did not finish in 50 alarm runs");
}

function closeRequest(account: string): Decided {
  return { path: `/v1/accounts/${account}/periods`, method: "POST", body: {}, key: uniqueKey("close") };
}

function charge(account: string, amount: number, prefix = "charge"): Decided {
  return {
    path: `/v1/accounts/${account}/charges`,
    method: "POST",
    body: { amount, currency: "USD" },
    key: uniqueKey(prefix),
  };
}

function refund(account: string, chargeId: string, amount: number): Decided {
  return {
    path: `/v1/accounts/${account}/refunds`,
    method: "POST",
    body: { charge: chargeId, amount },
    key: uniqueKey("refund"),
  };
}

describe("backup and restore of an account object", () => {
  it("rebuilds a wiped account from its backup and R2: every key answers as before, and money continues", async () => {
    const account = await fundedAccount(10_000);
    const decisions: Decided[] = [];
    const charges: string[] = [];

    // Period 1: archived, then gone from the object (its keys expired).
    const first = await decide(decisions, charge(account, 300), 201);
    charges.push(first.id as string);
    await decide(decisions, charge(account, 999_999, "decline"), 402);
    await decide(decisions, refund(account, first.id as string, 100), 201);
    await decide(
      decisions,
      {
        path: `/v1/accounts/${account}`,
        method: "PUT",
        body: { currency: "USD", overdraft_limit: 50 },
        key: uniqueKey("settings"),
      },
      200,
    );
    await decide(decisions, closeRequest(account), 201);
    await archiveAndPrune(account);

    // Period 2: archived, its rows still in the object while its keys replay.
    const second = await decide(decisions, charge(account, 200), 201);
    charges.push(second.id as string);
    await decide(decisions, charge(account, 999_999, "decline"), 402);
    await decide(decisions, refund(account, first.id as string, 50), 201);
    await decide(decisions, closeRequest(account), 201);
    await archiveOnly(account);

    // The open period.
    const third = await decide(decisions, charge(account, 70), 201);
    charges.push(third.id as string);
    await decide(decisions, charge(account, 999_999, "decline"), 402);
    await decide(decisions, refund(account, second.id as string, 20), 201);
    await decide(decisions, { ...charge(account, 1), body: { amount: 1, currency: "EUR" } }, 409);

    const lines = await backupLines(account);
    const records = lines.map((line) => JSON.parse(line) as { type: string });
    expect(records[0]).toMatchObject({
      type: "header",
      format: "onceledger-backup",
      format_version: 1,
      tenant: "acme",
    });
    expect(records.at(-1)).toMatchObject({ type: "trailer", accounts: 1, lines: lines.length - 1 });
    // Period 1's rows left the object: the backup holds neither its keys nor its entries.
    const end = records.find((r) => r.type === "account_end");
    expect(end).toMatchObject({ periods: 2, changes: 3, decisions: 0 });

    const before = { answers: await answers(account, decisions), ledger: await ledgerOf(account, charges) };
    await wipe(account);

    const report = await restore(account, lines);
    expect(report).toMatchObject({ periods: 2, decisions: 0 });
    expect(report.finished).toMatchObject({ entry_count: 7, periods: 2 });

    expect(await answers(account, decisions)).toEqual(before.answers);
    expect(await ledgerOf(account, charges)).toEqual(before.ledger);
    await expectLedgerConsistent(account);

    // New money continues the seq; the archived charge's refunds are still bounded.
    const next = await json(await post(account, "charges", { amount: 5, currency: "USD" }));
    expect(next).toMatchObject({ balance_after: (before.ledger.view.balance as number) - 5 });
    const entries = await allEntries(account);
    expect(entries.at(-1)).toMatchObject({ seq: 8, id: next.id });
    await expectProblem(
      await post(account, "refunds", { charge: first.id, amount: 151 }),
      409,
      "refund_exceeds_charge",
    );
    expect((await post(account, "refunds", { charge: first.id, amount: 150 })).status).toBe(201);

    // The restored object archives and prunes as any other; its keys still answer.
    const later = await answers(account, decisions);
    await decide([], closeRequest(account), 201);
    await archiveAndPrune(account);
    for (const request of decisions) {
      const retry = await call(request.path, {
        method: request.method,
        body: request.body,
        idempotencyKey: request.key,
      });
      const was = later[request.key] as { status: number; body: string };
      if ((JSON.parse(was.body) as { code?: string }).code === "idempotency_key_expired") {
        expect(await retry.text()).toBe(was.body);
      } else {
        expect(await json(retry)).toMatchObject({ code: "idempotency_key_expired", original_status: was.status });
      }
    }
    await expectLedgerConsistent(account);
  });

  it("closes the gap after the backup from the events: entries and changes come back, declines do not", async () => {
    const account = await fundedAccount(1_000);
    const events = new RecordingQueue(env.EVENTS);
    await publishEventsTo(account, events.binding);
    const decisions: Decided[] = [];
    await decide(decisions, charge(account, 100), 201);
    await decide(decisions, closeRequest(account), 201);
    await archiveAndPrune(account);
    await decide(decisions, charge(account, 10), 201);
    const lines = await backupLines(account);

    // After the backup: a charge, a refund, a settings change, a decline. Then the object is lost.
    const after: Decided[] = [];
    const late = await decide(after, charge(account, 40), 201);
    await decide(after, refund(account, late.id as string, 15), 201);
    const settings: Decided = {
      path: `/v1/accounts/${account}`,
      method: "PUT",
      body: { currency: "USD", overdraft_limit: 25 },
      key: uniqueKey("settings"),
    };
    await decide(after, settings, 200);
    const decline: Decided = charge(account, 999_999, "decline");
    await decide(after, decline, 402);
    await drainEvents(account, events);
    const published = eventsOf(events, account).map((event: LedgerEvent) => JSON.stringify(event));
    const ledger = await ledgerOf(account, [late.id as string]);
    await wipe(account);

    // Without the events, the restore ends where the backup did.
    const partial = await restore(account, lines);
    expect(partial.finished).toMatchObject({ entry_count: 3 });
    await wipe(account);

    const report = await restore(account, lines, [...published, ...published]);
    expect(report.finished).toMatchObject({ entry_count: 5, version: 2 });
    expect(await ledgerOf(account, [late.id as string])).toEqual(ledger);
    await expectLedgerConsistent(account);

    // Each key from the events is final: 409 naming what it did, never a second entry.
    for (const request of after.slice(0, 3)) {
      const retry = await call(request.path, {
        method: request.method,
        body: request.body,
        idempotencyKey: request.key,
      });
      expect(retry.status).toBe(409);
      expect(await json(retry)).toMatchObject({ code: "idempotency_key_expired" });
    }
    expect(
      await json(await call(`/v1/accounts/${account}/idempotency-keys/${late.idempotency_key as string}`)),
    ).toMatchObject({
      state: "expired",
      original_status: 201,
      entry: { id: late.id },
    });
    // The decline after the backup is the residual risk: no event carries it, so it is decided afresh.
    const again = await call(decline.path, { method: "POST", body: decline.body, idempotencyKey: decline.key });
    expect(again.status).toBe(402);
    expect(again.headers.get("idempotent-replayed")).toBe("false");
    // Before the backup: still final.
    const early = decisions[0] as Decided;
    await expectProblem(
      await call(early.path, { method: "POST", body: early.body, idempotencyKey: early.key }),
      409,
      "idempotency_key_expired",
    );
  });

  it("takes a period closed and archived after the backup from R2, declines included, and refuses one cut off", async () => {
    const account = await fundedAccount(1_000);
    const decisions: Decided[] = [];
    await decide(decisions, charge(account, 100), 201);
    await decide(decisions, closeRequest(account), 201);
    await archiveAndPrune(account);
    await decide(decisions, charge(account, 10), 201);
    const lines = await backupLines(account);

    // After the backup: money, a decline and a close, archived before the loss (its keys still replaying).
    await decide(decisions, charge(account, 40), 201);
    await decide(decisions, charge(account, 999_999, "decline"), 402);
    await decide([], closeRequest(account), 201);
    await archiveOnly(account);
    const before = await answers(account, decisions);
    const ledger = await ledgerOf(account, []);
    await wipe(account);

    // Its keys object cut off: R2 does not hold period 2 whole and the backup does not list it.
    const keysObject = `acme/${account}/periods/0000000002/keys-000000.jsonl`;
    const kept = await env.ARCHIVE.get(keysObject);
    const bytes = await (kept as R2ObjectBody).arrayBuffer();
    await env.ARCHIVE.delete(keysObject);
    await expect(restore(account, lines)).rejects.toThrow(/period 2's objects in R2 are not whole/);
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    await env.ARCHIVE.put(keysObject, bytes);

    const report = await restore(account, lines);
    expect(report).toMatchObject({ periods: 2, entries: 0 });
    const after = await answers(account, decisions);
    for (const request of decisions) {
      const was = before[request.key] as { status: number; body: string };
      const now = after[request.key] as { status: number; body: string };
      // Answered from the archive now: the decision it names is the one it replayed before.
      expect(now.status).toBe(409);
      const original =
        was.status === 409 ? (JSON.parse(was.body) as { original_status: number }).original_status : was.status;
      expect(JSON.parse(now.body)).toMatchObject({ code: "idempotency_key_expired", original_status: original });
    }
    const { periods, ...rest } = await ledgerOf(account, []);
    const { periods: periodsBefore, ...restBefore } = ledger;
    expect(rest).toEqual(restBefore);
    expect((periods as { data: Record<string, unknown>[] }).data.map(({ created: _c, ...p }) => p)).toEqual(
      (periodsBefore as { data: Record<string, unknown>[] }).data.map(({ created: _c, ...p }) => p),
    );
    await expectLedgerConsistent(account);
    const next = await json(await post(account, "charges", { amount: 1, currency: "USD" }));
    expect((await allEntries(account)).at(-1)).toMatchObject({ seq: 5, id: next.id });
  });

  it("writes only into an object with no account, refuses a PUT meanwhile, and begins again after a failed attempt", async () => {
    const account = await fundedAccount(500);
    await post(account, "charges", { amount: 5, currency: "USD" });
    const lines = await backupLines(account);
    const source = { baseUrl: BASE_URL, operatorKey: OPERATOR_KEY, tenant: "acme", fetch: worker, sleep: noWait };

    // The account exists: nothing is written.
    await expect(restore(account, lines)).rejects.toThrow(/restore_refused: .*the account exists/);
    expect((await json(await call(`/v1/accounts/${account}`))).balance).toBe(495);

    await wipe(account);
    const [, accountLine] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    await restoreCall(source, account, {
      step: "begin",
      tenant: "acme",
      account,
      state: (accountLine as { state: never }).state,
      changes: [],
      keys_from: 1,
    });
    // Until the restore finishes the account reads as never opened, and cannot be opened afresh.
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    await expectProblem(await post(account, "charges", { amount: 1, currency: "USD" }), 404, "account_not_found");
    const put = await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD" } });
    expect(put.status).toBe(500);
    await expect(restoreCall(source, account, { step: "finish" })).rejects.toThrow(/restore_refused/);

    // The script begins again, from nothing.
    await restore(account, lines);
    expect(await json(await call(`/v1/accounts/${account}`))).toMatchObject({ balance: 495, entry_count: 2 });
    await expectLedgerConsistent(account);
  });

  it("refuses a backup cut short, and operator routes refuse a tenant's key", async () => {
    const account = await fundedAccount(100);
    const lines = await backupLines(account);
    await wipe(account);
    await expect(restore(account, lines.slice(0, -1))).rejects.toThrow(/no trailer/);
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    const refused = await call(`/v1/operator/tenants/acme/accounts/${account}/backup/state`, { key: ACME_KEY });
    await expectProblem(refused, 401, "unauthorized");
    await restore(account, lines);
    expect((await json(await call(`/v1/accounts/${account}`))).balance).toBe(100);
  });

  it("restores an account from before schema 7: its decisions, and its old entries that never leave the object", async () => {
    // test/fixtures/account-schema-1.sql, as the release before decisions were kept stored it; migrated when reached.
    const account = /^-- @request PUT \/v1\/accounts\/([\w-]+) /m.exec(FIXTURE)?.[1] ?? "";
    await runInDurableObject(ledgerStub(account), (_, state) => state.storage.sql.exec(FIXTURE));
    await evictDurableObject(ledgerStub(account));
    const decisions: Decided[] = [...FIXTURE.matchAll(/^-- @request POST (\S+) (\S+) (\{.*\}) -> \d+.*$/gm)].map(
      ([, path, key, body]) => ({
        path: path as string,
        method: "POST",
        body: JSON.parse(body as string),
        key: key as string,
      }),
    );
    expect(decisions.map((d) => d.key)).toContain("legacy-declined-1");
    const charges = ["ch_f9c7d983c6b5464687bcc7180ea77e43"];
    const next = await decide(decisions, charge(account, 100), 201);
    charges.push(next.id as string);
    await decide(decisions, charge(account, 999_999, "decline"), 402);
    await decide(decisions, closeRequest(account), 201);
    await archiveAndPrune(account);
    await decide(decisions, refund(account, charges[0] as string, 300), 201);

    const lines = await backupLines(account);
    const end = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((r) => r.type === "account_end");
    expect(end?.decisions).toBeGreaterThan(0);
    const before = { answers: await answers(account, decisions), ledger: await ledgerOf(account, charges) };
    await wipe(account);

    const report = await restore(account, lines);
    expect(report).toMatchObject({ periods: 1, decisions: end?.decisions });
    expect(await answers(account, decisions)).toEqual(before.answers);
    expect(await ledgerOf(account, charges)).toEqual(before.ledger);
    await expectLedgerConsistent(account);
    // The old charge's refunds are still bounded by what it has left: 2,500 - 500 - 300.
    await expectProblem(
      await post(account, "refunds", { charge: charges[0], amount: 1701 }),
      409,
      "refund_exceeds_charge",
    );
    expect((await post(account, "refunds", { charge: charges[0], amount: 1700 })).status).toBe(201);
    await expectLedgerConsistent(account);
  });
});

interface HoldJson {
  readonly id: string;
  readonly state: string;
  readonly expires: string;
  readonly idempotency_key: string;
}

function hold(account: string, amount: number, expiresIn = 3600): Decided {
  return {
    path: `/v1/accounts/${account}/holds`,
    method: "POST",
    body: { amount, currency: "USD", expires_in: expiresIn, metadata: { order: `o-${amount}` } },
    key: uniqueKey("hold"),
  };
}

function capture(account: string, holdId: string, amount?: number): Decided {
  return {
    path: `/v1/accounts/${account}/holds/${holdId}/captures`,
    method: "POST",
    body: amount === undefined ? {} : { amount },
    key: uniqueKey("capture"),
  };
}

function voidHold(account: string, holdId: string): Decided {
  return { path: `/v1/accounts/${account}/holds/${holdId}/voids`, method: "POST", body: {}, key: uniqueKey("void") };
}

/** The account, its entries and every hold as the tenants' API shows them (listed, and each read alone). */
async function holdsLedgerOf(account: string, holds: readonly string[]) {
  const { storage_bytes: _bytes, ...view } = await json(await call(`/v1/accounts/${account}`));
  const listed = await json(await call(`/v1/accounts/${account}/holds?limit=100`));
  const each = [];
  for (const id of holds) each.push(await json(await call(`/v1/accounts/${account}/holds/${id}`)));
  return { view, listed, each, entries: await allEntries(account) };
}

function readableFrom(account: string): Promise<number> {
  return runInDurableObject(
    ledgerStub(account),
    (_, state) =>
      state.storage.sql.exec<{ readable_from: number }>("SELECT readable_from FROM schema_version").one().readable_from,
  );
}

/** The backup's lines with `edit` applied to each record of `type`; the trailer's count still holds. */
function edited(lines: readonly string[], type: string, edit: (record: Record<string, unknown>) => void): string[] {
  return lines.map((line) => {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (record.type !== type) return line;
    edit(record);
    return `${JSON.stringify(record)}\n`;
  });
}

/** Records the events the account publishes from now on (the restored object's alarm may run at once). */
async function recordEvents(account: string): Promise<RecordingQueue> {
  const events = new RecordingQueue(env.EVENTS);
  await publishEventsTo(account, events.binding);
  return events;
}

/** The events recorded since recordEvents, once the alarm has published everything. */
async function recorded(account: string, events: RecordingQueue): Promise<LedgerEvent[]> {
  await drainEvents(account, events);
  return eventsOf(events, account);
}

describe("backup and restore of an account's holds", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("brings back held, captured, voided and expired holds as they were; a restored hold is captured once", async () => {
    const account = await fundedAccount(10_000);
    const events = new RecordingQueue(env.EVENTS);
    await publishEventsTo(account, events.binding);
    const decisions: Decided[] = [];
    const holds: string[] = [];
    const place = async (amount: number, expiresIn?: number) => {
      const placed = (await decide(decisions, hold(account, amount, expiresIn), 201)) as unknown as HoldJson;
      holds.push(placed.id);
      return placed;
    };

    // Period 1, archived and gone from the object: a hold voided.
    await decide(decisions, voidHold(account, (await place(200)).id), 200);
    await decide(decisions, closeRequest(account), 201);
    await archiveAndPrune(account);

    // The open period: captures, a hold left held, one that expires, money.
    const captured = await place(500);
    const entry = await decide(decisions, capture(account, captured.id, 300), 201);
    const held = await place(700);
    const expiring = await place(100, 60);
    const second = await place(50);
    await decide(decisions, capture(account, second.id), 201);
    await decide(decisions, charge(account, 1_000), 201);
    await decide(decisions, refund(account, entry.id as string, 100), 201);
    await decide(decisions, charge(account, 9_000, "decline"), 402);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(expiring.expires));
    expect(await runDurableObjectAlarm(ledgerStub(account))).toBe(true);
    vi.useRealTimers();
    await drainEvents(account, events);
    const published = eventsOf(events, account);

    const lines = await backupLines(account);
    const end = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((r) => r.type === "account_end");
    // Every change of state: five placed, two captured, one voided, one expired.
    expect(end).toMatchObject({ holds: 9 });
    const before = {
      answers: await answers(account, decisions),
      ledger: await holdsLedgerOf(account, holds),
    };
    expect(before.ledger.view).toMatchObject({ held: 700 });
    expect(before.ledger.each.map((h) => h.state)).toEqual(["voided", "captured", "held", "expired", "captured"]);
    await wipe(account);

    const report = await restore(account, lines);
    const later = await recordEvents(account);
    expect(report).toMatchObject({ holds: 9 });
    expect(report.finished).toMatchObject({ held: 700 });
    expect(await holdsLedgerOf(account, holds)).toEqual(before.ledger);
    expect(await answers(account, decisions)).toEqual(before.answers);
    expect(await readableFrom(account)).toBe(9);
    await expectLedgerConsistent(account);

    // The held hold is held still: captured once, then final; its funds are spendable only once released.
    expect(before.ledger.view).toMatchObject({ balance: 8_750, available: 8_050 });
    await expectProblem(await post(account, "charges", { amount: 8_051, currency: "USD" }), 402, "insufficient_funds");
    const taken = await decide([], capture(account, held.id, 600), 201);
    expect(taken).toMatchObject({ type: "capture", amount: -600, hold: held.id });
    await expectProblem(
      await call(capture(account, held.id).path, { method: "POST", body: {}, idempotencyKey: uniqueKey() }),
      409,
      "hold_captured",
    );
    await expectProblem(
      await call(voidHold(account, held.id).path, { method: "POST", body: {}, idempotencyKey: uniqueKey() }),
      409,
      "hold_captured",
    );
    expect(await json(await call(`/v1/accounts/${account}`))).toMatchObject({ held: 0 });
    await expectLedgerConsistent(account);

    // Its events go on from where they were: the capture's entry, then its hold, numbered on without a gap.
    const after = await recorded(account, later);
    const last = published.at(-1)?.event_seq ?? 0;
    expect(after.map((event) => [event.event_seq, event.type])).toEqual([
      [last + 1, "entry"],
      [last + 2, "hold"],
    ]);
    expect(after[1]?.data).toMatchObject({ id: held.id, state: "captured", captured: 600 });
  });

  it("places, captures, voids and keeps holds from the events after the backup, as the account had them", async () => {
    const account = await fundedAccount(1_000);
    const events = new RecordingQueue(env.EVENTS);
    await publishEventsTo(account, events.binding);
    const early = (await decide([], hold(account, 300), 201)) as unknown as HoldJson;
    const lines = await backupLines(account);

    // After the backup: a hold placed and captured in part, the earlier one voided, another left held, money.
    const holds = [early.id];
    const late = (await decide([], hold(account, 400), 201)) as unknown as HoldJson;
    holds.push(late.id);
    const entry = await decide([], capture(account, late.id, 250), 201);
    await decide([], voidHold(account, early.id), 200);
    const kept: Decided = hold(account, 150);
    const keptHold = (await decide([], kept, 201)) as unknown as HoldJson;
    holds.push(keptHold.id);
    await decide([], charge(account, 100), 201);
    await drainEvents(account, events);
    const published = eventsOf(events, account);
    const ledger = await holdsLedgerOf(account, holds);
    expect(ledger.view).toMatchObject({ balance: 650, held: 150, available: 500 });
    await wipe(account);

    // An event missing from the file (the capture's hold change) is refused, not skipped.
    const lacking = published.filter(
      (event) => !(event.type === "hold" && (event.data as HoldJson).state === "captured"),
    );
    await expect(
      restore(
        account,
        lines,
        lacking.map((event) => JSON.stringify(event)),
      ),
    ).rejects.toThrow(/409 restore_refused: .*the events lack some/);
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");

    const file = published.map((event) => JSON.stringify(event));
    const report = await restore(account, lines, [...file, ...file]);
    const later = await recordEvents(account);
    // After the backup's cut: two holds placed, one captured (its entry too), one voided, and the charge.
    expect(report).toMatchObject({ holds: 1, events: 6 });
    expect(report.finished).toMatchObject({ held: 150, entry_count: 3 });
    expect(await holdsLedgerOf(account, holds)).toEqual(ledger);
    await expectLedgerConsistent(account);
    expect(entry).toMatchObject({ hold: late.id });

    // A hold's key known only from its event is final: 409, never a second hold.
    const retry = await call(kept.path, { method: "POST", body: kept.body, idempotencyKey: kept.key });
    expect(await json(retry)).toMatchObject({ code: "idempotency_key_expired", original_status: 201 });
    expect(retry.status).toBe(409);
    // The kept hold releases its funds once.
    await decide([], voidHold(account, keptHold.id), 200);
    await expectProblem(
      await call(capture(account, keptHold.id).path, { method: "POST", body: {}, idempotencyKey: uniqueKey() }),
      409,
      "hold_voided",
    );
    expect(await json(await call(`/v1/accounts/${account}`))).toMatchObject({ held: 0, available: 650 });
    // From the backup's event cursor on, the same events as before, then the void's, without a gap.
    const after = await recorded(account, later);
    const last = published.at(-1)?.event_seq ?? 0;
    const first = after[0]?.event_seq ?? 0;
    expect(after.map((event) => event.event_seq)).toEqual(
      Array.from({ length: last + 2 - first }, (_, i) => first + i),
    );
    expect(after.slice(0, -1)).toEqual(published.filter((event) => event.event_seq >= first));
    expect(after.at(-1)).toMatchObject({ type: "hold", data: { id: keptHold.id, state: "voided" } });
    await expectLedgerConsistent(account);
  });

  it("refuses a corrupted backup hold with 409 restore_refused, and reads a backup taken before holds", async () => {
    const account = await fundedAccount(1_000);
    const kept = (await decide([], hold(account, 300), 201)) as unknown as HoldJson;
    const captured = (await decide([], hold(account, 200), 201)) as unknown as HoldJson;
    await decide([], capture(account, captured.id, 150), 201);
    const lines = await backupLines(account);
    const before = await holdsLedgerOf(account, [kept.id, captured.id]);
    await wipe(account);

    const corrupted: Array<[string[], RegExp]> = [
      // More set aside than the backup's state says is held.
      [
        edited(lines, "hold", (r) => {
          const change = r.hold as { seq: number; hold: { amount: number } };
          if (change.seq === 1) change.hold.amount = 301;
        }),
        /set aside 301 at the backup's cut; the backup's state says 300/,
      ],
      // A hold id whose seq is not the hold's.
      [
        edited(lines, "hold", (r) => {
          const change = r.hold as { hold: { id: string } };
          if (change.hold.id === kept.id) change.hold.id = `${kept.id.slice(0, -1)}9`;
        }),
        /is of hold 1, whose id is/,
      ],
      // A capture that names another entry than its own.
      [
        edited(lines, "hold", (r) => {
          const change = r.hold as { state: string; hold: { capture: string | null } };
          if (change.state === "captured") change.hold.capture = before.entries[0]?.id ?? "";
        }),
        /not a capture at entry 2/,
      ],
      // A state no hold is in.
      [
        edited(lines, "hold", (r) => {
          const change = r.hold as { state: string; hold: { state: string } };
          if (change.state === "captured") {
            change.state = "spent";
            change.hold.state = "spent";
          }
        }),
        /is a change to spent/,
      ],
    ];
    for (const [file, reason] of corrupted) {
      await expect(restore(account, file)).rejects.toThrow(/409 restore_refused: /);
      await expect(restore(account, file)).rejects.toThrow(reason);
      await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    }
    // A backup whose hold lines were dropped is refused at finish, by the cut's counts.
    await expect(
      restore(
        account,
        lines
          .filter((line) => !line.startsWith('{"type":"hold"'))
          .map((line, i, all) =>
            i === all.length - 1 ? `${JSON.stringify({ ...JSON.parse(line), lines: all.length - 1 })}\n` : line,
          )
          .map((line) =>
            line.includes('"type":"account_end"') ? `${JSON.stringify({ ...JSON.parse(line), holds: 0 })}\n` : line,
          ),
      ),
    ).rejects.toThrow(/the holds restored up to the backup's cut are 0 holds and 0 changes; it counts 2 and 3/);

    await restore(account, lines);
    expect(await holdsLedgerOf(account, [kept.id, captured.id])).toEqual(before);
    await expectLedgerConsistent(account);

    // A backup written before holds (no hold counts, no hold cursor) of an account that never held still restores.
    const plain = await fundedAccount(500);
    await post(plain, "charges", { amount: 5, currency: "USD" });
    const old = edited(
      edited(await backupLines(plain), "account", (r) => {
        const state = r.state as { holds?: unknown; event_cursor: { hold_change?: unknown } };
        delete state.holds;
        delete state.event_cursor.hold_change;
        delete (state as { transfers?: unknown }).transfers;
      }),
      "account_end",
      (r) => {
        delete r.holds;
        delete r.transfers;
        delete r.refusals;
      },
    );
    await wipe(plain);
    await restore(plain, old);
    expect(await json(await call(`/v1/accounts/${plain}`))).toMatchObject({ balance: 495, held: 0 });
    expect(await readableFrom(plain)).toBe(8);
    await expectLedgerConsistent(plain);
  });
});

/** The account, each transfer and the entries as the tenants' API shows them. */
async function transfersLedgerOf(account: string, transfers: readonly string[]) {
  const { storage_bytes: _bytes, ...view } = await json(await call(`/v1/accounts/${account}`));
  const each: TransferJson[] = [];
  for (const id of transfers) each.push(await getTransfer(account, id));
  return { view, each, entries: await allEntries(account) };
}

/** Deliveries that get no final answer: the transfer stays pending. */
const overloaded = () => Promise.resolve(failure({ code: "overloaded" }));

/**
 * A restore whose object delivers no transfer until the test lets it: the
 * deliveries are stopped just before finish, which arms the alarm at once,
 * so the object can be read as the restore left it.
 */
function restoreUndelivered(account: string, lines: readonly string[], events?: readonly string[]) {
  const fetch: Fetch = async (url, init) => {
    if (typeof init.body === "string" && init.body.startsWith('{"step":"finish"')) {
      await wrapDeliveries(account, overloaded);
    }
    return worker(url, init);
  };
  return restoreAccount({
    baseUrl: BASE_URL,
    operatorKey: OPERATOR_KEY,
    tenant: "acme",
    account,
    backup: () => linesOf(lines),
    events: events === undefined ? undefined : () => linesOf(events),
    fetch,
    sleep: noWait,
    chunk: 2,
  });
}

/** An account with a posted, a voided and a pending transfer, the pending one's leg applied at its destination, its answer lost. */
async function transferring() {
  const from = await fundedAccount(1_000);
  const to = await fundedAccount(0);
  const posted = await pendingTransfer(from, to, 100);
  expect(await settled(from, posted.id)).toMatchObject({ state: "posted" });
  const voided = await pendingTransfer(from, uniqueAccount(), 50);
  expect(await settled(from, voided.id)).toMatchObject({ state: "voided", reason: "account_not_found" });
  await wrapDeliveries(from, async (_request, real) => {
    await real();
    throw new Error("injected: the answer was lost");
  });
  const pending = await pendingTransfer(from, to, 300);
  expect(await settled(from, pending.id, 1)).toMatchObject({ state: "pending" });
  expect(await getAccount(to)).toMatchObject({ balance: 400 });
  return { from, to, ids: [posted.id, voided.id, pending.id], pending };
}

describe("backup and restore of an account's transfers", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("brings back pending, posted and voided transfers; the pending one is delivered and posted once after it", async () => {
    const { from, to, ids, pending } = await transferring();
    const lines = await backupLines(from);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.find((r) => r.type === "account_end")).toMatchObject({ transfers: 3, refusals: 0 });
    expect(records.find((r) => r.type === "account")).toMatchObject({
      state: { transfers: { count: 3, held: 300, refusals: 0 } },
    });
    const before = await transfersLedgerOf(from, ids);
    expect(before.view).toMatchObject({ balance: 900, held: 300, available: 600 });
    expect(before.each.map((t) => t.state)).toEqual(["posted", "voided", "pending"]);
    await wipe(from);

    const report = await restoreUndelivered(from, lines);
    expect(report).toMatchObject({ transfers: 3, refusals: 0 });
    expect(report.finished).toMatchObject({ held: 300, transfers: 3 });
    expect(await transfersLedgerOf(from, ids)).toEqual(before);
    expect(await readableFrom(from)).toBe(10);
    await expectLedgerConsistent(from);
    await expectProblem(await post(from, "charges", { amount: 601, currency: "USD" }), 402, "insufficient_funds");

    // Its destination applied the leg before the loss: delivered again, it is answered as applied, and posted once.
    await restoreDeliveries(from);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + TRANSFER_RETRY_MAX_MS);
    expect(await settled(from, pending.id)).toMatchObject({ state: "posted" });
    expect(await getAccount(from)).toMatchObject({ balance: 600, held: 0, available: 600 });
    expect(await getAccount(to)).toMatchObject({ balance: 400 });
    const legs = (account: string) =>
      allEntries(account).then((entries) =>
        entries.filter((entry) => (entry as { transfer?: string }).transfer === pending.id),
      );
    expect((await legs(from)).map((entry) => entry.type)).toEqual(["transfer_out"]);
    expect((await legs(to)).map((entry) => entry.type)).toEqual(["transfer_in"]);
    expect(await totalBalance([from, to])).toBe(1_000);
    await expectLedgerConsistent(from);
    await expectLedgerConsistent(to);
  });

  it("restores a destination's legs and refusals: a leg sent again is still applied once, or still refused", async () => {
    const from = await fundedAccount(1_000);
    const to = await fundedAccount(0);
    const applied = await pendingTransfer(from, to, 200);
    expect(await settled(from, applied.id)).toMatchObject({ state: "posted" });
    // A leg refused while its account was not opened, then the account opened.
    const late = uniqueAccount();
    const refused = await pendingTransfer(from, late, 70);
    expect(await settled(from, refused.id)).toMatchObject({ state: "voided", reason: "account_not_found" });
    await openAccount(late);

    for (const account of [to, late]) {
      const lines = await backupLines(account);
      const before = await transfersLedgerOf(account, []);
      await wipe(account);
      const report = await restore(account, lines);
      expect(report).toMatchObject({ transfers: 0, refusals: account === late ? 1 : 0 });
      expect(await transfersLedgerOf(account, [])).toEqual(before);
      await expectLedgerConsistent(account);
    }
    expect(await readableFrom(to)).toBe(10);

    const again = await redeliver(from, to, applied.id);
    expect(again.status).toBe(201);
    expect(JSON.parse(again.body)).toMatchObject({ type: "transfer_in", amount: 200, transfer: applied.id });
    expect(await getAccount(to)).toMatchObject({ balance: 200, entry_count: 1 });
    const still = await redeliver(from, late, refused.id);
    expect(still).toMatchObject({ status: 404 });
    expect(await getAccount(late)).toMatchObject({ balance: 0, entry_count: 0 });
  });

  it("closes the gap from the events: a transfer posted after the backup is posted, and its leg stays applied", async () => {
    const from = await fundedAccount(1_000);
    const to = await fundedAccount(0);
    const queues = { from: await recordEvents(from), to: await recordEvents(to) };
    await wrapDeliveries(from, overloaded);
    const pending = await pendingTransfer(from, to, 250);
    const lines = { from: await backupLines(from), to: await backupLines(to) };

    // After the backups: the transfer is delivered and posted. Then both objects are lost.
    await restoreDeliveries(from);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + TRANSFER_RETRY_MAX_MS);
    expect(await settled(from, pending.id)).toMatchObject({ state: "posted" });
    vi.useRealTimers();
    const events = {
      from: (await recorded(from, queues.from)).map((event) => JSON.stringify(event)),
      to: (await recorded(to, queues.to)).map((event) => JSON.stringify(event)),
    };
    const before = { from: await transfersLedgerOf(from, [pending.id]), to: await transfersLedgerOf(to, []) };
    await wipe(from);
    await wipe(to);

    // The transfer_out entry posts the transfer the backup holds pending: it is not delivered again.
    await restoreUndelivered(from, lines.from, events.from);
    expect(await transfersLedgerOf(from, [pending.id])).toEqual(before.from);
    expect(before.from.view).toMatchObject({ balance: 750, held: 0 });
    await restore(to, lines.to, events.to);
    expect(await transfersLedgerOf(to, [])).toEqual(before.to);
    expect(await readableFrom(to)).toBe(10);
    await expectLedgerConsistent(from);
    await expectLedgerConsistent(to);

    // The leg known only from its event is final: sent again, it is answered as applied, never twice. (Its
    // key expired a millisecond after the leg, whose time the clock moved forward above: move it there again.)
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 2 * TRANSFER_RETRY_MAX_MS);
    const again = await redeliver(from, to, pending.id);
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body)).toMatchObject({ code: "idempotency_key_expired", original_status: 201 });
    expect(await totalBalance([from, to])).toBe(1_000);
  });

  it("refuses a corrupted backup transfer with 409 restore_refused, and one whose transfers were dropped", async () => {
    const { from, ids } = await transferring();
    const lines = await backupLines(from);
    const before = await transfersLedgerOf(from, ids);
    const credit = before.entries[0]?.id ?? "";
    await wipe(from);

    const transferLine = (edit: (transfer: Record<string, unknown>) => void) =>
      edited(lines, "transfer", (r) => edit(r.transfer as Record<string, unknown>));
    const corrupted: Array<[string[], RegExp]> = [
      // An id of another kind of row.
      [
        transferLine((t) => {
          if (t.seq === 1) t.id = `ho_${(t.id as string).slice(3)}`;
        }),
        /transfer 1 has id ho_.*, not a transfer id of seq 1/,
      ],
      // A state no transfer is in.
      [
        transferLine((t) => {
          if (t.seq === 2) t.state = "spent";
        }),
        /transfer 2 is in state spent/,
      ],
      // More set aside than the backup's state says.
      [
        transferLine((t) => {
          if (t.seq === 3) t.amount = 301;
        }),
        /the transfers restored pending set aside 301; the backup's state says 300/,
      ],
      // A posted transfer naming another entry than its transfer_out.
      [
        transferLine((t) => {
          if (t.seq === 1) t.entry = credit;
        }),
        /transfer 1 was posted as .*, not a transfer_out entry/,
      ],
      // A posted transfer shown pending, though its settlement is among the backup's keys.
      [
        transferLine((t) => {
          if (t.seq === 1) Object.assign(t, { state: "pending", resolved: null, entry: null });
        }),
        /transfer 1 is pending, yet it was settled/,
      ],
    ];
    for (const [file, reason] of corrupted) {
      await expect(restore(from, file)).rejects.toThrow(/409 restore_refused: /);
      await expect(restore(from, file)).rejects.toThrow(reason);
      await expectProblem(await call(`/v1/accounts/${from}`), 404, "account_not_found");
    }
    // A backup whose transfer lines were dropped is refused at finish, by the cut's count.
    const dropped = edited(
      lines.filter((line) => !line.startsWith('{"type":"transfer"')),
      "account_end",
      (r) => {
        r.transfers = 0;
      },
    );
    const trailer = JSON.parse(dropped.at(-1) ?? "{}") as Record<string, unknown>;
    dropped[dropped.length - 1] = `${JSON.stringify({ ...trailer, lines: dropped.length - 1 })}\n`;
    await expect(restore(from, dropped)).rejects.toThrow(
      /the restored transfers end at 0; the backup's cut counts 3: the backup lacks some/,
    );

    await restoreUndelivered(from, lines);
    expect(await transfersLedgerOf(from, ids)).toEqual(before);
    await expectLedgerConsistent(from);
  });
});
