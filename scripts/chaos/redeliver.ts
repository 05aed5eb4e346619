/**
 * Redelivery after expiry: once every stored response has expired, every
 * declined operation (and a share of the applied ones) is sent again with
 * its key and body, as an at-least-once producer would redeliver an old
 * message. Each must get its original decision back as a 409
 * idempotency_key_expired; a decline that turns into a success, or any
 * other answer, is a flipped decision.
 */
import {
  IdempotencyKeyExpiredError,
  type LedgerClient,
  type MoneyInput,
  type RefundInput,
} from "../../src/client/onceledger-client.ts";
import { forEachConcurrently } from "../lib/concurrency.ts";
import type { Flag } from "./checks.ts";
import type { LogicalOp } from "./model.ts";
import type { Random } from "./random.ts";

export interface Redelivered {
  readonly operations: number;
  readonly declines: number;
}

export async function redeliverAfterExpiry(
  client: LedgerClient,
  ops: readonly LogicalOp[],
  options: { appliedShare: number; concurrency: number; random: Random; flag: Flag },
): Promise<Redelivered> {
  const chosen = ops.filter(
    (op) =>
      op.key !== null &&
      (op.outcome?.kind === "declined" || (op.outcome?.kind === "applied" && options.random() < options.appliedShare)),
  );
  await forEachConcurrently(chosen, options.concurrency, async (op) => {
    const outcome = op.outcome;
    if (op.key === null || outcome === null) return;
    const label = `${op.account} ${op.kind} key ${op.key}, first ${outcome.kind}`;
    try {
      const result = await send(client, op, op.key);
      options.flag("flippedDecisions", `${label}: redelivered after expiry, it was applied (${result.status})`);
    } catch (error) {
      if (!(error instanceof IdempotencyKeyExpiredError)) {
        options.flag("flippedDecisions", `${label}: redelivered after expiry, it got ${String(error)}`);
        return;
      }
      const same =
        outcome.kind === "declined"
          ? error.entryId === null && error.originalCode === outcome.code && error.originalStatus === outcome.status
          : outcome.kind === "applied" && error.entryId === outcome.id;
      if (!same) {
        options.flag(
          "flippedDecisions",
          `${label}: redelivered after expiry, it reported ${error.originalStatus} ${error.originalCode ?? ""} entry ${error.entryId ?? "none"}`,
        );
      }
    }
  });
  return { operations: chosen.length, declines: chosen.filter((op) => op.outcome?.kind === "declined").length };
}

function send(client: LedgerClient, op: LogicalOp, idempotencyKey: string) {
  if (op.kind === "refund") return client.refund(op.account, op.body as RefundInput, { idempotencyKey });
  const body = op.body as MoneyInput;
  return op.kind === "credit"
    ? client.credit(op.account, body, { idempotencyKey })
    : client.charge(op.account, body, { idempotencyKey });
}
