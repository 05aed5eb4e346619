/**
 * sweep: charges while the expiry alarm deletes a mass of expired records.
 * A server of its own runs with IDEMPOTENCY_TTL_SECONDS = --sweep-ttl (60 s,
 * the minimum); one account is preloaded (the preload must end before its
 * first record expires), the charge latency without a sweep is taken while
 * the records are still live, then, from just before the first record
 * expires, open-loop charges run while the alarm deletes them. The alarm
 * logs each run (`{"msg":"alarm","deleted":N}`): those lines give the
 * sweep's window and its own rate. Split in two (prepare, measure) so that
 * other scenarios can run while the records age.
 */
import { checkLedger, Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { startLoad } from "./load.ts";
import { buildRow, measureLatency, progress, summary } from "./measure.ts";
import { openAccounts, preload, preloadNote, type Preloaded } from "./preload.ts";
import { settlesWithin, sleep } from "./processes.ts";
import type { Row } from "./report.ts";
import { countRows, sweepRuns, type LogLine, type RowCounts, type SweepRun } from "./server-log.ts";
import { probeBatch } from "./scenarios.ts";
import { summarizeLatencies } from "./stats.ts";
import type { Expectation, LoadResult, PlanSpec } from "./workload.ts";

const NEW: Expectation = { status: 201, replayed: "false" };
/** Leave this much between the end of the preload and baseline and the first expiry. */
const MARGIN_MS = 3000;
/** Load goes on this long after the alarm deleted the last preloaded record. */
const AFTER_SWEEP_MS = 1000;
/** How often the server log is read: the resolution of the sweep's window. */
const POLL_MS = 250;
/** Without alarm log lines, load goes on this long past the last preloaded record's expiry. */
const NO_LOG_TAIL_MS = 5000;

export interface SweepPrepared {
  readonly served: Served;
  readonly account: string;
  readonly expected: Expected;
  readonly preload: Preloaded;
  readonly ttlMs: number;
  /** Epoch ms: before the first preloaded charge, and after the last. */
  readonly firstWriteMs: number;
  readonly lastWriteMs: number;
  /** Epoch ms when the first preloaded record expires and the alarm fires. */
  readonly expiresFromMs: number;
  readonly baseline: LoadResult | null;
  readonly baselineCounts: RowCounts | null;
  readonly notes: readonly string[];
}

function plan(ctx: BenchContext, phase: string, account: string): PlanSpec {
  return { accounts: [account], mode: "new", keyPrefix: ctx.keyPrefix("sweep", phase), dupEvery: ctx.options.dupEvery };
}

export async function prepareSweep(ctx: BenchContext): Promise<SweepPrepared> {
  const { options } = ctx;
  const ttlMs = options.sweepTtl * 1000;
  progress(`sweep: a server with IDEMPOTENCY_TTL_SECONDS=${options.sweepTtl}`);
  const served = await ctx.startProject("sweep", { IDEMPOTENCY_TTL_SECONDS: String(options.sweepTtl) });
  await probeBatch(ctx, served);
  const account = ctx.account("sweep", 1);
  await openAccounts(served, [account]);
  const expected = new Expected();
  const notes: string[] = [];
  const bound = Math.max(1, Math.min(options.preloadSeconds, options.sweepTtl - options.latencySeconds - 8));
  const firstWriteMs = Date.now();
  const pre = await preload(ctx, served, expected, "sweep", account, options.sweepRecords, bound);
  const lastWriteMs = Date.now();
  const expiresFromMs = firstWriteMs + ttlMs;
  notes.push(preloadNote(pre));
  if (pre.bounded && bound < options.preloadSeconds) {
    notes.push(`the preload had to end before its first record expired (${options.sweepTtl} s TTL)`);
  }
  const secondsLeft = Math.floor((expiresFromMs - MARGIN_MS - Date.now()) / 1000);
  const baselineSeconds = Math.min(options.latencySeconds, secondsLeft);
  let baseline: LoadResult | null = null;
  let baselineCounts: RowCounts | null = null;
  if (baselineSeconds >= 1) {
    served.server.log.skip();
    baseline = await measureLatency(
      ctx,
      served,
      expected,
      "sweep (no sweep yet)",
      plan(ctx, "base", account),
      NEW,
      baselineSeconds,
    );
    baselineCounts = countRows(served.server.log.readNew());
  } else {
    notes.push("no time was left for the latency without a sweep before the records expired");
  }
  return {
    served,
    account,
    expected,
    preload: pre,
    ttlMs,
    firstWriteMs,
    lastWriteMs,
    expiresFromMs,
    baseline,
    baselineCounts,
    notes,
  };
}

export async function measureSweep(ctx: BenchContext, prepared: SweepPrepared): Promise<Row[]> {
  const { options } = ctx;
  const { served } = prepared;
  try {
    const startAt = prepared.expiresFromMs - 1500;
    if (Date.now() < startAt) {
      progress(`sweep: waiting ${((startAt - Date.now()) / 1000).toFixed(0)} s for the preloaded records to expire`);
      await sleep(startAt - Date.now());
    }
    const late = Date.now() - prepared.expiresFromMs;
    const notes = [...prepared.notes];
    if (late > 0) notes.push(`load began ${(late / 1000).toFixed(1)} s after the first record expired`);
    served.server.log.skip();
    const allExpiredMs = prepared.lastWriteMs + prepared.ttlMs;
    const seconds = Math.min(options.sweepSeconds, Math.ceil((allExpiredMs - Date.now()) / 1000) + 30);
    progress(`sweep: open loop at ${options.rate} req/s while the alarm sweeps (at most ${seconds} s)`);
    const running = startLoad(ctx.machine.pinning, {
      kind: "open",
      target: served.target,
      plan: plan(ctx, "during", prepared.account),
      expect: NEW,
      rate: options.rate,
      seconds,
      keepTimeline: true,
    });
    const lines: LogLine[] = [];
    const runs: SweepRun[] = [];
    const toDelete = prepared.preload.holds;
    let deleted = 0;
    let sweptAt: number | null = null;
    let stopped = false;
    while (!(await settlesWithin(running.result, POLL_MS))) {
      const fresh = served.server.log.readNew();
      lines.push(...fresh);
      for (const run of sweepRuns(fresh)) {
        runs.push(run);
        deleted += run.deleted;
        if (deleted >= toDelete) sweptAt ??= run.atMs;
      }
      const now = Date.now();
      // Later alarm runs delete the baseline's records, which expire just after the preloaded ones.
      const over =
        now > allExpiredMs &&
        (runs.length === 0 ? now > allExpiredMs + NO_LOG_TAIL_MS : sweptAt !== null && now - sweptAt > AFTER_SWEEP_MS);
      if (over && !stopped) {
        running.stop();
        stopped = true;
      }
    }
    const result = await running.result;
    prepared.expected.addLoad(result, plan(ctx, "during", prepared.account).keyPrefix);
    const fresh = served.server.log.readNew();
    lines.push(...fresh);
    runs.push(...sweepRuns(fresh));
    return await sweepRows(ctx, prepared, result, runs, lines, notes);
  } finally {
    await served.server.stop();
  }
}

async function sweepRows(
  ctx: BenchContext,
  prepared: SweepPrepared,
  result: LoadResult,
  runs: readonly SweepRun[],
  lines: readonly LogLine[],
  notes: string[],
): Promise<Row[]> {
  const toDelete = prepared.preload.holds;
  // The sweep's window: its alarm runs, up to the one that deleted the last preloaded record.
  let windowStart = prepared.expiresFromMs;
  let windowEnd = prepared.lastWriteMs + prepared.ttlMs;
  let sweepNote: string;
  const sweepDetail: Record<string, unknown> = { alarmRuns: runs.length };
  if (runs.length > 0) {
    let cumulative = 0;
    let last = runs[runs.length - 1] as SweepRun;
    for (const run of runs) {
      cumulative += run.deleted;
      if (cumulative >= toDelete) {
        last = run;
        break;
      }
    }
    const first = runs[0] as SweepRun;
    // A run's line is seen up to one poll after it ended; the first run cannot start before the first expiry.
    windowStart = Math.max(prepared.expiresFromMs, first.atMs - POLL_MS - (first.durationMs ?? 0));
    windowEnd = last.atMs;
    const inWindow = runs.filter((r) => r.atMs <= last.atMs);
    const deleted = inWindow.reduce((sum, r) => sum + r.deleted, 0);
    const wallSeconds = Math.max(0.001, (windowEnd - windowStart) / 1000);
    const busyMs = inWindow.every((r) => r.durationMs !== undefined)
      ? inWindow.reduce((sum, r) => sum + (r.durationMs ?? 0), 0)
      : undefined;
    sweepNote =
      `the alarm deleted ${deleted.toLocaleString("en-US")} records in ${inWindow.length} runs over ${wallSeconds.toFixed(1)} s: ` +
      `${Math.round(deleted / wallSeconds).toLocaleString("en-US")} records/s` +
      (busyMs !== undefined && busyMs > 0
        ? ` (${Math.round(deleted / (busyMs / 1000)).toLocaleString("en-US")}/s while running)`
        : "");
    Object.assign(sweepDetail, { deleted, wallSeconds, busyMs, recordsPerSecond: deleted / wallSeconds });
  } else {
    sweepNote =
      "the sweep's own rate: n/a (the server logged no alarm runs in the window); latency taken over the records' expiry window";
  }
  const during = (result.timeline ?? []).filter(([at]) => at >= windowStart && at <= windowEnd).map(([, ms]) => ms);
  const duringLatency = summarizeLatencies(during);
  const baseline = prepared.baseline?.latency ?? null;
  if (baseline !== null && during.length > 0) {
    notes.push(
      `charge p99 ${duringLatency.p99.toFixed(1)} ms during the sweep (${during.length.toLocaleString("en-US")} charges) vs ` +
        `${baseline.p99.toFixed(1)} ms without: ${(duringLatency.p99 / baseline.p99).toFixed(2)}x`,
    );
  } else if (during.length === 0) {
    notes.push("no charge was scheduled within the sweep's window");
  }
  notes.push(sweepNote);
  notes.push(`CPU per charge here is at ${ctx.options.rate} req/s open loop, not comparable with the closed-loop rows`);
  const check = await checkLedger(prepared.served.api, prepared.expected, {
    maxFullEntries: ctx.options.checkEntries,
    seconds: ctx.options.checkSeconds,
  });
  const requestCounts = countRows(lines);
  const base = buildRow({
    id: "sweep-base",
    title: `${prepared.preload.holds.toLocaleString("en-US")} live records, no sweep`,
    shape: null,
    measured: prepared.baselineCounts === null ? null : { results: [], rowCounts: prepared.baselineCounts },
    latency: prepared.baseline,
    check,
    rateOffered: ctx.options.rate,
    notes: [],
  });
  const duringRow = buildRow({
    id: "sweep",
    title: `alarm deleting ${prepared.preload.holds.toLocaleString("en-US")} expired records`,
    shape: null,
    measured: { results: [], rowCounts: requestCounts },
    latency: { ...result, latency: duringLatency },
    check,
    rateOffered: ctx.options.rate,
    notes,
    detail: {
      preload: prepared.preload,
      sweep: { ...sweepDetail, windowStart, windowEnd, runs },
      wholeRun: summary(result),
      baseline: prepared.baseline === null ? null : summary(prepared.baseline),
    },
  });
  // CPU per charge over the whole open-loop run, the sweep's own work included.
  const cpu =
    Number.isFinite(result.serverCpuSeconds) && result.responses > 0
      ? (result.serverCpuSeconds / result.responses) * 1e6
      : null;
  const baseCpu =
    prepared.baseline !== null && Number.isFinite(prepared.baseline.serverCpuSeconds) && prepared.baseline.responses > 0
      ? (prepared.baseline.serverCpuSeconds / prepared.baseline.responses) * 1e6
      : null;
  return [
    { ...base, cpuUsPerOp: baseCpu },
    { ...duringRow, cpuUsPerOp: cpu },
  ];
}
