import { describe, expect, it } from "vitest";
import {
  MAX_EXAMPLES,
  checkAnswers,
  decisionOf,
  expiredAnswerMismatch,
  checkChain,
  checkEntryOwners,
  checkLookup,
  checkOperation,
  checkRules,
  totalViolations,
  violationRecorder,
} from "../../../../scripts/chaos/checks.ts";
import type { LogicalOp, Observation } from "../../../../scripts/chaos/model.ts";
import type { EntryView, IdempotencyKeyLookup } from "../../../../src/client/onceledger-client.ts";

/** The chaos audit's checks catch each violation they name, and pass a clean ledger. */

function entry(seq: number, amount: number, balanceAfter: number, key: string, id = `e${seq}`): EntryView {
  return {
    id,
    seq,
    type: amount < 0 ? "charge" : "credit",
    amount,
    currency: "USD",
    balance_after: balanceAfter,
    created: "2026-11-26T00:00:00.000Z",
    idempotency_key: key,
    charge: null,
    key_id: null,
    description: null,
    metadata: {},
  };
}

function op(key: string, outcome: LogicalOp["outcome"], kind: LogicalOp["kind"] = "charge"): LogicalOp {
  return { account: "a", kind, body: { amount: 5, currency: "USD" }, key, outcome, calls: 1, attempts: 1 };
}

/** The expired-key problem exactly as the server renders it (src/domain/problems.ts). */
function expiredBody(originalStatus: number, originalCode: string | null, entry: string | null, extra = {}): string {
  return JSON.stringify({
    type: "urn:onceledger:problem:idempotency_key_expired",
    title: "Idempotency-Key already decided",
    status: 409,
    detail: "This Idempotency-Key was already decided.",
    code: "idempotency_key_expired",
    original_status: originalStatus,
    original_code: originalCode,
    entry,
    ...extra,
  });
}

const applied = (id: string, amount: number) => ({ kind: "applied" as const, status: 201, id, amount });
const answer = (body: string, replayed: boolean, status = 201): Observation => ({ status, body, replayed });

function check(run: (flag: ReturnType<typeof violationRecorder>["flag"]) => void) {
  const { violations, flag } = violationRecorder();
  run(flag);
  return violations.count;
}

describe("checkChain", () => {
  const chain = [entry(1, 100, 100, "k1"), entry(2, -30, 70, "k2"), entry(3, 5, 75, "k3")];

  it("passes a gapless chain whose balances are running sums", () => {
    const counts = check((flag) => checkChain("a", chain, { balance: 75, entry_count: 3 }, flag));
    expect(Object.values(counts).every((count) => count === 0)).toBe(true);
  });

  it("flags a gap in the sequence", () => {
    const gapped = [chain[0], chain[2]] as EntryView[];
    expect(check((flag) => checkChain("a", gapped, { balance: 105, entry_count: 2 }, flag)).sequenceGaps).toBe(1);
  });

  it("flags a balance_after that is not the running sum, and an account total that disagrees", () => {
    const wrong = [chain[0], { ...chain[1], balance_after: 71 }] as EntryView[];
    expect(check((flag) => checkChain("a", wrong, { balance: 71, entry_count: 2 }, flag)).balanceMismatches).toBe(1);
    expect(check((flag) => checkChain("a", chain, { balance: 76, entry_count: 3 }, flag)).balanceMismatches).toBe(1);
    expect(check((flag) => checkChain("a", chain, { balance: 75, entry_count: 4 }, flag)).balanceMismatches).toBe(1);
  });
});

describe("checkOperation", () => {
  it("passes an applied operation with exactly its confirmed entry, and a decline with none", () => {
    const counts = check((flag) => {
      checkOperation(op("k1", applied("e1", 30)), new Map([["k1", [entry(1, -30, -30, "k1")]]]), flag);
      checkOperation(op("k2", { kind: "declined", status: 402, code: "insufficient_funds" }), new Map(), flag);
    });
    expect(Object.values(counts).every((count) => count === 0)).toBe(true);
  });

  it("flags two entries for one key, and an entry for a declined operation, as double-applied", () => {
    const twice = new Map([["k1", [entry(1, -30, -30, "k1"), entry(2, -30, -60, "k1", "e2")]]]);
    expect(check((flag) => checkOperation(op("k1", applied("e1", 30)), twice, flag)).doubleApplied).toBe(1);
    const declinedButMoved = new Map([["k1", [entry(1, -30, -30, "k1")]]]);
    const declined = op("k1", { kind: "declined", status: 402, code: "insufficient_funds" });
    expect(check((flag) => checkOperation(declined, declinedButMoved, flag)).doubleApplied).toBe(1);
  });

  it("expects credits and refunds as positive entries and charges as negative ones", () => {
    const credit = op("k1", applied("e1", 30), "credit");
    const refund = op("k2", applied("e2", 30), "refund");
    const right = new Map([
      ["k1", [entry(1, 30, 30, "k1", "e1")]],
      ["k2", [entry(2, 30, 60, "k2", "e2")]],
    ]);
    const counts = check((flag) => {
      checkOperation(credit, right, flag);
      checkOperation(refund, right, flag);
    });
    expect(counts.lost).toBe(0);
    const wrongSign = new Map([
      ["k1", [entry(1, -30, -30, "k1", "e1")]],
      ["k2", [entry(2, -30, -60, "k2", "e2")]],
    ]);
    const flagged = check((flag) => {
      checkOperation(credit, wrongSign, flag);
      checkOperation(refund, wrongSign, flag);
    });
    expect(flagged.lost).toBe(2);
  });

  it("flags a confirmed operation with no entry, another entry, or another amount, as lost", () => {
    const confirmed = op("k1", applied("e1", 30));
    expect(check((flag) => checkOperation(confirmed, new Map(), flag)).lost).toBe(1);
    const other = new Map([["k1", [entry(1, -30, -30, "k1", "e9")]]]);
    expect(check((flag) => checkOperation(confirmed, other, flag)).lost).toBe(1);
    const amount = new Map([["k1", [entry(1, 30, 30, "k1")]]]);
    expect(check((flag) => checkOperation(confirmed, amount, flag)).lost).toBe(1);
  });

  it("flags an operation left without a definite outcome, and an unexpected problem", () => {
    expect(check((flag) => checkOperation(op("k1", null), new Map(), flag)).undetermined).toBe(1);
    const unexpected = op("k1", { kind: "unexpected", status: 422, code: "idempotency_key_reused", detail: "x" });
    expect(check((flag) => checkOperation(unexpected, new Map(), flag)).unexpectedProblems).toBe(1);
  });
});

describe("checkRules", () => {
  const charge = { ...entry(2, -50, 50, "k2"), type: "charge" as const };
  const refund = (seq: number, amount: number, balanceAfter: number, of: string | null = charge.id) => ({
    ...entry(seq, amount, balanceAfter, `r${seq}`),
    type: "refund" as const,
    charge: of,
  });

  it("passes refunds up to their charge and charges down to the overdraft limit", () => {
    const entries = [entry(1, 100, 100, "k1"), charge, refund(3, 20, 70), refund(4, 30, 100)];
    expect(check((flag) => checkRules("a", entries, { overdraft_limit: 0 }, flag)).ruleViolations).toBe(0);
    const deep = [{ ...entry(1, -40, -40, "k1"), type: "charge" as const }];
    expect(check((flag) => checkRules("a", deep, { overdraft_limit: 40 }, flag)).ruleViolations).toBe(0);
  });

  it("flags refunds beyond their charge or of no charge, and a charge below the overdraft limit", () => {
    const over = [entry(1, 100, 100, "k1"), charge, refund(3, 30, 80), refund(4, 21, 101)];
    expect(check((flag) => checkRules("a", over, { overdraft_limit: 0 }, flag)).ruleViolations).toBe(1);
    const orphan = [entry(1, 100, 100, "k1"), refund(2, 5, 105, "ch_elsewhere"), refund(3, 5, 110, null)];
    expect(check((flag) => checkRules("a", orphan, { overdraft_limit: 0 }, flag)).ruleViolations).toBe(2);
    const deep = [{ ...entry(1, -41, -41, "k1"), type: "charge" as const }];
    expect(check((flag) => checkRules("a", deep, { overdraft_limit: 40 }, flag)).ruleViolations).toBe(1);
  });
});

describe("checkEntryOwners", () => {
  it("flags an entry no operation of this account made", () => {
    const ops = new Map([["k1", op("k1", applied("e1", 30))]]);
    const entries = [entry(1, -30, -30, "k1"), entry(2, -5, -35, "stranger")];
    expect(check((flag) => checkEntryOwners("a", entries, ops, flag)).unknownEntries).toBe(1);
    expect(check((flag) => checkEntryOwners("b", entries.slice(0, 1), ops, flag)).unknownEntries).toBe(1);
  });
});

describe("checkAnswers", () => {
  it("passes identical answers with one original, in any arrival order", () => {
    const answers = [answer("x", true), answer("x", false), answer("x", true)];
    expect(check((flag) => expect(checkAnswers("k", answers, false, flag)).toBe(2)).replayMismatches).toBe(0);
  });

  it("flags a replay whose bytes or status differ, and two answers claiming to be the original", () => {
    expect(
      check((flag) => checkAnswers("k", [answer("x", false), answer("x ", true)], false, flag)).replayMismatches,
    ).toBe(1);
    expect(
      check((flag) => checkAnswers("k", [answer("x", false), answer("x", true, 200)], false, flag)).replayMismatches,
    ).toBe(1);
    expect(
      check((flag) => checkAnswers("k", [answer("x", false), answer("x", false)], false, flag)).replayMismatches,
    ).toBe(1);
  });

  it("requires exactly one original when every delivery was answered, at most one otherwise", () => {
    const onlyReplays = [answer("x", true), answer("x", true)];
    expect(check((flag) => checkAnswers("k", onlyReplays, false, flag)).replayMismatches).toBe(1);
    expect(check((flag) => checkAnswers("k", onlyReplays, true, flag)).replayMismatches).toBe(0);
  });

  const charged = { status: 201, body: '{"id":"ch_1","amount":5}', replayed: false };
  const declined = { status: 402, body: '{"code":"insufficient_funds"}', replayed: false };
  const closed = { status: 201, body: '{"id":3,"first_seq":7,"state":"closing"}', replayed: false };
  const expired = (originalStatus: number, originalCode: string | null, entry: string | null, extra = {}) => ({
    status: 409,
    body: expiredBody(originalStatus, originalCode, entry, extra),
    replayed: false,
  });

  it("accepts an answer after expiry that reports the same decision, and is nobody's original", () => {
    expect(
      check((flag) => checkAnswers("k", [charged, expired(201, null, "ch_1")], false, flag)).replayMismatches,
    ).toBe(0);
    expect(
      check((flag) => checkAnswers("k", [declined, expired(402, "insufficient_funds", null)], false, flag))
        .replayMismatches,
    ).toBe(0);
    // A close's answer names a period, not an entry: its expired decision names no entry.
    expect(check((flag) => checkAnswers("k", [closed, expired(201, null, null)], false, flag)).replayMismatches).toBe(
      0,
    );
  });

  it("flags an answer after expiry that reports another decision", () => {
    expect(
      check((flag) => checkAnswers("k", [charged, expired(201, null, "ch_2")], false, flag)).replayMismatches,
    ).toBe(1);
    expect(
      check((flag) => checkAnswers("k", [declined, expired(201, null, "ch_1")], false, flag)).replayMismatches,
    ).toBe(1);
    expect(check((flag) => checkAnswers("k", [closed, expired(201, null, "ch_1")], false, flag)).replayMismatches).toBe(
      1,
    );
  });

  it("accepts after expiry exactly the expired-key problem and nothing else", () => {
    const flagged = (answer: Observation) =>
      check((flag) => checkAnswers("k", [charged, answer], false, flag)).replayMismatches;
    expect(flagged(expired(201, null, "ch_1", { extra: 1 }))).toBe(1);
    // Not a 409, so not an expired answer at all: a second original whose bytes differ.
    expect(flagged({ ...expired(201, null, "ch_1"), status: 410 })).toBe(2);
    expect(flagged({ ...expired(201, null, "ch_1"), replayed: true })).toBe(1);
    const withoutCode = JSON.parse(expiredBody(201, null, "ch_1")) as Record<string, unknown>;
    delete withoutCode.original_code;
    expect(flagged({ status: 409, body: JSON.stringify(withoutCode), replayed: false })).toBe(1);
  });

  it("requires every answer after expiry to be the same bytes", () => {
    const other = { ...expired(201, null, "ch_1"), body: expiredBody(201, null, "ch_1").replace("decided", "Decided") };
    expect(
      check((flag) => checkAnswers("k", [charged, expired(201, null, "ch_1"), other], false, flag)).replayMismatches,
    ).toBe(1);
  });

  it("without a recorded answer, holds answers after expiry to the decision the run settled on", () => {
    const settled = { status: 201, code: null, entry: "ch_1" };
    expect(check((flag) => checkAnswers("k", [expired(201, null, "ch_1")], true, flag, settled)).replayMismatches).toBe(
      0,
    );
    expect(check((flag) => checkAnswers("k", [expired(201, null, "ch_2")], true, flag, settled)).replayMismatches).toBe(
      1,
    );
  });
});

describe("expiredAnswerMismatch", () => {
  it("names what differs, or null for the exact answer", () => {
    const decided = { status: 402, code: "insufficient_funds", entry: null };
    expect(expiredAnswerMismatch({ status: 409, body: expiredBody(402, "insufficient_funds", null) }, decided)).toBe(
      null,
    );
    expect(expiredAnswerMismatch({ status: 409, body: expiredBody(402, null, null) }, decided)).toMatch(/reports/);
    expect(
      expiredAnswerMismatch({ status: 409, body: '{"code":"idempotency_key_expired","original_status":402}' }, decided),
    ).toMatch(/fields/);
  });
});

describe("decisionOf", () => {
  it("reads a recorded answer's own decision, and the original one an expired answer reports", () => {
    expect(decisionOf({ status: 201, body: '{"id":"re_9"}' })).toEqual({
      expired: false,
      status: 201,
      code: null,
      entry: "re_9",
    });
    expect(decisionOf({ status: 409, body: '{"code":"currency_mismatch"}' })).toEqual({
      expired: false,
      status: 409,
      code: "currency_mismatch",
      entry: null,
    });
    expect(
      decisionOf({
        status: 409,
        body: '{"code":"idempotency_key_expired","original_status":402,"original_code":"insufficient_funds","entry":null}',
      }),
    ).toEqual({ expired: true, status: 402, code: "insufficient_funds", entry: null });
  });
});

describe("checkLookup", () => {
  const created = entry(1, -30, -30, "k1");
  const lookup = (response: IdempotencyKeyLookup["response"], found: EntryView | null): IdempotencyKeyLookup => ({
    key: "k1",
    state: "recorded",
    created: null,
    expires: null,
    response,
    original_status: response?.status ?? 201,
    original_code: null,
    request_id: null,
    entry: found,
  });

  it("passes a lookup that repeats the first answer and names the confirmed entry", () => {
    const body = { id: "e1", amount: 30 };
    const counts = check((flag) =>
      checkLookup(
        op("k1", applied("e1", 30)),
        lookup({ status: 201, body }, created),
        answer(JSON.stringify(body), false),
        flag,
      ),
    );
    expect(counts.lookupMismatches).toBe(0);
  });

  it("flags a lookup whose response or entry disagrees with what the requests got", () => {
    const body = { id: "e1", amount: 30 };
    const confirmed = op("k1", applied("e1", 30));
    const first = answer(JSON.stringify(body), false);
    expect(
      check((flag) => checkLookup(confirmed, lookup({ status: 201, body: { id: "e2" } }, created), first, flag))
        .lookupMismatches,
    ).toBe(1);
    expect(
      check((flag) => checkLookup(confirmed, lookup({ status: 201, body }, null), first, flag)).lookupMismatches,
    ).toBe(1);
    expect(check((flag) => checkLookup(confirmed, lookup(null, created), first, flag)).lookupMismatches).toBe(1);
  });

  it("after expiry, checks the entry alone, and accepts finding nothing only for a decline", () => {
    const confirmed = op("k1", applied("e1", 30));
    const declined = op("k2", { kind: "declined", status: 402, code: "insufficient_funds" });
    const expired = { ...lookup(null, created), state: "expired" as const };
    const first = answer("{}", false);
    expect(check((flag) => checkLookup(confirmed, expired, first, flag)).lookupMismatches).toBe(0);
    expect(check((flag) => checkLookup(confirmed, { ...expired, entry: null }, first, flag)).lookupMismatches).toBe(1);
    expect(check((flag) => checkLookup(declined, null, first, flag)).lookupMismatches).toBe(0);
    expect(check((flag) => checkLookup(confirmed, null, first, flag)).lookupMismatches).toBe(1);
  });
});

describe("violationRecorder", () => {
  it(`counts every violation but keeps at most ${MAX_EXAMPLES} examples of each`, () => {
    const { violations, flag } = violationRecorder();
    for (let i = 0; i < MAX_EXAMPLES + 5; i += 1) flag("lost", `example ${i}`);
    expect(violations.count.lost).toBe(MAX_EXAMPLES + 5);
    expect(violations.examples.lost).toHaveLength(MAX_EXAMPLES);
    expect(totalViolations(violations)).toBe(MAX_EXAMPLES + 5);
  });
});
