/**
 * What `npm run verify` reads (docs/verify.md), decided from its flags and
 * environment before anything is read: the ledger and key are named
 * explicitly, as for an export, and --r2 adds wrangler's local archive.
 */
import { ledgerSource, type ExportEnv, type LedgerSource, type SourceWording } from "../export/export-target.ts";
import { ok, type Result } from "../../src/lib/result.ts";

const WORDING: SourceWording = {
  url: "--base-url",
  key: "--tenant-key",
  account: "the account to verify",
  ledger: "the ledger to read it from",
};

/** Its flags as scripts/verify.ts reads them (declared there, with their help). */
export interface VerifyFlags {
  readonly account?: string | undefined;
  readonly "base-url"?: string | undefined;
  readonly "tenant-key"?: string | undefined;
  readonly r2?: string | undefined;
  readonly bucket: string;
  readonly config: string;
  readonly env?: string | undefined;
}

export interface VerifyTarget {
  readonly source: LedgerSource;
  /** Where to read the archived objects; null: through the API alone. */
  readonly r2: {
    readonly r2: string;
    readonly binding: string;
    readonly configPath: string;
    readonly environment: string | undefined;
  } | null;
}

/** The target, or a message saying plainly what is missing or wrong. */
export function verifyTarget(flags: VerifyFlags, env: ExportEnv): Result<VerifyTarget, string> {
  const source = ledgerSource(
    { account: flags.account, url: flags["base-url"], key: flags["tenant-key"] },
    env,
    WORDING,
  );
  if (!source.ok) return source;
  const r2 =
    flags.r2 === undefined || flags.r2 === ""
      ? null
      : { r2: flags.r2, binding: flags.bucket, configPath: flags.config, environment: flags.env };
  return ok({ source: source.value, r2 });
}
