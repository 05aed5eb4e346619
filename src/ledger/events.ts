import { utf8Length } from "../lib/text.ts";
import {
  changesAfterPosition,
  entriesAfter,
  type AccountChangeRow,
  type AccountRow,
  type EntryRow,
} from "./ledger-store.ts";
import type { CountedSql } from "./sql.ts";
import { accountChangeView, entryView, holdView } from "./row-views.ts";
import { holdAsChanged, holdChangesAfter, type HoldChangeRow } from "./hold-store.ts";

/**
 * Ledger events: every entry, every account change and every change of a
 * hold's state, interleaved in the order they happened (a change knows how
 * many entries came before it; at one place in the ledger, account changes
 * come before hold changes) and numbered gaplessly by `event_seq` as they
 * are published. They are read
 * straight from the ledger, so they cost a charge nothing; the cursor below
 * records how far publication got, in the same storage.
 */

/**
 * A ledger event as published: `id` is stable across redeliveries (the
 * account and its `event_seq`), so a consumer deduplicates by it. `data` is
 * the entry (with its own `seq`), the account change (with the account
 * `version` it produced) or the hold (in the state it changed to).
 */
export interface LedgerEvent {
  readonly id: string;
  readonly tenant: string | null;
  readonly account: string;
  readonly event_seq: number;
  readonly type: "entry" | "account_change" | "hold";
  readonly data: unknown;
}

/** How far publication got: the last event_seq sent, and the last entry, change and hold change it covered. */
export interface EventCursor {
  readonly publishedThrough: number;
  readonly entrySeq: number;
  readonly changeVersion: number;
  readonly changeField: string;
  /** Hold changes are numbered gaplessly from 1: the last one sent (0: none). */
  readonly holdChange: number;
}

/**
 * The cursor as stored, checked against the ledger it points into: it never
 * passes the last entry, and it counts one event for each entry and each
 * change it has passed. Read by the alarm, never on the money path.
 */
export function readEventCursor(sql: CountedSql): EventCursor {
  const row = sql.first<{
    published_through: number;
    entry_seq: number;
    change_version: number;
    change_field: string;
    hold_change: number;
    last_seq: number;
    changes_passed: number;
    hold_changes: number;
  }>(
    `SELECT c.published_through, c.entry_seq, c.change_version, c.change_field, c.hold_change,
            (SELECT COALESCE(MAX(seq), 0) FROM hold_changes) AS hold_changes,
            MAX((SELECT COALESCE(MAX(seq), 0) FROM entries), (SELECT COALESCE(MAX(seq), 0) FROM ledger),
                (SELECT COALESCE(MAX(last_seq), 0) FROM periods)) AS last_seq,
            (SELECT COUNT(*) FROM account_changes WHERE (version, field) <= (c.change_version, c.change_field)) AS changes_passed
       FROM event_cursor c`,
  );
  if (row === undefined) throw new Error("invariant: the event cursor is missing");
  if (row.entry_seq < 0 || row.entry_seq > row.last_seq) {
    throw new Error(`invariant: the event cursor is at entry ${row.entry_seq}, the ledger ends at ${row.last_seq}`);
  }
  if (row.hold_change < 0 || row.hold_change > row.hold_changes) {
    throw new Error(`invariant: the event cursor is at hold change ${row.hold_change} of ${row.hold_changes}`);
  }
  if (row.published_through !== row.entry_seq + row.changes_passed + row.hold_change) {
    throw new Error(
      `invariant: the event cursor counts ${row.published_through} events for ${row.entry_seq} entries, ${row.changes_passed} changes and ${row.hold_change} hold changes`,
    );
  }
  return {
    publishedThrough: row.published_through,
    entrySeq: row.entry_seq,
    changeVersion: row.change_version,
    changeField: row.change_field,
    holdChange: row.hold_change,
  };
}

/**
 * Moves the cursor forward only. The alarm runs one at a time and reads the
 * cursor before each send, so a position before the stored one would mean
 * events published out of order: it throws (the transaction rolls back). The
 * same position again (a repeated record) changes nothing.
 */
export function saveEventCursor(sql: CountedSql, cursor: EventCursor): void {
  const stored = readEventCursor(sql);
  if (
    cursor.publishedThrough < stored.publishedThrough ||
    cursor.entrySeq < stored.entrySeq ||
    cursor.changeVersion < stored.changeVersion ||
    cursor.holdChange < stored.holdChange ||
    (cursor.changeVersion === stored.changeVersion && cursor.changeField < stored.changeField)
  ) {
    throw new Error(
      `invariant: the event cursor would move back from ${stored.publishedThrough} to ${cursor.publishedThrough}`,
    );
  }
  sql.run(
    "UPDATE event_cursor SET published_through = ?, entry_seq = ?, change_version = ?, change_field = ?, hold_change = ? WHERE published_through < ?",
    cursor.publishedThrough,
    cursor.entrySeq,
    cursor.changeVersion,
    cursor.changeField,
    cursor.holdChange,
    cursor.publishedThrough,
  );
}

/**
 * The next events after `cursor`, in order: at most `limit`, and no more
 * than fit `maxBytes` of UTF-8 JSON (at least one). Returns them with the cursor after them.
 */
export function nextEvents(
  sql: CountedSql,
  account: AccountRow,
  tenant: string | null,
  cursor: EventCursor,
  limit: number,
  maxBytes: number,
): { events: LedgerEvent[]; cursor: EventCursor } {
  const entries = entriesAfter(sql, cursor.entrySeq, limit);
  const changes = changesAfterPosition(sql, cursor.changeVersion, cursor.changeField, limit);
  const holds = holdChangesAfter(sql, cursor.holdChange, limit);
  const events: LedgerEvent[] = [];
  let next = cursor;
  let bytes = 0;
  let i = 0;
  let j = 0;
  let k = 0;
  while (events.length < limit) {
    const entry = entries[i];
    const change = changes[j];
    const hold = holds[k];
    // A list read to its limit may go on in storage: stop at its end rather than skip past it.
    if (
      (entry === undefined && entries.length === limit) ||
      (change === undefined && changes.length === limit) ||
      (hold === undefined && holds.length === limit)
    ) {
      break;
    }
    // Each stream's next item, placed after the entries before it; an entry is placed after the one before it.
    const entryAt = entry === undefined ? Infinity : entry.seq - 1;
    const changeAt = change === undefined ? Infinity : change.entrySeqBefore;
    const holdAt = hold === undefined ? Infinity : hold.entrySeqBefore;
    if (entryAt === Infinity && changeAt === Infinity && holdAt === Infinity) break;
    const eventSeq = next.publishedThrough + 1;
    const take: "change" | "hold" | "entry" =
      change !== undefined && changeAt <= holdAt && changeAt <= entryAt
        ? "change"
        : hold !== undefined && holdAt <= entryAt
          ? "hold"
          : "entry";
    const event =
      take === "change"
        ? changeEvent(account, tenant, eventSeq, change as AccountChangeRow)
        : take === "hold"
          ? holdEvent(account, tenant, eventSeq, hold as HoldChangeRow)
          : entryEvent(account, tenant, eventSeq, entry as EntryRow);
    // The platform limits a send in bytes: string length counts UTF-16 units, a third of CJK text's UTF-8.
    const size = utf8Length(JSON.stringify(event));
    if (events.length > 0 && bytes + size > maxBytes) break;
    events.push(event);
    bytes += size;
    if (take === "change") {
      const taken = change as AccountChangeRow;
      next = { ...next, publishedThrough: eventSeq, changeVersion: taken.version, changeField: taken.field };
      j += 1;
    } else if (take === "hold") {
      next = { ...next, publishedThrough: eventSeq, holdChange: (hold as HoldChangeRow).seq };
      k += 1;
    } else {
      next = { ...next, publishedThrough: eventSeq, entrySeq: (entry as EntryRow).seq };
      i += 1;
    }
  }
  return { events, cursor: next };
}

function envelope(account: AccountRow, tenant: string | null, eventSeq: number) {
  return { id: `${tenant ?? "-"}:${account.name}:${eventSeq}`, tenant, account: account.name, event_seq: eventSeq };
}

function entryEvent(account: AccountRow, tenant: string | null, eventSeq: number, entry: EntryRow): LedgerEvent {
  return { ...envelope(account, tenant, eventSeq), type: "entry", data: entryView(entry, account.currency) };
}

/** A hold's change of state: the hold as the change left it. */
function holdEvent(account: AccountRow, tenant: string | null, eventSeq: number, change: HoldChangeRow): LedgerEvent {
  return {
    ...envelope(account, tenant, eventSeq),
    type: "hold",
    data: holdView(holdAsChanged(change), account.currency),
  };
}

function changeEvent(
  account: AccountRow,
  tenant: string | null,
  eventSeq: number,
  change: AccountChangeRow,
): LedgerEvent {
  return { ...envelope(account, tenant, eventSeq), type: "account_change", data: accountChangeView(change) };
}
