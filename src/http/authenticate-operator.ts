import { DEV_API_KEY } from "../config/dev-key.ts";
import { keyIdOf } from "../config/key-id.ts";
import { MAX_API_KEY_LENGTH } from "../domain/limits.ts";
import type { FailureOf } from "../domain/problems.ts";
import { hexToBytes } from "../lib/hex.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { sha256Hex } from "../lib/sha256.ts";
import { parseOperatorKeys, type OperatorTable } from "../transport/operator-keys.ts";
import { BEARER } from "./authenticate.ts";

/** Who an operator request acts as: the operator's name in OPERATOR_KEYS, and the id of the key it used. */
export interface Operator {
  readonly operator: string;
  readonly keyId: string;
}

export type OperatorAuthentication = Result<
  Operator,
  FailureOf<"unauthorized" | "internal_error"> & { readonly reason?: string }
>;

let cachedTable:
  { raw: string | undefined; apiKeys: string | undefined; parse: Result<OperatorTable, string> } | undefined;

/**
 * Resolves `Authorization: Bearer <key>` on an operator route to an operator
 * of OPERATOR_KEYS, comparing the key's SHA-256 with every listed digest in
 * constant time, as tenant keys are. API_KEYS is never consulted for a
 * match: a tenant's key, the development key included, is refused here. A
 * malformed OPERATOR_KEYS is an internal error with its reason, never open.
 */
export function authenticateOperator(
  authorization: string | null,
  operatorKeys: string | undefined,
  apiKeys: string | undefined,
): OperatorAuthentication {
  if (cachedTable === undefined || cachedTable.raw !== operatorKeys || cachedTable.apiKeys !== apiKeys) {
    cachedTable = { raw: operatorKeys, apiKeys, parse: parseOperatorKeys(operatorKeys, apiKeys) };
  }
  const { parse } = cachedTable;
  if (!parse.ok) return err({ code: "internal_error", cause: "misconfigured", reason: parse.error });

  if (authorization === null) return err({ code: "unauthorized", invalidToken: false, operator: true });
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined || token.length > MAX_API_KEY_LENGTH || token === DEV_API_KEY) return REFUSED;
  const digestHex = sha256Hex(token);
  const digest = hexToBytes(digestHex);
  let operator: string | undefined;
  for (const entry of parse.value) {
    if (crypto.subtle.timingSafeEqual(entry.digest, digest) && operator === undefined) operator = entry.operator;
  }
  if (operator === undefined) return REFUSED;
  return ok({ operator, keyId: keyIdOf(digestHex) });
}

const REFUSED = err({ code: "unauthorized", invalidToken: true, operator: true } as const);
