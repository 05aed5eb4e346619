/**
 * What `npm run export` reads and where it writes (docs/export.md), and what
 * `npm run verify` reads (docs/verify.md), decided from flags and
 * environment before anything is read. Nothing is assumed: the ledger and
 * the key are named explicitly, so an export never comes from a development
 * server by accident, and the file goes under an ignored directory, so a
 * ledger never lands in a commit.
 */
import { DEV_API_KEY } from "../../src/config/dev-key.ts";
import { MAX_ACCOUNT_NAME_LENGTH } from "../../src/domain/limits.ts";
import { err, ok, type Result } from "../../src/lib/result.ts";

/** Where exports go by default, relative to the working directory; .gitignore lists it. */
export const EXPORTS_DIR = "exports";

/** The ledger a script reads through the API: which account, where, with which key. */
export interface LedgerSource {
  readonly account: string;
  readonly baseUrl: string;
  readonly apiKey: string;
}

/** A script's names for the flags that give its source, and what it reads it for, to say in its messages. */
export interface SourceWording {
  readonly url: string;
  readonly key: string;
  /** E.g. "the account to export". */
  readonly account: string;
  /** E.g. "the ledger to export from". */
  readonly ledger: string;
}

const EXPORT_WORDING: SourceWording = {
  url: "--url",
  key: "--key",
  account: "the account to export",
  ledger: "the ledger to export from",
};

export interface SourceFlags {
  readonly account?: string | undefined;
  readonly url?: string | undefined;
  readonly key?: string | undefined;
}

export interface ExportFlags extends SourceFlags {
  readonly out?: string | undefined;
}

export interface ExportEnv {
  readonly ONCELEDGER_URL?: string | undefined;
  readonly ONCELEDGER_API_KEY?: string | undefined;
}

export interface ExportTarget extends LedgerSource {
  /** A file path, or "-" for stdout. */
  readonly out: string;
}

const ACCOUNT_NAME = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ACCOUNT_NAME_LENGTH}}$`);

/** The target, or a message saying plainly what is missing or wrong. */
export function exportTarget(flags: ExportFlags, env: ExportEnv, now: Date): Result<ExportTarget, string> {
  const source = ledgerSource(flags, env, EXPORT_WORDING);
  if (!source.ok) return source;
  const out = nonEmpty(flags.out) ?? `${EXPORTS_DIR}/${source.value.account}.${fileTimestamp(now)}.onceledger.jsonl`;
  return ok({ ...source.value, out });
}

/**
 * The account, base URL and key a script reads (export, verify), each given
 * explicitly by flag or environment, or a message naming `wording`'s flag.
 */
export function ledgerSource(flags: SourceFlags, env: ExportEnv, wording: SourceWording): Result<LedgerSource, string> {
  const account = flags.account ?? "";
  if (account === "") return err(`--account is required: ${wording.account}`);
  // Checked before anything is read: the name also becomes part of an export's default file name.
  if (!ACCOUNT_NAME.test(account)) {
    return err(`--account "${account}" is not an account name (1 to ${MAX_ACCOUNT_NAME_LENGTH} of A-Z a-z 0-9 _ -)`);
  }

  const url = nonEmpty(flags.url) ?? nonEmpty(env.ONCELEDGER_URL);
  if (url === undefined) {
    return err(
      `${wording.url} (or ONCELEDGER_URL) is required: ${wording.ledger}, e.g. https://ledger.example.com, or http://localhost:8787 for npm run dev`,
    );
  }
  if (!/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) {
    return err(`${wording.url} "${url}" is not an http:// or https:// URL`);
  }

  const apiKey = nonEmpty(flags.key) ?? nonEmpty(env.ONCELEDGER_API_KEY);
  if (apiKey === undefined) {
    return err(
      `ONCELEDGER_API_KEY (or ${wording.key}) is required: an API key of the account's tenant (npm run dev takes ${DEV_API_KEY})`,
    );
  }
  return ok({ account, baseUrl: url, apiKey });
}

/** 2026-12-07T02:15:21.123Z as 20261207T021521Z: sortable, and free of characters some file systems refuse. */
function fileTimestamp(now: Date): string {
  return now
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/[-:]/g, "");
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
