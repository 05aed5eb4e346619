/**
 * The measurements every scenario is made of: a closed-loop warm-up and
 * measured runs, an open-loop latency run at the fixed rate, and the row they
 * add up to (throughput per run, server CPU per request, rows per operation
 * from the server's log, and whatever looked wrong on the way).
 */
import type { CheckResult, Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { runLoad } from "./load.ts";
import type { HopShape, Row } from "./report.ts";
import { countRows, type RowCounts } from "./server-log.ts";
import type { Expectation, LoadJob, LoadResult, PlanSpec } from "./workload.ts";

export function progress(message: string): void {
  const time = new Date().toISOString().slice(11, 19);
  process.stdout.write(`[${time}] ${message}\n`);
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");

/** Beyond this many CPUs used by others (the kernel's network work is some 0.05-0.1), a run is flagged. */
const OTHER_CPU_NOTE = 0.25;

export function disturbed(results: readonly LoadResult[]): boolean {
  return results.some((r) => r.seconds > 0 && r.otherCpuSeconds / r.seconds > OTHER_CPU_NOTE);
}

/** One load job; its tallies go to `expected` (for the check), if given. */
export async function load(ctx: BenchContext, job: LoadJob, expected: Expected | null): Promise<LoadResult> {
  const result = await runLoad(ctx.machine.pinning, job);
  if (expected !== null) {
    expected.addLoad(result, job.kind === "batch" || job.kind === "flow" ? job.keyPrefix : job.plan.keyPrefix);
  }
  return result;
}

export interface Measured {
  readonly results: readonly LoadResult[];
  readonly rowCounts: RowCounts;
}

/** Requests (or accepted batch operations) a second in one run. */
export function rate(result: LoadResult): number {
  return (result.kind === "batch" ? result.accepted : result.responses) / result.seconds;
}

/**
 * A warm-up (its own keys and, if `planFor` says so, its own account), then
 * `options.runs` measured closed-loop runs; the server log is read around the
 * measured runs only.
 */
export async function measureClosedLoop(
  ctx: BenchContext,
  served: Served,
  expected: Expected | null,
  label: string,
  planFor: (phase: string) => PlanSpec,
  expect: Expectation,
): Promise<Measured> {
  const { options } = ctx;
  const job = (phase: string, seconds: number): LoadJob => ({
    kind: "closed",
    target: served.target,
    plan: planFor(phase),
    expect,
    connections: options.connections,
    seconds,
  });
  if (options.warmup > 0) await load(ctx, job("w", options.warmup), expected);
  served.server.log.skip();
  const results: LoadResult[] = [];
  for (let run = 1; run <= options.runs; run++) {
    const result = await load(ctx, job(`r${run}`, options.duration), expected);
    results.push(result);
    progress(`${label}: run ${run}/${options.runs}: ${describe(result)}`);
  }
  return { results, rowCounts: countRows(served.server.log.readNew()) };
}

export function describe(result: LoadResult): string {
  const unit = result.kind === "batch" ? "charges/s" : "req/s";
  const ops = result.kind === "batch" ? result.accepted : result.responses;
  const cpu =
    Number.isFinite(result.serverCpuSeconds) && ops > 0
      ? `, ${int((result.serverCpuSeconds / ops) * 1e6)} us CPU/op`
      : "";
  const odd = result.unexpected + result.errors > 0 ? `, ${result.unexpected} unexpected, ${result.errors} errors` : "";
  const other = result.seconds > 0 ? result.otherCpuSeconds / result.seconds : 0;
  const noisy = other > OTHER_CPU_NOTE ? ` (other processes used ${other.toFixed(2)} CPUs meanwhile)` : "";
  return `${int(rate(result))} ${unit}${cpu}${odd}${noisy}`;
}

/** Open-loop latency at the fixed rate, for `seconds` (default: --latency-seconds). */
export async function measureLatency(
  ctx: BenchContext,
  served: Served,
  expected: Expected | null,
  label: string,
  plan: PlanSpec,
  expect: Expectation,
  seconds = ctx.options.latencySeconds,
): Promise<LoadResult> {
  const result = await load(
    ctx,
    { kind: "open", target: served.target, plan, expect, rate: ctx.options.rate, seconds, keepTimeline: false },
    expected,
  );
  const latency = result.latency;
  if (latency !== null) {
    progress(
      `${label}: open loop at ${ctx.options.rate} req/s: p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms`,
    );
  }
  return result;
}

/** What went wrong in these loads, as notes for the report. */
export function loadNotes(results: readonly LoadResult[], rateOffered?: number): string[] {
  const notes: string[] = [];
  const unexpected = results.reduce((sum, r) => sum + r.unexpected, 0);
  const errors = results.reduce((sum, r) => sum + r.errors, 0);
  if (unexpected > 0) {
    const sample = results.flatMap((r) => r.unexpectedSample).slice(0, 3);
    notes.push(`${int(unexpected)} answers not as expected, e.g. ${sample.join(" | ")}`);
  }
  if (errors > 0) notes.push(`${int(errors)} connection errors or timeouts`);
  for (const r of results) {
    if (r.seconds > 0 && r.loadCpuSeconds / r.seconds > 0.9) {
      notes.push(
        `the load generator used ${((r.loadCpuSeconds / r.seconds) * 100).toFixed(0)}% of its CPU: it may be the limit`,
      );
      break;
    }
  }
  const busiest = Math.max(0, ...results.map((r) => (r.seconds > 0 ? r.otherCpuSeconds / r.seconds : 0)));
  if (busiest > OTHER_CPU_NOTE) {
    notes.push(
      `other processes on the machine used up to ${busiest.toFixed(2)} CPUs during these runs: the figures are disturbed`,
    );
  }
  if (rateOffered !== undefined) {
    for (const r of results) {
      if (r.kind !== "open" || r.latency === null) continue;
      if (r.latency.p50 > 250 || r.responses < rateOffered * r.seconds * 0.95) {
        notes.push(`the server did not keep up with ${rateOffered} req/s open loop (lower --rate for latency figures)`);
        break;
      }
    }
  }
  return notes;
}

export function cpuUsPerOp(results: readonly LoadResult[]): number | null {
  let cpu = 0;
  let ops = 0;
  for (const r of results) {
    cpu += r.serverCpuSeconds;
    ops += r.kind === "batch" ? r.accepted : r.responses;
  }
  return Number.isFinite(cpu) && ops > 0 ? (cpu / ops) * 1e6 : null;
}

export function rowsPerOp(counts: RowCounts): { read: number; written: number } | null {
  if (counts.withRows === 0 || counts.operationsWithRows === 0) return null;
  return { read: counts.rowsRead / counts.operationsWithRows, written: counts.rowsWritten / counts.operationsWithRows };
}

export function rowNotes(counts: RowCounts, hop: boolean): string[] {
  const notes: string[] = [];
  if (!hop && counts.withRows > 0 && counts.withRows < counts.requests) {
    notes.push(`rows reported by ${int(counts.withRows)} of ${int(counts.requests)} logged requests`);
  }
  if (counts.otherLines > 0) {
    notes.push(
      `the server logged ${int(counts.otherLines)} other lines, e.g. ${counts.otherSample.slice(0, 2).join(" | ")}`,
    );
  }
  return notes;
}

export function buildRow(init: {
  id: string;
  title: string;
  hop?: boolean;
  shape: HopShape | null;
  unit?: "req/s" | "charges/s";
  measured: Measured | null;
  latency: LoadResult | null;
  check: CheckResult | null;
  rateOffered: number;
  notes?: readonly string[];
  detail?: Record<string, unknown>;
}): Row {
  const hop = init.hop ?? false;
  const results = init.measured?.results ?? [];
  const counts = init.measured?.rowCounts;
  const latencyResults = init.latency === null ? [] : [init.latency];
  const status = init.check !== null && !init.check.ok ? "FAILED" : "ok";
  return {
    id: init.id,
    title: init.title,
    hop,
    shape: init.shape,
    unit: init.unit ?? "req/s",
    runs: results.map(rate),
    latency: init.latency?.latency ?? null,
    cpuUsPerOp: cpuUsPerOp(results),
    rowsPerOp: counts === undefined ? null : rowsPerOp(counts),
    check: init.check,
    status,
    disturbed: disturbed([...results, ...latencyResults]),
    notes: [
      ...(init.notes ?? []),
      ...loadNotes([...results, ...latencyResults], init.rateOffered),
      ...(counts === undefined ? [] : rowNotes(counts, hop)),
    ],
    detail: {
      ...init.detail,
      runs: results.map(summary),
      latencyRun: init.latency === null ? null : summary(init.latency),
      serverLog: counts ?? null,
    },
  };
}

/** A load result without its per-account tallies (those are for the check). */
export function summary(result: LoadResult): Record<string, unknown> {
  const { accounts: _accounts, timeline: _timeline, ...rest } = result;
  return { ...rest, rate: rate(result) };
}
