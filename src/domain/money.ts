import { MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR, MAX_OVERDRAFT_LIMIT_MINOR, MIN_AMOUNT_MINOR } from "./limits.ts";
import type { FailureOf } from "./problems.ts";
import { err, ok, type Result } from "../lib/result.ts";

/**
 * Balance arithmetic in integer minor units. Every input is asserted to be
 * within its limit, so every result stays within [-10^12, 10^15] and far
 * from 2^53. A result's value is the balance after the movement.
 */

/**
 * Takes `amount` from what is available: the balance less what holds set
 * aside (`held`), down to minus the overdraft limit. The value is the
 * balance after; held funds stay held.
 */
export function debit(
  balance: number,
  amount: number,
  overdraftLimit: number,
  held = 0,
): Result<number, FailureOf<"insufficient_funds">> {
  assertBalance(balance);
  assertAmount(amount);
  assertOverdraftLimit(overdraftLimit);
  assertHeld(held);
  const balanceAfter = balance - amount;
  if (balanceAfter - held < -overdraftLimit) {
    return err(
      held === 0
        ? { code: "insufficient_funds", amount, balance, overdraftLimit }
        : { code: "insufficient_funds", amount, balance, overdraftLimit, held },
    );
  }
  return ok(balanceAfter);
}

/** What holds set aside: never negative, never more than the largest balance and overdraft together. */
export function assertHeld(held: number): void {
  assertInRange("held", held, 0, MAX_BALANCE_MINOR + MAX_OVERDRAFT_LIMIT_MINOR);
}

export function deposit(balance: number, amount: number): Result<number, FailureOf<"balance_limit_exceeded">> {
  assertBalance(balance);
  assertAmount(amount);
  const balanceAfter = balance + amount;
  if (balanceAfter > MAX_BALANCE_MINOR) return err({ code: "balance_limit_exceeded", balance, amount });
  return ok(balanceAfter);
}

/** An amount moved, as a positive number of minor units. */
export function assertAmount(amount: number): void {
  assertInRange("amount", amount, MIN_AMOUNT_MINOR, MAX_AMOUNT_MINOR);
}

export function assertOverdraftLimit(overdraftLimit: number): void {
  assertInRange("overdraft limit", overdraftLimit, 0, MAX_OVERDRAFT_LIMIT_MINOR);
}

/** A balance can sit below -overdraft after the limit is lowered, never below the largest limit. */
export function assertBalance(balance: number): void {
  assertInRange("balance", balance, -MAX_OVERDRAFT_LIMIT_MINOR, MAX_BALANCE_MINOR);
}

function assertInRange(what: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`invariant: ${what} ${value} outside [${min}, ${max}]`);
  }
}
