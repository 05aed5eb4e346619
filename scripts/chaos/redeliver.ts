/**
 * Redelivery after expiry, as an at-least-once producer would redeliver an
 * old message: a decided request sent again with its key and body once its
 * stored response has expired, and once its period (if a close came after
 * it) has left the object for the archive. Each must get its original
 * decision back as exactly a 409 idempotency_key_expired naming it; a
 * decline that turns into a success, a close that closes again, or any
 * other answer, is a flipped decision.
 *
 * Two ways: during the run, through the bad network and across its crashes
 * and closes, a share of finished operations is followed by the redelivery
 * of an older decided request (late redeliveries); after the run and a wait
 * past the TTL, every declined operation, a share of the applied ones,
 * every operation whose key a later close put in a period, and every
 * close, through a clean network.
 */
import { IdempotencyKeyExpiredError, OutcomeUnknownError } from "../../src/client/onceledger-client.ts";
import { forEachConcurrently } from "../lib/concurrency.ts";
import { expiredAnswerMismatch, type DecisionSeen, type Flag } from "./checks.ts";
import { ENTRY_KINDS, type CloseOp, type LogicalOp } from "./model.ts";
import type { ArchiveTimeline } from "./periods.ts";
import { pick, type Random } from "./random.ts";
import { MAX_CALLS_PER_OPERATION, sendOperation, type Senders } from "./workload.ts";

export interface Redelivered {
  readonly operations: number;
  readonly declines: number;
  /** Closes sent again: each must not close anything more. */
  readonly closes: number;
  /** Of all these, the ones whose keys had left the object for the archive (periods.ts, ArchiveTimeline). */
  readonly archivedKeys: number;
}

/** A decided request to send again: an operation or a close, with the decision it must report. */
type Item = { readonly op: LogicalOp; readonly close?: never } | { readonly close: CloseOp; readonly op?: never };

/** The decision a settled operation or close must be reported with; null if it had none (never sent again). */
export function settledDecision(item: Item): DecisionSeen | null {
  if (item.op !== undefined) {
    const outcome = item.op.outcome;
    // Only a credit, charge, refund or capture names an entry of its own; a hold, a void or a transfer none.
    if (outcome?.kind === "applied") {
      return { status: outcome.status, code: null, entry: ENTRY_KINDS.has(item.op.kind) ? outcome.id : null };
    }
    if (outcome?.kind === "declined") return { status: outcome.status, code: outcome.code, entry: null };
    return null;
  }
  const outcome = item.close.outcome;
  if (outcome?.kind === "closed") return { status: 201, code: null, entry: null };
  if (outcome?.kind === "empty") return { status: 409, code: "period_empty", entry: null };
  return null;
}

export async function redeliverAfterExpiry(
  client: Senders,
  ops: readonly LogicalOp[],
  closes: readonly CloseOp[],
  options: { appliedShare: number; concurrency: number; random: Random; flag: Flag; timeline: ArchiveTimeline },
): Promise<Redelivered> {
  const chosen: Item[] = ops
    .filter(
      (op) =>
        op.key !== null &&
        (op.outcome?.kind === "declined" ||
          (op.outcome?.kind === "applied" &&
            (options.timeline.closedOver(op) || options.random() < options.appliedShare))),
    )
    .map((op) => ({ op }));
  const closesChosen: Item[] = closes
    .filter((close) => close.key !== null && settledDecision({ close }) !== null)
    .map((close) => ({ close }));
  let archivedKeys = 0;
  await forEachConcurrently([...chosen, ...closesChosen], options.concurrency, async (item) => {
    if (isArchived(item, options.timeline, Date.now())) archivedKeys += 1;
    await redeliverOne(client, item, options.flag);
  });
  return {
    operations: chosen.length,
    declines: chosen.filter((item) => item.op?.outcome?.kind === "declined").length,
    closes: closesChosen.length,
    archivedKeys,
  };
}

function isArchived(item: Item, timeline: ArchiveTimeline, atMs: number): boolean {
  return item.op !== undefined
    ? timeline.archivedAt(item.op, atMs)
    : timeline.archivedAt({ account: item.close.account, decidedMs: item.close.answeredMs }, atMs);
}

export interface LateRedeliveries {
  /** Call after each finished operation: with the set share, an older decided request is sent again in the background. */
  tick(): void;
  settle(): Promise<void>;
  readonly counts: { sent: number; closes: number; archivedKeys: number };
}

/** Share of late redeliveries that resend a close rather than an operation, when an old enough close exists. */
const LATE_CLOSE_SHARE = 0.1;
/** Draws of an old operation tried before a tick gives up (the newest ones may not be decided yet). */
const DRAWS = 4;

/**
 * Late redeliveries during the run: after each finished operation, with
 * probability `share`, one operation (or now and then one close) decided
 * at least `ageMs` ago (past the TTL) is sent again through `client`, the
 * bad network's, and retried until it has a definite answer.
 */
export function lateRedeliveries(
  client: Senders,
  ops: readonly LogicalOp[],
  closes: readonly CloseOp[],
  options: { share: number; ageMs: number; random: Random; flag: Flag; timeline: ArchiveTimeline },
): LateRedeliveries {
  const counts = { sent: 0, closes: 0, archivedKeys: 0 };
  const running = new Set<Promise<void>>();
  const old = (decidedMs: number | null | undefined, nowMs: number) =>
    decidedMs !== undefined && decidedMs !== null && nowMs - decidedMs >= options.ageMs;

  // Operations are listed in the order they were first sent: those sent long enough ago are a prefix, which only grows.
  let sentBefore = 0;
  const draw = (nowMs: number): Item | null => {
    const random = options.random;
    if (random() < LATE_CLOSE_SHARE) {
      const ready = closes.filter((close) => old(close.answeredMs, nowMs) && settledDecision({ close }) !== null);
      if (ready.length > 0) return { close: pick(random, ready) };
    }
    while (sentBefore < ops.length && old(ops[sentBefore]?.sentMs, nowMs)) sentBefore += 1;
    for (let i = 0; i < DRAWS && sentBefore > 0; i += 1) {
      const op = ops[Math.floor(random() * sentBefore)] as LogicalOp;
      if (op.key !== null && old(op.decidedMs, nowMs) && settledDecision({ op }) !== null) return { op };
    }
    return null;
  };

  return {
    counts,
    tick() {
      if (options.share === 0 || options.random() >= options.share) return;
      const nowMs = Date.now();
      const item = draw(nowMs);
      if (item === null) return;
      counts.sent += 1;
      if (item.close !== undefined) counts.closes += 1;
      if (isArchived(item, options.timeline, nowMs)) counts.archivedKeys += 1;
      const job = redeliverOne(client, item, options.flag);
      running.add(job);
      void job.finally(() => running.delete(job));
    },
    async settle() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}

/** Sends one decided request again until it has a definite answer, and judges that answer. */
async function redeliverOne(client: Senders, item: Item, flag: Flag): Promise<void> {
  const decided = settledDecision(item);
  const key = item.op?.key ?? item.close?.key ?? null;
  if (decided === null || key === null) return;
  const label =
    item.op !== undefined
      ? `${item.op.account} ${item.op.kind} key ${key}, first ${item.op.outcome?.kind ?? "?"}`
      : `${item.close.account} close key ${key}, first ${item.close.outcome?.kind ?? "?"}`;
  for (let call = 1; call <= MAX_CALLS_PER_OPERATION; call += 1) {
    try {
      const result = await send(client, item, key);
      flag(
        "flippedDecisions",
        `${label}: redelivered after expiry, it was ${item.close !== undefined ? "closed again" : "applied"} (${result.status})`,
      );
      return;
    } catch (error) {
      if (error instanceof OutcomeUnknownError) continue;
      if (!(error instanceof IdempotencyKeyExpiredError)) {
        flag("flippedDecisions", `${label}: redelivered after expiry, it got ${String(error)}`);
        return;
      }
      const wrong = expiredAnswerMismatch({ status: error.status, body: JSON.stringify(error.problem) }, decided);
      if (wrong !== null) flag("flippedDecisions", `${label}: redelivered after expiry, ${wrong}`);
      return;
    }
  }
  flag("undetermined", `${label}: redelivered after expiry, no definite answer in ${MAX_CALLS_PER_OPERATION} calls`);
}

function send(senders: Senders, item: Item, idempotencyKey: string) {
  if (item.close !== undefined) return senders.client.closePeriod(item.close.account, { idempotencyKey });
  return sendOperation(senders, item.op, idempotencyKey);
}
