import { describe, expect, it } from "vitest";
import {
  MAX_AMOUNT_MINOR,
  MAX_BALANCE_MINOR,
  MAX_OVERDRAFT_LIMIT_MINOR,
  MIN_AMOUNT_MINOR,
} from "../../../src/domain/limits.ts";
import { debit, deposit } from "../../../src/domain/money.ts";

describe("debit", () => {
  it("subtracts the amount", () => {
    expect(debit(500, 200, 0)).toStrictEqual({ ok: true, value: 300 });
  });

  it("may take the balance to exactly minus the overdraft limit, not one below", () => {
    expect(debit(100, 150, 50)).toStrictEqual({ ok: true, value: -50 });
    expect(debit(100, 151, 50)).toMatchObject({ ok: false, error: { code: "insufficient_funds" } });
  });

  it("may empty an account without overdraft, not go below zero", () => {
    expect(debit(100, 100, 0)).toStrictEqual({ ok: true, value: 0 });
    expect(debit(100, 101, 0)).toMatchObject({ ok: false, error: { code: "insufficient_funds" } });
  });

  it("works at the largest overdraft limit", () => {
    const limit = MAX_OVERDRAFT_LIMIT_MINOR;
    expect(debit(0, MAX_AMOUNT_MINOR, limit)).toStrictEqual({ ok: true, value: -MAX_AMOUNT_MINOR });
    expect(debit(-limit + 1, 1, limit)).toStrictEqual({ ok: true, value: -limit });
    expect(debit(-limit, 1, limit)).toMatchObject({ ok: false, error: { code: "insufficient_funds" } });
  });

  it("refuses any charge on a balance already below a lowered limit", () => {
    expect(debit(-100, 1, 50)).toMatchObject({ ok: false, error: { code: "insufficient_funds" } });
  });

  it.each([0.5, Number.NaN, -1, 1.5, MAX_OVERDRAFT_LIMIT_MINOR + 1])("throws on overdraft limit %s", (limit) => {
    expect(() => debit(100, 1, limit)).toThrow(RangeError);
  });
});

describe("deposit", () => {
  it("adds the amount", () => {
    expect(deposit(-50, 80)).toStrictEqual({ ok: true, value: 30 });
  });

  it("may reach exactly MAX_BALANCE_MINOR, not one more", () => {
    expect(deposit(MAX_BALANCE_MINOR - 10, 10)).toStrictEqual({ ok: true, value: MAX_BALANCE_MINOR });
    expect(deposit(MAX_BALANCE_MINOR - 10, 11)).toMatchObject({ ok: false, error: { code: "balance_limit_exceeded" } });
    expect(deposit(MAX_BALANCE_MINOR, MIN_AMOUNT_MINOR)).toMatchObject({
      ok: false,
      error: { code: "balance_limit_exceeded" },
    });
  });
});

describe("amount and balance assertions", () => {
  const operations = [
    ["debit", (balance: number, amount: number) => debit(balance, amount, 0)],
    ["deposit", deposit],
  ] as const;

  describe.each(operations)("%s", (_name, operation) => {
    it("accepts the smallest and largest amounts", () => {
      expect(() => operation(MAX_AMOUNT_MINOR, MIN_AMOUNT_MINOR)).not.toThrow();
      expect(() => operation(MAX_AMOUNT_MINOR, MAX_AMOUNT_MINOR)).not.toThrow();
    });

    it.each([
      ["zero", MIN_AMOUNT_MINOR - 1],
      ["negative", -5],
      ["fractional", 1.5],
      ["NaN", Number.NaN],
      ["infinite", Number.POSITIVE_INFINITY],
      ["over the limit", MAX_AMOUNT_MINOR + 1],
    ])("throws RangeError on a %s amount", (_kind, amount) => {
      expect(() => operation(MAX_AMOUNT_MINOR, amount)).toThrow(RangeError);
    });

    it("accepts balances at both ends of the allowed range", () => {
      expect(() => operation(-MAX_OVERDRAFT_LIMIT_MINOR, 1)).not.toThrow();
      expect(() => operation(MAX_BALANCE_MINOR, 1)).not.toThrow();
    });

    it.each([
      ["below the largest overdraft", -MAX_OVERDRAFT_LIMIT_MINOR - 1],
      ["above the balance limit", MAX_BALANCE_MINOR + 1],
      ["unsafe", Number.MAX_SAFE_INTEGER + 1],
      ["fractional", 10.25],
      ["NaN", Number.NaN],
    ])("throws RangeError on a balance %s", (_kind, balance) => {
      expect(() => operation(balance, 1)).toThrow(RangeError);
    });
  });
});
