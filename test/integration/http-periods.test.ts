import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createLedgerClient, LedgerProblemError, type Fetch } from "../../src/client/onceledger-client.ts";
import { MAX_PAGE_SIZE } from "../../src/domain/limits.ts";
import {
  ACME_KEY,
  BASE_URL,
  call,
  expectInvalid,
  expectProblem,
  fundedAccount,
  getAccount,
  GLOBEX_KEY,
  json,
  ledgerStub,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { expectUnauthorized } from "../support/http.ts";
import { send } from "../support/validation.ts";

/**
 * The periods over HTTP: closing one under an Idempotency-Key (recorded and
 * replayed like a money request), listing and reading them, the alarm
 * archiving them, and the chained `sha256` recomputed from the entries API
 * exactly as docs/api.md defines it.
 */

interface PeriodJson {
  id: number;
  first_seq: number;
  last_seq: number;
  opening_balance: number;
  closing_balance: number;
  entry_count: number;
  key_count: number;
  sha256: string | null;
  previous_sha256: string | null;
  objects: { name: string; kind: "entries" | "keys"; bytes: number; sha256: string }[];
  state: "closing" | "archived";
  created: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const encoder = new TextEncoder();

function closePeriod(account: string, idempotencyKey: string | null = uniqueKey("close"), body: unknown = {}) {
  return call(`/v1/accounts/${account}/periods`, { method: "POST", body, idempotencyKey });
}

async function closed(account: string, idempotencyKey = uniqueKey("close")): Promise<PeriodJson> {
  const response = await closePeriod(account, idempotencyKey);
  expect(response.status).toBe(201);
  return json<PeriodJson>(response);
}

async function getPeriod(account: string, id: number): Promise<PeriodJson> {
  const response = await call(`/v1/accounts/${account}/periods/${id}`);
  expect(response.status).toBe(200);
  return json<PeriodJson>(response);
}

/** Runs the account's alarm until period `id` is archived (the alarm does one bounded step a run). */
async function archived(account: string, id: number): Promise<PeriodJson> {
  for (let run = 0; run < 50; run += 1) {
    const period = await getPeriod(account, id);
    if (period.state === "archived") return period;
    await runDurableObjectAlarm(ledgerStub(account));
  }
  throw new Error(`period ${id} was not archived in 50 alarm runs`);
}

/** Every entry's JSON text as a `GET .../entries` page carries it, in seq order, from seq 1 to `lastSeq`. */
async function entryLines(account: string, lastSeq: number): Promise<{ seq: number; line: string }[]> {
  const lines: { seq: number; line: string }[] = [];
  let cursor: string | undefined;
  for (;;) {
    const query = `?limit=${MAX_PAGE_SIZE}${cursor === undefined ? "" : `&starting_after=${cursor}`}`;
    const response = await call(`/v1/accounts/${account}/entries${query}`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const page = JSON.parse(text) as { data: { id: string; seq: number }[]; has_more: boolean };
    for (const entry of page.data) {
      const line = JSON.stringify(entry);
      // Re-serializing the parsed entry gives back the very text the page carries.
      expect(text).toContain(line);
      if (entry.seq <= lastSeq) lines.push({ seq: entry.seq, line });
    }
    if (!page.has_more) return lines;
    cursor = page.data.at(-1)?.id;
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** docs/api.md's definition: SHA-256 of previous_sha256, "\n", then each entry's JSON followed by "\n". */
async function periodDigest(previous: string, entries: readonly string[]): Promise<string> {
  return sha256Hex(encoder.encode(`${previous}\n${entries.map((line) => `${line}\n`).join("")}`));
}

describe("POST /v1/accounts/{account}/periods", () => {
  it("closes the open period at the latest entry: 201, state closing, with a Location", async () => {
    const account = await fundedAccount(10_000);
    await post(account, "charges", { amount: 300, currency: "USD" });
    await expectProblem(
      await post(account, "charges", { amount: 999_999, currency: "USD" }),
      402,
      "insufficient_funds",
    );
    const key = uniqueKey("close");
    const response = await closePeriod(account, key);
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("idempotent-replayed")).toBe("false");
    expect(response.headers.get("location")).toBe(`/v1/accounts/${account}/periods/1`);
    const period = await json<PeriodJson>(response);
    expect(period).toEqual({
      id: 1,
      first_seq: 1,
      last_seq: 2,
      opening_balance: 0,
      closing_balance: 9_700,
      entry_count: 2,
      // The credit, the charge and the decline: every key decided while it was open.
      key_count: 3,
      sha256: null,
      previous_sha256: null,
      objects: [],
      state: "closing",
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    // Nothing moved: a close only draws a line.
    expect(await getAccount(account)).toMatchObject({ balance: 9_700, entry_count: 2 });
  });

  it("replays the recorded 201 byte for byte under the same key, and closes nothing more", async () => {
    const account = await fundedAccount(1_000);
    const key = uniqueKey("close");
    const first = await closePeriod(account, key);
    expect(first.status).toBe(201);
    const original = await first.text();
    await post(account, "credits", { amount: 5, currency: "USD" });

    // The same body, written differently, is the same request.
    const replay = await send(`/v1/accounts/${account}/periods`, { idempotencyKey: key, body: "{ }" });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.headers.get("location")).toBe(`/v1/accounts/${account}/periods/1`);
    expect(await replay.text()).toBe(original);

    const list = await json<{ data: PeriodJson[] }>(await call(`/v1/accounts/${account}/periods`));
    expect(list.data.map((period) => period.id)).toEqual([1]);
  });

  it("answers 422 idempotency_key_reused for a key another request used, either way round", async () => {
    const account = await fundedAccount(1_000);
    const chargeKey = uniqueKey("charge");
    expect((await post(account, "charges", { amount: 10, currency: "USD" }, chargeKey)).status).toBe(201);
    await expectProblem(await closePeriod(account, chargeKey), 422, "idempotency_key_reused");
    expect((await json<{ data: unknown[] }>(await call(`/v1/accounts/${account}/periods`))).data).toEqual([]);

    const closeKey = uniqueKey("close");
    await closed(account, closeKey);
    await expectProblem(
      await post(account, "charges", { amount: 10, currency: "USD" }, closeKey),
      422,
      "idempotency_key_reused",
    );
    expect(await getAccount(account)).toMatchObject({ balance: 990, entry_count: 2 });
  });

  it("does not close an empty open period: 409 period_empty, recorded and replayed", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const key = uniqueKey("close");
    const first = await closePeriod(account, key);
    expect(first.headers.get("idempotent-replayed")).toBe("false");
    expect(first.headers.get("location")).toBeNull();
    const original = await first.clone().text();
    expect(await expectProblem(first, 409, "period_empty")).toMatchObject({ last_seq: 0 });

    // Final for that key, even once there is something to close.
    await post(account, "credits", { amount: 5, currency: "USD" });
    const replay = await closePeriod(account, key);
    expect(replay.status).toBe(409);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(original);
    expect((await json<{ data: unknown[] }>(await call(`/v1/accounts/${account}/periods`))).data).toEqual([]);

    // A new key closes it; right after, the next open period is empty again.
    expect((await closed(account)).last_seq).toBe(1);
    expect(await expectProblem(await closePeriod(account), 409, "period_empty")).toMatchObject({ last_seq: 1 });
  });

  it("answers 404 account_not_found for an account never opened, and opens nothing", async () => {
    const account = uniqueAccount();
    await expectProblem(await closePeriod(account), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${account}`), 404, "account_not_found");
  });

  it("needs an API key, and an account of the key's own tenant", async () => {
    const account = await fundedAccount(1_000);
    const path = `/v1/accounts/${account}/periods`;
    await expectUnauthorized(
      await call(path, { method: "POST", body: {}, idempotencyKey: uniqueKey(), key: null }),
      "none",
    );
    await expectUnauthorized(await call(path, { method: "POST", body: {}, idempotencyKey: uniqueKey(), key: "olk_x" }));
    await expectProblem(
      await call(path, { method: "POST", body: {}, idempotencyKey: uniqueKey(), key: GLOBEX_KEY }),
      404,
      "account_not_found",
    );
    expect((await json<{ data: unknown[] }>(await call(path))).data).toEqual([]);
  });

  it("takes a JSON object body, `{}`, with an Idempotency-Key, as every keyed POST does", async () => {
    const account = await fundedAccount(1_000);
    const path = `/v1/accounts/${account}/periods`;
    await expectProblem(await closePeriod(account, null), 400, "idempotency_key_missing");
    await expectProblem(await closePeriod(account, "a b"), 400, "idempotency_key_invalid");
    // No body at all is no JSON: as on every route with a body.
    await expectProblem(
      await call(path, { method: "POST", idempotencyKey: uniqueKey() }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(await send(path, { idempotencyKey: uniqueKey(), body: "" }), 400, "invalid_json");
    await expectProblem(await send(path, { idempotencyKey: uniqueKey(), body: "{" }), 400, "invalid_json");
    // Options are reserved: none is known yet, so any field is refused.
    const errors = await expectInvalid(await closePeriod(account, uniqueKey(), { at_seq: 1 }), ["at_seq"]);
    expect(errors[0]?.message).toBe("unknown field");
    for (const body of [[], null, '"close"', 1]) {
      await expectProblem(await closePeriod(account, uniqueKey(), body), 400, "invalid_request");
    }
    expect((await json<{ data: unknown[] }>(await call(path))).data).toEqual([]);
  });
});

describe("GET /v1/accounts/{account}/periods and /periods/{id}", () => {
  it("lists the periods oldest first, paged by limit and starting_after, and reads each", async () => {
    const account = await fundedAccount(1_000);
    const first = await closed(account);
    await post(account, "charges", { amount: 100, currency: "USD" });
    await post(account, "charges", { amount: 50, currency: "USD" });
    const second = await closed(account);
    await post(account, "credits", { amount: 7, currency: "USD" });
    const third = await closed(account);
    expect([first, second, third].map((p) => [p.id, p.first_seq, p.last_seq])).toEqual([
      [1, 1, 1],
      [2, 2, 3],
      [3, 4, 4],
    ]);
    expect([second.opening_balance, second.closing_balance, third.closing_balance]).toEqual([1_000, 850, 857]);

    const page = async (query: string) => {
      const response = await call(`/v1/accounts/${account}/periods${query}`);
      expect(response.status).toBe(200);
      return json<{ data: PeriodJson[]; has_more: boolean }>(response);
    };
    const all = await page("");
    expect(all.data.map((p) => p.id)).toEqual([1, 2, 3]);
    expect(all.has_more).toBe(false);
    const one = await page("?limit=1");
    expect([one.data.map((p) => p.id), one.has_more]).toEqual([[1], true]);
    const next = await page("?limit=1&starting_after=1");
    expect([next.data.map((p) => p.id), next.has_more]).toEqual([[2], true]);
    const last = await page("?limit=2&starting_after=2");
    expect([last.data.map((p) => p.id), last.has_more]).toEqual([[3], false]);
    // A cursor is a position, as with changes: one past the last period gives an empty page.
    expect(await page("?starting_after=3")).toEqual({ data: [], has_more: false });
    expect(await page("?starting_after=0")).toEqual(all);

    // Each period in the list is the period as GET shows it.
    for (const listed of all.data) expect(await getPeriod(account, listed.id)).toEqual(listed);
  });

  it("answers 404 period_not_found for a well-formed id with no period, and 404 for an account never opened", async () => {
    const account = await fundedAccount(1_000);
    await expectProblem(await call(`/v1/accounts/${account}/periods/1`), 404, "period_not_found");
    await closed(account);
    await expectProblem(await call(`/v1/accounts/${account}/periods/2`), 404, "period_not_found");
    await expectProblem(await call(`/v1/accounts/${account}/periods/999999999999999`), 404, "period_not_found");

    const never = uniqueAccount();
    await expectProblem(await call(`/v1/accounts/${never}/periods`), 404, "account_not_found");
    await expectProblem(await call(`/v1/accounts/${never}/periods/1`), 404, "account_not_found");
  });

  it("needs an API key, and shows another tenant nothing", async () => {
    const account = await fundedAccount(1_000);
    await closed(account);
    for (const path of [`/v1/accounts/${account}/periods`, `/v1/accounts/${account}/periods/1`]) {
      await expectUnauthorized(await call(path, { key: null }), "none");
      await expectProblem(await call(path, { key: GLOBEX_KEY }), 404, "account_not_found");
    }
  });

  it.each(["0", "01", "-1", "1.5", "1e3", "abc", "1000000000000000"])(
    "refuses the period id %s with 400 invalid_request naming `id`",
    async (id) => {
      const account = await fundedAccount(1_000);
      await closed(account);
      await expectInvalid(await call(`/v1/accounts/${account}/periods/${id}`), ["id"]);
    },
  );

  it.each([
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=abc", "limit"],
    ["limit=1&limit=2", "limit"],
    ["starting_after=x", "starting_after"],
    ["starting_after=-1", "starting_after"],
    ["starting_after=1.0", "starting_after"],
    ["expand=all", "expand"],
  ])("refuses the listing query %s with 400 invalid_request naming %s", async (query, field) => {
    const account = await fundedAccount(1_000);
    await expectInvalid(await call(`/v1/accounts/${account}/periods?${query}`), [field]);
  });

  it("refuses a query parameter on a period, as every GET does", async () => {
    const account = await fundedAccount(1_000);
    await closed(account);
    await expectInvalid(await call(`/v1/accounts/${account}/periods/1?expand=all`), ["expand"]);
  });
});

describe("an archived period", () => {
  it("shows state archived, its chained sha256 and its objects, recomputable from the entries API", async () => {
    const account = await fundedAccount(10_000);
    // Text the JSON must carry exactly: quotes, a backslash, non-ASCII, an emoji, and metadata.
    const description = 'a "quoted" \\ café \u{1F600}';
    const charge = await post(account, "charges", {
      amount: 300,
      currency: "USD",
      description,
      metadata: { order: "A-1", "1": "numeric-looking key" },
    });
    expect(charge.status).toBe(201);
    await expectProblem(
      await post(account, "charges", { amount: 999_999, currency: "USD" }),
      402,
      "insufficient_funds",
    );
    const chargeId = (await json<{ id: string }>(charge)).id;
    expect((await post(account, "refunds", { charge: chargeId, amount: 100 })).status).toBe(201);
    const key = uniqueKey("close");
    const response = await closePeriod(account, key);
    expect(response.status).toBe(201);
    const asClosed = await response.text();

    const period = await archived(account, 1);
    expect(period).toMatchObject({
      id: 1,
      first_seq: 1,
      last_seq: 3,
      entry_count: 3,
      key_count: 4,
      opening_balance: 0,
      closing_balance: 9_800,
      state: "archived",
      previous_sha256: "",
    });
    expect(period.sha256).toMatch(HEX64);
    expect(period.objects.map((object) => object.kind).sort()).toEqual(["entries", "keys"]);
    for (const object of period.objects) {
      expect(object.sha256).toMatch(HEX64);
      expect(object.name.startsWith(`acme/${account}/periods/0000000001/`)).toBe(true);
    }

    // The chain, recomputed from the API alone.
    const lines = await entryLines(account, period.last_seq);
    expect(lines.map((entry) => entry.seq)).toEqual([1, 2, 3]);
    expect(
      await periodDigest(
        "",
        lines.map((entry) => entry.line),
      ),
    ).toBe(period.sha256);

    // Each object is in the archive with the size and SHA-256 listed; the entries object holds exactly those lines.
    for (const object of period.objects) {
      const stored = await env.ARCHIVE.get(object.name);
      expect(stored, object.name).not.toBeNull();
      const bytes = new Uint8Array(await (stored as R2ObjectBody).arrayBuffer());
      expect(bytes.length).toBe(object.bytes);
      expect(await sha256Hex(bytes)).toBe(object.sha256);
      const text = new TextDecoder().decode(bytes);
      if (object.kind === "entries") {
        expect(text).toBe(lines.map((entry) => `${entry.line}\n`).join(""));
      } else {
        const decided = text
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        expect(decided).toHaveLength(period.key_count);
        const keys = decided.map((line) => line.key as string);
        expect(keys).toEqual([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        for (const line of decided) expect(Object.keys(line)).toEqual(["key", "status", "code", "entry", "decided"]);
        expect(decided.map((line) => line.status).sort()).toEqual([201, 201, 201, 402]);
      }
    }

    // The close's own answer was recorded as given: its replay still says closing; GET says what is true now.
    const replay = await closePeriod(account, key);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(asClosed);
    const listed = await json<{ data: PeriodJson[] }>(await call(`/v1/accounts/${account}/periods`));
    expect(listed.data).toEqual([period]);
  });

  it("chains each period to the one before", async () => {
    const account = await fundedAccount(1_000);
    await closed(account);
    await post(account, "charges", { amount: 1, currency: "USD" });
    await post(account, "charges", { amount: 2, currency: "USD" });
    await closed(account);
    const first = await archived(account, 1);
    const second = await archived(account, 2);
    expect(second.previous_sha256).toBe(first.sha256);
    expect(second.sha256).toMatch(HEX64);
    expect(second.sha256).not.toBe(first.sha256);
    const lines = (await entryLines(account, second.last_seq)).filter((entry) => entry.seq >= second.first_seq);
    expect(lines.map((entry) => entry.seq)).toEqual([2, 3]);
    expect(
      await periodDigest(
        first.sha256 ?? "",
        lines.map((entry) => entry.line),
      ),
    ).toBe(second.sha256);
  });
});

describe("the client's closePeriod(), listPeriods() and getPeriod()", () => {
  it("closes under one key that its retry reuses, and reads the periods back", async () => {
    const account = await fundedAccount(1_000);
    // A network that loses the first answer after the server has closed the period.
    let dropped = false;
    const losesFirstAnswer: Fetch = async (url, init) => {
      const response = await exports.default.fetch(url, init);
      if (dropped) return response;
      dropped = true;
      await response.arrayBuffer();
      throw new TypeError("connection reset after the request was processed");
    };
    const client = createLedgerClient({
      baseUrl: BASE_URL,
      apiKey: ACME_KEY,
      fetch: losesFirstAnswer,
      sleep: () => Promise.resolve(),
    });
    const close = await client.closePeriod(account);
    expect(close).toMatchObject({ status: 201, replayed: true, attempts: 2 });
    expect(close.value).toMatchObject({ id: 1, first_seq: 1, last_seq: 1, state: "closing" });
    expect(typeof close.idempotencyKey).toBe("string");

    const again = await client.closePeriod(account, { idempotencyKey: close.idempotencyKey ?? "" });
    expect(again).toMatchObject({ status: 201, replayed: true, value: close.value });
    const empty = await client.closePeriod(account).catch((error: unknown) => error);
    expect(empty).toBeInstanceOf(LedgerProblemError);
    expect((empty as LedgerProblemError).problem).toMatchObject({ code: "period_empty", last_seq: 1 });

    await post(account, "credits", { amount: 1, currency: "USD" });
    await client.closePeriod(account);
    const page = await client.listPeriods(account, { limit: 1, startingAfter: 1 });
    expect(page.value.data.map((period) => period.id)).toEqual([2]);
    expect(page.value.has_more).toBe(false);
    expect((await client.getPeriod(account, 2)).value).toEqual(page.value.data[0]);
  });
});
