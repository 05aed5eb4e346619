/**
 * `npm run export`: one account's ledger and settings changes as JSON Lines
 * for an auditor (format: docs/export.md), read through the public API and
 * checked before the trailer is written. Exits 1 if the export failed (and
 * leaves no file behind), 2 on bad arguments.
 *
 *   npm run export -- --account alice               # alice.onceledger.jsonl from ONCELEDGER_URL or localhost:8787
 *   npm run export -- --account alice --out - | jq -c .type
 *   npm run export -- --account alice --url https://ledger.example.com --key olk_...
 */
import { createWriteStream, renameSync, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { DEV_API_KEY } from "../src/domain/dev-key.ts";
import { exportLedger } from "./export/ledger-export.ts";
import { readFlags, usage, type FlagSpec } from "./lib/flags.ts";

const FLAGS = {
  account: { kind: "string", help: "account to export (required)" },
  out: { kind: "string", help: "file to write, or - for stdout (default: <account>.onceledger.jsonl)" },
  url: { kind: "string", help: "ledger's base URL (default: ONCELEDGER_URL, else http://localhost:8787)" },
  key: { kind: "string", help: "API key (default: ONCELEDGER_API_KEY, else the development key)" },
} as const satisfies Record<string, FlagSpec>;

const usageLine = "Usage: npm run export -- --account <name> [options]";
const flags = readFlags(usageLine, FLAGS);
if (flags.account === undefined || flags.account === "") usage("--account is required", usageLine);
const account = flags.account;
const out = flags.out ?? `${account}.onceledger.jsonl`;
const lines = exportLedger({
  baseUrl: flags.url ?? process.env.ONCELEDGER_URL ?? "http://localhost:8787",
  apiKey: flags.key ?? process.env.ONCELEDGER_API_KEY ?? DEV_API_KEY,
  account,
  fetch: (url, init) => fetch(url, init),
});
// Written aside and renamed when complete, so `out` never holds an unchecked export.
const partial = `${out}.partial`;
try {
  if (out === "-") {
    await pipeline(lines, process.stdout, { end: false });
  } else {
    await pipeline(lines, createWriteStream(partial));
    renameSync(partial, out);
    process.stderr.write(`exported ${account} to ${out}\n`);
  }
} catch (error) {
  if (out !== "-") rmSync(partial, { force: true });
  process.stderr.write(`export of ${account} failed: ${describe(error)}\n`);
  process.exitCode = 1;
}

/** The message with its causes, so a refused connection says so rather than only that retries ran out. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause === undefined ? error.message : `${error.message} (${describe(error.cause)})`;
}
