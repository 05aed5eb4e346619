import type {
  BackupChange,
  BackupDecision,
  BackupHoldChange,
  BackupKey,
  BackupPage,
  BackupRefusal,
  BackupState,
  BackupTransfer,
} from "../contract/backup-records.ts";
import { ENTRY_TYPES } from "../domain/entry-types.ts";
import { bytesToHex } from "../lib/hex.ts";
import { readEventCursor } from "./events.ts";
import { holdAsChanged, holdChangeCount, holdChangesAfter, holdsThrough } from "./hold-store.ts";
import { findKeyRow, parseDigests, type KeyRowRecord } from "./key-rows.ts";
import {
  changesAfter,
  findEntryBySeq,
  formatEntryId,
  readHead,
  type AccountRow,
  type EntryRow,
} from "./ledger-store.ts";
import { accountChangeView, holdView, timestamp, transferView } from "./row-views.ts";
import type { CountedSql } from "./sql.ts";
import { settleKey } from "./transfer-operations.ts";
import {
  pendingTransfersHeld,
  refusalCount,
  refusalsAfter,
  transferCount,
  transfersAfter,
  type TransferRow,
} from "./transfer-store.ts";

/**
 * The operator's backup reads of an account object: what the tenants' API
 * does not show and a restore needs (account-restore.ts). Each is one page
 * of rows, read-only. The entries, the periods and the settings history as
 * tenants see them are read through the tenants' API; these add the head
 * and event cursor the backup is cut at, each change's place among the
 * entries, every key decision still in the object, whole (what a replay
 * needs), the decisions kept before schema 7, every change of every
 * hold (holds never leave the object), every transfer out as it stood at
 * the cut and every leg refused before the account was opened (neither
 * leaves the object).
 */

/**
 * Where the backup is cut: the account, its head and event cursor, its
 * holds (how many, how many changes, what is held), its transfers (how
 * many, what the pending ones set aside, how many legs were refused), and the last entry of
 * the last period whose rows may have left (read through `entryAt`, from
 * the object or the archive), after which the backup's entries start.
 */
export async function backupState(
  sql: CountedSql,
  account: AccountRow,
  entryAt: (seq: number) => Promise<EntryRow | null>,
): Promise<BackupState> {
  const head = readHead(sql);
  const cursor = readEventCursor(sql);
  // Read before the first await, with the head: one state of the account.
  const holds = holdsThrough(sql, holdChangeCount(sql));
  const transfers = { count: transferCount(sql), held: pendingTransfersHeld(sql), refusals: refusalCount(sql) };
  // Paired with held-funds.ts: what is set aside is the held holds and the pending transfers, nothing else.
  if (holds.held + transfers.held !== head.held) {
    throw new Error(
      `invariant: holds set aside ${holds.held} and transfers ${transfers.held}, the head says ${head.held}`,
    );
  }
  const left = sql.first<{ last_seq: number }>(
    "SELECT last_seq FROM periods WHERE pruned > 0 ORDER BY id DESC LIMIT 1",
  );
  let entriesAfter: BackupState["entries_after"] = null;
  if (left !== undefined) {
    const entry = await entryAt(left.last_seq);
    if (entry === null) throw new Error(`invariant: entry ${left.last_seq}, which closed a period, is nowhere`);
    entriesAfter = { seq: entry.seq, id: entry.id };
  }
  return {
    account: {
      name: account.name,
      currency: account.currency,
      overdraft_limit: account.overdraftLimit,
      version: account.version,
      created: timestamp(account.createdMs),
      tenant: account.tenant,
    },
    head: { balance: head.balance, entry_count: head.entryCount, key_pos: head.keyPos },
    event_cursor: {
      published_through: cursor.publishedThrough,
      entry_seq: cursor.entrySeq,
      change_version: cursor.changeVersion,
      change_field: cursor.changeField,
      hold_change: cursor.holdChange,
    },
    holds: { count: holds.holds, changes: holds.changes, held: holds.held },
    transfers,
    entries_after: entriesAfter,
  };
}

/** The settings changes after `afterVersion`, as the tenants' history shows them, each with its place among the entries. */
export function backupChanges(sql: CountedSql, afterVersion: number, limit: number): BackupPage<BackupChange> {
  const { rows, hasMore } = changesAfter(sql, afterVersion, limit);
  return {
    data: rows.map((row) => ({ ...accountChangeView(row), entry_seq_before: row.entrySeqBefore })),
    has_more: hasMore,
  };
}

/**
 * The hold changes after seq `afterSeq` up to `throughSeq` (the cut's), in
 * order, each with its hold as that change left it: a hold resolved after
 * the cut shows in its `held` change as it was placed, and its later change
 * is past `throughSeq`.
 */
export function backupHolds(
  sql: CountedSql,
  currency: string,
  afterSeq: number,
  throughSeq: number,
  limit: number,
): BackupPage<BackupHoldChange> {
  const rows = holdChangesAfter(sql, afterSeq, limit + 1).filter((change) => change.seq <= throughSeq);
  return {
    data: rows.slice(0, limit).map((change) => {
      const hold = holdAsChanged(change);
      return {
        seq: change.seq,
        state: change.state,
        created: timestamp(change.createdMs),
        entry_seq_before: change.entrySeqBefore,
        hold_seq: hold.seq,
        hold: { ...holdView(hold, currency), key_id: hold.keyId },
      };
    }),
    has_more: rows.length > limit,
  };
}

/**
 * The transfers after seq `afterSeq`, in seq order, each as it stood when
 * the keys ended at `throughPos` (the cut's key_pos): a transfer is settled
 * under its own key (transfer-operations.ts settleKey), so one whose
 * settlement's key comes after the cut shows as pending, as the cut counted
 * it. A posted one names its transfer_out entry while its key is here.
 */
export function backupTransfers(
  sql: CountedSql,
  account: AccountRow,
  afterSeq: number,
  throughPos: number,
  limit: number,
): BackupPage<BackupTransfer> {
  const rows = transfersAfter(sql, afterSeq, limit + 1);
  return {
    data: rows.slice(0, limit).map((row) => backupTransfer(sql, account, row, throughPos)),
    has_more: rows.length > limit,
  };
}

function backupTransfer(sql: CountedSql, account: AccountRow, row: TransferRow, throughPos: number): BackupTransfer {
  // Keys leave the object before their entries, and only with a period archived long before any cut taken now.
  const settled = row.state === "pending" ? null : findKeyRow(sql, settleKey(row.id));
  const afterCut = settled !== null && settled.pos > throughPos;
  const atCut: TransferRow = afterCut ? { ...row, state: "pending", reason: null, resolvedMs: null } : row;
  let entry: string | null = null;
  if (atCut.state === "posted" && settled?.entrySeq != null) {
    const posted = findEntryBySeq(sql, settled.entrySeq);
    if (posted === null) throw new Error(`invariant: transfer ${row.id}'s entry ${settled.entrySeq} is not here`);
    entry = posted.id;
  }
  return {
    ...transferView(atCut, account.name, account.currency),
    seq: row.seq,
    key_id: row.keyId,
    attempts: row.attempts,
    next_attempt: timestamp(row.nextAttemptMs),
    entry,
  };
}

/** The legs refused before the account was opened, after leg key `afterKey`, in key order. */
export function backupRefusals(sql: CountedSql, afterKey: string, limit: number): BackupPage<BackupRefusal> {
  const rows = refusalsAfter(sql, afterKey, limit + 1);
  return {
    data: rows
      .slice(0, limit)
      .map((row) => ({ leg_key: row.legKey, code: row.code, decided: timestamp(row.decidedMs) })),
    has_more: rows.length > limit,
  };
}

/** A key row with its key, and its entry's tag and type (for the entry's id). */
type KeyRecord = KeyRowRecord & { key: string; tag: number | null; type: number | null };

/** The key rows after pos `afterPos` up to `throughPos`, in pos order, each with its entry's id. */
export function backupKeys(
  sql: CountedSql,
  afterPos: number,
  throughPos: number,
  limit: number,
): BackupPage<BackupKey> {
  const rows = sql.rows<KeyRecord>(
    `SELECT k.pos, k.key, k.fingerprint, k.status, k.code, k.entry_seq, k.decided_ms, k.expires_ms, k.request_tag,
            k.origin, k.digests, k.view, k.body, l.tag, l.type
       FROM keys k LEFT JOIN ledger l ON l.seq = k.entry_seq
      WHERE k.pos > ? AND k.pos <= ? ORDER BY k.pos LIMIT ?`,
    afterPos,
    throughPos,
    limit + 1,
  );
  return { data: rows.slice(0, limit).map(toBackupKey), has_more: rows.length > limit };
}

function toBackupKey(row: KeyRecord): BackupKey {
  let entry: string | null = null;
  if (row.entry_seq !== null) {
    const type = row.type === null ? undefined : ENTRY_TYPES[row.type - 1];
    // Keys leave the object before their entries (period-archive.ts): a key row here finds its entry here.
    if (type === undefined || row.tag === null) {
      throw new Error(`invariant: key ${row.key} names entry ${row.entry_seq}, which is not in the object`);
    }
    entry = formatEntryId(type, row.tag, row.entry_seq);
  }
  return {
    pos: row.pos,
    key: row.key,
    fingerprint: bytesToHex(new Uint8Array(row.fingerprint)),
    status: row.status,
    code: row.code,
    entry_seq: row.entry_seq,
    entry,
    decided: timestamp(row.decided_ms),
    expires: timestamp(row.expires_ms),
    request_tag: row.request_tag,
    origin: row.origin,
    digests: row.digests === null ? null : parseDigests(row.digests),
    view: row.view,
    body: row.body,
  };
}

type DecisionRecord = {
  key: string;
  fingerprint: string;
  status: number;
  code: string | null;
  entry_id: string | null;
  decided_ms: number;
  r_key: string | null;
  request_id: string | null;
  r_fingerprint: string | null;
  r_status: number | null;
  body: string | null;
  created_ms: number | null;
  expires_ms: number | null;
  field_digests: string | null;
  origin_request_id: string | null;
};

/** The decisions kept before schema 7 after `afterKey`, in key order, each with its stored answer while kept. */
export function backupDecisions(sql: CountedSql, afterKey: string, limit: number): BackupPage<BackupDecision> {
  const rows = sql.rows<DecisionRecord>(
    `SELECT d.key, d.fingerprint, d.status, d.code, d.entry_id, d.decided_ms, r.key AS r_key, r.request_id,
            r.fingerprint AS r_fingerprint, r.status AS r_status, r.body, r.created_ms, r.expires_ms, r.field_digests,
            r.origin_request_id
       FROM decisions d LEFT JOIN idempotency_records r ON r.key = d.key
      WHERE d.key > ? ORDER BY d.key LIMIT ?`,
    afterKey,
    limit + 1,
  );
  return {
    data: rows.slice(0, limit).map((row) => ({
      key: row.key,
      fingerprint: row.fingerprint,
      status: row.status,
      code: row.code,
      entry: row.entry_id,
      decided: timestamp(row.decided_ms),
      record:
        row.r_key === null
          ? null
          : {
              request_id: row.request_id ?? "",
              fingerprint: row.r_fingerprint ?? "",
              status: row.r_status ?? 0,
              body: row.body ?? "",
              created: timestamp(row.created_ms ?? 0),
              expires: timestamp(row.expires_ms ?? 0),
              field_digests:
                row.field_digests === null ? null : (JSON.parse(row.field_digests) as Record<string, string>),
              origin_request_id: row.origin_request_id,
            },
    })),
    has_more: rows.length > limit,
  };
}
