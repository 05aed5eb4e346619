/**
 * `npm run chaos`: proves exactly-once against a running ledger. Opens and
 * funds accounts, sends logical operations through a network that loses
 * answers, duplicates, copies and delays requests, lets the client retry each
 * to a definite outcome, closes periods meanwhile if asked, redelivers
 * decided requests after expiry, then audits the result through the public
 * API. Exits 1 on any violation, 2 on bad arguments or a failed setup.
 *
 *   npm run chaos                                   # starts its own wrangler dev
 *   npm run chaos -- --operations 500 --accounts 10 # a short run
 *   npm run chaos -- --close-every 500              # closes periods while the money moves
 *   npm run chaos -- --url https://ledger.example.com --key olk_... --json report.json
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createLedgerClient, type RetryPolicy } from "../src/client/onceledger-client.ts";
import { audit } from "./chaos/audit.ts";
import { createHoldClient } from "./chaos/hold-client.ts";
import { EXPIRY_GRACE_MS } from "./chaos/hold-checks.ts";
import { totalViolations, violationRecorder } from "./chaos/checks.ts";
import { crashSchedule } from "./chaos/crashes.ts";
import { faultyNetwork } from "./chaos/faulty-network.ts";
import type { LogicalOp } from "./chaos/model.ts";
import { localPruneState } from "./chaos/object-state.ts";
import { ArchiveTimeline, closeSchedule, waitForArchived } from "./chaos/periods.ts";
import { progressBar } from "./chaos/progress.ts";
import { lateRedeliveries, redeliverAfterExpiry } from "./chaos/redeliver.ts";
import { seededRandom } from "./chaos/random.ts";
import { renderReport, retries, summarize, type ChaosReport } from "./chaos/report.ts";
import { waitForTransfers } from "./chaos/transfers.ts";
import { newWorkload, openAccounts, runOperations, SHORT_EXPIRES_IN_SECONDS } from "./chaos/workload.ts";
import { DEV_API_KEY, startDevServer, type DevServer } from "./lib/dev-server.ts";
import { integer, readFlags, share, usage, type FlagSpec } from "./lib/flags.ts";
import type { LocalArchive } from "./verify/local-r2.ts";

const RETRY: Partial<RetryPolicy> = {
  maxAttempts: 10,
  baseDelayMs: 20,
  maxDelayMs: 1_000,
  maxElapsedMs: 60_000,
  attemptTimeoutMs: 2_000,
};
/** A stalled answer arrives after the client has given up on the attempt and retried. */
const STALL_MS = 2_500;
/** A crash waits for this many requests in flight, so it catches work half-done. */
const MIN_IN_FLIGHT_AT_CRASH = 16;

const FLAGS = {
  url: { kind: "string", help: "ledger to test (default: start wrangler dev on a free loopback port)" },
  key: { kind: "string", help: "API key for --url (or ONCELEDGER_API_KEY)" },
  accounts: integer(200, 1, 10_000, "accounts to open and fund"),
  operations: integer(20_000, 1, 1_000_000, "logical operations after funding"),
  concurrency: integer(32, 1, 512, "operations in flight"),
  refuse: share(0.05, 0, 0.9, "share of requests lost before reaching the server"),
  // A drop share of 1 would never let an operation finish.
  drop: share(0.2, 0, 0.9, "share of answers lost after the server answered"),
  duplicate: share(0.1, 0, 1, "share of requests delivered twice"),
  concurrent: share(0.1, 0, 1, "share of requests sent as 2-3 simultaneous copies"),
  delay: share(0.1, 0, 1, "share of requests held back before sending"),
  "max-delay-ms": integer(50, 0, 10_000, "longest hold-back or duplicate lag"),
  stall: share(
    0.005,
    0,
    1,
    `share of answers held ${STALL_MS} ms, past the client's ${RETRY.attemptTimeoutMs} ms attempt timeout`,
  ),
  lookups: share(0.1, 0, 1, "share of operations checked through the key-lookup endpoint"),
  holds: share(0.2, 0, 1, "share of operations on holds: placing one, capturing (whole or part) or voiding one"),
  transfers: share(0.1, 0, 1, "share of operations that are transfers between the run's accounts"),
  "expiring-holds": share(
    0.2,
    0,
    1,
    `share of placed holds given expires_in ${SHORT_EXPIRES_IN_SECONDS} s and left to expire (the audit waits for them)`,
  ),
  "ghost-transfers": share(0.1, 0, 1, "share of transfers sent to an account never opened (voided, account_not_found)"),
  "transfer-timeout-seconds": integer(
    180,
    1,
    3_600,
    "after the run (its last crash and restart), wait at most this long for every transfer to leave pending",
  ),
  crashes: integer(
    5,
    0,
    100,
    "times the local server's whole process group is killed (kill -9) mid-run and restarted on its state",
  ),
  "ttl-seconds": integer(
    60,
    60,
    2_592_000,
    "the local server's IDEMPOTENCY_TTL_SECONDS, so records expire during the run",
  ),
  "redeliver-after-seconds": integer(
    65,
    0,
    86_400,
    "wait this long after the run, then redeliver every declined operation (0: do not); past the target's TTL",
  ),
  "redeliver-applied": share(
    0.1,
    0,
    1,
    "share of applied operations redelivered with the declined ones (those a later close put in a period always are)",
  ),
  "late-redeliveries": share(
    0.05,
    0,
    1,
    "share of finished operations followed, during the run, by the redelivery of a request decided over --redeliver-after-seconds ago",
  ),
  "close-every": integer(
    0,
    0,
    1_000_000,
    "close the open period of a random account every N finished operations, counted over the whole run (0: never)",
  ),
  "archive-timeout-seconds": integer(
    120,
    1,
    3_600,
    "after the run, wait at most this long for every closed period to be archived",
  ),
  "untimed-keys": share(
    0.2,
    0,
    1,
    "share of operations whose Idempotency-Key carries no true time (UUIDv4, or UUIDv7 an hour ahead or two days behind)",
  ),
  seed: integer(0, 0, 2 ** 32 - 1, "seed of the workload's and the faults' random choices (default: random)"),
  json: { kind: "string", help: "also write the report as JSON to this file" },
} as const satisfies Record<string, FlagSpec>;

const settings = readSettings();
let server: DevServer | null = null;
try {
  let target = settings.url;
  let apiKey = settings.key;
  if (target === undefined) {
    process.stderr.write("starting wrangler dev...\n");
    server = await startDevServer("chaos", {
      vars: { IDEMPOTENCY_TTL_SECONDS: String(settings.ttlSeconds) },
    });
    target = server.baseUrl;
    apiKey = DEV_API_KEY;
  }
  const report = await run(target, apiKey ?? "");
  process.stdout.write(`${renderReport(report)}\n`);
  if (settings.json !== undefined) writeFileSync(settings.json, `${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = report.passed ? 0 : 1;
} catch (error) {
  process.stderr.write(
    `chaos run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 2;
} finally {
  server?.stop();
}

async function run(target: string, apiKey: string): Promise<ChaosReport> {
  const random = seededRandom(settings.seed);
  const crashes = crashSchedule(server, (url, init) => fetch(url, init), {
    crashes: server === null ? 0 : settings.crashes,
    operations: settings.operations,
    minInFlight: MIN_IN_FLIGHT_AT_CRASH,
    log: (line) => process.stderr.write(`\n${line}\n`),
  });
  const network = faultyNetwork(crashes.fetch, settings.faults, random);
  const client = createLedgerClient({ baseUrl: target, apiKey, fetch: network.fetch, retry: RETRY });
  const cleanClient = createLedgerClient({ baseUrl: target, apiKey, retry: RETRY });
  const holdClient = createHoldClient({ baseUrl: target, apiKey, fetch: network.fetch, retry: RETRY });
  const cleanHolds = createHoldClient({ baseUrl: target, apiKey, retry: RETRY });
  const senders = { client, holdClient, cleanHolds };
  const cleanSenders = { client: cleanClient, holdClient: cleanHolds, cleanHolds };
  const runId = `${Date.now().toString(36)}${settings.seed.toString(36)}`;
  const accounts = Array.from({ length: settings.accounts }, (_, i) => `chaos_${runId}_${i}`);
  // Transfers go to it; it is never opened.
  const ghost = `chaos_${runId}_never_opened`;
  const workload = newWorkload();
  const { violations, flag } = violationRecorder();

  const startedMs = performance.now();
  await openAccounts(client, workload, accounts, settings.concurrency);
  const closes = closeSchedule(client, { every: settings.closeEvery, accounts, random });
  // A key a close put in a period has left the object once the redelivery wait (past the TTL) has passed since that close.
  const windowMs = settings.redeliverAfterSeconds > 0 ? settings.redeliverAfterSeconds * 1000 : Infinity;
  // Locally the objects' own files say when a period's rows have left; elsewhere the times do.
  const pruneState = server === null ? null : localPruneState(server.stateDir);
  const timeline = new ArchiveTimeline(
    closes.closes,
    windowMs,
    pruneState === null ? null : (account, periodId) => pruneState.pruned(account, periodId),
  );
  const late = lateRedeliveries(senders, workload.ops, closes.closes, {
    share: settings.redeliverAfterSeconds > 0 ? settings.lateRedeliveries : 0,
    ageMs: windowMs,
    random,
    flag,
    timeline,
  });
  const bar = progressBar(settings.operations, "operations", () => {
    const { dropped, duplicated, concurrentCopies } = network.counts;
    const periods = settings.closeEvery === 0 ? "" : ` closes ${closes.stats.asked}`;
    return `dropped ${dropped} duplicated ${duplicated} copies ${concurrentCopies}${periods} late ${late.counts.sent}`;
  });
  await runOperations(client, holdClient, workload, {
    accounts,
    count: settings.operations,
    concurrency: settings.concurrency,
    random,
    untimedKeys: settings.untimedKeys,
    mix: { ...settings.mix, ghost },
    cleanHolds,
    archived: (charge) => timeline.archivedAt(charge, Date.now()),
    onDone: () => {
      bar.tick();
      crashes.tick(workload.stats.done);
      closes.tick(workload.stats.done);
      late.tick();
    },
  });
  await closes.settle();
  await late.settle();
  await crashes.settle();
  await network.settle();
  bar.finish();
  const seconds = (performance.now() - startedMs) / 1000;

  // The crashes are over: every transfer must now leave pending within the bound.
  process.stderr.write(
    `waiting for every transfer to leave pending (at most ${settings.transferTimeoutSeconds} s)...\n`,
  );
  const transfers = await waitForTransfers(cleanHolds, workload.ops, {
    timeoutMs: settings.transferTimeoutSeconds * 1000,
    concurrency: settings.concurrency,
  });

  const closed = closes.closes.filter((close) => close.outcome?.kind === "closed").map((close) => close.account);
  const prunedWhenRunEnded = pruneState?.count(closed) ?? null;
  let quiescence = null;
  if (closes.stats.closed > 0) {
    process.stderr.write("waiting for every closed period to be archived...\n");
    quiescence = await waitForArchived(cleanClient, closed, {
      timeoutMs: settings.archiveTimeoutSeconds * 1000,
      concurrency: settings.concurrency,
    });
  }

  let redelivered = { operations: 0, declines: 0, closes: 0, archivedKeys: 0 };
  let prunedBeforeRedelivery = null;
  if (settings.redeliverAfterSeconds > 0) {
    process.stderr.write(`waiting ${settings.redeliverAfterSeconds} s for every stored response to expire...\n`);
    await new Promise((resolve) => setTimeout(resolve, settings.redeliverAfterSeconds * 1000));
    prunedBeforeRedelivery = pruneState?.count(closed) ?? null;
    process.stderr.write("redelivering decided operations and closes after expiry...\n");
    redelivered = await redeliverAfterExpiry(cleanSenders, workload.ops, closes.closes, {
      appliedShare: settings.redeliverApplied,
      concurrency: settings.concurrency,
      random,
      flag,
      timeline,
    });
  }

  // Every hold left to expire has expired, its alarm with it, before the audit reads the holds.
  const lastExpiryMs = Math.max(
    0,
    ...workload.ops.filter((op) => op.leftToExpire === true).map((op) => op.expiresMs ?? 0),
  );
  const expiryWaitMs = lastExpiryMs + EXPIRY_GRACE_MS - Date.now();
  if (expiryWaitMs > 0) {
    process.stderr.write(`waiting ${Math.ceil(expiryWaitMs / 1000)} s for the last hold left to expire...\n`);
    await new Promise((resolve) => setTimeout(resolve, expiryWaitMs));
  }

  // Locally the archive bucket is read too, as npm run verify -- --r2 reads it: every object's size and digest.
  const archive = server !== null && closes.stats.closed > 0 ? await openArchive(server.stateDir) : null;
  process.stderr.write("auditing...\n");
  const result = await audit(cleanClient, {
    ledger: { baseUrl: target, apiKey },
    readObject: archive?.read,
    accounts,
    ops: workload.ops,
    closes: closes.closes,
    timeline,
    observations: network.observations,
    unanswered: network.unanswered,
    lookupShare: settings.lookups,
    concurrency: settings.concurrency,
    random,
    recorder: { violations, flag },
    holds: cleanHolds,
    ghost,
    ...(pruneState === null
      ? {}
      : { explainPending: (account: string, id: string) => pruneState.transfer(account, id) }),
  }).finally(() => archive?.close());
  const { requests: sentToServer, ...faults } = network.counts;
  return {
    target,
    seed: settings.seed,
    settings: {
      accounts: settings.accounts,
      operations: settings.operations,
      concurrency: settings.concurrency,
      closeEvery: settings.closeEvery,
      untimedKeys: settings.untimedKeys,
      lateRedeliveries: settings.lateRedeliveries,
      ...settings.mix,
      ...settings.faults,
    },
    transfers: transfers.quiescence,
    operations: summarize(workload.ops),
    requests: {
      sentToServer,
      clientAttempts: workload.stats.attempts,
      retries: retries(workload.stats, workload.ops.length),
      replayedAnswers: workload.stats.replayedAnswers,
    },
    faults: { ...faults, crashes: crashes.kills() },
    keyShapes: workload.stats.keyShapes,
    redelivered,
    lateRedelivered: late.counts,
    periods: {
      closes: closes.stats,
      quiescence,
      pruned: {
        judgedBy: timeline.judgedBy,
        whenRunEnded: prunedWhenRunEnded,
        beforeRedelivery: prunedBeforeRedelivery,
      },
      refundsOfArchivedCharges: refundsOfArchivedCharges(workload.ops),
      log: closes.closes.map((close) => ({
        account: close.account,
        key: close.key,
        outcome: close.outcome?.kind ?? "none",
        period: close.outcome?.kind === "closed" ? (close.outcome.period?.id ?? null) : null,
        sentMs: close.sentMs,
        answeredMs: close.answeredMs,
      })),
    },
    expiredAnswers: workload.stats.expiredAnswers,
    throughput: {
      seconds,
      operationsPerSecond: Math.round(workload.ops.length / seconds),
      requestsPerSecond: Math.round(sentToServer / seconds),
    },
    audit: result,
    passed: totalViolations(result.violations) === 0,
  };
}

/** The local server's archive bucket, read through Wrangler as npm run verify -- --r2 does. */
async function openArchive(stateDir: string): Promise<LocalArchive> {
  // Loaded only here: Wrangler takes seconds to load.
  const { openLocalArchive } = await import("./verify/local-r2.ts");
  const opened = await openLocalArchive({
    r2: stateDir,
    binding: "ARCHIVE",
    configPath: fileURLToPath(new URL("../wrangler.toml", import.meta.url)),
  });
  if (!opened.ok) throw new Error(`reading the local archive bucket: ${opened.error}`);
  return opened.value;
}

/** Refunds sent once the charge they name had left the object for the archive, and how many of them were applied. */
function refundsOfArchivedCharges(ops: readonly LogicalOp[]) {
  const refunds = ops.filter((op) => op.namesArchivedCharge === true);
  return { sent: refunds.length, applied: refunds.filter((op) => op.outcome?.kind === "applied").length };
}

function readSettings() {
  const usageLine =
    "Usage: npm run chaos -- [options]   (a seed narrows a failure down; timing still differs between runs)";
  const flags = readFlags(usageLine, FLAGS);
  const seedGiven = process.argv.some((arg) => arg === "--seed" || arg.startsWith("--seed="));
  const key = flags.key ?? process.env.ONCELEDGER_API_KEY;
  if (flags.url !== undefined && key === undefined) usage("--url needs --key (or ONCELEDGER_API_KEY)", usageLine);
  if (flags.url === undefined && flags.key !== undefined) {
    usage("--key is for a --url target; a local run uses the dev key", usageLine);
  }
  const redeliverAfter = flags["redeliver-after-seconds"];
  if (flags.url === undefined && redeliverAfter > 0 && redeliverAfter <= flags["ttl-seconds"]) {
    usage(
      `--redeliver-after-seconds (${redeliverAfter}) must be past --ttl-seconds (${flags["ttl-seconds"]}), or 0`,
      usageLine,
    );
  }
  if (flags.holds + flags.transfers > 1) {
    usage(
      `--holds (${flags.holds}) and --transfers (${flags.transfers}) are shares of one mix: at most 1 together`,
      usageLine,
    );
  }
  return {
    url: flags.url,
    key,
    json: flags.json,
    accounts: flags.accounts,
    operations: flags.operations,
    concurrency: flags.concurrency,
    seed: seedGiven ? flags.seed : Math.floor(Math.random() * 2 ** 32),
    lookups: flags.lookups,
    crashes: flags.crashes,
    ttlSeconds: flags["ttl-seconds"],
    redeliverAfterSeconds: flags["redeliver-after-seconds"],
    redeliverApplied: flags["redeliver-applied"],
    lateRedeliveries: flags["late-redeliveries"],
    closeEvery: flags["close-every"],
    archiveTimeoutSeconds: flags["archive-timeout-seconds"],
    untimedKeys: flags["untimed-keys"],
    transferTimeoutSeconds: flags["transfer-timeout-seconds"],
    mix: {
      holds: flags.holds,
      transfers: flags.transfers,
      expiringHolds: flags["expiring-holds"],
      ghostTransfers: flags["ghost-transfers"],
    },
    faults: {
      refuse: flags.refuse,
      drop: flags.drop,
      duplicate: flags.duplicate,
      concurrent: flags.concurrent,
      delay: flags.delay,
      maxDelayMs: flags["max-delay-ms"],
      stall: flags.stall,
      stallMs: STALL_MS,
    },
  };
}
