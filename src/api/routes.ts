import type * as z from "zod/mini";
import type { EntryType } from "../domain/entry-types.ts";
import type { ProblemCode } from "../domain/problems.ts";
import {
  Account,
  AccountParams,
  Charge,
  ChargeParams,
  Entry,
  EntryListSchema,
  IdempotencyKeyLookup,
  IdempotencyKeyParams,
  ListEntriesQuery,
  MONEY_BODIES,
  NoQuery,
  OpenAccountBody,
  Refund,
} from "./schemas.ts";

/**
 * Every route of the API as data: what the Worker validates each request
 * with, and what the OpenAPI document (generated at build time) says of it.
 */

/** Response headers the API documents, by name. */
export type ResponseHeader = "Idempotent-Replayed" | "Retry-After" | "WWW-Authenticate" | "Location";

export interface ResponseDef {
  readonly description: string;
  /** A success body's schema; error responses are Problem documents naming `problems`. */
  readonly schema?: z.ZodMiniType;
  readonly problems?: readonly ProblemCode[];
  readonly headers?: readonly ResponseHeader[];
}

export interface RouteDef {
  readonly method: "get" | "put" | "post";
  /** OpenAPI form: `/v1/accounts/{account}/charges`. */
  readonly path: string;
  readonly operationId: string;
  readonly tags: readonly string[];
  readonly summary: string;
  readonly description: string;
  readonly params: z.ZodMiniObject;
  readonly query?: z.ZodMiniObject;
  readonly body?: z.ZodMiniType;
  /** A money-moving POST: needs an Idempotency-Key, and its outcome is recorded and replayed. */
  readonly idempotent: boolean;
  readonly responses: Readonly<Record<number, ResponseDef>>;
}

const COMMON: Readonly<Record<number, ResponseDef>> = {
  400: { description: "Invalid input", problems: ["invalid_request"] },
  401: { description: "No valid API key", problems: ["unauthorized"], headers: ["WWW-Authenticate"] },
  404: { description: "The account was never opened", problems: ["account_not_found"] },
  500: { description: "A fault inside OnceLedger", problems: ["internal_error"] },
  503: { description: "The account is overloaded", problems: ["overloaded"], headers: ["Retry-After"] },
};

const BODY_ERRORS: Readonly<Record<number, ResponseDef>> = {
  400: { description: "Invalid input", problems: ["invalid_request", "invalid_json"] },
  413: { description: "The body is too large", problems: ["payload_too_large"] },
  415: { description: "The body is not JSON", problems: ["unsupported_media_type"] },
};

const REPLAYED: readonly ResponseHeader[] = ["Idempotent-Replayed"];

function moneyResponses(
  created: ResponseDef,
  declines: Readonly<Record<number, ResponseDef>>,
): Readonly<Record<number, ResponseDef>> {
  return {
    ...COMMON,
    ...BODY_ERRORS,
    201: { ...created, headers: REPLAYED },
    400: {
      description: "Invalid input",
      problems: ["invalid_request", "invalid_json", "idempotency_key_missing", "idempotency_key_invalid"],
    },
    422: {
      description: "The Idempotency-Key was used with a different request",
      problems: ["idempotency_key_reused"],
    },
    ...declines,
  };
}

const MONEY_ROUTE_TEXT: Readonly<Record<EntryType, { resource: string; summary: string; description: string }>> = {
  credit: {
    resource: "credits",
    summary: "Add funds",
    description:
      "Credits the account. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer and moves nothing.",
  },
  charge: {
    resource: "charges",
    summary: "Charge the account",
    description:
      "Debits the account, down to minus its overdraft limit. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer (a decline too) and moves nothing.",
  },
  refund: {
    resource: "refunds",
    summary: "Refund all or part of a charge",
    description:
      "Credits back all or part of a charge. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer and moves nothing.",
  },
};

function moneyRoute(type: EntryType, created: ResponseDef, declines: Readonly<Record<number, ResponseDef>>) {
  const text = MONEY_ROUTE_TEXT[type];
  return {
    method: "post" as const,
    path: `/v1/accounts/{account}/${text.resource}`,
    operationId: `create${type[0]?.toUpperCase() ?? ""}${type.slice(1)}`,
    tags: ["Money"],
    summary: text.summary,
    description: text.description,
    params: AccountParams,
    body: MONEY_BODIES[type],
    idempotent: true,
    responses: moneyResponses(created, declines),
  } satisfies RouteDef;
}

const EXPIRED: ResponseDef = {
  description: "A decline, or the key already moved money and its record expired",
  problems: ["currency_mismatch", "balance_limit_exceeded", "idempotency_key_expired"],
  headers: REPLAYED,
};

export const MONEY_ROUTES = {
  credit: moneyRoute("credit", { description: "The credit's ledger entry", schema: Entry }, { 409: EXPIRED }),
  charge: moneyRoute(
    "charge",
    { description: "The charge", schema: Charge },
    {
      402: { description: "Declined", problems: ["insufficient_funds"], headers: REPLAYED },
      409: EXPIRED,
    },
  ),
  refund: moneyRoute(
    "refund",
    { description: "The refund", schema: Refund },
    {
      404: { description: "No such account or charge", problems: ["account_not_found", "charge_not_found"] },
      409: {
        ...EXPIRED,
        problems: ["currency_mismatch", "refund_exceeds_charge", "balance_limit_exceeded", "idempotency_key_expired"],
      },
    },
  ),
} as const satisfies Record<EntryType, RouteDef>;

export const openAccountRoute = {
  method: "put" as const,
  path: "/v1/accounts/{account}",
  operationId: "openAccount",
  tags: ["Accounts"],
  summary: "Open an account, or update its overdraft limit",
  description:
    "Opens the account in a currency. On an account that exists in that currency it answers 200 and applies a given `overdraft_limit` (an omitted one is kept). Safe to repeat.",
  params: AccountParams,
  body: OpenAccountBody,
  idempotent: false,
  responses: {
    ...COMMON,
    ...BODY_ERRORS,
    200: { description: "The account already existed in this currency", schema: Account },
    201: { description: "The account was opened", schema: Account },
    409: { description: "The account exists in another currency", problems: ["currency_mismatch"] },
  },
} as const satisfies RouteDef;

export const getAccountRoute = {
  method: "get",
  path: "/v1/accounts/{account}",
  operationId: "getAccount",
  tags: ["Accounts"],
  summary: "Read an account",
  description: "The account with its balance and entry count, both read off its last ledger entry.",
  params: AccountParams,
  query: NoQuery,
  idempotent: false,
  responses: { ...COMMON, 200: { description: "The account", schema: Account } },
} as const satisfies RouteDef;

export const listEntriesRoute = {
  method: "get",
  path: "/v1/accounts/{account}/entries",
  operationId: "listEntries",
  tags: ["Ledger"],
  summary: "List ledger entries, oldest first",
  description:
    "One page of the ledger. Page on with `starting_after` set to the last entry's id while `has_more` is true.",
  params: AccountParams,
  query: ListEntriesQuery,
  idempotent: false,
  responses: { ...COMMON, 200: { description: "One page of entries", schema: EntryListSchema } },
} as const satisfies RouteDef;

export const getChargeRoute = {
  method: "get",
  path: "/v1/accounts/{account}/charges/{id}",
  operationId: "getCharge",
  tags: ["Money"],
  summary: "Read a charge as it is now",
  description: "The charge with the amount refunded so far.",
  params: ChargeParams,
  query: NoQuery,
  idempotent: false,
  responses: {
    ...COMMON,
    200: { description: "The charge", schema: Charge },
    404: { description: "No such account or charge", problems: ["account_not_found", "charge_not_found"] },
  },
} as const satisfies RouteDef;

export const lookupIdempotencyKeyRoute = {
  method: "get",
  path: "/v1/accounts/{account}/idempotency-keys/{key}",
  operationId: "lookupIdempotencyKey",
  tags: ["Idempotency"],
  summary: "Look up what a money-moving request with this Idempotency-Key did",
  description:
    "For reconciliation: whether a POST with this key landed on this account, and its outcome. Read-only: it records nothing, so the key stays unused if it was.",
  params: IdempotencyKeyParams,
  query: NoQuery,
  idempotent: false,
  responses: {
    ...COMMON,
    200: { description: "The key's recorded response, its ledger entry, or both", schema: IdempotencyKeyLookup },
    404: {
      description: "No such account, or nothing known of the key",
      problems: ["account_not_found", "idempotency_key_not_found"],
    },
  },
} as const satisfies RouteDef;

/** Every route, in the order the document lists them. */
export const ROUTES: readonly RouteDef[] = [
  openAccountRoute,
  getAccountRoute,
  MONEY_ROUTES.credit,
  MONEY_ROUTES.charge,
  MONEY_ROUTES.refund,
  getChargeRoute,
  listEntriesRoute,
  lookupIdempotencyKeyRoute,
];

/** A route's path with its parameters filled in, as a request names it: the fingerprint's route. */
export function concretePath(route: RouteDef, params: Readonly<Record<string, string>>): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`invariant: ${route.path} needs ${name}`);
    return value;
  });
}
