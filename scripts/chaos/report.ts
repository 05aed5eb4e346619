/** The chaos run's report: one JSON-ready object, and its plain-text rendering. */
import type { AuditResult } from "./audit.ts";
import type { ViolationKind } from "./checks.ts";
import type { FaultCounts, FaultRates } from "./faulty-network.ts";
import type { KeyShape } from "./keys.ts";
import type { LogicalOp } from "./model.ts";
import type { CloseStats, Quiescence } from "./periods.ts";
import type { Redelivered } from "./redeliver.ts";
import type { TransferQuiescence } from "./transfers.ts";
import type { WorkloadStats } from "./workload.ts";

export interface ChaosReport {
  readonly target: string;
  readonly seed: number;
  readonly settings: {
    accounts: number;
    operations: number;
    concurrency: number;
    closeEvery: number;
    untimedKeys: number;
    lateRedeliveries: number;
    holds: number;
    transfers: number;
    expiringHolds: number;
    ghostTransfers: number;
  } & FaultRates;
  /** The wait after the run for every transfer to leave pending. */
  readonly transfers: TransferQuiescence;
  readonly operations: {
    total: number;
    byKind: Record<string, number>;
    applied: number;
    declined: Record<string, number>;
  };
  readonly requests: { sentToServer: number; clientAttempts: number; retries: number; replayedAnswers: number };
  readonly faults: Omit<FaultCounts, "requests"> & { crashes: number };
  readonly keyShapes: Record<KeyShape, number>;
  /** Decided operations and closes sent again after the run, once their records expired. */
  readonly redelivered: Redelivered;
  /** Decided requests sent again during the run, through the bad network, once their records expired. */
  readonly lateRedelivered: { sent: number; closes: number; archivedKeys: number };
  readonly periods: {
    readonly closes: CloseStats;
    /** The wait after the run for every period to be archived; null when nothing was closed. */
    readonly quiescence: Quiescence | null;
    /**
     * Periods whose rows had all left the object when the run ended and before the redelivery after it (read from
     * the objects' files on a local run; null elsewhere), and how the run judged which retries reached the archive.
     */
    readonly pruned: {
      judgedBy: "object files" | "timing";
      whenRunEnded: { periods: number; pruned: number } | null;
      beforeRedelivery: { periods: number; pruned: number } | null;
    };
    /** Refunds sent once the charge they name had left the object for the archive, and how many were applied. */
    readonly refundsOfArchivedCharges: { sent: number; applied: number };
    /** Every close, for the JSON report: its account, key, outcome and period, when it was sent and answered. */
    readonly log: readonly {
      account: string;
      key: string | null;
      outcome: string;
      period: number | null;
      sentMs: number;
      answeredMs: number | null;
    }[];
  };
  /** Operations whose definite answer was their key's expired decision. */
  readonly expiredAnswers: number;
  readonly throughput: { seconds: number; operationsPerSecond: number; requestsPerSecond: number };
  readonly audit: AuditResult;
  readonly passed: boolean;
}

export function summarize(ops: readonly LogicalOp[]) {
  const byKind: Record<string, number> = {};
  const declined: Record<string, number> = {};
  let applied = 0;
  for (const op of ops) {
    byKind[op.kind] = (byKind[op.kind] ?? 0) + 1;
    if (op.outcome?.kind === "applied") applied += 1;
    if (op.outcome?.kind === "declined") declined[op.outcome.code] = (declined[op.outcome.code] ?? 0) + 1;
  }
  return { total: ops.length, byKind, applied, declined };
}

export function retries(stats: WorkloadStats, operations: number): number {
  return stats.attempts - operations;
}

const n = (value: number) => value.toLocaleString("en-US");
const pct = (share: number) => `${Number((share * 100).toFixed(1))}%`;
const list = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([name, count]) => `${name} ${n(count)}`)
    .join(", ") || "none";

const SHAPES: Record<KeyShape, string> = {
  uuidv7: "the client's UUIDv7",
  uuidv4: "UUIDv4 (no time)",
  "uuidv7-ahead": "UUIDv7 an hour ahead",
  "uuidv7-behind": "UUIDv7 two days behind",
};

export function renderReport(report: ChaosReport): string {
  const { settings, operations, requests, faults, throughput, audit, periods, redelivered, lateRedelivered } = report;
  const held = audit.holds;
  const moved = audit.transfers;
  const wait = report.transfers;
  const money = audit.conservation;
  const ms = (value: number | null) => (value === null ? "-" : `${(value / 1000).toFixed(1)} s`);
  const v = audit.violations.count;
  const closes = periods.closes;
  const quiet = periods.quiescence;
  const { whenRunEnded, beforeRedelivery, judgedBy } = periods.pruned;
  const prunedLine =
    whenRunEnded === null
      ? "when their rows left the object is judged by timing (the object files are not readable here)"
      : `pruned (rows gone from the object): ${n(whenRunEnded.pruned)} of ${n(whenRunEnded.periods)} when the run ended` +
        (beforeRedelivery === null
          ? ""
          : `, ${n(beforeRedelivery.pruned)} of ${n(beforeRedelivery.periods)} before the redelivery after it`);
  const periodLines =
    settings.closeEvery === 0
      ? [`periods:    none closed (--close-every 0); ${n(audit.periods.listed)} listed`]
      : [
          `periods:    a close every ${n(settings.closeEvery)} operations (run-wide): ${n(closes.asked)} asked, ` +
            `${n(closes.closed)} closed, ${n(closes.empty)} period_empty; ${n(closes.replayedAnswers)} answered by replays, ` +
            `${n(closes.expiredAnswers)} by their expired decision`,
          `archive:    ${n(quiet?.archived ?? 0)} of ${n(quiet?.periods ?? 0)} periods archived ${(quiet?.seconds ?? 0).toFixed(1)} s after the run; ${prunedLine}`,
          `archived:   retries of archived keys (by ${judgedBy}): ${n(lateRedelivered.archivedKeys)} during the run, ${n(redelivered.archivedKeys)} after it; ` +
            `refunds of archived charges ${n(periods.refundsOfArchivedCharges.sent)} (${n(periods.refundsOfArchivedCharges.applied)} applied); ` +
            `key lookups of archived keys ${n(audit.archivedLookups)}`,
          `chain:      ${n(audit.periods.verified)} of ${n(audit.periods.listed)} periods verified (npm run verify's check: ` +
            `sha256 recomputed from the entries as served and linked, balances add up; each closed by one close of the run); ` +
            (audit.periods.objectsRead === null
              ? "archived objects not read (no local bucket)"
              : `${n(audit.periods.objectsRead)} archived objects read back from local R2 and checked`),
        ];
  const lines = [
    "",
    `OnceLedger chaos audit against ${report.target} (seed ${report.seed})`,
    `settings:   ${n(settings.accounts)} accounts, ${n(settings.operations)} operations, ${settings.concurrency} in flight; ` +
      `refuse ${pct(settings.refuse)}, drop ${pct(settings.drop)}, duplicate ${pct(settings.duplicate)}, ` +
      `concurrent ${pct(settings.concurrent)}, delay ${pct(settings.delay)} up to ${settings.maxDelayMs} ms, ` +
      `stall ${pct(settings.stall)} for ${settings.stallMs} ms`,
    `mix:        holds ${pct(settings.holds)} of operations (${pct(settings.expiringHolds)} of placed holds left to expire), ` +
      `transfers ${pct(settings.transfers)} (${pct(settings.ghostTransfers)} of them to an account never opened)`,
    `operations: ${n(operations.total)} logical (${list(operations.byKind)}), the accounts' funding included`,
    `outcomes:   applied ${n(operations.applied)}; declined ${list(operations.declined)}`,
    `requests:   ${n(requests.sentToServer)} reached the server; client attempts ${n(requests.clientAttempts)}, retries ${n(requests.retries)}`,
    `faults:     requests lost ${n(faults.refused)}, answers dropped ${n(faults.dropped)}, requests duplicated ${n(faults.duplicated)}, ` +
      `concurrent copies ${n(faults.concurrentCopies)}, requests delayed ${n(faults.delayed)}, answers stalled ${n(faults.stalled)}`,
    `crashes:    ${n(faults.crashes)} kills of the whole server process group (kill -9), each restarted on its persisted state`,
    `keys:       ${list(Object.fromEntries(Object.entries(report.keyShapes).map(([shape, count]) => [SHAPES[shape as KeyShape], count])))}`,
    `expiry:     ${n(report.expiredAnswers)} operations answered by their key's expired decision; ` +
      `${n(lateRedelivered.sent)} decided requests redelivered during the run after expiry (${n(lateRedelivered.closes)} closes), ` +
      `${n(redelivered.operations)} operations and ${n(redelivered.closes)} closes after it (${n(redelivered.declines)} declines)`,
    ...periodLines,
    `holds:      ${n(held.placed)} placed: ${n(held.captured)} captured (${n(held.capturedInPart)} in part), ${n(held.voided)} voided, ` +
      `${n(held.expired)} expired (${n(held.leftToExpire)} left to expire), ${n(held.stillHeld)} still held; every account's held checked`,
    `transfers:  ${n(wait.created)} created: ${n(moved.posted)} posted, ${n(moved.voided)} voided (${n(moved.voidedNotFound)} account_not_found), ` +
      `${n(wait.pending)} pending after ${wait.seconds.toFixed(1)} s (bound ${wait.boundSeconds} s after the run); pending at most ` +
      `${ms(wait.maxPendingMs)}, median ${ms(wait.medianPendingMs)}; ${n(moved.unnamed)} answered only by their expired decision ` +
      `(${n(moved.foundByPosting)} found by their posting, ${n(moved.unread)} unread)`,
    `money:      balances ${n(money.balances)} = credits ${n(money.credits)} + refunds ${n(money.refunds)} - charges ${n(money.charges)} ` +
      `- captures ${n(money.captures)}: ${money.holds ? "conserved" : "NOT conserved"}; transferred out ${n(money.transferredOut)}, ` +
      `in ${n(money.transferredIn)} (${n(moved.moved)} by posted transfers); ${n(money.amountsFromLedger)} amounts read from entries`,
    `replays:    ${n(requests.replayedAnswers)} final answers were replays; ${n(audit.comparedAnswers)} repeated answers compared byte for byte`,
    `throughput: ${n(throughput.operationsPerSecond)} operations/s, ${n(throughput.requestsPerSecond)} requests/s over ${throughput.seconds.toFixed(1)} s`,
    `audit:      ${n(audit.accounts)} accounts, ${n(audit.entries)} entries, ${n(audit.lookups)} key lookups, ${n(audit.periods.listed)} periods`,
    "",
    `double-applied: ${v.doubleApplied}, lost: ${v.lost}`,
    `undetermined: ${v.undetermined}, unexpected problems: ${v.unexpectedProblems}, unknown entries: ${v.unknownEntries}, ` +
      `sequence gaps: ${v.sequenceGaps}, balance mismatches: ${v.balanceMismatches}, rule violations: ${v.ruleViolations}, ` +
      `replay mismatches: ${v.replayMismatches}, ` +
      `lookup mismatches: ${v.lookupMismatches}, declines turned into applications or other flipped decisions: ${v.flippedDecisions}, ` +
      `period mismatches: ${v.periodMismatches}, chain mismatches: ${v.chainMismatches}, unarchived periods: ${v.unarchivedPeriods}, ` +
      `pending transfers: ${v.pendingTransfers}, transfer mismatches: ${v.transferMismatches}, hold mismatches: ${v.holdMismatches}, ` +
      `held mismatches: ${v.heldMismatches}, conservation mismatches: ${v.conservationMismatches}`,
  ];
  for (const [kind, examples] of Object.entries(audit.violations.examples) as [ViolationKind, string[]][]) {
    if (examples.length === 0) continue;
    lines.push(`${kind} (first ${examples.length} of ${v[kind]}):`, ...examples.map((example) => `  ${example}`));
  }
  lines.push(
    report.passed
      ? `PASS: every logical operation took effect exactly once or was declined exactly once, every transfer posted or voided once, money conserved${settings.closeEvery === 0 ? "" : ", and every period's chain verified"}.`
      : "FAIL: see the violations above.",
  );
  return lines.join("\n");
}
