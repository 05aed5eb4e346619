/**
 * `npm run export`: one account's ledger and settings changes as JSON Lines
 * for an auditor (format: docs/export.md), read through the public API and
 * checked before the trailer is written. Exits 1 if the export failed (and
 * leaves no file behind), 2 on bad arguments.
 *
 *   read -rsp 'API key: ' ONCELEDGER_API_KEY && export ONCELEDGER_API_KEY
 *   npm run export -- --account alice --url https://ledger.example.com   # exports/alice.<UTC time>.onceledger.jsonl
 *   npm run export -- --account alice --url https://ledger.example.com --out - | jq -c .type
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { EXPORTS_DIR, exportTarget } from "./export/export-target.ts";
import { exportLedger } from "./export/ledger-export.ts";
import { describeError } from "./lib/describe-error.ts";
import { readFlags, renderHelp, usage, type FlagSpec } from "./lib/flags.ts";

const FLAGS = {
  account: { kind: "string", help: "account to export (required)" },
  url: { kind: "string", help: "the ledger's base URL (required, or ONCELEDGER_URL)" },
  out: {
    kind: "string",
    help: `file to write, which must not exist yet, or - for stdout (default: ${EXPORTS_DIR}/<account>.<UTC time>.onceledger.jsonl)`,
  },
  key: {
    kind: "string",
    help: "API key (required, or ONCELEDGER_API_KEY, better: a flag shows in ps and shell history)",
  },
} as const satisfies Record<string, FlagSpec>;

const usageLine = [
  "Usage: ONCELEDGER_API_KEY=olk_... npm run export -- --account <name> --url <base URL> [--out <file>]",
  "Writes one account's entries and settings changes, checked, as JSON Lines with a SHA-256 trailer (docs/export.md).",
  `Exports go under ${EXPORTS_DIR}/ (ignored by git) unless --out says otherwise.`,
].join("\n");
const help = renderHelp(usageLine, FLAGS);
const flags = readFlags(usageLine, FLAGS);
const target = exportTarget(flags, process.env, new Date());
if (!target.ok) usage(target.error, help);
const { account, out } = target.value;
if (out !== "-" && existsSync(out)) usage(`${out} exists; an export never overwrites one: name another --out`, help);

const lines = exportLedger({ ...target.value, fetch: (url, init) => fetch(url, init) });
// Written aside and renamed when complete, so `out` never holds an unchecked export.
const partial = `${out}.partial`;
try {
  if (out === "-") {
    await pipeline(lines, process.stdout, { end: false });
  } else {
    if (flags.out === undefined) mkdirSync(dirname(out), { recursive: true });
    await pipeline(lines, createWriteStream(partial));
    renameSync(partial, out);
    process.stderr.write(`exported ${account} to ${out}\n`);
  }
} catch (error) {
  if (out !== "-") rmSync(partial, { force: true });
  process.stderr.write(`export of ${account} from ${target.value.baseUrl} failed: ${describeError(error)}\n`);
  process.exitCode = 1;
}
