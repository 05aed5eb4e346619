import type { MoneyCommand, OpenAccountInput } from "../domain/commands.ts";
import type { IfMatch } from "../domain/if-match.ts";
import { fromWire, OBJECT_INTERFACE_VERSION, toWire, type LegacyMoneyCommand } from "./interface-version.ts";

/**
 * What a caller asks of an account object: validated input, never raw HTTP.
 * Every way in builds its requests with the constructors below, so each
 * request carries this Worker's interface version and its origin.
 */

/** Who sent a request, for logs and attribution; never part of what makes two requests the same. */
export interface RequestOrigin {
  /** The Request-Id the caller was answered with (the caller's X-Request-Id, or one generated). */
  readonly requestId: string;
  /** The API key's id (first 8 hex of its digest), or "queue" for a queue message. */
  readonly keyId: string | null;
}

export interface MoneyRequest {
  /** Unique per request a caller received; the caller sends the same one on each retried call. */
  readonly requestId: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  /** A digest of each top-level field of the body, to say which differ when the key is reused. */
  readonly fieldDigests?: Readonly<Record<string, string>>;
  readonly command: MoneyCommand;
  readonly origin: RequestOrigin;
  /** The interface version the caller speaks (interface-version.ts); a version-1 caller sent none, and is refused. */
  readonly interfaceVersion: number;
}

/** A money request as any supported Worker version sends it (see interface-version.ts). */
export type WireMoneyRequest =
  MoneyRequest | (Omit<MoneyRequest, "command"> & { readonly command: LegacyMoneyCommand });

/** The request in this version's terms. */
export function currentRequest(request: WireMoneyRequest): MoneyRequest {
  return "type" in request.command ? (request as MoneyRequest) : { ...request, command: fromWire(request.command) };
}

/** A request's key and what makes a retry "the same request" under it, as the checks produce them. */
export interface KeyedParts {
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  readonly fieldDigests?: Readonly<Record<string, string>>;
}

/** What makes a request with an Idempotency-Key recordable: its key, and what makes a retry "the same request". */
export interface KeyedRequest {
  readonly requestId: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  readonly fieldDigests?: Readonly<Record<string, string>>;
  readonly origin: RequestOrigin;
}

export interface OpenAccountRequest {
  readonly account: string;
  /** The tenant the account belongs to, stored when it is opened (events name it). */
  readonly tenant?: string;
  readonly input: OpenAccountInput;
  /** If-Match: the versions the caller expects the account to be at. */
  readonly ifMatch?: IfMatch | null;
  /** With an Idempotency-Key, the answer is recorded and replayed like a money request's. */
  readonly keyed?: KeyedRequest | null;
  readonly origin: RequestOrigin;
  readonly interfaceVersion: number;
}

/**
 * A money request. `requestId` is unique per request the caller received
 * (fresh per HTTP request, per batch operation, per queue delivery), so the
 * object tells a retried call's own outcome from a replay of an earlier one.
 */
export function moneyRequest(
  requestId: string,
  keyed: KeyedParts,
  command: MoneyCommand,
  origin: RequestOrigin,
): MoneyRequest {
  return {
    requestId,
    idempotencyKey: keyed.idempotencyKey,
    fingerprint: keyed.fingerprint,
    fieldDigests: keyed.fieldDigests,
    command: toWire(command),
    origin,
    interfaceVersion: OBJECT_INTERFACE_VERSION,
  };
}

/** An open-account request; `keyed` (from `keyedRequest`) records and replays its answer under the key. */
export function openAccountRequest(
  account: string,
  tenant: string,
  input: OpenAccountInput,
  ifMatch: IfMatch | null,
  keyed: KeyedRequest | null,
  origin: RequestOrigin,
): OpenAccountRequest {
  return { account, tenant, origin, interfaceVersion: OBJECT_INTERFACE_VERSION, input, ifMatch, keyed };
}

export function keyedRequest(requestId: string, keyed: KeyedParts, origin: RequestOrigin): KeyedRequest {
  return {
    requestId,
    idempotencyKey: keyed.idempotencyKey,
    fingerprint: keyed.fingerprint,
    fieldDigests: keyed.fieldDigests,
    origin,
  };
}
