/**
 * What one operation costs, for the cost model: rows read and written
 * (from the Worker's request lines), the requests it takes, how long the
 * Worker spent on it, the server's CPU, and what it added to the object's
 * storage (the object's SQLite file before and after: its databaseSize, and
 * dbstat's bytes per table). Measured on fresh accounts: new-key charges,
 * replays of one charge, and charges in batches.
 */
import type { Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { fundingKeys } from "./archive-build.ts";
import { KeyMaker } from "./keys.ts";
import { buildRow, load, progress } from "./measure.ts";
import type { AccountObjects, ObjectSize } from "./object-storage.ts";
import { openAccounts } from "./preload.ts";
import type { Row } from "./report.ts";
import { countRows, requestStats, type RequestStats } from "./server-log.ts";
import type { LoadJob, LoadResult } from "./workload.ts";

export interface OperationCost {
  readonly operation: string;
  /** Operations measured. */
  readonly count: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly archiveReads: number;
  /** Worker invocations and account-object calls per operation (a batch's are shared by its operations). */
  readonly workerRequests: number;
  readonly objectCalls: number;
  /** The Worker's duration_ms per request (median), and per operation (mean / operations per request). */
  readonly requestMsP50: number;
  readonly msPerOperation: number;
  readonly cpuUsPerOp: number | null;
  /** databaseSize (pages in use) added per entry stored (per operation when none was), and the file's growth; null when not measured. */
  readonly databaseBytesPerOp: number | null;
  readonly fileBytesPerOp: number | null;
  /** dbstat bytes added per operation, by table or index (those that grew). */
  readonly tableBytesPerOp: Readonly<Record<string, number>>;
  /** The account view's storage_bytes added per operation (the object's own databaseSize); null when not reported. */
  readonly storageBytesPerOp: number | null;
}

/** The object's file as read from disk, and its storage_bytes as the account view reports it. */
export interface MeasuredSize extends ObjectSize {
  readonly storageBytes: number | null;
}

export function costOf(
  operation: string,
  stats: RequestStats,
  result: LoadResult | null,
  sizes: { before: MeasuredSize; after: MeasuredSize } | null,
): OperationCost {
  // Rows per operation from the log lines; CPU and bytes per operation the load generator saw answered.
  const ops = Math.max(1, stats.operations);
  const answered = result === null ? ops : Math.max(1, result.kind === "batch" ? result.accepted : result.responses);
  const perRequest = stats.requests === 0 ? 0 : stats.operations / stats.requests;
  const cpu =
    result !== null && Number.isFinite(result.serverCpuSeconds) ? (result.serverCpuSeconds / answered) * 1e6 : null;
  // Bytes per entry the object stored (a closed loop's last answers arrive after the generator stops counting).
  const stored = sizes === null ? 0 : (sizes.after.rows.ledger ?? 0) - (sizes.before.rows.ledger ?? 0);
  const perBytes = stored > 0 ? stored : ops;
  const tables: Record<string, number> = {};
  if (sizes !== null) {
    for (const [name, bytes] of Object.entries(sizes.after.tables)) {
      const grown = bytes - (sizes.before.tables[name] ?? 0);
      if (grown !== 0) tables[name] = grown / perBytes;
    }
  }
  return {
    operation,
    count: stats.operations,
    rowsRead: stats.rowsRead / ops,
    rowsWritten: stats.rowsWritten / ops,
    archiveReads: stats.archiveReads / ops,
    workerRequests: perRequest === 0 ? 0 : 1 / perRequest,
    objectCalls: perRequest === 0 ? 0 : 1 / perRequest,
    requestMsP50: stats.durationP50Ms,
    msPerOperation: perRequest === 0 ? Number.NaN : stats.durationMeanMs / perRequest,
    cpuUsPerOp: cpu,
    databaseBytesPerOp: sizes === null ? null : (sizes.after.databaseBytes - sizes.before.databaseBytes) / perBytes,
    fileBytesPerOp: sizes === null ? null : (sizes.after.fileBytes - sizes.before.fileBytes) / perBytes,
    tableBytesPerOp: tables,
    storageBytesPerOp:
      sizes === null || sizes.before.storageBytes === null || sizes.after.storageBytes === null
        ? null
        : (sizes.after.storageBytes - sizes.before.storageBytes) / perBytes,
  };
}

/** The charge, replay and batch costs, and a table row for each. */
export async function measureCosts(
  ctx: BenchContext,
  served: Served,
  objects: AccountObjects,
  expected: Expected,
): Promise<{ costs: OperationCost[]; rows: Row[] }> {
  const { options } = ctx;
  const charges = ctx.account("arch", "cost");
  const batches = ctx.account("arch", "cost-batch");
  const warm = ctx.account("arch", "cost-w");
  await openAccounts(served, [charges, batches, warm], 60, fundingKeys(ctx, "uuidv7", expected));
  const closed = (account: string, phase: string, seconds: number, replayKey?: string): LoadJob => ({
    kind: "closed",
    target: served.target,
    plan: {
      accounts: [account],
      mode: replayKey === undefined ? "new" : "replay",
      keyPrefix: ctx.keyPrefix("arch", `cost-${phase}`),
      keyKind: "uuidv7",
      dupEvery: options.dupEvery,
      ...(replayKey === undefined ? {} : { replayKey }),
    },
    expect: { status: 201, replayed: replayKey === undefined ? "false" : "true" },
    connections: options.connections,
    seconds,
  });
  if (options.warmup > 0) await load(ctx, closed(warm, "w", options.warmup), expected);

  const size = async (account: string): Promise<MeasuredSize> => ({
    ...objects.measure(account),
    storageBytes: (await served.api.account(account)).storage_bytes ?? null,
  });
  const measure = async (label: string, account: string, route: RegExp, job: LoadJob) => {
    const before = await size(account);
    served.server.log.skip();
    const result = await load(ctx, job, expected);
    const lines = served.server.log.readNew();
    const after = await size(account);
    const stats = requestStats(lines, route);
    const stored = (after.rows.ledger ?? 0) - (before.rows.ledger ?? 0);
    progress(
      `archive: ${label}: ${stats.operations.toLocaleString("en-US")} operations logged, ${stored.toLocaleString("en-US")} entries stored, databaseSize +${(after.databaseBytes - before.databaseBytes).toLocaleString("en-US")} bytes`,
    );
    return { result, lines, stats, sizes: { before, after } };
  };

  const charge = await measure("charges", charges, /\/charges$/, closed(charges, "charge", options.duration));
  const seedPrefix = ctx.keyPrefix("arch", "cost-seed");
  const seedKey = new KeyMaker("uuidv7", seedPrefix).key(1);
  const seed = await served.api.charge(charges, seedKey);
  expected.addSingle(charges, seedPrefix, seed.status === 201, null);
  if (seed.status !== 201) throw new Error(`the charge to replay was answered ${seed.status}`);
  // Replays must end inside the key's replay window (--archive-ttl).
  const replaySeconds = Math.max(1, Math.min(options.duration, options.archiveTtl - 10));
  const replay = await measure("replays", charges, /\/charges$/, closed(charges, "replay", replaySeconds, seedKey));
  const batch = await measure("batches", batches, /\/batches$/, {
    kind: "batch",
    target: served.target,
    account: batches,
    keyPrefix: ctx.keyPrefix("arch", "cost-batch"),
    keyKind: "uuidv7",
    size: options.batchSize,
    inFlight: options.batchInflight,
    seconds: options.duration,
  });
  const costs = [
    costOf("charge, new UUIDv7 key", charge.stats, charge.result, charge.sizes),
    costOf("replay of a charge", replay.stats, replay.result, replay.sizes),
    costOf(`charge in a ${options.batchSize}-operation batch`, batch.stats, batch.result, batch.sizes),
  ];
  const bytes = (cost: OperationCost) =>
    (cost.databaseBytesPerOp === null ? "n/a" : `${cost.databaseBytesPerOp.toFixed(0)} bytes of databaseSize`) +
    (cost.storageBytesPerOp === null
      ? ""
      : ` (the account view's storage_bytes: ${cost.storageBytesPerOp.toFixed(0)})`);
  const row = (
    id: string,
    title: string,
    measured: typeof charge,
    cost: OperationCost,
    unit: "req/s" | "charges/s" = "req/s",
  ) =>
    buildRow({
      id,
      title,
      shape: null,
      unit,
      measured: { results: [measured.result], rowCounts: countRows(measured.lines) },
      latency: null,
      check: null,
      rateOffered: options.rate,
      notes: [`${bytes(cost)} per operation; server duration_ms p50 ${cost.requestMsP50} ms per request`],
    });
  const rows = [
    row("arch-charge", "cost: new-key charges, fresh account", charge, costs[0] as OperationCost),
    row("arch-replay", "cost: replays of 1 charge", replay, costs[1] as OperationCost),
    row("arch-batch", `cost: ${options.batchSize}-charge batches`, batch, costs[2] as OperationCost, "charges/s"),
  ];
  return { costs, rows };
}

const fixed = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));

/** The cost model's table, one line per operation. */
export function renderCosts(costs: readonly OperationCost[]): string[] {
  const headings = [
    "operation",
    "n",
    "rows read",
    "rows written",
    "R2 reads",
    "Worker req",
    "object calls",
    "ms/req p50",
    "ms/op",
    "CPU us/op",
    "bytes/op",
  ];
  const lines = costs.map((c) => [
    c.operation,
    c.count.toLocaleString("en-US"),
    fixed(c.rowsRead, 2),
    fixed(c.rowsWritten, 2),
    fixed(c.archiveReads, 2),
    fixed(c.workerRequests, 3),
    fixed(c.objectCalls, 3),
    fixed(c.requestMsP50, 0),
    fixed(c.msPerOperation, 3),
    fixed(c.cpuUsPerOp, 0),
    c.databaseBytesPerOp === null ? "-" : fixed(c.databaseBytesPerOp, 0),
  ]);
  const widths = headings.map((h, i) => Math.max(h.length, ...lines.map((cells) => (cells[i] ?? "").length)));
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const out = [render(headings), render(widths.map((w) => "-".repeat(w))), ...lines.map(render)];
  for (const c of costs) {
    const tables = Object.entries(c.tableBytesPerOp)
      .filter(([, bytes]) => Math.abs(bytes) >= 0.05)
      .map(([name, bytes]) => `${name} ${bytes.toFixed(1)}`);
    if (tables.length > 0) out.push(`  ${c.operation}: dbstat bytes/op by table: ${tables.join(", ")}`);
  }
  return out;
}
