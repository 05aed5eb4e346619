/**
 * archive: periods closed into R2, on a server of its own (Miniflare with
 * Wrangler's local R2, IDEMPOTENCY_TTL_SECONDS = --archive-ttl), in five
 * parts, each reported:
 *
 * 1. cost per operation (archive-cost.ts): rows, requests, duration, CPU and
 *    storage bytes of a new-key charge, a replay and a batched charge;
 * 2. accounts holding --archive-periods closed periods of
 *    --archive-period-charges charges each, archived and pruned
 *    (archive-build.ts), with UUIDv7 keys and, separately, random keys;
 * 3. new-key charges on each against empty accounts, in interleaved runs:
 *    rows read and CPU per charge, and R2 reads;
 * 4. open-loop retries of archived keys: latency and R2 reads per retry;
 * 5. a close of --archive-close-entries entries under open-loop charges
 *    (archive-close.ts).
 *
 * Then the ledger check over every account it touched; archived accounts are
 * sampled, so their pages are read back from R2.
 */
import { buildArchived, fundingKeys, waitSettled, type Built, type Settled } from "./archive-build.ts";
import { closeUnderLoad, type CloseFigures } from "./archive-close.ts";
import { costOf, measureCosts, renderCosts, type MeasuredSize, type OperationCost } from "./archive-cost.ts";
import { checkLedger, Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { KeyMaker, type KeyKind } from "./keys.ts";
import { buildRow, cpuUsPerOp, load, progress, rate } from "./measure.ts";
import { AccountObjects } from "./object-storage.ts";
import { openAccounts } from "./preload.ts";
import { sleep } from "./processes.ts";
import type { Row } from "./report.ts";
import { probeBatch } from "./scenarios.ts";
import { countRows, periodSteps, requestStats, type LogLine, type RequestStats } from "./server-log.ts";
import { median, relativeSpread } from "./stats.ts";
import type { ChargeSample, Expectation, LoadResult } from "./workload.ts";

const NEW: Expectation = { status: 201, replayed: "false" };
/** A retry of an archived key: its final answer, 409 idempotency_key_expired. */
const EXPIRED: Expectation = { status: 409, replayed: null };
const CHARGES = /\/charges$/;

/** What an archived period leaves in the object: its row, its objects' rows, and its untimed keys' share of the locator (or the filter of schema 7). */
const TRACE_TABLES = ["periods", "period_objects", "key_filter", "filter_staging", "locator_runs", "locator_buckets"];
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const short = (kind: KeyKind) => (kind === "uuidv7" ? "v7" : "rnd");

interface Comparison {
  readonly kind: KeyKind;
  /** New keys sent one at a time to the archived account: exact R2 reads. */
  readonly alone: Sequential;
  readonly full: { rates: number[]; cpuUsPerOp: number | null; stats: RequestStats };
  readonly empty: { rates: number[]; cpuUsPerOp: number | null; stats: RequestStats };
}

interface Retries {
  readonly kind: KeyKind;
  readonly result: LoadResult;
  readonly stats: RequestStats;
  readonly keys: number;
  /** Retries sent one at a time first: exact R2 reads. */
  readonly alone: Sequential & { readonly stats: RequestStats };
}

export async function archiveRows(ctx: BenchContext): Promise<Row[]> {
  const { options } = ctx;
  const started = Date.now();
  progress(`archive: a server with local R2 (Miniflare) and IDEMPOTENCY_TTL_SECONDS=${options.archiveTtl}`);
  const served = await ctx.startProjectWithR2("archive", { IDEMPOTENCY_TTL_SECONDS: String(options.archiveTtl) });
  try {
    await probeBatch(ctx, served);
    if (ctx.batchAvailable !== true) {
      throw new Error(`the archive scenario builds its accounts with batches, and ${ctx.batchNote}`);
    }
    const objects = new AccountObjects(served.accountObjects);
    const expected = new Expected();
    const seconds: Record<string, number> = {};
    const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      try {
        return await run();
      } finally {
        seconds[name] = (Date.now() - t0) / 1000;
      }
    };
    const rows: Row[] = [];

    const parts = options.archiveParts;
    const cost = parts.has("cost")
      ? await timed("cost per operation", () => measureCosts(ctx, served, objects, expected))
      : { rows: [], costs: [] };
    rows.push(...cost.rows);

    const built: Built[] = [];
    const buildLines: LogLine[] = [];
    const hot = new Map<string, MeasuredSize>();
    const comparisons: Comparison[] = [];
    const retries: Retries[] = [];
    let settled: Settled | null = null;
    if (parts.has("accounts")) {
      // Build the archived accounts; the alarm archives and prunes while they are built.
      const buildFrom = Date.now();
      served.server.log.skip();
      const kinds: Array<{ kind: KeyKind; periods: number }> = [{ kind: "uuidv7", periods: options.archivePeriods }];
      if (options.archiveRandomPeriods > 0) kinds.push({ kind: "random", periods: options.archiveRandomPeriods });
      await timed("build", async () => {
        for (const { kind, periods } of kinds) {
          const b = await buildArchived(
            ctx,
            served,
            expected,
            kind,
            periods,
            options.archivePeriodCharges,
            options.archiveBuildSeconds,
            options.archiveRetryKeys,
          );
          buildLines.push(...served.server.log.readNew());
          if (b.periods === 0) throw new Error(`no period could be closed: ${b.failures.join("; ")}`);
          built.push(b);
        }
      });
      settled = await timed("archive and prune wait", () =>
        waitSettled(
          objects,
          built.map((b) => b.account),
          buildFrom,
          options.archiveWaitSeconds,
        ),
      );
      buildLines.push(...served.server.log.readNew());
      for (const b of built) {
        hot.set(b.account, {
          ...objects.measure(b.account),
          storageBytes: (await served.api.account(b.account)).storage_bytes ?? null,
        });
      }
      progress(
        `archive: built in ${((Date.now() - buildFrom) / 1000).toFixed(0)} s; all archived after ${settled.archivedSeconds?.toFixed(0) ?? "n/a"} s, pruned after ${settled.prunedSeconds?.toFixed(0) ?? "n/a"} s, the locator settled after ${settled.locatorSeconds?.toFixed(0) ?? "n/a"} s`,
      );

      await timed("new keys, archived against empty", async () => {
        for (const b of built) {
          const out = await compare(ctx, served, expected, b);
          rows.push(...out.rows);
          comparisons.push(out.comparison);
        }
      });
      await timed("retries of archived keys", async () => {
        for (const b of built) {
          const out = await retryArchived(ctx, served, expected, b);
          rows.push(out.row);
          retries.push(out.retries);
        }
      });
    }
    const close = parts.has("close")
      ? await timed("close under load", () => closeUnderLoad(ctx, served, objects, expected))
      : null;
    if (close !== null) rows.push(...close.rows);

    progress("archive: checking the ledgers");
    const check = await timed("check", () =>
      checkLedger(served.api, expected, { maxFullEntries: options.checkEntries, seconds: options.checkSeconds }),
    );
    const costs: OperationCost[] = [
      ...cost.costs,
      // Rows and R2 reads from the retries sent alone; CPU from the open loop's.
      ...retries.map((r) => costOf(`retry of an archived ${r.kind} key`, r.alone.stats, r.result, null)),
    ];
    const total = (Date.now() - started) / 1000;
    const lines = summary(ctx, {
      costs,
      built,
      settled,
      buildLines,
      hot,
      comparisons,
      retries,
      close: close?.figures ?? null,
      seconds,
      total,
    });
    ctx.sections.push({
      title: "archive",
      lines,
      data: {
        costs,
        built,
        settled,
        hot: Object.fromEntries(hot),
        comparisons,
        retries: retries.map(retryData),
        close: close?.figures ?? null,
        seconds,
        totalSeconds: total,
        check,
      },
    });
    // Every row shares the one check of every account the scenario touched.
    return rows.map((row) => ({ ...row, check, status: check.ok ? row.status : "FAILED" }));
  } finally {
    await served.server.stop();
  }
}

function retryData(r: Retries) {
  return {
    kind: r.kind,
    keys: r.keys,
    latency: r.result.latency,
    stats: r.stats,
    statuses: r.result.statuses,
    alone: r.alone,
  };
}

/** New-key charges on the archived account and on empty ones, in interleaved closed-loop runs. */
async function compare(
  ctx: BenchContext,
  served: Served,
  expected: Expected,
  built: Built,
): Promise<{ rows: Row[]; comparison: Comparison }> {
  const { options } = ctx;
  const kind = built.kind;
  const id = `arch-${short(kind)}`;
  const phases = ["w", ...Array.from({ length: options.archiveRuns }, (_, i) => `r${i + 1}`)];
  const emptyOf = (phase: string) => ctx.account(`arch-e${short(kind)}`, phase);
  await openAccounts(served, phases.map(emptyOf), 120, fundingKeys(ctx, kind, expected));
  const job = (account: string, which: string, phase: string, seconds: number) =>
    load(
      ctx,
      {
        kind: "closed",
        target: served.target,
        plan: {
          accounts: [account],
          mode: "new",
          keyPrefix: ctx.keyPrefix(id, `${which}-${phase}`),
          keyKind: kind,
          dupEvery: options.dupEvery,
        },
        expect: NEW,
        connections: options.connections,
        seconds,
      },
      expected,
    );
  if (options.warmup > 0) {
    await job(built.account, "full", "w", options.warmup);
    await job(emptyOf("w"), "empty", "w", options.warmup);
  }
  const fullRuns: LoadResult[] = [];
  const emptyRuns: LoadResult[] = [];
  const fullLines: LogLine[] = [];
  const emptyLines: LogLine[] = [];
  for (let run = 1; run <= options.archiveRuns; run++) {
    for (const which of ["full", "empty"] as const) {
      served.server.log.skip();
      const result = await job(
        which === "full" ? built.account : emptyOf(`r${run}`),
        which,
        `r${run}`,
        options.duration,
      );
      (which === "full" ? fullLines : emptyLines).push(...served.server.log.readNew());
      (which === "full" ? fullRuns : emptyRuns).push(result);
      progress(
        `${id}: run ${run}/${options.archiveRuns}, ${which}: ${int(rate(result))} req/s, ${int(cpuUsPerOp([result]) ?? Number.NaN)} us CPU/charge`,
      );
    }
  }
  const fullStats = requestStats(fullLines, CHARGES, built.account);
  const emptyStats = requestStats(emptyLines, CHARGES, phases.map(emptyOf));
  const probePrefix = ctx.keyPrefix(id, "alone");
  const probeKeys = new KeyMaker(kind, probePrefix);
  const alone = await sequential(
    served,
    built.account,
    Array.from({ length: options.archiveSequential }, (_, i) => probeKeys.key(i + 1)),
  );
  expected.keyPrefixes.add(probePrefix);
  expected.addTally(built.account, {
    sent: options.archiveSequential,
    accepted: alone.accepted,
    samples: alone.samples,
  });
  progress(`${id}: ${sequentialNote("new keys", alone)}`);
  const comparison: Comparison = {
    kind,
    alone,
    full: { rates: fullRuns.map(rate), cpuUsPerOp: cpuUsPerOp(fullRuns), stats: fullStats },
    empty: { rates: emptyRuns.map(rate), cpuUsPerOp: cpuUsPerOp(emptyRuns), stats: emptyStats },
  };
  const spread = (runs: readonly LoadResult[]) => {
    const cpu = runs.map((r) => cpuUsPerOp([r]) ?? Number.NaN);
    return `CPU/charge per run ${cpu.map(int).join(", ")} us (spread ${(relativeSpread(cpu) * 100).toFixed(0)}%); req/s ${runs.map((r) => int(rate(r))).join(", ")}`;
  };
  const archiveNote = (stats: RequestStats) =>
    `R2 reads as the closed loop's log lines count them: ${int(stats.archiveReads)} over ${int(stats.operations)} charges (${stats.requestsReadingArchive} lines with any)`;
  const ratio =
    comparison.full.cpuUsPerOp !== null && comparison.empty.cpuUsPerOp !== null
      ? comparison.full.cpuUsPerOp / comparison.empty.cpuUsPerOp
      : Number.NaN;
  const rows = [
    buildRow({
      id,
      title: `new ${kind} keys, ${int(built.periods)} archived periods (${int(built.charges)} charges)`,
      shape: null,
      measured: { results: fullRuns, rowCounts: countRows(fullLines) },
      latency: null,
      check: null,
      rateOffered: options.rate,
      notes: [
        spread(fullRuns),
        sequentialNote("new keys", alone),
        archiveNote(fullStats),
        `CPU per charge ${(ratio * 100).toFixed(0)}% of the empty accounts' (${options.archiveRuns} interleaved runs each); rows read per charge ${(fullStats.rowsRead / Math.max(1, fullStats.operations)).toFixed(2)} against ${(emptyStats.rowsRead / Math.max(1, emptyStats.operations)).toFixed(2)}`,
      ],
      detail: { comparison },
    }),
    buildRow({
      id: `${id}-empty`,
      title: `new ${kind} keys, empty accounts, interleaved`,
      shape: null,
      measured: { results: emptyRuns, rowCounts: countRows(emptyLines) },
      latency: null,
      check: null,
      rateOffered: options.rate,
      notes: [spread(emptyRuns), archiveNote(emptyStats)],
    }),
  ];
  return { rows, comparison };
}

/** Exact R2 reads per request: requests sent one at a time (so no other request's reads are counted with one's own). */
export interface Sequential {
  readonly requests: number;
  readonly archiveReads: number;
  readonly maxArchiveReads: number;
  readonly requestsReadingArchive: number;
  readonly rowsRead: number;
  readonly durationP50Ms: number;
  readonly statuses: Readonly<Record<string, number>>;
}

async function sequential(
  served: Served,
  account: string,
  keys: readonly string[],
): Promise<Sequential & { accepted: number; samples: ChargeSample[]; stats: RequestStats }> {
  served.server.log.skip();
  let accepted = 0;
  const samples: ChargeSample[] = [];
  for (const key of keys) {
    const answer = await served.api.charge(account, key);
    if (answer.status === 201 && answer.headers.get("idempotent-replayed") !== "true") {
      accepted += 1;
      const body = answer.json as { id?: unknown; balance_after?: unknown };
      if (samples.length < 4 && typeof body.id === "string" && typeof body.balance_after === "number") {
        samples.push({ id: body.id, balanceAfter: body.balance_after, key });
      }
    }
  }
  // A request's line can reach the log a moment after its answer.
  const lines = served.server.log.readNew();
  for (const until = Date.now() + 3000; Date.now() < until;) {
    if (requestStats(lines, CHARGES, account).requests >= keys.length) break;
    await sleep(100);
    lines.push(...served.server.log.readNew());
  }
  const stats = requestStats(lines, CHARGES, account);
  return {
    requests: stats.requests,
    archiveReads: stats.archiveReads,
    maxArchiveReads: stats.maxArchiveReads,
    requestsReadingArchive: stats.requestsReadingArchive,
    rowsRead: stats.rowsRead,
    durationP50Ms: stats.durationP50Ms,
    statuses: stats.statuses,
    accepted,
    samples,
    stats,
  };
}

const sequentialNote = (what: string, s: Sequential) =>
  `${what}, ${int(s.requests)} sent one at a time: ${int(s.archiveReads)} R2 reads (${((s.requestsReadingArchive / Math.max(1, s.requests)) * 100).toFixed(2)}% of them read R2, at most ${s.maxArchiveReads} each), ${(s.rowsRead / Math.max(1, s.requests)).toFixed(2)} rows read each`;

/** Retries of archived keys: first some one at a time (exact R2 reads), then the rest open loop (latency). */
async function retryArchived(
  ctx: BenchContext,
  served: Served,
  expected: Expected,
  built: Built,
): Promise<{ row: Row; retries: Retries }> {
  const { options } = ctx;
  const keys = [...built.sampleKeys];
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
  }
  const id = `arch-retry-${short(built.kind)}`;
  const alone = await sequential(
    served,
    built.account,
    keys.slice(0, Math.min(options.archiveSequential, Math.floor(keys.length / 2))),
  );
  const rest = keys.slice(alone.requests);
  served.server.log.skip();
  const result = await load(
    ctx,
    {
      kind: "open",
      target: served.target,
      plan: {
        accounts: [built.account],
        mode: "list",
        keys: rest,
        keyPrefix: ctx.keyPrefix(id, "lat"),
        dupEvery: options.dupEvery,
      },
      expect: EXPIRED,
      rate: options.archiveRate,
      seconds: options.latencySeconds,
      keepTimeline: false,
    },
    expected,
  );
  if (result.latency !== null) {
    progress(
      `${id}: open loop at ${options.archiveRate}/s: p50 ${result.latency.p50.toFixed(2)} ms, p99 ${result.latency.p99.toFixed(2)} ms`,
    );
  }
  const stats = requestStats(served.server.log.readNew(), CHARGES, built.account);
  const retried = Math.min(rest.length, result.responses);
  const row = buildRow({
    id,
    title: `retries of archived ${built.kind} keys (${int(Math.min(rest.length, stats.requests))} distinct)`,
    shape: null,
    measured: null,
    latency: result,
    check: null,
    rateOffered: options.archiveRate,
    notes: [
      `${options.archiveRate} retries/s open loop, answered ${Object.entries(result.statuses)
        .map(([status, n]) => `${status} x${n}`)
        .join(", ")}; server duration_ms p50 ${stats.durationP50Ms} ms`,
      sequentialNote("retries", alone),
      `in the open loop the log lines counted ${(stats.archiveReads / Math.max(1, stats.requests)).toFixed(2)} R2 reads per retry (max ${stats.maxArchiveReads}): a line counts every read its object made while the request waited, others' included`,
    ],
  });
  return {
    row: {
      ...row,
      rowsPerOp: {
        read: stats.rowsRead / Math.max(1, stats.requests),
        written: stats.rowsWritten / Math.max(1, stats.requests),
      },
    },
    retries: { kind: built.kind, result, stats, keys: retried, alone },
  };
}

function summary(
  ctx: BenchContext,
  s: {
    costs: readonly OperationCost[];
    built: readonly Built[];
    settled: Settled | null;
    buildLines: readonly LogLine[];
    hot: ReadonlyMap<string, MeasuredSize>;
    comparisons: readonly Comparison[];
    retries: readonly Retries[];
    close: CloseFigures | null;
    seconds: Readonly<Record<string, number>>;
    total: number;
  },
): string[] {
  const { options } = ctx;
  const out: string[] = [];
  const charge = s.costs[0];
  out.push(
    `server: Miniflare (Wrangler's local R2 on disk), requests on workerd's direct socket; IDEMPOTENCY_TTL_SECONDS=${options.archiveTtl}`,
  );
  if (charge !== undefined) {
    out.push(
      `1. per new-key charge: ${charge.rowsWritten.toFixed(2)} rows written, ${charge.rowsRead.toFixed(2)} rows read (request log lines); ` +
        `${charge.databaseBytesPerOp?.toFixed(0) ?? "n/a"} bytes of databaseSize (the file grew ${charge.fileBytesPerOp?.toFixed(0) ?? "n/a"}` +
        (charge.storageBytesPerOp === null
          ? ""
          : `; the account view's storage_bytes ${charge.storageBytesPerOp.toFixed(0)}`) +
        `) over ${int(charge.count)} charges while their keys replay`,
    );
  }
  const steps = periodSteps(s.buildLines);
  const r2 = steps.reduce((sum, step) => sum + step.r2Operations, 0);
  const byStep: Record<string, number> = {};
  for (const step of steps) byStep[step.did] = (byStep[step.did] ?? 0) + 1;
  for (const b of s.built) {
    const size = s.hot.get(b.account);
    const trace = size === undefined ? null : TRACE_TABLES.reduce((sum, name) => sum + (size.tables[name] ?? 0), 0);
    out.push(
      `2. ${b.kind} account: ${int(b.periods)} periods x ${int(b.perPeriod)} charges = ${int(b.charges)} archived charges` +
        (b.periods < b.periodsWanted ? ` (SHORT of ${int(b.periodsWanted)} periods: --archive-build-seconds)` : "") +
        `, built in ${b.buildSeconds.toFixed(0)} s (${int(b.charges / Math.max(0.001, b.buildSeconds))} charges/s through batches and closes)` +
        (b.failures.length > 0 ? `; FAILURES: ${b.failures.join("; ")}` : ""),
    );
    if (size !== undefined && trace !== null) {
      out.push(
        `   hot after pruning: databaseSize ${int(size.databaseBytes)} bytes${size.storageBytes === null ? "" : ` (storage_bytes ${int(size.storageBytes)})`}; the file ${int(size.fileBytes)} bytes, ${int(size.freelistBytes)} of them free pages; ` +
          `rows left: ${Object.entries(size.rows)
            .map(([t, n]) => `${t} ${int(n)}`)
            .join(
              ", ",
            )}; the archived trace (${TRACE_TABLES.join(", ")}) ${int(trace)} bytes = ${(trace / Math.max(1, b.charges)).toFixed(3)} bytes per archived charge`,
      );
    }
  }
  if (s.settled !== null) {
    out.push(
      `   archiving: ${int(steps.length)} alarm runs while building (${Object.entries(byStep)
        .map(([did, n]) => `${int(n)} ${did}`)
        .join(
          ", ",
        )}), ${int(r2)} R2 operations; every period archived ${s.settled.archivedSeconds?.toFixed(0) ?? "n/a"} s and pruned ${s.settled.prunedSeconds?.toFixed(0) ?? "NOT within --archive-wait-seconds"} s after the build began, the locator settled (every run live, nothing staged, no merge due) ${s.settled.locatorSeconds?.toFixed(0) ?? "NOT within --archive-wait-seconds"} s after`,
    );
  }
  for (const c of s.comparisons) {
    const per = (x: RequestStats) => (x.rowsRead / Math.max(1, x.operations)).toFixed(2);
    const w = (x: RequestStats) => (x.rowsWritten / Math.max(1, x.operations)).toFixed(2);
    const cpuRatio =
      c.full.cpuUsPerOp !== null && c.empty.cpuUsPerOp !== null ? c.full.cpuUsPerOp / c.empty.cpuUsPerOp : Number.NaN;
    out.push(
      `   new ${c.kind} keys, archived account vs empty: rows read/charge ${per(c.full.stats)} vs ${per(c.empty.stats)}, written ${w(c.full.stats)} vs ${w(c.empty.stats)}; ` +
        `CPU/charge ${int(c.full.cpuUsPerOp ?? Number.NaN)} vs ${int(c.empty.cpuUsPerOp ?? Number.NaN)} us (${(cpuRatio * 100).toFixed(0)}%; runs spread ${(relativeSpread(c.empty.rates) * 100).toFixed(0)}% on the empty accounts); ` +
        `req/s ${int(median(c.full.rates))} vs ${int(median(c.empty.rates))}`,
    );
    out.push(`     ${sequentialNote(`new ${c.kind} keys on the archived account`, c.alone)}`);
  }
  for (const r of s.retries) {
    const l = r.result.latency;
    out.push(
      `3. retry of an archived ${r.kind} key: p50 ${l?.p50.toFixed(1) ?? "n/a"} ms, p99 ${l?.p99.toFixed(1) ?? "n/a"} ms over ${int(r.keys)} keys at ${options.archiveRate}/s open loop (answers ${Object.entries(
        r.result.statuses,
      )
        .map(([status, n]) => `${status} x${int(n)}`)
        .join(", ")})`,
    );
    out.push(`     ${sequentialNote("retries", r.alone)}; ${r.alone.durationP50Ms} ms server duration p50 alone`);
  }
  const c = s.close;
  if (c !== null) {
    const p = (x: number | undefined) => (x === undefined ? "n/a" : `${x.toFixed(1)} ms`);
    const ratio = (x: number | undefined) =>
      x === undefined || c.baseline === null ? "" : ` (${(x / c.baseline.p99).toFixed(2)}x)`;
    out.push(
      `4. close of ${int(c.entries)} entries: archived after ${c.archivedSeconds?.toFixed(1) ?? "n/a"} s, ${c.r2Operations} R2 operations (${Object.entries(
        c.steps,
      )
        .map(([did, n]) => `${n} ${did}`)
        .join(", ")}); pruned ${c.prunedSeconds?.toFixed(1) ?? "n/a"} s after the close; ` +
        `charge p99 ${p(c.baseline?.p99)} without a close, ${p(c.duringArchive?.p99)} while archiving${ratio(c.duringArchive?.p99)}, ${p(c.duringPrune?.p99)} while pruning${ratio(c.duringPrune?.p99)} (at ${options.archiveRate} req/s)`,
    );
  }
  out.push("", "cost model, per operation (this server; Worker req and object calls as the code makes them):");
  out.push(...renderCosts(s.costs));
  out.push(
    "",
    `the archive scenario took ${s.total.toFixed(0)} s: ${Object.entries(s.seconds)
      .map(([name, secs]) => `${name} ${secs.toFixed(0)} s`)
      .join(", ")}`,
  );
  return out;
}
