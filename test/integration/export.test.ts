import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Fetch } from "../../src/client/onceledger-client.ts";
import { MAX_PAGE_SIZE } from "../../src/domain/limits.ts";
import { sha256Hex } from "../../src/lib/sha256.ts";
import FIXTURE from "../fixtures/account-schema-1.sql?raw";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, ExportError, exportLedger } from "../../scripts/export/ledger-export.ts";
import {
  ACME_KEY,
  allEntries,
  BASE_URL,
  call,
  expectLedgerConsistent,
  expectProblem,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";

/** `npm run export`'s module against the real Worker: the snapshot it writes, and the checks that refuse a bad one. */

const worker: Fetch = (url, init) => exports.default.fetch(url, init);

type Line = Record<string, unknown> & { type: string };

/** Every line the export yields, and the error it ended with (null if it finished). */
async function runExport(account: string, fetch: Fetch = worker) {
  const lines: string[] = [];
  let error: unknown = null;
  try {
    for await (const line of exportLedger({ baseUrl: `${BASE_URL}/`, apiKey: ACME_KEY, account, fetch })) {
      lines.push(line);
    }
  } catch (caught) {
    error = caught;
  }
  return { lines, records: lines.map((line) => JSON.parse(line) as Line), error };
}

async function changesOf(account: string) {
  const response = await call(`/v1/accounts/${account}/changes?limit=${MAX_PAGE_SIZE}`);
  expect(response.status).toBe(200);
  return (await json<{ data: unknown[]; has_more: boolean }>(response)).data;
}

function setOverdraftLimit(account: string, limit: number) {
  return call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD", overdraft_limit: limit } });
}

/** Credits `count` amounts of 1, 2, 3... through the batch endpoint. */
async function batchCredits(account: string, count: number) {
  const operations = Array.from({ length: count }, (_, i) => ({
    type: "credit",
    idempotency_key: uniqueKey("export"),
    amount: i + 1,
    currency: "USD",
  }));
  const response = await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } });
  expect(response.status).toBe(200);
  const { results } = await json<{ results: { status: number }[] }>(response);
  expect(results.map((result) => result.status)).toEqual(operations.map(() => 201));
}

/** An account with credits, charges, a refund, a declined charge and an overdraft-limit change. */
async function busyAccount() {
  const account = uniqueAccount("export");
  await openAccount(account);
  expect((await post(account, "credits", { amount: 1000, currency: "USD" })).status).toBe(201);
  const charged = await post(account, "charges", { amount: 300, currency: "USD", metadata: { order: "o-1" } });
  expect(charged.status).toBe(201);
  const charge = await json<{ id: string }>(charged);
  expect((await post(account, "refunds", { charge: charge.id, amount: 100 })).status).toBe(201);
  expect((await post(account, "charges", { amount: 5000, currency: "USD" })).status).toBe(402);
  expect((await setOverdraftLimit(account, 500)).status).toBe(200);
  expect(
    (await post(account, "charges", { amount: 1200, currency: "USD", description: "into overdraft" })).status,
  ).toBe(201);
  return account;
}

/** A transport that rewrites the JSON body of the first answer whose URL matches `pattern`. */
function tampering(pattern: RegExp, rewrite: (body: Record<string, unknown>) => unknown): Fetch {
  let done = false;
  return async (url, init) => {
    const response = await worker(url, init);
    if (done || !pattern.test(new URL(url).pathname)) return response;
    done = true;
    const body = JSON.stringify(rewrite(await json(response)));
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

function pageData(body: Record<string, unknown>): Record<string, unknown>[] {
  return body.data as Record<string, unknown>[];
}

/**
 * The account test/fixtures/account-schema-1.sql holds, as the previous release wrote it (before
 * settings changes were recorded), and what that release answered for it afterwards.
 */
const LEGACY_ACCOUNT = /^-- @request PUT \/v1\/accounts\/([\w-]+) /m.exec(FIXTURE)?.[1] ?? "";
const LEGACY_ANSWER = JSON.parse(
  new RegExp(`^-- @answer GET /v1/accounts/${LEGACY_ACCOUNT} -> 200 (.*)$`, "m").exec(FIXTURE)?.[1] ?? "null",
) as { id: string; balance: number; overdraft_limit: number; entry_count: number };

/**
 * Loads the fixture into the acme tenant's object for its account, which nothing has reached yet,
 * and evicts it, so the next request migrates it as a deployment would (as object-schema-fixture
 * does; storage is per test file, so its copies are not these).
 */
async function legacyAccount(): Promise<string> {
  expect(LEGACY_ACCOUNT).not.toBe("");
  const stub = ledgerStub(LEGACY_ACCOUNT);
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec(FIXTURE);
  });
  await evictDurableObject(stub);
  return LEGACY_ACCOUNT;
}

describe("exportLedger", () => {
  it("exports the header, every entry in seq order, every change in version order and a trailer that vouches for them", async () => {
    const account = await busyAccount();
    const state = await getAccount(account);
    const entries = await allEntries(account);
    const changes = await changesOf(account);

    const { lines, records, error } = await runExport(account);
    expect(error).toBeNull();
    for (const line of lines) expect(line.indexOf("\n")).toBe(line.length - 1);
    expect(records.map((record) => record.type)).toEqual([
      "header",
      ...entries.map(() => "entry"),
      ...changes.map(() => "account_change"),
      "trailer",
    ]);

    const [header, ...rest] = records;
    expect(header).toEqual({
      type: "header",
      format: EXPORT_FORMAT,
      format_version: EXPORT_FORMAT_VERSION,
      exported_at: expect.any(String),
      source: BASE_URL,
      account: state,
    });
    expect(new Date(header?.exported_at as string).toISOString()).toBe(header?.exported_at);
    expect(rest.slice(0, entries.length).map((record) => record.entry)).toEqual(entries);
    expect(entries.map((entry) => entry.type)).toEqual(["credit", "charge", "refund", "charge"]);
    expect(rest.slice(entries.length, -1).map((record) => record.change)).toEqual(changes);
    expect(changes).toContainEqual(expect.objectContaining({ field: "overdraft_limit", old: 0, new: 500 }));

    expect(records.at(-1)).toEqual({
      type: "trailer",
      entries: state.entry_count,
      changes: changes.length,
      balance: state.balance,
      sha256: sha256Hex(lines.slice(0, -1).join("")),
    });
    expect(state.balance).toBe((await expectLedgerConsistent(account)).balance);
  });

  it("pages through more than one page of entries, MAX_PAGE_SIZE at a time", async () => {
    const account = uniqueAccount("export");
    await openAccount(account);
    const count = 2 * MAX_PAGE_SIZE + 7;
    await batchCredits(account, count);
    const entryPages: URL[] = [];
    const { records, error } = await runExport(account, (url, init) => {
      if (new URL(url).pathname.endsWith("/entries")) entryPages.push(new URL(url));
      return worker(url, init);
    });
    expect(error).toBeNull();
    expect(entryPages).toHaveLength(Math.ceil(count / MAX_PAGE_SIZE));
    for (const page of entryPages) expect(page.searchParams.get("limit")).toBe(String(MAX_PAGE_SIZE));
    const exported = records.filter((record) => record.type === "entry").map((record) => record.entry);
    expect(exported).toEqual(await allEntries(account));
    expect(records.at(-1)).toMatchObject({ entries: count, balance: (count * (count + 1)) / 2 });
  });

  it("exports the account as first read, leaving out entries and changes made while it runs", async () => {
    const account = await busyAccount();
    const before = await getAccount(account);
    const entriesBefore = await allEntries(account);
    const changesBefore = await changesOf(account);
    let moved = false;
    const { records, error } = await runExport(account, async (url, init) => {
      if (!moved && /\/(entries|changes)$/.test(new URL(url).pathname)) {
        moved = true;
        expect((await post(account, "credits", { amount: 77, currency: "USD" })).status).toBe(201);
        expect((await setOverdraftLimit(account, 900)).status).toBe(200);
      }
      return worker(url, init);
    });
    expect(error).toBeNull();
    expect((await getAccount(account)).entry_count).toBe(before.entry_count + 1);
    expect(records.filter((record) => record.type === "entry").map((record) => record.entry)).toEqual(entriesBefore);
    expect(records.filter((record) => record.type === "account_change").map((record) => record.change)).toEqual(
      changesBefore,
    );
    expect(records.at(-1)).toMatchObject({ entries: before.entry_count, balance: before.balance });
  });

  it("fails with a clear error on an account that was never opened, yielding nothing", async () => {
    const account = uniqueAccount("export");
    const { lines, error } = await runExport(account);
    expect(lines).toEqual([]);
    expect(error).toBeInstanceOf(ExportError);
    expect((error as Error).message).toBe(`account "${account}" not found at ${BASE_URL}`);
  });

  it("exports an account the previous release opened: version 1 with no changes, then its first change as version 2", async () => {
    const account = await legacyAccount();
    const opened = LEGACY_ANSWER;

    const before = await runExport(account);
    expect(before.error).toBeNull();
    const [header] = before.records;
    expect(header?.account).toMatchObject({ ...opened, version: 1 });
    expect(before.records.filter((record) => record.type === "account_change")).toEqual([]);
    expect(before.records.filter((record) => record.type === "entry").map((record) => record.entry)).toEqual(
      await allEntries(account),
    );
    expect(before.records.at(-1)).toEqual({
      type: "trailer",
      entries: opened.entry_count,
      changes: 0,
      balance: opened.balance,
      sha256: sha256Hex(before.lines.slice(0, -1).join("")),
    });

    // The first change after the upgrade is version 2, the first its history records.
    expect((await setOverdraftLimit(account, opened.overdraft_limit + 500)).status).toBe(200);
    const after = await runExport(account);
    expect(after.error).toBeNull();
    const changes = after.records.filter((record) => record.type === "account_change").map((record) => record.change);
    expect(changes).toEqual(await changesOf(account));
    expect(changes).toEqual([
      expect.objectContaining({
        version: 2,
        field: "overdraft_limit",
        old: opened.overdraft_limit,
        new: opened.overdraft_limit + 500,
      }),
    ]);
    expect(after.records.at(-1)).toMatchObject({ entries: opened.entry_count, changes: 1, balance: opened.balance });
  });

  it("holds entries, not requests: a refund rebuilt from its exported entry is another request under its key", async () => {
    // Why the restore runbook (docs/operations.md) re-sends the producers' own requests, not the export's entries.
    const account = uniqueAccount("export");
    await openAccount(account);
    expect((await post(account, "credits", { amount: 1000, currency: "USD" })).status).toBe(201);
    const charge = await json<{ id: string }>(await post(account, "charges", { amount: 300, currency: "USD" }));
    const key = uniqueKey("refund");
    const sent = { charge: charge.id };
    expect((await post(account, "refunds", sent, key)).status).toBe(201);

    const { records, error } = await runExport(account);
    expect(error).toBeNull();
    const refund = records.filter((record) => record.type === "entry").at(-1)?.entry as Record<string, unknown>;
    expect(refund).toMatchObject({ type: "refund", idempotency_key: key, charge: charge.id, amount: 300 });
    const rebuilt = { charge: refund.charge, amount: refund.amount, currency: refund.currency };
    const reused = await expectProblem(await post(account, "refunds", rebuilt, key), 422, "idempotency_key_reused");
    expect(reused.fields).toEqual(["amount", "currency"]);
    const replayed = await post(account, "refunds", sent, key);
    expect({ status: replayed.status, replayed: replayed.headers.get("idempotent-replayed") }).toEqual({
      status: 201,
      replayed: "true",
    });
  });

  it("refuses changes that start past version 2: the versions before them are missing", async () => {
    const account = uniqueAccount("export");
    await openAccount(account);
    expect((await setOverdraftLimit(account, 100)).status).toBe(200);
    expect((await setOverdraftLimit(account, 200)).status).toBe(200);
    const { records, error } = await runExport(
      account,
      tampering(/\/changes$/, (body) => ({ ...body, data: pageData(body).filter((change) => change.version === 3) })),
    );
    expect(error).toBeInstanceOf(ExportError);
    expect((error as Error).message).toBe("the changes start at version 3: the versions before it are missing");
    expect(records.map((record) => record.type)).not.toContain("trailer");
  });

  it.each<[string, RegExp, RegExp, (body: Record<string, unknown>) => unknown]>([
    [
      "an entry dropped from a page",
      /\/entries$/,
      /entry seq 3 where 2 was due/,
      (body) => ({ ...body, data: pageData(body).filter((_, i) => i !== 1) }),
    ],
    [
      "the last entry dropped",
      /\/entries$/,
      /lists 3 entries, but the account's entry_count is 4/,
      (body) => ({ ...body, data: pageData(body).slice(0, -1) }),
    ],
    [
      "an amount changed",
      /\/entries$/,
      /entry 2 has balance_after 700, but the entries up to it sum to 699/,
      (body) => ({ ...body, data: pageData(body).map((entry, i) => (i === 1 ? { ...entry, amount: -301 } : entry)) }),
    ],
    [
      "an amount that is not a safe integer",
      /\/entries$/,
      /entry 1 has amount 1000.5/,
      (body) => ({ ...body, data: pageData(body).map((entry, i) => (i === 0 ? { ...entry, amount: 1000.5 } : entry)) }),
    ],
    [
      "the account's balance changed",
      /^\/v1\/accounts\/[^/]+$/,
      /the entries sum to -400, but the account's balance is -399/,
      (body) => ({ ...body, balance: -399 }),
    ],
    [
      "a change dropped",
      /\/changes$/,
      /the changes end at version 1, but the account is at version 2/,
      (body) => ({ ...body, data: pageData(body).filter((change) => change.version !== 2) }),
    ],
    [
      "every change dropped",
      /\/changes$/,
      /no changes are listed, but the account is at version 2/,
      (body) => ({ ...body, data: [] }),
    ],
    [
      "a change moved past the account's version",
      /\/changes$/,
      /version 2 changes \w+ from nothing, as only the opening may/,
      (body) => ({
        ...body,
        data: pageData(body).map((change) => ({ ...change, version: (change.version as number) + 1 })),
      }),
    ],
    [
      "a change repeated",
      /\/changes$/,
      /version 2 changes overdraft_limit twice/,
      (body) => ({ ...body, data: [...pageData(body), ...pageData(body).slice(-1)] }),
    ],
  ])("refuses to write a trailer when the API answers with %s", async (_, pattern, message, rewrite) => {
    const account = await busyAccount();
    const intact = await runExport(account);
    expect(intact.error).toBeNull();

    const { records, error } = await runExport(account, tampering(pattern, rewrite));
    expect(error).toBeInstanceOf(ExportError);
    expect((error as Error).message).toMatch(message);
    expect(records.map((record) => record.type)).not.toContain("trailer");
  });
});
