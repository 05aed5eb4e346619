/**
 * `npm run backup`: a tenant's accounts as its account objects hold them
 * now, as JSON Lines (scripts/backup/backup-format.ts) for `npm run restore`
 * (docs/operations.md, "Back up and restore an account"): each account's
 * cut, settings history, periods, key decisions, the entries still in its
 * object, every change of its holds, its transfers out and the transfer legs
 * it refused before it was opened. Archived periods stay in R2, where a restore reads them.
 * Writes a file, or with --r2 puts it in the archive's bucket through
 * Wrangler. Exits 1 if the backup failed (leaving no file behind), 2 on bad
 * arguments.
 *
 *   read -rsp 'Tenant key: ' ONCELEDGER_API_KEY && export ONCELEDGER_API_KEY
 *   read -rsp 'Operator key: ' ONCELEDGER_OPERATOR_KEY && export ONCELEDGER_OPERATOR_KEY
 *   npm run backup -- --tenant acme --base-url https://ledger.example.com       # backups/acme.<UTC time>.onceledger-backup.jsonl
 *   npm run backup -- --tenant acme --base-url https://ledger.example.com --r2  # .backups/acme/... in the ARCHIVE bucket
 */
import { execFileSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { BACKUPS_DIR, backupTarget } from "./backup/backup-target.ts";
import { backupTenant } from "./backup/tenant-backup.ts";
import { describeError } from "./lib/describe-error.ts";
import { readFlags, renderHelp, usage, type FlagSpec } from "./lib/flags.ts";
import { wranglerCli } from "./settings/wrangler-cli.ts";

const FLAGS = {
  tenant: { kind: "string", help: "the tenant to back up (required)" },
  account: { kind: "string", help: "only this account (default: every account the tenant lists)" },
  out: {
    kind: "string",
    help: `file to write, which must not exist yet (default: ${BACKUPS_DIR}/<tenant>.<UTC time>.onceledger-backup.jsonl)`,
  },
  r2: {
    kind: "boolean",
    help: "put the backup in an R2 bucket with wrangler r2 object put (as .backups/<tenant>/<file name>), remote unless --local",
  },
  bucket: { kind: "string", default: "ARCHIVE", help: "with --r2: the binding whose bucket takes it" },
  config: { kind: "string", default: "wrangler.toml", help: "with --r2: the Wrangler config that binds it" },
  env: { kind: "string", help: "with --r2: the Wrangler environment, e.g. staging" },
  local: { kind: "boolean", help: "with --r2: wrangler dev's local bucket (.wrangler/state), not the remote one" },
  "base-url": { kind: "string", help: "the ledger's base URL (required, or ONCELEDGER_URL)" },
  "tenant-key": {
    kind: "string",
    help: "an API key of the tenant (required, or ONCELEDGER_API_KEY, better: a flag shows in ps and shell history)",
  },
  "operator-key": {
    kind: "string",
    help: "an operator's key, listed in OPERATOR_KEYS (required, or ONCELEDGER_OPERATOR_KEY)",
  },
} as const satisfies Record<string, FlagSpec>;

const usageLine = [
  "Usage: ONCELEDGER_API_KEY=olk_... ONCELEDGER_OPERATOR_KEY=olk_... npm run backup -- --tenant <id> --base-url <URL> [--out <file> | --r2]",
  "Writes a tenant's accounts (cut, settings history, periods, key decisions, entries still in each object, holds, transfers) as JSON Lines",
  'for npm run restore (docs/operations.md, "Back up and restore an account").',
].join("\n");
const help = renderHelp(usageLine, FLAGS);
const flags = readFlags(usageLine, FLAGS);
const target = backupTarget(flags, process.env, new Date());
if (!target.ok) usage(target.error, help);
const { tenant, out, r2Key } = target.value;
if (out !== null && existsSync(out)) usage(`${out} exists; a backup never overwrites one: name another --out`, help);

const scratch = out === null ? mkdtempSync(join(tmpdir(), "onceledger-backup-")) : null;
const file = out ?? join(scratch as string, "backup.jsonl");
// Written aside and renamed when complete, so `file` never holds a backup without its trailer.
const partial = `${file}.partial`;
try {
  mkdirSync(dirname(file), { recursive: true });
  const lines = backupTenant({
    baseUrl: target.value.baseUrl,
    tenant,
    tenantKey: target.value.tenantKey,
    operatorKey: target.value.operatorKey,
    accounts: target.value.account === null ? undefined : [target.value.account],
    fetch: (url, init) => fetch(url, init),
    progress: (message) => process.stderr.write(`${message}\n`),
  });
  await pipeline(lines, createWriteStream(partial));
  renameSync(partial, file);
  if (r2Key !== null) {
    const bucket = await bucketName(flags.config, flags.bucket, flags.env);
    const args = [wranglerCli(), "r2", "object", "put", `${bucket}/${r2Key}`, "--file", file, "--config", flags.config];
    args.push(flags.local ? "--local" : "--remote", "--content-type", "application/jsonl");
    if (flags.env !== undefined) args.push("--env", flags.env);
    execFileSync(process.execPath, args, { stdio: "inherit" });
    process.stderr.write(`backed up tenant ${tenant} to ${bucket}/${r2Key}${flags.local ? " (local)" : ""}\n`);
  }
  if (out !== null) process.stderr.write(`backed up tenant ${tenant} to ${out}\n`);
} catch (error) {
  rmSync(partial, { force: true });
  process.stderr.write(`backup of tenant ${tenant} from ${target.value.baseUrl} failed: ${describeError(error)}\n`);
  process.exitCode = 1;
} finally {
  if (scratch !== null) rmSync(scratch, { recursive: true, force: true });
}

/** The bucket `binding` names in the Wrangler config (in `environment`, if given). */
async function bucketName(configPath: string, binding: string, environment: string | undefined): Promise<string> {
  // Loaded only for --r2: Wrangler takes seconds to load.
  const wrangler = await import("wrangler");
  // Typed here: wrangler does not ship the types of the config it reads.
  const readConfig = wrangler.unstable_readConfig as (args: { config: string; env: string | undefined }) => {
    readonly r2_buckets: readonly { readonly binding: string; readonly bucket_name?: string }[];
  };
  const config = readConfig({ config: configPath, env: environment });
  const bucket = config.r2_buckets.find((b) => b.binding === binding)?.bucket_name;
  if (bucket === undefined) throw new Error(`${configPath} binds no R2 bucket as ${binding}`);
  return bucket;
}
