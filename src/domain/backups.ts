/**
 * The names the operator's backup and restore routes and the account
 * object agree on (src/contract/backup-records.ts holds the shapes).
 */

/** The parts of an account object a backup pages through, besides what the tenants' API shows. */
export const BACKUP_PARTS = ["state", "changes", "keys", "decisions", "holds", "transfers", "refusals"] as const;
export type BackupPart = (typeof BACKUP_PARTS)[number];

/** A restore's steps, in the order they are taken (`status` at any time). */
export const RESTORE_STEPS = [
  "begin",
  "period",
  "periods_done",
  "keys",
  "decisions",
  "entries",
  "holds",
  "transfers",
  "refusals",
  "events",
  "finish",
  "status",
] as const;
