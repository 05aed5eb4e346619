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
import { parseArgs } from "node:util";
import { createLedgerClient, type RetryPolicy } from "onceledger/client";
import { audit } from "./chaos/audit.ts";
import { totalViolations } from "./chaos/checks.ts";
import { faultyNetwork } from "./chaos/faulty-network.ts";
import { progressBar } from "./chaos/progress.ts";
import { seededRandom } from "./chaos/random.ts";
import { renderReport, retries, summarize, type ChaosReport } from "./chaos/report.ts";
import { newWorkload, openAccounts, runOperations } from "./chaos/workload.ts";
import { DEV_API_KEY, startDevServer, type DevServer } from "./lib/dev-server.ts";

const RETRY: Partial<RetryPolicy> = {
  maxAttempts: 10,
  baseDelayMs: 20,
  maxDelayMs: 1_000,
  maxElapsedMs: 60_000,
  attemptTimeoutMs: 2_000,
};
/** A stalled answer arrives after the client has given up on the attempt and retried. */
const STALL_MS = 2_500;

type Bounds = readonly [number, number];
const INTEGER_FLAGS = {
  accounts: [200, [1, 10_000]],
  operations: [20_000, [1, 1_000_000]],
  concurrency: [32, [1, 512]],
  "max-delay-ms": [50, [0, 10_000]],
  seed: [0, [0, 2 ** 32 - 1]],
} as const satisfies Record<string, readonly [number, Bounds]>;
// A drop share of 1 would never let an operation finish.
const SHARE_FLAGS = {
  refuse: [0.05, [0, 0.9]],
  drop: [0.2, [0, 0.9]],
  duplicate: [0.1, [0, 1]],
  concurrent: [0.1, [0, 1]],
  delay: [0.1, [0, 1]],
  stall: [0.005, [0, 1]],
  lookups: [0.1, [0, 1]],
} as const satisfies Record<string, readonly [number, Bounds]>;

const HELP = `Usage: npm run chaos -- [options]
  --url URL            ledger to test (default: start wrangler dev on a free loopback port)
  --key KEY            API key for --url (or ONCELEDGER_API_KEY)
  --accounts N         accounts to open and fund (${INTEGER_FLAGS.accounts[0]})
  --operations N       logical operations after funding (${INTEGER_FLAGS.operations[0]})
  --concurrency N      operations in flight (${INTEGER_FLAGS.concurrency[0]})
  --refuse SHARE       requests lost before reaching the server (${SHARE_FLAGS.refuse[0]})
  --drop SHARE         answers lost after the server answered (${SHARE_FLAGS.drop[0]})
  --duplicate SHARE    requests delivered twice (${SHARE_FLAGS.duplicate[0]})
  --concurrent SHARE   requests sent as 2-3 simultaneous copies (${SHARE_FLAGS.concurrent[0]})
  --delay SHARE        requests held back before sending (${SHARE_FLAGS.delay[0]})
  --max-delay-ms N     longest hold-back or duplicate lag (${INTEGER_FLAGS["max-delay-ms"][0]})
  --stall SHARE        answers held ${STALL_MS} ms, past the client's ${RETRY.attemptTimeoutMs} ms attempt timeout (${SHARE_FLAGS.stall[0]})
  --lookups SHARE      operations checked through the key-lookup endpoint (${SHARE_FLAGS.lookups[0]})
  --seed N             seed of the workload's and the faults' random choices (default: random;
                       timing still differs between runs, so a seed narrows a failure down, not replays it)
  --json FILE          also write the report as JSON`;

const settings = readSettings();
let server: DevServer | null = null;
try {
  let target = settings.url;
  let apiKey = settings.key;
  if (target === undefined) {
    process.stderr.write("starting wrangler dev...\n");
    server = await startDevServer("chaos");
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
  const network = faultyNetwork((url, init) => fetch(url, init), settings.faults, random);
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
    onDone: () => bar.tick(),
  });
  await network.settle();
  bar.finish();
  const seconds = (performance.now() - startedMs) / 1000;

  process.stderr.write("auditing...\n");
  const result = await audit(cleanClient, {
    accounts,
    ops: workload.ops,
    observations: network.observations,
    unanswered: network.unanswered,
    lookupShare: settings.lookups,
    concurrency: settings.concurrency,
    random,
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
    faults,
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
  const options: Record<string, { type: "string" | "boolean" }> = {
    url: { type: "string" },
    key: { type: "string" },
    json: { type: "string" },
    help: { type: "boolean" },
  };
  for (const name of [...Object.keys(INTEGER_FLAGS), ...Object.keys(SHARE_FLAGS)]) options[name] = { type: "string" };
  let values: ReturnType<typeof parseArgs<{ options: typeof options; strict: true }>>["values"];
  try {
    ({ values } = parseArgs({ options, strict: true }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const text = (name: string) => (typeof values[name] === "string" ? values[name] : undefined);
  const number = (name: string, [fallback, [min, max]]: readonly [number, Bounds], integer: boolean) => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (
      raw.trim() === "" ||
      !Number.isFinite(value) ||
      (integer && !Number.isInteger(value)) ||
      value < min ||
      value > max
    ) {
      usage(`--${name} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, not "${raw}"`);
    }
    return value;
  };
  const integers = Object.fromEntries(
    Object.entries(INTEGER_FLAGS).map(([name, spec]) => [name, number(name, spec, true)]),
  ) as Record<keyof typeof INTEGER_FLAGS, number>;
  const shares = Object.fromEntries(
    Object.entries(SHARE_FLAGS).map(([name, spec]) => [name, number(name, spec, false)]),
  ) as Record<keyof typeof SHARE_FLAGS, number>;

  const url = text("url");
  const key = text("key") ?? process.env.ONCELEDGER_API_KEY;
  if (url !== undefined && key === undefined) usage("--url needs --key (or ONCELEDGER_API_KEY)");
  if (url === undefined && text("key") !== undefined)
    usage("--key is for a --url target; a local run uses the dev key");
  return {
    url,
    key,
    json: text("json"),
    accounts: integers.accounts,
    operations: integers.operations,
    concurrency: integers.concurrency,
    seed: text("seed") === undefined ? Math.floor(Math.random() * 2 ** 32) : integers.seed,
    lookups: shares.lookups,
    faults: {
      refuse: shares.refuse,
      drop: shares.drop,
      duplicate: shares.duplicate,
      concurrent: shares.concurrent,
      delay: shares.delay,
      maxDelayMs: integers["max-delay-ms"],
      stall: shares.stall,
      stallMs: STALL_MS,
    },
  };
}

function usage(message: string): never {
  process.stderr.write(`${message}\n\n${HELP}\n`);
  process.exit(2);
}
