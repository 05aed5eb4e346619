import { TRANSFER_DELIVERIES_PER_ALARM, TRANSFER_RETRY_BASE_MS, TRANSFER_RETRY_MAX_MS } from "../domain/limits.ts";
import type { MoneyRequest } from "../contract/requests.ts";
import type { Outcome } from "../contract/outcome.ts";
import { logError } from "../observability/log.ts";
import { readHeldFunds } from "./held-funds.ts";
import type { RunStorage } from "./alarm-schedule.ts";
import type { AccountRow } from "./ledger-store.ts";
import type { CountedSql } from "./sql.ts";
import { legRequest, settlementOf, settleRequest } from "./transfer-operations.ts";
import { dueTransfers, rescheduleTransfer, type TransferRow } from "./transfer-store.ts";

/**
 * Phases 2 and 3 of a transfer (transfer-operations.ts), run by the
 * source's alarm: each pending transfer whose delivery is due is sent to
 * its destination's object, and settled once the destination answers for
 * good. A delivery that gets no final answer (the call failed, the object
 * was overloaded, or could not serve the request's interface version)
 * leaves the transfer pending and is tried again, backing off to at most
 * TRANSFER_RETRY_MAX_MS apart: never voided for want of an answer. The
 * alarm survives a crash or a restart, so every pending transfer is driven
 * to `posted` or `voided`.
 */

export interface DeliveryHost {
  readonly sql: CountedSql;
  /** The account as committed; null before it exists. */
  account(): AccountRow | null;
  /** Sends the leg to the destination's object: its answer, or null when the call itself failed. */
  deliver(to: string, request: MoneyRequest): Promise<Outcome | null>;
  /** Decides the settlement in the account's group commit: its answer, or null when the object was overloaded. */
  settle(request: MoneyRequest): Promise<Outcome | null>;
  /** Told that a pending transfer's next delivery moved (the ledger head keeps when the next is due). */
  rescheduled(): void;
}

/** Delivers the transfers due, a bounded number: when the next pending delivery is due, null when none is pending. */
export async function deliverTransfers(host: DeliveryHost, run: RunStorage, nowMs: number): Promise<number | null> {
  const account = host.account();
  if (account === null) return null;
  // All at once: legs to one destination share its group commits, and the settlements share this one's.
  const due = dueTransfers(host.sql, nowMs, TRANSFER_DELIVERIES_PER_ALARM);
  const settled = await Promise.all(due.map((transfer) => deliverOne(host, account, transfer)));
  const unsettled = due.filter((_, i) => settled[i] !== true);
  if (unsettled.length > 0) {
    // Through the run: a run another has taken over from writes nothing (alarm-schedule.ts).
    run.transactionSync(() => {
      for (const transfer of unsettled) {
        rescheduleTransfer(host.sql, transfer, nowMs + retryDelayMs(transfer.attempts));
      }
    });
    host.rescheduled();
  }
  return readHeldFunds(host.sql).transfersDueMs;
}

/** One delivery, and its settlement when the answer is final: whether the transfer is settled. */
async function deliverOne(host: DeliveryHost, account: AccountRow, transfer: TransferRow): Promise<boolean> {
  const answer = await host.deliver(
    transfer.to,
    legRequest(account.name, account.currency, transfer, transfer.attempts + 1),
  );
  const outcome = answer === null ? null : settlementOf(answer);
  if (outcome === null) return false;
  try {
    const settled = await host.settle(settleRequest(transfer, outcome));
    return settled !== null && settled.status < 300;
  } catch (error) {
    logError("transferSettleFailed", { transfer: transfer.id, error: String(error) });
    return false;
  }
}

function retryDelayMs(attempts: number): number {
  return Math.min(TRANSFER_RETRY_MAX_MS, TRANSFER_RETRY_BASE_MS * 2 ** Math.min(attempts, 16));
}
