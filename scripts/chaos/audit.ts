/**
 * Reads the ledger back through its public API alone and runs every check:
 * each logical operation took effect exactly once or was declined exactly
 * once, every key's answers agree with its first decision, every hold and
 * transfer ended as the run's requests say, exactly once, the run's money is
 * conserved, and every period the run closed is archived and its chain
 * verified.
 */
import {
  LedgerProblemError,
  type AccountView,
  type EntryView,
  type LedgerClient,
} from "../../src/client/onceledger-client.ts";
import {
  checkAnswers,
  checkChain,
  checkEntryOwners,
  checkLookup,
  checkOperation,
  checkRules,
  violationRecorder,
  type Flag,
  type Violations,
} from "./checks.ts";
import type { HoldView, TransferView } from "../../src/domain/views.ts";
import type { HoldClient } from "./hold-client.ts";
import { checkHolds, emptyHoldTally, type HoldTally } from "./hold-checks.ts";
import { ENTRY_KINDS, type CloseOp, type LogicalOp, type Observation } from "./model.ts";
import { checkPeriods } from "./period-chain.ts";
import type { ArchiveTimeline } from "./periods.ts";
import type { Random } from "./random.ts";
import { settledDecision } from "./redeliver.ts";
import {
  checkConservation,
  checkGhost,
  checkTransfers,
  createdTransfers,
  emptyTransferTally,
  findUnnamedTransfers,
  type Conservation,
  type TransferTally,
} from "./transfers.ts";
import { forEachConcurrently } from "../lib/concurrency.ts";
import type { ObjectReader } from "../verify/chain.ts";
import { readLedger } from "../verify/ledger-read.ts";

export interface AuditResult {
  readonly accounts: number;
  readonly entries: number;
  readonly lookups: number;
  /** Of the lookups, those of keys whose period had left the object for the archive. */
  readonly archivedLookups: number;
  readonly comparedAnswers: number;
  /** Archived objects read back from the bucket and checked: null when the run could not read the bucket. */
  readonly periods: { listed: number; archived: number; verified: number; objectsRead: number | null };
  readonly holds: HoldTally;
  /** `unnamed`: created transfers answered only by their expired decision; `foundByPosting`: of them, found by their transfer_out. */
  readonly transfers: TransferTally & { unnamed: number; foundByPosting: number };
  readonly conservation: Conservation;
  readonly violations: Violations;
}

export async function audit(
  client: LedgerClient,
  options: {
    /** Where the ledger is, for reading each account's entries as served (the chain is over their exact text). */
    ledger: { baseUrl: string; apiKey: string };
    /** Reads an archived object, when the run can read the archive bucket. */
    readObject?: ObjectReader | undefined;
    accounts: readonly string[];
    ops: readonly LogicalOp[];
    closes: readonly CloseOp[];
    timeline: ArchiveTimeline;
    observations: ReadonlyMap<string, readonly Observation[]>;
    unanswered: ReadonlySet<string>;
    lookupShare: number;
    concurrency: number;
    random: Random;
    /** Where violations go; phases before the audit (the redelivery) may have recorded some. */
    recorder?: { violations: Violations; flag: Flag };
    /** Reads holds and transfers (over a clean network). */
    holds: HoldClient;
    /** The account transfers were sent to that the run never opened. */
    ghost: string;
    /** On a local run, what the source's object file says of a transfer still pending. */
    explainPending?: (account: string, transferId: string) => string | null;
  },
): Promise<AuditResult> {
  const { violations, flag } = options.recorder ?? violationRecorder();
  const opsByKey = new Map<string, LogicalOp>();
  for (const op of options.ops) if (op.key !== null) opsByKey.set(op.key, op);

  const closesByAccount = new Map<string, CloseOp[]>();
  for (const close of options.closes) {
    closesByAccount.set(close.account, [...(closesByAccount.get(close.account) ?? []), close]);
  }

  const entriesByKey = new Map<string, EntryView[]>();
  const entriesByAccount = new Map<string, EntryView[]>();
  const states = new Map<string, AccountView>();
  const holdsRead = new Map<string, { holds: HoldView[]; atMs: number }>();
  let entryCount = 0;
  const periods = { listed: 0, archived: 0, verified: 0, objectsRead: options.readObject === undefined ? null : 0 };
  await forEachConcurrently(options.accounts, options.concurrency, async (account) => {
    // Periods, then the account, then its entries up to its entry_count: one snapshot (npm run verify's read).
    const snapshot = await readLedger({ ...options.ledger, account, fetch: (url, init) => fetch(url, init) });
    const entries = snapshot.entries.map((text) => JSON.parse(text) as EntryView);
    const state = snapshot.account;
    entriesByAccount.set(account, entries);
    states.set(account, state);
    holdsRead.set(account, { holds: await options.holds.listHolds(account), atMs: Date.now() });
    entryCount += entries.length;
    checkChain(account, entries, state, flag);
    checkRules(account, entries, state, flag);
    checkEntryOwners(account, entries, opsByKey, flag);
    for (const entry of entries) {
      entriesByKey.set(entry.idempotency_key, [...(entriesByKey.get(entry.idempotency_key) ?? []), entry]);
    }
    // Every account, not only those the run closed: a period nobody asked for is a violation too.
    const tally = await checkPeriods(
      account,
      { periods: snapshot.periods, entryTexts: snapshot.entries, state },
      closesByAccount.get(account) ?? [],
      flag,
      options.readObject,
    );
    periods.listed += tally.periods;
    periods.archived += tally.archived;
    periods.verified += tally.verified;
    if (periods.objectsRead !== null) periods.objectsRead += tally.objectsRead ?? 0;
  });

  // Transfers: those answered only by their expired decision found by their posting, then each read as it is now.
  const unnamed = findUnnamedTransfers(options.ops, entriesByAccount);
  const views = new Map<string, TransferView>();
  await forEachConcurrently(createdTransfers(options.ops), options.concurrency, async (op) => {
    const id = op.outcome?.kind === "applied" ? op.outcome.id : null;
    if (id !== null) views.set(id, (await options.holds.getTransfer(op.account, id)).value);
  });
  const transfers = emptyTransferTally();
  checkTransfers(options.ops, views, entriesByAccount, options.ghost, transfers, flag, options.explainPending);
  await checkGhost(client, options.ghost, flag);
  const pendingOut = new Map<string, number>();
  for (const view of views.values()) {
    if (view.state === "pending") pendingOut.set(view.from, (pendingOut.get(view.from) ?? 0) + view.amount);
  }
  const opsByAccount = new Map<string, LogicalOp[]>();
  for (const op of options.ops) opsByAccount.set(op.account, [...(opsByAccount.get(op.account) ?? []), op]);
  const holds = emptyHoldTally();
  for (const account of options.accounts) {
    const state = states.get(account);
    const read = holdsRead.get(account);
    if (state === undefined || read === undefined) continue;
    checkHolds(
      account,
      {
        state,
        holds: read.holds,
        entries: entriesByAccount.get(account) ?? [],
        ops: opsByAccount.get(account) ?? [],
        pendingOut: pendingOut.get(account) ?? 0,
        nowMs: read.atMs,
      },
      holds,
      flag,
    );
  }
  const conservation = checkConservation(options.ops, [...states.values()], entriesByKey, entriesByAccount, flag);

  let comparedAnswers = 0;
  for (const op of options.ops) {
    checkOperation(op, entriesByKey, flag);
    if (op.key === null) continue;
    const answers = options.observations.get(op.key) ?? [];
    comparedAnswers += checkAnswers(
      op.key,
      answers,
      options.unanswered.has(op.key),
      flag,
      settledDecision({ op }),
      ENTRY_KINDS.has(op.kind),
    );
  }
  for (const close of options.closes) {
    if (close.key === null) continue;
    const answers = options.observations.get(close.key) ?? [];
    comparedAnswers += checkAnswers(
      close.key,
      answers,
      options.unanswered.has(close.key),
      flag,
      settledDecision({ close }),
    );
  }

  const sample = options.ops.filter((op) => op.key !== null && options.random() < options.lookupShare);
  const archivedLookups = sample.filter((op) => options.timeline.archivedAt(op, Date.now())).length;
  await forEachConcurrently(sample, options.concurrency, async (op) => {
    if (op.key === null) return;
    const lookup = await client.lookupIdempotencyKey(op.account, op.key).then(
      (result) => result.value,
      (error: unknown) => {
        if (error instanceof LedgerProblemError && error.code === "idempotency_key_not_found") return null;
        throw error;
      },
    );
    checkLookup(op, lookup, options.observations.get(op.key)?.[0], flag);
  });

  return {
    accounts: options.accounts.length,
    entries: entryCount,
    lookups: sample.length,
    archivedLookups,
    comparedAnswers,
    periods,
    holds,
    transfers: { ...transfers, unnamed: unnamed.unnamed, foundByPosting: unnamed.found },
    conservation,
    violations,
  };
}
