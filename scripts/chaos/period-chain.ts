/**
 * The audit's judgement of an account's periods. The chain itself is
 * `npm run verify`'s check (scripts/verify/chain.ts), run on the entries'
 * text exactly as the API served it: ranges, balances (opening plus the
 * entries is closing), every archived period's sha256 recomputed and linked
 * to the one before, and, when the run can read the archive bucket, every
 * archived object's size and digest. On top of it, what only the run knows:
 * every period was closed by exactly one of its closes, which was answered
 * with that period as closed, and every period is archived.
 */
import type { PeriodView } from "../../src/client/onceledger-client.ts";
import { verifyChain, type ObjectReader, type ProblemKind } from "../verify/chain.ts";
import type { Flag, ViolationKind } from "./checks.ts";
import type { CloseOp } from "./model.ts";

export interface PeriodTally {
  readonly periods: number;
  readonly archived: number;
  /** Archived periods before the first that does not match (all of them when none does). */
  readonly verified: number;
  /** Archived objects read from the bucket and checked; null when the bucket was not read. */
  readonly objectsRead: number | null;
}

const VIOLATION_OF: Record<ProblemKind, ViolationKind> = {
  range: "periodMismatches",
  balance: "periodMismatches",
  link: "chainMismatches",
  chain: "chainMismatches",
  object: "chainMismatches",
};

/**
 * Checks one account's periods against its entries (`entryTexts`: every
 * entry's JSON text as served, seq order from 1), the account and the closes
 * the run sent to it. A period still closing is flagged as unarchived: the
 * run waits for every period to be archived before it audits.
 */
export async function checkPeriods(
  account: string,
  ledger: {
    readonly periods: readonly PeriodView[];
    readonly entryTexts: readonly string[];
    readonly state: { readonly entry_count: number; readonly balance: number };
  },
  closes: readonly CloseOp[],
  flag: Flag,
  readObject?: ObjectReader,
): Promise<PeriodTally> {
  const { periods } = ledger;
  const report = await verifyChain({
    periods,
    entries: ledger.entryTexts,
    account: ledger.state,
    ...(readObject === undefined ? {} : { readObject }),
  });
  const mismatch = report.mismatch;
  if (mismatch !== null) {
    const where = mismatch.period === null ? "the open period" : `period ${mismatch.period}`;
    for (const problem of mismatch.problems) {
      flag(VIOLATION_OF[problem.kind], `${account} ${where}: ${problem.kind}: ${problem.detail}`);
    }
  }
  for (const period of periods) {
    if (period.state !== "archived") {
      flag("unarchivedPeriods", `${account} period ${period.id}: still ${period.state} after the run waited for it`);
    }
  }
  checkCloses(account, periods, closes, flag);
  const firstBad = mismatch?.period ?? Infinity;
  return {
    periods: periods.length,
    archived: report.archived,
    verified: periods.filter((period) => period.state === "archived" && period.id < firstBad).length,
    objectsRead: report.objects?.read ?? null,
  };
}

/**
 * Every period was closed by exactly one of the run's closes of the account,
 * and that close was answered with the period as closed (`state` closing, no
 * digest or objects yet). A close answered `period_empty` names the seq
 * where a period closed. A close whose definite answer was its expired
 * decision (a 201 that does not say which period) takes a period no other
 * close names.
 */
export function checkCloses(
  account: string,
  periods: readonly PeriodView[],
  closes: readonly CloseOp[],
  flag: Flag,
): void {
  const byId = new Map(periods.map((period) => [period.id, period]));
  const claimed = new Map<number, string>();
  let unnamed = 0;
  for (const close of closes) {
    const label = `${account} close key ${close.key ?? "(none)"}`;
    const outcome = close.outcome;
    if (outcome === null || outcome.kind === "undetermined") {
      flag("undetermined", `${label}: ${outcome?.reason ?? "never settled"}`);
    } else if (outcome.kind === "unexpected") {
      flag("unexpectedProblems", `${label}: ${outcome.status} ${outcome.code}: ${outcome.detail}`);
    } else if (outcome.kind === "empty") {
      if (outcome.lastSeq !== null && !periods.some((period) => period.last_seq === outcome.lastSeq)) {
        flag("periodMismatches", `${label}: answered period_empty at seq ${outcome.lastSeq}, where no period closed`);
      }
    } else if (outcome.period === null) {
      unnamed += 1;
    } else {
      const answered = outcome.period;
      const period = byId.get(answered.id);
      const other = claimed.get(answered.id);
      if (period === undefined) {
        flag("periodMismatches", `${label}: closed period ${answered.id}, which the account does not list`);
        continue;
      }
      if (other !== undefined) {
        flag("periodMismatches", `${label}: closed period ${answered.id}, as did close key ${other}`);
      }
      claimed.set(answered.id, close.key ?? "(none)");
      const asClosed = { ...period, sha256: null, previous_sha256: null, objects: [], state: "closing" };
      if (JSON.stringify(answered) !== JSON.stringify(asClosed)) {
        flag(
          "periodMismatches",
          `${label}: was answered ${JSON.stringify(answered)}, the period is ${JSON.stringify(period)}`,
        );
      }
    }
  }
  const unclaimed = periods.filter((period) => !claimed.has(period.id));
  if (unclaimed.length !== unnamed) {
    flag(
      "periodMismatches",
      `${account}: period(s) ${unclaimed.map((period) => period.id).join(", ") || "none"} closed by no close that named them, ` +
        `against ${unnamed} close(s) answered only with their expired decision`,
    );
  }
}
