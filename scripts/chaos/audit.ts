/**
 * Reads the ledger back through its public API alone and runs every check:
 * each logical operation took effect exactly once or was declined exactly
 * once, every key's answers agree with its first decision, and every
 * period the run closed is archived and its chain verified.
 */
import { LedgerProblemError, type EntryView, type LedgerClient } from "../../src/client/onceledger-client.ts";
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
import type { CloseOp, LogicalOp, Observation } from "./model.ts";
import { checkPeriods } from "./period-chain.ts";
import type { ArchiveTimeline } from "./periods.ts";
import type { Random } from "./random.ts";
import { settledDecision } from "./redeliver.ts";
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
  let entryCount = 0;
  const periods = { listed: 0, archived: 0, verified: 0, objectsRead: options.readObject === undefined ? null : 0 };
  await forEachConcurrently(options.accounts, options.concurrency, async (account) => {
    // Periods, then the account, then its entries up to its entry_count: one snapshot (npm run verify's read).
    const snapshot = await readLedger({ ...options.ledger, account, fetch: (url, init) => fetch(url, init) });
    const entries = snapshot.entries.map((text) => JSON.parse(text) as EntryView);
    const state = snapshot.account;
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

  let comparedAnswers = 0;
  for (const op of options.ops) {
    checkOperation(op, entriesByKey, flag);
    if (op.key === null) continue;
    const answers = options.observations.get(op.key) ?? [];
    comparedAnswers += checkAnswers(op.key, answers, options.unanswered.has(op.key), flag, settledDecision({ op }));
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
    violations,
  };
}
