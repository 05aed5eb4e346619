import { ifMatchHolds } from "../domain/if-match.ts";
import type { OpenAccountRequest } from "../contract/requests.ts";
import { answerForUsedKey, recordDecision } from "./decide.ts";
import { insertAccount, readAccount, readHead, storeTenant, updateOverdraftLimit } from "./ledger-store.ts";
import { checkCurrency } from "./money-operations.ts";
import { failure, success, withFacts, type Outcome } from "../contract/outcome.ts";
import type { CountedSql } from "./sql.ts";
import { accountView } from "./row-views.ts";

/**
 * Where an account is opened and its settings changed (PUT). With an
 * Idempotency-Key the answer is recorded and replayed like a money
 * request's, and a recorded key replays before If-Match is looked at, so a
 * retry after a lost 200 gets that 200 back, not a 412. A 412 is not
 * recorded. Run inside the account's transaction.
 */
export function decideAccountSettings(
  sql: CountedSql,
  request: OpenAccountRequest,
  nowMs: number,
  ttlMs: number,
): SettingsDecision {
  const keyed = request.keyed ?? null;
  if (keyed !== null) {
    const used = answerForUsedKey(sql, keyed, nowMs, null);
    if (used !== null) return { outcome: used, changed: [] };
  }
  let existing = readAccount(sql);
  if (existing !== null && existing.tenant === null && request.tenant !== undefined) {
    // Opened before schema 4, so its tenant was never stored: this request names it.
    storeTenant(sql, request.tenant);
    existing = { ...existing, tenant: request.tenant };
  }
  const refused = preconditionFailure(request, existing?.version ?? null);
  if (refused !== null) return { outcome: refused, changed: [] };
  const key = keyed?.idempotencyKey ?? null;
  const keyId = request.origin.keyId;
  let outcome: Outcome;
  const changed: { version: number; field: string }[] = [];
  if (existing === null) {
    const account = {
      name: request.account,
      currency: request.input.currency,
      overdraftLimit: request.input.overdraft_limit ?? 0,
      version: 1,
      createdMs: nowMs,
      tenant: request.tenant ?? null,
      listed: false,
    };
    insertAccount(sql, account, key, keyId);
    changed.push({ version: 1, field: "currency" }, { version: 1, field: "overdraft_limit" });
    outcome = success(201, accountView(account, readHead(sql), sql.databaseSize()));
  } else {
    const mismatch = checkCurrency(existing, request.input.currency);
    if (mismatch !== null) {
      outcome = failure(mismatch);
    } else {
      const overdraftLimit = request.input.overdraft_limit ?? existing.overdraftLimit;
      let account = existing;
      if (overdraftLimit !== existing.overdraftLimit) {
        account = updateOverdraftLimit(sql, existing, overdraftLimit, nowMs, key, keyId);
        changed.push({ version: account.version, field: "overdraft_limit" });
      }
      outcome = success(200, accountView(account, readHead(sql), sql.databaseSize()));
    }
  }
  if (keyed === null) return { outcome, changed };
  recordDecision(sql, keyed, outcome, null, readHead(sql).keyPos + 1, nowMs, ttlMs);
  return { outcome: withFacts(outcome, { recorded: true }), changed };
}

/**
 * The 412 for a request whose If-Match the account (at `version`; null: never
 * opened) does not satisfy, else null. Checked before anything is stored, so
 * a refused PUT on a name never opened creates no table.
 */
export function preconditionFailure(request: OpenAccountRequest, version: number | null): Outcome | null {
  const ifMatch = request.ifMatch ?? null;
  if (ifMatch === null || ifMatchHolds(ifMatch, version)) return null;
  return failure({ code: "precondition_failed", current: version });
}

export interface SettingsDecision {
  readonly outcome: Outcome;
  /** The settings fields it changed, each under the version it produced: the events to announce. */
  readonly changed: readonly { version: number; field: string }[];
}
