/**
 * npm run bench: the project's benchmark (issue 8, part 1). Builds the
 * production bundle, serves it with plain workerd pinned to one CPU, drives
 * it from a load generator pinned to another, and measures the Worker ->
 * Durable Object hop in the same run as the yardstick. Prints a table and
 * writes JSON; exits 1 if any scenario's ledger check failed (lost or
 * doubled money) or a scenario could not run, 2 on bad flags or a failed
 * build. `npm run bench -- --help` lists the flags; --quick runs everything
 * small.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshBenchKey } from "./bench/api.ts";
import { buildBundle, HOP_MAIN, writeHopWranglerConfig, type Bundle } from "./bench/bundle.ts";
import { BenchContext } from "./bench/context.ts";
import { describeMachine, pinSelf } from "./bench/machine.ts";
import { progress } from "./bench/measure.ts";
import { readBenchOptions, type BenchOptions } from "./bench/options.ts";
import { installCleanup, stopAllProcesses } from "./bench/processes.ts";
import { renderHeader, renderNotes, renderTable, writeJson, type Header, type HopShape } from "./bench/report.ts";
import { ROW_ORDER, runScenarios } from "./bench/run.ts";
import { workerdVersion } from "./bench/workerd.ts";
import { readWorkerConfig } from "./bench/wrangler-config.ts";

const options = readBenchOptions();
const machine = describeMachine(options.pin);
pinSelf(machine.pinning);
const workDir = mkdtempSync(join(tmpdir(), "onceledger-bench-"));
installCleanup(() => {
  if (options.keep) process.stderr.write(`temporary files kept in ${workDir}\n`);
  else rmSync(workDir, { recursive: true, force: true });
});
let exitCode = 0;
try {
  exitCode = await main(options);
} catch (error) {
  process.stderr.write(`\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  exitCode = 2;
} finally {
  await stopAllProcesses();
  if (options.keep || exitCode !== 0) process.stdout.write(`temporary files kept in ${workDir}\n`);
  else rmSync(workDir, { recursive: true, force: true });
}
process.exit(exitCode);

async function main(options: BenchOptions): Promise<number> {
  const startedAt = new Date();
  const selected = options.scenarios;
  const hopShapes: HopShape[] = [];
  if ([...selected].some((s) => ["a", "c", "d", "a100k", "r1m", "batch"].includes(s))) hopShapes.push("one");
  if (selected.has("b")) hopShapes.push("many");

  progress(`building ${options.projectDir} with wrangler deploy --dry-run`);
  const configPath = join(options.projectDir, "wrangler.toml");
  const projectConfig = readWorkerConfig(configPath);
  const logs = join(workDir, "logs");
  const projectBundle = await buildBundle(
    machine.pinning.load,
    configPath,
    projectConfig.main,
    join(workDir, "project"),
    logs,
  );
  let hopBundle: Bundle | null = null;
  if (hopShapes.length > 0) {
    const hopConfig = join(workDir, "hop-wrangler.json");
    writeHopWranglerConfig(hopConfig, projectConfig.compatibilityDate, projectConfig.compatibilityFlags);
    hopBundle = await buildBundle(machine.pinning.load, hopConfig, HOP_MAIN, join(workDir, "hop"), logs);
  }
  const header: Header = {
    startedAt: startedAt.toISOString().replace(/\.\d+Z$/, "Z"),
    commit: commitOf(options.projectDir),
    cpuModel: machine.cpuModel,
    cores: machine.cores,
    kernel: machine.kernel,
    pinning: machine.pinning.note,
    node: process.version,
    workerd: workerdVersion(),
    autocannon: packageVersion("autocannon"),
    wrangler: packageVersion("wrangler"),
    bundle: { rawBytes: projectBundle.rawBytes, gzipBytes: projectBundle.gzipBytes },
    unbound: projectConfig.unbound.map((b) => `${b.name} (${b.kind})`),
    load:
      `closed loop: autocannon, ${options.connections} connections, warm-up ${options.warmup} s, then ${options.runs} x ${options.duration} s, median; ` +
      `open loop: ${options.rate} req/s for ${options.latencySeconds} s, latency from each request's scheduled send time`,
  };
  process.stdout.write(`\n${renderHeader(header)}\n\n`);

  const ctx = new BenchContext({
    options,
    machine,
    key: freshBenchKey(),
    workDir,
    projectConfig,
    projectBundle,
    hopBundle,
  });
  const { rows, cold } = await runScenarios(ctx, hopShapes);
  rows.sort((x, y) => ROW_ORDER.indexOf(x.id) - ROW_ORDER.indexOf(y.id));
  const notes = renderNotes(rows, cold);
  process.stdout.write(`\n${renderHeader(header)}\n\n${renderTable(rows)}\n\n${notes}\n`);
  for (const section of ctx.sections) process.stdout.write(`\n${section.title}:\n${section.lines.join("\n")}\n`);
  const bad = rows.filter((row) => row.status === "FAILED" || row.status === "error");
  writeJson(options.jsonPath, {
    header,
    options: { ...options, scenarios: [...options.scenarios] },
    rows,
    coldStart: cold,
    batchAvailable: ctx.batchAvailable,
    batchNote: ctx.batchNote,
    sections: ctx.sections,
    ok: bad.length === 0,
  });
  process.stdout.write(`\nresults: ${options.jsonPath}\n`);
  if (bad.length > 0) {
    process.stdout.write(`FAILED: ${bad.map((row) => `${row.id} (${row.status})`).join(", ")}\n`);
    return 1;
  }
  return 0;
}

function commitOf(dir: string): string {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", dir, ...args], {
        encoding: "utf8",
        timeout: 10_000,
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    const commit = git("rev-parse", "--short", "HEAD");
    const dirty = git("status", "--porcelain", "--", "src", "wrangler.toml") !== "";
    return `commit ${commit}${dirty ? " with uncommitted changes in src/" : ""}`;
  } catch {
    return "not a git checkout";
  }
}

function packageVersion(name: string): string {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}
