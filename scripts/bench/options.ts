/**
 * The benchmark's flags (through scripts/lib/flags.ts) and the sizes that
 * --quick shrinks. A flag given explicitly always wins over --quick.
 */
import { join, resolve } from "node:path";
import { integer, readFlags, usage } from "../lib/flags.ts";

export const SCENARIOS = [
  "a",
  "b",
  "c",
  "d",
  "a100k",
  "r1m",
  "sweep",
  "batch",
  "tr",
  "tr-b",
  "hold",
  "cold",
  "archive",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const ARCHIVE_PARTS = ["cost", "accounts", "close"] as const;
export type ArchivePart = (typeof ARCHIVE_PARTS)[number];

export const SCENARIO_TITLES: Readonly<Record<ScenarioName, string>> = {
  a: "new keys, one hot account",
  b: "new keys over many accounts",
  c: "replays of one stored charge",
  d: "one hot account, 10% duplicates in flight",
  a100k: "a on an account holding 100,000 charges",
  r1m: "charges on an account holding 1,000,000 records",
  sweep: "charges while the expiry alarm sweeps",
  batch: "batches of charges, one hot account",
  tr: "transfers one way between two hot accounts, counted when posted",
  "tr-b": "transfers between random pairs of many accounts, counted when posted",
  hold: "holds placed and captured, one hot account",
  cold: "cold start",
  archive: "periods archived to R2: cost per charge, archived accounts, retries, a large close",
};

const USAGE = `Usage: npm run bench -- [options]

Builds the production bundle (wrangler deploy --dry-run), serves it with
plain workerd, and measures it against the Worker -> Durable Object hop in
the same run. Scenarios: ${SCENARIOS.join(", ")}.
With --quick every size in brackets below applies; a flag given wins.`;

const SPECS = {
  scenarios: { kind: "string", default: SCENARIOS.join(","), help: "comma-separated scenarios to run" },
  quick: { kind: "boolean", help: "every scenario small, for development (about 8 minutes, archive about 4)" },
  warmup: integer(5, 0, 600, "seconds of warm-up load before the measured runs [1]"),
  duration: integer(10, 1, 600, "seconds per measured run [3]"),
  runs: integer(3, 1, 50, "measured runs per scenario; the median is reported [1]"),
  connections: integer(32, 1, 1024, "connections of the closed-loop load"),
  rate: integer(200, 1, 100_000, "open-loop offered rate for latency, requests a second"),
  "latency-seconds": integer(10, 1, 600, "seconds of open-loop load per latency figure [2]"),
  accounts: integer(1000, 2, 100_000, "accounts of scenario b [100]"),
  "dup-every": integer(10, 2, 1000, "scenario d: every Nth request re-sends a recent key"),
  "a100k-records": integer(100_000, 1, 10_000_000, "charges an a100k account holds first [5000]"),
  "r1m-records": integer(1_000_000, 1, 10_000_000, "idempotency records an r1m account holds first [10000]"),
  "r1m-runs": integer(5, 1, 50, "interleaved runs of r1m and of an empty account [2]"),
  "sweep-records": integer(100_000, 1, 10_000_000, "expired records the sweep deletes [5000]"),
  "sweep-ttl": integer(60, 60, 3600, "IDEMPOTENCY_TTL_SECONDS of the sweep's server"),
  "sweep-seconds": integer(120, 5, 3600, "at most this long under load while the alarm sweeps [40]"),
  "preload-seconds": integer(120, 1, 3600, "time bound of each preload [10]"),
  "batch-size": integer(1000, 1, 1000, "operations per batch"),
  "batch-inflight": integer(4, 1, 64, "batches in flight"),
  "transfer-accounts": integer(1000, 2, 100_000, "accounts of scenario tr-b [100]"),
  "transfer-rate": integer(50, 1, 100_000, "tr, tr-b: open-loop transfers a second for time to posted"),
  "transfer-drain-seconds": integer(
    120,
    1,
    3600,
    "tr, tr-b: after each run, at most this long for the server to go quiet and every transfer to post",
  ),
  "cold-starts": integer(5, 1, 50, "fresh workerd processes timed to their first 201 [2]"),
  "archive-periods": integer(1000, 1, 100_000, "archive: periods of the archived account with UUIDv7 keys [20]"),
  "archive-period-charges": integer(1000, 1, 1_000_000, "archive: charges per archived period [200]"),
  "archive-random-periods": integer(
    1000,
    0,
    100_000,
    "archive: periods of the archived account with random keys (its keys go in the filter); 0: none [20]",
  ),
  "archive-build-seconds": integer(900, 5, 7200, "archive: time bound of building each archived account [60]"),
  "archive-wait-seconds": integer(
    600,
    5,
    7200,
    "archive: time bound of waiting for them to be archived and pruned [180]",
  ),
  "archive-ttl": integer(60, 60, 3600, "archive: IDEMPOTENCY_TTL_SECONDS of the archive scenario's server"),
  "archive-runs": integer(3, 1, 50, "archive: interleaved runs, archived account against an empty one [1]"),
  "archive-rate": integer(
    100,
    1,
    100_000,
    "archive: open-loop rate of retries of archived keys, and of charges around the large close, a second",
  ),
  "archive-sequential": integer(
    300,
    0,
    100_000,
    "archive: new keys and retries sent one at a time, for exact R2 reads per request [100]",
  ),
  "archive-retry-keys": integer(5000, 1, 1_000_000, "archive: distinct archived keys retried [500]"),
  "archive-close-entries": integer(100_000, 1, 10_000_000, "archive: entries of the period closed under load [5000]"),
  "archive-close-seconds": integer(240, 5, 3600, "archive: at most this long under load during that close [120]"),
  "archive-parts": {
    kind: "string",
    default: ARCHIVE_PARTS.join(","),
    help: "archive: comma-separated parts to run (cost: cost per operation; accounts: archived accounts, new keys and retries on them; close: the large close)",
  },
  "check-entries": integer(
    20_000,
    100,
    100_000_000,
    "accounts up to this many entries are read whole; larger ones sampled",
  ),
  "check-seconds": integer(240, 5, 3600, "time bound of each scenario's check [60]"),
  json: { kind: "string", help: "write the results here (default bench-results/bench-<time>.json)" },
  project: { kind: "string", help: "project folder to bundle (default: this checkout)" },
  "no-pin": { kind: "boolean", help: "do not pin the server and the load generator to CPUs" },
  keep: { kind: "boolean", help: "keep the temporary folder (bundles, configs, logs, object storage)" },
} as const;

type Numeric = {
  [K in keyof typeof SPECS]: (typeof SPECS)[K] extends { kind: "integer" } ? K : never;
}[keyof typeof SPECS];

const QUICK: Partial<Record<Numeric, number>> = {
  warmup: 1,
  duration: 3,
  runs: 1,
  "latency-seconds": 2,
  accounts: 100,
  "a100k-records": 5000,
  "r1m-records": 10_000,
  "r1m-runs": 2,
  "sweep-records": 5000,
  "sweep-seconds": 40,
  "preload-seconds": 10,
  "cold-starts": 2,
  "transfer-accounts": 100,
  "check-seconds": 60,
  "archive-periods": 20,
  "archive-period-charges": 200,
  "archive-random-periods": 20,
  "archive-build-seconds": 60,
  "archive-wait-seconds": 180,
  "archive-runs": 1,
  "archive-sequential": 100,
  "archive-retry-keys": 500,
  "archive-close-entries": 5000,
  "archive-close-seconds": 120,
};

export interface BenchOptions {
  readonly scenarios: ReadonlySet<ScenarioName>;
  readonly quick: boolean;
  readonly warmup: number;
  readonly duration: number;
  readonly runs: number;
  readonly connections: number;
  readonly rate: number;
  readonly latencySeconds: number;
  readonly accounts: number;
  readonly dupEvery: number;
  readonly a100kRecords: number;
  readonly r1mRecords: number;
  readonly r1mRuns: number;
  readonly sweepRecords: number;
  readonly sweepTtl: number;
  readonly sweepSeconds: number;
  readonly preloadSeconds: number;
  readonly batchSize: number;
  readonly batchInflight: number;
  readonly transferAccounts: number;
  readonly transferRate: number;
  readonly transferDrainSeconds: number;
  readonly coldStarts: number;
  readonly archivePeriods: number;
  readonly archivePeriodCharges: number;
  readonly archiveRandomPeriods: number;
  readonly archiveBuildSeconds: number;
  readonly archiveWaitSeconds: number;
  readonly archiveTtl: number;
  readonly archiveRuns: number;
  readonly archiveRate: number;
  readonly archiveSequential: number;
  readonly archiveRetryKeys: number;
  readonly archiveCloseEntries: number;
  readonly archiveCloseSeconds: number;
  readonly archiveParts: ReadonlySet<ArchivePart>;
  readonly checkEntries: number;
  readonly checkSeconds: number;
  readonly jsonPath: string;
  readonly projectDir: string;
  readonly pin: boolean;
  readonly keep: boolean;
}

/** This checkout's root: scripts/bench/ is two levels below it. */
export const REPO_ROOT = resolve(import.meta.dirname, "..", "..");

export function readBenchOptions(args: readonly string[] = process.argv.slice(2)): BenchOptions {
  const flags = readFlags(USAGE, SPECS, args);
  const given = (name: string) => args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
  const pick = (name: Numeric): number => {
    const quickValue = QUICK[name];
    return flags.quick && quickValue !== undefined && !given(name) ? quickValue : flags[name];
  };
  const scenarios = new Set<ScenarioName>();
  for (const name of flags.scenarios.split(",").map((s) => s.trim())) {
    if (name === "") continue;
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      usage(`unknown scenario "${name}" (known: ${SCENARIOS.join(", ")})`, USAGE);
    }
    scenarios.add(name as ScenarioName);
  }
  if (scenarios.size === 0) usage("--scenarios names none", USAGE);
  const archiveParts = new Set<ArchivePart>();
  for (const name of flags["archive-parts"].split(",").map((s) => s.trim())) {
    if (name === "") continue;
    if (!(ARCHIVE_PARTS as readonly string[]).includes(name)) {
      usage(`unknown archive part "${name}" (known: ${ARCHIVE_PARTS.join(", ")})`, USAGE);
    }
    archiveParts.add(name as ArchivePart);
  }
  if (archiveParts.size === 0) usage("--archive-parts names none", USAGE);
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  return {
    scenarios,
    quick: flags.quick,
    warmup: pick("warmup"),
    duration: pick("duration"),
    runs: pick("runs"),
    connections: pick("connections"),
    rate: pick("rate"),
    latencySeconds: pick("latency-seconds"),
    accounts: pick("accounts"),
    dupEvery: pick("dup-every"),
    a100kRecords: pick("a100k-records"),
    r1mRecords: pick("r1m-records"),
    r1mRuns: pick("r1m-runs"),
    sweepRecords: pick("sweep-records"),
    sweepTtl: pick("sweep-ttl"),
    sweepSeconds: pick("sweep-seconds"),
    preloadSeconds: pick("preload-seconds"),
    batchSize: pick("batch-size"),
    batchInflight: pick("batch-inflight"),
    transferAccounts: pick("transfer-accounts"),
    transferRate: pick("transfer-rate"),
    transferDrainSeconds: pick("transfer-drain-seconds"),
    coldStarts: pick("cold-starts"),
    archivePeriods: pick("archive-periods"),
    archivePeriodCharges: pick("archive-period-charges"),
    archiveRandomPeriods: pick("archive-random-periods"),
    archiveBuildSeconds: pick("archive-build-seconds"),
    archiveWaitSeconds: pick("archive-wait-seconds"),
    archiveTtl: pick("archive-ttl"),
    archiveRuns: pick("archive-runs"),
    archiveRate: pick("archive-rate"),
    archiveSequential: pick("archive-sequential"),
    archiveRetryKeys: pick("archive-retry-keys"),
    archiveCloseEntries: pick("archive-close-entries"),
    archiveCloseSeconds: pick("archive-close-seconds"),
    archiveParts,
    checkEntries: pick("check-entries"),
    checkSeconds: pick("check-seconds"),
    jsonPath: resolve(flags.json ?? join(REPO_ROOT, "bench-results", `bench-${stamp}.json`)),
    projectDir: resolve(flags.project ?? REPO_ROOT),
    pin: !flags["no-pin"],
    keep: flags.keep,
  };
}
