/**
 * `npm run settings`: the Worker's settings, checked and edited before they
 * reach a deployment (docs/operations.md, "Settings" and "API keys").
 *
 *   npm run settings -- check [--file PATH] [--production]
 *   npm run settings -- keys add <tenant> [--file PATH] [--env NAME] [--dry-run]
 *   npm run settings -- keys rotate <key id> [--file PATH] [--env NAME] [--dry-run]
 *   npm run settings -- keys revoke <key id> [--file PATH] [--env NAME] [--dry-run]
 *
 * PATH is a file in `.dev.vars` form (NAME=value lines); without --file the
 * values come from the environment. Exits 0 when all is well, 1 on a bad
 * setting, a refused edit or a failed `wrangler secret put`, 2 on bad
 * arguments.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { checkSettings, formatProblem, type SettingsSource } from "./settings/check.ts";
import { devVarValues, parseDevVars, withDevVar, type DevVarsFile } from "./settings/dev-vars.ts";
import { describeKeyEdit, editApiKeys, secretPutArgs, type KeyEdit } from "./settings/key-edits.ts";
import { environmentNames, ROOT, wranglerCli } from "./settings/wrangler-cli.ts";

const USAGE = `Usage:
  npm run settings -- check [--file PATH] [--production]
      Checks every setting the Worker reads with the Worker's own parsers.
      --production: the values are a deployed Worker's (production or staging):
      refuses ALLOW_DEV_KEY=true and the development key's digest.
  npm run settings -- keys add <tenant> [--file PATH] [--env NAME] [--dry-run]
  npm run settings -- keys rotate <key id> [--file PATH] [--env NAME] [--dry-run]
  npm run settings -- keys revoke <key id> [--file PATH] [--env NAME] [--dry-run]
      Edits API_KEYS: add mints a key for a tenant, rotate mints one beside the
      key with that id (both valid until you revoke the old one), revoke
      removes it. The result is checked, then stored with
      \`wrangler secret put API_KEYS\` in production or --env NAME (and written to
      PATH when given); --dry-run prints the command instead of running it.

--file PATH: a file in .dev.vars form (NAME=value lines), read as Wrangler
reads .dev.vars; without it, the values come from the environment.`;

function usage(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseCommandLine>;
function parseCommandLine() {
  return parseArgs({
    args: process.argv.slice(2),
    options: {
      file: { type: "string" },
      production: { type: "boolean" },
      env: { type: "string" },
      "dry-run": { type: "boolean" },
      help: { type: "boolean" },
    },
    allowPositionals: true,
    strict: true,
  });
}
try {
  parsed = parseCommandLine();
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
const { values: flags, positionals } = parsed;
if (flags.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

/** The file, parsed; with `mayBeNew`, a file that does not exist yet reads as empty (a first key creates it). */
function readSettingsFile(path: string, mayBeNew = false): DevVarsFile {
  try {
    return parseDevVars(readFileSync(path, "utf8"));
  } catch (error) {
    if (mayBeNew && (error as NodeJS.ErrnoException).code === "ENOENT") return parseDevVars("");
    process.stderr.write(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

const [command, ...rest] = positionals;
if (command === "check") {
  if (rest.length > 0) usage(`check takes no arguments, got ${rest.join(" ")}`);
  if (flags.env !== undefined || flags["dry-run"] === true) usage("--env and --dry-run are for keys");
  const source: SettingsSource =
    flags.file === undefined
      ? { kind: "environment", env: process.env }
      : { kind: "file", path: flags.file, file: readSettingsFile(flags.file) };
  const production = flags.production === true;
  const { problems, summary } = checkSettings(source, { production });
  const from = source.kind === "file" ? source.path : "the environment";
  const rules = production ? "a deployed Worker's" : "local";
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`settings check: ${formatProblem(problem)}\n`);
    process.stderr.write(`settings check: ${from} FAILED (${rules} rules): ${problems.length} problem(s)\n`);
    process.exit(1);
  }
  for (const [name, what] of summary) process.stdout.write(`  ${name}: ${what}\n`);
  process.stdout.write(`settings check: ${from} OK (${rules} rules)\n`);
} else if (command === "keys") {
  await editKeys(rest);
} else {
  usage(command === undefined ? "name a command: check or keys" : `unknown command ${command}`);
}

async function editKeys(args: readonly string[]): Promise<void> {
  const [action, subject, ...extra] = args;
  if (flags.production === true) usage("--production is for check");
  if (subject === undefined || extra.length > 0) usage("keys takes an action and one tenant or key id");
  let edit: KeyEdit;
  if (action === "add") edit = { kind: "add", tenant: subject };
  else if (action === "rotate" || action === "revoke") edit = { kind: action, keyId: subject };
  else usage(`unknown keys action ${String(action)}: add, rotate or revoke`);

  const environment = flags.env ?? "";
  if (environment !== "") {
    const known = await environmentNames();
    if (!known.includes(environment)) {
      usage(
        `wrangler.toml has no environment ${environment} (it has: production, the top level${known.map((name) => `, ${name}`).join("")})`,
      );
    }
  }
  const file = flags.file === undefined ? null : readSettingsFile(flags.file, edit.kind === "add");
  const current = file === null ? process.env.API_KEYS : devVarValues(file).get("API_KEYS")?.value;
  const result = editApiKeys(current, edit);
  if (!result.ok) {
    process.stderr.write(`settings keys: ${result.error}\n`);
    process.exit(1);
  }
  const target = { environment, file: flags.file ?? null, dryRun: flags["dry-run"] === true };
  if (target.dryRun) {
    process.stdout.write(describeKeyEdit(result.value, target));
    return;
  }
  // Stored in the deployment first: a key is shown only once it works there.
  const put = spawnSync(process.execPath, [wranglerCli(), ...secretPutArgs(environment)], {
    cwd: ROOT,
    input: result.value.value,
    stdio: ["pipe", "inherit", "inherit"],
  });
  if (put.status !== 0) {
    process.stderr.write(
      `settings keys: wrangler secret put failed (${put.error?.message ?? `exit ${String(put.status ?? put.signal)}`}): the new key is discarded${flags.file === undefined ? "" : ` and ${flags.file} is unchanged`}\n`,
    );
    process.exit(1);
  }
  if (file !== null && flags.file !== undefined) {
    try {
      // Only digests, but the file is the operator's copy of secrets: readable by its owner alone when new.
      writeFileSync(flags.file, withDevVar(file, "API_KEYS", result.value.value), { mode: 0o600 });
    } catch (error) {
      process.stdout.write(describeKeyEdit(result.value, { ...target, file: null }));
      process.stderr.write(
        `settings keys: the secret is stored, but ${flags.file} could not be written (${error instanceof Error ? error.message : String(error)}): put the new value above in it by hand\n`,
      );
      process.exit(1);
    }
  }
  process.stdout.write(describeKeyEdit(result.value, target));
}
