import { MAX_JSON_DEPTH } from "../domain/limits.ts";
import type { MoneyOperation } from "../domain/commands.ts";
import type { FieldError } from "../domain/field-error.ts";
import { MAX_BODY_BYTES, MAX_COMMAND_MESSAGE_BYTES } from "../domain/limits.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseStrictJson } from "../lib/strict-json.ts";
import { utf8Length } from "../lib/text.ts";
import { checkMoneyOperation, type CheckedOperation } from "./money-operation.ts";
import { CommandMessageEnvelope } from "./schemas.ts";
import { validate } from "./validation.ts";

/**
 * A money command off the commands queue, checked as its HTTP twin is: the
 * same strict JSON, the same key rules, the same body schema and the same
 * fingerprint (over the single route's path), so a message and a request
 * with the same tenant, account, key and body are one request.
 */

export interface CommandMessage {
  readonly tenant: string;
  readonly account: string;
  readonly operation: MoneyOperation;
  /** The key as the message carried it (a result names it so), before the header's forms are read. */
  readonly sentKey: string;
  readonly checked: CheckedOperation;
}

/** Why a message can never be decided: it goes to the dead-letter queue at once, with this. */
export type DeadLetterReason = "not_text" | "too_large" | "invalid_json" | "invalid_command" | "unknown_tenant";

export interface Rejection {
  readonly reason: DeadLetterReason;
  readonly errors: readonly FieldError[];
}

export function parseCommandMessage(
  body: unknown,
  isKnownTenant: (tenant: string) => boolean,
): Result<CommandMessage, Rejection> {
  // Text only: a JSON or structured-clone message was parsed by the platform, by rules other than ours.
  if (typeof body !== "string") {
    return reject("not_text", "body", 'must be sent as JSON text (contentType "text")');
  }
  if (utf8Length(body) > MAX_COMMAND_MESSAGE_BYTES) {
    return reject("too_large", "body", `must be at most ${MAX_COMMAND_MESSAGE_BYTES} bytes`);
  }
  const json = parseStrictJson(body, MAX_JSON_DEPTH);
  if (!json.ok) return reject("invalid_json", "body", json.error);
  const envelope = validate(CommandMessageEnvelope, json.value);
  if (!envelope.ok) return err({ reason: "invalid_command", errors: envelope.error });
  const { tenant, account, operation, idempotency_key: key, request } = envelope.value;
  // Its HTTP twin would be refused past the route's body limit, so its recorded answer could never replay there.
  if (utf8Length(JSON.stringify(request)) > MAX_BODY_BYTES) {
    return reject("too_large", "request", `must be at most ${MAX_BODY_BYTES} bytes as JSON, as its route's body`);
  }
  // Anything that can send to the queue acts for the tenants it names; only configured ones are honoured.
  if (!isKnownTenant(tenant)) return reject("unknown_tenant", "tenant", "is not a tenant in API_KEYS");
  const checked = checkMoneyOperation(account, operation, key, request);
  if (!checked.ok) {
    const failure = checked.error;
    if (failure.code === "invalid_request") {
      return err({
        reason: "invalid_command",
        errors: failure.errors.map((e) => ({ ...e, field: e.field === "body" ? "request" : `request.${e.field}` })),
      });
    }
    if (failure.code === "idempotency_key_invalid") return reject("invalid_command", "idempotency_key", failure.reason);
    return reject("invalid_command", "idempotency_key", "is required");
  }
  return ok({ tenant, account, operation, sentKey: key, checked: checked.value });
}

function reject(reason: DeadLetterReason, field: string, message: string): Result<never, Rejection> {
  return err({ reason, errors: [{ field, message }] });
}
