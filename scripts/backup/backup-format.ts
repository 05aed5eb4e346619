/**
 * The backup file `npm run backup` writes and `npm run restore` reads
 * (docs/operations.md, "Back up and restore an account"): JSON Lines, one
 * record a line. A header line first, then each account's lines together
 * (its account line, then its settings changes, periods, key rows, decisions
 * kept before schema 7, entries, hold changes, transfers and refused
 * transfer legs, then its account_end line with their counts), then a
 * trailer; a file without its trailer is incomplete and is refused. A file
 * written before holds has no hold lines and no `holds` count, which reads
 * as none; one written before transfers, likewise no transfer or refusal
 * lines and no counts of them.
 */
import type {
  BackupChange,
  BackupDecision,
  BackupHoldChange,
  BackupKey,
  BackupRefusal,
  BackupState,
  BackupTransfer,
} from "../../src/contract/backup-records.ts";
import type { AccountView, EntryView, PeriodView } from "../../src/domain/views.ts";

export const BACKUP_FORMAT = "onceledger-backup";
export const BACKUP_FORMAT_VERSION = 1;

export interface HeaderLine {
  readonly type: "header";
  /** BACKUP_FORMAT: anything else is not a backup. */
  readonly format: string;
  readonly format_version: number;
  readonly tenant: string;
  readonly source: string;
  readonly started: string;
}

/** The account as the backup found it: the object's cut (`state`) and the tenants' view. */
export interface AccountLine {
  readonly type: "account";
  readonly account: string;
  readonly state: BackupState;
  readonly view: AccountView;
}

export type AccountRecord =
  | { readonly type: "change"; readonly account: string; readonly change: BackupChange }
  | { readonly type: "period"; readonly account: string; readonly period: PeriodView }
  | { readonly type: "key"; readonly account: string; readonly key: BackupKey }
  | { readonly type: "decision"; readonly account: string; readonly decision: BackupDecision }
  | { readonly type: "entry"; readonly account: string; readonly entry: EntryView }
  | { readonly type: "hold"; readonly account: string; readonly hold: BackupHoldChange }
  | { readonly type: "transfer"; readonly account: string; readonly transfer: BackupTransfer }
  | { readonly type: "refusal"; readonly account: string; readonly refusal: BackupRefusal };

/** How many of each record the account has, and where its run of key rows without a gap begins. */
export interface AccountEndLine {
  readonly type: "account_end";
  readonly account: string;
  readonly changes: number;
  readonly periods: number;
  readonly keys: number;
  readonly decisions: number;
  readonly entries: number;
  /** Hold changes; absent in a file written before holds (none). */
  readonly holds?: number | undefined;
  /** Transfers, and legs refused before the account was opened; absent in a file written before transfers (none). */
  readonly transfers?: number | undefined;
  readonly refusals?: number | undefined;
  /** The first pos of the key rows held without a gap up to the head's key_pos (key_pos + 1 when none). */
  readonly keys_from: number;
}

export interface TrailerLine {
  readonly type: "trailer";
  readonly accounts: number;
  /** Every line before this one. */
  readonly lines: number;
  readonly finished: string;
}

export type BackupLine = HeaderLine | AccountLine | AccountRecord | AccountEndLine | TrailerLine;

/** The backup is not one `npm run restore` can use, or the ledger did not add up while it was read. */
export class BackupError extends Error {
  override readonly name = "BackupError";
}

export function parseLine(text: string, lineNumber: number): BackupLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BackupError(`line ${lineNumber} is not JSON`);
  }
  if (typeof value !== "object" || value === null || typeof (value as { type?: unknown }).type !== "string") {
    throw new BackupError(`line ${lineNumber} is not a backup record`);
  }
  return value as BackupLine;
}
