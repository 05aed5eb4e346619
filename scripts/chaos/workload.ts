/**
 * The chaos run's logical operations: accounts opened and funded, then a mix
 * of credits, charges and refunds (some bound to be declined), each retried
 * through the client until it has a definite outcome.
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
import { forEachConcurrently } from "../lib/concurrency.ts";
import { makeKey, pickKeyShape, type KeyShape } from "./keys.ts";
import type { LogicalOp } from "./model.ts";
import { integerBetween, pick, type Random } from "./random.ts";

export const CURRENCY = "USD";
export const FUNDING_MINOR = 50_000;
/** Calls of the client (each with its own retries) before an operation counts as undetermined. */
export const MAX_CALLS_PER_OPERATION = 20;
/** Declines the workload provokes on purpose; any other problem is a bug. */
export const EXPECTED_DECLINES = new Set(["insufficient_funds", "refund_exceeds_charge"]);

const CHARGE_MINOR = [100, 5_000] as const;
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
  workload: Workload,
  options: {
    accounts: readonly string[];
    count: number;
    concurrency: number;
    random: Random;
    untimedKeys: number;
    /** Whether a charge's key (and so the charge) had left the object for the archive by now. */
    archived?: (charge: LogicalOp) => boolean;
    onDone: () => void;
  },
): Promise<void> {
  const charges = new Map<string, ConfirmedCharge[]>(options.accounts.map((account) => [account, []]));
  const chargeOps = new Map<string, LogicalOp>();
  const indexes = Array.from({ length: options.count }, (_, i) => i);
  await forEachConcurrently(indexes, options.concurrency, async () => {
    const account = pick(options.random, options.accounts);
    const spec = nextOperation(account, charges.get(account) ?? [], options.random);
    const charge = spec.kind === "refund" ? chargeOps.get((spec.body as RefundInput).charge) : undefined;
    const namesArchivedCharge = charge !== undefined && options.archived !== undefined && options.archived(charge);
    const shape = pickKeyShape(options.random, options.untimedKeys);
    const op = await settle(client, workload, namesArchivedCharge ? { ...spec, namesArchivedCharge } : spec, shape);
    if (op.kind === "charge" && op.outcome?.kind === "applied" && op.outcome.amount !== null) {
      charges.get(account)?.push({ id: op.outcome.id, amount: op.outcome.amount });
      chargeOps.set(op.outcome.id, op);
    }
    options.onDone();
  });
}

function nextOperation(
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

/** Calls the client until the operation has a definite outcome, reusing its key after every unknown one. */
async function settle(
  client: LedgerClient,
  workload: Workload,
  spec: Pick<LogicalOp, "account" | "kind" | "body" | "namesArchivedCharge">,
  shape: KeyShape = "uuidv7",
): Promise<LogicalOp> {
  const sentMs = Date.now();
  const op: LogicalOp = { ...spec, key: makeKey(shape, sentMs), outcome: null, calls: 0, attempts: 0, sentMs };
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
      const result = await send(client, op);
      op.key = result.idempotencyKey;
      op.attempts += result.attempts;
      if (result.replayed) stats.replayedAnswers += 1;
      op.outcome = { kind: "applied", status: result.status, id: result.value.id, amount: result.value.amount };
    } catch (error) {
      if (error instanceof IdempotencyKeyExpiredError) {
        // The key's decision outlived its stored response: it is that decision, whatever it was.
        op.key = error.idempotencyKey;
        op.attempts += error.attempts;
        stats.expiredAnswers += 1;
        op.outcome =
          error.entryId !== null
            ? { kind: "applied", status: error.originalStatus, id: error.entryId, amount: null }
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

function send(client: LedgerClient, op: LogicalOp): Promise<LedgerResult<{ id: string; amount: number }>> {
  const options = op.key === null ? {} : { idempotencyKey: op.key };
  if (op.kind === "refund") return client.refund(op.account, op.body as RefundInput, options);
  const body = op.body as MoneyInput;
  return op.kind === "credit" ? client.credit(op.account, body, options) : client.charge(op.account, body, options);
}
