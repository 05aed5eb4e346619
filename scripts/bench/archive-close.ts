/**
 * The archive scenario's large close: an account holding --archive-close-entries
 * charges (UUIDv7 keys) takes open-loop charges at --archive-rate; first without a
 * close (the baseline), then while its period is closed, archived to R2 and,
 * once its keys' replay window has passed, pruned. The alarm's log lines
 * (`"periods":"entries"|"keys"|"filter"|"seal"|"prune"`, `"r2_operations":n`)
 * give the close's steps and R2 operations; the period's row in the object's
 * SQLite file says when it is pruned. Charge latency is cut out of the
 * open-loop timeline for each window.
 */
import type { Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { fundingKeys } from "./archive-build.ts";
import { KeyMaker } from "./keys.ts";
import { startLoad } from "./load.ts";
import { buildRow, load, progress, summary } from "./measure.ts";
import type { AccountObjects } from "./object-storage.ts";
import { openAccounts } from "./preload.ts";
import { settlesWithin } from "./processes.ts";
import type { Row } from "./report.ts";
import { periodSteps, requestStats, type LogLine, type PeriodStep } from "./server-log.ts";
import { summarizeLatencies, type LatencySummary } from "./stats.ts";
import type { Expectation, PlanSpec } from "./workload.ts";

const NEW: Expectation = { status: 201, replayed: "false" };
const POLL_MS = 100;
const CHARGES = /\/charges$/;

export interface CloseFigures {
  readonly entries: number;
  readonly periodId: number | null;
  readonly archivedSeconds: number | null;
  readonly prunedSeconds: number | null;
  readonly r2Operations: number;
  readonly steps: Readonly<Record<string, number>>;
  readonly baseline: LatencySummary | null;
  readonly duringArchive: LatencySummary | null;
  readonly duringPrune: LatencySummary | null;
  /**
   * Charges by the archive step under way when they were sent: a step's window runs from the
   * alarm line before it (the close, for the first) to its own line. Which step blocks longest.
   */
  readonly bySteps: Readonly<Record<string, { readonly steps: number; readonly latency: LatencySummary }>>;
  readonly notes: readonly string[];
}

export async function closeUnderLoad(
  ctx: BenchContext,
  served: Served,
  objects: AccountObjects,
  expected: Expected,
): Promise<{ rows: Row[]; figures: CloseFigures }> {
  const { options } = ctx;
  const account = ctx.account("arch", "close");
  await openAccounts(served, [account], 60, fundingKeys(ctx, "uuidv7", expected));
  const plan = (phase: string): PlanSpec => ({
    accounts: [account],
    mode: "new",
    keyPrefix: ctx.keyPrefix("arch", `close-${phase}`),
    keyKind: "uuidv7",
    dupEvery: options.dupEvery,
  });
  const notes: string[] = [];
  progress(`archive: preloading ${options.archiveCloseEntries.toLocaleString("en-US")} charges for the close`);
  const pre = await load(
    ctx,
    {
      kind: "batch",
      target: served.target,
      account,
      keyPrefix: ctx.keyPrefix("arch", "close-pre"),
      keyKind: "uuidv7",
      size: options.batchSize,
      inFlight: options.batchInflight,
      seconds: options.preloadSeconds,
      stopAfterAccepted: options.archiveCloseEntries,
    },
    expected,
  );
  const preSeconds = pre.seconds;
  if (pre.accepted < options.archiveCloseEntries) {
    notes.push(
      `the preload stopped at ${pre.accepted.toLocaleString("en-US")} of ${options.archiveCloseEntries.toLocaleString("en-US")} charges (--preload-seconds)`,
    );
  }
  served.server.log.skip();
  const rate = options.archiveRate;
  const baseline = await load(
    ctx,
    {
      kind: "open",
      target: served.target,
      plan: plan("base"),
      expect: NEW,
      rate,
      seconds: options.latencySeconds,
      keepTimeline: false,
    },
    expected,
  );
  const baseStats = requestStats(served.server.log.readNew(), CHARGES, account);
  if (baseline.latency !== null) {
    progress(
      `archive: charges, no close: p50 ${baseline.latency.p50.toFixed(2)} ms, p99 ${baseline.latency.p99.toFixed(2)} ms at ${rate} req/s`,
    );
  }

  progress(`archive: open loop at ${rate} req/s while a period of the account is closed, archived and pruned`);
  const running = startLoad(ctx.machine.pinning, {
    kind: "open",
    target: served.target,
    plan: plan("during"),
    expect: NEW,
    rate,
    seconds: options.archiveCloseSeconds,
    keepTimeline: true,
  });
  const lines: LogLine[] = [];
  // The close goes once charges flow (the load process takes a moment to start): a second of them answered.
  const flowing = Date.now() + 30_000;
  let answered = 0;
  while (answered < rate && Date.now() < flowing && !(await settlesWithin(running.result, POLL_MS))) {
    const fresh = served.server.log.readNew();
    lines.push(...fresh);
    answered += requestStats(fresh, CHARGES, account).requests;
  }
  const closeKey = new KeyMaker("uuidv7", ctx.keyPrefix("arch", "close-key")).key(1);
  const closedAt = Date.now();
  const closed = await served.api.call("POST", `/v1/accounts/${account}/periods`, {}, closeKey);
  const period = closed.json as { id?: number; entry_count?: number } | null;
  const periodId = closed.status === 201 && typeof period?.id === "number" ? period.id : null;
  const entries = typeof period?.entry_count === "number" ? period.entry_count : 0;
  if (periodId === null)
    notes.push(`the close was answered ${closed.status}: ${JSON.stringify(closed.json).slice(0, 200)}`);
  let archivedAt: number | null = null;
  let pruneStartAt: number | null = null;
  let prunedAt: number | null = null;
  let stopped = false;
  const steps: PeriodStep[] = [];
  let lastPoll = 0;
  let previousStepAt = closedAt;
  while (!(await settlesWithin(running.result, POLL_MS))) {
    const fresh = served.server.log.readNew();
    lines.push(...fresh);
    for (const step of periodSteps(fresh)) {
      // A step's line is written when its alarm run ends: the first prune began after the step before it.
      if (step.did === "prune" && step.period === periodId && pruneStartAt === null) {
        pruneStartAt = Math.max(previousStepAt, step.atMs - 2000);
      }
      previousStepAt = step.atMs;
      if (step.period === null || step.period !== periodId) continue;
      steps.push(step);
      if (step.did === "seal" && archivedAt === null && objects.period(account, step.period)?.state === "archived") {
        archivedAt = step.atMs;
      }
    }
    const now = Date.now();
    if (periodId !== null && archivedAt !== null && prunedAt === null && now - lastPoll > 500) {
      lastPoll = now;
      if (objects.period(account, periodId)?.pruned === 2) prunedAt = now;
    }
    if (!stopped && (periodId === null || (prunedAt !== null && now - prunedAt > 1000))) {
      running.stop();
      stopped = true;
    }
  }
  const result = await running.result;
  expected.addLoad(result, plan("during").keyPrefix);
  lines.push(...served.server.log.readNew());
  if (archivedAt === null)
    notes.push(`the period was not archived within --archive-close-seconds (${options.archiveCloseSeconds} s)`);
  else if (prunedAt === null)
    notes.push(`the period was not pruned within --archive-close-seconds (${options.archiveCloseSeconds} s)`);

  const window = (from: number | null, to: number | null): LatencySummary | null => {
    if (from === null || to === null) return null;
    const ms = (result.timeline ?? []).filter(([at]) => at >= from && at <= to).map(([, latency]) => latency);
    return ms.length === 0 ? null : summarizeLatencies(ms);
  };
  const duringArchive = window(closedAt, archivedAt);
  const stepLatencies: Record<string, { steps: number; ms: number[] }> = {};
  let stepFrom = closedAt;
  for (const step of steps) {
    if (archivedAt !== null && step.atMs > archivedAt) break;
    const into = (stepLatencies[step.did] ??= { steps: 0, ms: [] });
    into.steps += 1;
    for (const [at, latency] of result.timeline ?? []) if (at > stepFrom && at <= step.atMs) into.ms.push(latency);
    stepFrom = step.atMs;
  }
  const bySteps = Object.fromEntries(
    Object.entries(stepLatencies).map(([did, { steps: n, ms }]) => [
      did,
      { steps: n, latency: summarizeLatencies(ms) },
    ]),
  );
  const duringPrune = window(pruneStartAt, prunedAt);
  const stepCounts: Record<string, number> = {};
  for (const step of steps) stepCounts[step.did] = (stepCounts[step.did] ?? 0) + 1;
  const r2Operations = steps.reduce((sum, step) => sum + step.r2Operations, 0);
  const figures: CloseFigures = {
    entries,
    periodId,
    archivedSeconds: archivedAt === null ? null : (archivedAt - closedAt) / 1000,
    prunedSeconds: prunedAt === null ? null : (prunedAt - closedAt) / 1000,
    r2Operations,
    steps: stepCounts,
    baseline: baseline.latency,
    duringArchive,
    duringPrune,
    bySteps,
    notes,
  };
  const p99 = (l: LatencySummary | null) => (l === null ? "n/a" : `${l.p99.toFixed(1)} ms`);
  const ratio = (l: LatencySummary | null) =>
    l === null || baseline.latency === null ? "" : ` (${(l.p99 / baseline.latency.p99).toFixed(2)}x)`;
  const during = requestStats(lines, CHARGES, account);
  const rows: Row[] = [
    buildRow({
      id: "arch-close-base",
      title: `charges, account of ${(pre.accepted + 1).toLocaleString("en-US")} entries, no close`,
      shape: null,
      measured: null,
      latency: baseline,
      check: null,
      rateOffered: rate,
      notes: [
        `preloaded ${pre.accepted.toLocaleString("en-US")} charges via batches in ${preSeconds.toFixed(0)} s`,
        `server duration_ms p50 ${baseStats.durationP50Ms} ms`,
      ],
    }),
    {
      ...buildRow({
        id: "arch-close",
        title: `charges while ${entries.toLocaleString("en-US")} entries are archived`,
        shape: null,
        measured: null,
        latency: { ...result, latency: duringArchive ?? summarizeLatencies([]) },
        check: null,
        rateOffered: rate,
        notes: [
          `archived ${figures.archivedSeconds?.toFixed(1) ?? "n/a"} s after the close, in ${steps.filter((s) => s.did !== "prune" && s.did !== "none" && s.did !== "waiting").length} alarm steps (${Object.entries(
            stepCounts,
          )
            .map(([did, count]) => `${count} ${did}`)
            .join(", ")}), ${r2Operations} R2 operations`,
          `charge p99 ${p99(duringArchive)} while archiving${ratio(duringArchive)} vs ${p99(baseline.latency)} without a close (${rate} req/s)`,
          `by the step under way when sent: ${Object.entries(bySteps)
            .map(
              ([did, { steps: n, latency }]) =>
                `${did} (${n}) p99 ${p99(latency)}${ratio(latency)}, max ${latency.max.toFixed(1)} ms over ${latency.count}`,
            )
            .join("; ")}`,
          ...notes,
        ],
        detail: { figures, wholeRun: summary(result), serverLog: during },
      }),
      latency: duringArchive,
    },
    {
      ...buildRow({
        id: "arch-prune",
        title: `charges while those entries and keys are pruned`,
        shape: null,
        measured: null,
        latency: { ...result, latency: duringPrune ?? summarizeLatencies([]) },
        check: null,
        rateOffered: rate,
        notes: [
          `pruned ${figures.prunedSeconds?.toFixed(1) ?? "n/a"} s after the close (its keys' ${options.archiveTtl} s replay window first), in ${stepCounts.prune ?? 0} prune steps`,
          `charge p99 ${p99(duringPrune)} while pruning${ratio(duringPrune)}`,
        ],
      }),
      latency: duringPrune,
    },
  ];
  return { rows, figures };
}
