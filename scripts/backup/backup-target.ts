/**
 * What `npm run backup` and `npm run restore` read and write, decided from
 * their flags and environment before anything is read: the ledger, the
 * tenant and both keys are named explicitly, as for an export, and a
 * backup's file goes under an ignored directory unless --out says otherwise.
 */
import { DEV_API_KEY } from "../../src/config/dev-key.ts";
import { MAX_ACCOUNT_NAME_LENGTH, TENANT_ID_PATTERN } from "../../src/domain/limits.ts";
import { err, ok, type Result } from "../../src/lib/result.ts";

/** Where backups go by default, relative to the working directory; .gitignore lists it. */
export const BACKUPS_DIR = "backups";

/** Where `--r2` puts a backup in its bucket: no tenant id holds a ".", so no account's archive is under it. */
export const R2_BACKUPS_PREFIX = ".backups";

export interface BackupEnv {
  readonly ONCELEDGER_URL?: string | undefined;
  readonly ONCELEDGER_API_KEY?: string | undefined;
  readonly ONCELEDGER_OPERATOR_KEY?: string | undefined;
}

export interface BackupFlags {
  readonly tenant?: string | undefined;
  readonly account?: string | undefined;
  readonly out?: string | undefined;
  readonly r2: boolean;
  readonly "base-url"?: string | undefined;
  readonly "tenant-key"?: string | undefined;
  readonly "operator-key"?: string | undefined;
}

export interface BackupTarget {
  readonly tenant: string;
  /** Only this account; every account of the tenant when null. */
  readonly account: string | null;
  readonly baseUrl: string;
  readonly tenantKey: string;
  readonly operatorKey: string;
  /** The file written (with --r2 and no --out, a temporary one, removed once uploaded). */
  readonly out: string | null;
  /** The object name in the bucket, with --r2. */
  readonly r2Key: string | null;
}

const ACCOUNT_NAME = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ACCOUNT_NAME_LENGTH}}$`);

export function backupTarget(flags: BackupFlags, env: BackupEnv, now: Date): Result<BackupTarget, string> {
  const tenant = flags.tenant ?? "";
  if (!TENANT_ID_PATTERN.test(tenant)) return err("--tenant is required: the tenant to back up (a-z 0-9 _ -)");
  const account = nonEmpty(flags.account) ?? null;
  if (account !== null && !ACCOUNT_NAME.test(account)) return err(`--account "${account}" is not an account name`);
  const common = ledger(flags, env, "the ledger to back up");
  if (!common.ok) return common;
  const tenantKey = nonEmpty(flags["tenant-key"]) ?? nonEmpty(env.ONCELEDGER_API_KEY);
  if (tenantKey === undefined) {
    return err(
      `ONCELEDGER_API_KEY (or --tenant-key) is required: an API key of tenant ${tenant} (npm run dev takes ${DEV_API_KEY})`,
    );
  }
  const stamp = fileTimestamp(now);
  const name = `${tenant}${account === null ? "" : `.${account}`}.${stamp}.onceledger-backup.jsonl`;
  const out = nonEmpty(flags.out) ?? (flags.r2 ? null : `${BACKUPS_DIR}/${name}`);
  return ok({
    tenant,
    account,
    ...common.value,
    tenantKey,
    out,
    r2Key: flags.r2 ? `${R2_BACKUPS_PREFIX}/${tenant}/${name}` : null,
  });
}

export interface RestoreFlags {
  readonly tenant?: string | undefined;
  readonly account?: string | undefined;
  readonly from?: string | undefined;
  readonly events?: string | undefined;
  readonly "base-url"?: string | undefined;
  readonly "operator-key"?: string | undefined;
}

export interface RestoreTarget {
  readonly tenant: string;
  readonly account: string;
  readonly from: string;
  readonly events: string | null;
  readonly baseUrl: string;
  readonly operatorKey: string;
}

export function restoreTarget(flags: RestoreFlags, env: BackupEnv): Result<RestoreTarget, string> {
  const tenant = flags.tenant ?? "";
  if (!TENANT_ID_PATTERN.test(tenant)) return err("--tenant is required: the account's tenant (a-z 0-9 _ -)");
  const account = flags.account ?? "";
  if (!ACCOUNT_NAME.test(account)) return err("--account is required: the account to restore");
  const from = nonEmpty(flags.from);
  if (from === undefined) return err("--from is required: the backup file (npm run backup wrote it)");
  const common = ledger(flags, env, "the ledger to restore into");
  if (!common.ok) return common;
  return ok({ tenant, account, from, events: nonEmpty(flags.events) ?? null, ...common.value });
}

function ledger(
  flags: { readonly "base-url"?: string | undefined; readonly "operator-key"?: string | undefined },
  env: BackupEnv,
  what: string,
): Result<{ baseUrl: string; operatorKey: string }, string> {
  const baseUrl = nonEmpty(flags["base-url"]) ?? nonEmpty(env.ONCELEDGER_URL);
  if (baseUrl === undefined) {
    return err(
      `--base-url (or ONCELEDGER_URL) is required: ${what}, e.g. https://ledger.example.com, or http://localhost:8787 for npm run dev`,
    );
  }
  if (!/^https?:\/\/[^/]/i.test(baseUrl) || !URL.canParse(baseUrl)) {
    return err(`--base-url "${baseUrl}" is not an http:// or https:// URL`);
  }
  const operatorKey = nonEmpty(flags["operator-key"]) ?? nonEmpty(env.ONCELEDGER_OPERATOR_KEY);
  if (operatorKey === undefined) {
    return err("ONCELEDGER_OPERATOR_KEY (or --operator-key) is required: a key whose digest OPERATOR_KEYS lists");
  }
  return ok({ baseUrl, operatorKey });
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
