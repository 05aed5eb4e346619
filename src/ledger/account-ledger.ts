import { unsupportedInterface } from "../contract/interface-version.ts";
import { sweepPoint } from "../observability/metrics.ts";
import { logError } from "../observability/log.ts";
import { DurableObject } from "cloudflare:workers";
import type { PageRequest } from "../domain/commands.ts";
import { MAX_GROUP_OPERATIONS } from "../domain/limits.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseIdempotencyTtlSeconds } from "../config/idempotency-ttl.ts";
import {
  currentRequest,
  type MoneyRequest,
  type OpenAccountRequest,
  type WireMoneyRequest,
} from "../contract/requests.ts";
import { answerForUsedKey, decide } from "./decide.ts";
import { findDecision } from "./decisions.ts";
import { publishEvents, publishesEvents } from "./event-outbox.ts";
import { DirectoryListing } from "./directory-listing.ts";
import { tenantOf, tenantOfName } from "./account-tenant.ts";
import { GroupCommit } from "./group-commit.ts";
import { PendingWrites } from "./pending-writes.ts";
import { findLiveRecord } from "./idempotency-records.ts";
import { AlarmSchedule } from "./alarm-schedule.ts";
import { auditLedger, type LedgerAudit } from "./ledger-audit.ts";
import { decideAccountSettings, preconditionFailure } from "./account-settings.ts";
import {
  changesAfter,
  entriesAfter,
  findEntryById,
  findEntryByKey,
  readAccount,
  readHead,
  refundedAmount,
  storeTenant,
  type AccountRow,
  type LedgerHead,
} from "./ledger-store.ts";
import { chargeNotFound } from "./money-operations.ts";
import { failure, success, withFacts, type Outcome } from "../contract/outcome.ts";
import { hasSchema, migrate } from "./schema.ts";
import { CountedSql, workSince } from "./sql.ts";
import { accountChangeView, accountView, chargeView, entryView, keyLookupView } from "./row-views.ts";

/** A unit of work for the group commit: one money request, a batch decided as one, or an account's settings. */
type Write =
  /** `fresh`: its key was found unused when it was queued, and no other write waiting then used it. */
  | { readonly kind: "one"; readonly request: MoneyRequest; readonly fresh: boolean }
  | { readonly kind: "batch"; readonly requests: readonly MoneyRequest[] }
  | { readonly kind: "settings"; readonly request: OpenAccountRequest };
type Written = Outcome | readonly Outcome[];

/**
 * One account's ledger: the only code that changes money state. Each
 * money-moving request is decided in a synchronous SQLite transaction that
 * checks the Idempotency-Key, applies the change and records the response;
 * nothing is awaited in between, so concurrent copies cannot interleave.
 * Writes that arrive together share one transaction and one durable commit
 * (group commit), each in its own savepoint; answers that need no write
 * (replays, reused or expired keys) are read without waiting for one.
 */
export class AccountLedger extends DurableObject<Env> {
  private readonly sql: CountedSql;
  private readonly ttlMs: number;
  private readonly writes: GroupCommit<Write, Written>;
  /** What the writes waiting for a group commit hold, bounded so that an overload is refused, not held. */
  private readonly pending = new PendingWrites();
  /** The committed account and ledger head, kept in memory; undefined until read, and after a failed group. */
  private state: { account: AccountRow; head: LedgerHead } | undefined;
  /** Idempotency-Keys of the writes waiting for a group commit, with how many wait under each. */
  private readonly queuedKeys = new Map<string, number>();
  private readonly schedule: AlarmSchedule;
  private readonly listing: DirectoryListing;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new CountedSql(ctx.storage.sql);
    this.ttlMs = parseIdempotencyTtlSeconds(env.IDEMPOTENCY_TTL_SECONDS) * 1000;
    const account = () => this.committedState()?.account ?? null;
    const outbox = { storage: ctx.storage, sql: this.sql, objectName: ctx.id.name, account };
    this.schedule = new AlarmSchedule(ctx.storage, this.sql, {
      list: () => this.listing.list(),
      publish: () => publishEvents(this.env.EVENTS, outbox),
      measure: (run) => {
        const account = this.committedState()?.account;
        this.env.METRICS?.writeDataPoint(
          sweepPoint({ tenant: account === undefined ? null : tenantOf(account, ctx.id.name), ...run }),
        );
      },
    });
    this.listing = new DirectoryListing({
      ctx,
      sql: this.sql,
      schedule: this.schedule,
      directory: () => this.env.DIRECTORY,
      account,
      noteListed: () => {
        if (this.state !== undefined) this.state = { ...this.state, account: { ...this.state.account, listed: true } };
      },
    });
    this.writes = new GroupCommit({
      prepare: () => this.schedule.readBeforeGroup(),
      decideGroup: (items) => this.decideGroup(items),
      weight: (write) => (write.kind === "batch" ? write.requests.length : 1),
      maxGroupWeight: MAX_GROUP_OPERATIONS,
    });
    // An object that was never opened has no schema and gets none here: probing a name stores nothing.
    if (hasSchema(ctx.storage.sql)) {
      ctx.storage.transactionSync(() => {
        migrate(ctx.storage.sql);
        this.storeTenantFromName();
      });
    }
  }

  /**
   * An account opened before schema 4 has no stored tenant. The object's name
   * (`<tenant>:<account>`) gives it whenever the object was reached by name,
   * and it is stored once; otherwise the next PUT, which carries it, stores it.
   */
  private storeTenantFromName(): void {
    const account = readAccount(this.sql);
    if (account === null || account.tenant !== null) return;
    const tenant = tenantOfName(this.ctx.id.name, account.name);
    if (tenant !== null) storeTenant(this.sql, tenant);
  }

  /** Opens the account or changes its settings, in turn with the money writes (see account-settings.ts). */
  async openAccount(request: OpenAccountRequest): Promise<Outcome> {
    const unsupported = refuseInterface(request.interfaceVersion);
    if (unsupported !== null) return unsupported;
    const outcome = (await this.submit({ kind: "settings", request })) as Outcome | null;
    if (outcome === null) return failure({ code: "overloaded" });
    // Reading the state back starts a new account's listing in its tenant's directory.
    this.committedState();
    return outcome;
  }

  getAccount(): Outcome {
    const state = this.committedState();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    return success(200, accountView(state.account, state.head));
  }

  getCharge(chargeId: string): Outcome {
    const state = this.committedState();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const charge = findEntryById(this.sql, chargeId);
    if (charge === null || charge.type !== "charge") return failure(chargeNotFound(chargeId));
    return success(200, chargeView(charge, state.account.currency, refundedAmount(this.sql, charge.id)));
  }

  /** The account's settings changes after a version, oldest first. */
  listChanges(page: { limit: number; startingAfter: number | undefined }): Outcome {
    const state = this.committedState();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const { rows, hasMore } = changesAfter(this.sql, page.startingAfter ?? 0, page.limit);
    return success(200, { data: rows.map(accountChangeView), has_more: hasMore });
  }

  listEntries(page: PageRequest): Outcome {
    const state = this.committedState();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    let afterSeq = 0;
    if (page.startingAfter !== undefined) {
      const cursor = findEntryById(this.sql, page.startingAfter);
      if (cursor === null) {
        return failure({ code: "invalid_request", errors: [{ field: "starting_after", message: "no such entry" }] });
      }
      afterSeq = cursor.seq;
    }
    const rows = entriesAfter(this.sql, afterSeq, page.limit + 1);
    const data = rows.slice(0, page.limit).map((row) => entryView(row, state.account.currency));
    return success(200, { data, has_more: rows.length > page.limit });
  }

  /**
   * Read-only, so a lookup never uses up a key: what a money-moving request
   * with this key did here, judged live by the same rule as moveMoney.
   */
  lookupIdempotencyKey(key: string): Outcome {
    const state = this.committedState();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const record = findLiveRecord(this.sql, key, Date.now());
    const decision = findDecision(this.sql, key);
    const entry =
      decision === null
        ? findEntryByKey(this.sql, key)
        : decision.entryId === null
          ? null
          : findEntryById(this.sql, decision.entryId);
    if (record === null && decision === null && entry === null) return failure({ code: "idempotency_key_not_found" });
    const entryOut = entry === null ? null : entryView(entry, state.account.currency);
    return success(200, keyLookupView(key, record, decision, entryOut));
  }

  /**
   * Decides one money-moving request. A key already used is answered at once
   * from what is stored; a new one waits for the next group commit.
   */
  async moveMoney(wire: WireMoneyRequest): Promise<Outcome> {
    const unsupported = refuseInterface(wire.interfaceVersion);
    if (unsupported !== null) return unsupported;
    const request = currentRequest(wire);
    const before = this.sql.work();
    if (this.committedState() === null) return failure(ACCOUNT_NOT_FOUND);
    const used = answerForUsedKey(this.sql, request, Date.now());
    if (used !== null) return withFacts(used, { work: workSince(this.sql, before) });
    const fresh = !this.queuedKeys.has(request.idempotencyKey);
    return ((await this.submit({ kind: "one", request, fresh })) as Outcome | null) ?? failure({ code: "overloaded" });
  }

  /**
   * Decides every operation of a batch, in order, in one transaction, each
   * exactly as if it had been sent alone. An account that does not exist (or
   * an object too busy to queue it) is one answer for the whole batch, and
   * records nothing. An unexpected error in any operation rolls the whole
   * batch back and is thrown; nothing is applied.
   */
  async moveMoneyInBatch(wire: readonly WireMoneyRequest[]): Promise<Result<readonly Outcome[], Outcome>> {
    for (const request of wire) {
      const unsupported = refuseInterface(request.interfaceVersion);
      if (unsupported !== null) return err(unsupported);
    }
    const requests = wire.map(currentRequest);
    if (this.committedState() === null) return err(failure(ACCOUNT_NOT_FOUND));
    if (requests.length === 0) return ok([]);
    const outcomes = (await this.submit({ kind: "batch", requests })) as readonly Outcome[] | null;
    return outcomes === null ? err(failure({ code: "overloaded" })) : ok(outcomes);
  }

  /**
   * Queues a write for the next group commit, its keys and what it holds
   * counted as waiting until it is decided; null, queuing nothing, when it
   * would take the waiting writes past a limit (see pending-writes.ts).
   */
  private async submit(write: Write): Promise<Written | null> {
    const held = this.pending.admit(write.kind === "batch" ? write.requests : [write.request]);
    if (held === null) return null;
    const keys = keysOf(write);
    for (const key of keys) this.queuedKeys.set(key, (this.queuedKeys.get(key) ?? 0) + 1);
    try {
      return await this.writes.submit(write);
    } finally {
      this.pending.release(held);
      for (const key of keys) {
        const left = (this.queuedKeys.get(key) ?? 1) - 1;
        if (left === 0) this.queuedKeys.delete(key);
        else this.queuedKeys.set(key, left);
      }
    }
  }

  /** The object's one alarm: the expiry sweep, then the listing and the outbox (alarm-schedule.ts). */
  override alarm(): Promise<void> {
    return this.schedule.run();
  }

  /** Recomputes the ledger's invariants from storage; for tests and audits. */
  audit(): LedgerAudit {
    return auditLedger(this.sql);
  }

  /** The committed account and head, from memory or storage; null if the account was never opened. */
  private committedState(): { account: AccountRow; head: LedgerHead } | null {
    if (this.state !== undefined) return this.state;
    if (!hasSchema(this.ctx.storage.sql)) return null;
    const account = readAccount(this.sql);
    if (account === null) return null;
    this.state = { account, head: readHead(this.sql) };
    // A new account, or one opened before directories existed: listed now, beside the money path.
    if (!account.listed) this.listing.start();
    return this.state;
  }

  /**
   * One group commit: every write in its own savepoint inside one
   * transaction. The in-memory head moves only once a write's savepoint has
   * held; if the transaction itself fails, every write in it fails and the
   * memory of committed state is dropped, to be read again from storage.
   */
  private decideGroup(writes: readonly Write[]): Result<Written, unknown>[] {
    const results: Result<Written, unknown>[] = [];
    try {
      this.ctx.storage.transactionSync(() => {
        const nowMs = Date.now();
        let earliestNewExpiryMs = Number.POSITIVE_INFINITY;
        let newEvents = false;
        for (const write of writes) {
          try {
            const decided = this.ctx.storage.transactionSync(() => this.decideWrite(write, nowMs));
            if (decided.head !== null && this.state !== undefined) this.state.head = decided.head;
            if (write.kind === "settings") this.state = undefined;
            earliestNewExpiryMs = Math.min(earliestNewExpiryMs, decided.expiresMs);
            if (decided.events) newEvents = true;
            results.push(ok(write.kind === "batch" ? decided.outcomes : (decided.outcomes[0] as Outcome)));
          } catch (error) {
            results.push(err(error));
          }
        }
        if (Number.isFinite(earliestNewExpiryMs) || newEvents) {
          this.schedule.armForGroup(earliestNewExpiryMs, newEvents, nowMs);
        }
      });
    } catch (error) {
      this.state = undefined;
      return writes.map(() => err(error));
    }
    return results;
  }

  /**
   * One write, inside its own savepoint: its outcomes, the ledger head it
   * leaves (null when it changed no money state), and the earliest expiry of
   * the records it wrote. The in-memory head is moved by the caller only
   * once the savepoint has held.
   */
  private decideWrite(
    write: Write,
    nowMs: number,
  ): { outcomes: Outcome[]; head: LedgerHead | null; expiresMs: number; events: boolean } {
    if (write.kind === "settings") {
      // A PUT refused on a name never opened stores nothing: it is answered before the schema exists.
      const refused = hasSchema(this.ctx.storage.sql) ? null : preconditionFailure(write.request, null);
      if (refused !== null) return { outcomes: [refused], head: null, expiresMs: Infinity, events: false };
      migrate(this.ctx.storage.sql);
      const before = this.sql.work();
      const decided = decideAccountSettings(this.sql, write.request, nowMs, this.ttlMs);
      return {
        outcomes: [withFacts(decided.outcome, { work: workSince(this.sql, before) })],
        head: null,
        expiresMs: decided.recordExpiresMs ?? Number.POSITIVE_INFINITY,
        events: decided.changed.length > 0 && publishesEvents(this.env.EVENTS),
      };
    }
    const requests = write.kind === "one" ? [write.request] : write.requests;
    const state = this.committedState();
    if (state === null) {
      return {
        outcomes: requests.map(() => failure(ACCOUNT_NOT_FOUND)),
        head: null,
        expiresMs: Infinity,
        events: false,
      };
    }
    const events = publishesEvents(this.env.EVENTS);
    let head = state.head;
    let expiresMs = Number.POSITIVE_INFINITY;
    let appended = false;
    const outcomes: Outcome[] = [];
    for (const request of requests) {
      const before = this.sql.work();
      const decision = decide(
        { sql: this.sql, account: state.account, head, nowMs, ttlMs: this.ttlMs },
        request,
        write.kind === "one" && write.fresh,
      );
      if (events && decision.head !== head) appended = true;
      head = decision.head;
      expiresMs = Math.min(expiresMs, decision.recordExpiresMs ?? expiresMs);
      outcomes.push(withFacts(decision.outcome, { work: workSince(this.sql, before) }));
    }
    return { outcomes, head, expiresMs, events: appended };
  }
}

const ACCOUNT_NOT_FOUND = { code: "account_not_found" } as const;

/** A 500 for a caller this object cannot understand (contract/interface-version.ts), logged; null when it can. */
function refuseInterface(version: number | undefined): Outcome | null {
  const reason = unsupportedInterface(version);
  if (reason === null) return null;
  logError("incompatibleWorker", { reason });
  return failure({ code: "internal_error", cause: "interface_version" });
}

function keysOf(write: Write): string[] {
  if (write.kind === "one") return [write.request.idempotencyKey];
  if (write.kind === "batch") return write.requests.map((request) => request.idempotencyKey);
  return write.request.keyed ? [write.request.keyed.idempotencyKey] : [];
}
