import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  ACME_KEY_ID,
  call,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  ledgerStub,
  openAccount,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";

/** Account settings that survive retries and concurrent edits: versions, ETags, If-Match, keys, history. */

function put(account: string, body: unknown, headers: Record<string, string> = {}) {
  return call(`/v1/accounts/${account}`, { method: "PUT", body, headers });
}

interface Change {
  version: number;
  field: string;
  old: string | number | null;
  new: string | number;
  created: string;
  idempotency_key: string | null;
}

async function changes(account: string, query = ""): Promise<{ data: Change[]; has_more: boolean }> {
  const response = await call(`/v1/accounts/${account}/changes${query}`);
  expect(response.status).toBe(200);
  return json(response);
}

describe("account versions and ETags", () => {
  it("opens at version 1, answers with its ETag and Location, and a real change alone raises the version", async () => {
    const account = uniqueAccount();
    const opened = await put(account, { currency: "USD" });
    expect(opened.status).toBe(201);
    expect(opened.headers.get("etag")).toBe('"1"');
    expect(opened.headers.get("location")).toBe(`/v1/accounts/${account}`);
    expect(await json(opened)).toMatchObject({ version: 1 });

    const same = await put(account, { currency: "USD", overdraft_limit: 0 });
    expect(same.headers.get("etag")).toBe('"1"');
    const changed = await put(account, { currency: "USD", overdraft_limit: 500 });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).toBe('"2"');
    expect(changed.headers.get("location")).toBeNull();

    const read = await call(`/v1/accounts/${account}`);
    expect(read.headers.get("etag")).toBe('"2"');
    expect(await json(read)).toMatchObject({ version: 2, overdraft_limit: 500 });
  });

  it("applies a change whose If-Match is current, and refuses a stale or unknown one with 412, changing nothing", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    expect((await put(account, { currency: "USD", overdraft_limit: 100 }, { "if-match": '"1"' })).status).toBe(200);

    const stale = await put(account, { currency: "USD", overdraft_limit: 999 }, { "if-match": '"1"' });
    expect(await expectProblem(stale, 412, "precondition_failed")).toMatchObject({ current_version: 2 });
    for (const condition of ['"7"', 'W/"2"', '"abc"']) {
      await expectProblem(
        await put(account, { currency: "USD", overdraft_limit: 9 }, { "if-match": condition }),
        412,
        "precondition_failed",
      );
    }
    expect(await getAccount(account)).toMatchObject({ overdraft_limit: 100 });
    // A list naming the current version, and *, match.
    expect((await put(account, { currency: "USD", overdraft_limit: 200 }, { "if-match": '"1", "2"' })).status).toBe(
      200,
    );
    expect((await put(account, { currency: "USD", overdraft_limit: 300 }, { "if-match": "*" })).status).toBe(200);
    expect((await getAccount(account)).overdraft_limit).toBe(300);
  });

  it("refuses If-Match on an account that does not exist, opening nothing and storing nothing", async () => {
    const account = uniqueAccount();
    await expectProblem(await put(account, { currency: "USD" }, { "if-match": "*" }), 412, "precondition_failed");
    const keyed = { "if-match": '"1"', "idempotency-key": uniqueKey() };
    await expectProblem(await put(account, { currency: "USD" }, keyed), 412, "precondition_failed");
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
    // A probe: no table, row or alarm in the account's object (the runtime's own bookkeeping aside).
    const stored = await runInDurableObject(ledgerStub(account), async (_, state) => ({
      tables: state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%' AND name != '__miniflare_do_name'",
        )
        .toArray(),
      alarm: await state.storage.getAlarm(),
    }));
    expect(stored).toEqual({ tables: [], alarm: null });
    // The same PUT without the condition then opens it.
    expect((await put(account, { currency: "USD" })).status).toBe(201);
  });

  it("refuses a malformed If-Match as invalid, naming it", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const body = await expectProblem(
      await put(account, { currency: "USD" }, { "if-match": "1" }),
      400,
      "invalid_request",
    );
    expect(body.errors).toEqual([{ field: "If-Match", message: expect.any(String) }]);
  });
});

describe("PUT with an Idempotency-Key", () => {
  it("replays a lost 200 to its retry instead of undoing a later edit by someone else", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    // Raise the limit; the answer is lost.
    const key = uniqueKey();
    const raised = await put(
      account,
      { currency: "USD", overdraft_limit: 1000 },
      { "idempotency-key": key, "if-match": '"1"' },
    );
    expect(raised.status).toBe(200);
    expect(raised.headers.get("idempotent-replayed")).toBe("false");
    const raisedBody = await raised.text();
    // Risk staff lower it meanwhile.
    expect((await put(account, { currency: "USD", overdraft_limit: 50 }, { "if-match": '"2"' })).status).toBe(200);

    // The retry: the same key, the same body, the same (now stale) If-Match: the recorded 200, nothing applied.
    const retry = await put(
      account,
      { currency: "USD", overdraft_limit: 1000 },
      { "idempotency-key": key, "if-match": '"1"' },
    );
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("etag")).toBe('"2"');
    expect(await retry.text()).toBe(raisedBody);
    expect(await getAccount(account)).toMatchObject({ overdraft_limit: 50, version: 3 });
  });

  it("refuses the key with another body (422), and does not record a 412", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const key = uniqueKey();
    await expectProblem(
      await put(account, { currency: "USD", overdraft_limit: 5 }, { "idempotency-key": key, "if-match": '"9"' }),
      412,
      "precondition_failed",
    );
    // The 412 was not recorded: the key is still free.
    const applied = await put(account, { currency: "USD", overdraft_limit: 5 }, { "idempotency-key": key });
    expect(applied.status).toBe(200);
    expect(applied.headers.get("idempotent-replayed")).toBe("false");
    const reused = await put(account, { currency: "USD", overdraft_limit: 6 }, { "idempotency-key": key });
    expect(await expectProblem(reused, 422, "idempotency_key_reused")).toMatchObject({ fields: ["overdraft_limit"] });
  });

  it("records the opening under its key, so a retried open is a replayed 201", async () => {
    const account = uniqueAccount();
    const key = uniqueKey();
    const first = await put(account, { currency: "USD" }, { "idempotency-key": key });
    const again = await put(account, { currency: "USD" }, { "idempotency-key": key });
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("location")).toBe(`/v1/accounts/${account}`);
    expect(await again.text()).toBe(await first.text());
  });
});

describe("GET /v1/accounts/{account}/changes", () => {
  it("lists every settings change oldest first, with its version, old and new value and key", async () => {
    const account = uniqueAccount();
    await openAccount(account, { currency: "EUR", overdraft_limit: 10 });
    const key = uniqueKey();
    await put(account, { currency: "EUR", overdraft_limit: 20 }, { "idempotency-key": key });
    await put(account, { currency: "EUR", overdraft_limit: 20 });
    await put(account, { currency: "EUR", overdraft_limit: 5 });

    const page = await changes(account);
    expect(page.has_more).toBe(false);
    expect(page.data.map(({ created: _, ...change }) => change)).toEqual([
      { version: 1, field: "currency", old: null, new: "EUR", idempotency_key: null, key_id: ACME_KEY_ID },
      { version: 1, field: "overdraft_limit", old: null, new: 10, idempotency_key: null, key_id: ACME_KEY_ID },
      { version: 2, field: "overdraft_limit", old: 10, new: 20, idempotency_key: key, key_id: ACME_KEY_ID },
      { version: 3, field: "overdraft_limit", old: 20, new: 5, idempotency_key: null, key_id: ACME_KEY_ID },
    ]);
  });

  it("pages by version with limit and starting_after, never splitting a version", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    for (let limit = 1; limit <= 4; limit += 1) await put(account, { currency: "USD", overdraft_limit: limit });

    const first = await changes(account, "?limit=1");
    expect(first.data.map((change) => change.version)).toEqual([1, 1]);
    expect(first.has_more).toBe(true);
    const second = await changes(account, "?limit=3&starting_after=1");
    expect(second.data.map((change) => change.version)).toEqual([2, 3, 4]);
    expect(second.has_more).toBe(true);
    const last = await changes(account, "?limit=3&starting_after=4");
    expect(last).toMatchObject({ data: [{ version: 5 }], has_more: false });
  });

  it("refuses a bad cursor and answers 404 for an account never opened", async () => {
    const account = await fundedAccount(0);
    await expectProblem(await call(`/v1/accounts/${account}/changes?starting_after=x`), 400, "invalid_request");
    await expectProblem(await call(`/v1/accounts/${uniqueAccount()}/changes`), 404, "account_not_found");
  });
});
