/**
 * The server's own log, as plain `workerd serve` writes it: console.log to
 * stdout and console.error to stderr, one line each, no flag needed (both go
 * to one file here). The Worker logs one JSON line per request (with the
 * SQL cursors' rows_read / rows_written) and one per expiry alarm run; this
 * reads new lines on demand and adds those counters up.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { LOG_LINES } from "../../src/observability/log.ts";

export interface LogLine {
  /** When this reader saw the line (epoch ms), or the line's own time field if it has one. */
  readonly atMs: number;
  readonly json: Record<string, unknown> | null;
  readonly text: string;
}

export class ServerLog {
  readonly path: string;
  private offset = 0;
  private partial = "";

  constructor(path: string) {
    this.path = path;
  }

  /** The complete lines written since the last call. */
  readNew(): LogLine[] {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return [];
    }
    const chunks: Buffer[] = [];
    try {
      const size = fstatSync(fd).size;
      while (this.offset < size) {
        const buffer = Buffer.alloc(Math.min(size - this.offset, 8 << 20));
        const read = readSync(fd, buffer, 0, buffer.length, this.offset);
        if (read <= 0) break;
        chunks.push(buffer.subarray(0, read));
        this.offset += read;
      }
    } finally {
      closeSync(fd);
    }
    const now = Date.now();
    const text = this.partial + Buffer.concat(chunks).toString("utf8");
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    return lines.filter((line) => line.trim() !== "").map((line) => parseLine(line, now));
  }

  /** Forgets everything written so far (e.g. a setup phase's requests). */
  skip(): void {
    this.readNew();
  }
}

function parseLine(text: string, seenAtMs: number): LogLine {
  let json: Record<string, unknown> | null = null;
  if (text.startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        json = parsed as Record<string, unknown>;
      }
    } catch {
      // not JSON after all
    }
  }
  return { atMs: ownTime(json) ?? seenAtMs, json, text };
}

/** A line's own timestamp (`time`, `ts` or `timestamp`: epoch ms or an ISO string), if it has one. */
function ownTime(json: Record<string, unknown> | null): number | undefined {
  for (const field of ["time", "ts", "timestamp"]) {
    const value = json?.[field];
    if (typeof value === "number" && value > 1e12) return value;
    if (typeof value === "string") {
      const parsed = Date.parse(value);
      if (Number.isFinite(parsed)) return parsed;
    }
  }
  return undefined;
}

function numberField(json: Record<string, unknown>, name: string): number | undefined {
  const value = json[name];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export interface RowCounts {
  /** Request lines for the measured routes. */
  readonly requests: number;
  /** Operations they carried (a batch line counts its `operations`). */
  readonly operations: number;
  /** Lines that reported rows_read and rows_written, and the operations they carried. */
  readonly withRows: number;
  readonly operationsWithRows: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Lines that were not JSON request/sweep lines (errors, warnings), the first few of them. */
  readonly otherLines: number;
  readonly otherSample: readonly string[];
}

const MEASURED_ROUTE = /^POST \/v1\/accounts\/[^/]+\/(charges|batches)$/;

/** Adds up the rows the Worker reported for money-moving requests (charges and batches). */
export function countRows(lines: readonly LogLine[]): RowCounts {
  let requests = 0;
  let operations = 0;
  let withRows = 0;
  let operationsWithRows = 0;
  let rowsRead = 0;
  let rowsWritten = 0;
  let otherLines = 0;
  const otherSample: string[] = [];
  const statuses: Record<string, number> = {};
  for (const line of lines) {
    const json = line.json;
    if (json?.msg === LOG_LINES.request) {
      if (typeof json.route !== "string" || !MEASURED_ROUTE.test(json.route)) continue;
      requests += 1;
      const carried = numberField(json, "operations") ?? 1;
      operations += carried;
      const status = typeof json.status === "number" ? String(json.status) : "?";
      statuses[status] = (statuses[status] ?? 0) + 1;
      const read = numberField(json, "rows_read");
      const written = numberField(json, "rows_written");
      if (read !== undefined && written !== undefined) {
        withRows += 1;
        operationsWithRows += carried;
        rowsRead += read;
        rowsWritten += written;
      }
    } else if (json?.msg !== LOG_LINES.alarm) {
      otherLines += 1;
      if (otherSample.length < 5) otherSample.push(line.text.slice(0, 300));
    }
  }
  return {
    requests,
    operations,
    withRows,
    operationsWithRows,
    rowsRead,
    rowsWritten,
    statuses,
    otherLines,
    otherSample,
  };
}

export interface SweepRun {
  readonly atMs: number;
  readonly deleted: number;
  /** The run's own duration, if the line reports one. */
  readonly durationMs: number | undefined;
  readonly rowsRead: number | undefined;
  readonly rowsWritten: number | undefined;
  /** How long after the oldest record expired this run began, if the line says. */
  readonly lagMs: number | undefined;
}

/**
 * The alarm's runs that swept expired records, from its
 * `{"msg":"alarm","deleted":N,...}` lines (a run with nothing to delete, say
 * one that only published events, is not part of a sweep).
 */
export function sweepRuns(lines: readonly LogLine[]): SweepRun[] {
  const runs: SweepRun[] = [];
  for (const { json, atMs } of lines) {
    if (json?.msg !== LOG_LINES.alarm || (numberField(json, "deleted") ?? 0) === 0) continue;
    runs.push({
      atMs,
      deleted: numberField(json, "deleted") ?? 0,
      durationMs: numberField(json, "duration_ms") ?? numberField(json, "ms"),
      rowsRead: numberField(json, "rows_read"),
      rowsWritten: numberField(json, "rows_written"),
      lagMs: numberField(json, "lag_ms"),
    });
  }
  return runs;
}

/** What the Worker logged of the requests to one route: counts, rows, archive reads, its own durations. */
export interface RequestStats {
  readonly requests: number;
  /** Operations they carried (a batch counts its `operations`). */
  readonly operations: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly archiveReads: number;
  /** The most archive reads one request made. */
  readonly maxArchiveReads: number;
  /** Requests that read the archive at all. */
  readonly requestsReadingArchive: number;
  /** `duration_ms` (the Worker's wall time for the request, object call included): median and mean. */
  readonly durationP50Ms: number;
  readonly durationMeanMs: number;
  readonly statuses: Readonly<Record<string, number>>;
}

/** Sums the request lines whose route template matches `route` (e.g. /\/charges$/), of `accounts` if given. */
export function requestStats(
  lines: readonly LogLine[],
  route: RegExp,
  accounts?: string | readonly string[],
): RequestStats {
  const only = accounts === undefined ? null : new Set(typeof accounts === "string" ? [accounts] : accounts);
  let requests = 0;
  let operations = 0;
  let rowsRead = 0;
  let rowsWritten = 0;
  let archiveReads = 0;
  let maxArchiveReads = 0;
  let requestsReadingArchive = 0;
  const durations: number[] = [];
  const statuses: Record<string, number> = {};
  for (const { json } of lines) {
    if (json?.msg !== LOG_LINES.request || typeof json.route !== "string" || !route.test(json.route)) continue;
    if (only !== null && !only.has(String(json.account))) continue;
    requests += 1;
    operations += numberField(json, "operations") ?? 1;
    rowsRead += numberField(json, "rows_read") ?? 0;
    rowsWritten += numberField(json, "rows_written") ?? 0;
    const reads = numberField(json, "archive_reads") ?? 0;
    archiveReads += reads;
    maxArchiveReads = Math.max(maxArchiveReads, reads);
    if (reads > 0) requestsReadingArchive += 1;
    const duration = numberField(json, "duration_ms");
    if (duration !== undefined) durations.push(duration);
    const status = typeof json.status === "number" ? String(json.status) : "?";
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  durations.sort((x, y) => x - y);
  return {
    requests,
    operations,
    rowsRead,
    rowsWritten,
    archiveReads,
    maxArchiveReads,
    requestsReadingArchive,
    durationP50Ms: durations.length === 0 ? Number.NaN : (durations[Math.floor((durations.length - 1) / 2)] ?? 0),
    durationMeanMs: durations.length === 0 ? Number.NaN : durations.reduce((s, d) => s + d, 0) / durations.length,
    statuses,
  };
}

/** One alarm run's periods step (`{"msg":"alarm",...,"periods":"entries","period":3,"r2_operations":2}`). */
export interface PeriodStep {
  readonly atMs: number;
  readonly did: string;
  readonly period: number | null;
  readonly r2Operations: number;
}

/** The alarm runs' periods steps, in order (runs that did nothing for periods included, as "none"). */
export function periodSteps(lines: readonly LogLine[]): PeriodStep[] {
  const steps: PeriodStep[] = [];
  for (const { json, atMs } of lines) {
    if (json?.msg !== LOG_LINES.alarm || typeof json.periods !== "string") continue;
    steps.push({
      atMs,
      did: json.periods,
      period: numberField(json, "period") ?? null,
      r2Operations: numberField(json, "r2_operations") ?? 0,
    });
  }
  return steps;
}
