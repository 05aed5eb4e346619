import type { MoneyInput, RefundInput, TransferInput } from "../domain/commands.ts";
import { uuidV7 } from "./uuid-v7.ts";

/**
 * Builds a money command for OnceLedger's commands queue. Send it as it is
 * (`queue.send(message.body, { contentType: message.contentType })`, or the
 * same fields to the HTTP publish API). Keep `idempotency_key`: to retry the
 * command, by queue or over HTTP, send the same key with the same request.
 */

export type CommandInput =
  | { readonly operation: "credit" | "charge"; readonly request: MoneyInput }
  | { readonly operation: "refund"; readonly request: RefundInput }
  | { readonly operation: "transfer"; readonly request: TransferInput };

export interface CommandMessageOptions {
  readonly tenant: string;
  readonly account: string;
  /** A fresh UUIDv7 when left out. */
  readonly idempotencyKey?: string;
}

export interface BuiltCommandMessage {
  /** The message body: JSON text, so the consumer reads it by the same strict rules as an HTTP body. */
  readonly body: string;
  readonly contentType: "text";
  readonly idempotencyKey: string;
}

export function commandMessage(options: CommandMessageOptions & CommandInput): BuiltCommandMessage {
  const idempotencyKey = options.idempotencyKey ?? uuidV7();
  const body = JSON.stringify({
    tenant: options.tenant,
    account: options.account,
    operation: options.operation,
    idempotency_key: idempotencyKey,
    request: options.request,
  });
  return { body, contentType: "text", idempotencyKey };
}
