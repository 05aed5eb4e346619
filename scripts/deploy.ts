/**
 * `npm run deploy`: every check, then `wrangler deploy`, stopping at the
 * first failure (scripts/deploy/steps.ts; docs/operations.md, "Deploy").
 *
 *   npm run deploy -- [--env NAME] [--settings PATH] [--upload] [--tag TAG] [--dry-run]
 *
 * --settings PATH: the deployment's settings in `.dev.vars` form, checked by
 * a deployed Worker's rules (`npm run settings -- check --production`);
 * without it, the local .dev.vars is checked by local rules. --upload ends
 * with `wrangler versions upload` instead of `wrangler deploy`: a new version
 * that takes no traffic until `wrangler versions deploy` gives it some (a
 * gradual deployment). --tag tags the version. --dry-run runs every check
 * and Wrangler's build, uploading nothing. Exits with the failed step's
 * code, 2 on bad arguments.
 */
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { deploySteps, outcomeLine, runSteps, type Step } from "./deploy/steps.ts";
import { environmentNames, ROOT, wranglerCli } from "./settings/wrangler-cli.ts";

const USAGE = "Usage: npm run deploy -- [--env NAME] [--settings PATH] [--upload] [--tag TAG] [--dry-run]";

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: {
  env?: string | undefined;
  settings?: string | undefined;
  upload?: boolean | undefined;
  tag?: string | undefined;
  "dry-run"?: boolean | undefined;
};
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      env: { type: "string" },
      settings: { type: "string" },
      upload: { type: "boolean" },
      tag: { type: "string" },
      "dry-run": { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
const environment = values.env ?? "";
if (environment !== "" && !(await environmentNames()).includes(environment)) {
  usage(`wrangler.toml has no environment ${environment}`);
}
const options = {
  environment,
  settingsFile: values.settings ?? null,
  dryRun: values["dry-run"] === true,
  upload: values.upload === true,
  tag: values.tag ?? null,
};

/** Runs a step with the project's Node (the one running this), its npm, or its Wrangler. */
function run(step: Step): Promise<number> {
  const [command, args] =
    step.program === "npm"
      ? ["npm", step.args]
      : step.program === "wrangler"
        ? [process.execPath, [wranglerCli(), ...step.args]]
        : [process.execPath, step.args];
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: "inherit" });
    child.once("error", (error) => {
      process.stderr.write(`deploy: cannot start ${command}: ${error.message}\n`);
      resolve(127);
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

const outcome = await runSteps(deploySteps(options), run, (line) => process.stdout.write(`${line}\n`));
if (options.settingsFile === null && outcome.ok) {
  process.stdout.write(
    "deploy: note: the settings checked were the local .dev.vars; pass --settings <file> to check the deployment's own\n",
  );
}
const line = outcomeLine(outcome, options);
if (outcome.ok) process.stdout.write(`${line}\n`);
else {
  process.stderr.write(`${line}\n`);
  process.exitCode = outcome.code;
}
