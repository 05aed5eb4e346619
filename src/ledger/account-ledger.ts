import { optionalBindings } from "../config/optional-bindings.ts";
import { unsupportedInterface } from "../contract/interface-version.ts";
import { sweepPoint } from "../observability/metrics.ts";
import { logError } from "../observability/log.ts";
import { DurableObject } from "cloudflare:workers";
import type { PageRequest } from "../domain/commands.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseIdempotencyTtlSeconds } from "../config/idempotency-ttl.ts";
import { currentRequest, type OpenAccountRequest, type WireMoneyRequest } from "../contract/requests.ts";
import { answerForUsedKey } from "./decide.ts";
import { findDecision } from "./decisions.ts";
import { publishEvents, publishesEvents } from "./event-outbox.ts";
import { DirectoryListing } from "./directory-listing.ts";
import { tenantOf, tenantOfName } from "./account-tenant.ts";
import { ACCOUNT_NOT_FOUND, LedgerWrites } from "./ledger-writes.ts";
import { findLiveRecord } from "./idempotency-records.ts";
import { AlarmSchedule } from "./alarm-schedule.ts";
import { auditLedger, type LedgerAudit } from "./ledger-audit.ts";
import {
  changesAfter,
  entriesAfter,
  findEntryById,
  findEntryByKey,
  findEntryBySeq,
  readAccount,
  refundedAmount,
  storeTenant,
  type EntryRow,
} from "./ledger-store.ts";
import { chargeNotFound } from "./money-operations.ts";
import { failure, success, withFacts, type Outcome } from "../contract/outcome.ts";
import { hasSchema, migrate } from "./schema.ts";
import { CountedSql, workSince } from "./sql.ts";
import { accountChangeView, accountView, chargeView, entryView, keyLookupView, renderDecidedEntry } from "./row-views.ts";
import { findKeyRow } from "./key-rows.ts";

/**
 * One account's ledger: the only code that changes money state. This class
 * receives the object's calls and hands each to the module whose job it is:
 * writes to the group commit (ledger-writes.ts), the alarm to its schedule
 * (alarm-schedule.ts), which runs the event outbox (event-outbox.ts) and the
 * directory listing (directory-listing.ts). Answers that need no write (reads,
 * replays, reused or expired keys) are read here without waiting for one.
 */
export class AccountLedger extends DurableObject<Env> {
  private readonly sql: CountedSql;
  private readonly writes: LedgerWrites;
  private readonly schedule: AlarmSchedule;
  private readonly listing: DirectoryListing;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new CountedSql(ctx.storage.sql);
    // Bindings are read through this.env when used, never copied: tests point them elsewhere.
    const account = () => this.writes.committed()?.account ?? null;
    const outbox = { storage: ctx.storage, sql: this.sql, objectName: ctx.id.name, account };
    this.schedule = new AlarmSchedule(ctx.storage, this.sql, {
      list: () => this.listing.list(),
      publish: () => publishEvents(optionalBindings(this.env).EVENTS, outbox),
      measure: (run) => {
        const opened = account();
        this.env.METRICS?.writeDataPoint(
          sweepPoint({ tenant: opened === null ? null : tenantOf(opened, ctx.id.name), ...run }),
        );
      },
    });
    this.listing = new DirectoryListing({
      ctx,
      sql: this.sql,
      schedule: this.schedule,
      directory: () => optionalBindings(this.env).DIRECTORY,
      account,
      noteListed: () => this.writes.noteListed(),
    });
    this.writes = new LedgerWrites({
      storage: ctx.storage,
      sql: this.sql,
      ttlMs: parseIdempotencyTtlSeconds(env.IDEMPOTENCY_TTL_SECONDS) * 1000,
      schedule: this.schedule,
      publishesEvents: () => publishesEvents(optionalBindings(this.env).EVENTS),
      unlisted: () => this.listing.start(),
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
    const outcome = await this.writes.settings(request);
    if (outcome === null) return failure({ code: "overloaded" });
    // Reading the state back starts a new account's listing in its tenant's directory.
    this.writes.committed();
    return outcome;
  }

  getAccount(): Outcome {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    return success(200, accountView(state.account, state.head));
  }

  getCharge(chargeId: string): Outcome {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const charge = findEntryById(this.sql, chargeId);
    if (charge === null || charge.type !== "charge") return failure(chargeNotFound(chargeId));
    return success(200, chargeView(charge, state.account.currency, refundedAmount(this.sql, charge.id)));
  }

  /** The account's settings changes after a version, oldest first. */
  listChanges(page: { limit: number; startingAfter: number | undefined }): Outcome {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const { rows, hasMore } = changesAfter(this.sql, page.startingAfter ?? 0, page.limit);
    return success(200, { data: rows.map(accountChangeView), has_more: hasMore });
  }

  listEntries(page: PageRequest): Outcome {
    const state = this.writes.committed();
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
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const currency = state.account.currency;
    const row = findKeyRow(this.sql, key);
    if (row !== null) {
      const entry = row.entrySeq === null ? null : findEntryBySeq(this.sql, row.entrySeq);
      const record =
        row.expiresMs > Date.now()
          ? {
              createdMs: row.decidedMs,
              expiresMs: row.expiresMs,
              status: row.status,
              body: row.body ?? renderDecidedEntry(row.view, entry as EntryRow, currency),
              originRequestId: row.origin,
            }
          : null;
      const entryOut = entry === null ? null : entryView(entry, currency);
      return success(200, keyLookupView(key, record, row, entryOut));
    }
    const record = findLiveRecord(this.sql, key, Date.now());
    const decision = findDecision(this.sql, key);
    const entry =
      decision === null
        ? findEntryByKey(this.sql, key)
        : decision.entryId === null
          ? null
          : findEntryById(this.sql, decision.entryId);
    if (record === null && decision === null && entry === null) return failure({ code: "idempotency_key_not_found" });
    const entryOut = entry === null ? null : entryView(entry, currency);
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
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const used = answerForUsedKey(this.sql, request, Date.now(), state.account.currency);
    if (used !== null) return withFacts(used, { work: workSince(this.sql, before) });
    return (await this.writes.one(request)) ?? failure({ code: "overloaded" });
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
    if (this.writes.committed() === null) return err(failure(ACCOUNT_NOT_FOUND));
    if (requests.length === 0) return ok([]);
    const outcomes = await this.writes.batch(requests);
    return outcomes === null ? err(failure({ code: "overloaded" })) : ok(outcomes);
  }

  /** The object's one alarm: the expiry sweep, then the listing and the outbox (alarm-schedule.ts). */
  override alarm(): Promise<void> {
    return this.schedule.run();
  }

  /** Recomputes the ledger's invariants from storage; for tests and audits. */
  audit(): LedgerAudit {
    return auditLedger(this.sql);
  }
}

/** A 500 for a caller this object cannot understand (contract/interface-version.ts), logged; null when it can. */
function refuseInterface(version: number | undefined): Outcome | null {
  const reason = unsupportedInterface(version);
  if (reason === null) return null;
  logError("incompatibleWorker", { reason });
  return failure({ code: "internal_error", cause: "interface_version" });
}
