/**
 * Transfers and holds (flow-load.ts), each a row beside the charges:
 *
 * - tr: transfers one way between two hot accounts (a funded source), a
 *   fresh pair per run; tr-b: transfers between random pairs of
 *   --transfer-accounts accounts. A transfer counts when it is posted, not
 *   when its POST is answered 201 pending: after each run the bench waits
 *   for the server to go quiet (its process tree's CPU time stops growing),
 *   so the window's CPU holds all of a transfer's work (the POST, the
 *   source's alarm delivering the leg, the destination deciding it, the
 *   settlement), then for every pending transfer to post. Throughput is
 *   posted transfers a second, from the server's own times (the first
 *   transfer's `created` to the last one's `resolved`); time to posted is
 *   each transfer's `resolved` less its `created`.
 * - hold: one hot account, each connection placing a hold and capturing it
 *   (two requests); throughput is captured pairs a second.
 *
 * The checks read every transfer back (`GET .../transfers/{id}` must show
 * posted) and every entry of every account touched, and fail on a leg
 * applied twice, a transfer left pending or voided, or money not conserved.
 */
import { CHARGE_AMOUNT, FUNDING, forEachUntil, type Entry, type LedgerApi } from "./api.ts";
import type { CheckResult } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { disturbed, loadNotes, progress } from "./measure.ts";
import { openAccounts } from "./preload.ts";
import { machineBusySeconds, processCpuSeconds, treeCpuSeconds } from "./proc-cpu.ts";
import { sleep } from "./processes.ts";
import { runLoad } from "./load.ts";
import type { Row } from "./report.ts";
import { requestStats, type LogLine } from "./server-log.ts";
import { summarizeLatencies } from "./stats.ts";
import { LOG_LINES } from "../../src/observability/log.ts";
import type { FlowJob, FlowTally, LoadResult } from "./workload.ts";

const CHECK_CONCURRENCY = 16;
const MAX_FAILURES = 20;
/** The server counts as quiet once its CPU time grew by at most this much over QUIET_WINDOW_MS. */
const QUIET_CPU_SECONDS = 0.02;
const QUIET_WINDOW_MS = 500;
const QUIET_POLL_MS = 100;

export interface FlowRun {
  readonly phase: string;
  readonly accounts: readonly string[];
  readonly result: LoadResult;
  readonly tally: FlowTally;
  /** Server CPU from just before the load to the server going quiet after it. */
  readonly serverCpuSeconds: number;
  /** The window's wall time and the CPU the rest of the machine used meanwhile. */
  readonly windowSeconds: number;
  readonly otherCpuSeconds: number;
  /** From the end of the load to the server going quiet, and the server's CPU meanwhile (the alarms' work alone). */
  readonly drainMs: number;
  readonly drainCpuSeconds: number;
  readonly loadEndedMs: number;
  /** Pending transfers (or held funds) left when the server went quiet: their work missed the window. */
  readonly pendingAtQuiet: number;
  /** From the end of the load until no transfer was pending. */
  readonly allPostedMs: number;
  readonly lines: readonly LogLine[];
}

/** Waits until the server's CPU time stops growing (at most `boundMs`): how long that took. */
async function waitQuiet(pid: number | null, boundMs: number): Promise<number> {
  const start = Date.now();
  if (pid === null) {
    await sleep(2000);
    return Date.now() - start;
  }
  const samples: Array<[number, number]> = [[Date.now(), treeCpuSeconds(pid)]];
  while (Date.now() - start < boundMs) {
    await sleep(QUIET_POLL_MS);
    const now = Date.now();
    samples.push([now, treeCpuSeconds(pid)]);
    const old = samples.find(([at]) => now - at <= QUIET_WINDOW_MS) ?? samples[0];
    const last = samples[samples.length - 1];
    if (old !== undefined && last !== undefined && now - old[0] >= QUIET_WINDOW_MS - QUIET_POLL_MS) {
      if (last[1] - old[1] <= QUIET_CPU_SECONDS) return now - start - (now - old[0]);
    }
  }
  return Date.now() - start;
}

/** Accounts holding funds aside (pending transfers, or holds), with what they hold. */
async function heldBy(api: LedgerApi, accounts: readonly string[]): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  await forEachUntil(accounts, CHECK_CONCURRENCY, Number.POSITIVE_INFINITY, async (account) => {
    const answer = await api.call("GET", `/v1/accounts/${account}`);
    const value = (answer.json as { held?: unknown } | null)?.held;
    if (answer.status !== 200 || typeof value !== "number") {
      throw new Error(`GET account ${account}: HTTP ${answer.status}`);
    }
    if (value !== 0) held.set(account, value);
  });
  return held;
}

/** One run of a flow: the load, then (transfers) the wait for the server to go quiet and every transfer to post. */
async function flowRun(
  ctx: BenchContext,
  served: Served,
  job: Omit<FlowJob, "kind" | "target" | "connections" | "seconds">,
  phase: string,
  seconds: number,
  rate?: number,
): Promise<FlowRun> {
  const pid = served.target.serverPid;
  served.server.log.skip();
  const cpuBefore = pid === null ? Number.NaN : treeCpuSeconds(pid);
  const busyBefore = machineBusySeconds();
  const selfBefore = processCpuSeconds(process.pid);
  const started = Date.now();
  const result = await runLoad(ctx.machine.pinning, {
    ...job,
    kind: "flow",
    target: served.target,
    connections: ctx.options.connections,
    seconds,
    ...(rate === undefined ? {} : { rate }),
  });
  const loadEnded = Date.now();
  const cpuAtLoadEnd = pid === null ? Number.NaN : treeCpuSeconds(pid);
  const drainMs = await waitQuiet(pid, ctx.options.transferDrainSeconds * 1000);
  const cpuAtQuiet = pid === null ? Number.NaN : treeCpuSeconds(pid);
  const serverCpuSeconds = cpuAtQuiet - cpuBefore;
  const windowSeconds = (Date.now() - started) / 1000;
  const busy = machineBusySeconds() - busyBefore;
  const self = processCpuSeconds(process.pid) - selfBefore;
  const otherCpuSeconds = Math.max(
    0,
    busy - (Number.isFinite(serverCpuSeconds) ? serverCpuSeconds : 0) - result.loadCpuSeconds - self,
  );
  const lines = served.server.log.readNew();
  const tally = result.flow;
  if (tally === undefined) throw new Error("the flow load returned no tally");
  // Sources of transfers (and the hold account): nothing may stay set aside once every transfer posted.
  const sources = job.flow === "transfer" ? [...new Set(tally.transfers.map((t) => t.from))] : ([] as string[]);
  let pending = sources.length === 0 ? new Map<string, number>() : await heldBy(served.api, sources);
  const pendingAtQuiet = [...pending.values()].reduce((s, v) => s + v, 0) / CHARGE_AMOUNT;
  const deadline = loadEnded + ctx.options.transferDrainSeconds * 1000;
  while (pending.size > 0 && Date.now() < deadline) {
    await sleep(250);
    pending = await heldBy(served.api, [...pending.keys()]);
  }
  const allPostedMs = Date.now() - loadEnded;
  if (pending.size > 0) {
    progress(`${phase}: ${pending.size} accounts still hold pending transfers after ${allPostedMs} ms`);
  }
  return {
    phase,
    accounts: job.accounts,
    result,
    tally,
    serverCpuSeconds,
    windowSeconds,
    otherCpuSeconds,
    drainMs,
    drainCpuSeconds: cpuAtQuiet - cpuAtLoadEnd,
    loadEndedMs: loadEnded,
    pendingAtQuiet,
    allPostedMs: pending.size === 0 ? (pendingAtQuiet === 0 ? drainMs : allPostedMs) : Number.NaN,
    lines,
  };
}

type EntryWithLinks = Entry & { readonly transfer?: string | null; readonly hold?: string | null };

/** Every entry of `account`, page by page, until `deadlineMs`; null if cut off. */
async function allEntries(api: LedgerApi, account: string, deadlineMs: number): Promise<EntryWithLinks[] | null> {
  const entries: EntryWithLinks[] = [];
  let after: string | null = null;
  for (;;) {
    if (Date.now() > deadlineMs) return null;
    const page = await api.entries(account, after);
    entries.push(...page.data);
    const last = page.data[page.data.length - 1];
    if (!page.has_more || last === undefined) return entries;
    after = last.id;
  }
}

/** What every account's entries must be whatever the flow: seq gapless from 1, running balances, one funding credit first. */
function checkEntries(account: string, entries: readonly EntryWithLinks[], fail: (why: string) => void): void {
  let balance = 0;
  entries.forEach((entry, i) => {
    if (entry.seq !== i + 1) fail(`${account}: entry ${entry.id} has seq ${entry.seq}, expected ${i + 1}`);
    balance += entry.amount;
    if (entry.balance_after !== balance) {
      fail(`${account}: entry seq ${entry.seq} balance_after ${entry.balance_after}, running sum ${balance}`);
    }
    if (i === 0 && (entry.type !== "credit" || entry.amount !== FUNDING)) {
      fail(`${account}: first entry is ${entry.type} ${entry.amount}, not the funding credit`);
    }
    if (i > 0 && entry.type === "credit") fail(`${account}: a second credit (seq ${entry.seq})`);
  });
}

interface TransferCheck extends CheckResult {
  /** Server time from each transfer's `created` to its `resolved`, per run (ms). */
  readonly toPostedMs: ReadonlyMap<string, number[]>;
  /** Per run: posted transfers a second, first `created` to last `resolved`. */
  readonly postedRate: ReadonlyMap<string, number>;
  /** Per run: transfers posted after its load ended (while the server drained the backlog). */
  readonly postedAfterLoad: ReadonlyMap<string, number>;
  readonly unknown: number;
}

/**
 * Every transfer answered 201 shows posted (GET), and appears once as
 * `transfer_out` on its source and once as `transfer_in` on its destination;
 * no other leg exists but of transfers whose POST was cut off unanswered (at
 * most that many, each under a key of this run, each posted); every
 * account holds nothing aside, its balance is its running sum, and the
 * balances add up to the funding.
 */
export async function checkTransfers(
  api: LedgerApi,
  ctx: BenchContext,
  runs: readonly FlowRun[],
): Promise<TransferCheck> {
  const started = Date.now();
  const deadline = started + ctx.options.checkSeconds * 1000;
  const failures: string[] = [];
  const fail = (why: string) => {
    if (failures.length < MAX_FAILURES) failures.push(why);
    else if (failures.length === MAX_FAILURES) failures.push("(more failures not listed)");
  };
  let incomplete = false;
  const accounts = [...new Set(runs.flatMap((r) => r.accounts))];
  const known = new Map<string, { from: string; to: string; key: string; run: string }>();
  for (const run of runs) {
    for (const t of run.tally.transfers) {
      const id = `${t.from} ${t.id}`;
      if (known.has(id)) fail(`transfer ${t.id} from ${t.from} answered 201 to two keys`);
      known.set(id, { from: t.from, to: t.to, key: t.key, run: run.phase });
    }
  }
  const unansweredAllowed = runs.reduce((s, r) => s + r.tally.unanswered, 0);

  // 1. Every transfer answered: GET shows posted, with its times.
  const toPostedMs = new Map<string, number[]>();
  const firstCreated = new Map<string, number>();
  const postedAfterLoad = new Map<string, number>();
  const loadEnded = new Map(runs.map((r) => [r.phase, r.loadEndedMs]));
  const lastResolved = new Map<string, number>();
  const states: Record<string, number> = {};
  const transfers = [...known.entries()];
  await forEachUntil(transfers, CHECK_CONCURRENCY, deadline, async ([ref, t]) => {
    const id = ref.slice(t.from.length + 1);
    const answer = await api.call("GET", `/v1/accounts/${t.from}/transfers/${id}`);
    const view = answer.json as { state?: string; created?: string; resolved?: string | null; to?: string } | null;
    const state = answer.status === 200 ? (view?.state ?? "?") : `HTTP ${answer.status}`;
    states[state] = (states[state] ?? 0) + 1;
    if (state !== "posted") {
      fail(`transfer ${id} from ${t.from} is ${state}${state === "pending" ? " (pending left)" : ""}, not posted`);
      return;
    }
    if (view?.to !== t.to) fail(`transfer ${id} goes to ${String(view?.to)}, sent to ${t.to}`);
    const created = Date.parse(view?.created ?? "");
    const resolved = Date.parse(view?.resolved ?? "");
    if (!Number.isFinite(created) || !Number.isFinite(resolved)) {
      fail(`transfer ${id}: posted without created/resolved times`);
      return;
    }
    const list = toPostedMs.get(t.run) ?? [];
    list.push(resolved - created);
    toPostedMs.set(t.run, list);
    firstCreated.set(t.run, Math.min(firstCreated.get(t.run) ?? created, created));
    lastResolved.set(t.run, Math.max(lastResolved.get(t.run) ?? resolved, resolved));
    if (resolved > (loadEnded.get(t.run) ?? Number.POSITIVE_INFINITY)) {
      postedAfterLoad.set(t.run, (postedAfterLoad.get(t.run) ?? 0) + 1);
    }
  });
  const checkedTransfers = Object.values(states).reduce((s, n) => s + n, 0);
  if (checkedTransfers < transfers.length) incomplete = true;

  // 2. Every account's entries: legs once each, running balances, nothing held, conservation.
  const outs = new Map<string, string>(); // "<from> <id>" -> source account (from the transfer_out entry)
  const ins = new Map<string, string>(); // "<from> <id>" -> destination account (from the transfer_in entry)
  let entriesRead = 0;
  let balances = 0;
  let accountsRead = 0;
  await forEachUntil(accounts, CHECK_CONCURRENCY, deadline, async (account) => {
    const state = (await api.account(account)) as { balance: number; entry_count: number; held?: number };
    const entries = await allEntries(api, account, deadline);
    if (entries === null) {
      incomplete = true;
      return;
    }
    accountsRead += 1;
    entriesRead += entries.length;
    balances += state.balance;
    checkEntries(account, entries, fail);
    if (state.held !== 0) fail(`${account}: held ${String(state.held)} after every transfer posted (pending left)`);
    if (state.entry_count !== entries.length) {
      fail(`${account}: entry_count ${state.entry_count}, ${entries.length} entries listed`);
    }
    const last = entries[entries.length - 1];
    if (last !== undefined && last.balance_after !== state.balance) {
      fail(`${account}: balance ${state.balance}, last balance_after ${last.balance_after}`);
    }
    for (const entry of entries.slice(1)) {
      if (entry.type === "transfer_out" || entry.type === "transfer_in") {
        const out = entry.type === "transfer_out";
        if (entry.amount !== (out ? -CHARGE_AMOUNT : CHARGE_AMOUNT)) {
          fail(`${account}: ${entry.type} of ${entry.amount} (seq ${entry.seq})`);
        }
        // The leg's key names its source (`transfer_in <from> <id>`); the settlement's only the transfer.
        const from = out ? account : entry.idempotency_key.split(" ")[1];
        const ref = `${from ?? "?"} ${entry.transfer ?? "?"}`;
        const seen = out ? outs : ins;
        if (seen.has(ref)) fail(`transfer ${ref}: ${entry.type} applied twice (double-applied leg)`);
        seen.set(ref, account);
      } else {
        fail(`${account}: unexpected entry type ${entry.type} (seq ${entry.seq})`);
      }
    }
  });
  if (accountsRead < accounts.length) incomplete = true;
  if (!incomplete && balances !== accounts.length * FUNDING) {
    fail(
      `balances add up to ${balances}, the funding to ${accounts.length * FUNDING}: ${balances - accounts.length * FUNDING} created or lost (conservation broken)`,
    );
  }
  if (!incomplete) {
    for (const [ref, t] of known) {
      if (outs.get(ref) !== t.from) fail(`transfer ${ref}: no transfer_out on ${t.from}`);
      if (ins.get(ref) !== t.to) fail(`transfer ${ref}: no transfer_in on ${t.to} (found on ${String(ins.get(ref))})`);
    }
    for (const ref of ins.keys()) {
      if (!outs.has(ref)) fail(`transfer ${ref}: transfer_in applied, no transfer_out (posted on one side only)`);
    }
  }
  // Legs of transfers no answer told of: POSTs cut off at the end of a run. Each must be posted under a key of this run.
  const unknownRefs = [...outs.keys()].filter((ref) => !known.has(ref));
  if (unknownRefs.length > unansweredAllowed) {
    fail(`${unknownRefs.length} transfers no 201 told of, but only ${unansweredAllowed} POSTs went unanswered`);
  }
  await forEachUntil(unknownRefs, CHECK_CONCURRENCY, deadline, async (ref) => {
    const [from, id] = ref.split(" ");
    const answer = await api.call("GET", `/v1/accounts/${from}/transfers/${id}`);
    const view = answer.json as { state?: string; idempotency_key?: string; to?: string } | null;
    if (view?.state !== "posted") fail(`transfer ${ref} (unanswered POST) is ${String(view?.state)}`);
    if (!(view?.idempotency_key ?? "").startsWith(`${ctx.runId}-`)) {
      fail(`transfer ${ref}: key ${String(view?.idempotency_key)} is none this run sent`);
    }
    if (view?.to !== undefined && ins.get(ref) !== view.to) fail(`transfer ${ref}: no transfer_in on ${view.to}`);
  });
  const postedRate = new Map<string, number>();
  for (const run of runs) {
    const first = firstCreated.get(run.phase);
    const last = lastResolved.get(run.phase);
    if (first !== undefined && last !== undefined && last > first) {
      postedRate.set(run.phase, (toPostedMs.get(run.phase)?.length ?? 0) / ((last - first) / 1000));
    }
  }
  return {
    ok: failures.length === 0,
    incomplete,
    failures,
    accounts: accounts.length,
    accountsSampled: 0,
    entries: entriesRead,
    entriesRead,
    charges: outs.size,
    keysAccepted: known.size,
    keysSent: runs.reduce((s, r) => s + r.tally.sent, 0),
    seconds: (Date.now() - started) / 1000,
    toPostedMs,
    postedRate,
    postedAfterLoad,
    unknown: unknownRefs.length,
  };
}

/** Rows the Worker reported for `route`'s requests and for the alarm runs, per completed operation. */
function flowRows(runs: readonly FlowRun[], route: RegExp, ops: number) {
  const lines = runs.flatMap((r) => r.lines);
  const requests = requestStats(lines, route);
  let alarmRuns = 0;
  let alarmRead = 0;
  let alarmWritten = 0;
  let otherLines = 0;
  const otherSample: string[] = [];
  for (const { json, text } of lines) {
    if (json?.msg === LOG_LINES.alarm) {
      alarmRuns += 1;
      alarmRead += typeof json.rows_read === "number" ? json.rows_read : 0;
      alarmWritten += typeof json.rows_written === "number" ? json.rows_written : 0;
    } else if (json?.msg !== LOG_LINES.request) {
      otherLines += 1;
      if (otherSample.length < 2) otherSample.push(text.slice(0, 300));
    }
  }
  return {
    requests,
    alarmRuns,
    perOp:
      ops === 0
        ? null
        : { read: (requests.rowsRead + alarmRead) / ops, written: (requests.rowsWritten + alarmWritten) / ops },
    requestPerOp: ops === 0 ? null : { read: requests.rowsRead / ops, written: requests.rowsWritten / ops },
    alarmPerOp: ops === 0 ? null : { read: alarmRead / ops, written: alarmWritten / ops },
    otherLines,
    otherSample,
  };
}

function plainCheck(check: TransferCheck): CheckResult {
  const { toPostedMs: _times, postedRate: _rates, postedAfterLoad: _after, unknown: _unknown, ...plain } = check;
  return plain;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const f1 = (n: number) => n.toFixed(1);

function asLoadResult(run: FlowRun): LoadResult {
  // The whole window (load and drain), for the disturbance flag.
  return { ...run.result, seconds: run.windowSeconds, otherCpuSeconds: run.otherCpuSeconds };
}

/** tr and tr-b: a warm-up, --runs closed-loop runs, then an open-loop run at --transfer-rate; all checked at the end. */
export async function transferRow(ctx: BenchContext, served: Served, id: "tr" | "tr-b"): Promise<Row> {
  const { options } = ctx;
  const phases = ["w", ...Array.from({ length: options.runs }, (_, i) => `r${i + 1}`), "lat"];
  const many = id === "tr-b";
  const manyAccounts = Array.from({ length: options.transferAccounts }, (_, i) => ctx.account(id, i));
  const accountsOf = (phase: string) =>
    many ? manyAccounts : [ctx.account(id, `${phase}_from`), ctx.account(id, `${phase}_to`)];
  const all = [...new Set(phases.flatMap(accountsOf))];
  progress(`${id}: opening and funding ${all.length.toLocaleString("en-US")} accounts`);
  await openAccounts(served, all);
  const runs: FlowRun[] = [];
  for (const phase of phases) {
    const seconds = phase === "w" ? options.warmup : phase === "lat" ? options.latencySeconds : options.duration;
    if (seconds <= 0) continue;
    const run = await flowRun(
      ctx,
      served,
      {
        flow: "transfer",
        pairs: many ? "random" : "one-way",
        accounts: accountsOf(phase),
        keyPrefix: ctx.keyPrefix(id, phase),
      },
      phase,
      seconds,
      phase === "lat" ? options.transferRate : undefined,
    );
    runs.push(run);
    if (phase !== "w") {
      progress(
        `${id}: ${phase === "lat" ? `open loop at ${options.transferRate}/s` : `run ${phase}`}: ` +
          `${int(run.result.accepted / run.result.seconds)} accepted/s, ` +
          `${int((run.serverCpuSeconds / Math.max(1, run.result.accepted)) * 1e6)} us CPU/transfer, ` +
          `quiet ${run.drainMs} ms after the load${run.pendingAtQuiet > 0 ? `, ${run.pendingAtQuiet} pending then` : ""}`,
      );
    }
  }
  progress(`${id}: checking ${int(runs.reduce((s, r) => s + r.tally.transfers.length, 0))} transfers`);
  const check = await checkTransfers(served.api, ctx, runs);
  const measured = runs.filter((r) => r.phase !== "w" && r.phase !== "lat");
  const open = runs.find((r) => r.phase === "lat") ?? null;
  const posted = measured.map((r) => check.postedRate.get(r.phase) ?? 0);
  const accepted = measured.reduce((s, r) => s + r.result.accepted, 0);
  const cpu = measured.reduce((s, r) => s + r.serverCpuSeconds, 0);
  const drainCpu = measured.reduce((s, r) => s + r.drainCpuSeconds, 0);
  const postedAfter = measured.reduce((s, r) => s + (check.postedAfterLoad.get(r.phase) ?? 0), 0);
  const toPosted = summarizeLatencies(measured.flatMap((r) => check.toPostedMs.get(r.phase) ?? []));
  const openToPosted = open === null ? null : summarizeLatencies(check.toPostedMs.get(open.phase) ?? []);
  const rows = flowRows(measured, /^POST \/v1\/accounts\/[^/]+\/transfers$/, accepted);
  const acceptRates = measured.map((r) => r.result.accepted / r.result.seconds);
  const answerP = measured.map((r) => r.result.latency).filter((l) => l !== null);
  const drains = measured.map((r) => r.drainMs);
  const allPosted = measured.map((r) => r.allPostedMs);
  const pendingAtQuiet = runs.reduce((s, r) => s + r.pendingAtQuiet, 0);
  const ms = (n: number) => n.toFixed(0);
  const notes = [
    `posted transfers/s per run ${posted.map(int).join(", ")} (first created to last resolved, server clock); ` +
      `POSTs accepted (201 pending) ${acceptRates.map(int).join(", ")}/s, closed loop, ${options.connections} connections; ` +
      `POST answered p50 ${answerP.map((l) => ms(l.p50)).join("/")} ms, p99 ${answerP.map((l) => ms(l.p99)).join("/")} ms`,
    `time to posted (resolved - created) in those runs: p50 ${ms(toPosted.p50)} ms, p99 ${ms(toPosted.p99)} ms, max ${ms(toPosted.max)} ms over ${int(toPosted.count)} transfers; ` +
      `after the load the server went quiet in ${drains.join("/")} ms, every transfer posted at ${allPosted.map((t) => (Number.isFinite(t) ? String(t) : "NOT")).join("/")} ms`,
    ...(open === null || openToPosted === null
      ? []
      : [
          `open loop at ${options.transferRate} transfers/s for ${options.latencySeconds} s: time to posted p50 ${ms(openToPosted.p50)} ms, p99 ${ms(openToPosted.p99)} ms, max ${ms(openToPosted.max)} ms over ${int(openToPosted.count)}; ` +
            `POST answered p50 ${ms(open.result.latency?.p50 ?? Number.NaN)} ms, p99 ${ms(open.result.latency?.p99 ?? Number.NaN)} ms (from its scheduled send)`,
        ]),
    `CPU per transfer ${int((cpu / Math.max(1, accepted)) * 1e6)} us: the server's process tree from the load's start until it went quiet (POST, alarm delivery, destination leg, settlement), over ${int(accepted)} accepted; ` +
      `after the load, with no POST left, ${int(postedAfter)} transfers posted for ${int((drainCpu / Math.max(1, postedAfter)) * 1e6)} us each (the alarm's delivery, the destination's leg and the settlement alone)`,
    `${int(rows.alarmRuns)} alarm runs (${f1((rows.alarmRuns / Math.max(1, accepted)) * 100)} per 100 transfers); rows r/w per transfer: POST ${rows.requestPerOp === null ? "-" : `${f1(rows.requestPerOp.read)} / ${f1(rows.requestPerOp.written)}`}, ` +
      `alarm lines ${rows.alarmPerOp === null ? "-" : `${f1(rows.alarmPerOp.read)} / ${f1(rows.alarmPerOp.written)}`}; ` +
      "the settlement's and the destination leg's rows are in no log line (an alarm line counts its expiry sweep's rows only), so the table's rows leave them out",
    `check: ${int(check.keysAccepted)} transfers GET posted, ${int(check.entriesRead)} entries over ${int(check.accounts)} accounts read whole, ` +
      `${check.unknown} more from POSTs cut off unanswered (posted, under this run's keys), balances conserved`,
    ...(pendingAtQuiet > 0
      ? [
          `${int(pendingAtQuiet)} transfers were still pending when the server went quiet: their work is outside the CPU figure`,
        ]
      : []),
    ...(rows.otherLines > 0
      ? [`the server logged ${int(rows.otherLines)} other lines, e.g. ${rows.otherSample.join(" | ")}`]
      : []),
    ...loadNotes([...measured, ...(open === null ? [] : [open])].map(asLoadResult)),
  ];
  return {
    id,
    title: many
      ? `transfers, random pairs of ${int(manyAccounts.length)} accounts`
      : "transfers, 2 hot accounts one way",
    hop: false,
    shape: null,
    unit: "transfers/s",
    runs: posted,
    latency: openToPosted,
    cpuUsPerOp: Number.isFinite(cpu) && accepted > 0 ? (cpu / accepted) * 1e6 : null,
    rowsPerOp: rows.perOp,
    check: plainCheck(check),
    status: check.ok ? "ok" : "FAILED",
    disturbed: disturbed([...measured, ...(open === null ? [] : [open])].map(asLoadResult)),
    notes,
    detail: {
      acceptedPerSecond: acceptRates,
      postedPerSecond: posted,
      timeToPostedMs: toPosted,
      openLoop:
        open === null ? null : { rate: options.transferRate, timeToPostedMs: openToPosted, post: open.result.latency },
      drainMs: drains,
      allPostedMs: allPosted,
      drainCpuSeconds: measured.map((r) => r.drainCpuSeconds),
      postedAfterLoad: postedAfter,
      pendingAtQuiet,
      serverCpuSeconds: measured.map((r) => r.serverCpuSeconds),
      accepted: measured.map((r) => r.result.accepted),
      alarmRuns: rows.alarmRuns,
      rowsPerTransfer: { total: rows.perOp, post: rows.requestPerOp, alarm: rows.alarmPerOp },
      statuses: runs.map((r) => r.result.statuses),
    },
  };
}

/**
 * Holds placed and captured on one account: every capture answered is one
 * `capture` entry naming a hold placed this run, no hold captured twice,
 * what is held the holds placed and not captured, and the balance the
 * funding less the captures.
 */
export async function checkHolds(api: LedgerApi, ctx: BenchContext, runs: readonly FlowRun[]): Promise<CheckResult> {
  const started = Date.now();
  const deadline = started + ctx.options.checkSeconds * 1000;
  const failures: string[] = [];
  const fail = (why: string) => {
    if (failures.length < MAX_FAILURES) failures.push(why);
  };
  let incomplete = false;
  let entriesRead = 0;
  let captures = 0;
  for (const run of runs) {
    const account = run.accounts[0] as string;
    const state = (await api.account(account)) as { balance: number; entry_count: number; held?: number };
    const entries = await allEntries(api, account, deadline);
    if (entries === null) {
      incomplete = true;
      continue;
    }
    entriesRead += entries.length;
    checkEntries(account, entries, fail);
    const placed = new Set(run.tally.holdsPlaced);
    const captured = new Set<string>();
    for (const entry of entries.slice(1)) {
      if (entry.type !== "capture") {
        fail(`${account}: unexpected entry type ${entry.type} (seq ${entry.seq})`);
        continue;
      }
      if (entry.amount !== -CHARGE_AMOUNT) fail(`${account}: capture of ${entry.amount} (seq ${entry.seq})`);
      const hold = entry.hold ?? "?";
      if (captured.has(hold)) fail(`${account}: hold ${hold} captured twice (double-applied)`);
      captured.add(hold);
      if (!placed.has(hold) && run.tally.unanswered === 0) fail(`${account}: capture of hold ${hold}, none placed`);
    }
    captures += captured.size;
    for (const c of run.tally.captures) {
      if (!captured.has(c.hold)) fail(`${account}: capture of hold ${c.hold} answered 201, no capture entry`);
    }
    const capturedCount = entries.length - 1;
    if (state.balance !== FUNDING - capturedCount * CHARGE_AMOUNT) {
      fail(
        `${account}: balance ${state.balance}, funding less ${capturedCount} captures is ${FUNDING - capturedCount}`,
      );
    }
    if (state.entry_count !== entries.length)
      fail(`${account}: entry_count ${state.entry_count}, ${entries.length} listed`);
    // Held: the holds placed and not captured; a request cut off at the end may have placed or captured one more.
    const held = (state.held ?? 0) / CHARGE_AMOUNT;
    const uncaptured = [...placed].filter((h) => !captured.has(h)).length;
    if (held < uncaptured || held > uncaptured + run.tally.unanswered) {
      fail(
        `${account}: held ${held}, ${uncaptured} placed holds not captured (${run.tally.unanswered} requests unanswered)`,
      );
    }
  }
  return {
    ok: failures.length === 0,
    incomplete,
    failures,
    accounts: runs.length,
    accountsSampled: 0,
    entries: entriesRead,
    entriesRead,
    charges: captures,
    keysAccepted: runs.reduce((s, r) => s + r.tally.holdsPlaced.length + r.tally.captures.length, 0),
    keysSent: runs.reduce((s, r) => s + r.tally.sent, 0),
    seconds: (Date.now() - started) / 1000,
  };
}

/** hold: place then capture, each a request, on one hot account (a fresh one per run). */
export async function holdRow(ctx: BenchContext, served: Served): Promise<Row> {
  const { options } = ctx;
  const phases = ["w", ...Array.from({ length: options.runs }, (_, i) => `r${i + 1}`)];
  await openAccounts(
    served,
    phases.map((phase) => ctx.account("hold", phase)),
  );
  const runs: FlowRun[] = [];
  for (const phase of phases) {
    const seconds = phase === "w" ? options.warmup : options.duration;
    if (seconds <= 0) continue;
    const run = await flowRun(
      ctx,
      served,
      {
        flow: "hold",
        pairs: "one-way",
        accounts: [ctx.account("hold", phase)],
        keyPrefix: ctx.keyPrefix("hold", phase),
      },
      phase,
      seconds,
    );
    runs.push(run);
    if (phase !== "w") {
      progress(
        `hold: run ${phase}: ${int(run.result.accepted / run.result.seconds)} pairs/s, ` +
          `${int((run.serverCpuSeconds / Math.max(1, run.result.accepted)) * 1e6)} us CPU/pair`,
      );
    }
  }
  const check = await checkHolds(served.api, ctx, runs);
  const measured = runs.filter((r) => r.phase !== "w");
  const pairs = measured.reduce((s, r) => s + r.result.accepted, 0);
  const cpu = measured.reduce((s, r) => s + r.serverCpuSeconds, 0);
  const lines = measured.flatMap((r) => r.lines);
  const place = requestStats(lines, /^POST \/v1\/accounts\/[^/]+\/holds$/);
  const capture = requestStats(lines, /^POST \/v1\/accounts\/[^/]+\/holds\/[^/]+\/captures$/);
  const answerP = measured.map((r) => r.result.latency).filter((l) => l !== null);
  const perPair = (n: number) => (pairs === 0 ? "-" : f1(n / pairs));
  return {
    id: "hold",
    title: "hold then capture, 1 hot account",
    hop: false,
    shape: null,
    unit: "pairs/s",
    runs: measured.map((r) => r.result.accepted / r.result.seconds),
    latency: null,
    cpuUsPerOp: Number.isFinite(cpu) && pairs > 0 ? (cpu / pairs) * 1e6 : null,
    rowsPerOp:
      pairs === 0
        ? null
        : {
            read: (place.rowsRead + capture.rowsRead) / pairs,
            written: (place.rowsWritten + capture.rowsWritten) / pairs,
          },
    check,
    status: check.ok ? "ok" : "FAILED",
    disturbed: disturbed(measured.map(asLoadResult)),
    notes: [
      `a pair is two requests (POST .../holds, then POST .../holds/{hold}/captures), ${options.connections} connections closed loop; ` +
        `requests answered p50 ${answerP.map((l) => l.p50.toFixed(0)).join("/")} ms, p99 ${answerP.map((l) => l.p99.toFixed(0)).join("/")} ms`,
      `CPU ${int((cpu / Math.max(1, pairs)) * 1e6)} us per pair (server process tree, load and any alarm after it); ` +
        `rows r/w per pair: place ${perPair(place.rowsRead)} / ${perPair(place.rowsWritten)}, capture ${perPair(capture.rowsRead)} / ${perPair(capture.rowsWritten)}`,
      ...loadNotes(measured.map(asLoadResult)),
    ],
    detail: {
      pairs,
      serverCpuSeconds: measured.map((r) => r.serverCpuSeconds),
      statuses: measured.map((r) => r.result.statuses),
    },
  };
}

/**
 * The issue's yardstick: server CPU per transfer against per charge in the
 * same run (tr and hold against a, the hot account; tr-b against b, many
 * accounts, when it ran, else a).
 */
export function cpuRatioNote(rows: readonly Row[]): Row[] {
  const cpuOf = (id: string) => {
    const row = rows.find((r) => r.id === id && r.status === "ok");
    return row?.cpuUsPerOp === null || row?.cpuUsPerOp === undefined || row.cpuUsPerOp <= 0 ? null : row.cpuUsPerOp;
  };
  return rows.map((row) => {
    if ((row.id !== "tr" && row.id !== "tr-b" && row.id !== "hold") || row.cpuUsPerOp === null) return row;
    const against = row.id === "tr-b" && cpuOf("b") !== null ? "b" : "a";
    const charge = cpuOf(against);
    if (charge === null) return row;
    const ratio = row.cpuUsPerOp / charge;
    const what = row.id === "hold" ? "pair" : "transfer";
    const target = row.id === "hold" ? "" : " (target: at most about 2.5)";
    return {
      ...row,
      notes: [
        ...row.notes,
        `CPU per ${what} ${int(row.cpuUsPerOp)} us = ${ratio.toFixed(2)} charges' worth (${against}: ${int(charge)} us per charge, same run)${target}`,
      ],
      detail: { ...row.detail, cpuRatioToCharge: ratio, chargeScenario: against, chargeCpuUs: charge },
    };
  });
}
