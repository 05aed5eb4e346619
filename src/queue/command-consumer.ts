import { parseCommandMessage, type CommandMessage, type Rejection } from "../api/command-message.ts";
import {
  COMMAND_RETRY_BASE_DELAY_SECONDS,
  COMMAND_RETRY_MAX_DELAY_SECONDS,
  MAX_COMMAND_MESSAGE_BYTES,
  RATE_LIMITED_RETRY_AFTER_SECONDS,
} from "../domain/limits.ts";
import { QUEUE_KEY_ID } from "../domain/key-id.ts";
import { QUEUE_ROUTE, requestPoint } from "../domain/metrics.ts";
import { OBJECT_INTERFACE_VERSION, toWire } from "../domain/object-interface.ts";
import type { Outcome } from "../ledger/outcome.ts";
import { accountStubs, callAccount } from "../transport/account-client.ts";
import { parseKeyTable } from "../transport/api-keys.ts";
import { placeTenant } from "../transport/tenant-placement.ts";
import { overQuota } from "../transport/quota.ts";
import { sendInChunks } from "./send-in-chunks.ts";

/**
 * The commands queue's consumer. Each message goes through the same account
 * object call as its HTTP twin. A message is acknowledged once its outcome
 * is decided (and its result, if a results queue is bound, is sent); one
 * the ledger could not decide is retried with backoff; one that can never
 * be decided goes to the dead-letter queue at once. Accounts are worked on
 * concurrently, each account's messages in the order the batch holds them.
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

/** A dead-lettered message: why, each bad field, and the message as it came. */
export interface DeadLetter {
  readonly reason: Rejection["reason"];
  readonly errors: Rejection["errors"];
  readonly original: unknown;
}

interface Decided {
  readonly message: Message;
  readonly result: CommandResult;
}

export async function consumeCommands(batch: MessageBatch, env: Env): Promise<void> {
  const tenants = tenantsOf(env.API_KEYS);
  if (tenants === null) {
    // Nothing can be decided while the configuration is broken; the messages wait for a fix.
    console.error(JSON.stringify({ msg: "OnceLedger is misconfigured: API_KEYS is unusable", queue: batch.queue }));
    batch.retryAll({ delaySeconds: COMMAND_RETRY_MAX_DELAY_SECONDS });
    return;
  }

  const rejected: { message: Message; letter: DeadLetter }[] = [];
  const byAccount = new Map<string, { message: Message; command: CommandMessage }[]>();
  for (const message of batch.messages) {
    const parsed = parseCommandMessage(message.body, (tenant) => tenants.has(tenant));
    if (!parsed.ok) {
      rejected.push({ message, letter: deadLetter(parsed.error, message.body) });
      continue;
    }
    const name = `${parsed.value.tenant}:${parsed.value.account}`;
    const queued = byAccount.get(name) ?? [];
    queued.push({ message, command: parsed.value });
    byAccount.set(name, queued);
  }

  const decided: Decided[] = [];
  await Promise.all(
    [...byAccount.values()].map(async (messages) => {
      for (const { message, command } of messages) {
        const result = await decide(message, command, env);
        if (result !== null) decided.push({ message, result });
      }
    }),
  );

  const deadLetters = env.DEAD_LETTERS as Queue | undefined;
  if (deadLetters === undefined) {
    for (const { message, letter } of rejected) {
      log(message, { action: "dead_letter_unbound", reason: letter.reason });
      message.ack();
    }
  } else {
    await sendInChunks(
      deadLetters,
      rejected,
      ({ letter }) => letter,
      ({ message, letter }) => {
        log(message, { action: "dead_letter", reason: letter.reason });
        message.ack();
      },
      ({ message }, error) => retryAfterFailedSend(message, "dead-letter", error),
    );
  }

  const results = env.RESULTS as Queue | undefined;
  if (results === undefined) {
    for (const { message } of decided) message.ack();
    return;
  }
  await sendInChunks(
    results,
    decided,
    ({ result }) => result,
    ({ message }) => message.ack(),
    ({ message }, error) => retryAfterFailedSend(message, "result", error),
  );
}

/** Decides one command: its result, or null when it was handed back to the queue for later. */
async function decide(message: Message, command: CommandMessage, env: Env): Promise<CommandResult | null> {
  const startedMs = Date.now();
  const { tenant, account, operation, checked } = command;
  let outcome: Outcome;
  let retries = 0;
  const notes = { context: { message_id: message.id }, onRetry: () => (retries += 1) };
  try {
    if (await overQuota(env.RATE_LIMITER, tenant, 1)) {
      // Over quota is not a decision: the message waits for the quota, as an HTTP client would.
      log(message, { action: "retry", tenant, account, operation, status: 429, code: "rate_limited" });
      message.retry({ delaySeconds: RATE_LIMITED_RETRY_AFTER_SECONDS });
      return null;
    }
    const placed = await placeTenant(env, tenant, false);
    if (!placed.ok) {
      // A configuration fault: the message waits for the fix rather than being decided wrongly.
      console.error(JSON.stringify({ msg: "cannot place tenant", message_id: message.id, tenant, ...placed.error }));
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      return null;
    }
    outcome = await callAccount(
      accountStubs(env.ACCOUNTS, tenant, account, placed.value),
      (stub) =>
        stub.moveMoney({
          // Fresh per delivery, as per HTTP request: a redelivered message is a replay of the first.
          requestId: crypto.randomUUID(),
          idempotencyKey: checked.idempotencyKey,
          fingerprint: checked.fingerprint,
          fieldDigests: checked.fieldDigests,
          command: toWire(checked.command),
          // A queue message carries no API key; its id is the Request-Id its result and logs name.
          origin: { requestId: message.id, keyId: QUEUE_KEY_ID },
          interfaceVersion: OBJECT_INTERFACE_VERSION,
        }),
      undefined,
      notes,
    );
  } catch (error) {
    console.error(JSON.stringify({ msg: "command failed", message_id: message.id, error: String(error) }));
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return null;
  }
  const facts = outcome.facts;
  const durationMs = Date.now() - startedMs;
  const undecided = outcome.status === 500 || outcome.status === 503;
  env.METRICS?.writeDataPoint(
    requestPoint({
      route: QUEUE_ROUTE,
      code: facts?.code ?? null,
      operation,
      currency: facts?.entry?.currency ?? null,
      replayed: outcome.replayed,
      keyId: QUEUE_KEY_ID,
      tenant,
      status: outcome.status,
      durationMs,
      amountMinor: facts?.entry?.amount ?? 0,
      retries,
      count: 1,
    }),
  );
  log(message, {
    action: undecided ? "retry" : "decided",
    tenant,
    account,
    operation,
    status: outcome.status,
    code: facts?.code ?? null,
    replayed: outcome.replayed,
    duration_ms: durationMs,
    entry: facts?.entry?.id ?? null,
    seq: facts?.entry?.seq ?? null,
  });
  if (undecided) {
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return null;
  }
  return {
    tenant,
    account,
    operation,
    idempotency_key: command.sentKey,
    status: outcome.status,
    replayed: outcome.replayed,
    body: JSON.parse(outcome.body) as unknown,
  };
}

/** Doubling from the base with each delivery, capped: an unavailable object gets time to come back. */
export function retryDelaySeconds(attempts: number): number {
  const exponent = Math.max(0, Math.min(attempts - 1, 16));
  return Math.min(COMMAND_RETRY_MAX_DELAY_SECONDS, COMMAND_RETRY_BASE_DELAY_SECONDS * 2 ** exponent);
}

function retryAfterFailedSend(message: Message, what: string, error: unknown): void {
  console.error(JSON.stringify({ msg: `${what} send failed`, message_id: message.id, error: String(error) }));
  message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
}

function deadLetter(rejection: Rejection, body: unknown): DeadLetter {
  return { reason: rejection.reason, errors: rejection.errors, original: originalOf(body) };
}

/** The message as it came, as far as JSON can carry it and no longer than a command may be. */
function originalOf(body: unknown): unknown {
  if (typeof body === "string") return body.slice(0, MAX_COMMAND_MESSAGE_BYTES);
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return null;
  try {
    // undefined for a value JSON cannot carry at all.
    const text = JSON.stringify(body) as string | undefined;
    return text !== undefined && text.length <= MAX_COMMAND_MESSAGE_BYTES ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

function log(message: Message, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ msg: "command", message_id: message.id, attempts: message.attempts, ...fields }));
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
