import { MAX_EVENT_SENDS_PER_ALARM, MAX_MESSAGES_PER_SEND, MAX_SEND_BATCH_BYTES } from "../domain/limits.ts";
import { logError } from "../observability/log.ts";
import { tenantOf } from "./account-tenant.ts";
import { nextEvents, readEventCursor, saveEventCursor } from "./events.ts";
import type { AccountRow } from "./ledger-store.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The event outbox: the ledger's events (events.ts) leave for the events
 * queue from here, in order, from the alarm; never on the money path.
 */

/** An outbox run: how many events went out, whether more wait, and whether a send failed. */
export interface Publication {
  readonly published: number;
  readonly more: boolean;
  readonly failed: boolean;
}

/** Whether an events queue is bound: only then is the outbox written and published. */
export function publishesEvents(queue: Queue | undefined): boolean {
  return queue !== undefined;
}

/** What the outbox reads of its object; the account is read again before each send, as a send awaits. */
export interface OutboxSource {
  /** Where the cursor is recorded: an alarm run's storage (alarm-schedule.ts RunStorage), so a superseded run records nothing. */
  readonly storage: Pick<DurableObjectStorage, "transactionSync">;
  readonly sql: CountedSql;
  readonly objectName: string | undefined;
  account(): AccountRow | null;
}

/**
 * Publishes pending events in event_seq order, a bounded number of sends,
 * recording after each send how far it got. A failed send records nothing
 * (so nothing is skipped) and is retried later.
 */
export async function publishEvents(queue: Queue | undefined, source: OutboxSource): Promise<Publication> {
  if (queue === undefined) return { published: 0, more: false, failed: false };
  let published = 0;
  for (let send = 0; send < MAX_EVENT_SENDS_PER_ALARM; send += 1) {
    const account = source.account();
    if (account === null) return { published, more: false, failed: false };
    const tenant = tenantOf(account, source.objectName);
    const batch = nextEvents(
      source.sql,
      account,
      tenant,
      readEventCursor(source.sql),
      MAX_MESSAGES_PER_SEND,
      MAX_SEND_BATCH_BYTES,
    );
    if (batch.events.length === 0) return { published, more: false, failed: false };
    if (tenant === null) {
      // Event ids name the tenant (`<tenant>:<account>:<event_seq>`): none goes out without it.
      logError("eventsHeld", { account: account.name });
      return { published, more: true, failed: true };
    }
    try {
      await queue.sendBatch(batch.events.map((event) => ({ body: event, contentType: "json" as const })));
    } catch (error) {
      logError("eventPublicationFailed", { error: String(error), published });
      return { published, more: true, failed: true };
    }
    source.storage.transactionSync(() => saveEventCursor(source.sql, batch.cursor));
    published += batch.events.length;
  }
  return { published, more: true, failed: false };
}
