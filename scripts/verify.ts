/**
 * `npm run verify`: recomputes one account's history through the public API
 * (docs/verify.md): every period's chained sha256 and its link to the one
 * before, every balance, and with --r2 every archived object's size and
 * digest from wrangler's local R2. Prints a summary; exits 0 if every period
 * matches, 1 naming the first that does not (or if the ledger could not be
 * read), 2 on bad arguments.
 *
 *   read -rsp 'API key: ' ONCELEDGER_API_KEY && export ONCELEDGER_API_KEY
 *   npm run verify -- --account alice --base-url https://ledger.example.com
 *   npm run verify -- --account alice --base-url http://localhost:8787 --r2 local
 */
import { describeError } from "./lib/describe-error.ts";
import { readFlags, renderHelp, usage, type FlagSpec } from "./lib/flags.ts";
import { exitCode, renderReport } from "./verify/chain.ts";
import { verifyLedger } from "./verify/ledger-read.ts";
import type { LocalArchive } from "./verify/local-r2.ts";
import { verifyTarget } from "./verify/verify-target.ts";

const VERIFY_FLAGS = {
  account: { kind: "string", help: "account to verify (required)" },
  "base-url": { kind: "string", help: "the ledger's base URL (required, or ONCELEDGER_URL)" },
  "tenant-key": {
    kind: "string",
    help: "API key of the account's tenant (required, or ONCELEDGER_API_KEY, better: a flag shows in ps and shell history)",
  },
  r2: {
    kind: "string",
    help: "also check the archived objects in wrangler's local R2: local (.wrangler/state beside --config), or the directory given to wrangler dev --persist-to",
  },
  bucket: { kind: "string", default: "ARCHIVE", help: "with --r2: the binding of the tenant's archive bucket" },
  config: { kind: "string", default: "wrangler.toml", help: "with --r2: the Wrangler config that binds it" },
  env: { kind: "string", help: "with --r2: the Wrangler environment, e.g. staging" },
} as const satisfies Record<string, FlagSpec>;

const usageLine = [
  "Usage: ONCELEDGER_API_KEY=olk_... npm run verify -- --account <name> --base-url <URL> [--r2 local|<dir>]",
  "Recomputes every period's chained sha256, its link, every balance and (with --r2) every archived object's digest;",
  "exits 1 naming the first period that does not match (docs/verify.md).",
].join("\n");
const help = renderHelp(usageLine, VERIFY_FLAGS);
const target = verifyTarget(readFlags(usageLine, VERIFY_FLAGS), process.env);
if (!target.ok) usage(target.error, help);
const { account, baseUrl } = target.value.source;

let archive: LocalArchive | null = null;
if (target.value.r2 !== null) {
  // Loaded only for --r2: Wrangler takes seconds to load.
  const { openLocalArchive } = await import("./verify/local-r2.ts");
  const opened = await openLocalArchive(target.value.r2).catch((error: unknown) => {
    process.stderr.write(`reading local R2 failed: ${describeError(error)}\n`);
    process.exit(1);
  });
  if (!opened.ok) usage(opened.error, help);
  archive = opened.value;
}

process.stdout.write(`verify ${account} at ${baseUrl}${archive === null ? "" : `, objects from ${archive.where}`}\n`);
try {
  const report = await verifyLedger({
    ...target.value.source,
    fetch: (url, init) => fetch(url, init),
    ...(archive === null ? {} : { readObject: archive.read }),
  });
  process.stdout.write(`${renderReport(report)}\n`);
  process.exitCode = exitCode(report);
} catch (error) {
  process.stderr.write(`verify of ${account} at ${baseUrl} failed: ${describeError(error)}\n`);
  process.exitCode = 1;
} finally {
  await archive?.close();
}
