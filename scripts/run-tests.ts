/**
 * Runs Vitest and ends with one plain line, `tests: N passed, N failed`,
 * read from Vitest's own JSON report, for CI and humans alike. Extra
 * arguments go to Vitest (e.g. a file filter).
 *
 * Output stays readable: console output of passing tests is not shown, and
 * the runtime's expected noise (faults the tests inject on purpose, warnings
 * about the non-ASCII headers the fuzz tests send, notes on alarms the tests
 * move while one is due, one secrets notice per file) is counted and
 * summarised in one line instead of printed, so a real failure stands out.
 * `--verbose-noise` prints everything.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** Lines the runtime prints that the tests cause on purpose, by what they are. */
const EXPECTED_NOISE: ReadonlyArray<readonly [label: string, pattern: RegExp]> = [
  ["secrets notices", /^Using secrets defined in \.dev\.vars/],
  ["injected storage faults", /^uncaught exception;.*injected fault/],
  ["refused schemas", /^uncaught exception;.*UnreadableSchemaError/],
  ["non-ASCII header warnings", /^A header value for ".*" contains non-ASCII characters/],
  [
    "connections the client tests abort",
    /^exception = kj\/async-io\.c\+\+:\d+: disconnected: read end of pipe was aborted/,
  ],
  // The runtime's notes on an alarm that moved while it was due: the rollback test pushes an
  // object's alarm far out while an events alarm is pending, and the fixture test sets alarms
  // to now and runs them by hand while the runtime fires them too. How many depends on timing.
  [
    "alarms the tests move while one is due",
    /^NOSENTRY SQLite alarm (handler canceled with requestScheduledAlarm|overdue, running despite AlarmManager mismatch)/,
  ],
];
/** The stack of a noisy line continues on lines like these. */
const CONTINUATION = /^(\s+at |stack: )/;

const args = process.argv.slice(2);
const verbose = args.includes("--verbose-noise");
const vitestArgs = args.filter((arg) => arg !== "--verbose-noise");

const dir = mkdtempSync(join(tmpdir(), "onceledger-tests-"));
const reportPath = join(dir, "report.json");
const child = spawn(
  "vitest",
  [
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${reportPath}`,
    ...(verbose ? [] : ["--silent=passed-only"]),
    ...vitestArgs,
  ],
  { stdio: ["inherit", "pipe", "pipe"] },
);

const suppressed = new Map<string, number>();
function relay(stream: NodeJS.ReadableStream, out: NodeJS.WriteStream): Promise<void> {
  let dropping = false;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on("line", (line) => {
    if (!verbose) {
      if (dropping && CONTINUATION.test(line)) return;
      const noise = EXPECTED_NOISE.find(([, pattern]) => pattern.test(line));
      dropping = noise !== undefined;
      if (noise !== undefined) {
        suppressed.set(noise[0], (suppressed.get(noise[0]) ?? 0) + 1);
        return;
      }
    }
    out.write(`${line}\n`);
  });
  return new Promise((resolve) => lines.once("close", resolve));
}

const relayed = Promise.all([relay(child.stdout, process.stdout), relay(child.stderr, process.stderr)]);
const status = await new Promise<number | null>((resolve) => child.once("close", resolve));
await relayed;

let passed = 0;
let failed = 0;
try {
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as Record<
    "numTotalTests" | "numPassedTests" | "numPendingTests" | "numTodoTests",
    number
  >;
  passed = report.numPassedTests;
  // Counted this way, the tests of a file whose worker crashed are failures too, not silently missing.
  failed = report.numTotalTests - passed - report.numPendingTests - report.numTodoTests;
} catch {
  console.error("Vitest wrote no JSON report.");
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
if (suppressed.size > 0) {
  const counts = [...suppressed].map(([label, count]) => `${count} ${label}`).join(", ");
  console.log(`expected runtime noise, not shown (--verbose-noise shows it): ${counts}`);
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(status === 0 && failed === 0 && passed > 0 ? 0 : 1);
