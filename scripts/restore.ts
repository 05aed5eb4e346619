/**
 * `npm run restore`: rebuilds one account's object, lost or wiped, from a
 * backup file (`npm run backup`) and the account's archive in R2, through
 * the operator's restore route (docs/operations.md, "Back up and restore an
 * account"). The object must hold no account: until the last step writes
 * it, the account answers as one never opened. --events adds the entries,
 * settings changes and hold changes published after the backup. Exits 1 if the restore
 * was refused or failed (the account then stays unopened: run it again),
 * 2 on bad arguments.
 *
 *   read -rsp 'Operator key: ' ONCELEDGER_OPERATOR_KEY && export ONCELEDGER_OPERATOR_KEY
 *   npm run restore -- --tenant acme --account alice --from backups/acme.20261207T021521Z.onceledger-backup.jsonl \
 *     --base-url https://ledger.example.com [--events events-after-backup.jsonl]
 */
import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { restoreAccount } from "./backup/account-restore.ts";
import { restoreTarget } from "./backup/backup-target.ts";
import { describeError } from "./lib/describe-error.ts";
import { readFlags, renderHelp, usage, type FlagSpec } from "./lib/flags.ts";

const FLAGS = {
  tenant: { kind: "string", help: "the account's tenant (required)" },
  account: { kind: "string", help: "the account to restore (required)" },
  from: { kind: "string", help: "the backup file npm run backup wrote (required)" },
  events: {
    kind: "string",
    help: "the ledger events published after the backup, one event a line as the events queue carried it",
  },
  "base-url": { kind: "string", help: "the ledger's base URL (required, or ONCELEDGER_URL)" },
  "operator-key": {
    kind: "string",
    help: "an operator's key, listed in OPERATOR_KEYS (required, or ONCELEDGER_OPERATOR_KEY, better: a flag shows in ps)",
  },
} as const satisfies Record<string, FlagSpec>;

const usageLine = [
  "Usage: ONCELEDGER_OPERATOR_KEY=olk_... npm run restore -- --tenant <id> --account <name> --from <backup file> --base-url <URL> [--events <file>]",
  "Rebuilds an account's object that holds no account from the backup and its archive in R2",
  '(docs/operations.md, "Back up and restore an account").',
].join("\n");
const help = renderHelp(usageLine, FLAGS);
const target = restoreTarget(readFlags(usageLine, FLAGS), process.env);
if (!target.ok) usage(target.error, help);
const { tenant, account, from, events } = target.value;
for (const file of [from, events]) if (file !== null && !existsSync(file)) usage(`${file} does not exist`, help);

/** A file's lines, read as a stream: a backup may be larger than memory. */
const linesOf = (file: string) => () => createInterface({ input: createReadStream(file), crlfDelay: Infinity });

try {
  const report = await restoreAccount({
    baseUrl: target.value.baseUrl,
    operatorKey: target.value.operatorKey,
    tenant,
    account,
    backup: linesOf(from),
    events: events === null ? undefined : linesOf(events),
    fetch: (url, init) => fetch(url, init),
    progress: (message) => process.stderr.write(`${message}\n`),
  });
  process.stdout.write(`${JSON.stringify({ restored: `${tenant}/${account}`, ...report })}\n`);
} catch (error) {
  process.stderr.write(`restore of ${tenant}/${account} failed: ${describeError(error)}\n`);
  process.exitCode = 1;
}
