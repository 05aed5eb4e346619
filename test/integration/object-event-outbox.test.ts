import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { publishEvents, type OutboxSource } from "../../src/ledger/event-outbox.ts";
import { readEventCursor, type LedgerEvent } from "../../src/ledger/events.ts";
import { readAccount } from "../../src/ledger/ledger-store.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { ledgerStub, openAccount, post, uniqueAccount } from "../support/api.ts";
import { RecordingQueue } from "../support/queues.ts";

/**
 * An account whose object has no events queue bound, so that its own alarm
 * publishes nothing: the outbox is driven here alone, over the object's
 * real storage, into a recording wrapper of the real queue.
 */
async function accountWithHistory(credits: number): Promise<string> {
  const account = uniqueAccount("outbox");
  await runInDurableObject(ledgerStub(account), (instance) => {
    const object = instance as unknown as { env: Partial<Env> };
    object.env = { ...object.env, EVENTS: undefined };
  });
  await openAccount(account);
  for (let i = 0; i < credits; i += 1) {
    expect((await post(account, "credits", { amount: 1 + i, currency: "USD" })).status).toBe(201);
  }
  return account;
}

function inOutbox<R>(account: string, fn: (source: OutboxSource) => Promise<R>, tenantless = false): Promise<R> {
  return runInDurableObject(ledgerStub(account), (_instance, state) => {
    const sql = new CountedSql(state.storage.sql);
    return fn({
      storage: state.storage,
      sql,
      objectName: tenantless ? undefined : state.id.name,
      account: () => {
        const row = readAccount(sql);
        return row === null || !tenantless ? row : { ...row, tenant: null };
      },
    });
  });
}

describe("the event outbox, on a real object", () => {
  it("publishes the ledger's events in order, records how far it got, and then has nothing more", async () => {
    const account = await accountWithHistory(3);
    const queue = new RecordingQueue(env.EVENTS);
    const [first, second, cursor] = await inOutbox(account, async (source) => [
      await publishEvents(queue.binding, source),
      await publishEvents(queue.binding, source),
      readEventCursor(source.sql).publishedThrough,
    ]);
    const events = queue.sent as LedgerEvent[];
    expect(first).toEqual({ published: events.length, more: false, failed: false });
    expect(second).toEqual({ published: 0, more: false, failed: false });
    expect(cursor).toBe(events.length);
    // The account's opening changes, then its three credits, numbered without a gap.
    const seqs = events.map((_, i) => i + 1);
    expect(events.map((event) => event.event_seq)).toEqual(seqs);
    expect(events.map((event) => event.id)).toEqual(seqs.map((seq) => `acme:${account}:${seq}`));
    expect(events.map((event) => event.type).slice(-4)).toEqual(["account_change", "entry", "entry", "entry"]);
  });

  it("records nothing for a failed send, and says so, so the next run sends the same events", async () => {
    const account = await accountWithHistory(2);
    const queue = new RecordingQueue(env.EVENTS);
    queue.failures = 1;
    const [failed, cursor, retried] = await inOutbox(account, async (source) => [
      await publishEvents(queue.binding, source),
      readEventCursor(source.sql).publishedThrough,
      await publishEvents(queue.binding, source),
    ]);
    expect(failed).toEqual({ published: 0, more: true, failed: true });
    expect(cursor).toBe(0);
    const sent = queue.sent as LedgerEvent[];
    expect(retried).toEqual({ published: sent.length, more: false, failed: false });
    expect(sent.map((event) => event.event_seq)).toEqual(sent.map((_, i) => i + 1));
  });

  it("publishes nothing without a queue, and holds events back while the tenant is unknown", async () => {
    const account = await accountWithHistory(1);
    const queue = new RecordingQueue(env.EVENTS);
    expect(await inOutbox(account, (source) => publishEvents(undefined, source))).toEqual({
      published: 0,
      more: false,
      failed: false,
    });
    const held = await inOutbox(account, (source) => publishEvents(queue.binding, source), true);
    expect(held).toEqual({ published: 0, more: true, failed: true });
    expect(queue.sent).toEqual([]);
  });
});
