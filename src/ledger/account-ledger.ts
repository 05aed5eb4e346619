import { optionalBindings } from "../config/optional-bindings.ts";
import { unsupportedInterface } from "../contract/interface-version.ts";
import { sweepPoint } from "../observability/metrics.ts";
import { logError } from "../observability/log.ts";
import { DurableObject } from "cloudflare:workers";
import type { PageRequest } from "../domain/commands.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseIdempotencyTtlSeconds } from "../config/idempotency-ttl.ts";
import {
  currentRequest,
  type KeyedRequest,
  type MoneyRequest,
  type OpenAccountRequest,
  type WireMoneyRequest,
} from "../contract/requests.ts";
import { archiveBucket } from "../config/archive-bucket.ts";
import { parsePeriodPolicy } from "../config/period-close-settings.ts";
import { ARCHIVE_RETRY_DELAY_MS } from "../domain/limits.ts";
import { ArchiveReader, newTally, type ReadTally } from "./archive-reader.ts";
import { archiveStep, type ArchiveStep } from "./period-archive.ts";
import { closeOpenPeriod, periodView } from "./period-close.ts";
import { PeriodPolicy } from "./period-policy.ts";
import { findPeriod, periodsAfter } from "./period-store.ts";
import { answerForUsedKey, entryOfKeyRow } from "./decide.ts";
import { findDecision } from "./decisions.ts";
import { publishEvents, publishesEvents } from "./event-outbox.ts";
import { DirectoryListing } from "./directory-listing.ts";
import { tenantOf, tenantOfName } from "./account-tenant.ts";
import { ACCOUNT_NOT_FOUND, LedgerWrites, type ArchivedFacts } from "./ledger-writes.ts";
import { findLiveRecord } from "./idempotency-records.ts";
import { AlarmSchedule, SupersededRun, type RunStorage } from "./alarm-schedule.ts";
import { auditLedger, type LedgerAudit } from "./ledger-audit.ts";
import {
  changesAfter,
  entriesAfter,
  findEntryById,
  findEntryByKey,
  findEntryBySeq,
  parseEntryId,
  readAccount,
  refundedAmount,
  storeTenant,
  type EntryRow,
} from "./ledger-store.ts";
import { chargeNotFound } from "./money-operations.ts";
import { failure, success, withFacts, type Outcome } from "../contract/outcome.ts";
import { hasSchema, migrate } from "./schema.ts";
import { CountedSql, workSince } from "./sql.ts";
import {
  accountChangeView,
  accountView,
  chargeView,
  entryRowOf,
  entryView,
  holdView,
  keyLookupView,
  transferView,
  renderDecidedEntry,
} from "./row-views.ts";
import { findKeyRow } from "./key-rows.ts";
import { findHold, holdChangeCount, holdsAfter } from "./hold-store.ts";
import { deliverTransfers, type DeliveryHost } from "./transfer-delivery.ts";
import { findRefusal, findTransfer, recordRefusal } from "./transfer-store.ts";
import type { BackupPageRequest, RestoreStep } from "../contract/backup-records.ts";
import {
  backupChanges,
  backupDecisions,
  backupHolds,
  backupKeys,
  backupRefusals,
  backupState,
  backupTransfers,
} from "./account-backup.ts";
import { refusalReason, restoreStep } from "./account-restore.ts";
import { forgetLegacyKeys } from "./key-state.ts";

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
  private readonly archive: ArchiveReader;
  /** Counts the archive job's steps (period-archive.ts archiveStep takes turns by it). */
  private archiveTurn = 0;
  private readonly policy: PeriodPolicy;
  private readonly delivery: DeliveryHost;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new CountedSql(ctx.storage.sql);
    // Bindings are read through this.env when used, never copied: tests point them elsewhere.
    const account = () => this.writes.committed()?.account ?? null;
    const outbox = { sql: this.sql, objectName: ctx.id.name, account };
    this.schedule = new AlarmSchedule(ctx.storage, this.sql, {
      list: () => this.listing.list(),
      publish: (run) => publishEvents(optionalBindings(this.env).EVENTS, { ...outbox, storage: run }),
      periods: (run) => this.runPeriods(run),
      expireHolds: () => this.expireDueHolds(),
      deliverTransfers: (run) => deliverTransfers(this.delivery, run, Date.now()),
      periodsDue: (head, nowMs) => this.policy.dueMs(head, nowMs),
      headNeeds: (nowMs) => {
        const head = this.writes.committed()?.head;
        if (head === undefined) return {};
        const { holdsDueMs, transfersDueMs } = head;
        return { holdsDueMs, transfersDueMs, periodsDueMs: this.policy.dueMs(head, nowMs) };
      },
      measure: (run) => {
        const opened = account();
        this.env.METRICS?.writeDataPoint(
          sweepPoint({
            tenant: opened === null ? null : tenantOf(opened, ctx.id.name),
            account: opened?.name ?? null,
            ...run,
          }),
        );
      },
    });
    this.delivery = {
      sql: this.sql,
      account: () => this.writes.committed()?.account ?? null,
      deliver: (to, request) => this.deliverLeg(to, request),
      settle: (request) => this.decideMoney(request),
      rescheduled: () => this.writes.refreshHeld(),
    };
    this.archive = new ArchiveReader(
      this.sql,
      () => this.bucket(),
      () => this.archivePrefix(),
    );
    this.policy = new PeriodPolicy(this.sql, parsePeriodPolicy(env), () => account()?.createdMs ?? null);
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
    const opened = this.writes.committed();
    const keyed = request.keyed ?? null;
    if (keyed !== null && opened !== null) {
      const archived = await this.archivedAnswerIfUnknown(keyed, opened.account.currency, newTally());
      if (archived !== null) return archived;
    }
    const outcome = await this.writes.settings(request);
    if (outcome === null) return failure({ code: "overloaded" });
    // Reading the state back starts a new account's listing in its tenant's directory.
    this.writes.committed();
    return outcome;
  }

  async getAccount(): Promise<Outcome> {
    await this.expireDueHolds();
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    return success(200, accountView(state.account, state.head, this.sql.databaseSize()));
  }

  async getCharge(chargeId: string): Promise<Outcome> {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const tally = newTally();
    const charge = findEntryById(this.sql, chargeId) ?? (await this.archivedEntry(chargeId, tally));
    const outcome =
      charge === null || charge.type !== "charge"
        ? failure(chargeNotFound(chargeId))
        : success(200, chargeView(charge, state.account.currency, refundedAmount(this.sql, charge.id)));
    return withReads(outcome, tally);
  }

  /** An entry by id whose period left the object, from the archive; null if there is none. */
  private async archivedEntry(id: string, tally: ReadTally): Promise<EntryRow | null> {
    const parsed = parseEntryId(id);
    if (parsed === null || parsed.seq > this.archive.leftThroughSeq()) return null;
    const view = await this.archive.entry(parsed.seq, tally);
    return view === null || view.id !== id ? null : entryRowOf(view);
  }

  /** A hold as it is now. */
  async getHold(id: string): Promise<Outcome> {
    await this.expireDueHolds();
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const hold = findHold(this.sql, id);
    if (hold === null) return failure({ code: "hold_not_found", holdId: id });
    return success(200, holdView(hold, state.account.currency));
  }

  /** A page of holds, oldest first, each as it is now. */
  async listHolds(page: PageRequest): Promise<Outcome> {
    await this.expireDueHolds();
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    let afterSeq = 0;
    if (page.startingAfter !== undefined) {
      const cursor = findHold(this.sql, page.startingAfter);
      if (cursor === null) {
        return failure({ code: "invalid_request", errors: [{ field: "starting_after", message: "no such hold" }] });
      }
      afterSeq = cursor.seq;
    }
    const rows = holdsAfter(this.sql, afterSeq, page.limit + 1);
    const data = rows.slice(0, page.limit).map((hold) => holdView(hold, state.account.currency));
    return success(200, { data, has_more: rows.length > page.limit });
  }

  /** A transfer from this account as it is now. */
  getTransfer(id: string): Outcome {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const transfer = findTransfer(this.sql, id);
    if (transfer === null) return failure({ code: "transfer_not_found", transferId: id });
    return success(200, transferView(transfer, state.account.name, state.account.currency));
  }

  /**
   * A transfer's leg, sent by its source's object (transfer-delivery.ts):
   * decided once under its leg key, as any keyed request is, so a delivery
   * repeated at any time gets the first answer. An object whose account was
   * never opened records its refusal, so that refusal is final too: the
   * source voids the transfer on it, and an account opened later can never
   * apply the leg.
   */
  async receiveTransfer(wire: WireMoneyRequest): Promise<Outcome> {
    const unsupported = refuseInterface(wire.interfaceVersion);
    if (unsupported !== null) return unsupported;
    const request = currentRequest(wire);
    if (request.command.type !== "transfer_in") {
      throw new Error(`invariant: a transfer leg carries a ${request.command.type} command`);
    }
    const nowMs = Date.now();
    if (this.writes.committed() === null) {
      this.ctx.storage.transactionSync(() =>
        recordRefusal(this.sql, request.idempotencyKey, ACCOUNT_NOT_FOUND.code, nowMs),
      );
    }
    const refused = findRefusal(this.sql, request.idempotencyKey);
    if (refused !== null) {
      // Paired with recordRefusal: the one refusal kept there is of an account not opened.
      if (refused !== ACCOUNT_NOT_FOUND.code) throw new Error(`invariant: leg refused as ${refused}`);
      return withFacts(failure(ACCOUNT_NOT_FOUND), { recorded: true });
    }
    return this.decideMoney(request);
  }

  /** Where this account's object reaches another account's of its tenant: in its own namespace and jurisdiction. */
  private async deliverLeg(to: string, request: MoneyRequest): Promise<Outcome | null> {
    const account = this.writes.committed()?.account ?? null;
    const tenant = account === null ? null : tenantOf(account, this.ctx.id.name);
    if (tenant === null) {
      logError("transferDeliveryFailed", { to, reason: "this account's tenant is unknown" });
      return null;
    }
    const jurisdiction = this.ctx.id.jurisdiction as DurableObjectJurisdiction | undefined;
    const namespace = jurisdiction === undefined ? this.env.ACCOUNTS : this.env.ACCOUNTS.jurisdiction(jurisdiction);
    try {
      return await namespace.getByName(`${tenant}:${to}`).receiveTransfer(request);
    } catch (error) {
      logError("transferDeliveryFailed", { to, error: String(error) });
      return null;
    }
  }

  /**
   * Expires the holds due, through a group commit, only when some are: the
   * alarm's hold job, and first thing on a read that shows holds or what is
   * available, so it never shows as held what the next decision would not
   * count. When the next held hold expires.
   */
  private async expireDueHolds(): Promise<number | null> {
    const due = this.writes.committed()?.head.holdsDueMs ?? null;
    if (due === null || due > Date.now()) return due;
    return this.writes.expireHolds();
  }

  /** The account's settings changes after a version, oldest first. */
  listChanges(page: { limit: number; startingAfter: number | undefined }): Outcome {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const { rows, hasMore } = changesAfter(this.sql, page.startingAfter ?? 0, page.limit);
    return success(200, { data: rows.map(accountChangeView), has_more: hasMore });
  }

  /** A page of entries, across periods that left the object (read from the archive) and the object's own. */
  async listEntries(page: PageRequest): Promise<Outcome> {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const tally = newTally();
    let afterSeq = 0;
    if (page.startingAfter !== undefined) {
      const cursor =
        findEntryById(this.sql, page.startingAfter) ?? (await this.archivedEntry(page.startingAfter, tally));
      if (cursor === null) {
        const problem = { field: "starting_after", message: "no such entry" };
        return withReads(failure({ code: "invalid_request", errors: [problem] }), tally);
      }
      afterSeq = cursor.seq;
    }
    const want = page.limit + 1;
    const archived =
      afterSeq < this.archive.leftThroughSeq() ? await this.archive.entriesAfter(afterSeq, want, tally) : [];
    // Fewer than wanted from the archive means it ran out: the object's own entries follow on.
    const here =
      archived.length < want
        ? entriesAfter(this.sql, Math.max(afterSeq, this.archive.leftThroughSeq()), want - archived.length).map((row) =>
            entryView(row, state.account.currency),
          )
        : [];
    const rows = [...archived, ...here];
    return withReads(success(200, { data: rows.slice(0, page.limit), has_more: rows.length > page.limit }), tally);
  }

  /**
   * Read-only, so a lookup never uses up a key: what a money-moving request
   * with this key did here, judged live by the same rule as moveMoney.
   */
  async lookupIdempotencyKey(key: string): Promise<Outcome> {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const currency = state.account.currency;
    const row = findKeyRow(this.sql, key);
    if (row !== null) {
      const entry = entryOfKeyRow(this.sql, row);
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
    if (record === null && decision === null && entry === null) return this.lookupArchivedKey(key, currency);
    const entryOut = entry === null ? null : entryView(entry, currency);
    return success(200, keyLookupView(key, record, decision, entryOut));
  }

  /** A key whose period left the object: what its decision was, and its entry, from the archive. */
  private async lookupArchivedKey(key: string, currency: string): Promise<Outcome> {
    const tally = newTally();
    const found = await this.archive.findKey(key, tally);
    if (found === null) return withReads(failure({ code: "idempotency_key_not_found" }), tally);
    const entry = found.entry === null ? null : await this.archivedEntry(found.entry, tally);
    const view = keyLookupView(key, null, found, entry === null ? null : entryView(entry, currency));
    return withReads(success(200, view), tally);
  }

  /**
   * Decides one money-moving request. A key already used is answered at once
   * from what is stored; a new one waits for the next group commit.
   */
  async moveMoney(wire: WireMoneyRequest): Promise<Outcome> {
    const unsupported = refuseInterface(wire.interfaceVersion);
    if (unsupported !== null) return unsupported;
    const request = currentRequest(wire);
    if (isTransferCommand(request)) throw new Error(`invariant: a Worker sent a ${request.command.type} command`);
    return this.decideMoney(request);
  }

  /** Decides a money request, of a caller or of this code: a used key answered at once, a new one in the next group. */
  private async decideMoney(request: MoneyRequest): Promise<Outcome> {
    const before = this.sql.work();
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const used = answerForUsedKey(this.sql, request, Date.now(), state.account.currency);
    if (used !== null) return withFacts(used, { work: workSince(this.sql, before) });
    const archived = await this.archivedFacts([request]);
    const answer = archived.answers.get(request.idempotencyKey);
    const outcome = answer ?? (await this.writes.one(request, archived)) ?? failure({ code: "overloaded" });
    return withReads(outcome, archived.tallies[0] ?? newTally());
  }

  /**
   * What the archive says of requests whose keys the object does not hold:
   * the final answer of a key whose period left, and the charge a refund
   * names whose period left. Nothing is read while no period has left.
   */
  /**
   * The final answer of a key whose period left the object, as for any
   * expired key; null when the archive does not hold it (or nothing left).
   * Every keyed request asks it before it is queued, when the object holds
   * nothing for its key: a money request, a close, a settings change.
   */
  private async archivedAnswer(key: string, tally: ReadTally): Promise<Outcome | null> {
    if (this.archive.leftThroughSeq() === 0) return null;
    const found = await this.archive.findKey(key, tally);
    if (found === null) return null;
    return failure({
      code: "idempotency_key_expired",
      originalStatus: found.status,
      originalCode: found.code,
      entry: found.entry,
    });
  }

  /** For a keyed request the object holds nothing about: the archive's answer, else null. */
  private async archivedAnswerIfUnknown(
    request: KeyedRequest,
    currency: string,
    tally: ReadTally,
  ): Promise<Outcome | null> {
    if (answerForUsedKey(this.sql, request, Date.now(), currency) !== null) return null;
    const answer = await this.archivedAnswer(request.idempotencyKey, tally);
    return answer === null ? null : withReads(answer, tally);
  }

  /** What the archive says of each request whose key the object does not hold, and the R2 reads each cost. */
  private async archivedFacts(requests: readonly MoneyRequest[]): Promise<ArchivedFacts & { tallies: ReadTally[] }> {
    const answers = new Map<string, Outcome>();
    const charges = new Map<string, EntryRow>();
    const tallies: ReadTally[] = [];
    if (this.archive.leftThroughSeq() === 0) return { answers, charges, tallies };
    for (const request of requests) {
      const tally = newTally();
      tallies.push(tally);
      const answer = answers.has(request.idempotencyKey)
        ? null
        : await this.archivedAnswer(request.idempotencyKey, tally);
      const command = request.command;
      if (answer !== null) {
        answers.set(request.idempotencyKey, answer);
      } else if (
        command.type === "refund" &&
        !charges.has(command.input.charge) &&
        findEntryById(this.sql, command.input.charge) === null
      ) {
        const charge = await this.archivedEntry(command.input.charge, tally);
        if (charge !== null) charges.set(charge.id, charge);
      }
    }
    return { answers, charges, tallies };
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
    const state = this.writes.committed();
    if (state === null) return err(failure(ACCOUNT_NOT_FOUND));
    if (requests.length === 0) return ok([]);
    // Only keys the object does not hold are asked of the archive; while no period has left, nothing is
    // (archivedFacts reads nothing), so no key is looked up twice: decide() looks each up in the group.
    // (A lookup here runs outside a transaction, about three times the cost of decide()'s, measured.)
    const nowMs = Date.now();
    const unknown =
      this.archive.leftThroughSeq() === 0
        ? []
        : requests.filter((request) => answerForUsedKey(this.sql, request, nowMs, state.account.currency) === null);
    const archived = await this.archivedFacts(unknown);
    const outcomes = await this.writes.batch(requests, archived);
    if (outcomes === null) return err(failure({ code: "overloaded" }));
    // Each operation's log facts carry the R2 reads its own key (or refund's charge) cost.
    const tallies = new Map(unknown.map((request, i) => [request, archived.tallies[i] ?? newTally()]));
    return ok(outcomes.map((outcome, i) => withReads(outcome, tallies.get(requests[i] as MoneyRequest) ?? newTally())));
  }

  /**
   * Closes the open period at the latest entry, recorded under its key; 409
   * period_empty when nothing was appended since the last close. The alarm
   * archives it (period-archive.ts).
   */
  async closePeriod(request: KeyedRequest): Promise<Outcome> {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const archived = await this.archivedAnswerIfUnknown(request, state.account.currency, newTally());
    if (archived !== null) return archived;
    const outcome = (await this.writes.close(request)) ?? failure({ code: "overloaded" });
    this.policy.forget();
    // The archive job starts at once: a close is work for the alarm.
    await this.schedule.armBy({ periodsDueMs: Date.now() }, Date.now());
    return outcome;
  }

  listPeriods(page: { limit: number; startingAfter: number | undefined }): Outcome {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const rows = periodsAfter(this.sql, page.startingAfter ?? 0, page.limit + 1);
    const data = rows.slice(0, page.limit).map((row) => periodView(this.sql, row));
    return success(200, { data, has_more: rows.length > page.limit });
  }

  getPeriod(id: number): Outcome {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    const period = findPeriod(this.sql, id);
    if (period === null) return failure({ code: "period_not_found", id: String(id) });
    return success(200, periodView(this.sql, period));
  }

  /** The periods' job for one alarm run: an automatic close when due, then one archive or prune step. */
  private async runPeriods(run: RunStorage): Promise<ArchiveStep> {
    const state = this.writes.committed();
    if (state === null) return { did: "none", period: null, r2Operations: 0, nextDueMs: null };
    try {
      const nowMs = Date.now();
      if (this.policy.isDue(state.head, nowMs)) {
        run.transactionSync(() => closeOpenPeriod(this.sql, nowMs, null));
        this.policy.forget();
      }
      const opened = state.account;
      const step = await archiveStep(
        {
          storage: run,
          sql: this.sql,
          bucket: () => this.bucket(),
          prefix: () => this.archivePrefix(),
          currency: () => opened.currency,
          publishesEvents: () => publishesEvents(optionalBindings(this.env).EVENTS),
          periodsLeft: () => this.archive.refresh(),
          locatorChanged: () => this.archive.refreshLocator(),
          turn: () => (this.archiveTurn += 1),
        },
        nowMs,
      );
      const head = this.writes.committed()?.head ?? state.head;
      const policyDue = this.policy.dueMs(head, Date.now());
      const nextDueMs =
        step.nextDueMs === null ? policyDue : policyDue === null ? step.nextDueMs : Math.min(step.nextDueMs, policyDue);
      return { ...step, nextDueMs };
    } catch (error) {
      // A superseded run records nothing, its failure included.
      if (error instanceof SupersededRun) throw error;
      logError("archiveStepFailed", {
        error: String(error),
        stack: error instanceof Error ? (error.stack ?? null) : null,
      });
      return { did: "failed", period: null, r2Operations: 0, nextDueMs: Date.now() + ARCHIVE_RETRY_DELAY_MS };
    }
  }

  /** `<tenant>/<account>`: where this account's archived objects are named. */
  private archivePrefix(): string {
    const opened = this.writes.committed()?.account;
    if (opened === undefined) throw new Error("invariant: an account never opened has no archive");
    return `${tenantOf(opened, this.ctx.id.name) ?? "_"}/${opened.name}`;
  }

  /** This account's archive bucket: its jurisdiction's, when its object was placed in one (config/archive-bucket.ts). */
  private bucket(): R2Bucket | null {
    return archiveBucket(this.env, this.ctx.id.jurisdiction);
  }

  /** The object's one alarm: the expiry sweep, then the listing and the outbox (alarm-schedule.ts). */
  override alarm(): Promise<void> {
    return this.schedule.run();
  }

  /** Recomputes the ledger's invariants from storage; for tests and audits. */
  audit(): LedgerAudit {
    return auditLedger(this.sql);
  }

  /**
   * The operator's backup reads (account-backup.ts): one page of what the
   * tenants' API does not show, read-only. 404 for an account never opened.
   */
  async readBackup(request: BackupPageRequest): Promise<Outcome> {
    const state = this.writes.committed();
    if (state === null) return failure(ACCOUNT_NOT_FOUND);
    switch (request.part) {
      case "state": {
        const entryAt = async (seq: number) => {
          const here = findEntryBySeq(this.sql, seq);
          if (here !== null) return here;
          const archived = await this.archive.entry(seq, newTally());
          return archived === null ? null : entryRowOf(archived);
        };
        return success(200, await backupState(this.sql, state.account, entryAt));
      }
      case "changes":
        return success(200, backupChanges(this.sql, Number(request.after ?? 0), request.limit));
      case "keys":
        return success(
          200,
          backupKeys(this.sql, Number(request.after ?? 0), request.through ?? state.head.keyPos, request.limit),
        );
      case "decisions":
        return success(200, backupDecisions(this.sql, request.after ?? "", request.limit));
      case "holds":
        return success(
          200,
          backupHolds(
            this.sql,
            state.account.currency,
            Number(request.after ?? 0),
            request.through ?? holdChangeCount(this.sql),
            request.limit,
          ),
        );
      case "transfers":
        return success(
          200,
          backupTransfers(
            this.sql,
            state.account,
            Number(request.after ?? 0),
            request.through ?? state.head.keyPos,
            request.limit,
          ),
        );
      case "refusals":
        return success(200, backupRefusals(this.sql, request.after ?? "", request.limit));
    }
  }

  /**
   * One step of rebuilding this object from a backup and the archive
   * (account-restore.ts), only while it holds no account. A step that cannot
   * be taken is 409 restore_refused with its reason; the account row is
   * written last, by `finish`, after which the object runs as any other.
   */
  async restore(step: RestoreStep): Promise<Outcome> {
    try {
      const answer = await restoreStep(
        { storage: this.ctx.storage, sql: this.sql, objectName: this.ctx.id.name, bucket: () => this.bucket() },
        step,
      );
      if (step.step === "finish") {
        // What this instance learnt of the object while it held no account is stale.
        forgetLegacyKeys(this.sql);
        this.archive.refresh();
        this.policy.forget();
        const head = this.writes.committed()?.head ?? null;
        // The restored pending transfers are due at once (account-restore.ts): the alarm resumes their delivery.
        await this.schedule.armBy(
          { periodsDueMs: Date.now(), events: "pending", transfersDueMs: head?.transfersDueMs ?? null },
          Date.now(),
        );
      }
      return success(200, answer);
    } catch (error) {
      const reason = refusalReason(error);
      if (reason === null) throw error;
      logError("restoreRefused", { step: step.step, reason });
      return failure({ code: "restore_refused", reason });
    }
  }
}

/** A 500 for a caller this object cannot understand (contract/interface-version.ts), logged; null when it can. */
/** Whether a request carries a command only account objects send each other, never a Worker. */
function isTransferCommand(request: MoneyRequest): boolean {
  return request.command.type === "transfer_in" || request.command.type === "transfer_settle";
}

function refuseInterface(version: number | undefined): Outcome | null {
  const reason = unsupportedInterface(version);
  if (reason === null) return null;
  logError("incompatibleWorker", { reason });
  return failure({ code: "internal_error", cause: "interface_version" });
}

/** The outcome with what its archive lookups cost, when they cost anything: its R2 reads, and their rows read. */
function withReads(outcome: Outcome, tally: ReadTally): Outcome {
  if (tally.reads === 0 && tally.rowsRead === 0) return outcome;
  const work = outcome.facts?.work ?? { rowsRead: 0, rowsWritten: 0 };
  return withFacts(outcome, {
    archiveReads: tally.reads,
    work: { rowsRead: work.rowsRead + tally.rowsRead, rowsWritten: work.rowsWritten },
  });
}
