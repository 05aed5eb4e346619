import type { PeriodPolicySettings } from "../config/period-close-settings.ts";
import type { LedgerHead } from "./ledger-store.ts";
import { lastPeriod } from "./period-store.ts";
import type { CountedSql } from "./sql.ts";

/**
 * When the open period closes on its own: once it holds `closeAtEntries`
 * entries, or once it is `closeAfterMs` old (counted from the last close,
 * or from the account's opening for its first period), and never while it
 * is empty. Kept in memory, so a group commit asks it without a read.
 */
export class PeriodPolicy {
  private readonly sql: CountedSql;
  private readonly settings: PeriodPolicySettings;
  private readonly openedMs: () => number | null;
  /** Where the open period starts: its first seq, and the time its age is counted from. */
  private open: { firstSeq: number; sinceMs: number } | undefined;

  constructor(sql: CountedSql, settings: PeriodPolicySettings, openedMs: () => number | null) {
    this.sql = sql;
    this.settings = settings;
    this.openedMs = openedMs;
  }

  /** When the open period is due to close, given the head; null while it is empty (or before the account exists). */
  dueMs(head: LedgerHead, nowMs: number): number | null {
    const open = this.openPeriod();
    if (open === null || head.entryCount < open.firstSeq) return null;
    if (head.entryCount - open.firstSeq + 1 >= this.settings.closeAtEntries) return nowMs;
    return open.sinceMs + this.settings.closeAfterMs;
  }

  /** Whether the open period is due now. */
  isDue(head: LedgerHead, nowMs: number): boolean {
    const due = this.dueMs(head, nowMs);
    return due !== null && due <= nowMs;
  }

  /** Told of every close (and of a failed transaction, with nothing): read again from storage when next asked. */
  forget(): void {
    this.open = undefined;
  }

  private openPeriod(): { firstSeq: number; sinceMs: number } | null {
    if (this.open !== undefined) return this.open;
    const last = lastPeriod(this.sql);
    const sinceMs = last?.createdMs ?? this.openedMs();
    if (sinceMs === null) return null;
    this.open = { firstSeq: (last?.lastSeq ?? 0) + 1, sinceMs };
    return this.open;
  }
}
