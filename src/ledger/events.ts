import { utf8Length } from "../lib/text.ts";
import {
  changesAfterPosition,
  entriesAfter,
  type AccountChangeRow,
  type AccountRow,
  type EntryRow,
} from "./ledger-store.ts";
import type { CountedSql } from "./sql.ts";
import { accountChangeView, entryView } from "./row-views.ts";

/**
 * Ledger events: every entry and every account change, interleaved in the
 * order they happened (a change knows how many entries came before it) and
 * numbered gaplessly by `event_seq` as they are published. They are read
 * straight from the ledger, so they cost a charge nothing; the cursor below
 * records how far publication got, in the same storage.
 */

/**
 * A ledger event as published: `id` is stable across redeliveries (the
 * account and its `event_seq`), so a consumer deduplicates by it. `data` is
 * the entry (with its own `seq`) or the account change (with the account
 * `version` it produced).
 */
export interface LedgerEvent {
  readonly id: string;
  readonly tenant: string | null;
  readonly account: string;
  readonly event_seq: number;
  readonly type: "entry" | "account_change";
  readonly data: unknown;
}

/** How far publication got: the last event_seq sent, and the last entry and change it covered. */
export interface EventCursor {
  readonly publishedThrough: number;
  readonly entrySeq: number;
  readonly changeVersion: number;
  readonly changeField: string;
}

export function readEventCursor(sql: CountedSql): EventCursor {
  const row = sql.first<{ published_through: number; entry_seq: number; change_version: number; change_field: string }>(
    "SELECT published_through, entry_seq, change_version, change_field FROM event_cursor",
  );
  if (row === undefined) throw new Error("invariant: the event cursor is missing");
  return {
    publishedThrough: row.published_through,
    entrySeq: row.entry_seq,
    changeVersion: row.change_version,
    changeField: row.change_field,
  };
}

/** Moves the cursor forward only: a repeated, late record of an earlier send changes nothing. */
export function saveEventCursor(sql: CountedSql, cursor: EventCursor): void {
  sql.run(
    "UPDATE event_cursor SET published_through = ?, entry_seq = ?, change_version = ?, change_field = ? WHERE published_through < ?",
    cursor.publishedThrough,
    cursor.entrySeq,
    cursor.changeVersion,
    cursor.changeField,
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
  const events: LedgerEvent[] = [];
  let next = cursor;
  let bytes = 0;
  let i = 0;
  let j = 0;
  while (events.length < limit) {
    const entry = entries[i];
    const change = changes[j];
    // A list read to its limit may go on in storage: stop at its end rather than skip past it.
    if ((entry === undefined && entries.length === limit) || (change === undefined && changes.length === limit)) break;
    if (entry === undefined && change === undefined) break;
    const takeChange = change !== undefined && (entry === undefined || change.entrySeqBefore < entry.seq);
    const eventSeq = next.publishedThrough + 1;
    const event = takeChange
      ? changeEvent(account, tenant, eventSeq, change)
      : entryEvent(account, tenant, eventSeq, entry as EntryRow);
    // The platform limits a send in bytes: string length counts UTF-16 units, a third of CJK text's UTF-8.
    const size = utf8Length(JSON.stringify(event));
    if (events.length > 0 && bytes + size > maxBytes) break;
    events.push(event);
    bytes += size;
    if (takeChange) {
      next = { ...next, publishedThrough: eventSeq, changeVersion: change.version, changeField: change.field };
      j += 1;
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

function changeEvent(
  account: AccountRow,
  tenant: string | null,
  eventSeq: number,
  change: AccountChangeRow,
): LedgerEvent {
  return { ...envelope(account, tenant, eventSeq), type: "account_change", data: accountChangeView(change) };
}
