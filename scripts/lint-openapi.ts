/**
 * Lints the OpenAPI document the Worker serves (src/api/openapi.json) as the
 * ecosystem's tools read it: Redocly's recommended rules (redocly.yaml) and
 * Spectral's `spectral:oas` ruleset (.spectral.yaml). Any error, warning or
 * note from either fails it; `npm run check` runs it.
 *
 *   npm run lint:openapi
 *   node scripts/lint-openapi.ts path/to/openapi.json   # another document
 *
 * Redocly runs as its CLI (one bundled package). Spectral runs through its
 * core library with the ruleset .spectral.yaml names, so its CLI's extra
 * weight is not installed; `npx @stoplight/spectral-cli lint
 * src/api/openapi.json` reads .spectral.yaml and reports the same.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import spectralCore, { type RulesetDefinition } from "@stoplight/spectral-core";
import spectralParsers from "@stoplight/spectral-parsers";
import spectralRulesets from "@stoplight/spectral-rulesets";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DOCUMENT = process.argv[2] ?? "src/api/openapi.json";

interface Finding {
  readonly tool: string;
  readonly severity: string;
  readonly rule: string;
  readonly where: string;
  readonly message: string;
}

interface RedoclyReport {
  readonly problems: ReadonlyArray<{
    readonly ruleId: string;
    readonly severity: string;
    readonly message: string;
    readonly location: ReadonlyArray<{ readonly pointer?: string }>;
  }>;
}

function redocly(): Finding[] {
  const cli = createRequire(import.meta.url).resolve("@redocly/cli/bin/cli.js");
  const run = spawnSync(process.execPath, [cli, "lint", "--format=json", DOCUMENT], { cwd: ROOT, encoding: "utf8" });
  let report: RedoclyReport;
  try {
    report = JSON.parse(run.stdout) as RedoclyReport;
  } catch {
    throw new Error(`redocly lint gave no report (exit ${String(run.status)}):\n${run.stdout}${run.stderr}`);
  }
  return report.problems.map((problem) => ({
    tool: "redocly",
    severity: problem.severity,
    rule: problem.ruleId,
    where: problem.location[0]?.pointer ?? "",
    message: problem.message,
  }));
}

const SPECTRAL_SEVERITIES = ["error", "warning", "info", "hint"];

async function spectral(): Promise<Finding[]> {
  const { Spectral, Document } = spectralCore;
  const linter = new Spectral();
  // Declared as its object literal's type, which TypeScript does not match to RulesetDefinition; it is one.
  const oas = spectralRulesets.oas as RulesetDefinition;
  linter.setRuleset({ extends: [[oas, "recommended"]] });
  const text = readFileSync(resolve(ROOT, DOCUMENT), "utf8");
  const results = await linter.run(new Document(text, spectralParsers.Json, DOCUMENT));
  return results.map((result) => ({
    tool: "spectral",
    severity: SPECTRAL_SEVERITIES[result.severity] ?? String(result.severity),
    rule: String(result.code),
    where: `#/${result.path.map((part) => String(part).replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`,
    message: result.message,
  }));
}

const findings = [...redocly(), ...(await spectral())];
for (const finding of findings) {
  console.error(`${finding.tool} ${finding.severity} ${finding.rule} at ${finding.where}: ${finding.message}`);
}
if (findings.length > 0) {
  console.error(
    `${DOCUMENT}: ${findings.length} finding(s); fix the document's source (src/api/openapi.ts, routes.ts, schemas.ts).`,
  );
  process.exit(1);
}
console.log(`${DOCUMENT}: no errors or warnings from Redocly (recommended) or Spectral (spectral:oas).`);
