import { describe, expect, it } from "vitest";
import {
  MAX_BATCH_BODY_BYTES,
  MAX_BATCH_OPERATIONS,
  MAX_BODY_BYTES,
  MAX_METADATA_PAIRS,
  MAX_METADATA_VALUE_LENGTH,
} from "../../src/domain/limits.ts";
import {
  allEntries,
  call,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  json,
  openAccount,
  post,
  uniqueAccount,
  uniqueKey,
} from "../support/api.ts";
import { countRows, FAULT_MESSAGE, inLedger, records } from "../support/storage.ts";

/** POST /v1/accounts/{account}/batches: each operation decided exactly as if it had been sent alone. */

interface BatchResult {
  status: number;
  replayed: boolean;
  body: Record<string, unknown>;
}

function batch(account: string, operations: unknown) {
  return call(`/v1/accounts/${account}/batches`, {
    method: "POST",
    body: Array.isArray(operations) ? { operations } : operations,
  });
}

async function results(response: Response): Promise<BatchResult[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("application/json");
  return (await json<{ results: BatchResult[] }>(response)).results;
}

const charge = (key: string, amount = 1, extra: Record<string, unknown> = {}) => ({
  type: "charge",
  idempotency_key: key,
  amount,
  currency: "USD",
  ...extra,
});

/** The UTF-8 bytes of `body` written as compact JSON: what its single route is sent at the least. */
function utf8Bytes(body: unknown): number {
  return new TextEncoder().encode(JSON.stringify(body)).byteLength;
}

/**
 * A valid credit body of exactly `bytes` bytes as compact JSON: metadata values of four-byte
 * characters, then a last value padded to the byte.
 */
function creditOfBytes(bytes: number): Record<string, unknown> {
  const metadata: Record<string, string> = {};
  const body = { amount: 1, currency: "USD", metadata };
  const full = "\u{1F600}".repeat(MAX_METADATA_VALUE_LENGTH);
  let pairs = 0;
  for (;;) {
    metadata.pad = "";
    const rest = bytes - utf8Bytes(body);
    if (rest <= 4 * MAX_METADATA_VALUE_LENGTH - 3) {
      metadata.pad = "\u{1F600}".repeat(Math.floor(rest / 4)) + "x".repeat(rest % 4);
      break;
    }
    delete metadata.pad;
    metadata[`k${pairs++}`] = full;
  }
  expect(utf8Bytes(body)).toBe(bytes);
  return body;
}

describe("a batch", () => {
  it(`applies ${MAX_BATCH_OPERATIONS} charges in order, in one request, each answered as alone`, async () => {
    const account = await fundedAccount(1_000_000);
    const operations = Array.from({ length: MAX_BATCH_OPERATIONS }, (_, i) => charge(`k-${i}`, i + 1));
    const answered = await results(await batch(account, operations));
    expect(answered).toHaveLength(MAX_BATCH_OPERATIONS);
    let balance = 1_000_000;
    for (const [i, result] of answered.entries()) {
      balance -= i + 1;
      expect(result).toMatchObject({ status: 201, replayed: false, body: { amount: i + 1, balance_after: balance } });
      expect(result.body.idempotency_key).toBe(`k-${i}`);
    }
    expect(await getAccount(account)).toMatchObject({ balance, entry_count: MAX_BATCH_OPERATIONS + 1 });
    await expectLedgerConsistent(account);
  });

  it("records each operation so it replays alone through its single route, byte for byte", async () => {
    const account = await fundedAccount(10_000);
    const operations = [
      charge("single-1", 300, { description: "order 1", metadata: { b: "2", a: "1" } }),
      { type: "credit", idempotency_key: "single-2", amount: 50, currency: "USD" },
    ];
    const [first, second] = await results(await batch(account, operations));
    const chargeId = first?.body.id as string;
    const refundOp = { type: "refund", idempotency_key: "single-3", charge: chargeId, amount: 100 };
    const [refund] = await results(await batch(account, [refundOp]));

    const singles = [
      await post(
        account,
        "charges",
        { amount: 300, currency: "USD", metadata: { a: "1", b: "2" }, description: "order 1" },
        "single-1",
      ),
      await post(account, "credits", { amount: 50, currency: "USD" }, "single-2"),
      await post(account, "refunds", { charge: chargeId, amount: 100 }, "single-3"),
    ];
    for (const [i, single] of singles.entries()) {
      expect(single.headers.get("idempotent-replayed")).toBe("true");
      expect(await single.json()).toEqual([first, second, refund][i]?.body);
    }
    expect(await getAccount(account)).toMatchObject({ balance: 10_000 - 300 + 50 + 100, entry_count: 4 });
  });

  it("replays a key already used by a single request, and refuses it for another body", async () => {
    const account = await fundedAccount(1000);
    const original = await post(account, "charges", { amount: 10, currency: "USD" }, "used");
    const originalBody = await original.json();
    const [same, other] = await results(await batch(account, [charge("used", 10), charge("used", 11)]));
    expect(same).toEqual({ status: 201, replayed: true, body: originalBody });
    expect(other?.status).toBe(422);
    expect(other?.body.code).toBe("idempotency_key_reused");
    expect((await getAccount(account)).balance).toBe(990);
  });

  it("decides a key repeated inside one batch in order, like a retry", async () => {
    const account = await fundedAccount(1000);
    const [first, again, different] = await results(
      await batch(account, [charge("twice", 5), charge('"twice"', 5), charge("twice", 6)]),
    );
    expect(first).toMatchObject({ status: 201, replayed: false });
    expect(again).toEqual({ ...first, replayed: true });
    expect(different?.body.code).toBe("idempotency_key_reused");
    expect((await getAccount(account)).balance).toBe(995);
  });

  it("decides in order: a charge after the credit that funds it succeeds, one before it is declined for good", async () => {
    const account = await fundedAccount(0);
    const [early, credit, late] = await results(
      await batch(account, [
        charge("early", 500),
        { type: "credit", idempotency_key: "fund", amount: 500, currency: "USD" },
        charge("late", 500),
      ]),
    );
    expect(early?.status).toBe(402);
    expect(early?.body.code).toBe("insufficient_funds");
    expect(credit?.status).toBe(201);
    expect(late?.status).toBe(201);
    // The decline was recorded like any other: replaying it alone declines again.
    const replay = await post(account, "charges", { amount: 500, currency: "USD" }, "early");
    expect(replay.status).toBe(402);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
  });

  it("answers a malformed operation with its own 400, as the single route would, and runs the others", async () => {
    const account = await fundedAccount(1000);
    const answered = await results(
      await batch(account, [
        charge("ok-1", 1),
        { type: "charge", amount: 1, currency: "USD" },
        charge("bad key", 1),
        charge("ok-2", 1.5),
        { type: "payout", idempotency_key: "t", amount: 1, currency: "USD" },
        "not an object",
        charge("ok-3", 1, { surprise: true }),
        { type: "charge", idempotency_key: 7, amount: 1, currency: "USD" },
        charge("ok-4", 2),
      ]),
    );
    expect(answered.map((result) => [result.status, result.body.code ?? null])).toEqual([
      [201, null],
      [400, "idempotency_key_missing"],
      [400, "idempotency_key_invalid"],
      [400, "invalid_request"],
      [400, "invalid_request"],
      [400, "invalid_request"],
      [400, "invalid_request"],
      [400, "idempotency_key_invalid"],
      [201, null],
    ]);
    expect(answered[3]?.body.errors).toEqual([{ field: "amount", message: expect.any(String) }]);
    expect(answered[4]?.body.errors).toEqual([{ field: "type", message: expect.any(String) }]);
    expect(answered[6]?.body.errors).toEqual([{ field: "surprise", message: "unknown field" }]);
    expect((await getAccount(account)).balance).toBe(997);
    // Nothing was recorded for the malformed ones: each key is still free.
    expect((await records(account)).map((record) => record.key).sort()).toEqual(
      ["ok-1", "ok-4", expect.any(String)].sort(),
    );
  });

  it(`answers an operation whose body is over its single route's ${MAX_BODY_BYTES} bytes with that route's 413, unrecorded, and runs the others`, async () => {
    const account = await fundedAccount(1000);
    const fits = creditOfBytes(MAX_BODY_BYTES);
    const over = creditOfBytes(MAX_BODY_BYTES + 1);
    // 40 KB of metadata, every field within its own limit: 20 values of 500 four-byte characters.
    const emoji = "\u{1F600}".repeat(MAX_METADATA_VALUE_LENGTH);
    const wide = {
      amount: 1,
      currency: "USD",
      metadata: Object.fromEntries(Array.from({ length: MAX_METADATA_PAIRS }, (_, i) => [`k${i}`, emoji])),
    };
    expect(utf8Bytes(wide)).toBeGreaterThan(40_000);
    const answered = await results(
      await batch(account, [
        { type: "credit", idempotency_key: "fits", ...fits },
        { type: "credit", idempotency_key: "over", ...over },
        { type: "credit", idempotency_key: "wide", ...wide },
        charge("small", 2),
        // The single route's order: the route (type) before the size, the size before the key.
        { type: "payout", idempotency_key: "t", ...over },
        { type: "credit", ...over },
      ]),
    );
    expect(answered.map((result) => [result.status, result.replayed, result.body.code ?? null])).toEqual([
      [201, false, null],
      [413, false, "payload_too_large"],
      [413, false, "payload_too_large"],
      [201, false, null],
      [400, false, "invalid_request"],
      [413, false, "payload_too_large"],
    ]);
    expect(await getAccount(account)).toMatchObject({ balance: 1000 + 1 - 2 });

    // Each answer is the single route's: the recorded one replays through it, the 413 is its very body.
    const replay = await post(account, "credits", fits, "fits");
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await json(replay)).toEqual(answered[0]?.body);
    for (const [index, body, key] of [
      [1, over, "over"],
      [2, wide, "wide"],
    ] as const) {
      const alone = await post(account, "credits", body, key);
      expect(alone.status).toBe(413);
      expect(await json(alone)).toEqual(answered[index]?.body);
      // Unrecorded: the key was never decided.
      const lookup = await call(`/v1/accounts/${account}/idempotency-keys/${key}`);
      await expectProblem(lookup, 404, "idempotency_key_not_found");
    }
  });

  it("refuses a malformed envelope, an empty list or too many operations as a whole, changing nothing", async () => {
    const account = await fundedAccount(1000);
    const tooMany = Array.from({ length: MAX_BATCH_OPERATIONS + 1 }, (_, i) => charge(`k${i}`));
    for (const body of [{ operations: [] }, { operations: tooMany }, { operations: [charge("x")], extra: 1 }, {}]) {
      await expectProblem(await batch(account, body), 400, "invalid_request");
    }
    for (const text of ["[1]", '"operations"', '{"operations": {"type": "charge"}}']) {
      const response = await call(`/v1/accounts/${account}/batches`, { method: "POST", body: text });
      await expectProblem(response, 400, "invalid_request");
    }
    await expectProblem(
      await call(`/v1/accounts/${account}/batches`, { method: "POST", body: '{"operations": [' }),
      400,
      "invalid_json",
    );
    expect(await getAccount(account)).toMatchObject({ balance: 1000, entry_count: 1 });
  });

  it(`takes a body of up to ${MAX_BATCH_BODY_BYTES} bytes and refuses one byte more`, async () => {
    const account = await fundedAccount(1000);
    const base = JSON.stringify({ operations: [charge("big", 1, { description: "" })] });
    const fit = base.replace('"description":""', `"description":"${" ".repeat(MAX_BATCH_BODY_BYTES - base.length)}"`);
    expect(fit.length).toBe(MAX_BATCH_BODY_BYTES);
    // Not too large a batch, but too large for its operation's single route: the operation's own 413.
    const [fitted] = await results(await call(`/v1/accounts/${account}/batches`, { method: "POST", body: fit }));
    expect(fitted).toMatchObject({ status: 413, body: { code: "payload_too_large" } });
    await expectProblem(
      await call(`/v1/accounts/${account}/batches`, { method: "POST", body: `${fit} ` }),
      413,
      "payload_too_large",
    );
  });

  it("is one 404 for an account that does not exist, recording nothing", async () => {
    const account = uniqueAccount();
    await expectProblem(await batch(account, [charge("a"), "malformed"]), 404, "account_not_found");
    await expectProblem(await batch(account, ["malformed"]), 404, "account_not_found");
    await openAccount(account);
    expect(await records(account)).toEqual([]);
  });

  it("applies nothing when any operation fails unexpectedly: a 500, and a retry applies once", async () => {
    const account = await fundedAccount(10_000);
    await inLedger(account, (storage) => {
      storage.sql.exec(
        `CREATE TRIGGER fault_777 BEFORE INSERT ON ledger WHEN NEW.amount = -777 BEGIN SELECT RAISE(ABORT, '${FAULT_MESSAGE}'); END`,
      );
    });
    const operations = [charge("a", 1), charge("b", 777), charge("c", 2)];
    const failed = await batch(account, operations);
    await expectProblem(failed, 500, "internal_error");
    expect(await getAccount(account)).toMatchObject({ balance: 10_000, entry_count: 1 });
    expect(await records(account)).toHaveLength(1);

    await inLedger(account, (storage) => {
      storage.sql.exec("DROP TRIGGER fault_777");
    });
    const answered = await results(await batch(account, operations));
    expect(answered.map((result) => [result.status, result.replayed])).toEqual([
      [201, false],
      [201, false],
      [201, false],
    ]);
    expect((await getAccount(account)).balance).toBe(10_000 - 780);
    await expectLedgerConsistent(account);
  });

  it("stores the rows its operations would store sent alone, whichever it writes together", async () => {
    // New keys' charges and credits are written together; a key seen before, a refund and a decline are
    // decided alone, each after the rows before it are written. Sent one by one, the same operations must
    // leave the same rows, but for what differs per request (times, tags, request ids) or per account
    // (a fingerprint covers the account's path, the funding credit's key is unique).
    const operations = (refunded: string) => [
      charge("m-1", 100),
      charge("m-2", 200, { description: "two", metadata: { a: "1" } }),
      { type: "credit", idempotency_key: "m-3", amount: 50, currency: "USD" },
      charge("m-1", 100),
      charge("m-4", 5_000_000),
      { type: "refund", idempotency_key: "m-5", charge: refunded, amount: 30 },
      charge("m-6", 300),
      charge("used", 1),
      charge("m-7", 1, { currency: "EUR" }),
      ...Array.from({ length: 40 }, (_, i) => charge(`m-run-${i}`, i + 1)),
      { type: "refund", idempotency_key: "m-8", charge: refunded },
      charge("m-2", 201),
      charge("m-9", 7),
    ];
    const stored = (account: string) =>
      inLedger(account, (storage) => ({
        ledger: storage.sql
          .exec(
            "SELECT seq, type, amount, balance_after, key_pos, charge_id IS NOT NULL AS refund, description, metadata, key_id FROM ledger ORDER BY seq",
          )
          .toArray(),
        keys: storage.sql
          .exec<{ digests: string }>(
            "SELECT pos, key, length(fingerprint) AS fingerprint, status, code, entry_seq, digests, view, body, expires_ms - decided_ms AS ttl FROM keys WHERE pos > 1 ORDER BY pos",
          )
          .toArray()
          // A refund's charge is another id on each account.
          .map((row) => ({ ...row, digests: row.digests.replace(/charge=[0-9a-f]+/, "charge=") })),
        refunds: storage.sql.exec("SELECT refunded FROM refund_totals").toArray(),
      }));
    const prepared = async () => {
      const account = await fundedAccount(10_000);
      await post(account, "charges", { amount: 1, currency: "USD" }, "used");
      const before = await post(account, "charges", { amount: 500, currency: "USD" }, "pre");
      return { account, refunded: (await json<{ id: string }>(before)).id };
    };

    const batched = await prepared();
    const answered = await results(await batch(batched.account, operations(batched.refunded)));
    const alone = await prepared();
    const singles: [number, boolean, unknown][] = [];
    for (const operation of operations(alone.refunded)) {
      const {
        type,
        idempotency_key: key,
        ...body
      } = operation as {
        type: "credit" | "charge" | "refund";
        idempotency_key: string;
      };
      const response = await post(alone.account, `${type}s`, body, key);
      const code = (await json<{ code?: string }>(response)).code ?? null;
      singles.push([response.status, response.headers.get("idempotent-replayed") === "true", code]);
    }
    expect(answered.map((result) => [result.status, result.replayed, result.body.code ?? null])).toEqual(singles);
    expect(singles.filter(([status]) => status !== 201)).toHaveLength(3);
    expect(singles.filter(([, replayed]) => replayed)).toHaveLength(2);
    expect(await stored(batched.account)).toEqual(await stored(alone.account));
    await expectLedgerConsistent(batched.account);
  });

  it("shows its operations to the key lookup like any other", async () => {
    const account = await fundedAccount(1000);
    const [result] = await results(await batch(account, [charge("looked-up", 3)]));
    const lookup = await json(await call(`/v1/accounts/${account}/idempotency-keys/looked-up`));
    expect(lookup).toMatchObject({ state: "recorded", response: { status: 201, body: result?.body } });
  });
});

describe("group commit", () => {
  it("decides concurrent singles and batches on one account as one serial history", async () => {
    const account = await fundedAccount(100_000);
    const singles = Array.from({ length: 40 }, (_, i) =>
      post(account, "charges", { amount: 1, currency: "USD" }, `s-${i}`),
    );
    const batches = Array.from({ length: 5 }, (_, b) =>
      batch(
        account,
        Array.from({ length: 20 }, (_, i) => charge(`b-${b}-${i}`, 2)),
      ),
    );
    const copies = Array.from({ length: 10 }, () => post(account, "charges", { amount: 1, currency: "USD" }, "s-0"));
    const answers = await Promise.all([...singles, ...batches, ...copies]);
    expect(answers.every((answer) => answer.status === 201 || answer.status === 200)).toBe(true);
    const entries = await allEntries(account);
    expect(entries).toHaveLength(1 + 40 + 100);
    expect(new Set(entries.map((entry) => entry.idempotency_key)).size).toBe(entries.length);
    expect((await getAccount(account)).balance).toBe(100_000 - 40 - 200);
    await expectLedgerConsistent(account);
  });

  it("isolates a write that fails from the others decided in the same group", async () => {
    const account = await fundedAccount(10_000);
    await inLedger(account, (storage) => {
      storage.sql.exec(
        `CREATE TRIGGER fault_13 BEFORE INSERT ON ledger WHEN NEW.amount = -13 BEGIN SELECT RAISE(ABORT, '${FAULT_MESSAGE}'); END`,
      );
    });
    const amounts = [1, 2, 13, 3, 4, 13, 5];
    const answers = await Promise.all(
      amounts.map((amount) => post(account, "charges", { amount, currency: "USD" }, uniqueKey())),
    );
    expect(answers.map((answer) => answer.status)).toEqual(amounts.map((amount) => (amount === 13 ? 500 : 201)));
    expect((await getAccount(account)).balance).toBe(10_000 - 15);
    expect(await inLedger(account, (storage) => countRows(storage, "keys"))).toBe(1 + 5);
    await expectLedgerConsistent(account);
  });
});
