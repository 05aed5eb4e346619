/**
 * The audit's judgements, as pure functions of what the run did and what
 * the ledger's API returned, so each can be shown to catch what it claims to.
 */
import type { EntryView, IdempotencyKeyLookup } from "../../src/client/onceledger-client.ts";
import { ENTRY_KINDS, type LogicalOp, type Observation } from "./model.ts";

/** Offending items kept per kind of violation; the counts are always exact. */
export const MAX_EXAMPLES = 20;

export const VIOLATION_KINDS = [
  "doubleApplied",
  "lost",
  "undetermined",
  "unexpectedProblems",
  "unknownEntries",
  "sequenceGaps",
  "balanceMismatches",
  "ruleViolations",
  "replayMismatches",
  "lookupMismatches",
  "flippedDecisions",
  "periodMismatches",
  "chainMismatches",
  "unarchivedPeriods",
  "pendingTransfers",
  "transferMismatches",
  "holdMismatches",
  "heldMismatches",
  "conservationMismatches",
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violations {
  readonly count: Record<ViolationKind, number>;
  readonly examples: Record<ViolationKind, string[]>;
}

export type Flag = (kind: ViolationKind, example: string) => void;

export function violationRecorder(): { violations: Violations; flag: Flag } {
  const count = {} as Record<ViolationKind, number>;
  const examples = {} as Record<ViolationKind, string[]>;
  for (const kind of VIOLATION_KINDS) {
    count[kind] = 0;
    examples[kind] = [];
  }
  const flag: Flag = (kind, example) => {
    count[kind] += 1;
    if (examples[kind].length < MAX_EXAMPLES) examples[kind].push(example);
  };
  return { violations: { count, examples }, flag };
}

export function totalViolations(violations: Violations): number {
  return VIOLATION_KINDS.reduce((sum, kind) => sum + violations.count[kind], 0);
}

/** Gapless sequence from 1, each balance_after the running sum, the account's balance and count the totals. */
export function checkChain(
  account: string,
  entries: readonly EntryView[],
  state: { readonly balance: number; readonly entry_count: number },
  flag: Flag,
): void {
  let balance = 0;
  for (const [index, entry] of entries.entries()) {
    if (entry.seq !== index + 1) {
      flag("sequenceGaps", `${account}: entry ${entry.id} has seq ${entry.seq}, expected ${index + 1}`);
      return;
    }
    balance += entry.amount;
    if (entry.balance_after !== balance) {
      flag(
        "balanceMismatches",
        `${account}: entry ${entry.seq} says ${entry.balance_after}, entries sum to ${balance}`,
      );
      return;
    }
  }
  if (state.balance !== balance || state.entry_count !== entries.length) {
    flag(
      "balanceMismatches",
      `${account}: account says ${state.balance} over ${state.entry_count} entries; entries sum to ${balance} over ${entries.length}`,
    );
  }
}

/** Entry types that take money out: none may leave the balance below minus the overdraft limit. */
const DEBITS = new Set(["charge", "capture", "transfer_out"]);

/**
 * The ledger's own rules, seen from outside: no charge, capture or
 * transfer_out below the overdraft limit, no refund beyond its charge (or
 * capture, refundable as a charge is).
 */
export function checkRules(
  account: string,
  entries: readonly EntryView[],
  state: { readonly overdraft_limit: number },
  flag: Flag,
): void {
  const refundable = new Map<string, number>();
  for (const entry of entries) {
    if (DEBITS.has(entry.type) && entry.balance_after < -state.overdraft_limit) {
      flag("ruleViolations", `${account}: ${entry.type} ${entry.id} took the balance to ${entry.balance_after}`);
    }
    if (entry.type === "charge" || entry.type === "capture") {
      refundable.set(entry.id, -entry.amount);
    } else if (entry.type === "refund") {
      const left = entry.charge === null ? undefined : refundable.get(entry.charge);
      if (left === undefined || entry.amount > left) {
        flag(
          "ruleViolations",
          `${account}: refund ${entry.id} of ${entry.amount} exceeds what charge ${entry.charge ?? "(none)"} had left`,
        );
      } else {
        refundable.set(entry.charge as string, left - entry.amount);
      }
    }
  }
}

/**
 * Every entry must come from an operation this run sent to this account. A
 * transfer's legs carry keys of their own, not a request's: the transfer
 * checks (transfer-checks.ts) judge them.
 */
export function checkEntryOwners(
  account: string,
  entries: readonly EntryView[],
  opsByKey: ReadonlyMap<string, LogicalOp>,
  flag: Flag,
): void {
  for (const entry of entries) {
    if (entry.type === "transfer_out" || entry.type === "transfer_in") continue;
    const owner = opsByKey.get(entry.idempotency_key);
    if (owner?.account !== account) {
      flag("unknownEntries", `${account}: entry ${entry.id} (key ${entry.idempotency_key}) belongs to no operation`);
    }
  }
}

/**
 * Applied: exactly the one entry the client was told about (a credit,
 * charge, refund or capture), or none under its key (a hold, a void, a
 * transfer: their effects are judged by hold-checks.ts and
 * transfer-checks.ts). Declined: no entry at all.
 */
export function checkOperation(
  op: LogicalOp,
  entriesByKey: ReadonlyMap<string, readonly EntryView[]>,
  flag: Flag,
): void {
  const outcome = op.outcome;
  const label = `${op.account} ${op.kind} key ${op.key ?? "(none)"}`;
  if (outcome === null || outcome.kind === "undetermined") {
    flag("undetermined", `${label}: ${outcome?.reason ?? "never settled"}`);
    return;
  }
  if (outcome.kind === "unexpected") {
    flag("unexpectedProblems", `${label}: ${outcome.status} ${outcome.code}: ${outcome.detail}`);
    return;
  }
  const entries = op.key === null ? [] : (entriesByKey.get(op.key) ?? []);
  if (outcome.kind === "declined") {
    if (entries.length > 0) flag("doubleApplied", `${label}: declined (${outcome.code}) yet moved money`);
    return;
  }
  if (!ENTRY_KINDS.has(op.kind)) {
    if (entries.length > 0)
      flag("doubleApplied", `${label}: ${entries.length} entries under its key, which makes none`);
    return;
  }
  if (entries.length > 1) {
    flag("doubleApplied", `${label}: ${entries.length} entries`);
    return;
  }
  const entry = entries[0];
  // An expired decision names the entry, not its amount: then the id alone is compared. A charge answers its
  // amount unsigned; a capture answers its entry, signed.
  const signedAmount = outcome.amount === null ? null : op.kind === "charge" ? -outcome.amount : outcome.amount;
  if (entry?.id !== outcome.id || (signedAmount !== null && entry.amount !== signedAmount)) {
    flag(
      "lost",
      `${label}: confirmed as ${outcome.id} (${signedAmount ?? "amount not given"}), the ledger has ${entry?.id ?? "no entry"}`,
    );
  }
}

/** What an answer says was decided: its status, its problem code (null for a success) and the entry it names. */
export interface DecisionSeen {
  readonly status: number;
  readonly code: string | null;
  readonly entry: string | null;
}

/**
 * The decision an answer carries: a recorded answer's own status, code and
 * entry id, or, for 409 idempotency_key_expired, the original decision it
 * reports. `expired` says which.
 */
export function decisionOf(answer: { status: number; body: string }): DecisionSeen & { expired: boolean } {
  const body = parseObject(answer.body);
  if (answer.status === 409 && body.code === "idempotency_key_expired") {
    return {
      expired: true,
      status: typeof body.original_status === "number" ? body.original_status : 0,
      code: typeof body.original_code === "string" ? body.original_code : null,
      entry: typeof body.entry === "string" ? body.entry : null,
    };
  }
  const ok = answer.status < 400;
  return {
    expired: false,
    status: answer.status,
    code: ok ? null : typeof body.code === "string" ? body.code : null,
    entry: ok && typeof body.id === "string" ? body.id : null,
  };
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The fields of a `409 idempotency_key_expired` answer: the problem's own and the decision it reports, no others. */
const EXPIRED_FIELDS = ["type", "title", "status", "detail", "code", "original_status", "original_code", "entry"];
const EXPIRED_TYPE = "urn:onceledger:problem:idempotency_key_expired";

/**
 * Why an answer is not exactly the expired-key answer reporting `decided`,
 * or null if it is: 409, a problem `idempotency_key_expired` with its own
 * fields and nothing else, and `original_status`, `original_code` and
 * `entry` equal to the decision's status, problem code (null for a success)
 * and entry id (null for a decline or a close).
 */
export function expiredAnswerMismatch(answer: { status: number; body: string }, decided: DecisionSeen): string | null {
  const body = parseObject(answer.body);
  const fields = Object.keys(body).sort();
  if (answer.status !== 409) return `status ${answer.status}`;
  if (fields.join() !== [...EXPIRED_FIELDS].sort().join()) return `fields ${fields.join(", ")}`;
  if (body.type !== EXPIRED_TYPE || body.status !== 409 || body.code !== "idempotency_key_expired") {
    return `type ${String(body.type)}, status ${String(body.status)}, code ${String(body.code)}`;
  }
  if (typeof body.detail !== "string" || typeof body.title !== "string") return "no title or detail";
  if (body.original_status !== decided.status || body.original_code !== decided.code || body.entry !== decided.entry) {
    return (
      `it reports ${JSON.stringify(body.original_status)} ${JSON.stringify(body.original_code)} entry ${JSON.stringify(body.entry)}, ` +
      `the decision was ${decided.status} ${JSON.stringify(decided.code)} entry ${JSON.stringify(decided.entry)}`
    );
  }
  return null;
}

/**
 * Every whole answer the server gave for a key, delivered to the client or
 * not, must be the same bytes, and exactly one (the request that did the
 * work) may say it is not a replay. Only "at most one" can be required when
 * some delivery got no whole answer, since that one may have been the
 * original. An answer that came after the key's record expired, or after
 * its period left for the archive (409 idempotency_key_expired), must be
 * exactly that answer reporting that same decision, and every such answer
 * the same bytes; when no recorded answer was seen, `settled` (the decision
 * the run settled on) is the one it must report; `namesEntry` false for a
 * request whose success makes no entry under its key (a hold, a void, a
 * transfer), whose answer's `id` is no entry. Arrival order proves
 * nothing: concurrent copies race. Returns how many repeated answers were
 * compared.
 */
export function checkAnswers(
  key: string,
  answers: readonly Observation[],
  someUnanswered: boolean,
  flag: Flag,
  settled: DecisionSeen | null = null,
  namesEntry = true,
): number {
  const recorded = answers.filter((answer) => !decisionOf(answer).expired);
  const expired = answers.filter((answer) => decisionOf(answer).expired);
  const [first, ...later] = recorded;
  if (first !== undefined) {
    for (const answer of later) {
      if (answer.status !== first.status || answer.body !== first.body) {
        flag(
          "replayMismatches",
          `key ${key}: ${answer.status} ${answer.body} differs from ${first.status} ${first.body}`,
        );
      }
    }
  }
  // A hold's, a void's or a transfer's answer names the hold or transfer, not an entry: its expired answer names none.
  const decided = first === undefined ? settled : { ...decisionOf(first), ...(namesEntry ? {} : { entry: null }) };
  const [firstExpired] = expired;
  for (const answer of expired) {
    const wrong = decided === null ? null : expiredAnswerMismatch(answer, decided);
    if (wrong !== null) {
      flag(
        "replayMismatches",
        `key ${key}: expired answer ${answer.status} ${answer.body} is not the first decision's (${first === undefined ? "as settled" : `${first.status} ${first.body}`}): ${wrong}`,
      );
    } else if (firstExpired !== undefined && answer.body !== firstExpired.body) {
      flag("replayMismatches", `key ${key}: expired answer ${answer.body} differs from ${firstExpired.body}`);
    } else if (answer.replayed) {
      flag("replayMismatches", `key ${key}: expired answer ${answer.body} claims Idempotent-Replayed`);
    }
  }
  // An expired answer is nobody's original: it carries no Idempotent-Replayed.
  const originals = recorded.filter((answer) => !answer.replayed).length;
  if (originals > 1 || (originals === 0 && first !== undefined && !someUnanswered)) {
    flag(
      "replayMismatches",
      `key ${key}: ${originals} of ${recorded.length} recorded answers claim to be the original`,
    );
  }
  return later.length + (decided === null ? 0 : expired.length);
}

/**
 * The key-lookup endpoint must report the answer the requests got and the
 * entry they made. `lookup` is null for a 404 idempotency_key_not_found. A
 * target with a short retention may have expired the record: then only the
 * entry can be checked, and a decline leaves nothing to find.
 */
export function checkLookup(
  op: LogicalOp,
  lookup: IdempotencyKeyLookup | null,
  firstAnswer: Observation | undefined,
  flag: Flag,
): void {
  const key = op.key ?? "(none)";
  const applied = op.outcome?.kind === "applied" && ENTRY_KINDS.has(op.kind) ? op.outcome.id : null;
  if (lookup === null) {
    if (applied !== null) flag("lookupMismatches", `key ${key}: lookup found nothing, but it made entry ${applied}`);
    return;
  }
  if ((lookup.entry?.id ?? null) !== applied) {
    flag(
      "lookupMismatches",
      `key ${key}: lookup names entry ${lookup.entry?.id ?? "none"}, expected ${applied ?? "none"}`,
    );
  }
  if (firstAnswer === undefined) return;
  const decided = decisionOf(firstAnswer);
  if (lookup.original_status !== decided.status || lookup.original_code !== decided.code) {
    flag(
      "lookupMismatches",
      `key ${key}: lookup says ${lookup.original_status} ${lookup.original_code ?? ""}, the requests got ${decided.status} ${decided.code ?? ""}`,
    );
  }
  if (lookup.state === "expired" || decided.expired) return;
  const recorded =
    lookup.response === null ? null : { status: lookup.response.status, body: JSON.stringify(lookup.response.body) };
  if (recorded?.status !== firstAnswer.status || recorded.body !== firstAnswer.body) {
    flag(
      "lookupMismatches",
      `key ${key}: lookup has ${JSON.stringify(recorded)}, the requests got ${firstAnswer.status}`,
    );
  }
}
