/**
 * The chaos run's logical operations: accounts opened and funded, then a mix
 * of credits, charges and refunds, holds placed, captured (whole or part)
 * and voided, and transfers between the run's accounts (and to one never
 * opened), some bound to be declined, each retried through the client until
 * it has a definite outcome.
 */
import {
  IdempotencyKeyExpiredError,
  LedgerProblemError,
  OutcomeUnknownError,
  type LedgerClient,
  type LedgerResult,
  type MoneyInput,
  type RefundInput,
} from "../../src/client/onceledger-client.ts";
import { uuidV7 } from "../../src/client/uuid-v7.ts";
import type { HoldInput, TransferInput } from "../../src/domain/commands.ts";
import { forEachConcurrently } from "../lib/concurrency.ts";
import type { HoldClient } from "./hold-client.ts";
import { makeKey, pickKeyShape, type KeyShape } from "./keys.ts";
import { ENTRY_KINDS, type HoldActionBody, type LogicalOp } from "./model.ts";
import { integerBetween, pick, type Random } from "./random.ts";

export const CURRENCY = "USD";
export const FUNDING_MINOR = 50_000;
/** Calls of the client (each with its own retries) before an operation counts as undetermined. */
export const MAX_CALLS_PER_OPERATION = 20;
/** Declines the workload provokes on purpose; any other problem is a bug. */
export const EXPECTED_DECLINES = new Set([
  "insufficient_funds",
  "refund_exceeds_charge",
  "transfer_to_self",
  "capture_exceeds_hold",
  "hold_captured",
  "hold_voided",
  "hold_expired",
]);
/** The shortest `expires_in` a hold may have (HOLD_MIN_EXPIRES_IN_SECONDS): what a hold left to expire gets. */
export const SHORT_EXPIRES_IN_SECONDS = 60;

const CHARGE_MINOR = [100, 5_000] as const;
const HOLD_MINOR = [100, 4_000] as const;
const TRANSFER_MINOR = [100, 3_000] as const;
/** Of hold operations, the share that place a new hold (the rest capture or void one, when there is one). */
const PLACE_SHARE = 0.45;
/** Of captures and voids, the share sent to any hold of the account, resolved or not (mostly a recorded 409). */
const ANY_HOLD_SHARE = 0.15;
/** Of transfers, the share sent to the account itself (409 transfer_to_self). */
const SELF_TRANSFER_SHARE = 0.03;
const CREDIT_MINOR = [100, 3_000] as const;
/** More than any balance this workload can reach, so always declined. */
const IMPOSSIBLE_CHARGE_MINOR = 100_000_000_000;

export interface WorkloadStats {
  done: number;
  attempts: number;
  /** Operations whose definite answer was their key's expired decision (the record outlived by retries). */
  expiredAnswers: number;
  /** Client calls beyond the first of an operation, after OutcomeUnknownError. */
  recalls: number;
  replayedAnswers: number;
  /** Operations by the shape of their Idempotency-Key (keys.ts). */
  keyShapes: Record<KeyShape, number>;
}

interface ConfirmedCharge {
  readonly id: string;
  readonly amount: number;
}

/** A hold the run placed, as the workload knows it. */
interface PlacedHold {
  readonly id: string;
  readonly amount: number;
  readonly leftToExpire: boolean;
  readonly expiresMs: number;
  /** A capture or void of it was applied. */
  resolved: boolean;
}

/** The mix of the workload beyond credits, charges and refunds. */
export interface Mix {
  /** Share of operations on holds: placing one, capturing or voiding one. */
  readonly holds: number;
  /** Share of operations that are transfers. */
  readonly transfers: number;
  /** Share of placed holds given the shortest expiry and left alone, so they expire during the run. */
  readonly expiringHolds: number;
  /** Share of transfers sent to `ghost`, an account never opened (voided, reason account_not_found). */
  readonly ghostTransfers: number;
  readonly ghost: string;
}

export interface Workload {
  readonly ops: LogicalOp[];
  readonly stats: WorkloadStats;
}

export function newWorkload(): Workload {
  return {
    ops: [],
    stats: {
      done: 0,
      attempts: 0,
      expiredAnswers: 0,
      recalls: 0,
      replayedAnswers: 0,
      keyShapes: { uuidv7: 0, uuidv4: 0, "uuidv7-ahead": 0, "uuidv7-behind": 0 },
    },
  };
}

/** Opens every account and funds it with one credit, through the faulty network like everything else. */
export async function openAccounts(
  client: LedgerClient,
  workload: Workload,
  accounts: readonly string[],
  concurrency: number,
): Promise<void> {
  await forEachConcurrently(accounts, concurrency, async (account) => {
    // Retried with its key until it has an answer, like every operation: a loaded server may outlast one call's retries.
    const idempotencyKey = uuidV7();
    for (let call = 1; ; call += 1) {
      try {
        await client.openAccount(account, { currency: CURRENCY }, { idempotencyKey });
        break;
      } catch (error) {
        if (!(error instanceof OutcomeUnknownError) || call === MAX_CALLS_PER_OPERATION) throw error;
      }
    }
    await settle(client, workload, {
      account,
      kind: "credit",
      body: { amount: FUNDING_MINOR, currency: CURRENCY },
    });
  });
}

/**
 * Runs `count` random operations with `concurrency` in flight; `onDone` is
 * called after each. `untimedKeys` of them carry a key without a true
 * embedded time (keys.ts).
 */
export async function runOperations(
  client: LedgerClient,
  holdClient: HoldClient,
  workload: Workload,
  options: {
    accounts: readonly string[];
    count: number;
    concurrency: number;
    random: Random;
    untimedKeys: number;
    mix: Mix;
    /** Reads the holds of an account over a clean network: a hold answered only by its expired decision is found by its key. */
    cleanHolds: HoldClient;
    /** Whether a charge's key (and so the charge) had left the object for the archive by now. */
    archived?: (charge: LogicalOp) => boolean;
    onDone: () => void;
  },
): Promise<void> {
  const charges = new Map<string, ConfirmedCharge[]>(options.accounts.map((account) => [account, []]));
  const holds = new Map<string, PlacedHold[]>(options.accounts.map((account) => [account, []]));
  const chargeOps = new Map<string, LogicalOp>();
  const indexes = Array.from({ length: options.count }, (_, i) => i);
  const senders = { client, holdClient, cleanHolds: options.cleanHolds };
  await forEachConcurrently(indexes, options.concurrency, async () => {
    const account = pick(options.random, options.accounts);
    const spec = nextOperation(
      account,
      charges.get(account) ?? [],
      holds.get(account) ?? [],
      options.accounts,
      options.mix,
      options.random,
    );
    const charge = spec.kind === "refund" ? chargeOps.get((spec.body as RefundInput).charge) : undefined;
    const namesArchivedCharge = charge !== undefined && options.archived !== undefined && options.archived(charge);
    const shape = pickKeyShape(options.random, options.untimedKeys);
    const op = await settle(senders, workload, namesArchivedCharge ? { ...spec, namesArchivedCharge } : spec, shape);
    const outcome = op.outcome;
    if (outcome?.kind === "applied" && outcome.id !== null) {
      if ((op.kind === "charge" || op.kind === "capture") && outcome.amount !== null) {
        charges.get(account)?.push({ id: outcome.id, amount: Math.abs(outcome.amount) });
        chargeOps.set(outcome.id, op);
      } else if (op.kind === "hold") {
        const body = op.body as HoldInput;
        holds.get(account)?.push({
          id: outcome.id,
          amount: body.amount,
          leftToExpire: op.leftToExpire === true,
          expiresMs: op.expiresMs ?? Infinity,
          resolved: false,
        });
      } else if (op.kind === "capture" || op.kind === "void") {
        const named = (op.body as HoldActionBody).hold;
        const hold = holds.get(account)?.find((placed) => placed.id === named);
        if (hold !== undefined) hold.resolved = true;
      }
    }
    options.onDone();
  });
}

function nextOperation(
  account: string,
  confirmed: readonly ConfirmedCharge[],
  holds: readonly PlacedHold[],
  accounts: readonly string[],
  mix: Mix,
  random: Random,
): Pick<LogicalOp, "account" | "kind" | "body" | "leftToExpire"> {
  const kind = random();
  if (kind < mix.holds) return nextHoldOperation(account, holds, mix, random);
  if (kind < mix.holds + mix.transfers) {
    const roll = random();
    const to =
      roll < mix.ghostTransfers
        ? mix.ghost
        : roll < mix.ghostTransfers + SELF_TRANSFER_SHARE || accounts.length === 1
          ? account
          : pick(
              random,
              accounts.filter((other) => other !== account),
            );
    const body: TransferInput = { to, amount: integerBetween(random, ...TRANSFER_MINOR), currency: CURRENCY };
    return { account, kind: "transfer", body };
  }
  return nextMoneyOperation(account, confirmed, random);
}

/**
 * Places a hold (a share of them left to expire), or captures (whole, part,
 * or more than it holds) or voids one: mostly one still held and not left to
 * expire; now and then any hold of the account, so a hold already captured,
 * voided or expired is asked again (a recorded 409).
 */
function nextHoldOperation(
  account: string,
  holds: readonly PlacedHold[],
  mix: Mix,
  random: Random,
): Pick<LogicalOp, "account" | "kind" | "body" | "leftToExpire"> {
  const nowMs = Date.now();
  const open = holds.filter((hold) => !hold.resolved && !hold.leftToExpire);
  // A hold left to expire is touched only once it has expired.
  const any = holds.filter((hold) => !hold.leftToExpire || hold.expiresMs < nowMs);
  const candidates = random() < ANY_HOLD_SHARE ? any : open;
  if (random() < PLACE_SHARE || candidates.length === 0) {
    const leftToExpire = random() < mix.expiringHolds;
    const body: HoldInput = {
      amount: integerBetween(random, ...HOLD_MINOR),
      currency: CURRENCY,
      ...(leftToExpire ? { expires_in: SHORT_EXPIRES_IN_SECONDS } : {}),
    };
    return { account, kind: "hold", body, ...(leftToExpire ? { leftToExpire } : {}) };
  }
  const hold = pick(random, candidates);
  const shape = random();
  if (shape < 0.35) return { account, kind: "void", body: { hold: hold.id } };
  // Whole (amount omitted), part of it, or more than it holds (409 capture_exceeds_hold).
  const body: HoldActionBody =
    shape < 0.6
      ? { hold: hold.id }
      : shape < 0.95
        ? { hold: hold.id, amount: integerBetween(random, 1, hold.amount) }
        : { hold: hold.id, amount: hold.amount + 1 };
  return { account, kind: "capture", body };
}

function nextMoneyOperation(
  account: string,
  confirmed: readonly ConfirmedCharge[],
  random: Random,
): Pick<LogicalOp, "account" | "kind" | "body"> {
  const roll = random();
  if (roll < 0.3 && confirmed.length > 0) {
    const charge = pick(random, confirmed);
    const shape = random();
    // Whole rest, part of it (declined once the rest is smaller), or more than the charge (always declined).
    const body: RefundInput =
      shape < 0.4
        ? { charge: charge.id }
        : shape < 0.9
          ? { charge: charge.id, amount: integerBetween(random, 1, charge.amount) }
          : { charge: charge.id, amount: charge.amount + 1 };
    return { account, kind: "refund", body };
  }
  if (roll < 0.55) {
    return { account, kind: "credit", body: { amount: integerBetween(random, ...CREDIT_MINOR), currency: CURRENCY } };
  }
  const amount = roll < 0.6 ? IMPOSSIBLE_CHARGE_MINOR : integerBetween(random, ...CHARGE_MINOR);
  return { account, kind: "charge", body: { amount, currency: CURRENCY } };
}

/** Where each kind of request is sent: the typed client's calls, and hold-client.ts's for holds and transfers. */
export interface Senders {
  readonly client: LedgerClient;
  readonly holdClient: HoldClient;
  /** Reads over a clean network (a hold answered only by its expired decision is found by its key). */
  readonly cleanHolds: HoldClient;
}

/** Calls the client until the operation has a definite outcome, reusing its key after every unknown one. */
async function settle(
  senders: Senders | LedgerClient,
  workload: Workload,
  spec: Pick<LogicalOp, "account" | "kind" | "body" | "namesArchivedCharge" | "leftToExpire">,
  shape: KeyShape = "uuidv7",
): Promise<LogicalOp> {
  const sentMs = Date.now();
  let key = makeKey(shape, sentMs);
  let body = spec.body;
  if (spec.kind === "transfer") {
    // The transfer carries its request's key, so one answered only by its expired decision is found by its posting.
    key ??= uuidV7(sentMs);
    body = { ...(body as TransferInput), metadata: { chaos_key: key } };
  }
  const op: LogicalOp = { ...spec, body, key, outcome: null, calls: 0, attempts: 0, sentMs };
  workload.ops.push(op);
  const { stats } = workload;
  stats.keyShapes[shape] += 1;
  while (op.outcome === null) {
    if (op.calls === MAX_CALLS_PER_OPERATION) {
      op.outcome = { kind: "undetermined", reason: `no definite answer in ${op.calls} calls` };
      break;
    }
    op.calls += 1;
    if (op.calls > 1) stats.recalls += 1;
    try {
      const result = await sendOperation(senders, op, op.key);
      op.key = result.idempotencyKey;
      op.attempts += result.attempts;
      if (result.replayed) stats.replayedAnswers += 1;
      op.outcome = { kind: "applied", status: result.status, id: result.value.id, amount: result.value.amount };
      if (op.kind === "hold" && typeof result.value.expires === "string")
        op.expiresMs = Date.parse(result.value.expires);
    } catch (error) {
      if (error instanceof IdempotencyKeyExpiredError) {
        // The key's decision outlived its stored response: it is that decision, whatever it was.
        op.key = error.idempotencyKey;
        op.attempts += error.attempts;
        stats.expiredAnswers += 1;
        const applied = ENTRY_KINDS.has(op.kind) ? error.entryId !== null : error.originalStatus < 300;
        op.outcome = applied
          ? {
              kind: "applied",
              status: error.originalStatus,
              id: await appliedId(senders, op, error.entryId),
              amount: null,
            }
          : EXPECTED_DECLINES.has(error.originalCode ?? "")
            ? { kind: "declined", status: error.originalStatus, code: error.originalCode ?? "" }
            : { kind: "unexpected", status: error.status, code: error.code, detail: error.problem.detail };
      } else if (error instanceof LedgerProblemError) {
        op.key = error.idempotencyKey;
        op.attempts += error.attempts;
        if (error.replayed) stats.replayedAnswers += 1;
        op.outcome = EXPECTED_DECLINES.has(error.code)
          ? { kind: "declined", status: error.status, code: error.code }
          : { kind: "unexpected", status: error.status, code: error.code, detail: error.problem.detail };
      } else if (error instanceof OutcomeUnknownError) {
        op.key = error.idempotencyKey;
        op.attempts += error.attempts;
      } else {
        throw error;
      }
    }
  }
  op.decidedMs = Date.now();
  stats.attempts += op.attempts;
  stats.done += 1;
  return op;
}

/**
 * What an operation answered only by its expired success made: the entry
 * it names; for a void, its hold; for a hold, the hold carrying its key
 * (read over the clean network); for a transfer, null (its answer named no
 * transfer: the audit looks for its posting).
 */
async function appliedId(
  senders: Senders | LedgerClient,
  op: LogicalOp,
  entryId: string | null,
): Promise<string | null> {
  if (ENTRY_KINDS.has(op.kind)) return entryId;
  if (op.kind === "void") return (op.body as HoldActionBody).hold;
  if (op.kind === "hold" && "cleanHolds" in senders) {
    const hold = (await senders.cleanHolds.listHolds(op.account)).find((placed) => placed.idempotency_key === op.key);
    if (hold !== undefined) op.expiresMs = Date.parse(hold.expires);
    return hold?.id ?? null;
  }
  return null;
}

/** The answer's fields the workload reads: what it made and its amount, and a hold's expiry. */
type Made = { id: string; amount: number; expires?: string };

/** Sends the operation once (with the client's retries) under `key`, null to let the client make one. */
export function sendOperation(
  senders: Senders | LedgerClient,
  op: Pick<LogicalOp, "account" | "kind" | "body">,
  key: string | null,
): Promise<LedgerResult<Made>> {
  const options = key === null ? {} : { idempotencyKey: key };
  const client = "client" in senders ? senders.client : senders;
  if (op.kind === "credit" || op.kind === "charge" || op.kind === "refund") {
    if (op.kind === "refund") return client.refund(op.account, op.body as RefundInput, options);
    const body = op.body as MoneyInput;
    return op.kind === "credit" ? client.credit(op.account, body, options) : client.charge(op.account, body, options);
  }
  if (!("holdClient" in senders)) throw new Error(`invariant: a ${op.kind} needs the hold client`);
  const holds = senders.holdClient;
  switch (op.kind) {
    case "hold":
      return holds.placeHold(op.account, op.body as HoldInput, options);
    case "capture": {
      const { hold, amount } = op.body as HoldActionBody;
      return holds.captureHold(op.account, hold, amount === undefined ? {} : { amount }, options);
    }
    case "void":
      return holds.voidHold(op.account, (op.body as HoldActionBody).hold, options);
    case "transfer":
      return holds.transfer(op.account, op.body as TransferInput, options);
  }
}
