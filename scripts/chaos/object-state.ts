/**
 * What the API cannot say, read on a local run from the account objects'
 * SQLite files (read-only, as the bench reads them: scripts/bench/object-storage.ts):
 * whether a period's rows have left the object. Only to count the retries
 * that really reached the archive and the periods really pruned; every
 * judgement of the audit stays on the API.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseRowId } from "../../src/ledger/row-ids.ts";
import { AccountObjects } from "../bench/object-storage.ts";

export interface PruneState {
  /** Whether the period's rows have all left the object; null when its file cannot be read. */
  pruned(account: string, periodId: number): boolean | null;
  /** Of the accounts' periods, how many there are and how many have all left the object; null when unreadable. */
  count(accounts: readonly string[]): { periods: number; pruned: number } | null;
  /**
   * A transfer's row on its source (its deliveries tried and when the next is due) and the object's
   * alarm as the runtime stored it, in words: what a transfer still pending is waiting for. Null when unreadable.
   */
  transfer(account: string, transferId: string): string | null;
}

export function localPruneState(stateDir: string): PruneState {
  const objects = new AccountObjects({ root: join(stateDir, "v3", "do"), suffix: "-AccountLedger" });
  // Once pruned, a period stays pruned: only those not yet are read again.
  const prunedSeen = new Set<string>();
  return {
    pruned(account, periodId) {
      const id = `${account}/${String(periodId)}`;
      if (prunedSeen.has(id)) return true;
      try {
        const period = objects.period(account, periodId);
        if (period === null) return null;
        if (period.pruned === 2) prunedSeen.add(id);
        return period.pruned === 2;
      } catch {
        return null;
      }
    },
    transfer(account, transferId) {
      const seq = parseRowId(transferId)?.seq;
      if (seq === undefined) return null;
      try {
        const db = new DatabaseSync(objects.file(account), { readOnly: true });
        try {
          const row = db
            .prepare("SELECT state, attempts, next_attempt_ms, created_ms FROM transfers WHERE seq = ?")
            .get(seq) as { state: string; attempts: number; next_attempt_ms: number; created_ms: number } | undefined;
          // workerd keeps the object's alarm in its own table, in nanoseconds (key 1).
          let alarm = "the object's alarm unreadable";
          try {
            const read = db.prepare("SELECT value FROM _cf_METADATA WHERE key = 1");
            read.setReadBigInts(true);
            const value = (read.get() as { value?: bigint } | undefined)?.value;
            alarm =
              value === undefined
                ? "the object has no alarm"
                : `the object's alarm at ${new Date(Number(value / 1_000_000n)).toISOString()}`;
          } catch {
            // not where this runtime keeps it
          }
          if (row === undefined) return `no row ${seq}; ${alarm}`;
          return (
            `its row: ${row.state}, ${row.attempts} deliveries tried, next due ${new Date(row.next_attempt_ms).toISOString()}; ` +
            alarm
          );
        } finally {
          db.close();
        }
      } catch {
        return null;
      }
    },
    count(accounts) {
      try {
        let periods = 0;
        let pruned = 0;
        for (const account of new Set(accounts)) {
          const state = objects.periods(account);
          periods += state.total;
          pruned += state.total - state.unpruned;
        }
        return { periods, pruned };
      } catch {
        return null;
      }
    },
  };
}
