import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  EVENT_RETRY_DELAY_MS,
  MAX_DESCRIPTION_LENGTH,
  MAX_EVENT_SENDS_PER_ALARM,
  MAX_MESSAGES_PER_SEND,
  MAX_METADATA_PAIRS,
} from "../../src/domain/limits.ts";
import type { LedgerEvent } from "../../src/ledger/events.ts";
import { allEntries, call, json, ledgerStub, openAccount, post, uniqueAccount, uniqueKey } from "../support/api.ts";
import { alarmOf, inLedger } from "../support/storage.ts";
import { drainEvents, eventsOf, publishEventsTo, RecordingQueue } from "../support/queues.ts";

/** Ledger events: every entry and account change, published by the account's object, in order, never skipped. */

const usd = (amount: number) => ({ amount, currency: "USD" });

/** An account whose object publishes to a fresh recording queue from its first write. */
async function accountPublishingTo(): Promise<{ account: string; events: RecordingQueue }> {
  const account = uniqueAccount();
  const events = new RecordingQueue(env.EVENTS);
  await publishEventsTo(account, events.binding);
  await openAccount(account);
  return { account, events };
}

/** The platform's own limits on a send, in bytes (1 KB = 1,000 bytes): 256 KB a send, 128 KB a message. */
const PLATFORM_SEND_BYTES = 256_000;
const PLATFORM_MESSAGE_BYTES = 128_000;

/**
 * `queue`, refusing as the platform does any send over its byte limits, and
 * recording the UTF-8 bytes of every send it is given, refused or not.
 */
function platformLimited(queue: Queue, sends: number[]): Queue {
  const encoder = new TextEncoder();
  return {
    send: () => Promise.reject(new Error("unexpected: events go out with sendBatch")),
    sendBatch: async (messages: Iterable<MessageSendRequest>) => {
      const batch = [...messages];
      const sizes = batch.map((message) => encoder.encode(JSON.stringify(message.body)).byteLength);
      const total = sizes.reduce((sum, size) => sum + size, 0);
      sends.push(total);
      if (total > PLATFORM_SEND_BYTES || sizes.some((size) => size > PLATFORM_MESSAGE_BYTES)) {
        throw new Error(`injected: the platform refuses a send of ${total} bytes`);
      }
      return queue.sendBatch(batch);
    },
    metrics: () => queue.metrics(),
  };
}

/** The stream as a consumer deduplicating by id sees it. */
function distinct(events: readonly LedgerEvent[]): LedgerEvent[] {
  const seen = new Map<string, LedgerEvent>();
  for (const event of events) {
    const earlier = seen.get(event.id);
    // A repeated event is the same event, byte for byte.
    if (earlier !== undefined) expect(JSON.stringify(event)).toBe(JSON.stringify(earlier));
    else seen.set(event.id, event);
  }
  return [...seen.values()];
}

/** Checks the stream against the ledger itself: gapless, in order, every entry once, the entries API's views. */
async function expectStreamMatchesLedger(account: string, stream: readonly LedgerEvent[]) {
  expect(stream.map((e) => e.event_seq)).toEqual(stream.map((_, i) => i + 1));
  expect(new Set(stream.map((e) => e.id)).size).toBe(stream.length);
  const entries = await allEntries(account);
  expect(stream.filter((e) => e.type === "entry").map((e) => e.data)).toEqual(entries);
  const changes = await json<{ data: unknown[] }>(await call(`/v1/accounts/${account}/changes?limit=100`));
  expect(stream.filter((e) => e.type === "account_change").map((e) => e.data)).toEqual(changes.data);
  for (const event of stream) expect(event).toMatchObject({ tenant: "acme", account });
}

describe("ledger events", () => {
  it("carry every change of a hold's state in its place among the entries", async () => {
    const { account, events } = await accountPublishingTo();
    await post(account, "credits", usd(1000));
    const hold = (body: unknown) =>
      call(`/v1/accounts/${account}/holds`, { method: "POST", body, idempotencyKey: uniqueKey() });
    const captured = await json<{ id: string }>(await hold({ amount: 300, currency: "USD" }));
    const voided = await json<{ id: string }>(await hold({ amount: 200, currency: "USD" }));
    await hold({ amount: 10_000, currency: "USD" }); // declined: no hold, no event
    const capture = await json<{ id: string }>(
      await call(`/v1/accounts/${account}/holds/${captured.id}/captures`, {
        method: "POST",
        body: { amount: 250 },
        idempotencyKey: uniqueKey(),
      }),
    );
    await call(`/v1/accounts/${account}/holds/${voided.id}/voids`, {
      method: "POST",
      body: {},
      idempotencyKey: uniqueKey(),
    });
    await drainEvents(account, events);

    const stream = eventsOf(events, account);
    await expectStreamMatchesLedger(account, stream);
    const holdEvents = stream.filter((e) => e.type === "hold").map((e) => e.data as { id: string; state: string });
    expect(stream.map((e) => e.type)).toEqual([
      "account_change",
      "account_change",
      "entry",
      "hold",
      "hold",
      "entry",
      "hold",
      "hold",
    ]);
    expect(holdEvents.map((e) => [e.id, e.state])).toEqual([
      [captured.id, "held"],
      [voided.id, "held"],
      [captured.id, "captured"],
      [voided.id, "voided"],
    ]);
    // A hold's events show it as it was then: placed, then as it ended.
    expect(holdEvents[0]).toMatchObject({ captured: 0, capture: null, resolved: null });
    expect(holdEvents[2]).toMatchObject({ captured: 250, capture: capture.id });
    expect(stream[5]?.data).toMatchObject({ type: "capture", id: capture.id, hold: captured.id });
    const final = await json(await call(`/v1/accounts/${account}/holds/${voided.id}`));
    expect(holdEvents[3]).toEqual(final);
  });

  it("carry every entry and account change, interleaved as they happened, numbered without a gap", async () => {
    const { account, events } = await accountPublishingTo();
    const credit = uniqueKey();
    await post(account, "credits", usd(100), credit);
    await post(account, "credits", usd(100), credit); // a replay: no new event
    const charge = await json<{ id: string }>(await post(account, "charges", usd(30)));
    await call(`/v1/accounts/${account}`, { method: "PUT", body: { currency: "USD", overdraft_limit: 500 } });
    await post(account, "charges", usd(10_000)); // declined: no entry, no event
    await post(account, "refunds", { charge: charge.id, amount: 5 });
    await drainEvents(account, events);

    const stream = eventsOf(events, account);
    // Opening sets two fields (currency, overdraft_limit): two changes.
    expect(stream.map((e) => e.type)).toEqual([
      "account_change",
      "account_change",
      "entry",
      "entry",
      "account_change",
      "entry",
    ]);
    await expectStreamMatchesLedger(account, stream);
    expect(stream[2]?.data).toMatchObject({ type: "credit", seq: 1 });
    expect(stream[4]?.data).toMatchObject({ field: "overdraft_limit", old: 0, new: 500, version: 2 });
  });

  it("wait for the alarm, so one send carries many, and no send carries more than the platform takes", async () => {
    const { account, events } = await accountPublishingTo();
    const operations = Array.from({ length: MAX_MESSAGES_PER_SEND + 50 }, () => ({
      type: "credit",
      idempotency_key: uniqueKey(),
      ...usd(1),
    }));
    expect((await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } })).status).toBe(200);
    await drainEvents(account, events);
    expect(events.sends.every((n) => n <= MAX_MESSAGES_PER_SEND)).toBe(true);
    expect(events.sends.length).toBeLessThanOrEqual(3);
    await expectStreamMatchesLedger(account, eventsOf(events, account));
  });

  it("go out in sends the platform takes, measured in bytes, when entries carry multi-byte text", async () => {
    const { account, events } = await accountPublishingTo();
    const sends: number[] = [];
    await publishEventsTo(account, platformLimited(events.binding, sends));
    // Operations of nearly 16 KiB (the body limit each) of CJK text: 3 bytes of UTF-8 to one UTF-16 unit.
    const han = (n: number, i: number) => String.fromCodePoint(0x4e00 + i).repeat(n);
    const metadata = Object.fromEntries(
      Array.from({ length: MAX_METADATA_PAIRS }, (_, i) => [`k${String(i).padStart(2, "0")}`, han(230, i)]),
    );
    const operations = Array.from({ length: 50 }, (_, i) => ({
      type: "credit",
      idempotency_key: uniqueKey(),
      ...usd(1),
      description: han(MAX_DESCRIPTION_LENGTH, i),
      metadata,
    }));
    const batch = await json<{ results: { status: number }[] }>(
      await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } }),
    );
    expect(batch.results.map((result) => result.status)).toEqual(operations.map(() => 201));
    await drainEvents(account, events);
    console.log(`event sends of ${sends.join(", ")} bytes`);
    expect(Math.max(...sends)).toBeLessThanOrEqual(PLATFORM_SEND_BYTES);
    const stream = eventsOf(events, account);
    expect(stream).toHaveLength(2 + operations.length);
    await expectStreamMatchesLedger(account, stream);
  });

  it("left after one alarm run's sends are published by the next run it arms", async () => {
    const { account, events } = await accountPublishingTo();
    const perRun = MAX_MESSAGES_PER_SEND * MAX_EVENT_SENDS_PER_ALARM;
    // While the batches are written the events wait in a queue that holds them back, so no alarm
    // the writes arm (200 ms later) can publish them before the run this test makes.
    const held = new RecordingQueue(env.EVENTS);
    held.failures = Number.POSITIVE_INFINITY;
    await publishEventsTo(account, held.binding);
    for (let done = 0; done < perRun + 10; done += 1000) {
      const operations = Array.from({ length: Math.min(1000, perRun + 10 - done) }, () => ({
        type: "credit",
        idempotency_key: uniqueKey(),
        ...usd(1),
      }));
      expect((await call(`/v1/accounts/${account}/batches`, { method: "POST", body: { operations } })).status).toBe(
        200,
      );
    }
    await publishEventsTo(account, events.binding);
    await inLedger(account, (storage) => storage.setAlarm(Date.now()));
    await runDurableObjectAlarm(ledgerStub(account));
    expect(events.sent.length).toBe(perRun);
    expect(await alarmOf(account)).not.toBeNull();
    await drainEvents(account, events);
    const stream = eventsOf(events, account);
    expect(stream).toHaveLength(perRun + 12);
    await expectStreamMatchesLedger(account, stream);
  });

  it("resume after a failed send from where they stopped, skipping nothing, retried after a delay", async () => {
    const { account, events } = await accountPublishingTo();
    await post(account, "credits", usd(10));
    events.failures = 1;
    const before = Date.now();
    await runDurableObjectAlarm(ledgerStub(account));
    expect(events.sent).toEqual([]);
    expect(await alarmOf(account)).toBeGreaterThanOrEqual(before + EVENT_RETRY_DELAY_MS);
    await post(account, "charges", usd(4));
    await drainEvents(account, events);
    await expectStreamMatchesLedger(account, eventsOf(events, account));
    expect(eventsOf(events, account)).toHaveLength(4);
  });

  it("sent but not recorded as sent (a crash between the two) are sent again with the same ids, never skipped", async () => {
    const { account, events } = await accountPublishingTo();
    await post(account, "credits", usd(10));
    events.loseAnswers = true;
    await runDurableObjectAlarm(ledgerStub(account));
    events.loseAnswers = false;
    await post(account, "credits", usd(20));
    await drainEvents(account, events);
    const raw = eventsOf(events, account);
    expect(raw.length).toBe(7); // the first three twice, then the new credit
    await expectStreamMatchesLedger(account, distinct(raw));
  });

  it("are not scheduled while no events queue is bound, and a queue bound later gets the ledger from its start", async () => {
    const account = uniqueAccount();
    await inLedger(account, (_, instance) => {
      const object = instance as unknown as { env: Env };
      object.env = { ...object.env, EVENTS: undefined as unknown as Queue };
    });
    await openAccount(account);
    await post(account, "credits", usd(10));
    await post(account, "charges", usd(3));
    // No publication was scheduled: no alarm (new keys need no sweep), or only another job's, far off.
    const alarm = await alarmOf(account);
    if (alarm !== null) expect(alarm).toBeGreaterThan(Date.now() + 60_000);
    const events = new RecordingQueue(env.EVENTS);
    await publishEventsTo(account, events.binding);
    await post(account, "credits", usd(1));
    await drainEvents(account, events);
    const stream = eventsOf(events, account);
    expect(stream).toHaveLength(5);
    await expectStreamMatchesLedger(account, stream);
  });
});
