/**
 * Transfers in a chaos run: the wait after the run until none is pending
 * (bounded), and the audit's judgements of them, as pure functions of what
 * the run sent and what the API returned. A transfer is posted or voided
 * exactly once: posted, it has exactly one `transfer_out` entry on its
 * source and one `transfer_in` on its destination; voided, neither, and a
 * reason (`account_not_found` for the account never opened). Every leg in
 * the ledger belongs to one transfer of the run, and the run's balances add
 * up to its credits and refunds less its charges and captures.
 */
import type { AccountView, EntryView } from "../../src/client/onceledger-client.ts";
import { LedgerProblemError } from "../../src/client/onceledger-client.ts";
import type { TransferInput } from "../../src/domain/commands.ts";
import type { TransferView } from "../../src/domain/views.ts";
import { forEachConcurrently } from "../lib/concurrency.ts";
import type { Flag } from "./checks.ts";
import type { HoldClient } from "./hold-client.ts";
import type { LogicalOp } from "./model.ts";

const POLL_MS = 500;

/** The wait after the run for every transfer to leave `pending`. */
export interface TransferQuiescence {
  /** Transfers the run created (201), and of them how many it could read (its id known). */
  readonly created: number;
  readonly read: number;
  readonly posted: number;
  readonly voided: number;
  /** Still pending when the wait ended (each a violation). */
  readonly pending: number;
  /** From the end of the run (after the last crash and restart) until none was pending, or the bound. */
  readonly seconds: number;
  readonly boundSeconds: number;
  /** The longest a transfer stayed pending, `resolved` less `created` as the ledger reports them; null if none left it. */
  readonly maxPendingMs: number | null;
  /** The median of the same. */
  readonly medianPendingMs: number | null;
}

/** The transfers the run created: applied transfer operations. */
export function createdTransfers(ops: readonly LogicalOp[]): LogicalOp[] {
  return ops.filter((op) => op.kind === "transfer" && op.outcome?.kind === "applied");
}

/**
 * Polls every transfer the run created whose id it knows until none is
 * pending, for at most `timeoutMs`: their states as last read.
 */
export async function waitForTransfers(
  holds: HoldClient,
  ops: readonly LogicalOp[],
  options: { timeoutMs: number; concurrency: number },
): Promise<{ views: Map<string, TransferView>; quiescence: TransferQuiescence }> {
  const startedMs = performance.now();
  const created = createdTransfers(ops);
  const known = created.filter((op) => op.outcome?.kind === "applied" && op.outcome.id !== null);
  const views = new Map<string, TransferView>();
  let pending = known;
  for (;;) {
    const still: LogicalOp[] = [];
    await forEachConcurrently(pending, options.concurrency, async (op) => {
      const id = op.outcome?.kind === "applied" ? op.outcome.id : null;
      if (id === null) return;
      const view = (await holds.getTransfer(op.account, id)).value;
      views.set(id, view);
      if (view.state === "pending") still.push(op);
    });
    pending = still;
    if (pending.length === 0 || performance.now() - startedMs >= options.timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const durations = [...views.values()]
    .filter((view) => view.resolved !== null)
    .map((view) => Date.parse(view.resolved as string) - Date.parse(view.created))
    .sort((a, b) => a - b);
  const states = [...views.values()].map((view) => view.state);
  return {
    views,
    quiescence: {
      created: created.length,
      read: known.length,
      posted: states.filter((state) => state === "posted").length,
      voided: states.filter((state) => state === "voided").length,
      pending: pending.length,
      seconds: (performance.now() - startedMs) / 1000,
      boundSeconds: options.timeoutMs / 1000,
      maxPendingMs: durations.at(-1) ?? null,
      medianPendingMs: durations.length === 0 ? null : (durations[Math.floor(durations.length / 2)] ?? null),
    },
  };
}

/**
 * A transfer answered only by its expired decision named no transfer: its
 * id is that of the `transfer_out` on its source carrying its key in its
 * metadata (the workload puts it there), if it was posted.
 */
export function findUnnamedTransfers(
  ops: readonly LogicalOp[],
  entriesByAccount: ReadonlyMap<string, readonly EntryView[]>,
) {
  let unnamed = 0;
  let found = 0;
  for (const op of createdTransfers(ops)) {
    if (op.outcome?.kind !== "applied" || op.outcome.id !== null) continue;
    unnamed += 1;
    const out = (entriesByAccount.get(op.account) ?? []).find(
      (entry) => entry.type === "transfer_out" && entry.metadata.chaos_key === op.key,
    );
    if (out?.transfer !== undefined) {
      op.outcome = { ...op.outcome, id: out.transfer };
      found += 1;
    }
  }
  return { unnamed, found };
}

export interface TransferTally {
  posted: number;
  voided: number;
  /** Voided with reason account_not_found: sent to the account never opened. */
  voidedNotFound: number;
  /** Created, answered only by their expired decision and never posted: their state cannot be read. */
  unread: number;
  /** Sum of the posted transfers' amounts. */
  moved: number;
}

export function emptyTransferTally(): TransferTally {
  return { posted: 0, voided: 0, voidedNotFound: 0, unread: 0, moved: 0 };
}

/**
 * Judges every transfer the run created against its state (`views`, read
 * after the wait) and the legs in the run's ledgers, and every leg against
 * the transfers. `ghost` is the account never opened.
 */
export function checkTransfers(
  ops: readonly LogicalOp[],
  views: ReadonlyMap<string, TransferView>,
  entriesByAccount: ReadonlyMap<string, readonly EntryView[]>,
  ghost: string,
  tally: TransferTally,
  flag: Flag,
  /** On a local run, what the source's object file says of a transfer still pending. */
  explainPending: (account: string, transferId: string) => string | null = () => null,
): void {
  const outs = new Map<string, EntryView[]>();
  const ins = new Map<string, { account: string; entry: EntryView }[]>();
  for (const [account, entries] of entriesByAccount) {
    for (const entry of entries) {
      if (entry.type === "transfer_out") {
        outs.set(entry.transfer ?? "", [...(outs.get(entry.transfer ?? "") ?? []), entry]);
      } else if (entry.type === "transfer_in") {
        ins.set(entry.transfer ?? "", [...(ins.get(entry.transfer ?? "") ?? []), { account, entry }]);
      }
    }
  }
  const known = new Set<string>();
  for (const op of createdTransfers(ops)) {
    if (op.outcome?.kind !== "applied") continue;
    const body = op.body as TransferInput;
    const label = `${op.account} transfer key ${op.key ?? "(none)"} to ${body.to}`;
    const id = op.outcome.id;
    if (id === null) {
      // Never posted (no transfer_out carries its key) and its id unknown: what it set aside must be gone (held).
      tally.unread += 1;
      continue;
    }
    known.add(id);
    const view = views.get(id);
    const legsOut = outs.get(id) ?? [];
    const legsIn = ins.get(id) ?? [];
    if (view === undefined) {
      flag("lost", `${label}: transfer ${id} could not be read`);
      continue;
    }
    if (
      view.from !== op.account ||
      view.to !== body.to ||
      view.amount !== body.amount ||
      view.idempotency_key !== op.key
    ) {
      flag(
        "transferMismatches",
        `${label}: transfer ${id} reads ${view.from} -> ${view.to} ${view.amount} key ${view.idempotency_key}`,
      );
    }
    if (view.state === "pending") {
      const why = explainPending(op.account, id);
      flag(
        "pendingTransfers",
        `${label}: transfer ${id} of ${view.amount} is still pending (created ${view.created})${why === null ? "" : `; ${why}`}`,
      );
      continue;
    }
    if (view.state === "posted") {
      tally.posted += 1;
      tally.moved += body.amount;
      const [out] = legsOut;
      const [leg] = legsIn;
      if (legsOut.length > 1 || legsIn.length > 1) {
        flag(
          "doubleApplied",
          `${label}: transfer ${id} posted with ${legsOut.length} transfer_out and ${legsIn.length} transfer_in`,
        );
      } else if (
        out === undefined ||
        leg === undefined ||
        out.amount !== -body.amount ||
        leg.entry.amount !== body.amount ||
        leg.account !== body.to ||
        out.idempotency_key !== `transfer_out ${id}` ||
        leg.entry.idempotency_key !== `transfer_in ${op.account} ${id}`
      ) {
        flag(
          "lost",
          `${label}: transfer ${id} posted, but its transfer_out is ${out === undefined ? "missing" : `${out.id} ${out.amount}`} ` +
            `and its transfer_in ${leg === undefined ? "missing" : `${leg.entry.id} ${leg.entry.amount} on ${leg.account}`}`,
        );
      }
      if (body.to === ghost) flag("transferMismatches", `${label}: transfer ${id} posted to an account never opened`);
    } else {
      tally.voided += 1;
      if (view.reason === "account_not_found") tally.voidedNotFound += 1;
      if (legsOut.length > 0 || legsIn.length > 0) {
        flag(
          "doubleApplied",
          `${label}: transfer ${id} voided (${view.reason ?? "no reason"}) yet has ${legsOut.length} transfer_out and ${legsIn.length} transfer_in`,
        );
      }
      // The run's transfers share a currency and stay far below the balance cap: only the account never opened refuses.
      const expected = body.to === ghost ? "account_not_found" : null;
      if (view.reason !== expected) {
        flag(
          "transferMismatches",
          `${label}: transfer ${id} voided with reason ${view.reason ?? "none"}, expected ${expected ?? "it posted"}`,
        );
      }
    }
  }
  for (const [id, legs] of outs) {
    if (!known.has(id))
      flag(
        "unknownEntries",
        `transfer_out ${legs.map((leg) => leg.id).join(", ")} names transfer ${id}, which the run did not create`,
      );
  }
  for (const [id, legs] of ins) {
    if (!known.has(id)) {
      flag(
        "unknownEntries",
        `transfer_in ${legs.map((leg) => `${leg.entry.id} on ${leg.account}`).join(", ")} names transfer ${id}, which the run did not create`,
      );
    }
  }
}

/** The account never opened must still not exist: a refused leg opens nothing. */
export async function checkGhost(
  holds: { getAccount: (account: string) => Promise<unknown> },
  ghost: string,
  flag: Flag,
) {
  try {
    await holds.getAccount(ghost);
    flag("transferMismatches", `${ghost}: the account the run never opened exists`);
  } catch (error) {
    if (!(error instanceof LedgerProblemError && error.code === "account_not_found")) throw error;
  }
}

/** The sum of the run's balances against its own model. */
export interface Conservation {
  readonly balances: number;
  readonly credits: number;
  readonly refunds: number;
  readonly charges: number;
  readonly captures: number;
  /** Sum of the run's transfer_out and transfer_in entries: equal when transfers net to zero. */
  readonly transferredOut: number;
  readonly transferredIn: number;
  /** Applied operations whose amount the run took from their entry (their answer was the key's expired decision). */
  readonly amountsFromLedger: number;
  readonly holds: boolean;
}

/**
 * Conservation: the balances of every account of the run sum to its applied
 * credits and refunds less its charges and captures (as the answers said,
 * or, for one answered by its expired decision, as its entry says), and
 * its transfers' legs net to zero.
 */
export function checkConservation(
  ops: readonly LogicalOp[],
  states: readonly AccountView[],
  entriesByKey: ReadonlyMap<string, readonly EntryView[]>,
  entriesByAccount: ReadonlyMap<string, readonly EntryView[]>,
  flag: Flag,
): Conservation {
  const sums = { credit: 0, refund: 0, charge: 0, capture: 0 };
  let amountsFromLedger = 0;
  for (const op of ops) {
    if (op.outcome?.kind !== "applied") continue;
    if (op.kind !== "credit" && op.kind !== "refund" && op.kind !== "charge" && op.kind !== "capture") continue;
    let amount = op.outcome.amount === null ? null : Math.abs(op.outcome.amount);
    if (amount === null) {
      amountsFromLedger += 1;
      const entry = op.key === null ? undefined : entriesByKey.get(op.key)?.[0];
      amount = entry === undefined ? 0 : Math.abs(entry.amount);
    }
    sums[op.kind] += amount;
  }
  let transferredOut = 0;
  let transferredIn = 0;
  for (const entries of entriesByAccount.values()) {
    for (const entry of entries) {
      if (entry.type === "transfer_out") transferredOut -= entry.amount;
      if (entry.type === "transfer_in") transferredIn += entry.amount;
    }
  }
  const balances = states.reduce((sum, state) => sum + state.balance, 0);
  const expected = sums.credit + sums.refund - sums.charge - sums.capture;
  const holds = balances === expected && transferredOut === transferredIn;
  if (!holds) {
    flag(
      "conservationMismatches",
      `balances sum to ${balances}; credits ${sums.credit} + refunds ${sums.refund} - charges ${sums.charge} - captures ${sums.capture} = ${expected}; ` +
        `transferred out ${transferredOut}, in ${transferredIn}`,
    );
  }
  return {
    balances,
    credits: sums.credit,
    refunds: sums.refund,
    charges: sums.charge,
    captures: sums.capture,
    transferredOut,
    transferredIn,
    amountsFromLedger,
    holds,
  };
}
