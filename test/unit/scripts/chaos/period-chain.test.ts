import { describe, expect, it } from "vitest";
import { checkCloses, checkPeriods } from "../../../../scripts/chaos/period-chain.ts";
import { violationRecorder } from "../../../../scripts/chaos/checks.ts";
import type { CloseOp } from "../../../../scripts/chaos/model.ts";
import { sha256Hex } from "../../../../scripts/verify/chain.ts";
import type { EntryView, PeriodView } from "../../../../src/client/onceledger-client.ts";

/** The chaos audit's period checks: npm run verify's chain on what the API served, and each period closed by one close. */

const encoder = new TextEncoder();

function entry(seq: number, amount: number, balanceAfter: number): EntryView {
  return {
    id: `cr_${seq}`,
    seq,
    type: amount < 0 ? "charge" : "credit",
    amount,
    currency: "USD",
    balance_after: balanceAfter,
    created: "2026-12-07T00:00:00.000Z",
    idempotency_key: `k${seq}`,
    charge: null,
    description: null,
    metadata: {},
    key_id: null,
  };
}

const entries = [entry(1, 100, 100), entry(2, -30, 70), entry(3, 5, 75), entry(4, 10, 85)];
const texts = entries.map((e) => JSON.stringify(e));

/** Archived periods over `ranges` of the entries above, chained as docs/api.md defines. */
async function periodsOver(ranges: readonly [number, number][]): Promise<PeriodView[]> {
  const out: PeriodView[] = [];
  let previous = "";
  for (const [i, [first, last]] of ranges.entries()) {
    const lines = texts
      .slice(first - 1, last)
      .map((text) => `${text}\n`)
      .join("");
    const sha256 = await sha256Hex(encoder.encode(`${previous}\n${lines}`));
    out.push({
      id: i + 1,
      first_seq: first,
      last_seq: last,
      opening_balance: first === 1 ? 0 : (entries[first - 2] as EntryView).balance_after,
      closing_balance: (entries[last - 1] as EntryView).balance_after,
      entry_count: last - first + 1,
      key_count: last - first + 1,
      sha256,
      previous_sha256: previous,
      objects: [],
      state: "archived",
      created: "2026-12-07T00:00:01.000Z",
    });
    previous = sha256;
  }
  return out;
}

function closeOf(period: PeriodView, key: string): CloseOp {
  const asClosed = { ...period, sha256: null, previous_sha256: null, objects: [], state: "closing" as const };
  return {
    account: "a",
    key,
    outcome: { kind: "closed", period: asClosed },
    calls: 1,
    attempts: 1,
    sentMs: 0,
    answeredMs: 1,
  };
}

const state = { entry_count: 4, balance: 85 };

describe("checkPeriods", () => {
  it("passes a chain recomputed from the entries as served, each period closed by one close", async () => {
    const periods = await periodsOver([
      [1, 2],
      [3, 3],
    ]);
    const { violations, flag } = violationRecorder();
    const closes = periods.map((period, i) => closeOf(period, `c${i}`));
    const tally = await checkPeriods("a", { periods, entryTexts: texts, state }, closes, flag);
    expect(Object.values(violations.count).every((count) => count === 0)).toBe(true);
    expect(tally).toEqual({ periods: 2, archived: 2, verified: 2, objectsRead: null });
  });

  it("flags a digest that the entries do not give, and counts only the periods before it as verified", async () => {
    const periods = await periodsOver([
      [1, 2],
      [3, 3],
    ]);
    const tampered = texts.map((text, i) => (i === 2 ? text.replace('"amount":5', '"amount":5 ') : text));
    const { violations, flag } = violationRecorder();
    const closes = periods.map((period, i) => closeOf(period, `c${i}`));
    const tally = await checkPeriods("a", { periods, entryTexts: tampered, state }, closes, flag);
    expect(violations.count.chainMismatches).toBe(1);
    expect(violations.examples.chainMismatches[0]).toMatch(/^a period 2: chain:/);
    expect(tally.verified).toBe(1);
  });

  it("flags a broken link and a closing balance that the entries do not add up to", async () => {
    const [first, second] = (await periodsOver([
      [1, 2],
      [3, 3],
    ])) as [PeriodView, PeriodView];
    const link = violationRecorder();
    await checkPeriods(
      "a",
      { periods: [first, { ...second, previous_sha256: "0".repeat(64) }], entryTexts: texts, state },
      [closeOf(first, "c0"), closeOf(second, "c1")],
      link.flag,
    );
    expect(link.violations.count.chainMismatches).toBe(1);
    const balance = violationRecorder();
    await checkPeriods(
      "a",
      { periods: [{ ...first, closing_balance: 71 }], entryTexts: texts, state },
      [closeOf({ ...first, closing_balance: 71 }, "c0")],
      balance.flag,
    );
    expect(balance.violations.count.periodMismatches).toBeGreaterThan(0);
  });

  it("flags a period still closing", async () => {
    const [first] = (await periodsOver([[1, 2]])) as [PeriodView];
    const closing = { ...first, sha256: null, previous_sha256: null, state: "closing" as const };
    const { violations, flag } = violationRecorder();
    await checkPeriods("a", { periods: [closing], entryTexts: texts, state }, [closeOf(first, "c0")], flag);
    expect(violations.count.unarchivedPeriods).toBe(1);
  });
});

describe("checkCloses", () => {
  it("flags a period no close named, a period two closes named, and a close answered otherwise", async () => {
    const periods = await periodsOver([
      [1, 2],
      [3, 3],
    ]);
    const [first, second] = periods as [PeriodView, PeriodView];
    const count = (closes: CloseOp[]) => {
      const { violations, flag } = violationRecorder();
      checkCloses("a", periods, closes, flag);
      return violations.count.periodMismatches;
    };
    expect(count([closeOf(first, "c0"), closeOf(second, "c1")])).toBe(0);
    expect(count([closeOf(first, "c0")])).toBe(1);
    expect(count([closeOf(first, "c0"), closeOf(first, "c2"), closeOf(second, "c1")])).toBe(1);
    expect(count([closeOf(first, "c0"), closeOf({ ...second, key_count: 9 }, "c1")])).toBe(1);
  });

  it("lets a close answered only by its expired decision take the period no other close named", async () => {
    const periods = await periodsOver([
      [1, 2],
      [3, 3],
    ]);
    const unnamed: CloseOp = { ...closeOf(periods[0] as PeriodView, "c0"), outcome: { kind: "closed", period: null } };
    const { violations, flag } = violationRecorder();
    checkCloses("a", periods, [unnamed, closeOf(periods[1] as PeriodView, "c1")], flag);
    expect(violations.count.periodMismatches).toBe(0);
  });

  it("accepts period_empty only where a period closed", async () => {
    const periods = await periodsOver([[1, 2]]);
    const empty = (lastSeq: number): CloseOp => ({
      ...closeOf(periods[0] as PeriodView, "e"),
      outcome: { kind: "empty", lastSeq },
    });
    const count = (lastSeq: number) => {
      const { violations, flag } = violationRecorder();
      checkCloses("a", periods, [closeOf(periods[0] as PeriodView, "c0"), empty(lastSeq)], flag);
      return violations.count.periodMismatches;
    };
    expect(count(2)).toBe(0);
    expect(count(3)).toBe(1);
  });
});
