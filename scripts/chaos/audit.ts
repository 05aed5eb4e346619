/**
 * Reads the ledger back through its public API alone and runs every check:
 * each logical operation took effect exactly once or was declined exactly once.
 */
import {
  allEntries,
  LedgerProblemError,
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
import type { LogicalOp, Observation } from "./model.ts";
import type { Random } from "./random.ts";
import { forEachConcurrently } from "../lib/concurrency.ts";

export interface AuditResult {
  readonly accounts: number;
  readonly entries: number;
  readonly lookups: number;
  readonly comparedAnswers: number;
  readonly violations: Violations;
}

export async function audit(
  client: LedgerClient,
  options: {
    accounts: readonly string[];
    ops: readonly LogicalOp[];
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

  const entriesByKey = new Map<string, EntryView[]>();
  let entryCount = 0;
  await forEachConcurrently(options.accounts, options.concurrency, async (account) => {
    const entries: EntryView[] = [];
    for await (const entry of allEntries(client, account)) entries.push(entry);
    const { value: state } = await client.getAccount(account);
    entryCount += entries.length;
    checkChain(account, entries, state, flag);
    checkRules(account, entries, state, flag);
    checkEntryOwners(account, entries, opsByKey, flag);
    for (const entry of entries) {
      entriesByKey.set(entry.idempotency_key, [...(entriesByKey.get(entry.idempotency_key) ?? []), entry]);
    }
  });

  let comparedAnswers = 0;
  for (const op of options.ops) {
    checkOperation(op, entriesByKey, flag);
    if (op.key === null) continue;
    const answers = options.observations.get(op.key) ?? [];
    comparedAnswers += checkAnswers(op.key, answers, options.unanswered.has(op.key), flag);
  }

  const sample = options.ops.filter((op) => op.key !== null && options.random() < options.lookupShare);
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
    comparedAnswers,
    violations,
  };
}
