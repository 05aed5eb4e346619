/**
 * Periods in a chaos run: closes asked for while the money moves (through
 * the same bad network, each retried like any keyed request until it has a
 * definite answer), the wait for every closed period to be archived, and
 * the timeline that says which keys had left the object for the archive
 * when they were sent again.
 */
import {
  IdempotencyKeyExpiredError,
  LedgerProblemError,
  OutcomeUnknownError,
  type LedgerClient,
  type PeriodView,
} from "../../src/client/onceledger-client.ts";
import { forEachConcurrently } from "../lib/concurrency.ts";
import type { CloseOp } from "./model.ts";
import { pick, type Random } from "./random.ts";
import { MAX_CALLS_PER_OPERATION } from "./workload.ts";

/** Share of closes sent to an account that already has periods, so chains grow past one link. */
const REPEAT_ACCOUNT_SHARE = 0.5;
/** Share of closes followed at once by a second one (a new key) on the same account: mostly `period_empty`. */
const SECOND_CLOSE_SHARE = 0.2;
const PAGE_SIZE = 100;
const POLL_MS = 500;

export interface CloseStats {
  /** Closes asked for, second closes included. */
  asked: number;
  closed: number;
  empty: number;
  /** Closes whose definite answer was their key's expired decision. */
  expiredAnswers: number;
  replayedAnswers: number;
  attempts: number;
}

export interface CloseSchedule {
  readonly closes: CloseOp[];
  readonly stats: CloseStats;
  /** Call after each finished operation: at every `every`th one a close starts in the background. */
  tick(done: number): void;
  /** Resolves once every close asked for has its definite answer. */
  settle(): Promise<void>;
}

/**
 * Every `every` finished operations, counted over the whole run (not per
 * account), closes the open period of one account: a random one, or half
 * the time one that already has periods; a fifth of the time a second close
 * follows on the same account with a new key as soon as the first has its
 * answer. 0 closes nothing.
 */
export function closeSchedule(
  client: LedgerClient,
  options: { every: number; accounts: readonly string[]; random: Random },
): CloseSchedule {
  const closes: CloseOp[] = [];
  const stats: CloseStats = { asked: 0, closed: 0, empty: 0, expiredAnswers: 0, replayedAnswers: 0, attempts: 0 };
  const running = new Set<Promise<void>>();
  const withPeriods: string[] = [];
  let next = options.every;

  const closeOne = async (account: string): Promise<CloseOp> => {
    const close: CloseOp = {
      account,
      key: null,
      outcome: null,
      calls: 0,
      attempts: 0,
      sentMs: Date.now(),
      answeredMs: null,
    };
    closes.push(close);
    stats.asked += 1;
    await settleClose(client, close, stats);
    if (close.outcome?.kind === "closed" && !withPeriods.includes(account)) withPeriods.push(account);
    return close;
  };
  const start = () => {
    const random = options.random;
    const account =
      withPeriods.length > 0 && random() < REPEAT_ACCOUNT_SHARE
        ? pick(random, withPeriods)
        : pick(random, options.accounts);
    const again = random() < SECOND_CLOSE_SHARE;
    const job = closeOne(account).then(async () => {
      if (again) await closeOne(account);
    });
    running.add(job);
    void job.finally(() => running.delete(job));
  };

  return {
    closes,
    stats,
    tick(done) {
      if (options.every === 0) return;
      while (done >= next) {
        next += options.every;
        start();
      }
    },
    async settle() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}

/** Calls the client until the close has a definite answer, reusing its key after every unknown one. */
async function settleClose(client: LedgerClient, close: CloseOp, stats: CloseStats): Promise<void> {
  while (close.outcome === null) {
    if (close.calls === MAX_CALLS_PER_OPERATION) {
      close.outcome = { kind: "undetermined", reason: `no definite answer in ${close.calls} calls` };
      break;
    }
    close.calls += 1;
    try {
      const result = await client.closePeriod(close.account, close.key === null ? {} : { idempotencyKey: close.key });
      close.key = result.idempotencyKey;
      close.attempts += result.attempts;
      if (result.replayed) stats.replayedAnswers += 1;
      close.outcome = { kind: "closed", period: result.value };
    } catch (error) {
      if (error instanceof IdempotencyKeyExpiredError) {
        close.key = error.idempotencyKey;
        close.attempts += error.attempts;
        stats.expiredAnswers += 1;
        close.outcome =
          error.originalStatus === 201 && error.originalCode === null && error.entryId === null
            ? { kind: "closed", period: null }
            : error.originalCode === "period_empty"
              ? { kind: "empty", lastSeq: null }
              : { kind: "unexpected", status: error.status, code: error.code, detail: error.problem.detail };
      } else if (error instanceof LedgerProblemError) {
        close.key = error.idempotencyKey;
        close.attempts += error.attempts;
        if (error.replayed) stats.replayedAnswers += 1;
        close.outcome =
          error.code === "period_empty" && typeof error.problem.last_seq === "number"
            ? { kind: "empty", lastSeq: error.problem.last_seq }
            : { kind: "unexpected", status: error.status, code: error.code, detail: error.problem.detail };
      } else if (error instanceof OutcomeUnknownError) {
        close.key = error.idempotencyKey;
        close.attempts += error.attempts;
      } else {
        throw error;
      }
    }
  }
  close.answeredMs = Date.now();
  stats.attempts += close.attempts;
  if (close.outcome.kind === "closed") stats.closed += 1;
  if (close.outcome.kind === "empty") stats.empty += 1;
}

/** Every period of the account, oldest first, each as it is now. */
export async function allPeriods(client: LedgerClient, account: string): Promise<PeriodView[]> {
  const periods: PeriodView[] = [];
  let startingAfter: number | undefined;
  for (;;) {
    const page = await client.listPeriods(
      account,
      startingAfter === undefined ? { limit: PAGE_SIZE } : { limit: PAGE_SIZE, startingAfter },
    );
    periods.push(...page.value.data);
    const last = page.value.data.at(-1);
    if (!page.value.has_more || last === undefined) return periods;
    startingAfter = last.id;
  }
}

export interface Quiescence {
  readonly periods: number;
  readonly archived: number;
  readonly seconds: number;
}

/**
 * Polls the accounts' periods until every one is archived, or `timeoutMs`
 * passes (the audit then reports the ones still closing).
 */
export async function waitForArchived(
  client: LedgerClient,
  accounts: readonly string[],
  options: { timeoutMs: number; concurrency: number },
): Promise<Quiescence> {
  const startedMs = Date.now();
  let waiting = [...new Set(accounts)];
  const counts = new Map<string, { periods: number; archived: number }>();
  for (;;) {
    const still: string[] = [];
    await forEachConcurrently(waiting, options.concurrency, async (account) => {
      const listed = await allPeriods(client, account);
      const done = listed.filter((period) => period.state === "archived").length;
      counts.set(account, { periods: listed.length, archived: done });
      if (done < listed.length) still.push(account);
    });
    waiting = still;
    if (waiting.length === 0 || Date.now() - startedMs >= options.timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const all = [...counts.values()];
  return {
    periods: all.reduce((sum, count) => sum + count.periods, 0),
    archived: all.reduce((sum, count) => sum + count.archived, 0),
    seconds: (Date.now() - startedMs) / 1000,
  };
}

/**
 * Which keys had left the object when they were sent again. A key decided
 * (its answer in hand) before a close of its account was sent is in that
 * close's period or an earlier one, and periods leave the object oldest
 * first. On a local run the object's own file says whether that period's
 * rows have left (`pruned`, object-state.ts). Otherwise, judged from
 * outside: the period's keys all expire by the close's answer plus the TTL,
 * its rows leave at the next alarm after that, and `windowMs` (the wait
 * before a redelivery, at least the TTL plus a margin) has passed since.
 */
export class ArchiveTimeline {
  private readonly closes: readonly CloseOp[];
  private readonly windowMs: number;
  private readonly pruned: ((account: string, periodId: number) => boolean | null) | null;

  /** `closes` is read live, so closes still being made count as soon as they have their answer. */
  constructor(
    closes: readonly CloseOp[],
    windowMs: number,
    pruned: ((account: string, periodId: number) => boolean | null) | null = null,
  ) {
    this.closes = closes;
    this.windowMs = windowMs;
    this.pruned = pruned;
  }

  /** How `archivedAt` knows: from the objects' own files, or from the times alone. */
  get judgedBy(): "object files" | "timing" {
    return this.pruned === null ? "timing" : "object files";
  }

  /** Whether the key of `op` (decided by `decidedMs`) had left for the archive by `atMs` (now, for the object files). */
  archivedAt(op: { readonly account: string; readonly decidedMs?: number | null }, atMs: number): boolean {
    return this.closesAfter(op).some((close) => {
      const id = close.outcome?.kind === "closed" ? (close.outcome.period?.id ?? null) : null;
      const known = this.pruned === null || id === null ? null : this.pruned(op.account, id);
      return known ?? atMs - (close.answeredMs ?? Infinity) >= this.windowMs;
    });
  }

  /** Whether the key was decided before some close of its account (its period closed, archived or not). */
  closedOver(op: { readonly account: string; readonly decidedMs?: number | null }): boolean {
    return this.closesAfter(op).length > 0;
  }

  /** The closes of the account that closed a period, sent after the key was decided. */
  private closesAfter(op: { readonly account: string; readonly decidedMs?: number | null }): CloseOp[] {
    const decidedMs = op.decidedMs;
    if (decidedMs === undefined || decidedMs === null) return [];
    return this.closes.filter(
      (close) =>
        close.account === op.account &&
        close.outcome?.kind === "closed" &&
        close.answeredMs !== null &&
        decidedMs < close.sentMs,
    );
  }
}
