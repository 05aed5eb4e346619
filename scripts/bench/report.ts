/**
 * The results: one row per scenario (and per hop shape), printed as a plain
 * table under a short header, and written whole as JSON.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { CheckResult } from "./check.ts";
import { median, relativeSpread, type LatencySummary } from "./stats.ts";

/** Which hop figure a row is compared with: the hop to one object, or spread over many. */
export type HopShape = "one" | "many";

export interface Row {
  readonly id: string;
  readonly title: string;
  readonly hop: boolean;
  readonly shape: HopShape | null;
  /** req/s, or what a run completes a second: charges (batches), posted transfers, hold-capture pairs. */
  readonly unit: "req/s" | "charges/s" | "transfers/s" | "pairs/s";
  /** Throughput of each measured run. */
  readonly runs: readonly number[];
  /** Open-loop latency at the fixed rate. */
  readonly latency: LatencySummary | null;
  readonly cpuUsPerOp: number | null;
  /** Rows read and written per operation, from the Worker's request log; null when it reports none. */
  readonly rowsPerOp: { readonly read: number; readonly written: number } | null;
  readonly check: CheckResult | null;
  readonly status: "ok" | "FAILED" | "not available" | "error";
  /** Other processes used a noticeable share of the machine during some of its runs. */
  readonly disturbed: boolean;
  readonly notes: readonly string[];
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface ColdStart {
  readonly firstChargeMs: readonly number[];
  readonly listeningMs: readonly number[];
}

export interface Header {
  readonly startedAt: string;
  readonly commit: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly kernel: string;
  readonly pinning: string;
  readonly node: string;
  readonly workerd: string;
  readonly autocannon: string;
  readonly wrangler: string;
  readonly bundle: { readonly rawBytes: number; readonly gzipBytes: number };
  readonly load: string;
  /** Bindings of the project the benchmark does not serve, e.g. "EVENTS (queue producer)". */
  readonly unbound: readonly string[];
}

export function throughput(row: Row): number | null {
  return row.runs.length === 0 ? null : median(row.runs);
}

export function hopRatio(row: Row, rows: readonly Row[]): number | null {
  if (row.hop || row.shape === null) return null;
  const hop = rows.find((r) => r.hop && r.shape === row.shape);
  const mine = throughput(row);
  const theirs = hop === undefined ? null : throughput(hop);
  return mine === null || theirs === null || theirs === 0 ? null : mine / theirs;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function renderHeader(header: Header): string {
  return [
    `OnceLedger benchmark, ${header.startedAt}, ${header.commit}`,
    `machine: ${header.cpuModel}, ${header.cores} CPUs, Linux ${header.kernel}; ${header.pinning}`,
    `Node ${header.node}, workerd ${header.workerd} (plain workerd serve), autocannon ${header.autocannon}, wrangler ${header.wrangler}`,
    `bundle (wrangler deploy --dry-run): ${kib(header.bundle.rawBytes)} raw, ${kib(header.bundle.gzipBytes)} gzip`,
    header.load,
    ...(header.unbound.length === 0
      ? []
      : [`not served here, so the Worker runs without them: ${header.unbound.join(", ")}`]),
  ].join("\n");
}

const UNIT_SUFFIX: Readonly<Record<Row["unit"], string>> = {
  "req/s": "",
  "charges/s": " ch/s",
  "transfers/s": " tr/s",
  "pairs/s": " pairs/s",
};

function checkCell(row: Row): string {
  if (row.status === "not available") return "not available";
  if (row.status === "error") return "ERROR";
  const check = row.check;
  if (check === null) return row.hop ? "-" : "n/a";
  if (!check.ok) return "FAILED";
  const partial = check.incomplete ? " (time bound)" : "";
  return check.accountsSampled > 0 ? `ok, sampled${partial}` : `ok${partial}`;
}

export function renderTable(rows: readonly Row[]): string {
  const headings = ["scenario", "req/s", "runs", "x hop", "p50 ms", "p99 ms", "CPU us/req", "rows r/w per op", "check"];
  const lines = rows.map((row) => {
    const value = throughput(row);
    const ratio = hopRatio(row, rows);
    const spread = row.runs.length > 1 ? ` ±${(relativeSpread(row.runs) * 50).toFixed(0)}%` : "";
    return [
      `${row.id}${row.title === "" ? "" : `: ${row.title}`}`,
      value === null ? (row.disturbed ? "*" : "-") : `${int(value)}${UNIT_SUFFIX[row.unit]}${row.disturbed ? "*" : ""}`,
      row.runs.length === 0 ? "-" : `${row.runs.length}${spread}`,
      ratio === null ? (row.hop ? "1.00" : "-") : ratio.toFixed(2),
      row.latency === null ? "-" : ms(row.latency.p50),
      row.latency === null ? "-" : ms(row.latency.p99),
      row.cpuUsPerOp === null || !Number.isFinite(row.cpuUsPerOp) ? "-" : int(row.cpuUsPerOp),
      row.rowsPerOp === null ? "n/a" : `${row.rowsPerOp.read.toFixed(1)} / ${row.rowsPerOp.written.toFixed(1)}`,
      checkCell(row),
    ];
  });
  const widths = headings.map((h, i) => Math.max(h.length, ...lines.map((cells) => (cells[i] ?? "").length)));
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, i) =>
        i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join("  ")
      .trimEnd();
  const table = [render(headings), render(widths.map((w) => "-".repeat(w))), ...lines.map(render)];
  if (rows.some((row) => row.disturbed)) {
    table.push("", "* other processes kept part of the machine busy during some of this row's runs: figures disturbed");
  }
  return table.join("\n");
}

export function renderNotes(rows: readonly Row[], cold: ColdStart | null): string {
  const out: string[] = [];
  const measured = rows.filter((row) => !row.hop && row.status === "ok" && row.runs.length > 0);
  if (measured.length > 0 && measured.every((row) => row.rowsPerOp === null)) {
    out.push(
      'rows read/written per op: n/a (the Worker logs no {"msg":"request",...,"rows_read","rows_written"} lines yet)',
    );
  }
  for (const row of rows) {
    for (const note of row.notes) out.push(`${row.id}: ${note}`);
    if (row.check !== null && row.check.failures.length > 0) {
      out.push(`${row.id}: check FAILED:`);
      for (const failure of row.check.failures) out.push(`    ${failure}`);
    }
  }
  if (cold !== null && cold.firstChargeMs.length > 0) {
    const first = cold.firstChargeMs;
    out.push(
      `cold start: a fresh workerd process answers its first 201 charge after ${ms(median(first))} ms median ` +
        `(${ms(Math.min(...first))}-${ms(Math.max(...first))} ms over ${first.length}); ` +
        `its socket listens after ${ms(median(cold.listeningMs))} ms`,
    );
  }
  return out.join("\n");
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    `${JSON.stringify(value, (_, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
}
