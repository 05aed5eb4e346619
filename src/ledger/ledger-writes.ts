import { failure, withFacts, type Outcome } from "../contract/outcome.ts";
import type { KeyedRequest, MoneyRequest, OpenAccountRequest } from "../contract/requests.ts";
import { MAX_GROUP_OPERATIONS } from "../domain/limits.ts";
import { decideAccountSettings, preconditionFailure } from "./account-settings.ts";
import type { AlarmSchedule } from "./alarm-schedule.ts";
import { BatchRows } from "./batch-rows.ts";
import { decide } from "./decide.ts";
import { expireDueHolds } from "./hold-operations.ts";
import { readHeldFunds } from "./held-funds.ts";
import { hasLegacyKeys } from "./key-state.ts";
import { decideClose } from "./period-close.ts";
import { GroupCommit } from "./group-commit.ts";
import { readAccount, readHead, type AccountRow, type EntryRow, type LedgerHead } from "./ledger-store.ts";
import { PendingWrites } from "./pending-writes.ts";
import { hasSchema, migrate } from "./schema.ts";
import { workSince, type CountedSql } from "./sql.ts";
import type { StorageWork } from "../contract/storage-work.ts";

export const ACCOUNT_NOT_FOUND = { code: "account_not_found" } as const;

/** No storage work: one object for every operation whose rows its batch writes, so its answer carries it once. */
const NO_WORK: StorageWork = Object.freeze({ rowsRead: 0, rowsWritten: 0 });

function workOf(work: StorageWork): StorageWork {
  return work.rowsRead === 0 && work.rowsWritten === 0 ? NO_WORK : work;
}

/**
 * A batch's outcomes, their work summing to the batch's: what its operations
 * did together (the read of its keys, the rows written at once) is counted
 * on its last outcome.
 */
function withBatchWork(outcomes: readonly Outcome[], total: StorageWork): readonly Outcome[] {
  let rowsRead = total.rowsRead;
  let rowsWritten = total.rowsWritten;
  for (const outcome of outcomes) {
    rowsRead -= outcome.facts?.work?.rowsRead ?? 0;
    rowsWritten -= outcome.facts?.work?.rowsWritten ?? 0;
  }
  const last = outcomes.at(-1);
  if (last === undefined || (rowsRead === 0 && rowsWritten === 0)) return outcomes;
  const work = {
    rowsRead: rowsRead + (last.facts?.work?.rowsRead ?? 0),
    rowsWritten: rowsWritten + (last.facts?.work?.rowsWritten ?? 0),
  };
  return [...outcomes.slice(0, -1), withFacts(last, { work })];
}

/**
 * What the archive said before a write was queued (its reads are async, a
 * group's transaction is not): the answers of keys whose periods left the
 * object, and the archived charges that refunds name. Archived rows never
 * change, so facts read before the group are true inside it.
 */
export interface ArchivedFacts {
  readonly answers: ReadonlyMap<string, Outcome>;
  readonly charges: ReadonlyMap<string, EntryRow>;
}

const NOTHING_ARCHIVED: ArchivedFacts = { answers: new Map(), charges: new Map() };

/**
 * Whether a decision may have appended an event: an entry, or a change of a
 * hold (each moves what is held, or appends an entry). A transfer decided
 * moves what is held too, with no event: the outbox then finds nothing.
 */
function movedEvents(before: LedgerHead, after: LedgerHead): boolean {
  return after.entryCount !== before.entryCount || after.held !== before.held;
}

/** The committed account and ledger head, as kept in memory. */
export interface Committed {
  readonly account: AccountRow;
  head: LedgerHead;
}

/** How a waiting write is answered, once its group is durable, with its own kind's result. */
interface Answer<R> {
  readonly resolve: (value: R) => void;
  readonly reject: (reason: unknown) => void;
}

/** A unit of work for the group commit: one money request, a batch decided as one, or an account's settings. */
type Write =
  /** `fresh`: its key was found unused when it was queued, and no other write waiting then used it. */
  | (Answer<Outcome> & {
      readonly kind: "one";
      readonly request: MoneyRequest;
      readonly fresh: boolean;
      readonly archived: ArchivedFacts;
    })
  | (Answer<readonly Outcome[]> & {
      readonly kind: "batch";
      readonly requests: readonly MoneyRequest[];
      readonly archived: ArchivedFacts;
    })
  | (Answer<Outcome> & { readonly kind: "settings"; readonly request: OpenAccountRequest })
  | (Answer<Outcome> & { readonly kind: "close"; readonly request: KeyedRequest })
  /** Nothing of its own: a group, whose start expires the holds due (the alarm's way to expire them). */
  | (Answer<number | null> & { readonly kind: "expire" });

/**
 * A write decided in its savepoint: its answer, given only once the group
 * holds; the ledger head it leaves (null when it changed no money state);
 * whether it appended events.
 */
interface Decided {
  readonly answer: () => void;
  readonly head: LedgerHead | null;
  readonly events: boolean;
}

/** What the writes need of their object. */
export interface WritesHost {
  readonly storage: DurableObjectStorage;
  readonly sql: CountedSql;
  readonly ttlMs: number;
  readonly schedule: AlarmSchedule;
  /** Whether an events queue is bound, read on every write. */
  publishesEvents(): boolean;
  /** Told when an account is read from storage not yet listed in its tenant's directory. */
  unlisted(): void;
}

/**
 * The account's writes. Each money-moving request is decided in a
 * synchronous SQLite transaction that checks the Idempotency-Key, applies the
 * change and records the response; nothing is awaited in between, so
 * concurrent copies cannot interleave. Writes that arrive together share one
 * transaction and one durable commit (group-commit.ts), each in its own
 * savepoint. Owns the committed state kept in memory, which only a held
 * savepoint moves.
 */
export class LedgerWrites {
  private readonly storage: DurableObjectStorage;
  private readonly sql: CountedSql;
  private readonly ttlMs: number;
  private readonly host: WritesHost;
  private readonly commit: GroupCommit<Write>;
  /** What the writes waiting for a group commit hold, bounded so that an overload is refused, not held. */
  private readonly pending = new PendingWrites();
  /** Idempotency-Keys of the writes waiting for a group commit, with how many wait under each. */
  private readonly queuedKeys = new Map<string, number>();
  /** The committed account and ledger head; undefined until read, and after a failed group. */
  private state: Committed | undefined;

  constructor(host: WritesHost) {
    this.storage = host.storage;
    this.sql = host.sql;
    this.ttlMs = host.ttlMs;
    this.host = host;
    this.commit = new GroupCommit<Write>({
      prepare: () => host.schedule.readBeforeGroup(),
      decideGroup: (writes) => this.decideGroup(writes),
      weight: (write) => (write.kind === "batch" ? write.requests.length : write.kind === "expire" ? 0 : 1),
      maxGroupWeight: MAX_GROUP_OPERATIONS,
    });
  }

  /** The committed account and head, from memory or storage; null if the account was never opened. */
  committed(): Committed | null {
    if (this.state !== undefined) return this.state;
    if (!hasSchema(this.storage.sql)) return null;
    const account = readAccount(this.sql);
    if (account === null) return null;
    this.state = { account, head: readHead(this.sql) };
    // A new account, or one opened before directories existed: listed now, beside the money path.
    if (!account.listed) this.host.unlisted();
    return this.state;
  }

  /**
   * What is held, read again from storage after a change that moves no money
   * outside a group (a pending transfer's next delivery rescheduled).
   */
  refreshHeld(): void {
    if (this.state !== undefined) this.state.head = { ...this.state.head, ...readHeldFunds(this.sql) };
  }

  /** The account is now listed in storage: so it is in memory. */
  noteListed(): void {
    if (this.state !== undefined) this.state = { ...this.state, account: { ...this.state.account, listed: true } };
  }

  /**
   * Each of the three queues a write for the next group commit, its keys and
   * what it holds counted as waiting until it is decided; null, queuing
   * nothing, when it would take the waiting writes past a limit.
   */
  async one(request: MoneyRequest, archived: ArchivedFacts = NOTHING_ARCHIVED): Promise<Outcome | null> {
    const fresh = !this.queuedKeys.has(request.idempotencyKey);
    const keys = [request.idempotencyKey];
    const held = this.hold([request], keys);
    if (held === null) return null;
    try {
      return await new Promise<Outcome>((resolve, reject) => {
        this.commit.submit({ kind: "one", request, fresh, archived, resolve, reject });
      });
    } finally {
      this.release(held, keys);
    }
  }

  async batch(
    requests: readonly MoneyRequest[],
    archived: ArchivedFacts = NOTHING_ARCHIVED,
  ): Promise<readonly Outcome[] | null> {
    const keys = requests.map((request) => request.idempotencyKey);
    const held = this.hold(requests, keys);
    if (held === null) return null;
    try {
      return await new Promise<readonly Outcome[]>((resolve, reject) => {
        this.commit.submit({ kind: "batch", requests, archived, resolve, reject });
      });
    } finally {
      this.release(held, keys);
    }
  }

  /**
   * Expires the holds due, in a group of their own or with the writes
   * waiting: when the next held hold expires after (null when none is held).
   */
  expireHolds(): Promise<number | null> {
    return new Promise<number | null>((resolve, reject) => {
      this.commit.submit({ kind: "expire", resolve, reject });
    });
  }

  /** Closes the open period (period-close.ts), recorded under its key. */
  async close(request: KeyedRequest): Promise<Outcome | null> {
    const keys = [request.idempotencyKey];
    const held = this.hold([request], keys);
    if (held === null) return null;
    try {
      return await new Promise<Outcome>((resolve, reject) => {
        this.commit.submit({ kind: "close", request, resolve, reject });
      });
    } finally {
      this.release(held, keys);
    }
  }

  async settings(request: OpenAccountRequest): Promise<Outcome | null> {
    const keys = request.keyed ? [request.keyed.idempotencyKey] : [];
    const held = this.hold([request], keys);
    if (held === null) return null;
    try {
      return await new Promise<Outcome>((resolve, reject) => {
        this.commit.submit({ kind: "settings", request, resolve, reject });
      });
    } finally {
      this.release(held, keys);
    }
  }

  private hold(requests: readonly unknown[], keys: readonly string[]): { operations: number; bytes: number } | null {
    const held = this.pending.admit(requests);
    if (held === null) return null;
    for (const key of keys) this.queuedKeys.set(key, (this.queuedKeys.get(key) ?? 0) + 1);
    return held;
  }

  private release(held: { operations: number; bytes: number }, keys: readonly string[]): void {
    this.pending.release(held);
    for (const key of keys) {
      const left = (this.queuedKeys.get(key) ?? 1) - 1;
      if (left === 0) this.queuedKeys.delete(key);
      else this.queuedKeys.set(key, left);
    }
  }

  /**
   * One group commit: every write in its own savepoint inside one
   * transaction. The in-memory head moves only once a write's savepoint has
   * held; if the transaction itself fails, every write in it fails and the
   * memory of committed state is dropped, to be read again from storage.
   * Answers are given only after the transaction.
   */
  private decideGroup(writes: readonly Write[]): void {
    const answers: (() => void)[] = [];
    try {
      this.storage.transactionSync(() => {
        const nowMs = Date.now();
        let newEvents = this.expireDue(nowMs);
        for (const write of writes) {
          try {
            const decided = this.storage.transactionSync(() => this.decideWrite(write, nowMs));
            if (decided.head !== null && this.state !== undefined) this.state.head = decided.head;
            if (write.kind === "settings") this.state = undefined;
            if (decided.events) newEvents = true;
            answers.push(decided.answer);
          } catch (error) {
            answers.push(() => write.reject(error));
          }
        }
        this.host.schedule.armForGroup(newEvents, this.state?.head ?? null, nowMs);
      });
    } catch (error) {
      this.state = undefined;
      for (const write of writes) write.reject(error);
      return;
    }
    for (const answer of answers) answer();
  }

  /**
   * At the start of every group, before anything is decided: holds whose
   * expiry has come are expired (a bounded batch), so no decision counts
   * them as held. Whether that appended events.
   */
  private expireDue(nowMs: number): boolean {
    const state = this.committed();
    const due = state?.head.holdsDueMs ?? null;
    if (state === null || due === null || due > nowMs) return false;
    const { expired, held } = this.storage.transactionSync(() => expireDueHolds(this.sql, state.head, nowMs));
    state.head = { ...state.head, ...held };
    return expired > 0 && this.host.publishesEvents();
  }

  /** One write, inside its own savepoint; the in-memory head is moved by the caller once the savepoint has held. */
  private decideWrite(write: Write, nowMs: number): Decided {
    if (write.kind === "settings") {
      // A PUT refused on a name never opened stores nothing: it is answered before the schema exists.
      const refused = hasSchema(this.storage.sql) ? null : preconditionFailure(write.request, null);
      if (refused !== null) return { answer: () => write.resolve(refused), head: null, events: false };
      migrate(this.storage.sql);
      const before = this.sql.work();
      const decided = decideAccountSettings(this.sql, write.request, nowMs, this.ttlMs);
      const outcome = withFacts(decided.outcome, { work: workSince(this.sql, before) });
      return {
        answer: () => write.resolve(outcome),
        head: null,
        events: decided.changed.length > 0 && this.host.publishesEvents(),
      };
    }
    const state = this.committed();
    if (write.kind === "expire") {
      const next = state?.head.holdsDueMs ?? null;
      return { answer: () => write.resolve(next), head: null, events: false };
    }
    if (write.kind === "close") {
      if (state === null) return { answer: () => write.resolve(failure(ACCOUNT_NOT_FOUND)), head: null, events: false };
      const before = this.sql.work();
      const decided = decideClose(this.sql, write.request, state.account.currency, nowMs, this.ttlMs);
      const outcome = withFacts(decided.outcome, { work: workSince(this.sql, before) });
      return { answer: () => write.resolve(outcome), head: { ...state.head, keyPos: decided.keyPos }, events: false };
    }
    if (write.kind === "one") {
      if (state === null) {
        return {
          answer: () => write.resolve(failure(ACCOUNT_NOT_FOUND)),
          head: null,
          events: false,
        };
      }
      const events = this.host.publishesEvents();
      const before = this.sql.work();
      const decision = decide(
        {
          sql: this.sql,
          account: state.account,
          head: state.head,
          nowMs,
          ttlMs: this.ttlMs,
          archivedCharges: write.archived.charges,
        },
        write.request,
        write.fresh,
      );
      const outcome = withFacts(decision.outcome, { work: workSince(this.sql, before) });
      return {
        answer: () => write.resolve(outcome),
        head: decision.head,
        events: events && movedEvents(state.head, decision.head),
      };
    }
    if (state === null) {
      const outcomes = write.requests.map(() => failure(ACCOUNT_NOT_FOUND));
      return { answer: () => write.resolve(outcomes), head: null, events: false };
    }
    const events = this.host.publishesEvents();
    let head = state.head;
    let appended = false;
    const outcomes: Outcome[] = [];
    const start = this.sql.work();
    // Keys decided before schema 7 are not in `keys`, so their batches are decided one operation at a time.
    const rows = hasLegacyKeys(this.sql) ? null : new BatchRows(this.sql, write.requests);
    for (const request of write.requests) {
      // A key whose period left the object was answered from the archive before the group.
      const archivedAnswer = write.archived.answers.get(request.idempotencyKey);
      if (archivedAnswer !== undefined) {
        outcomes.push(archivedAnswer);
        continue;
      }
      const fresh = rows?.fresh(request) ?? false;
      // An operation that reads storage reads it with every row decided before it written.
      if (!fresh) rows?.write();
      const before = this.sql.work();
      const decision = decide(
        {
          sql: this.sql,
          account: state.account,
          head,
          nowMs,
          ttlMs: this.ttlMs,
          archivedCharges: write.archived.charges,
          later: fresh ? (rows ?? undefined) : undefined,
        },
        request,
        fresh,
      );
      rows?.noteDecided(request);
      if (events && movedEvents(head, decision.head)) appended = true;
      head = decision.head;
      outcomes.push(withFacts(decision.outcome, { work: workOf(workSince(this.sql, before)) }));
    }
    rows?.write();
    const answered = withBatchWork(outcomes, workSince(this.sql, start));
    return { answer: () => write.resolve(answered), head, events: appended };
  }
}
