/**
 * The audit's judgements of holds, as pure functions of what the run sent
 * and what the API returned: every hold the run placed is there once; none
 * was captured twice, nor both captured and voided; its state is what the
 * run's applied captures and voids (or its expiry) say, and a capture's
 * entry is the one the hold names; every recorded 409 about a hold's state
 * is the state it ended in; and the account's `held` is what its held holds
 * and pending transfers set aside, and what the run's own model says.
 */
import type { AccountView, EntryView } from "../../src/client/onceledger-client.ts";
import type { HoldInput } from "../../src/domain/commands.ts";
import type { HoldView } from "../../src/domain/views.ts";
import type { Flag } from "./checks.ts";
import type { HoldActionBody, LogicalOp } from "./model.ts";

/** How long past `expires` a hold may still read `held`: the alarm runs at `expires`, this is its slack. */
export const EXPIRY_GRACE_MS = 10_000;

export interface HoldTally {
  placed: number;
  captured: number;
  /** Of the captured, those taking less than the hold. */
  capturedInPart: number;
  voided: number;
  expired: number;
  /** Holds placed to be left alone until they expired, and of them how many had. */
  leftToExpire: number;
  stillHeld: number;
}

export function emptyHoldTally(): HoldTally {
  return { placed: 0, captured: 0, capturedInPart: 0, voided: 0, expired: 0, leftToExpire: 0, stillHeld: 0 };
}

const STATE_OF_REFUSAL: Readonly<Record<string, HoldView["state"]>> = {
  hold_captured: "captured",
  hold_voided: "voided",
  hold_expired: "expired",
};

/**
 * Judges one account's holds. `ops` are the run's operations on the
 * account; `pendingOut` what its pending transfers set aside (0 once
 * quiescent); `nowMs` when the holds were read.
 */
export function checkHolds(
  account: string,
  input: {
    readonly state: AccountView;
    readonly holds: readonly HoldView[];
    readonly entries: readonly EntryView[];
    readonly ops: readonly LogicalOp[];
    readonly pendingOut: number;
    readonly nowMs: number;
  },
  tally: HoldTally,
  flag: Flag,
): void {
  const { state, holds, entries, ops, nowMs } = input;
  const byId = new Map(holds.map((hold) => [hold.id, hold]));
  const byKey = new Map(holds.map((hold) => [hold.idempotency_key, hold]));
  const captures = new Map<string, EntryView[]>();
  for (const entry of entries) {
    if (entry.type !== "capture") continue;
    if (entry.hold === undefined || !byId.has(entry.hold)) {
      flag(
        "holdMismatches",
        `${account}: capture ${entry.id} names hold ${entry.hold ?? "(none)"}, which is not listed`,
      );
      continue;
    }
    captures.set(entry.hold, [...(captures.get(entry.hold) ?? []), entry]);
  }
  const applied = (kind: LogicalOp["kind"], hold: string) =>
    ops.filter((op) => op.kind === kind && op.outcome?.kind === "applied" && (op.body as HoldActionBody).hold === hold);

  // The run's model of what is held: every hold it placed that nothing it sent released, and that has not expired.
  let modelHeld = 0;
  const placedKeys = new Set<string>();
  for (const op of ops) {
    if (op.kind !== "hold" || op.outcome?.kind !== "applied" || op.key === null) continue;
    placedKeys.add(op.key);
    const hold = byKey.get(op.key);
    const label = `${account} hold key ${op.key}`;
    if (hold === undefined || (op.outcome.id !== null && hold.id !== op.outcome.id)) {
      flag("lost", `${label}: placed as ${op.outcome.id ?? "(id not answered)"}, listed as ${hold?.id ?? "nothing"}`);
      continue;
    }
    const amount = (op.body as HoldInput).amount;
    if (hold.amount !== amount)
      flag("holdMismatches", `${label}: hold ${hold.id} holds ${hold.amount}, asked ${amount}`);
    tally.placed += 1;
    if (op.leftToExpire === true) tally.leftToExpire += 1;
    const captureOps = applied("capture", hold.id);
    const voidOps = applied("void", hold.id);
    const captureEntries = captures.get(hold.id) ?? [];
    const what = `hold ${hold.id} (${hold.state})`;
    if (captureOps.length > 1 || captureEntries.length > 1) {
      flag(
        "doubleApplied",
        `${label}: ${what} captured twice: ${captureOps.length} captures applied, ${captureEntries.length} capture entries`,
      );
    }
    if (voidOps.length > 1) flag("doubleApplied", `${label}: ${what} voided by ${voidOps.length} requests`);
    if (captureOps.length > 0 && voidOps.length > 0)
      flag("doubleApplied", `${label}: ${what} both captured and voided`);
    if (op.leftToExpire === true && (captureOps.length > 0 || voidOps.length > 0)) {
      flag("holdMismatches", `${label}: ${what} was left to expire, yet a capture or void was applied`);
    }
    const [entry] = captureEntries;
    switch (hold.state) {
      case "captured": {
        tally.captured += 1;
        if (hold.captured < hold.amount) tally.capturedInPart += 1;
        const capturedBy = captureOps[0]?.outcome;
        if (
          entry === undefined ||
          hold.capture !== entry.id ||
          -entry.amount !== hold.captured ||
          capturedBy?.kind !== "applied" ||
          capturedBy.id !== entry.id
        ) {
          flag(
            "holdMismatches",
            `${label}: ${what} says capture ${hold.capture ?? "none"} of ${hold.captured}; the ledger has ${entry?.id ?? "no entry"} ` +
              `of ${entry === undefined ? "-" : -entry.amount}; the run's applied capture is ${capturedBy?.kind === "applied" ? capturedBy.id : "none"}`,
          );
        }
        break;
      }
      case "voided":
        tally.voided += 1;
        if (voidOps.length !== 1 || entry !== undefined) {
          flag(
            "holdMismatches",
            `${label}: ${what}, but ${voidOps.length} voids applied, ${captureEntries.length} captures`,
          );
        }
        break;
      case "expired":
        tally.expired += 1;
        if (captureOps.length > 0 || voidOps.length > 0 || entry !== undefined) {
          flag("holdMismatches", `${label}: ${what}, but a capture or void of it was applied`);
        }
        if (hold.resolved === null || Date.parse(hold.resolved) < Date.parse(hold.expires)) {
          flag(
            "holdMismatches",
            `${label}: ${what} at ${hold.resolved ?? "(never)"}, before it expires at ${hold.expires}`,
          );
        }
        break;
      case "held":
        tally.stillHeld += 1;
        if (captureOps.length > 0 || voidOps.length > 0 || entry !== undefined) {
          flag("holdMismatches", `${label}: ${what}, but a capture or void of it was applied`);
        }
        if (Date.parse(hold.expires) + EXPIRY_GRACE_MS < nowMs) {
          flag(
            "holdMismatches",
            `${label}: ${what} is still held ${Math.round((nowMs - Date.parse(hold.expires)) / 1000)} s after it expired`,
          );
        }
        break;
    }
    const releasedByRun = captureOps.length > 0 || voidOps.length > 0;
    if (!releasedByRun && Date.parse(hold.expires) > nowMs) modelHeld += amount;
    if (op.leftToExpire === true && hold.state !== "expired" && Date.parse(hold.expires) + EXPIRY_GRACE_MS < nowMs) {
      flag("holdMismatches", `${label}: ${what} was left to expire at ${hold.expires} and has not`);
    }
  }
  for (const hold of holds) {
    if (!placedKeys.has(hold.idempotency_key)) {
      flag(
        "holdMismatches",
        `${account}: hold ${hold.id} (key ${hold.idempotency_key}) was placed by no request of the run`,
      );
    }
  }

  // Every recorded refusal about a hold's state is the state it ended in; a capture beyond the hold took more than it held.
  for (const op of ops) {
    if ((op.kind !== "capture" && op.kind !== "void") || op.outcome?.kind !== "declined") continue;
    const body = op.body as HoldActionBody;
    const hold = byId.get(body.hold);
    const label = `${account} ${op.kind} key ${op.key ?? "(none)"} of hold ${body.hold}`;
    const refused = STATE_OF_REFUSAL[op.outcome.code];
    if (hold === undefined) {
      flag("holdMismatches", `${label}: declined ${op.outcome.code}, and no such hold is listed`);
    } else if (refused !== undefined && hold.state !== refused) {
      flag("holdMismatches", `${label}: declined ${op.outcome.code}, but the hold is ${hold.state}`);
    } else if (op.outcome.code === "capture_exceeds_hold" && (body.amount ?? 0) <= hold.amount) {
      flag("holdMismatches", `${label}: declined capture_exceeds_hold for ${body.amount ?? "all"} of ${hold.amount}`);
    }
  }

  // What is set aside: the held holds listed plus pending transfers out, and what the run's model says.
  const listedHeld = holds.filter((hold) => hold.state === "held").reduce((sum, hold) => sum + hold.amount, 0);
  if (state.held !== listedHeld + input.pendingOut || state.held !== modelHeld + input.pendingOut) {
    flag(
      "heldMismatches",
      `${account}: held ${state.held}; its held holds sum to ${listedHeld}, the run's model to ${modelHeld}, pending transfers out ${input.pendingOut}`,
    );
  }
  if (state.available !== state.balance + state.overdraft_limit - state.held) {
    flag(
      "heldMismatches",
      `${account}: available ${state.available} is not balance ${state.balance} + overdraft ${state.overdraft_limit} - held ${state.held}`,
    );
  }
}
