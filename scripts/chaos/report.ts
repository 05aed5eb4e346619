/** The chaos run's report: one JSON-ready object, and its plain-text rendering. */
import type { AuditResult } from "./audit.ts";
import type { ViolationKind } from "./checks.ts";
import type { FaultCounts, FaultRates } from "./faulty-network.ts";
import type { LogicalOp } from "./model.ts";
import type { WorkloadStats } from "./workload.ts";

export interface ChaosReport {
  readonly target: string;
  readonly seed: number;
  readonly settings: { accounts: number; operations: number; concurrency: number } & FaultRates;
  readonly operations: {
    total: number;
    byKind: Record<string, number>;
    applied: number;
    declined: Record<string, number>;
  };
  readonly requests: { sentToServer: number; clientAttempts: number; retries: number; replayedAnswers: number };
  readonly faults: Omit<FaultCounts, "requests"> & { crashes: number };
  /** Decided operations sent again after their records expired. */
  readonly redelivered: { operations: number; declines: number };
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

export function renderReport(report: ChaosReport): string {
  const { settings, operations, requests, faults, throughput, audit } = report;
  const v = audit.violations.count;
  const lines = [
    "",
    `OnceLedger chaos audit against ${report.target} (seed ${report.seed})`,
    `settings:   ${n(settings.accounts)} accounts, ${n(settings.operations)} operations, ${settings.concurrency} in flight; ` +
      `refuse ${pct(settings.refuse)}, drop ${pct(settings.drop)}, duplicate ${pct(settings.duplicate)}, ` +
      `concurrent ${pct(settings.concurrent)}, delay ${pct(settings.delay)} up to ${settings.maxDelayMs} ms, ` +
      `stall ${pct(settings.stall)} for ${settings.stallMs} ms`,
    `operations: ${n(operations.total)} logical (${list(operations.byKind)}), the accounts' funding included`,
    `outcomes:   applied ${n(operations.applied)}; declined ${list(operations.declined)}`,
    `requests:   ${n(requests.sentToServer)} reached the server; client attempts ${n(requests.clientAttempts)}, retries ${n(requests.retries)}`,
    `faults:     requests lost ${n(faults.refused)}, answers dropped ${n(faults.dropped)}, requests duplicated ${n(faults.duplicated)}, ` +
      `concurrent copies ${n(faults.concurrentCopies)}, requests delayed ${n(faults.delayed)}, answers stalled ${n(faults.stalled)}`,
    `crashes:    ${n(faults.crashes)} kills of the whole server process group (kill -9), each restarted on its persisted state`,
    `expiry:     ${n(report.expiredAnswers)} operations answered by their key's expired decision; ` +
      `${n(report.redelivered.operations)} decided operations redelivered after expiry (${n(report.redelivered.declines)} declines)`,
    `replays:    ${n(requests.replayedAnswers)} final answers were replays; ${n(audit.comparedAnswers)} repeated answers compared byte for byte`,
    `throughput: ${n(throughput.operationsPerSecond)} operations/s, ${n(throughput.requestsPerSecond)} requests/s over ${throughput.seconds.toFixed(1)} s`,
    `audit:      ${n(audit.accounts)} accounts, ${n(audit.entries)} entries, ${n(audit.lookups)} key lookups`,
    "",
    `double-applied: ${v.doubleApplied}, lost: ${v.lost}`,
    `undetermined: ${v.undetermined}, unexpected problems: ${v.unexpectedProblems}, unknown entries: ${v.unknownEntries}, ` +
      `sequence gaps: ${v.sequenceGaps}, balance mismatches: ${v.balanceMismatches}, rule violations: ${v.ruleViolations}, ` +
      `replay mismatches: ${v.replayMismatches}, ` +
      `lookup mismatches: ${v.lookupMismatches}, declines turned into applications or other flipped decisions: ${v.flippedDecisions}`,
  ];
  for (const [kind, examples] of Object.entries(audit.violations.examples) as [ViolationKind, string[]][]) {
    if (examples.length === 0) continue;
    lines.push(`${kind} (first ${examples.length} of ${v[kind]}):`, ...examples.map((example) => `  ${example}`));
  }
  lines.push(
    report.passed
      ? "PASS: every logical operation took effect exactly once or was declined exactly once."
      : "FAIL: see the violations above.",
  );
  return lines.join("\n");
}
