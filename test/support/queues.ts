import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index.ts";
import type { AccountLedger } from "../../src/ledger/account-ledger.ts";
import type { LedgerEvent } from "../../src/ledger/events.ts";
import { ledgerStub } from "./api.ts";

/**
 * Driving the real queue consumer, and wrapping the real queue and object
 * bindings to record what was sent or to fail on demand. Every wrapper
 * forwards to the real binding: nothing here stands in for the platform.
 */

export const COMMANDS_QUEUE = "onceledger-commands";

/** A real queue binding that records each message it is given and can be told to fail sends. */
export class RecordingQueue {
  readonly sent: unknown[] = [];
  /** Each message sent, with its send options. */
  readonly requests: MessageSendRequest[] = [];
  /** How many messages each successful send carried. */
  readonly sends: number[] = [];
  /** Sends still to fail before sends succeed again. */
  failures = 0;
  /** When set, a send reaches the real queue and is recorded, then fails anyway (the answer was lost). */
  loseAnswers = false;

  private readonly real: Queue;

  constructor(real: Queue) {
    this.real = real;
  }

  get binding(): Queue {
    return {
      send: async (body: unknown, options?: QueueSendOptions) => {
        await this.sendBatch([{ body, ...options }]);
      },
      sendBatch: (messages: Iterable<MessageSendRequest>) => this.sendBatch([...messages]),
      metrics: () => this.real.metrics(),
    } as unknown as Queue;
  }

  private async sendBatch(messages: MessageSendRequest[]): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error("injected send failure");
    }
    await this.real.sendBatch(messages);
    for (const message of messages) this.sent.push(message.body);
    this.requests.push(...messages);
    this.sends.push(messages.length);
    if (this.loseAnswers) throw new Error("injected: the send's answer was lost");
  }
}

/** The consumer's three output queues, each recording what it is sent, and the bindings that point the Worker at them. */
export function recordingQueues() {
  const results = new RecordingQueue(env.RESULTS);
  const deadLetters = new RecordingQueue(env.DEAD_LETTERS);
  const commands = new RecordingQueue(env.COMMANDS);
  return {
    results,
    deadLetters,
    commands,
    bindings: { RESULTS: results.binding, DEAD_LETTERS: deadLetters.binding, COMMANDS: commands.binding },
  };
}

export interface Delivery {
  readonly id: string;
  readonly body: unknown;
  readonly attempts?: number;
}

let deliveries = 0;

/** A fresh message id, as the platform would give one. */
export function messageId(): string {
  deliveries += 1;
  return `msg-${deliveries}-${crypto.randomUUID()}`;
}

/**
 * Hands `messages` to the Worker's queue handler as one batch, with
 * `bindings` over the real env. The test batch ignores a retry's delay, so
 * each message is wrapped to note it on its way through.
 */
export async function deliver(messages: readonly Delivery[], bindings: Partial<Env> = {}) {
  const batch = createMessageBatch(
    COMMANDS_QUEUE,
    messages.map((m) => ({ id: m.id, timestamp: new Date(), attempts: m.attempts ?? 1, body: m.body })),
  );
  const retryDelays = new Map<string, number | undefined>();
  const noted: MessageBatch = {
    queue: batch.queue,
    metadata: batch.metadata,
    messages: batch.messages.map((message) => ({
      id: message.id,
      timestamp: message.timestamp,
      attempts: message.attempts,
      body: message.body,
      ack: () => message.ack(),
      retry: (options?: QueueRetryOptions) => {
        retryDelays.set(message.id, options?.delaySeconds);
        message.retry(options);
      },
    })),
    ackAll: () => batch.ackAll(),
    retryAll: (options?: QueueRetryOptions) => batch.retryAll(options),
  };
  const ctx = createExecutionContext();
  await worker.queue(noted, { ...env, ...bindings });
  return { ...(await getQueueResult(batch, ctx)), retryDelays };
}

/** A command message body, as JSON text, the way producers send it. */
export function command(fields: {
  account: string;
  operation: "credit" | "charge" | "refund" | "transfer";
  key: string;
  request: Record<string, unknown>;
  tenant?: string;
}): string {
  return JSON.stringify({
    tenant: fields.tenant ?? "acme",
    account: fields.account,
    operation: fields.operation,
    idempotency_key: fields.key,
    request: fields.request,
  });
}

/** The account namespace, with calls into objects failing before or after they reach the object, as `fault` says. */
export function faultyAccounts(fault: (name: string) => "before" | "after" | null): Env["ACCOUNTS"] {
  return {
    getByName(name: string) {
      const real = env.ACCOUNTS.getByName(name);
      return {
        async moveMoney(request: Parameters<AccountLedger["moveMoney"]>[0]) {
          const when = fault(name);
          if (when === "before") throw new Error("injected: the object could not be reached");
          const outcome = await real.moveMoney(request);
          if (when === "after") throw new Error("injected: the object's answer was lost");
          return outcome;
        },
      };
    },
  } as unknown as Env["ACCOUNTS"];
}

/** Points the account object's EVENTS binding at `queue` (until the object is next evicted). */
export function publishEventsTo(account: string, queue: Queue, tenant = "acme"): Promise<void> {
  return runInDurableObject(ledgerStub(account, tenant), (instance) => {
    const object = instance as unknown as { env: Env };
    object.env = { ...object.env, EVENTS: queue };
  });
}

/** The events recorded for one account, in the order they were sent. */
export function eventsOf(queue: RecordingQueue, account: string): LedgerEvent[] {
  return (queue.sent as LedgerEvent[]).filter((event) => event.account === account);
}

/** Runs the account's alarm until a run publishes nothing more to `queue` (at most `runs` times). */
export async function drainEvents(account: string, queue: RecordingQueue, runs = 10): Promise<void> {
  for (let run = 0; run < runs; run += 1) {
    const before = queue.sent.length;
    await runDurableObjectAlarm(ledgerStub(account));
    if (queue.sent.length === before && queue.failures === 0) return;
  }
}
