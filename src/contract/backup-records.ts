import type { BackupPart } from "../domain/backups.ts";
import type { AccountChangeView, EntryView, HoldState, HoldView, PeriodView, TransferView } from "../domain/views.ts";

/**
 * What the operator's backup reads of an account object (src/ledger/account-backup.ts)
 * and what a restore writes into an empty one (src/ledger/account-restore.ts),
 * as the Worker passes them between the operator's routes and the object:
 * JSON values only. docs/operations.md ("Back up and restore an account")
 * describes the procedure.
 */

export interface BackupPageRequest {
  readonly part: BackupPart;
  /**
   * Where the page starts after: a key pos (keys), a version (changes), a key
   * (decisions), a hold change's seq (holds), a transfer's seq (transfers), a
   * leg key (refusals).
   */
  readonly after?: string | undefined;
  /**
   * keys: the last pos a page may hold (the head's `key_pos` when the backup
   * began); holds: the last hold change (the cut's `holds.changes`);
   * transfers: the cut's `key_pos`, each transfer shown as it stood then.
   */
  readonly through?: number | undefined;
  readonly limit: number;
}

/** The object as a backup starts reading it: what the rest of the backup is cut at. */
export interface BackupState {
  readonly account: {
    readonly name: string;
    readonly currency: string;
    readonly overdraft_limit: number;
    readonly version: number;
    readonly created: string;
    readonly tenant: string | null;
  };
  /** The balance, the last entry's seq and the last key's pos. */
  readonly head: { readonly balance: number; readonly entry_count: number; readonly key_pos: number };
  readonly event_cursor: {
    readonly published_through: number;
    readonly entry_seq: number;
    readonly change_version: number;
    readonly change_field: string;
    /** The last hold change published; absent in a backup taken before holds (0). */
    readonly hold_change?: number | undefined;
  };
  /**
   * The holds at the cut: the last hold's seq, the last hold change's seq,
   * and what held holds set aside then. Absent in a backup taken before
   * holds, which means none.
   */
  readonly holds?: BackupHoldsCut | undefined;
  /** The transfers at the cut. Absent in a backup taken before transfers, which means none. */
  readonly transfers?: BackupTransfersCut | undefined;
  /**
   * The last entry of the last period whose rows may have left the object
   * (null when none has): the entries a backup keeps are the ones after it.
   */
  readonly entries_after: { readonly seq: number; readonly id: string } | null;
}

export interface BackupHoldsCut {
  readonly count: number;
  readonly changes: number;
  readonly held: number;
}

export interface BackupTransfersCut {
  /** The last transfer's seq: transfers never leave the object, so the backup holds 1 to it. */
  readonly count: number;
  /** What the transfers pending at the cut set aside (the head's `held` less the holds'). */
  readonly held: number;
  /** The transfer legs refused while the account was not opened (none is recorded once it is). */
  readonly refusals: number;
}

/**
 * A transfer out as it stood at the cut (a transfers row), paged by its
 * seq: the tenants' view, the API key that sent it, its deliveries so far,
 * and, when posted, its `transfer_out` entry (null when that entry's key has
 * left the object with its period). One settled after the cut shows as
 * pending: its settlement is not in the backup.
 */
export type BackupTransfer = TransferView & {
  readonly seq: number;
  readonly key_id: string | null;
  readonly attempts: number;
  readonly next_attempt: string;
  readonly entry: string | null;
};

/** A transfer leg refused while the account was not opened (a transfer_refusals row), paged by its key. */
export interface BackupRefusal {
  readonly leg_key: string;
  readonly code: string;
  readonly decided: string;
}

/** A settings change as the account's history keeps it: the tenants' view, and its place among the entries. */
export type BackupChange = AccountChangeView & { readonly entry_seq_before: number };

/** A decided key as the object's `keys` table holds it (src/ledger/key-rows.ts). */
export interface BackupKey {
  readonly pos: number;
  readonly key: string;
  /** The stored 128 bits of the request's fingerprint, as hex. */
  readonly fingerprint: string;
  readonly status: number;
  readonly code: string | null;
  readonly entry_seq: number | null;
  /** The id of the entry it appended; null when no money moved. */
  readonly entry: string | null;
  readonly decided: string;
  readonly expires: string;
  readonly request_tag: number;
  readonly origin: string;
  readonly digests: Readonly<Record<string, string>> | null;
  /** 0: `body` is the stored answer; from 1, the entry view version its answer is rendered with. */
  readonly view: number;
  readonly body: string | null;
}

/** A key decided before schema 7 (`decisions`), with its stored answer while it is kept (`idempotency_records`). */
export interface BackupDecision {
  readonly key: string;
  readonly fingerprint: string;
  readonly status: number;
  readonly code: string | null;
  readonly entry: string | null;
  readonly decided: string;
  readonly record: {
    readonly request_id: string;
    readonly fingerprint: string;
    readonly status: number;
    readonly body: string;
    readonly created: string;
    readonly expires: string;
    readonly field_digests: Readonly<Record<string, string>> | null;
    readonly origin_request_id: string | null;
  } | null;
}

/**
 * A change of a hold's state (a hold_changes row), paged by its seq: its
 * place after `entry_seq_before` entries, and its hold as the change left it
 * (as placed for `held`, as resolved for the others), with the API key that
 * placed it. Replayed in seq order, the changes rebuild every hold.
 */
export interface BackupHoldChange {
  readonly seq: number;
  readonly state: HoldState;
  readonly created: string;
  readonly entry_seq_before: number;
  readonly hold_seq: number;
  readonly hold: HoldView & { readonly key_id: string | null };
}

export interface BackupPage<T> {
  readonly data: readonly T[];
  readonly has_more: boolean;
}

/** A ledger event as the events queue carried it (src/ledger/events.ts): what closes the gap after a backup. */
export interface RestoreEvent {
  readonly event_seq: number;
  readonly type: "entry" | "account_change" | "hold";
  readonly data: EntryView | AccountChangeView | HoldView;
}

/**
 * One step of a restore, in this order: begin, period (until it answers
 * `done`), periods_done, keys, decisions, entries, holds, transfers,
 * refusals (each in chunks, in order), events (optional, in event order),
 * finish. `status` reads where
 * a restore stands. Every step but begin and status refuses an object that
 * is not being restored; every step refuses one whose account exists.
 */
export type RestoreStep =
  | {
      readonly step: "begin";
      readonly tenant: string;
      readonly account: string;
      readonly state: BackupState;
      readonly changes: readonly BackupChange[];
      /** The first pos of the run of key rows the backup holds without a gap up to `state.head.key_pos`. */
      readonly keys_from: number;
    }
  | { readonly step: "period"; readonly id: number; readonly listed: PeriodView | null }
  | { readonly step: "periods_done"; readonly listed: readonly PeriodView[] }
  | { readonly step: "keys"; readonly rows: readonly BackupKey[] }
  | { readonly step: "decisions"; readonly rows: readonly BackupDecision[] }
  | { readonly step: "entries"; readonly rows: readonly EntryView[] }
  | { readonly step: "holds"; readonly rows: readonly BackupHoldChange[] }
  | { readonly step: "transfers"; readonly rows: readonly BackupTransfer[] }
  | { readonly step: "refusals"; readonly rows: readonly BackupRefusal[] }
  | { readonly step: "events"; readonly events: readonly RestoreEvent[] }
  | { readonly step: "finish" }
  | { readonly step: "status" };

export type RestoreStepName = RestoreStep["step"];
