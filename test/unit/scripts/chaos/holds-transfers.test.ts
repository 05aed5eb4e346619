import { describe, expect, it } from "vitest";
import { checkAnswers, checkRules, violationRecorder } from "../../../../scripts/chaos/checks.ts";
import { checkHolds, emptyHoldTally } from "../../../../scripts/chaos/hold-checks.ts";
import type { LogicalOp, OpBody } from "../../../../scripts/chaos/model.ts";
import {
  checkConservation,
  checkTransfers,
  emptyTransferTally,
  findUnnamedTransfers,
} from "../../../../scripts/chaos/transfers.ts";
import type { AccountView, EntryView } from "../../../../src/client/onceledger-client.ts";
import type { HoldView, TransferView } from "../../../../src/domain/views.ts";

/** The chaos audit's checks of holds, transfers and conservation catch what they name, and pass a clean run. */

const NOW = Date.parse("2026-12-07T12:00:00.000Z");
const LATER = "2026-12-14T12:00:00.000Z";

function check(run: (flag: ReturnType<typeof violationRecorder>["flag"]) => void) {
  const { violations, flag } = violationRecorder();
  run(flag);
  return violations.count;
}

function op(account: string, kind: LogicalOp["kind"], key: string, body: OpBody, outcome: LogicalOp["outcome"]) {
  return { account, kind, body, key, outcome, calls: 1, attempts: 1 } satisfies LogicalOp;
}
const applied = (id: string | null, amount: number | null = null, status = 201) =>
  ({ kind: "applied", status, id, amount }) as const;
const declined = (code: string, status = 409) => ({ kind: "declined", status, code }) as const;

function entry(fields: Partial<EntryView> & Pick<EntryView, "id" | "seq" | "type" | "amount">): EntryView {
  return {
    currency: "USD",
    balance_after: 0,
    created: "2026-12-07T11:00:00.000Z",
    idempotency_key: `k-${fields.id}`,
    charge: null,
    key_id: null,
    description: null,
    metadata: {},
    ...fields,
  };
}

function hold(id: string, key: string, amount: number, fields: Partial<HoldView> = {}): HoldView {
  return {
    id,
    amount,
    currency: "USD",
    state: "held",
    captured: 0,
    capture: null,
    expires: LATER,
    created: "2026-12-07T11:00:00.000Z",
    resolved: null,
    idempotency_key: key,
    description: null,
    metadata: {},
    ...fields,
  };
}

function account(balance: number, held: number): AccountView {
  return {
    id: "a",
    currency: "USD",
    balance,
    held,
    available: balance - held,
    overdraft_limit: 0,
    entry_count: 0,
    version: 1,
    created: "2026-12-07T11:00:00.000Z",
    storage_bytes: 0,
  };
}

describe("checkHolds", () => {
  // h1 captured in part by c1, h2 voided, h3 still held, h4 left to expire and expired.
  const ops = [
    op("a", "hold", "p1", { amount: 100, currency: "USD" }, applied("h1")),
    op("a", "hold", "p2", { amount: 50, currency: "USD" }, applied("h2")),
    op("a", "hold", "p3", { amount: 30, currency: "USD" }, applied("h3")),
    { ...op("a", "hold", "p4", { amount: 20, currency: "USD", expires_in: 60 }, applied("h4")), leftToExpire: true },
    op("a", "capture", "c1", { hold: "h1", amount: 40 }, applied("cp1", -40)),
    op("a", "capture", "c2", { hold: "h1" }, declined("hold_captured")),
    op("a", "void", "v1", { hold: "h2" }, applied("h2", 50, 200)),
    op("a", "capture", "c3", { hold: "h3", amount: 31 }, declined("capture_exceeds_hold")),
  ];
  const holds = [
    hold("h1", "p1", 100, { state: "captured", captured: 40, capture: "cp1", resolved: "2026-12-07T11:01:00.000Z" }),
    hold("h2", "p2", 50, { state: "voided", resolved: "2026-12-07T11:01:00.000Z" }),
    hold("h3", "p3", 30),
    hold("h4", "p4", 20, {
      state: "expired",
      expires: "2026-12-07T11:01:00.000Z",
      resolved: "2026-12-07T11:01:00.000Z",
    }),
  ];
  const entries = [entry({ id: "cp1", seq: 2, type: "capture", amount: -40, hold: "h1", idempotency_key: "c1" })];
  const run = (overrides: { holds?: HoldView[]; entries?: EntryView[]; ops?: LogicalOp[]; state?: AccountView }) => {
    const tally = emptyHoldTally();
    const counts = check((flag) =>
      checkHolds(
        "a",
        {
          state: overrides.state ?? account(1000, 30),
          holds: overrides.holds ?? holds,
          entries: overrides.entries ?? entries,
          ops: overrides.ops ?? ops,
          pendingOut: 0,
          nowMs: NOW,
        },
        tally,
        flag,
      ),
    );
    return { counts, tally };
  };

  it("passes holds that ended as the run's requests say, and counts them", () => {
    const { counts, tally } = run({});
    expect(Object.values(counts).every((count) => count === 0)).toBe(true);
    expect(tally).toEqual({
      placed: 4,
      captured: 1,
      capturedInPart: 1,
      voided: 1,
      expired: 1,
      leftToExpire: 1,
      stillHeld: 1,
    });
  });

  it("catches a hold captured twice", () => {
    const twice = [...ops, op("a", "capture", "c4", { hold: "h1" }, applied("cp2", -60))];
    const second = entry({ id: "cp2", seq: 3, type: "capture", amount: -60, hold: "h1", idempotency_key: "c4" });
    expect(run({ ops: twice, entries: [...entries, second] }).counts.doubleApplied).toBe(1);
  });

  it("catches a hold both captured and voided", () => {
    expect(
      run({ ops: [...ops, op("a", "void", "v2", { hold: "h1" }, applied("h1", 100, 200))] }).counts.doubleApplied,
    ).toBe(1);
  });

  it("catches a capture entry the hold does not name", () => {
    const other = holds.map((h) => (h.id === "h1" ? { ...h, capture: "cp9" } : h));
    expect(run({ holds: other }).counts.holdMismatches).toBe(1);
  });

  it("catches a recorded refusal naming a state the hold did not end in", () => {
    const refused = [...ops, op("a", "void", "v3", { hold: "h3" }, declined("hold_voided"))];
    expect(run({ ops: refused }).counts.holdMismatches).toBe(1);
  });

  it("catches a hold left to expire that is still held, and a held sum that is not the holds'", () => {
    const stuck = holds.map((h) =>
      h.id === "h4" ? { ...h, state: "held" as const, resolved: null, expires: "2026-12-07T11:01:00.000Z" } : h,
    );
    expect(run({ holds: stuck, state: account(1000, 50) }).counts.holdMismatches).toBe(2);
    expect(run({ state: account(1000, 31) }).counts.heldMismatches).toBe(1);
  });

  it("catches a hold no request placed", () => {
    expect(run({ holds: [...holds, hold("h9", "nobody", 5)], state: account(1000, 35) }).counts.holdMismatches).toBe(1);
  });
});

describe("checkTransfers", () => {
  const ghost = "never";
  const t1 = op("a", "transfer", "k1", { to: "b", amount: 10, currency: "USD" }, applied("t1"));
  const t2 = op("a", "transfer", "k2", { to: ghost, amount: 7, currency: "USD" }, applied("t2"));
  const view = (id: string, to: string, amount: number, key: string, fields: Partial<TransferView> = {}) =>
    ({
      id,
      from: "a",
      to,
      amount,
      currency: "USD",
      state: "posted",
      reason: null,
      created: "2026-12-07T11:00:00.000Z",
      resolved: "2026-12-07T11:00:01.000Z",
      idempotency_key: key,
      description: null,
      metadata: {},
      ...fields,
    }) satisfies TransferView;
  const views = new Map([
    ["t1", view("t1", "b", 10, "k1")],
    ["t2", view("t2", ghost, 7, "k2", { state: "voided", reason: "account_not_found" })],
  ]);
  const out = entry({
    id: "to1",
    seq: 2,
    type: "transfer_out",
    amount: -10,
    transfer: "t1",
    idempotency_key: "transfer_out t1",
  });
  const leg = entry({
    id: "ti1",
    seq: 2,
    type: "transfer_in",
    amount: 10,
    transfer: "t1",
    idempotency_key: "transfer_in a t1",
  });
  const ledgers = new Map([
    ["a", [out]],
    ["b", [leg]],
  ]);
  const run = (v = views, l = ledgers, ops = [t1, t2]) => {
    const tally = emptyTransferTally();
    const counts = check((flag) => checkTransfers(ops, v, l, ghost, tally, flag));
    return { counts, tally };
  };

  it("passes a posted transfer with its two legs and one voided for the account never opened", () => {
    const { counts, tally } = run();
    expect(Object.values(counts).every((count) => count === 0)).toBe(true);
    expect(tally).toMatchObject({ posted: 1, voided: 1, voidedNotFound: 1, moved: 10 });
  });

  it("catches a transfer still pending", () => {
    const pending = new Map(views).set("t1", view("t1", "b", 10, "k1", { state: "pending", resolved: null }));
    expect(
      run(
        pending,
        new Map([
          ["a", []],
          ["b", []],
        ]),
      ).counts.pendingTransfers,
    ).toBe(1);
  });

  it("catches a posted transfer without its transfer_in, and one with two", () => {
    expect(
      run(
        views,
        new Map([
          ["a", [out]],
          ["b", []],
        ]),
      ).counts.lost,
    ).toBe(1);
    expect(
      run(
        views,
        new Map([
          ["a", [out]],
          ["b", [leg, { ...leg, id: "ti2", seq: 3 }]],
        ]),
      ).counts.doubleApplied,
    ).toBe(1);
  });

  it("catches a voided transfer with a leg, or voided to an account of the run", () => {
    const voided = new Map(views).set(
      "t1",
      view("t1", "b", 10, "k1", { state: "voided", reason: "currency_mismatch" }),
    );
    const counts = run(voided).counts;
    expect(counts.doubleApplied).toBe(1);
    expect(counts.transferMismatches).toBe(1);
  });

  it("catches a leg of a transfer the run did not create", () => {
    expect(
      run(
        views,
        new Map([
          ["a", [out]],
          ["b", [leg, { ...leg, id: "ti9", transfer: "t9" }]],
        ]),
      ).counts.unknownEntries,
    ).toBe(1);
  });

  it("finds a transfer answered only by its expired decision by the key in its transfer_out", () => {
    const unnamed = op("a", "transfer", "k1", { to: "b", amount: 10, currency: "USD" }, applied(null));
    const tagged = { ...out, metadata: { chaos_key: "k1" } };
    expect(findUnnamedTransfers([unnamed], new Map([["a", [tagged]]]))).toEqual({ unnamed: 1, found: 1 });
    expect(unnamed.outcome).toMatchObject({ id: "t1" });
  });
});

describe("checkConservation", () => {
  const ops = [
    op("a", "credit", "k1", { amount: 100, currency: "USD" }, applied("e1", 100)),
    op("a", "charge", "k2", { amount: 30, currency: "USD" }, applied("e2", 30)),
    op("a", "capture", "k3", { hold: "h1" }, applied("e3", -20)),
    op("b", "credit", "k4", { amount: 50, currency: "USD" }, applied("e4", null)),
  ];
  const byKey = new Map([["k4", [entry({ id: "e4", seq: 1, type: "credit", amount: 50 })]]]);
  const legs = new Map([
    ["a", [entry({ id: "to", seq: 4, type: "transfer_out", amount: -5 })]],
    ["b", [entry({ id: "ti", seq: 2, type: "transfer_in", amount: 5 })]],
  ]);

  it("passes balances that are the credits and refunds less the charges and captures", () => {
    const counts = check((flag) => {
      const result = checkConservation(ops, [account(45, 0), account(55, 0)], byKey, legs, flag);
      expect(result).toMatchObject({ holds: true, amountsFromLedger: 1, transferredOut: 5, transferredIn: 5 });
    });
    expect(counts.conservationMismatches).toBe(0);
  });

  it("catches money that appeared, and a transfer leg without its pair", () => {
    expect(
      check((flag) => checkConservation(ops, [account(46, 0), account(55, 0)], byKey, legs, flag))
        .conservationMismatches,
    ).toBe(1);
    const unpaired = new Map([["a", legs.get("a") ?? []]]);
    expect(
      check((flag) => checkConservation(ops, [account(45, 0), account(50, 0)], byKey, unpaired, flag))
        .conservationMismatches,
    ).toBe(1);
  });
});

describe("holds and transfers in the existing checks", () => {
  it("compares a hold's expired answer with a decision that names no entry", () => {
    const placed = { status: 201, body: JSON.stringify({ id: "ho_1", amount: 5 }), replayed: false };
    const expired = {
      status: 409,
      body: JSON.stringify({
        type: "urn:onceledger:problem:idempotency_key_expired",
        title: "Idempotency-Key already decided",
        status: 409,
        detail: "This Idempotency-Key was already decided.",
        code: "idempotency_key_expired",
        original_status: 201,
        original_code: null,
        entry: null,
      }),
      replayed: false,
    };
    expect(check((flag) => checkAnswers("k", [placed, expired], false, flag, null, false)).replayMismatches).toBe(0);
    // Read as an entry-making request's, the hold's id would be the entry the expired answer should name.
    expect(check((flag) => checkAnswers("k", [placed, expired], false, flag)).replayMismatches).toBe(1);
  });

  it("lets a capture be refunded as a charge, and no debit go below the overdraft limit", () => {
    const capture = entry({ id: "cp", seq: 1, type: "capture", amount: -40, balance_after: -40 });
    const refund = entry({ id: "re", seq: 2, type: "refund", amount: 40, balance_after: 0, charge: "cp" });
    const out = entry({ id: "to", seq: 3, type: "transfer_out", amount: -5, balance_after: -5 });
    expect(check((flag) => checkRules("a", [capture, refund], { overdraft_limit: 40 }, flag)).ruleViolations).toBe(0);
    expect(check((flag) => checkRules("a", [capture, refund, out], { overdraft_limit: 0 }, flag)).ruleViolations).toBe(
      2,
    );
  });
});
