/**
 * Runs the selected scenarios in order, each on the server it needs (the
 * hop's, the project's, the sweep's own), and turns any scenario that could
 * not run into an error row rather than ending the run. The sweep's records
 * take --sweep-ttl seconds to expire, so it is prepared first, and the
 * scenarios that fit (by a generous estimate) run while they age.
 */
import { archiveRows } from "./archive.ts";
import { measureColdStarts } from "./cold-start.ts";
import { cpuRatioNote, holdRow, transferRow } from "./flows.ts";
import type { BenchContext, Served } from "./context.ts";
import { progress } from "./measure.ts";
import type { ColdStart, HopShape, Row } from "./report.ts";
import {
  a100kRow,
  batchRow,
  hopRows,
  hotAccountRow,
  manyAccountsRow,
  probeBatch,
  r1mRows,
  replayRow,
  type HeldAccount,
} from "./scenarios.ts";
import { measureSweep, prepareSweep, type SweepPrepared } from "./sweep.ts";

export const ROW_ORDER = [
  "hop",
  "hop-b",
  "a",
  "b",
  "c",
  "d",
  "a100k",
  "r1m",
  "r1m-empty",
  "sweep-base",
  "sweep",
  "batch",
  "tr",
  "tr-b",
  "hold",
  "arch-charge",
  "arch-replay",
  "arch-batch",
  "arch-v7",
  "arch-v7-empty",
  "arch-rnd",
  "arch-rnd-empty",
  "arch-retry-v7",
  "arch-retry-rnd",
  "arch-close-base",
  "arch-close",
  "arch-prune",
  "archive",
];

interface Task {
  readonly name: string;
  /** A generous guess of its duration, to decide whether it fits before the sweep must be measured. */
  readonly estimateSeconds: number;
  run(): Promise<void>;
}

function errorRow(id: string, error: unknown): Row {
  return {
    id,
    title: "",
    hop: false,
    shape: null,
    unit: "req/s",
    runs: [],
    latency: null,
    cpuUsPerOp: null,
    rowsPerOp: null,
    check: null,
    status: "error",
    disturbed: false,
    notes: [`could not run: ${error instanceof Error ? error.message : String(error)}`],
    detail: { error: error instanceof Error ? (error.stack ?? error.message) : String(error) },
  };
}

export async function runScenarios(
  ctx: BenchContext,
  hopShapes: readonly HopShape[],
): Promise<{ rows: Row[]; cold: ColdStart | null }> {
  const rows: Row[] = [];
  let cold: ColdStart | null = null;
  const { options } = ctx;
  const selected = options.scenarios;
  let project: Served | null = null;
  let held: HeldAccount | null = null;
  const projectServer = async (): Promise<Served> => {
    if (project === null || !project.server.alive()) {
      if (project !== null) progress("the project's server had exited: starting a fresh one");
      project = await ctx.startProject("main");
      await probeBatch(ctx, project);
    }
    return project;
  };

  const { warmup, runs, duration, latencySeconds, preloadSeconds } = options;
  const perScenario = warmup + runs * duration + latencySeconds;
  const tasks: Task[] = [];
  const task = (name: string, estimateSeconds: number, run: () => Promise<void>) =>
    tasks.push({
      name,
      estimateSeconds,
      run: async () => {
        try {
          await run();
        } catch (error) {
          progress(`${name}: ${error instanceof Error ? error.message : String(error)}`);
          rows.push(errorRow(name, error));
        }
      },
    });
  if (selected.has("cold")) {
    task("cold", options.coldStarts * 2 + 5, async () => {
      cold = await measureColdStarts(ctx);
    });
  }
  if (hopShapes.length > 0) {
    task("hop", hopShapes.length * (perScenario + 5), async () => {
      const hop = await ctx.startHop();
      try {
        rows.push(...(await hopRows(ctx, hop, hopShapes)));
      } finally {
        await hop.server.stop();
      }
    });
  }
  for (const id of ["a", "b", "c", "d"] as const) {
    if (!selected.has(id)) continue;
    const extra = id === "b" ? options.accounts / 50 : 0;
    task(id, perScenario + 5 + extra, async () => {
      const served = await projectServer();
      if (id === "a" || id === "d") rows.push(await hotAccountRow(ctx, served, id));
      else if (id === "b") rows.push(await manyAccountsRow(ctx, served));
      else rows.push(await replayRow(ctx, served));
    });
  }
  if (selected.has("a100k")) {
    task("a100k", preloadSeconds + perScenario + 30, async () => {
      const out = await a100kRow(ctx, await projectServer());
      rows.push(out.row);
      held = out.held;
    });
  }
  if (selected.has("r1m")) {
    const estimate = preloadSeconds + 2 * warmup + 2 * options.r1mRuns * duration + 2 * latencySeconds + 40;
    task("r1m", estimate, async () => {
      rows.push(...(await r1mRows(ctx, await projectServer(), held)));
    });
  }
  if (selected.has("batch")) {
    task("batch", warmup + runs * duration + 30, async () => {
      rows.push(await batchRow(ctx, await projectServer()));
    });
  }
  // Transfers: each run waits for the server to go quiet and every transfer to post, then all are read back.
  for (const id of ["tr", "tr-b"] as const) {
    if (!selected.has(id)) continue;
    const extra = id === "tr-b" ? options.transferAccounts / 50 : 0;
    task(id, perScenario + (runs + 1) * 5 + 60 + extra, async () => {
      rows.push(await transferRow(ctx, await projectServer(), id));
    });
  }
  if (selected.has("hold")) {
    task("hold", perScenario + 15, async () => {
      rows.push(await holdRow(ctx, await projectServer()));
    });
  }
  task("stop", 1, async () => {
    if (project !== null) await project.server.stop();
    project = null;
  });
  if (selected.has("archive")) {
    // Its own server (Miniflare, for R2); long, so it runs after the sweep has been measured.
    task("archive", 24 * 3600, async () => {
      rows.push(...(await archiveRows(ctx)));
    });
  }

  // The sweep's records take --sweep-ttl seconds to expire: prepare it first and run what fits meanwhile.
  let sweep: SweepPrepared | null = null;
  if (selected.has("sweep")) {
    try {
      sweep = await prepareSweep(ctx);
    } catch (error) {
      progress(`sweep: ${error instanceof Error ? error.message : String(error)}`);
      rows.push(errorRow("sweep", error));
    }
  }
  const measureSweepNow = async (prepared: SweepPrepared) => {
    try {
      rows.push(...(await measureSweep(ctx, prepared)));
    } catch (error) {
      progress(`sweep: ${error instanceof Error ? error.message : String(error)}`);
      rows.push(errorRow("sweep", error));
      await prepared.served.server.stop();
    }
  };
  for (const next of tasks) {
    if (sweep !== null && Date.now() + (next.estimateSeconds * 1.2 + 3) * 1000 > sweep.expiresFromMs - 2000) {
      await measureSweepNow(sweep);
      sweep = null;
    }
    await next.run();
  }
  if (sweep !== null) await measureSweepNow(sweep);
  return { rows: cpuRatioNote(rows), cold };
}
