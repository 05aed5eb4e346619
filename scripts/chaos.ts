/**
 * `npm run chaos`: proves exactly-once against a running ledger. Opens and
 * funds accounts, sends logical operations through a network that loses
 * answers, duplicates, copies and delays requests, lets the client retry each
 * to a definite outcome, then audits the result through the public API.
 * Exits 1 on any violation, 2 on bad arguments or a failed setup.
 *
 *   npm run chaos                                   # starts its own wrangler dev
 *   npm run chaos -- --operations 500 --accounts 10 # a short run
 *   npm run chaos -- --url https://ledger.example.com --key olk_... --json report.json
 */
import { writeFileSync } from "node:fs";
import { createLedgerClient, type RetryPolicy } from "../src/client/onceledger-client.ts";
import { audit } from "./chaos/audit.ts";
import { totalViolations, violationRecorder } from "./chaos/checks.ts";
import { crashSchedule } from "./chaos/crashes.ts";
import { faultyNetwork } from "./chaos/faulty-network.ts";
import { progressBar } from "./chaos/progress.ts";
import { redeliverAfterExpiry } from "./chaos/redeliver.ts";
import { seededRandom } from "./chaos/random.ts";
import { renderReport, retries, summarize, type ChaosReport } from "./chaos/report.ts";
import { newWorkload, openAccounts, runOperations } from "./chaos/workload.ts";
import { DEV_API_KEY, startDevServer, type DevServer } from "./lib/dev-server.ts";
import { integer, readFlags, share, usage, type FlagSpec } from "./lib/flags.ts";

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
  "redeliver-applied": share(0.1, 0, 1, "share of applied operations redelivered with the declined ones"),
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
  const runId = `${Date.now().toString(36)}${settings.seed.toString(36)}`;
  const accounts = Array.from({ length: settings.accounts }, (_, i) => `chaos_${runId}_${i}`);
  const workload = newWorkload();

  const startedMs = performance.now();
  await openAccounts(client, workload, accounts, settings.concurrency);
  const bar = progressBar(settings.operations, "operations", () => {
    const { dropped, duplicated, concurrentCopies } = network.counts;
    return `dropped ${dropped} duplicated ${duplicated} copies ${concurrentCopies}`;
  });
  await runOperations(client, workload, {
    accounts,
    count: settings.operations,
    concurrency: settings.concurrency,
    random,
    onDone: () => {
      bar.tick();
      crashes.tick(workload.stats.done);
    },
  });
  await crashes.settle();
  await network.settle();
  bar.finish();
  const seconds = (performance.now() - startedMs) / 1000;

  const { violations, flag } = violationRecorder();
  let redelivered = { operations: 0, declines: 0 };
  if (settings.redeliverAfterSeconds > 0) {
    process.stderr.write(`waiting ${settings.redeliverAfterSeconds} s for every stored response to expire...\n`);
    await new Promise((resolve) => setTimeout(resolve, settings.redeliverAfterSeconds * 1000));
    process.stderr.write("redelivering decided operations after expiry...\n");
    redelivered = await redeliverAfterExpiry(cleanClient, workload.ops, {
      appliedShare: settings.redeliverApplied,
      concurrency: settings.concurrency,
      random,
      flag,
    });
  }

  process.stderr.write("auditing...\n");
  const result = await audit(cleanClient, {
    accounts,
    ops: workload.ops,
    observations: network.observations,
    unanswered: network.unanswered,
    lookupShare: settings.lookups,
    concurrency: settings.concurrency,
    random,
    recorder: { violations, flag },
  });
  const { requests: sentToServer, ...faults } = network.counts;
  return {
    target,
    seed: settings.seed,
    settings: {
      accounts: settings.accounts,
      operations: settings.operations,
      concurrency: settings.concurrency,
      ...settings.faults,
    },
    operations: summarize(workload.ops),
    requests: {
      sentToServer,
      clientAttempts: workload.stats.attempts,
      retries: retries(workload.stats, workload.ops.length),
      replayedAnswers: workload.stats.replayedAnswers,
    },
    faults: { ...faults, crashes: crashes.kills() },
    redelivered,
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
