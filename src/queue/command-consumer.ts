import { optionalBindings } from "../config/optional-bindings.ts";
import { logError, logInfo, type LogLine } from "../observability/log.ts";
import { parseCommandMessage, type CommandMessage, type Rejection } from "../api/parse-command-message.ts";
import {
  COMMAND_MAX_RETRIES,
  COMMAND_RETRY_BASE_DELAY_SECONDS,
  COMMAND_RETRY_MAX_DELAY_SECONDS,
  MAX_COMMAND_MESSAGE_BYTES,
  MAX_JSON_DEPTH,
  RATE_LIMITED_RETRY_AFTER_SECONDS,
} from "../domain/limits.ts";
import { QUEUE_KEY_ID } from "../config/key-id.ts";
import type { DeadLetterReasonName } from "../domain/dead-letters.ts";
import { QUEUE_ROUTE } from "../observability/metrics.ts";
import { moneyRequest } from "../contract/requests.ts";
import type { Outcome } from "../contract/outcome.ts";
import { parseKeyTable } from "../transport/api-keys.ts";
import { deadLetterStore } from "../transport/dead-letter-client.ts";
import { enter, objectDecided, refusalOf, type AccountCaller, type QueueWay } from "../transport/door.ts";
import { parseStrictJson } from "../lib/strict-json.ts";
import { truncateUtf8, utf8Length } from "../lib/text.ts";
import { sendInChunks } from "./send-in-chunks.ts";

/**
 * The commands queue's consumer. Each message goes through the same account
 * object call as its HTTP twin. A message is acknowledged once its outcome
 * is decided (and its result, if a results queue is bound, is sent). One
 * the ledger could not decide yet is retried with backoff; on its last
 * delivery it goes to the dead-letter queue with its reason, so the
 * platform never dead-letters a raw message. One held back by the tenant's
 * quota is sent again as a new message, so waiting for quota spends none of
 * its retries. One that can never be decided goes to the dead-letter queue
 * at once. Accounts are worked on concurrently, each account's messages in
 * the order the batch holds them.
 */

/** The result message: what the producer would have got over HTTP. */
export interface CommandResult {
  readonly tenant: string;
  readonly account: string;
  readonly operation: string;
  readonly idempotency_key: string;
  readonly status: number;
  readonly replayed: boolean;
  readonly body: unknown;
}

/**
 * Why the consumer gave up, on its last delivery, on a message its account
 * object could have decided: the account was never opened, the object kept
 * failing, the configuration kept it from being placed, or its result (or
 * its return to the queue) could not be sent.
 */
export type GaveUpReason = "account_not_found" | "undecided" | "misconfigured" | "result_not_sent" | "requeue_failed";

/** A dead-lettered message: why, each bad field, and the message as it came. */
export interface DeadLetter {
  readonly reason: Rejection["reason"] | GaveUpReason;
  readonly errors: Rejection["errors"];
  readonly original: unknown;
}

// The reasons the operator's routes list and filter by are exactly the consumer's.
true satisfies [DeadLetter["reason"]] extends [DeadLetterReasonName]
  ? [DeadLetterReasonName] extends [DeadLetter["reason"]]
    ? true
    : false
  : false;

/**
 * What the consumer does with one delivery. "Decided" is only ever the
 * account object's decision; the `decided`/`undecided` log actions and the
 * `undecided` dead-letter reason are wire values that say whether it made one.
 */
type Verdict =
  /** The object decided: its result is published, then the message acknowledged. */
  | { readonly kind: "publish"; readonly result: CommandResult }
  /** Not decided yet: retried with this delay, or dead-lettered with `reason` on the last delivery. */
  | { readonly kind: "retry"; readonly reason: GaveUpReason; readonly delaySeconds: number }
  /** Held back by the tenant's quota: sent again as a new message. */
  | { readonly kind: "requeue" };

interface Delivery {
  readonly message: Message;
  readonly command: CommandMessage;
}

export async function consumeCommands(batch: MessageBatch, env: Env): Promise<void> {
  const letters: { message: Message; letter: DeadLetter }[] = [];
  const tenants = tenantsOf(env.API_KEYS);
  if (tenants === null) {
    // No command can be handled while the configuration is broken; the messages wait for a fix.
    logError("apiKeysUnusable", { queue: batch.queue });
    for (const message of batch.messages) {
      retryOrGiveUp(message, "misconfigured", COMMAND_RETRY_MAX_DELAY_SECONDS, letters);
    }
    await sendDeadLetters(env, letters, null);
    return;
  }

  const byAccount = new Map<string, Delivery[]>();
  for (const message of batch.messages) {
    const parsed = parseCommandMessage(message.body, (tenant) => tenants.has(tenant));
    if (!parsed.ok) {
      letters.push({ message, letter: deadLetter(parsed.error.reason, parsed.error.errors, message.body) });
      continue;
    }
    const name = `${parsed.value.tenant}:${parsed.value.account}`;
    const queued = byAccount.get(name) ?? [];
    queued.push({ message, command: parsed.value });
    byAccount.set(name, queued);
  }

  const answered: { message: Message; result: CommandResult }[] = [];
  const overQuotaMessages: Message[] = [];
  // A tenant refused once in this batch is not asked again: a refused ask may spend quota too.
  const refusedTenants = new Set<string>();
  await Promise.all(
    [...byAccount.values()].map(async (deliveries) => {
      for (const delivery of deliveries) {
        const { message } = delivery;
        const verdict = await handleCommand(delivery, env, refusedTenants);
        if (verdict.kind === "publish") answered.push({ message, result: verdict.result });
        else if (verdict.kind === "requeue") overQuotaMessages.push(message);
        else retryOrGiveUp(message, verdict.reason, verdict.delaySeconds, letters);
      }
    }),
  );

  await requeue(env, overQuotaMessages, letters);
  const results = optionalBindings(env).RESULTS;
  if (results === undefined) {
    for (const { message } of answered) message.ack();
  } else {
    await sendInChunks(
      results,
      answered,
      ({ result }) => result,
      ({ message }) => message.ack(),
      ({ message }, error) => {
        logSendFailure(message, "resultSendFailed", error);
        retryOrGiveUp(message, "result_not_sent", retryDelaySeconds(message.attempts), letters);
      },
    );
  }
  await sendDeadLetters(env, letters, tenants);
}

/** Whether this is the message's last delivery: the platform would dead-letter it raw if it were retried. */
export function isLastDelivery(message: Message): boolean {
  return message.attempts > COMMAND_MAX_RETRIES;
}

/** Retries a message not decided yet, or, on its last delivery, dead-letters it with the reason. */
function retryOrGiveUp(
  message: Message,
  reason: GaveUpReason,
  delaySeconds: number,
  letters: { message: Message; letter: DeadLetter }[],
): void {
  if (isLastDelivery(message)) {
    letters.push({ message, letter: deadLetter(reason, [], message.body) });
    return;
  }
  log(message, { action: "retry", reason });
  message.retry({ delaySeconds });
}

/**
 * Sends messages held back by quota to the commands queue again as new
 * messages, delayed as an HTTP client is told to wait, and acknowledges
 * the old ones: a retry would count toward the retry limit.
 */
async function requeue(
  env: Env,
  messages: Message[],
  letters: { message: Message; letter: DeadLetter }[],
): Promise<void> {
  if (messages.length === 0) return;
  const commands = optionalBindings(env).COMMANDS;
  if (commands === undefined) {
    logError("commandsUnbound");
    for (const message of messages) {
      retryOrGiveUp(message, "requeue_failed", RATE_LIMITED_RETRY_AFTER_SECONDS, letters);
    }
    return;
  }
  await sendInChunks(
    commands,
    messages,
    (message) => message.body,
    (message) => {
      log(message, { action: "requeue", code: "rate_limited", delay_seconds: RATE_LIMITED_RETRY_AFTER_SECONDS });
      message.ack();
    },
    (message, error) => {
      logSendFailure(message, "requeueSendFailed", error);
      retryOrGiveUp(message, "requeue_failed", RATE_LIMITED_RETRY_AFTER_SECONDS, letters);
    },
    { contentType: "text", delaySeconds: RATE_LIMITED_RETRY_AFTER_SECONDS },
  );
}

/**
 * Stores the letters (keepDeadLetters), then sends each one the store holds,
 * or that has no delivery left, to the dead-letter queue, and acknowledges
 * it once sent.
 */
async function sendDeadLetters(
  env: Env,
  stored: { message: Message; letter: DeadLetter }[],
  tenants: ReadonlySet<string> | null,
): Promise<void> {
  if (stored.length === 0) return;
  const letters = await keepDeadLetters(env, stored, tenants);
  if (letters.length === 0) return;
  const deadLetters = optionalBindings(env).DEAD_LETTERS;
  if (deadLetters === undefined) {
    for (const { message, letter } of letters) {
      log(message, { action: "dead_letter_unbound", reason: letter.reason });
      message.ack();
    }
    return;
  }
  await sendInChunks(
    deadLetters,
    letters,
    ({ letter }) => letter,
    ({ message, letter }) => {
      log(message, { action: "dead_letter", reason: letter.reason });
      message.ack();
    },
    // Only a failed dead-letter send on the last delivery leaves the message to the platform's own dead-lettering.
    ({ message }, error) => {
      logSendFailure(message, "deadLetterSendFailed", error);
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    },
  );
}

/**
 * Keeps each letter in the dead-letter store, by its message's id, before it
 * is sent: the queue drops it after 4 days, the store keeps it until an
 * operator replays or discards it, and a redelivered message is stored once.
 * If the store cannot be reached, a message with deliveries left is retried
 * (its next delivery stores and sends it); one on its last delivery is sent
 * to the queue anyway, which is all that is left. A letter the full store
 * refuses is sent to the queue alone. Returns the letters to send.
 */
async function keepDeadLetters(
  env: Env,
  letters: { message: Message; letter: DeadLetter }[],
  tenants: ReadonlySet<string> | null,
): Promise<{ message: Message; letter: DeadLetter }[]> {
  try {
    const kept = await deadLetterStore(env).keep(
      letters.map(({ message, letter }) => ({
        id: message.id,
        tenant: tenantOfLetter(message.body, tenants),
        attempts: message.attempts,
        ...letter,
      })),
    );
    for (const id of kept.refused) logError("deadLetterNotStored", { message_id: id });
    return letters;
  } catch (error) {
    logError("deadLetterStoreFailed", { error: String(error), messages: letters.length });
    const send: { message: Message; letter: DeadLetter }[] = [];
    for (const item of letters) {
      if (isLastDelivery(item.message)) {
        send.push(item);
        continue;
      }
      log(item.message, { action: "retry", reason: "dead_letter_not_stored" });
      item.message.retry({ delaySeconds: retryDelaySeconds(item.message.attempts) });
    }
    return send;
  }
}

/**
 * The tenant a dead letter belongs to: the one its message names, when
 * API_KEYS lists it; else null, and only the operator sees the letter.
 */
function tenantOfLetter(body: unknown, tenants: ReadonlySet<string> | null): string | null {
  if (tenants === null || typeof body !== "string") return null;
  const parsed = parseStrictJson(body, MAX_JSON_DEPTH);
  if (!parsed.ok) return null;
  const message = parsed.value;
  if (message === null || typeof message !== "object" || Array.isArray(message)) return null;
  const tenant = (message as Record<string, unknown>).tenant;
  return typeof tenant === "string" && tenants.has(tenant) ? tenant : null;
}

/** Takes one command through the door to its account object, and says what to do with the delivery. */
async function handleCommand(delivery: Delivery, env: Env, refusedTenants: Set<string>): Promise<Verdict> {
  const startedMs = Date.now();
  const { message, command } = delivery;
  const { tenant, account, operation } = command;
  const way: QueueWay = {
    via: "queue",
    route: QUEUE_ROUTE,
    messageId: message.id,
    attempts: message.attempts,
    tenant,
    keyId: QUEUE_KEY_ID,
    account,
    operation,
    idempotencyKey: command.checked.idempotencyKey,
    weight: 1,
    pinsTenant: false,
    refusedTenants,
  };
  let outcome: Outcome;
  try {
    outcome = await enter(env, way, moveMoney, delivery, startedMs);
  } catch (error) {
    logError("commandFailed", { message_id: message.id, error: String(error) });
    return { kind: "retry", reason: "undecided", delaySeconds: retryDelaySeconds(message.attempts) };
  }
  const refusal = refusalOf(outcome);
  // Over quota is not a decision: the message waits for the quota, as an HTTP client would.
  if (refusal === "quota") return { kind: "requeue" };
  if (!objectDecided(outcome)) {
    // A 404 is not recorded, so publishing it would let a later delivery, once the account opens, contradict it;
    // a placement failure is a configuration fault: either way the message waits rather than be answered wrongly.
    const reason: GaveUpReason =
      refusal === "placement"
        ? "misconfigured"
        : outcome.facts?.code === "account_not_found"
          ? "account_not_found"
          : "undecided";
    return { kind: "retry", reason, delaySeconds: retryDelaySeconds(message.attempts) };
  }
  const result: CommandResult = {
    tenant,
    account,
    operation,
    idempotency_key: command.sentKey,
    status: outcome.status,
    replayed: outcome.replayed,
    body: JSON.parse(outcome.body) as unknown,
  };
  return { kind: "publish", result };
}

/** The command's one object call, through the door. */
function moveMoney({ message, command }: Delivery, callAccountOf: AccountCaller): Promise<Outcome> {
  const { checked } = command;
  return callAccountOf(command.account, (stub) =>
    stub.moveMoney(
      moneyRequest(
        // Fresh per delivery, as per HTTP request: a redelivered message is a replay of the first.
        crypto.randomUUID(),
        checked,
        checked.command,
        // A queue message carries no API key; its id is the Request-Id its result and logs name.
        { requestId: message.id, keyId: QUEUE_KEY_ID },
      ),
    ),
  );
}

/** Doubling from the base with each delivery, capped: an unavailable object gets time to come back. */
export function retryDelaySeconds(attempts: number): number {
  const exponent = Math.max(0, Math.min(attempts - 1, 16));
  return Math.min(COMMAND_RETRY_MAX_DELAY_SECONDS, COMMAND_RETRY_BASE_DELAY_SECONDS * 2 ** exponent);
}

function logSendFailure(message: Message, line: LogLine, error: unknown): void {
  logError(line, { message_id: message.id, error: String(error) });
}

function deadLetter(reason: DeadLetter["reason"], errors: DeadLetter["errors"], body: unknown): DeadLetter {
  return { reason, errors, original: originalOf(body) };
}

/** The message as it came, as far as JSON can carry it and no longer, in UTF-8 bytes, than a command may be. */
function originalOf(body: unknown): unknown {
  if (typeof body === "string") return truncateUtf8(body, MAX_COMMAND_MESSAGE_BYTES);
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return null;
  try {
    // undefined for a value JSON cannot carry at all.
    const text = JSON.stringify(body) as string | undefined;
    return text !== undefined && utf8Length(text) <= MAX_COMMAND_MESSAGE_BYTES ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

function log(message: Message, fields: Record<string, unknown>): void {
  logInfo("command", { message_id: message.id, attempts: message.attempts, ...fields });
}

let tenantsCache: { raw: string | undefined; tenants: ReadonlySet<string> | null } | undefined;

/** The tenants API_KEYS names, parsed once per value of the secret; null when it is unusable. */
function tenantsOf(raw: string | undefined): ReadonlySet<string> | null {
  if (tenantsCache === undefined || tenantsCache.raw !== raw) {
    const table = parseKeyTable(raw);
    tenantsCache = { raw, tenants: table.ok ? new Set(table.value.map(({ tenant }) => tenant)) : null };
  }
  return tenantsCache.tenants;
}
