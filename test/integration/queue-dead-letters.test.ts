import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeadLetterList, DeadLetterView } from "../../src/domain/dead-letters.ts";
import { COMMAND_MAX_RETRIES, MAX_DEAD_LETTER_ID_LENGTH } from "../../src/domain/limits.ts";
import { buildApp, withLastResort } from "../../src/http/app.ts";
import { sha256Hex } from "../../src/lib/sha256.ts";
import type { DeadLetter } from "../../src/queue/command-consumer.ts";
import {
  ACME_KEY,
  GLOBEX_KEY,
  allEntries,
  call,
  expectInvalid,
  expectProblem,
  getAccount,
  json,
  openAccount,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { expectUnauthorized } from "../support/http.ts";
import { DEV_API_KEY, TEST_OPERATOR_KEYS } from "../support/keys.ts";
import { command, deliver, messageId, recordingQueues } from "../support/queues.ts";

/**
 * Dead letters kept until an operator acts: the consumer stores each one in
 * the real dead-letter store object as it sends it to the real dead-letter
 * queue; an operator (a key in OPERATOR_KEYS, never a tenant's) lists,
 * inspects, replays and discards them; a replay goes back through the real
 * commands queue to the real consumer and is decided once, however often
 * it is replayed.
 */

const OPERATOR_KEY = TEST_OPERATOR_KEYS.oncall[0];
const LAST_DELIVERY = COMMAND_MAX_RETRIES + 1;
const LETTERS = "/v1/operator/dead-letters";
const usd = (amount: number) => ({ amount, currency: "USD" });

function asOperator(path: string, method = "GET", key: string | null = OPERATOR_KEY): Promise<Response> {
  return call(path, { method, key });
}

async function letter(id: string): Promise<DeadLetterView> {
  const response = await asOperator(`${LETTERS}/${encodeURIComponent(id)}`);
  expect(response.status).toBe(200);
  return json<DeadLetterView>(response);
}

/** Every letter a query lists, following `starting_after` page by page. */
async function listAll(query: string, limit = 100): Promise<DeadLetterView[]> {
  const letters: DeadLetterView[] = [];
  let cursor: string | undefined;
  for (;;) {
    const after = cursor === undefined ? "" : `&starting_after=${encodeURIComponent(cursor)}`;
    const response = await asOperator(`${LETTERS}?limit=${limit}${query === "" ? "" : `&${query}`}${after}`);
    expect(response.status).toBe(200);
    const page = await json<DeadLetterList>(response);
    letters.push(...page.data);
    if (!page.has_more) return letters;
    cursor = page.data.at(-1)?.id;
  }
}

/** Dead-letters `body` through the real consumer, on its last delivery unless `attempts` says otherwise. */
async function deadLetter(body: unknown, attempts = LAST_DELIVERY): Promise<string> {
  const { bindings, deadLetters } = recordingQueues();
  const id = messageId();
  const outcome = await deliver([{ id, body, attempts }], bindings);
  expect(outcome.explicitAcks).toEqual([id]);
  expect(deadLetters.sent).toHaveLength(1);
  return id;
}

/** The Worker with some of its configuration replaced. */
async function fetchWith(overrides: Partial<Env>, path: string, key: string): Promise<Response> {
  const worker = withLastResort(buildApp());
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`https://ledger.test${path}`, { headers: { authorization: `Bearer ${key}` } }),
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  // The platform's own queue delivers to the consumer within its batch timeout.
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("storing dead letters", () => {
  it("stores each letter once, as the consumer sends it, however often its message is delivered", async () => {
    const { bindings, deadLetters } = recordingQueues();
    const id = messageId();
    const body = command({ account: uniqueAccount(), operation: "credit", key: uniqueKey(), request: usd(-5) });
    // The first delivery stores it, then its send to the queue fails: the message comes back.
    deadLetters.failures = 1;
    const first = await deliver([{ id, body }], bindings);
    expect(first.retryMessages.map((m) => m.msgId)).toEqual([id]);
    const second = await deliver([{ id, body, attempts: 2 }], bindings);
    expect(second.explicitAcks).toEqual([id]);
    // The queue gets the letter as it always did.
    expect(deadLetters.sent).toEqual([
      { reason: "invalid_command", errors: [expect.objectContaining({ field: "request.amount" })], original: body },
    ]);

    const stored = await letter(id);
    const sent = deadLetters.sent[0] as DeadLetter;
    expect(stored).toEqual({
      id,
      tenant: "acme",
      reason: sent.reason,
      errors: sent.errors,
      original: body,
      attempts: 1,
      dead_lettered: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      replayable: false,
      replayed: null,
      replayed_by: null,
    });
    expect((await listAll("reason=invalid_command")).filter((l) => l.id === id)).toHaveLength(1);

    // A redelivery long after changes nothing stored.
    await deliver([{ id, body, attempts: 3 }], bindings);
    expect(await letter(id)).toEqual(stored);
  });

  it("keeps what the consumer gave up on at a message's last delivery, with its reason", async () => {
    const account = uniqueAccount();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(5), tenant: "globex" });
    const id = await deadLetter(body);
    expect(await letter(id)).toMatchObject({
      tenant: "globex",
      reason: "account_not_found",
      errors: [],
      original: body,
      attempts: LAST_DELIVERY,
      replayable: true,
    });
  });
});

describe("listing dead letters", () => {
  it("filters by tenant, by reason, by whether they were replayed, and pages in the order they were stored", async () => {
    const account = uniqueAccount();
    const ids = {
      acmeInvalid: await deadLetter(command({ account, operation: "credit", key: "", request: usd(1) }), 1),
      acmeMissing: await deadLetter(command({ account, operation: "credit", key: uniqueKey(), request: usd(1) })),
      globexMissing: await deadLetter(
        command({ account, operation: "credit", key: uniqueKey(), request: usd(1), tenant: "globex" }),
      ),
      unknownTenant: await deadLetter(
        command({ account, operation: "credit", key: uniqueKey(), request: usd(1), tenant: "mallory" }),
        1,
      ),
      notJson: await deadLetter("not json", 1),
    };

    const acme = await listAll("tenant=acme");
    expect(acme.every((l) => l.tenant === "acme")).toBe(true);
    expect(acme.map((l) => l.id)).toEqual(expect.arrayContaining([ids.acmeInvalid, ids.acmeMissing]));
    expect(acme.map((l) => l.id)).not.toContain(ids.globexMissing);

    const globexMissing = await listAll("tenant=globex&reason=account_not_found");
    expect(globexMissing.every((l) => l.tenant === "globex" && l.reason === "account_not_found")).toBe(true);
    expect(globexMissing.map((l) => l.id)).toContain(ids.globexMissing);

    const acmeInvalid = await listAll("tenant=acme&reason=invalid_command&replayed=false");
    expect(acmeInvalid.map((l) => l.id)).toContain(ids.acmeInvalid);
    expect(acmeInvalid.map((l) => l.id)).not.toContain(ids.acmeMissing);
    expect(acmeInvalid.find((l) => l.id === ids.acmeInvalid)?.errors).toEqual([
      expect.objectContaining({ field: "idempotency_key" }),
    ]);

    const noTenant = await listAll("no_tenant=true");
    expect(noTenant.every((l) => l.tenant === null)).toBe(true);
    expect(noTenant.map((l) => l.id)).toEqual(expect.arrayContaining([ids.unknownTenant, ids.notJson]));

    // Page by page, one letter a page, is every letter once, oldest first, as one page lists them.
    const all = await listAll("");
    expect(await listAll("", 1)).toEqual(all);
    const order = Object.values(ids).map((id) => all.findIndex((l) => l.id === id));
    expect(order.every((index, i) => index >= 0 && (i === 0 || index > (order[i - 1] ?? 0)))).toBe(true);
    expect(all.filter((l) => l.replayed !== null)).toEqual(await listAll("replayed=true"));
  });

  it("refuses a bad query with 400 invalid_request naming the parameter, never a 500", async () => {
    for (const [query, field] of [
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["limit=1&limit=2", "limit"],
      ["reason=bogus", "reason"],
      ["tenant=ACME", "tenant"],
      ["replayed=yes", "replayed"],
      ["no_tenant=1", "no_tenant"],
      ["tenant=acme&no_tenant=true", "no_tenant"],
      ["starting_after=no-such-letter", "starting_after"],
      [`starting_after=${"x".repeat(MAX_DEAD_LETTER_ID_LENGTH + 1)}`, "starting_after"],
      ["colour=blue", "colour"],
    ] as const) {
      await expectInvalid(await asOperator(`${LETTERS}?${query}`), [field]);
    }
    await expectInvalid(await asOperator(`${LETTERS}/${"x".repeat(MAX_DEAD_LETTER_ID_LENGTH + 1)}`), ["id"]);
    await expectProblem(await asOperator(`${LETTERS}/no-such-letter`), 404, "dead_letter_not_found");
    await expectProblem(await asOperator(`${LETTERS}/no-such-letter/replays`, "POST"), 404, "dead_letter_not_found");
    await expectProblem(await asOperator(`${LETTERS}/no-such-letter`, "DELETE"), 404, "dead_letter_not_found");
    await expectProblem(await asOperator(`${LETTERS}/x`, "POST"), 405, "method_not_allowed");
    await expectProblem(await asOperator(`${LETTERS}/x/nope`), 404, "not_found");
  });
});

describe("who the operator is", () => {
  it("refuses tenant keys, the development key and no key on every operator route, and changes nothing", async () => {
    const id = await deadLetter(
      command({ account: uniqueAccount(), operation: "credit", key: uniqueKey(), request: usd(1) }),
    );
    const before = await letter(id);
    const routes = [
      ["GET", LETTERS],
      ["GET", `${LETTERS}/${id}`],
      ["POST", `${LETTERS}/${id}/replays`],
      ["DELETE", `${LETTERS}/${id}`],
      ["GET", "/v1/operator/nope"],
    ] as const;
    for (const [method, path] of routes) {
      for (const key of [ACME_KEY, GLOBEX_KEY, DEV_API_KEY, "olk_test_nobody"]) {
        const response = await asOperator(path, method, key);
        const body = await json(response.clone());
        expect(body.detail, `${method} ${path}`).toContain("operator key");
        await expectUnauthorized(response);
      }
      await expectUnauthorized(await asOperator(path, method, null), "none");
    }
    expect(await letter(id)).toEqual(before);
  });

  it("is not a tenant: an operator key opens no tenant route", async () => {
    await expectUnauthorized(await call(`/v1/accounts/${uniqueAccount()}`, { key: OPERATOR_KEY }));
    await expectUnauthorized(await call("/v1/accounts", { key: OPERATOR_KEY }));
  });

  it("refuses everyone, loudly, when OPERATOR_KEYS would let a tenant's key act as operator", async () => {
    const shared = JSON.stringify({ oncall: [sha256Hex(ACME_KEY)] });
    for (const key of [ACME_KEY, OPERATOR_KEY]) {
      const response = await fetchWith({ OPERATOR_KEYS: shared }, LETTERS, key);
      await expectProblem(response, 500, "internal_error");
    }
    const malformed = await fetchWith({ OPERATOR_KEYS: '{"oncall":"not a list"}' }, LETTERS, OPERATOR_KEY);
    await expectProblem(malformed, 500, "internal_error");
    // With no OPERATOR_KEYS there is no operator at all; tenants are served as ever.
    const none = { OPERATOR_KEYS: undefined };
    await expectUnauthorized(await fetchWith(none, LETTERS, OPERATOR_KEY));
    await expectUnauthorized(await fetchWith(none, LETTERS, ACME_KEY));
    expect((await fetchWith(none, "/v1/accounts", ACME_KEY)).status).toBe(200);
  });

  it("sees the letters of no known tenant, which no tenant can", async () => {
    const body = command({
      account: uniqueAccount(),
      operation: "credit",
      key: uniqueKey(),
      request: usd(1),
      tenant: "mallory",
    });
    const id = await deadLetter(body, 1);
    expect(await letter(id)).toMatchObject({ tenant: null, reason: "unknown_tenant", original: body });
    expect((await listAll("no_tenant=true")).map((l) => l.id)).toContain(id);
    expect((await listAll("tenant=mallory")).map((l) => l.id)).not.toContain(id);
    for (const key of [ACME_KEY, GLOBEX_KEY]) {
      await expectUnauthorized(await asOperator(`${LETTERS}?no_tenant=true`, "GET", key));
      await expectUnauthorized(await asOperator(`${LETTERS}/${id}`, "GET", key));
    }
    // No tenant route shows dead letters at all.
    await expectProblem(await call("/v1/dead-letters"), 404, "not_found");
  });
});

describe("replaying a dead letter", () => {
  it("applies it once the cause is fixed, through the real commands queue, and only once however often it is replayed", async () => {
    const account = uniqueAccount();
    const key = uniqueKey();
    const body = command({ account, operation: "credit", key, request: usd(500) });
    const id = await deadLetter(body);
    expect(await letter(id)).toMatchObject({ reason: "account_not_found", replayable: true, replayed: null });

    // The cause: the account was never opened. Fixed, the letter is replayed.
    await openAccount(account);
    const replay = await asOperator(`${LETTERS}/${id}/replays`, "POST");
    expect(replay.status).toBe(202);
    const replayed = await json<DeadLetterView>(replay);
    expect(replayed).toMatchObject({ id, replayed: expect.any(String), replayed_by: "oncall" });
    expect(await letter(id)).toEqual(replayed);

    // Replayed again: nothing is sent, the letter is as it was.
    const again = await asOperator(`${LETTERS}/${id}/replays`, "POST");
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(replayed);

    await until(async () => (await getAccount(account)).balance === 500, "the replayed credit");
    // Even sent twice (a replay whose mark was lost), the command is decided once, under its own key.
    const redelivered = await deliver([{ id: messageId(), body }], recordingQueues().bindings);
    expect(redelivered.explicitAcks).toHaveLength(1);
    expect(await getAccount(account)).toMatchObject({ balance: 500, entry_count: 1 });
    const entries = await allEntries(account);
    expect(entries.map((e) => [e.type, e.idempotency_key])).toEqual([["credit", key]]);
    expect((await listAll("replayed=true")).map((l) => l.id)).toContain(id);
  });

  it("sends a letter replayed twice at once only once", async () => {
    const account = uniqueAccount();
    const id = await deadLetter(command({ account, operation: "credit", key: uniqueKey(), request: usd(7) }));
    await openAccount(account);
    const answers = await Promise.all([1, 2, 3].map(() => asOperator(`${LETTERS}/${id}/replays`, "POST")));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 202]);
    await until(async () => (await getAccount(account)).balance === 7, "the replayed credit");
    expect(await getAccount(account)).toMatchObject({ balance: 7, entry_count: 1 });
  });

  it("refuses a letter that was its message's own fault, sends nothing, and lets the operator discard it", async () => {
    const id = await deadLetter("{", 1);
    const refused = await asOperator(`${LETTERS}/${id}/replays`, "POST");
    const problem = await expectProblem(refused, 409, "dead_letter_not_replayable");
    expect(problem.reason).toBe("invalid_json");
    expect(await letter(id)).toMatchObject({ reason: "invalid_json", replayable: false, replayed: null });

    const discarded = await asOperator(`${LETTERS}/${id}`, "DELETE");
    expect(discarded.status).toBe(204);
    await expectProblem(await asOperator(`${LETTERS}/${id}`), 404, "dead_letter_not_found");
    await expectProblem(await asOperator(`${LETTERS}/${id}`, "DELETE"), 404, "dead_letter_not_found");
    expect((await listAll("")).map((l) => l.id)).not.toContain(id);
  });
});
