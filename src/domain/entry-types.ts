/**
 * The one list of ledger entry types. Everything that names them (the
 * TypeScript type, entry id prefixes, the audit's sign table, the schema
 * enum) is derived from this table. Types are only ever added: clients are
 * told to accept types they do not know (CHANGELOG.md).
 */
export const ENTRY_TYPES = ["credit", "charge", "refund", "capture", "transfer_out", "transfer_in"] as const;

export type EntryType = (typeof ENTRY_TYPES)[number];

interface EntryTypeRule {
  /** Entry ids are `<prefix>_<32 hex>`. */
  readonly idPrefix: string;
  /** The sign every stored amount of this type has. */
  readonly sign: 1 | -1;
}

export const ENTRY_TYPE_RULES: Readonly<Record<EntryType, EntryTypeRule>> = {
  credit: { idPrefix: "cr", sign: 1 },
  charge: { idPrefix: "ch", sign: -1 },
  refund: { idPrefix: "re", sign: 1 },
  // What a hold moves when it is captured (hold-operations.ts): a charge of funds set aside before.
  capture: { idPrefix: "cp", sign: -1 },
  // A transfer's two legs (transfer-operations.ts): the source's, once the destination applied its own.
  transfer_out: { idPrefix: "to", sign: -1 },
  transfer_in: { idPrefix: "ti", sign: 1 },
};

export function isEntryType(value: unknown): value is EntryType {
  return typeof value === "string" && (ENTRY_TYPES as readonly string[]).includes(value);
}
