import { assertHeld } from "../domain/money.ts";
import type { CountedSql } from "./sql.ts";

/**
 * What is set aside on an account: its held holds (hold-store.ts) and its
 * pending transfers out (transfer-store.ts), which no charge, hold or
 * transfer may take again; and when each next needs the alarm. The money
 * path keeps this in memory, in the ledger head, moved only by what the
 * operations answer; it is read from storage when the object starts and
 * after each release, and the two must agree.
 */
export interface HeldFunds {
  /** Held holds plus pending transfers out. */
  readonly held: number;
  /** The earliest expiry of a held hold; null when none is held. */
  readonly holdsDueMs: number | null;
  /** The earliest next delivery of a pending transfer; null when none is pending. */
  readonly transfersDueMs: number | null;
}

export function readHeldFunds(sql: CountedSql): HeldFunds {
  const row = sql.first<{
    holds: number | null;
    transfers: number | null;
    holds_due: number | null;
    transfers_due: number | null;
  }>(
    `SELECT (SELECT SUM(amount) FROM holds WHERE state = 'held') AS holds,
            (SELECT SUM(amount) FROM transfers WHERE state = 'pending') AS transfers,
            (SELECT MIN(expires_ms) FROM holds WHERE state = 'held') AS holds_due,
            (SELECT MIN(next_attempt_ms) FROM transfers WHERE state = 'pending') AS transfers_due`,
  );
  const held = (row?.holds ?? 0) + (row?.transfers ?? 0);
  assertHeld(held);
  return { held, holdsDueMs: row?.holds_due ?? null, transfersDueMs: row?.transfers_due ?? null };
}

/**
 * The held funds after a release, read from storage and checked against
 * the sum kept in memory less what left (paired with the operations that
 * set funds aside and release them).
 */
export function readHeldAfter(sql: CountedSql, expectedHeld: number): HeldFunds {
  const stored = readHeldFunds(sql);
  if (stored.held !== expectedHeld) {
    throw new Error(`invariant: holds and transfers set aside ${stored.held}, the ledger head says ${expectedHeld}`);
  }
  return stored;
}
