import { DurableObject } from "cloudflare:workers";
import { EXPIRY_SWEEP_BATCH_SIZE } from "../domain/limits.ts";
import type { PageRequest } from "../domain/commands.ts";
import { parseIdempotencyTtlSeconds } from "../domain/retention.ts";
import type { MoneyRequest, OpenAccountRequest } from "./commands.ts";
import { deleteExpired, earliestExpiry, findLiveRecord, saveRecord } from "./idempotency-records.ts";
import {
  entriesAfter,
  findEntryById,
  findEntryByKey,
  insertAccount,
  readAccount,
  readHead,
  refundedAmount,
  updateOverdraftLimit,
} from "./ledger-store.ts";
import { auditLedger, type LedgerAudit } from "./ledger-audit.ts";
import { applyMoneyCommand, chargeNotFound, checkCurrency } from "./money-operations.ts";
import { failure, success, type Outcome } from "./outcome.ts";
import { migrate } from "./schema.ts";
import { accountView, chargeView, entryView, keyLookupView } from "./views.ts";

/**
 * One account's ledger: the only code that changes money state. Each
 * money-moving request is one synchronous SQLite transaction that checks the
 * Idempotency-Key, applies the change and records the response; nothing is
 * awaited in between, so concurrent copies cannot interleave.
 */
export class AccountLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly ttlMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.ttlMs = parseIdempotencyTtlSeconds(env.IDEMPOTENCY_TTL_SECONDS) * 1000;
    ctx.storage.transactionSync(() => migrate(this.sql));
  }

  openAccount(request: OpenAccountRequest): Outcome {
    return this.ctx.storage.transactionSync(() => {
      const existing = readAccount(this.sql);
      if (existing === null) {
        const account = {
          name: request.account,
          currency: request.input.currency,
          overdraftLimit: request.input.overdraft_limit ?? 0,
          createdMs: Date.now(),
        };
        insertAccount(this.sql, account);
        return success(201, accountView(account, readHead(this.sql)));
      }
      const mismatch = checkCurrency(existing, request.input.currency);
      if (mismatch !== null) return failure(mismatch);
      const overdraftLimit = request.input.overdraft_limit ?? existing.overdraftLimit;
      if (overdraftLimit !== existing.overdraftLimit) updateOverdraftLimit(this.sql, overdraftLimit);
      return success(200, accountView({ ...existing, overdraftLimit }, readHead(this.sql)));
    });
  }

  getAccount(): Outcome {
    const account = readAccount(this.sql);
    if (account === null) return failure(ACCOUNT_NOT_FOUND);
    return success(200, accountView(account, readHead(this.sql)));
  }

  getCharge(chargeId: string): Outcome {
    const account = readAccount(this.sql);
    if (account === null) return failure(ACCOUNT_NOT_FOUND);
    const charge = findEntryById(this.sql, chargeId);
    if (charge === null || charge.type !== "charge") return failure(chargeNotFound(chargeId));
    return success(200, chargeView(charge, account.currency, refundedAmount(this.sql, charge.id)));
  }

  listEntries(page: PageRequest): Outcome {
    const account = readAccount(this.sql);
    if (account === null) return failure(ACCOUNT_NOT_FOUND);
    let afterSeq = 0;
    if (page.startingAfter !== undefined) {
      const cursor = findEntryById(this.sql, page.startingAfter);
      if (cursor === null) {
        return failure({ code: "invalid_request", errors: [{ field: "starting_after", message: "no such entry" }] });
      }
      afterSeq = cursor.seq;
    }
    const rows = entriesAfter(this.sql, afterSeq, page.limit + 1);
    const data = rows.slice(0, page.limit).map((row) => entryView(row, account.currency));
    return success(200, { data, has_more: rows.length > page.limit });
  }

  /**
   * Read-only, so a lookup never uses up a key: what a money-moving request
   * with this key did here, judged live by the same rule as moveMoney.
   */
  lookupIdempotencyKey(key: string): Outcome {
    const account = readAccount(this.sql);
    if (account === null) return failure(ACCOUNT_NOT_FOUND);
    const record = findLiveRecord(this.sql, key, Date.now());
    const entry = findEntryByKey(this.sql, key);
    if (record === null && entry === null) return failure({ code: "idempotency_key_not_found" });
    return success(200, keyLookupView(key, record, entry === null ? null : entryView(entry, account.currency)));
  }

  moveMoney(request: MoneyRequest): Outcome {
    return this.ctx.storage.transactionSync(() => {
      const account = readAccount(this.sql);
      if (account === null) return failure(ACCOUNT_NOT_FOUND);
      const nowMs = Date.now();
      const key = request.idempotencyKey;

      const record = findLiveRecord(this.sql, key, nowMs);
      if (record !== null) {
        if (record.fingerprint !== request.fingerprint) return failure({ code: "idempotency_key_reused" });
        // The same request id means the Worker retried a call whose answer was lost: not a replay to the client.
        return { status: record.status, body: record.body, replayed: record.requestId !== request.requestId };
      }

      // No live record: the key may still have moved money before its record expired.
      const entry = findEntryByKey(this.sql, key);
      if (entry !== null) return failure({ code: "idempotency_key_expired", entry: entry.id });

      const outcome = applyMoneyCommand({ sql: this.sql, account, idempotencyKey: key, nowMs }, request.command);
      const expiresMs = nowMs + this.ttlMs;
      this.armExpiryAlarm(expiresMs);
      saveRecord(this.sql, {
        key,
        requestId: request.requestId,
        fingerprint: request.fingerprint,
        status: outcome.status,
        body: outcome.body,
        createdMs: nowMs,
        expiresMs,
      });
      return outcome;
    });
  }

  /** Deletes one bounded batch of expired records, then re-arms for whatever is left. Safe to run twice. */
  override alarm(): void {
    this.ctx.storage.transactionSync(() => {
      deleteExpired(this.sql, Date.now(), EXPIRY_SWEEP_BATCH_SIZE);
      const next = earliestExpiry(this.sql);
      if (next !== null) void this.ctx.storage.setAlarm(next);
    });
  }

  /** Recomputes the ledger's invariants from storage; for tests and audits. */
  audit(): LedgerAudit {
    return auditLedger(this.sql);
  }

  /**
   * Keeps the alarm at the earliest expiry, counting the record about to be
   * saved. Setting it on every write (rather than only when none is set) also
   * re-arms an alarm that exhausted its retries. It is written inside the
   * caller's transaction and rolls back with it.
   */
  private armExpiryAlarm(newExpiryMs: number): void {
    const earliest = earliestExpiry(this.sql);
    void this.ctx.storage.setAlarm(earliest === null ? newExpiryMs : Math.min(earliest, newExpiryMs));
  }
}

const ACCOUNT_NOT_FOUND = { code: "account_not_found" } as const;
