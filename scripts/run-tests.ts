/**
 * Runs Vitest and ends with one plain line, `tests: N passed, N failed`,
 * read from Vitest's own JSON report, for CI and humans alike.
 * Extra arguments go to Vitest (e.g. a file filter).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "onceledger-tests-"));
const reportPath = join(dir, "report.json");
const run = spawnSync(
  "vitest",
  ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${reportPath}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);

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
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
