import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import wranglerToml from "../../wrangler.toml?raw";
import { COMMAND_MAX_RETRIES, RATE_LIMITED_RETRY_AFTER_SECONDS } from "../../src/domain/limits.ts";
import type { CommandResult, DeadLetter } from "../../src/queue/command-consumer.ts";
import { call, fundedAccount, getAccount, openAccount, uniqueAccount, uniqueKey } from "../support/api.ts";
import {
  command,
  deliver,
  recordingQueues,
  faultyAccounts,
  messageId,
  RecordingQueue,
  type Delivery,
} from "../support/queues.ts";

/**
 * The consumer against production's retry limit: no command is lost to its
 * quota, no command is ever left to the platform's raw dead-lettering, and
 * no key gets a result that a later delivery could contradict.
 */

const usd = (amount: number) => ({ amount, currency: "USD" });
const LAST_DELIVERY = COMMAND_MAX_RETRIES + 1;

/** A tenant quota of `perRound` requests in each round of deliveries; counts every ask. */
class RoundQuota {
  asks = 0;
  private used = 0;
  private readonly perRound: number;
  constructor(perRound: number) {
    this.perRound = perRound;
  }
  nextRound(): void {
    this.used = 0;
  }
  get binding(): RateLimit {
    return {
      limit: () => {
        this.asks += 1;
        this.used += 1;
        return Promise.resolve({ success: this.used <= this.perRound });
      },
    };
  }
}

/**
 * Delivers `messages` round after round as the platform would with
 * production's `max_retries`: a retried message comes back with one more
 * attempt, and past the limit the platform dead-letters it raw; a message
 * the consumer sent to the commands queue comes back as a new message.
 */
async function runLikeThePlatform(messages: Delivery[], quota: RoundQuota, maxRounds: number) {
  const { results, deadLetters, bindings } = recordingQueues();
  const rawDeadLetters: unknown[] = [];
  const asksPerRound: number[] = [];
  let pending = messages;
  let rounds = 0;
  while (pending.length > 0 && rounds < maxRounds) {
    rounds += 1;
    quota.nextRound();
    const asksBefore = quota.asks;
    const commands = new RecordingQueue(env.COMMANDS);
    const outcome = await deliver(pending, { ...bindings, COMMANDS: commands.binding, RATE_LIMITER: quota.binding });
    asksPerRound.push(quota.asks - asksBefore);
    const next: Delivery[] = [];
    for (const { msgId } of outcome.retryMessages) {
      const message = pending.find((m) => m.id === msgId) as Delivery;
      const attempts = (message.attempts ?? 1) + 1;
      if (attempts > LAST_DELIVERY) rawDeadLetters.push(message.body);
      else next.push({ ...message, attempts });
    }
    for (const body of commands.sent) next.push({ id: messageId(), body, attempts: 1 });
    pending = next;
  }
  return { results, deadLetters, rawDeadLetters, asksPerRound, rounds, pending };
}

describe("the retry limit", () => {
  it("is production's: COMMAND_MAX_RETRIES is wrangler.toml's max_retries", () => {
    const match = /\[\[queues\.consumers\]\][^[]*?max_retries\s*=\s*(\d+)/.exec(wranglerToml);
    expect(Number(match?.[1])).toBe(COMMAND_MAX_RETRIES);
  });
});

describe("commands over their tenant's quota", () => {
  it("are all decided in the end, none dead-lettered, whatever the backlog (30 commands, 1 a round)", async () => {
    const account = uniqueAccount();
    await openAccount(account);
    const commands = Array.from({ length: 30 }, (_, i) => ({
      id: messageId(),
      body: command({ account, operation: "credit", key: uniqueKey(), request: usd(i + 1) }),
    }));
    const run = await runLikeThePlatform(commands, new RoundQuota(1), 40);

    expect(run.rawDeadLetters).toEqual([]);
    expect(run.deadLetters.sent).toEqual([]);
    expect(run.pending).toEqual([]);
    expect(run.rounds).toBe(30);
    const results = run.results.sent as CommandResult[];
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 30 }, () => 201));
    expect(new Set(results.map((r) => r.idempotency_key)).size).toBe(30);
    expect(await getAccount(account)).toMatchObject({ balance: (30 * 31) / 2, entry_count: 30 });
    // A refused tenant is asked once per batch, not once per message: waiting spends no extra quota.
    expect(Math.max(...run.asksPerRound)).toBeLessThanOrEqual(2);
  });

  it("go back to the commands queue as new messages after Retry-After, the old ones acknowledged", async () => {
    const account = await fundedAccount(100);
    const { commands, deadLetters, bindings } = recordingQueues();
    const quota = new RoundQuota(1);
    const bodies = [1, 2, 3].map(() => command({ account, operation: "charge", key: uniqueKey(), request: usd(1) }));
    const messages = bodies.map((body) => ({ id: messageId(), body, attempts: LAST_DELIVERY }));
    const outcome = await deliver(messages, { ...bindings, RATE_LIMITER: quota.binding });
    expect(outcome.retryMessages).toEqual([]);
    expect(outcome.explicitAcks.sort()).toEqual(messages.map((m) => m.id).sort());
    expect(deadLetters.sent).toEqual([]);
    expect(commands.sent.sort()).toEqual(bodies.slice(1).sort());
    for (const request of commands.requests) {
      expect(request).toMatchObject({ contentType: "text", delaySeconds: RATE_LIMITED_RETRY_AFTER_SECONDS });
    }
    expect(await getAccount(account)).toMatchObject({ balance: 99 });
  });
});

describe("a message on its last delivery that cannot be decided", () => {
  it("is dead-lettered by the consumer with reason undecided, never left to the platform", async () => {
    const account = await fundedAccount(100);
    const { deadLetters, results, bindings } = recordingQueues();
    const id = messageId();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(5) });
    const early = await deliver([{ id, body, attempts: COMMAND_MAX_RETRIES }], {
      ...bindings,
      ACCOUNTS: faultyAccounts(() => "before"),
    });
    expect(early.retryMessages.map((m) => m.msgId)).toEqual([id]);
    const last = await deliver([{ id, body, attempts: LAST_DELIVERY }], {
      ...bindings,
      ACCOUNTS: faultyAccounts(() => "before"),
    });
    expect(last.retryMessages).toEqual([]);
    expect(last.explicitAcks).toEqual([id]);
    expect(deadLetters.sent).toEqual([{ reason: "undecided", errors: [], original: body } satisfies DeadLetter]);
    expect(results.sent).toEqual([]);
  });

  it("whose result cannot be sent is dead-lettered with reason result_not_sent", async () => {
    const account = await fundedAccount(100);
    const { deadLetters, results, bindings } = recordingQueues();
    const id = messageId();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(5) });
    results.failures = 1;
    const last = await deliver([{ id, body, attempts: LAST_DELIVERY }], bindings);
    expect(last.retryMessages).toEqual([]);
    expect(last.explicitAcks).toEqual([id]);
    expect(deadLetters.sent).toEqual([{ reason: "result_not_sent", errors: [], original: body }]);
    // It was decided: a redelivery from the dead letter would replay it.
    expect(await getAccount(account)).toMatchObject({ balance: 95 });
  });

  it("while API_KEYS is unusable is retried until its last delivery, then dead-lettered as misconfigured", async () => {
    const account = await fundedAccount(100);
    const { deadLetters, bindings } = recordingQueues();
    const body = command({ account, operation: "charge", key: uniqueKey(), request: usd(5) });
    const [early, last] = [messageId(), messageId()];
    const outcome = await deliver(
      [
        { id: early, body, attempts: 1 },
        { id: last, body, attempts: LAST_DELIVERY },
      ],
      { ...bindings, API_KEYS: "not json" },
    );
    expect(outcome.retryMessages.map((m) => m.msgId)).toEqual([early]);
    expect(outcome.explicitAcks).toEqual([last]);
    expect(deadLetters.sent).toEqual([{ reason: "misconfigured", errors: [], original: body }]);
    expect(await getAccount(account)).toMatchObject({ balance: 100 });
  });
});

describe("a command for an account not opened yet", () => {
  it("gets no result: it waits, and once the account opens its only result is the one that applied", async () => {
    const account = uniqueAccount();
    const { results, deadLetters, bindings } = recordingQueues();
    const id = messageId();
    const key = uniqueKey();
    const body = command({ account, operation: "credit", key, request: usd(500) });

    const early = await deliver([{ id, body }], bindings);
    expect(early.explicitAcks).toEqual([]);
    expect(early.retryMessages.map((m) => m.msgId)).toEqual([id]);
    expect(results.sent).toEqual([]);
    // Waiting created nothing: the account is still unknown.
    expect((await call(`/v1/accounts/${account}`)).status).toBe(404);

    await openAccount(account);
    const later = await deliver([{ id, body, attempts: 2 }], bindings);
    expect(later.explicitAcks).toEqual([id]);
    expect(results.sent).toEqual([expect.objectContaining({ idempotency_key: key, status: 201, replayed: false })]);
    expect(deadLetters.sent).toEqual([]);
    expect(await getAccount(account)).toMatchObject({ balance: 500 });
  });

  it("is dead-lettered with reason account_not_found on its last delivery, and no result says 404", async () => {
    const account = uniqueAccount();
    const { results, deadLetters, bindings } = recordingQueues();
    const id = messageId();
    const body = command({ account, operation: "credit", key: uniqueKey(), request: usd(5) });
    const last = await deliver([{ id, body, attempts: LAST_DELIVERY }], bindings);
    expect(last.explicitAcks).toEqual([id]);
    expect(results.sent).toEqual([]);
    expect(deadLetters.sent).toEqual([{ reason: "account_not_found", errors: [], original: body }]);
  });
});
