import {
  ALARM_RUN_STALE_MS,
  EVENT_PUBLISH_DELAY_MS,
  EVENT_RETRY_DELAY_MS,
  EXPIRY_SWEEP_BATCH_SIZE,
} from "../domain/limits.ts";
import { logError, logInfo } from "../observability/log.ts";
import { deleteExpired, earliestExpiry } from "./idempotency-records.ts";
import type { LedgerHead } from "./ledger-store.ts";
import { hasSchema } from "./schema.ts";
import { workSince, type CountedSql } from "./sql.ts";

/**
 * What each of the object's jobs needs of its one alarm; a job left out has
 * nothing to do. A new job is one more field here and one more entry in DUE.
 */
export interface AlarmNeeds {
  /** The expiry sweep: the earliest expiry of a stored record. */
  readonly earliestExpiryMs?: number | null | undefined;
  /** The outbox: events just appended, left over from a run, or held back by a failed send. */
  readonly events?: "new" | "pending" | "failed" | undefined;
  /** The directory listing: retried while the account is not listed. */
  readonly listed?: boolean | undefined;
  /** Periods: the next automatic close, archive step or prune (period-policy.ts, period-archive.ts). */
  readonly periodsDueMs?: number | null | undefined;
  /** Holds: the earliest expiry of a held hold (hold-operations.ts). */
  readonly holdsDueMs?: number | null | undefined;
  /** Transfers: the earliest next delivery of a pending transfer (transfer-delivery.ts). */
  readonly transfersDueMs?: number | null | undefined;
}

/** When each job is next due, given what it needs; null when it has nothing to do. */
const DUE: { readonly [Job in keyof AlarmNeeds]-?: (needs: AlarmNeeds, nowMs: number) => number | null } = {
  earliestExpiryMs: (needs) => needs.earliestExpiryMs ?? null,
  // New events wait a moment, so that one send carries many.
  events: (needs, nowMs) =>
    needs.events === "new"
      ? nowMs + EVENT_PUBLISH_DELAY_MS
      : needs.events === "pending"
        ? nowMs
        : needs.events === "failed"
          ? nowMs + EVENT_RETRY_DELAY_MS
          : null,
  listed: (needs, nowMs) => (needs.listed === false ? nowMs + EVENT_RETRY_DELAY_MS : null),
  periodsDueMs: (needs, nowMs) =>
    needs.periodsDueMs === null || needs.periodsDueMs === undefined ? null : Math.max(needs.periodsDueMs, nowMs),
  holdsDueMs: (needs, nowMs) =>
    needs.holdsDueMs === null || needs.holdsDueMs === undefined ? null : Math.max(needs.holdsDueMs, nowMs),
  transfersDueMs: (needs, nowMs) =>
    needs.transfersDueMs === null || needs.transfersDueMs === undefined ? null : Math.max(needs.transfersDueMs, nowMs),
};
const JOBS = Object.values(DUE);

/** The object's one schedule: the earliest time any job is due, null when none has anything to do. */
export function nextAlarmMs(needs: AlarmNeeds, nowMs: number): number | null {
  let due: number | null = null;
  for (const job of JOBS) {
    const at = job(needs, nowMs);
    if (at !== null && (due === null || at < due)) due = at;
  }
  return due;
}

/** Thrown where a run that a later run has taken over would write: it records nothing more. */
export class SupersededRun extends Error {
  constructor() {
    super("alarm run superseded: a later run took over");
    this.name = "SupersededRun";
  }
}

/**
 * An alarm run's writes go through this. A run that a later one has taken over (it had been under
 * way ALARM_RUN_STALE_MS) may still resume, with what it read before its await out of date: its
 * every write after that throws SupersededRun instead.
 */
export interface RunStorage {
  /** Throws SupersededRun if a later run has taken over: a job calls it after an await, before any write (R2 too). */
  check(): void;
  /** The object's transactionSync, once check() passes. */
  transactionSync<T>(closure: () => T): T;
}

/** The jobs an alarm run does after its sweep. */
export interface AlarmJobs {
  /** Lists the account in its tenant's directory: true once it is listed (or there is nothing to list it in). */
  list(): Promise<boolean>;
  /** Publishes pending events: how many went out, whether more wait, and whether a send failed. */
  publish(run: RunStorage): Promise<{ published: number; more: boolean; failed: boolean }>;
  /** Expires the holds due (a bounded batch, through the group commit): when the next held hold expires, null when none is held. */
  expireHolds(): Promise<number | null>;
  /** Delivers the pending transfers due (a bounded number): when the next is due, null when none is pending. */
  deliverTransfers(run: RunStorage): Promise<number | null>;
  /** Runs the periods' job once (an automatic close when due, then one archive or prune step): when it is next due. */
  periods(
    run: RunStorage,
  ): Promise<{ did: string; period: number | null; r2Operations: number; nextDueMs: number | null }>;
  /**
   * What the committed ledger head needs of the alarm now (holds to expire,
   * transfers to deliver, the next automatic close), from memory: a group
   * that committed while a run was under way may need it sooner than the run knew.
   */
  headNeeds(nowMs: number): AlarmNeeds;
  /** When the periods' job is next due for a group that leaves the ledger at `head`: from memory, on the money path. */
  periodsDue(head: LedgerHead, nowMs: number): number | null;
  /** Records a finished run's metric point. */
  measure(run: { deleted: number; lagMs: number; eventsPublished: number; storageBytes: number }): void;
}

/**
 * The object's one alarm: every place that sets it computes the time with
 * nextAlarmMs, and its runs go one at a time.
 */
export class AlarmSchedule {
  private readonly storage: DurableObjectStorage;
  private readonly sql: CountedSql;
  private readonly jobs: AlarmJobs;
  /** The alarm as read before the group being decided (null: none), and as that group set it. */
  private alarmAtMs: number | null = null;
  /** A group's needs, one record reused for every group so that the hot path allocates nothing for them. */
  private readonly groupNeeds: {
    earliestExpiryMs: number | null;
    events: "new" | undefined;
    periodsDueMs: number | null;
    holdsDueMs: number | null;
    transfersDueMs: number | null;
  } = { earliestExpiryMs: null, events: undefined, periodsDueMs: null, holdsDueMs: null, transfersDueMs: null };
  /** The last run asked for, until it settles: when it started its jobs, and its end either way. */
  private lastRun: { started: Promise<number>; settled: Promise<void> } | null = null;
  /** The run whose writes go through: the latest to start its jobs. */
  private current = 0;

  constructor(storage: DurableObjectStorage, sql: CountedSql, jobs: AlarmJobs) {
    this.storage = storage;
    this.sql = sql;
    this.jobs = jobs;
  }

  /** Before each group commit: the alarm as it stands (setting it is synchronous, reading it is not). */
  async readBeforeGroup(): Promise<void> {
    this.alarmAtMs = await this.storage.getAlarm();
  }

  /**
   * Inside a group's transaction, so it rolls back with it: keeps the alarm at
   * the earliest thing due, writing it only when that moves earlier (the next
   * close is due long after most groups, so a group rarely moves it).
   */
  armForGroup(newEvents: boolean, head: LedgerHead | null, nowMs: number): void {
    const needs = this.groupNeeds;
    needs.earliestExpiryMs = null;
    needs.events = newEvents ? "new" : undefined;
    needs.periodsDueMs = head === null ? null : this.jobs.periodsDue(head, nowMs);
    needs.holdsDueMs = head?.holdsDueMs ?? null;
    needs.transfersDueMs = head?.transfersDueMs ?? null;
    const due = nextAlarmMs(needs, nowMs);
    if (due === null || (this.alarmAtMs !== null && this.alarmAtMs <= due)) return;
    // An alarm that used up its retries is gone: setting it again brings back the sweep of records stored before schema 7.
    needs.earliestExpiryMs = earliestExpiry(this.sql);
    const at = nextAlarmMs(needs, nowMs) ?? due;
    void this.storage.setAlarm(at);
    this.alarmAtMs = at;
  }

  /** Outside a group (a failed listing): sets the alarm to when `needs` are due, unless it is already sooner. */
  async armBy(needs: AlarmNeeds, nowMs: number): Promise<void> {
    const due = nextAlarmMs(needs, nowMs);
    if (due === null) return;
    const current = await this.storage.getAlarm();
    if (current === null || current > due) await this.storage.setAlarm(due);
  }

  /**
   * One alarm run: first, synchronously, it deletes one bounded batch of
   * expired records; then it lists the account, expires the holds due,
   * delivers the transfers due, publishes pending events and runs the
   * periods' job, and re-arms for whatever is left of any of them. Safe to
   * run twice. A run asked for while another is under way waits for it, for
   * ALARM_RUN_STALE_MS of its run at most; a run it then takes over from
   * writes nothing more (RunStorage).
   */
  run(): Promise<void> {
    // One run at a time: a run asked for while another is under way (a platform retry, a test's
    // run) waits for it, or until it is stale. Otherwise it starts at once, its sweep in this very turn.
    const before = this.lastRun;
    const { promise: started, resolve: start } = Promise.withResolvers<number>();
    const begin = () => {
      this.current += 1;
      start(Date.now());
      return this.runJobs(this.storageOf(this.current));
    };
    const run = (before === null ? begin() : this.outlast(before).then(begin)).catch((error: unknown) => {
      if (!(error instanceof SupersededRun)) throw error;
      logError("alarmRunSuperseded");
    });
    const record = { started, settled: run.catch(() => undefined) };
    this.lastRun = record;
    void record.settled.then(() => {
      if (this.lastRun === record) this.lastRun = null;
    });
    return run;
  }

  /**
   * Until `run` has settled, or has been under way ALARM_RUN_STALE_MS: a run cancelled at a timer
   * never settles, and every later run would wait for it. Its own writes, should it resume, fail.
   */
  private async outlast(run: { started: Promise<number>; settled: Promise<void> }): Promise<void> {
    const startedMs = await Promise.race([run.started, run.settled.then(() => null)]);
    if (startedMs === null) return;
    let timer = 0;
    const stale = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, startedMs + ALARM_RUN_STALE_MS - Date.now()));
    });
    await Promise.race([run.settled, stale]);
    clearTimeout(timer);
  }

  /** The writes of run number `run`: each throws once a later run has started. */
  private storageOf(run: number): RunStorage {
    const check = () => {
      if (this.current !== run) throw new SupersededRun();
    };
    return {
      check,
      transactionSync: (closure) => {
        check();
        return this.storage.transactionSync(closure);
      },
    };
  }

  private async runJobs(run: RunStorage): Promise<void> {
    const nowMs = Date.now();
    const before = this.sql.work();
    const sweep = this.storage.transactionSync(() => {
      if (!hasSchema(this.storage.sql)) return { deleted: 0, next: null, lagMs: 0 };
      const oldest = earliestExpiry(this.sql);
      const deleted = deleteExpired(this.sql, nowMs, EXPIRY_SWEEP_BATCH_SIZE);
      const next = nextAlarmMs({ earliestExpiryMs: earliestExpiry(this.sql) }, nowMs);
      if (next !== null) void this.storage.setAlarm(next);
      return { deleted, next, lagMs: oldest === null ? 0 : Math.max(0, nowMs - oldest) };
    });
    const work = workSince(this.sql, before);
    const listed = await this.jobs.list();
    run.check();
    const holdsDueMs = await this.jobs.expireHolds();
    run.check();
    const transfersDueMs = await this.jobs.deliverTransfers(run);
    run.check();
    const events = await this.jobs.publish(run);
    run.check();
    const periods = await this.jobs.periods(run);
    run.check();
    const next = nextAlarmMs(
      {
        earliestExpiryMs: sweep.next,
        events: events.more ? (events.failed ? "failed" : "pending") : undefined,
        listed,
        periodsDueMs: periods.nextDueMs,
        holdsDueMs,
        transfersDueMs,
      },
      Date.now(),
    );
    // The sweep already set its own time; another job due sooner moves it.
    if (next !== null && next !== sweep.next) await this.storage.setAlarm(next);
    // A group that committed meanwhile (a transfer decided while this run delivered others) read the alarm before
    // this run set it, and may have left it: what the head needs now is due no later than it says.
    const headDue = nextAlarmMs(this.jobs.headNeeds(Date.now()), Date.now());
    if (headDue !== null && (next === null || headDue < next)) await this.storage.setAlarm(headDue);
    logInfo("alarm", {
      deleted: sweep.deleted,
      events_published: events.published,
      events_pending: events.more,
      listed,
      periods: periods.did,
      period: periods.period,
      r2_operations: periods.r2Operations,
      next_alarm: next === null ? null : new Date(next).toISOString(),
      lag_ms: sweep.lagMs,
      storage_bytes: this.sql.databaseSize(),
      rows_read: work.rowsRead,
      rows_written: work.rowsWritten,
    });
    this.jobs.measure({
      deleted: sweep.deleted,
      lagMs: sweep.lagMs,
      eventsPublished: events.published,
      storageBytes: this.sql.databaseSize(),
    });
  }
}
