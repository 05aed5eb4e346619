import { isMoneyOperation, MONEY_OPERATIONS, type MoneyCommand, type MoneyOperation } from "../domain/commands.ts";
import { fieldDigests, requestFingerprint } from "../domain/fingerprint.ts";
import { parseIdempotencyKey } from "../domain/idempotency-key.ts";
import { MAX_BODY_BYTES } from "../domain/limits.ts";
import type { Failure } from "../domain/problems.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { utf8Length } from "../lib/text.ts";
import { concretePath, MONEY_ROUTES, type RouteDef } from "./routes.ts";
import { MONEY_BODIES } from "./schemas.ts";
import { validate } from "./validation.ts";

/**
 * A money operation that did not come as its own HTTP request (an operation
 * of a batch, a queue message) checked exactly as its single route checks
 * one: the key by the header's rules, the body by the route's schema, and
 * the fingerprint over the route's own path, so the same operation is the
 * same request whichever way it arrives.
 */

export interface CheckedOperation {
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  readonly fieldDigests: Readonly<Record<string, string>>;
  readonly command: MoneyCommand;
}

/** The single routes' paths for the last account asked: a batch's operations all name one account. */
let pathsOf: { account: string; paths: Partial<Record<MoneyOperation, string>> } = { account: "", paths: {} };

/** What makes two money requests on `account` "the same request": the single route's fingerprint. */
export function moneyFingerprint(type: MoneyOperation, account: string, body: unknown): string {
  const route = MONEY_ROUTES[type];
  if (pathsOf.account !== account) pathsOf = { account, paths: {} };
  const path = (pathsOf.paths[type] ??= concretePath(route, { account }));
  return requestFingerprint(route.method, path, body);
}

/**
 * Checks one operation of a batch, given as `{type, idempotency_key, ...body}`.
 * Its body (the operation without `type` and `idempotency_key`) must fit its
 * single route's body limit, or its recorded answer could never be replayed
 * through that route: measured as the UTF-8 bytes of the body written as
 * compact JSON (`JSON.stringify`: no whitespace, strings escaped only where
 * JSON requires), the smallest text the single route could have been sent.
 * Checked where the single route checks its size: after the route (the
 * type), before the key.
 */
export function checkOperation(account: string, operation: unknown): Result<CheckedOperation, Failure> {
  if (operation === null || typeof operation !== "object" || Array.isArray(operation)) {
    return err({ code: "invalid_request", errors: [{ field: "body", message: "must be a JSON object" }] });
  }
  const { type, idempotency_key: rawKey, ...body } = operation as Record<string, unknown>;
  if (isMoneyOperation(type)) {
    const limitBytes = singleBodyLimitBytes(type);
    if (utf8Length(JSON.stringify(body)) > limitBytes) return err({ code: "payload_too_large", limitBytes });
  }
  return checkMoneyOperation(account, type, rawKey, body);
}

/** The body limit of a money operation's single route. */
function singleBodyLimitBytes(type: MoneyOperation): number {
  const route: RouteDef = MONEY_ROUTES[type];
  return route.bodyLimitBytes ?? MAX_BODY_BYTES;
}

/**
 * Checks a money operation from its parts, in the single route's order: the
 * entry type (the route), the key (missing or malformed), then the body.
 */
export function checkMoneyOperation(
  account: string,
  type: unknown,
  rawKey: unknown,
  body: unknown,
): Result<CheckedOperation, Failure> {
  if (!isMoneyOperation(type)) {
    return err({
      code: "invalid_request",
      errors: [{ field: "type", message: `must be one of ${MONEY_OPERATIONS.map((op) => `"${op}"`).join(", ")}` }],
    });
  }
  if (rawKey !== undefined && rawKey !== null && typeof rawKey !== "string") {
    return err({ code: "idempotency_key_invalid", reason: "it is not a string" });
  }
  const key = parseIdempotencyKey(rawKey ?? null);
  if (!key.ok) return key;
  const input = validate(MONEY_BODIES[type], body);
  if (!input.ok) return err({ code: "invalid_request", errors: input.error });
  return ok({
    idempotencyKey: key.value,
    fingerprint: moneyFingerprint(type, account, body),
    fieldDigests: fieldDigests(body),
    command: { type, input: input.value } as MoneyCommand,
  });
}
