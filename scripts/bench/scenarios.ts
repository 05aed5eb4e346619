/**
 * The scenarios against the real API (and the hop), each a row of the
 * table. Every request is `POST /v1/accounts/{a}/charges` with the bench key,
 * a quoted Idempotency-Key and `{"amount":1,"currency":"USD"}`, on accounts
 * opened and funded first; each scenario ends with its ledger check.
 */
import { checkLedger, Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { buildRow, load, measureClosedLoop, measureLatency, progress, rate } from "./measure.ts";
import { openAccounts, preload, preloadNote } from "./preload.ts";
import type { HopShape, Row } from "./report.ts";
import { countRows, type RowCounts } from "./server-log.ts";
import { median, relativeSpread } from "./stats.ts";
import type { Expectation, LoadResult, Mode, PlanSpec } from "./workload.ts";

const NEW: Expectation = { status: 201, replayed: "false" };

function plan(ctx: BenchContext, id: string, phase: string, accounts: readonly string[], mode: Mode = "new"): PlanSpec {
  return { accounts, mode, keyPrefix: ctx.keyPrefix(id, phase), dupEvery: ctx.options.dupEvery };
}

function check(ctx: BenchContext, served: Served, expected: Expected) {
  return checkLedger(served.api, expected, {
    maxFullEntries: ctx.options.checkEntries,
    seconds: ctx.options.checkSeconds,
  });
}

function manyAccounts(ctx: BenchContext, id: string): string[] {
  return Array.from({ length: ctx.options.accounts }, (_, i) => ctx.account(id, i));
}

/** The yardstick: the same load against the no-op hop, to one object and spread over --accounts objects. */
export async function hopRows(ctx: BenchContext, served: Served, shapes: readonly HopShape[]): Promise<Row[]> {
  const rows: Row[] = [];
  const expect: Expectation = { status: 201, replayed: null };
  for (const shape of shapes) {
    const id = shape === "one" ? "hop" : "hop-b";
    const accounts = shape === "one" ? [ctx.account(id, 1)] : manyAccounts(ctx, id);
    const measured = await measureClosedLoop(ctx, served, null, id, (phase) => plan(ctx, id, phase, accounts), expect);
    const latency = await measureLatency(ctx, served, null, id, plan(ctx, id, "lat", accounts), expect);
    rows.push(
      buildRow({
        id,
        title: `no-op hop, ${shape === "one" ? "1 object" : `${accounts.length.toLocaleString("en-US")} objects`}`,
        hop: true,
        shape,
        measured,
        latency,
        check: null,
        rateOffered: ctx.options.rate,
      }),
    );
  }
  return rows;
}

/** a (new keys) and d (every Nth request re-sends a recent key): one hot account, a fresh one per run. */
export async function hotAccountRow(ctx: BenchContext, served: Served, id: "a" | "d"): Promise<Row> {
  const phases = ["w", ...Array.from({ length: ctx.options.runs }, (_, i) => `r${i + 1}`), "lat"];
  await openAccounts(
    served,
    phases.map((phase) => ctx.account(id, phase)),
  );
  const expected = new Expected();
  const mode: Mode = id === "a" ? "new" : "mix";
  // In d a duplicate is answered 201 either way: replayed, or first if it overtook its original.
  const expect: Expectation = id === "a" ? NEW : { status: 201, replayed: null };
  const planFor = (phase: string) => plan(ctx, id, phase, [ctx.account(id, phase)], mode);
  const measured = await measureClosedLoop(ctx, served, expected, id, planFor, expect);
  const latency = await measureLatency(ctx, served, expected, id, planFor("lat"), expect);
  const title = id === "a" ? "new keys, 1 hot account" : `1 hot account, 1 in ${ctx.options.dupEvery} a recent key`;
  const notes: string[] = [];
  if (id === "d") notes.push(duplicateNote(measured.results));
  return buildRow({
    id,
    title,
    shape: "one",
    measured,
    latency,
    check: await check(ctx, served, expected),
    rateOffered: ctx.options.rate,
    notes,
  });
}

function duplicateNote(results: readonly LoadResult[]): string {
  let sent = 0;
  let accepted = 0;
  for (const r of results) {
    for (const tally of Object.values(r.accounts)) {
      sent += tally.sent;
      accepted += tally.accepted;
    }
  }
  const responses = results.reduce((s, r) => s + r.responses, 0);
  return `${responses.toLocaleString("en-US")} answers for ${sent.toLocaleString("en-US")} new keys (${accepted.toLocaleString("en-US")} accepted): the rest re-sent recent keys`;
}

/** b: new keys spread uniformly over --accounts accounts. */
export async function manyAccountsRow(ctx: BenchContext, served: Served): Promise<Row> {
  const accounts = manyAccounts(ctx, "b");
  progress(`b: opening and funding ${accounts.length.toLocaleString("en-US")} accounts`);
  await openAccounts(served, accounts);
  const expected = new Expected();
  for (const account of accounts) expected.touch(account);
  const measured = await measureClosedLoop(ctx, served, expected, "b", (phase) => plan(ctx, "b", phase, accounts), NEW);
  const latency = await measureLatency(ctx, served, expected, "b", plan(ctx, "b", "lat", accounts), NEW);
  return buildRow({
    id: "b",
    title: `new keys, ${accounts.length.toLocaleString("en-US")} accounts`,
    shape: "many",
    measured,
    latency,
    check: await check(ctx, served, expected),
    rateOffered: ctx.options.rate,
  });
}

/** c: every request replays one stored charge (201, Idempotent-Replayed: true). */
export async function replayRow(ctx: BenchContext, served: Served): Promise<Row> {
  const account = ctx.account("c", 1);
  await openAccounts(served, [account]);
  const expected = new Expected();
  const seedPrefix = ctx.keyPrefix("c", "seed");
  const seedKey = `${seedPrefix}-1`;
  const seed = await served.api.charge(account, seedKey);
  expected.addSingle(account, seedPrefix, seed.status === 201, null);
  if (seed.status !== 201) throw new Error(`the charge to replay was answered ${seed.status}`);
  const replay = (phase: string): PlanSpec => ({ ...plan(ctx, "c", phase, [account], "replay"), replayKey: seedKey });
  const expect: Expectation = { status: 201, replayed: "true" };
  const measured = await measureClosedLoop(ctx, served, expected, "c", replay, expect);
  const latency = await measureLatency(ctx, served, expected, "c", replay("lat"), expect);
  return buildRow({
    id: "c",
    title: "replays of 1 stored charge",
    shape: "one",
    measured,
    latency,
    check: await check(ctx, served, expected),
    rateOffered: ctx.options.rate,
  });
}

export interface HeldAccount {
  readonly account: string;
  readonly expected: Expected;
}

/** a100k: scenario a on one account that already holds --a100k-records charges. */
export async function a100kRow(ctx: BenchContext, served: Served): Promise<{ row: Row; held: HeldAccount }> {
  const account = ctx.account("a100k", 1);
  await openAccounts(served, [account]);
  const expected = new Expected();
  const pre = await preload(
    ctx,
    served,
    expected,
    "a100k",
    account,
    ctx.options.a100kRecords,
    ctx.options.preloadSeconds,
  );
  const planFor = (phase: string) => plan(ctx, "a100k", phase, [account]);
  const measured = await measureClosedLoop(ctx, served, expected, "a100k", planFor, NEW);
  const latency = await measureLatency(ctx, served, expected, "a100k", planFor("lat"), NEW);
  const row = buildRow({
    id: "a100k",
    title: `a, account holding ${pre.holds.toLocaleString("en-US")} charges`,
    shape: "one",
    measured,
    latency,
    check: await check(ctx, served, expected),
    rateOffered: ctx.options.rate,
    notes: [preloadNote(pre)],
    detail: { preload: pre },
  });
  return { row, held: { account, expected } };
}

/**
 * r1m: charges on an account holding --r1m-records idempotency records
 * against an empty account, in interleaved runs (runs here vary 15-20%, so a
 * single pair would say little). Continues the a100k account when there is one.
 */
export async function r1mRows(ctx: BenchContext, served: Served, held: HeldAccount | null): Promise<Row[]> {
  const { options } = ctx;
  const full = held?.account ?? ctx.account("r1m", "full");
  const expected = held?.expected ?? new Expected();
  if (held === null) await openAccounts(served, [full]);
  const pre = await preload(ctx, served, expected, "r1m", full, options.r1mRecords, options.preloadSeconds);
  const emptyPhases = ["w", ...Array.from({ length: options.r1mRuns }, (_, i) => `r${i + 1}`), "lat"];
  await openAccounts(
    served,
    emptyPhases.map((phase) => ctx.account("r1m-empty", phase)),
  );
  const closed = (id: string, phase: string, account: string, seconds: number) =>
    load(
      ctx,
      {
        kind: "closed",
        target: served.target,
        plan: plan(ctx, id, phase, [account]),
        expect: NEW,
        connections: options.connections,
        seconds,
      },
      expected,
    );
  if (options.warmup > 0) {
    await closed("r1m", "w", full, options.warmup);
    await closed("r1m-empty", "w", ctx.account("r1m-empty", "w"), options.warmup);
  }
  const fullRuns: LoadResult[] = [];
  const emptyRuns: LoadResult[] = [];
  const fullLines: RowCounts[] = [];
  const emptyLines: RowCounts[] = [];
  served.server.log.skip();
  for (let run = 1; run <= options.r1mRuns; run++) {
    // Alternate which goes first, so neither always follows the other.
    const order = run % 2 === 1 ? (["empty", "full"] as const) : (["full", "empty"] as const);
    for (const which of order) {
      const result =
        which === "full"
          ? await closed("r1m", `r${run}`, full, options.duration)
          : await closed("r1m-empty", `r${run}`, ctx.account("r1m-empty", `r${run}`), options.duration);
      (which === "full" ? fullRuns : emptyRuns).push(result);
      (which === "full" ? fullLines : emptyLines).push(countRows(served.server.log.readNew()));
      progress(
        `r1m: run ${run}/${options.r1mRuns}, ${which}: ${Math.round(rate(result)).toLocaleString("en-US")} req/s`,
      );
    }
  }
  const fullLatency = await measureLatency(ctx, served, expected, "r1m", plan(ctx, "r1m", "lat", [full]), NEW);
  const emptyLatency = await measureLatency(
    ctx,
    served,
    expected,
    "r1m-empty",
    plan(ctx, "r1m-empty", "lat", [ctx.account("r1m-empty", "lat")]),
    NEW,
  );
  for (const phase of emptyPhases) expected.touch(ctx.account("r1m-empty", phase));
  const result = await check(ctx, served, expected);
  const fullRates = fullRuns.map(rate);
  const emptyRates = emptyRuns.map(rate);
  const ratio = median(fullRates) / median(emptyRates);
  const spreadNote = (rates: number[]) =>
    `median ${Math.round(median(rates)).toLocaleString("en-US")} req/s, runs ${rates.map((r) => Math.round(r).toLocaleString("en-US")).join(", ")} (spread ${(relativeSpread(rates) * 100).toFixed(0)}%)`;
  const rows = [
    buildRow({
      id: "r1m",
      title: `account holding ${pre.holds.toLocaleString("en-US")} records`,
      shape: "one",
      measured: { results: fullRuns, rowCounts: sumCounts(fullLines) },
      latency: fullLatency,
      check: result,
      rateOffered: options.rate,
      notes: [
        preloadNote(pre),
        `${spreadNote(fullRates)}; ${(ratio * 100).toFixed(0)}% of an empty account's median (${options.r1mRuns} interleaved runs each)`,
      ],
      detail: { preload: pre, ratioToEmpty: ratio },
    }),
    buildRow({
      id: "r1m-empty",
      title: "empty accounts, interleaved",
      shape: "one",
      measured: { results: emptyRuns, rowCounts: sumCounts(emptyLines) },
      latency: emptyLatency,
      check: result,
      rateOffered: options.rate,
      notes: [spreadNote(emptyRates)],
    }),
  ];
  return rows;
}

function sumCounts(counts: readonly RowCounts[]): RowCounts {
  const statuses: Record<string, number> = {};
  for (const c of counts) for (const [k, v] of Object.entries(c.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const add = (f: (c: RowCounts) => number) => counts.reduce((sum, c) => sum + f(c), 0);
  return {
    requests: add((c) => c.requests),
    operations: add((c) => c.operations),
    withRows: add((c) => c.withRows),
    operationsWithRows: add((c) => c.operationsWithRows),
    rowsRead: add((c) => c.rowsRead),
    rowsWritten: add((c) => c.rowsWritten),
    statuses,
    otherLines: add((c) => c.otherLines),
    otherSample: counts.flatMap((c) => c.otherSample).slice(0, 5),
  };
}

/** Whether the server has POST /v1/accounts/{a}/batches: one batch of one charge on an account of its own. */
export async function probeBatch(ctx: BenchContext, served: Served): Promise<void> {
  if (ctx.batchAvailable !== null) return;
  const account = ctx.account("probe", 1);
  await openAccounts(served, [account]);
  const answer = await served.api.call("POST", `/v1/accounts/${account}/batches`, {
    operations: [{ type: "charge", idempotency_key: `${ctx.keyPrefix("probe", "b")}-1`, amount: 1, currency: "USD" }],
  });
  const results = (answer.json as { results?: Array<{ status?: unknown }> } | null)?.results;
  ctx.batchAvailable = answer.status === 200 && results?.[0]?.status === 201;
  ctx.batchNote = ctx.batchAvailable
    ? "POST /v1/accounts/{a}/batches answered 200"
    : `POST /v1/accounts/{a}/batches answered ${answer.status}${
        typeof answer.json === "object" && answer.json !== null && "code" in answer.json
          ? ` ${String(answer.json.code)}`
          : ""
      }`;
  progress(`batch endpoint: ${ctx.batchAvailable ? "available" : `not available (${ctx.batchNote})`}`);
}

/** batch: --batch-size new-key charges per batch, --batch-inflight at a time, a fresh account per run. */
export async function batchRow(ctx: BenchContext, served: Served): Promise<Row> {
  const { options } = ctx;
  const title = `${options.batchSize}-charge batches, ${options.batchInflight} in flight`;
  if (ctx.batchAvailable !== true) {
    return {
      id: "batch",
      title,
      hop: false,
      shape: "one",
      unit: "charges/s",
      runs: [],
      latency: null,
      cpuUsPerOp: null,
      rowsPerOp: null,
      check: null,
      status: "not available",
      disturbed: false,
      notes: [`not available: ${ctx.batchNote}`],
      detail: {},
    };
  }
  const phases = ["w", ...Array.from({ length: options.runs }, (_, i) => `r${i + 1}`)];
  await openAccounts(
    served,
    phases.map((phase) => ctx.account("batch", phase)),
  );
  const expected = new Expected();
  const job = (phase: string, seconds: number) =>
    load(
      ctx,
      {
        kind: "batch",
        target: served.target,
        account: ctx.account("batch", phase),
        keyPrefix: ctx.keyPrefix("batch", phase),
        size: options.batchSize,
        inFlight: options.batchInflight,
        seconds,
      },
      expected,
    );
  if (options.warmup > 0) await job("w", options.warmup);
  served.server.log.skip();
  const results: LoadResult[] = [];
  for (let run = 1; run <= options.runs; run++) {
    const result = await job(`r${run}`, options.duration);
    results.push(result);
    progress(`batch: run ${run}/${options.runs}: ${Math.round(rate(result)).toLocaleString("en-US")} charges/s`);
  }
  const rowCounts = countRows(served.server.log.readNew());
  const latencies = results.flatMap((r) => (r.latency === null ? [] : [r.latency]));
  const notes = latencies.map(
    (l, i) => `run ${i + 1}: batch latency p50 ${l.p50.toFixed(0)} ms, p99 ${l.p99.toFixed(0)} ms (closed loop)`,
  );
  return buildRow({
    id: "batch",
    title,
    shape: "one",
    unit: "charges/s",
    measured: { results, rowCounts },
    latency: null,
    check: await check(ctx, served, expected),
    rateOffered: options.rate,
    notes,
  });
}
