import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Fetch } from "../../src/client/onceledger-client.ts";
import { verifyChain, type ChainReport, type ObjectReader } from "../../scripts/verify/chain.ts";
import { readLedger, verifyLedger } from "../../scripts/verify/ledger-read.ts";
import { ACME_KEY, BASE_URL, call, fundedAccount, json, ledgerStub, post, uniqueKey } from "../support/api.ts";

/**
 * `npm run verify`'s modules against the real Worker, real alarms and real
 * local R2: an account with three archived periods verifies; a byte flipped
 * in an archived object, an entry served altered, a broken link or balance
 * names the period it is in.
 */

const worker: Fetch = (url, init) => exports.default.fetch(url, init);

const readArchive: ObjectReader = async (name) => {
  const object = await env.ARCHIVE.get(name);
  return object === null ? null : new Uint8Array(await object.arrayBuffer());
};

function verify(account: string, options: { fetch?: Fetch; r2?: boolean } = {}): Promise<ChainReport> {
  return verifyLedger({
    baseUrl: BASE_URL,
    apiKey: ACME_KEY,
    account,
    fetch: options.fetch ?? worker,
    ...(options.r2 === false ? {} : { readObject: readArchive }),
  });
}

interface PeriodJson {
  id: number;
  state: string;
  sha256: string | null;
  objects: { name: string; kind: string }[];
}

async function periodsOf(account: string): Promise<PeriodJson[]> {
  const response = await call(`/v1/accounts/${account}/periods?limit=100`);
  expect(response.status).toBe(200);
  return (await json<{ data: PeriodJson[] }>(response)).data;
}

async function closePeriod(account: string): Promise<void> {
  const response = await call(`/v1/accounts/${account}/periods`, {
    method: "POST",
    body: {},
    idempotencyKey: uniqueKey("close"),
  });
  expect(response.status).toBe(201);
}

/** Runs the account's alarm until every period is archived (one bounded step a run); its rows stay in the object. */
async function archiveAll(account: string): Promise<void> {
  for (let run = 0; run < 100; run += 1) {
    if ((await periodsOf(account)).every((period) => period.state === "archived")) return;
    await runDurableObjectAlarm(ledgerStub(account));
  }
  throw new Error("the periods were not archived in 100 alarm runs");
}

/** Then lets the periods' rows leave the object, their keys' replay window closed first: entries are read from R2. */
async function prune(account: string): Promise<void> {
  for (let run = 0; run < 100; run += 1) {
    const left = await runInDurableObject(ledgerStub(account), (_, state) => {
      state.storage.sql.exec("UPDATE keys SET expires_ms = ? WHERE expires_ms > ?", Date.now() - 1, Date.now() - 1);
      state.storage.sql.exec("UPDATE periods SET hot_until_ms = ? WHERE state = 'archived'", Date.now() - 1);
      return state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM periods WHERE pruned < 2").one().n;
    });
    if (left === 0) return;
    await runDurableObjectAlarm(ledgerStub(account));
  }
  throw new Error("the periods' rows did not leave in 100 alarm runs");
}

/** Credits, charges and a refund over three closed, archived periods, and two entries in the open period. */
async function accountWithPeriods(): Promise<string> {
  const account = await fundedAccount(10_000);
  const charge = (amount: number, description: string, metadata: Record<string, string> = {}) =>
    post(account, "charges", { amount, currency: "USD", description, metadata });
  // Texts a re-serialisation could change if the API did not itself serialise with JSON.stringify.
  expect(
    (await charge(300, "caf\u00e9 \u2014 \u00fcber \ud83d\udcb8", { "10": "b", "2": "a", z: '"quoted"' })).status,
  ).toBe(201);
  expect((await charge(200, "first period")).status).toBe(201);
  await closePeriod(account);
  const second = await json<{ id: string }>(await charge(700, "second period"));
  expect((await post(account, "refunds", { charge: second.id, amount: 100 })).status).toBe(201);
  expect((await post(account, "credits", { amount: 50, currency: "USD" })).status).toBe(201);
  await closePeriod(account);
  expect((await charge(400, "third period")).status).toBe(201);
  expect((await charge(99_999, "declined: not an entry")).status).toBe(402);
  await closePeriod(account);
  expect((await charge(1, "open period")).status).toBe(201);
  expect((await charge(2, "open period")).status).toBe(201);
  await archiveAll(account);
  return account;
}

function kinds(report: ChainReport): string[] {
  return [...new Set(report.mismatch?.problems.map((problem) => problem.kind))];
}

/** Flips the low bit of the first character of the first idempotency key in `name`: the JSON stays valid. */
async function flipByte(name: string): Promise<void> {
  const bytes = (await readArchive(name)) as Uint8Array;
  const marker = '"idempotency_key":"';
  const text = new TextDecoder().decode(bytes);
  const at = new TextEncoder().encode(text.slice(0, text.indexOf(marker) + marker.length)).length;
  bytes[at] = (bytes[at] as number) ^ 1;
  await env.ARCHIVE.put(name, bytes);
}

describe("npm run verify", () => {
  it("recomputes every archived period's chain, balances and objects from the API and R2", async () => {
    const account = await accountWithPeriods();
    const periods = await periodsOf(account);
    expect(periods.map((period) => period.state)).toEqual(["archived", "archived", "archived"]);

    const report = await verify(account);
    expect(report).toEqual({
      periods: 3,
      archived: 3,
      entries: 9,
      openEntries: 2,
      balance: 10_000 - 300 - 200 - 700 + 100 + 50 - 400 - 1 - 2,
      lastSha256: periods[2]?.sha256,
      objects: { read: 6, bytes: expect.any(Number) },
      mismatch: null,
    });

    // The API serialises entries with JSON.stringify, so parsing and reserialising gives its bytes back;
    // verify still hashes the text as served.
    const { entries } = await readLedger({ baseUrl: BASE_URL, apiKey: ACME_KEY, account, fetch: worker });
    expect(entries).toHaveLength(9);
    for (const text of entries) expect(JSON.stringify(JSON.parse(text))).toBe(text);
  });

  it("still verifies once the periods' rows left the object and the entries API reads them from R2", async () => {
    const account = await accountWithPeriods();
    await prune(account);
    const report = await verify(account);
    expect(report.mismatch).toBeNull();
    expect(report).toMatchObject({ periods: 3, archived: 3, entries: 9, openEntries: 2 });
  });

  it("names period 2 when one byte of its archived entries object is flipped", async () => {
    const account = await accountWithPeriods();
    const entriesObject = (await periodsOf(account))[1]?.objects.find((object) => object.kind === "entries");
    await flipByte(entriesObject?.name ?? "");

    const report = await verify(account);
    expect(report.mismatch?.period).toBe(2);
    expect(kinds(report)).toEqual(["object"]);
    expect(report.mismatch?.problems[0]?.detail).toMatch(`${entriesObject?.name} has sha256`);
    // Through the API alone it matches: the entries are still served from the object, as archived.
    expect((await verify(account, { r2: false })).mismatch).toBeNull();
  });

  it("names period 2 when its object is flipped after its rows left the object", async () => {
    const account = await accountWithPeriods();
    await prune(account);
    const entriesObject = (await periodsOf(account))[1]?.objects.find((object) => object.kind === "entries");
    await flipByte(entriesObject?.name ?? "");

    const report = await verify(account);
    expect(report.mismatch?.period).toBe(2);
    // The entries API now serves period 2 from the altered object, so its chain breaks too.
    expect(kinds(report)).toEqual(["chain", "object"]);
  });

  it("names the period of an entry served altered, by its chain", async () => {
    const account = await accountWithPeriods();
    // The third period's charge, its description changed as it is served: same amounts, other bytes.
    const altering: Fetch = async (url, init) => {
      const response = await worker(url, init);
      if (!new URL(url).pathname.endsWith("/entries")) return response;
      const text = (await response.text()).replace('"third period"', '"third perioD"');
      return new Response(text, { status: response.status, headers: response.headers });
    };
    const viaApi = await verify(account, { fetch: altering, r2: false });
    expect(viaApi.mismatch?.period).toBe(3);
    expect(kinds(viaApi)).toEqual(["chain"]);
    expect(viaApi).toMatchObject({ entries: 6, archived: 3 });

    // With R2 too, the archived entries also differ from what is served.
    const withR2 = await verify(account, { fetch: altering });
    expect(withR2.mismatch?.period).toBe(3);
    expect(kinds(withR2)).toEqual(["chain", "object"]);
  });

  it("names the first period whose link or balance is off, and the open period's entries", async () => {
    const account = await accountWithPeriods();
    const snapshot = await readLedger({ baseUrl: BASE_URL, apiKey: ACME_KEY, account, fetch: worker });
    const [first, second, third] = snapshot.periods;
    if (first === undefined || second === undefined || third === undefined) throw new Error("three periods");

    const relinked = await verifyChain({
      ...snapshot,
      periods: [first, { ...second, previous_sha256: third.sha256 }, third],
    });
    expect(relinked.mismatch?.period).toBe(2);
    expect(kinds(relinked)).toEqual(["link"]);

    const rebalanced = await verifyChain({ ...snapshot, periods: [{ ...first, closing_balance: 1 }, second, third] });
    expect(rebalanced.mismatch?.period).toBe(1);
    expect(kinds(rebalanced)).toEqual(["balance"]);

    const lastOpen = snapshot.entries.length - 1;
    const entries = snapshot.entries.map((text, i) =>
      i === lastOpen ? text.replace('"amount":-2', '"amount":-3') : text,
    );
    const open = await verifyChain({ ...snapshot, entries });
    expect(open.mismatch).toEqual({ period: null, problems: expect.any(Array) });
    expect(kinds(open)).toEqual(["balance"]);
  });
});
