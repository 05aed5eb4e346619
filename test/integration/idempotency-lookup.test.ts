import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createLedgerClient, type Fetch } from "../../src/client/onceledger-client.ts";
import { MAX_IDEMPOTENCY_KEY_LENGTH } from "../../src/domain/limits.ts";
import { parseIdempotencyTtlSeconds } from "../../src/config/idempotency-ttl.ts";
import {
  ACME_KEY,
  BASE_URL,
  GLOBEX_KEY,
  allEntries,
  call,
  expectLedgerConsistent,
  expectInvalid,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
  type EntryJson,
} from "../support/api.ts";
import { expireRecord, inLedger, readRecords } from "../support/storage.ts";

/**
 * GET /v1/accounts/{account}/idempotency-keys/{key}: what a money-moving
 * request with a key did, for a client reconciling after lost responses.
 */

const TTL_MS = parseIdempotencyTtlSeconds(env.IDEMPOTENCY_TTL_SECONDS) * 1000;
const usd = (amount: number) => ({ amount, currency: "USD" });
const worker: Fetch = (url, init) => exports.default.fetch(url, init);

interface Lookup {
  key: string;
  state: string;
  created: string | null;
  expires: string | null;
  response: { status: number; body: unknown } | null;
  entry: EntryJson | null;
}

/** The lookup path for `key`, encoded as a client should. */
function lookupPath(account: string, key: string): string {
  return `/v1/accounts/${account}/idempotency-keys/${encodeURIComponent(key)}`;
}

function lookup(account: string, key: string, apiKey?: string): Promise<Response> {
  return call(lookupPath(account, key), { key: apiKey });
}

async function expectLookup(response: Response): Promise<Lookup> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(response.headers.get("idempotent-replayed")).toBeNull();
  return json<Lookup>(response);
}

/** The Idempotency-Key header for any valid key: an RFC 9651 string, which may hold `"` and `,`. */
function keyHeader(key: string): string {
  return `"${key.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
}

/** Everything a lookup could conceivably change inside the object. */
function objectState(account: string) {
  return inLedger(account, async (storage) => ({
    keys: readRecords(storage),
    ledger: storage.sql.exec("SELECT * FROM ledger ORDER BY seq").toArray(),
    refundTotals: storage.sql.exec("SELECT * FROM refund_totals ORDER BY charge_id").toArray(),
    // Tables older code wrote: never written from schema 7 on.
    records: storage.sql.exec("SELECT * FROM idempotency_records ORDER BY key").toArray(),
    entries: storage.sql.exec("SELECT * FROM entries ORDER BY seq").toArray(),
    decisions: storage.sql.exec("SELECT * FROM decisions ORDER BY key").toArray(),
    account: storage.sql.exec("SELECT * FROM account").toArray(),
    alarm: await storage.getAlarm(),
  }));
}

async function entryById(account: string, id: string): Promise<EntryJson | undefined> {
  return (await allEntries(account)).find((entry) => entry.id === id);
}

describe("a key whose request was applied", () => {
  // Metadata with integer-like keys and non-ASCII text: their order and bytes must survive the lookup.
  const details = { description: "caf\u00e9 \u{1F600}", metadata: { z: "last", "10": "ten", "2": "two" } };

  it.each([
    ["credits", () => fundedAccount(0), () => ({ ...usd(250), ...details })],
    ["charges", () => fundedAccount(1000), () => ({ ...usd(250), ...details })],
  ] as const)("POST %s: recorded, with the original response and its entry", async (kind, setup, body) => {
    const account = await setup();
    const key = uniqueKey();
    const original = await post(account, kind, body(), key);
    expect(original.status).toBe(201);
    const originalText = await original.text();
    const { id } = JSON.parse(originalText) as { id: string };

    const found = await expectLookup(await lookup(account, key));
    expect(found.key).toBe(key);
    expect(found.state).toBe("recorded");
    expect(found.response?.status).toBe(201);
    expect(JSON.stringify(found.response?.body)).toBe(originalText);
    const entry = await entryById(account, id);
    expect(entry?.idempotency_key).toBe(key);
    expect(found.entry).toEqual(entry);
    // The key row was made in the same transaction as the entry, and replays for the TTL.
    expect(found.created).toBe((entry as unknown as { created: string }).created);
    expect(Date.parse(found.expires ?? "") - Date.parse(found.created ?? "")).toBe(TTL_MS);
    expect(found.expires).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("POST refunds: recorded, with the refund response and the refund's entry", async () => {
    const account = await fundedAccount(1000);
    const charge = await json<{ id: string }>(await post(account, "charges", usd(400)));
    const key = uniqueKey();
    const original = await post(account, "refunds", { charge: charge.id, amount: 150, ...details }, key);
    expect(original.status).toBe(201);
    const originalText = await original.text();

    const found = await expectLookup(await lookup(account, key));
    expect(found).toMatchObject({ key, state: "recorded", response: { status: 201 } });
    expect(JSON.stringify(found.response?.body)).toBe(originalText);
    const refund = JSON.parse(originalText) as { id: string };
    expect(found.entry).toEqual(await entryById(account, refund.id));
    expect(found.entry).toMatchObject({ type: "refund", amount: 150, charge: charge.id });
  });
});

describe("a key whose request was declined", () => {
  it("is recorded with the decline and no entry", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    const declined = await post(account, "charges", usd(500), key);
    const declinedText = await declined.text();
    expect(declined.status).toBe(402);

    const found = await expectLookup(await lookup(account, key));
    expect(found).toMatchObject({ key, state: "recorded", entry: null, response: { status: 402 } });
    expect(JSON.stringify(found.response?.body)).toBe(declinedText);
    expect(found.response?.body).toMatchObject({ code: "insufficient_funds" });
    expect(found.created).not.toBeNull();
    expect(found.expires).not.toBeNull();
  });

  it("is still found once its response has expired: the decision is kept for ever", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    expect((await post(account, "charges", usd(500), key)).status).toBe(402);
    expect(await expectLookup(await lookup(account, key))).toMatchObject({
      state: "recorded",
      original_status: 402,
      original_code: "insufficient_funds",
    });

    await expireRecord(account, key);
    expect(await expectLookup(await lookup(account, key))).toEqual({
      key,
      state: "expired",
      created: null,
      expires: null,
      response: null,
      original_status: 402,
      original_code: "insufficient_funds",
      request_id: null,
      entry: null,
    });
  });

  it("shows the same decision after funds arrived and the key was sent again", async () => {
    const account = await fundedAccount(100);
    const key = uniqueKey();
    expect((await post(account, "charges", usd(500), key)).status).toBe(402);
    await expireRecord(account, key);
    expect((await post(account, "credits", usd(1000))).status).toBe(201);
    await expectProblem(await post(account, "charges", usd(500), key), 409, "idempotency_key_expired");

    const found = await expectLookup(await lookup(account, key));
    expect(found).toMatchObject({ state: "expired", original_status: 402, entry: null });
  });
});

describe("a key whose response has expired", () => {
  it("still shows the entry it created, before and after the alarm ran", async () => {
    const account = await fundedAccount(1000);
    const stub = ledgerStub(account);
    const key = uniqueKey();
    const charge = await json<{ id: string }>(await post(account, "charges", usd(100), key));
    await expireRecord(account, key);

    const expected = { key, state: "expired", created: null, expires: null, response: null };
    const unswept = await expectLookup(await lookup(account, key));
    expect(unswept).toMatchObject(expected);
    expect(unswept.entry).toEqual(await entryById(account, charge.id));

    // The alarm (which published the charge's event) leaves the key's row: it is kept until its period is archived.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const kept = await inLedger(account, (storage) =>
      storage.sql.exec("SELECT key FROM keys WHERE key = ?", key).toArray(),
    );
    expect(kept).toEqual([{ key }]);
    expect(await expectLookup(await lookup(account, key))).toEqual(unswept);
  });
});

describe("not found", () => {
  it("answers idempotency_key_not_found for a key never used on the account", async () => {
    const account = await fundedAccount(1000);
    const used = uniqueKey();
    expect((await post(account, "charges", usd(10), used)).status).toBe(201);
    await expectProblem(await lookup(account, uniqueKey()), 404, "idempotency_key_not_found");
    // A key is per account: one used elsewhere is not found here.
    await expectProblem(await lookup(await fundedAccount(0), used), 404, "idempotency_key_not_found");
  });

  it("answers account_not_found for an account never opened, and does not open it", async () => {
    const account = uniqueAccount();
    await expectProblem(await lookup(account, uniqueKey()), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
  });

  it("does not show one tenant's keys to another", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    expect((await post(account, "charges", usd(10), key)).status).toBe(201);
    expect((await lookup(account, key)).status).toBe(200);

    await expectProblem(await lookup(account, key, GLOBEX_KEY), 404, "account_not_found");
    // Not even through globex's own account of the same name.
    await openAccount(account, { currency: "USD" }, GLOBEX_KEY);
    await expectProblem(await lookup(account, key, GLOBEX_KEY), 404, "idempotency_key_not_found");
  });

  it("refuses a request without an API key", async () => {
    const account = await fundedAccount(0);
    await expectProblem(await call(lookupPath(account, uniqueKey()), { key: null }), 401, "unauthorized");
  });
});

describe("the key in the path", () => {
  const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join("");

  it.each([
    ["a slash", "a/b"],
    ["only slashes", "//"],
    ["a question mark and a hash", "a?b#c"],
    ["percent signs", "100%"],
    ["a would-be escape", "%41"],
    ["a malformed would-be escape", "%ZZ"],
    ["a double quote and a comma", 'say"hi",then'],
    ["a backslash", "a\\b"],
    ["dots", "a..b"],
    ["every visible ASCII character", printable],
  ])("round-trips a key with %s through percent-encoding", async (_, text) => {
    const key = `${text}${uniqueKey("")}`.slice(0, MAX_IDEMPOTENCY_KEY_LENGTH);
    const account = await fundedAccount(0);
    const credit = await post(account, "credits", usd(5), keyHeader(key));
    expect(credit.status).toBe(201);
    expect((await json<{ idempotency_key: string }>(credit)).idempotency_key).toBe(key);

    const found = await expectLookup(await lookup(account, key));
    expect(found.key).toBe(key);
    expect(found.entry?.idempotency_key).toBe(key);
  });

  it("decodes escapes exactly once: %2541 names the key %41, and %41 the key A", async () => {
    const account = await fundedAccount(0);
    expect((await post(account, "credits", usd(5), "%41")).status).toBe(201);
    expect((await call(`/v1/accounts/${account}/idempotency-keys/%2541`)).status).toBe(200);
    await expectProblem(await call(`/v1/accounts/${account}/idempotency-keys/%41`), 404, "idempotency_key_not_found");
    expect((await post(account, "credits", usd(5), "A")).status).toBe(201);
    expect((await json<Lookup>(await call(`/v1/accounts/${account}/idempotency-keys/%41`))).key).toBe("A");
  });

  it('reads the key as the header does: %22k6%22, the RFC 9651 string "k6", names the key k6', async () => {
    const account = await fundedAccount(0);
    const key = uniqueKey("k6");
    // Sent in the header's quoted form, recorded as the bare key.
    expect((await post(account, "credits", usd(5), `"${key}"`)).status).toBe(201);
    const quoted = `/v1/accounts/${account}/idempotency-keys/${encodeURIComponent(`"${key}"`)}`;
    expect(quoted).toContain(`%22${key}%22`);
    const byQuoted = await expectLookup(await call(quoted));
    expect(byQuoted.key).toBe(key);
    expect(byQuoted.entry?.idempotency_key).toBe(key);
    expect(await expectLookup(await lookup(account, key))).toEqual(byQuoted);
    // Parameters are ignored, and the quotes are not counted against the length.
    const params = `/v1/accounts/${account}/idempotency-keys/${encodeURIComponent(`"${key}";v=1`)}`;
    expect((await expectLookup(await call(params))).key).toBe(key);
    const longest = `${uniqueKey()}${"k".repeat(MAX_IDEMPOTENCY_KEY_LENGTH)}`.slice(0, MAX_IDEMPOTENCY_KEY_LENGTH);
    expect((await post(account, "credits", usd(5), longest)).status).toBe(201);
    expect((await expectLookup(await call(lookupPath(account, `"${longest}"`)))).key).toBe(longest);
    // The quoted forms of keys the header refuses are refused here too.
    for (const refused of ['""', '"."', '".."', `"${longest}k"`]) {
      await expectInvalid(await call(lookupPath(account, refused)), ["key"]);
    }
  });

  it("names a key that itself starts with a double quote by its quoted form, as the header does", async () => {
    const account = await fundedAccount(0);
    const key = `"${uniqueKey("q")}"`;
    expect((await post(account, "credits", usd(5), keyHeader(key))).status).toBe(201);
    const found = await expectLookup(await call(lookupPath(account, keyHeader(key))));
    expect(found.key).toBe(key);
    // Bare, it is the string it holds, a key never used here.
    await expectProblem(await lookup(account, key), 404, "idempotency_key_not_found");
    // The client sends such a key quoted, and any other key as it stands.
    const ledger = createLedgerClient({ baseUrl: BASE_URL, apiKey: ACME_KEY, fetch: worker });
    expect((await ledger.lookupIdempotencyKey(account, key)).value.key).toBe(key);
    // A segment starting with `"` that is no RFC 9651 string is still the key as it stands.
    const unclosed = `"${uniqueKey("u")}`;
    expect((await post(account, "credits", usd(5), keyHeader(unclosed))).status).toBe(201);
    expect((await expectLookup(await lookup(account, unclosed))).key).toBe(unclosed);
    expect((await ledger.lookupIdempotencyKey(account, unclosed)).value.key).toBe(unclosed);
  });

  it(`accepts a key of ${MAX_IDEMPOTENCY_KEY_LENGTH} characters and rejects ${MAX_IDEMPOTENCY_KEY_LENGTH + 1}`, async () => {
    const account = await fundedAccount(0);
    const longest = `${uniqueKey()}${"k".repeat(MAX_IDEMPOTENCY_KEY_LENGTH)}`.slice(0, MAX_IDEMPOTENCY_KEY_LENGTH);
    await expectProblem(await lookup(account, longest), 404, "idempotency_key_not_found");
    expect((await post(account, "credits", usd(5), longest)).status).toBe(201);
    expect((await expectLookup(await lookup(account, longest))).key).toBe(longest);

    // Counted decoded: 255 characters, each sent as a three-character escape, are fine.
    const escaped = "/".repeat(MAX_IDEMPOTENCY_KEY_LENGTH);
    await expectProblem(await lookup(account, escaped), 404, "idempotency_key_not_found");

    await expectInvalid(await lookup(account, `${longest}k`), ["key"]);
    await expectInvalid(await lookup(account, `${escaped}/`), ["key"]);
  });

  it("rejects an empty key", async () => {
    const account = await fundedAccount(0);
    await expectInvalid(await call(`/v1/accounts/${account}/idempotency-keys/`), ["key"]);
  });

  it.each([
    ["a NUL", "a%00b"],
    ["a tab", "a%09b"],
    ["a space", "a%20b"],
    ["a raw space", "a b"],
    ["DEL", "a%7Fb"],
    ["an encoded non-ASCII letter", "caf%C3%A9"],
    ["a raw non-ASCII letter", "caf\u00e9"],
    ["an encoded emoji", "%F0%9F%98%80"],
  ])("rejects a key with %s as invalid_request naming the key", async (_, segment) => {
    const account = await fundedAccount(0);
    await expectInvalid(await call(`/v1/accounts/${account}/idempotency-keys/${segment}`), ["key"]);
  });

  it.each([
    ["a truncated UTF-8 escape", "%E0%A4%A"],
    ["a non-hex escape", "%ZZ"],
    ["a non-hex escape before a valid one", "%ZZ%41"],
    ["a lone percent sign", "%"],
    ["a half escape", "abc%4"],
    ["an incomplete UTF-8 sequence", "%C3"],
    ["a byte that is never UTF-8", "%FF"],
    ["an encoded lone surrogate", "%ED%A0%80"],
  ])("rejects %s as invalid_request, not a 5xx", async (_, segment) => {
    const account = await fundedAccount(0);
    // Even where the raw text is itself a recorded key, a malformed segment does not name it.
    expect((await post(account, "credits", usd(5), segment)).status).toBe(201);
    const response = await call(`/v1/accounts/${account}/idempotency-keys/${segment}`);
    const [error] = await expectInvalid(response, ["key"]);
    expect(error?.message).toMatch(/percent-encoded/);
    expect((await lookup(account, segment)).status).toBe(200);
  });

  it("names both fields when the account and the key are both bad", async () => {
    await expectInvalid(await call("/v1/accounts/a.b/idempotency-keys/%ZZ"), ["account", "key"]);
    await expectInvalid(await call(`/v1/accounts/${"a".repeat(65)}/idempotency-keys/k`), ["account"]);
  });
});

describe("read-only", () => {
  it("changes nothing: no record, entry, alarm or balance, so an unused key stays unused", async () => {
    const account = await fundedAccount(1000);
    const used = uniqueKey();
    expect((await post(account, "charges", usd(100), used)).status).toBe(201);
    const unused = uniqueKey();
    // The charge's events published now, so that the alarm cannot run on its own between the two states.
    await runDurableObjectAlarm(ledgerStub(account));
    const before = await objectState(account);
    const accountBefore = await getAccount(account);

    expect((await lookup(account, used)).status).toBe(200);
    await expectProblem(await lookup(account, unused), 404, "idempotency_key_not_found");
    await expectProblem(await lookup(account, unused), 404, "idempotency_key_not_found");
    expect((await call(lookupPath(account, unused), { method: "HEAD" })).status).toBe(404);
    await expectInvalid(await call(`/v1/accounts/${account}/idempotency-keys/%ZZ`), ["key"]);

    expect(await objectState(account)).toEqual(before);
    // Its storage bytes are measured live (an alarm's event cursor may move pages); the rest must not move.
    expect(await getAccount(account)).toEqual({ ...accountBefore, storage_bytes: expect.any(Number) as unknown });
    const first = await post(account, "charges", usd(100), unused);
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBe("false");
    expect(await getAccount(account)).toMatchObject({ balance: 800, entry_count: 3 });
    await expectLedgerConsistent(account);
  });

  it("does not revive an expired key", async () => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    expect((await post(account, "charges", usd(100), key)).status).toBe(201);
    await expireRecord(account, key);
    await runDurableObjectAlarm(ledgerStub(account));
    const before = await objectState(account);
    expect((await expectLookup(await lookup(account, key))).state).toBe("expired");
    expect(await objectState(account)).toEqual(before);
    await expectProblem(await post(account, "charges", usd(100), key), 409, "idempotency_key_expired");
  });
});

describe("routing", () => {
  it.each(["POST", "PUT", "DELETE", "PATCH"])("answers %s with 405 and Allow: GET, HEAD", async (method) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const response = await call(lookupPath(account, key), { method, body: usd(5), idempotencyKey: key });
    await expectProblem(response, 405, "method_not_allowed");
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
    await expectProblem(await lookup(account, key), 404, "idempotency_key_not_found");
  });

  it("answers HEAD like GET, without a body", async () => {
    const account = await fundedAccount(0);
    const key = uniqueKey();
    expect((await post(account, "credits", usd(5), key)).status).toBe(201);
    const response = await call(lookupPath(account, key), { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.text()).toBe("");
  });

  it("is described in the OpenAPI document", async () => {
    const doc = await json<{
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; responses?: object }>>;
      components: { schemas: Record<string, { properties: Record<string, unknown>; required?: string[] }> };
    }>(await call("/openapi.json", { key: null }));
    const path = doc.paths["/v1/accounts/{account}/idempotency-keys/{key}"];
    expect(Object.keys(path ?? {})).toEqual(["get"]);
    const get = path?.get;
    expect(get?.parameters?.map((p) => `${p.in}:${p.name}`).sort()).toEqual([
      "header:X-Request-Id",
      "path:account",
      "path:key",
    ]);
    expect(get?.parameters?.find((p) => p.name === "key")).toMatchObject({
      schema: { type: "string", minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH },
    });
    expect(Object.keys(get?.responses ?? {})).toEqual(expect.arrayContaining(["200", "400", "404"]));
    const schema = doc.components.schemas.IdempotencyKeyLookup;
    const fields = [
      "created",
      "entry",
      "expires",
      "key",
      "original_code",
      "original_status",
      "request_id",
      "response",
      "state",
    ];
    expect(Object.keys(schema?.properties ?? {}).sort()).toEqual(fields);
    expect(schema?.required?.sort()).toEqual(fields);
    // Null must satisfy the entry's schema, not only the Entry reference.
    expect(schema?.properties.entry).toEqual({
      anyOf: [{ $ref: "#/components/schemas/Entry" }, { type: "null" }],
      description: expect.any(String),
    });
    expect(schema?.properties.response).toMatchObject({
      anyOf: [{ type: "object", required: ["status", "body"] }, { type: "null" }],
    });
  });
});
