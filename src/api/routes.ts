import type * as z from "zod/mini";
import type { MoneyOperation } from "../domain/commands.ts";
import type { ProblemCode } from "../domain/problems.ts";
import { MAX_BATCH_BODY_BYTES, MAX_BATCH_OPERATIONS } from "../domain/limits.ts";
import {
  Account,
  AccountChangeListSchema,
  AccountListSchema,
  AccountParams,
  BatchBody,
  BatchResponseSchema,
  Charge,
  ChargeParams,
  ClosePeriodBody,
  Entry,
  EntryListSchema,
  IdempotencyKeyLookup,
  IdempotencyKeyParams,
  ListAccountsQuery,
  ListChangesQuery,
  ListEntriesQuery,
  ListPeriodsQuery,
  MONEY_BODIES,
  NoParams,
  NoQuery,
  OpenAccountBody,
  Period,
  PeriodListSchema,
  PeriodParams,
  Refund,
  Transfer,
  TransferParams,
} from "./schemas.ts";
import { HOLD_ROUTES } from "./hold-routes.ts";
import { BODY_ERRORS, COMMON, REPLAYED } from "./route-responses.ts";

/**
 * Every route of the API as data: what the Worker validates each request
 * with, and what the OpenAPI document (generated at build time) says of it.
 */

/** Response headers the API documents, by name. */
export type ResponseHeader = "Idempotent-Replayed" | "Retry-After" | "WWW-Authenticate" | "Location" | "ETag";

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
  /**
   * Whether the request takes an Idempotency-Key: a money-moving POST needs
   * one, a PUT may send one; with a key, the outcome is recorded and replayed.
   */
  readonly idempotencyKey: "required" | "optional" | "none";
  /** Whether the route honours If-Match (the account's ETag). */
  readonly conditional?: boolean;
  /** The body's size limit, when not the default MAX_BODY_BYTES. */
  readonly bodyLimitBytes?: number;
  readonly responses: Readonly<Record<number, ResponseDef>>;
}

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

const MONEY_ROUTE_TEXT: Readonly<Record<MoneyOperation, { resource: string; summary: string; description: string }>> = {
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
  transfer: {
    resource: "transfers",
    summary: "Move money to another account, exactly once",
    description:
      "Sets the amount aside on this account and records the transfer, `pending`, in one decision under the key; this account's object then has the destination apply its leg once (`transfer_in`), and posts its own (`transfer_out`), or voids the transfer if the destination refused (`reason` names its code). Declined as a charge would be (402 on funds, 409 on currency), and 409 `transfer_to_self`; each recorded and final. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer (the transfer as first answered; read it for its state now) and moves nothing more.",
  },
};

function moneyRoute(type: MoneyOperation, created: ResponseDef, declines: Readonly<Record<number, ResponseDef>>) {
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
    idempotencyKey: "required" as const,
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
  transfer: moneyRoute(
    "transfer",
    { description: "The transfer, pending", schema: Transfer },
    {
      402: { description: "Declined", problems: ["insufficient_funds"], headers: REPLAYED },
      409: {
        ...EXPIRED,
        problems: ["currency_mismatch", "transfer_to_self", "idempotency_key_expired"],
      },
    },
  ),
} as const satisfies Record<MoneyOperation, RouteDef>;

export const getTransferRoute = {
  method: "get",
  path: "/v1/accounts/{account}/transfers/{transfer}",
  operationId: "getTransfer",
  tags: ["Money"],
  summary: "Read a transfer as it is now",
  description:
    "The transfer from this account with its current state: `pending` until its destination has answered for good, then `posted` or `voided` (with `reason`).",
  params: TransferParams,
  query: NoQuery,
  idempotencyKey: "none" as const,
  responses: {
    ...COMMON,
    200: { description: "The transfer", schema: Transfer },
    404: { description: "No such account or transfer", problems: ["account_not_found", "transfer_not_found"] },
  },
} as const satisfies RouteDef;

export const openAccountRoute = {
  method: "put" as const,
  path: "/v1/accounts/{account}",
  operationId: "openAccount",
  tags: ["Accounts"],
  summary: "Open an account, or update its overdraft limit",
  description:
    "Opens the account in a currency. On an account that exists in that currency it answers 200 and applies a given `overdraft_limit` (an omitted one is kept); a real change raises `version` by one and is listed under /changes. Send `If-Match` with the account's ETag to change it only if nobody else has since (412 otherwise), and an `Idempotency-Key` to make a retry replay the first answer instead of applying again: a recorded key replays before `If-Match` is looked at.",
  params: AccountParams,
  body: OpenAccountBody,
  idempotencyKey: "optional" as const,
  conditional: true,
  responses: {
    ...COMMON,
    ...BODY_ERRORS,
    200: {
      description: "The account already existed in this currency",
      schema: Account,
      headers: ["ETag", "Idempotent-Replayed"],
    },
    201: {
      description: "The account was opened",
      schema: Account,
      headers: ["ETag", "Location", "Idempotent-Replayed"],
    },
    400: {
      description: "Invalid input",
      problems: ["invalid_request", "invalid_json", "idempotency_key_invalid"],
    },
    409: {
      description: "The account exists in another currency, or the key's decision has expired",
      problems: ["currency_mismatch", "idempotency_key_expired"],
      headers: ["Idempotent-Replayed"],
    },
    412: { description: "If-Match names no current version of the account", problems: ["precondition_failed"] },
    422: {
      description: "The Idempotency-Key was used with a different request",
      problems: ["idempotency_key_reused"],
    },
  },
} as const satisfies RouteDef;

export const getAccountRoute = {
  method: "get",
  path: "/v1/accounts/{account}",
  operationId: "getAccount",
  tags: ["Accounts"],
  summary: "Read an account",
  description:
    "The account with its balance and entry count, both read off its last ledger entry; its ETag is its version.",
  params: AccountParams,
  query: NoQuery,
  idempotencyKey: "none" as const,
  responses: { ...COMMON, 200: { description: "The account", schema: Account, headers: ["ETag"] } },
} as const satisfies RouteDef;

export const listChangesRoute = {
  method: "get",
  path: "/v1/accounts/{account}/changes",
  operationId: "listAccountChanges",
  tags: ["Accounts"],
  summary: "List the account's settings changes, oldest first",
  description:
    "Every change of the account's settings, with the version it produced and the Idempotency-Key of the request that made it. Opening the account is version 1. Page on with `starting_after` set to the last item's version while `has_more` is true.",
  params: AccountParams,
  query: ListChangesQuery,
  idempotencyKey: "none" as const,
  responses: { ...COMMON, 200: { description: "One page of changes", schema: AccountChangeListSchema } },
} as const satisfies RouteDef;

export const listAccountsRoute = {
  method: "get",
  path: "/v1/accounts",
  operationId: "listAccounts",
  tags: ["Accounts"],
  summary: "List the tenant's accounts, by id",
  description:
    "Every account the tenant has opened, in id order, each as `GET /v1/accounts/{account}` shows it. An account is listed within moments of opening. Page on with `starting_after` set to the last account's id while `has_more` is true.",
  params: NoParams,
  query: ListAccountsQuery,
  idempotencyKey: "none" as const,
  responses: {
    400: COMMON[400] as ResponseDef,
    401: COMMON[401] as ResponseDef,
    429: COMMON[429] as ResponseDef,
    500: COMMON[500] as ResponseDef,
    503: COMMON[503] as ResponseDef,
    200: { description: "One page of accounts", schema: AccountListSchema },
  },
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
  idempotencyKey: "none" as const,
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
  idempotencyKey: "none" as const,
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
  idempotencyKey: "none" as const,
  responses: {
    ...COMMON,
    200: { description: "The key's recorded response, its ledger entry, or both", schema: IdempotencyKeyLookup },
    404: {
      description: "No such account, or nothing known of the key",
      problems: ["account_not_found", "idempotency_key_not_found"],
    },
  },
} as const satisfies RouteDef;

export const batchRoute = {
  method: "post" as const,
  path: "/v1/accounts/{account}/batches",
  operationId: "createBatch",
  tags: ["Money"],
  summary: "Apply up to 1,000 credits, charges and refunds in order, in one transaction",
  description: `For hot accounts. Each operation carries its own \`idempotency_key\` and is decided exactly as if it had been sent alone to its single route: the same checks, fingerprint, recorded response and replay, so it can later be replayed alone with the same key. A key repeated inside one batch is decided in order like a retry. One result per operation, in order; a malformed operation gets its own 400 there and the others still run. The batch itself needs no key: resending it is safe, since every operation carries its own. At most ${MAX_BATCH_OPERATIONS} operations and ${MAX_BATCH_BODY_BYTES} bytes.`,
  params: AccountParams,
  body: BatchBody,
  idempotencyKey: "none" as const,
  bodyLimitBytes: MAX_BATCH_BODY_BYTES,
  responses: {
    ...COMMON,
    ...BODY_ERRORS,
    200: { description: "One result per operation, in order", schema: BatchResponseSchema },
    400: { description: "A malformed envelope, or an empty list", problems: ["invalid_request", "invalid_json"] },
    404: { description: "The account was never opened: nothing is recorded", problems: ["account_not_found"] },
    500: { description: "An unexpected error: nothing was applied", problems: ["internal_error"] },
  },
} as const satisfies RouteDef;

export const closePeriodRoute = {
  method: "post" as const,
  path: "/v1/accounts/{account}/periods",
  operationId: "closePeriod",
  tags: ["Ledger"],
  summary: "Close the open period at the latest entry",
  description:
    "Closes the open period at the account's latest entry: the entries since the last close, and the keys decided meanwhile, become a period, which the account then writes to its archive (`state` closing, then archived). The body is a JSON object, `{}`: it is reserved for options, and an unknown field is refused. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer (the period as it was when closed, so `state` closing; read it for its state now) and closes nothing more. When nothing was appended since the last close, nothing is closed: 409 `period_empty`, recorded under the key like any decision.",
  params: AccountParams,
  body: ClosePeriodBody,
  idempotencyKey: "required" as const,
  responses: {
    ...COMMON,
    ...BODY_ERRORS,
    201: { description: "The period, as closed: state closing", schema: Period, headers: ["Location", ...REPLAYED] },
    400: {
      description: "Invalid input",
      problems: ["invalid_request", "invalid_json", "idempotency_key_missing", "idempotency_key_invalid"],
    },
    409: {
      description: "Nothing was appended since the last close, or the key's decision has expired",
      problems: ["period_empty", "idempotency_key_expired"],
      headers: REPLAYED,
    },
    422: {
      description: "The Idempotency-Key was used with a different request",
      problems: ["idempotency_key_reused"],
    },
  },
} as const satisfies RouteDef;

export const listPeriodsRoute = {
  method: "get",
  path: "/v1/accounts/{account}/periods",
  operationId: "listPeriods",
  tags: ["Ledger"],
  summary: "List the closed periods, oldest first",
  description:
    "Every closed period of the account, each as `GET .../periods/{id}` shows it now. Page on with `starting_after` set to the last period's id while `has_more` is true.",
  params: AccountParams,
  query: ListPeriodsQuery,
  idempotencyKey: "none" as const,
  responses: { ...COMMON, 200: { description: "One page of periods", schema: PeriodListSchema } },
} as const satisfies RouteDef;

export const getPeriodRoute = {
  method: "get",
  path: "/v1/accounts/{account}/periods/{id}",
  operationId: "getPeriod",
  tags: ["Ledger"],
  summary: "Read a closed period as it is now",
  description:
    "The period with its current state: once archived, its chained `sha256`, the previous period's, and its archived objects with their own SHA-256.",
  params: PeriodParams,
  query: NoQuery,
  idempotencyKey: "none" as const,
  responses: {
    ...COMMON,
    200: { description: "The period", schema: Period },
    404: { description: "No such account or period", problems: ["account_not_found", "period_not_found"] },
  },
} as const satisfies RouteDef;

/** Every route, in the order the document lists them. */
export const ROUTES: readonly RouteDef[] = [
  listAccountsRoute,
  openAccountRoute,
  getAccountRoute,
  MONEY_ROUTES.credit,
  MONEY_ROUTES.charge,
  MONEY_ROUTES.refund,
  MONEY_ROUTES.transfer,
  getTransferRoute,
  batchRoute,
  getChargeRoute,
  listEntriesRoute,
  closePeriodRoute,
  listPeriodsRoute,
  getPeriodRoute,
  ...HOLD_ROUTES,
  listChangesRoute,
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
