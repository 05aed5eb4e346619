/**
 * What the API cannot say, read on a local run from the account objects'
 * SQLite files (read-only, as the bench reads them: scripts/bench/object-storage.ts):
 * whether a period's rows have left the object. Only to count the retries
 * that really reached the archive and the periods really pruned; every
 * judgement of the audit stays on the API.
 */
import { join } from "node:path";
import { AccountObjects } from "../bench/object-storage.ts";

export interface PruneState {
  /** Whether the period's rows have all left the object; null when its file cannot be read. */
  pruned(account: string, periodId: number): boolean | null;
  /** Of the accounts' periods, how many there are and how many have all left the object; null when unreadable. */
  count(accounts: readonly string[]): { periods: number; pruned: number } | null;
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
