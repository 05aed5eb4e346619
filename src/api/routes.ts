import { createRoute, z } from "@hono/zod-openapi";
import { MAX_IDEMPOTENCY_KEY_LENGTH } from "../domain/limits.ts";
import {
  Account,
  AccountParams,
  Charge,
  ChargeParams,
  Entry,
  EntryList,
  IdempotencyKeyLookup,
  IdempotencyKeyParams,
  ListEntriesQuery,
  MoneyBody,
  NoQuery,
  OpenAccountBody,
  ProblemDocument,
  Refund,
  RefundBody,
} from "./schemas.ts";

/** Every route of the API, as OpenAPI route definitions the app also validates with. */

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const problemDoc = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemDocument } },
});

const jsonBody = <S extends z.ZodType>(schema: S) => ({
  required: true,
  content: { "application/json": { schema } },
});

const IdempotencyHeaders = z.object({
  "Idempotency-Key": z.string().openapi({
    param: { name: "Idempotency-Key", in: "header", required: true },
    description: `1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters, bare or as an RFC 9651 string ("abc" and abc are one key).`,
  }),
});

const security = [{ bearer: [] }];

const common = {
  400: problemDoc("Invalid input: invalid_request, invalid_json"),
  401: problemDoc("unauthorized"),
  404: problemDoc("account_not_found"),
  500: problemDoc("internal_error"),
  503: problemDoc("overloaded (with Retry-After)"),
};

const moneyErrors = {
  ...common,
  400: problemDoc("invalid_request, invalid_json, idempotency_key_missing, idempotency_key_invalid"),
  409: problemDoc(
    "currency_mismatch, balance_limit_exceeded, idempotency_key_expired (recorded and replayed where a decline)",
  ),
  413: problemDoc("payload_too_large"),
  415: problemDoc("unsupported_media_type"),
  422: problemDoc("idempotency_key_reused"),
};

export const openAccountRoute = createRoute({
  method: "put",
  path: "/v1/accounts/{account}",
  summary: "Open an account, or update its overdraft limit",
  security,
  request: { params: AccountParams, body: jsonBody(OpenAccountBody) },
  responses: {
    ...common,
    200: json(Account, "The account already existed in this currency"),
    201: json(Account, "The account was opened"),
    409: problemDoc("currency_mismatch"),
    413: problemDoc("payload_too_large"),
    415: problemDoc("unsupported_media_type"),
  },
});

export const getAccountRoute = createRoute({
  method: "get",
  path: "/v1/accounts/{account}",
  summary: "Read an account",
  security,
  request: { params: AccountParams, query: NoQuery },
  responses: { ...common, 200: json(Account, "The account") },
});

export const creditRoute = createRoute({
  method: "post",
  path: "/v1/accounts/{account}/credits",
  summary: "Add funds",
  security,
  request: { params: AccountParams, headers: IdempotencyHeaders, body: jsonBody(MoneyBody) },
  responses: { ...moneyErrors, 201: json(Entry, "The credit's ledger entry") },
});

export const chargeRoute = createRoute({
  method: "post",
  path: "/v1/accounts/{account}/charges",
  summary: "Charge the account",
  security,
  request: { params: AccountParams, headers: IdempotencyHeaders, body: jsonBody(MoneyBody) },
  responses: { ...moneyErrors, 201: json(Charge, "The charge"), 402: problemDoc("insufficient_funds") },
});

export const refundRoute = createRoute({
  method: "post",
  path: "/v1/accounts/{account}/refunds",
  summary: "Refund all or part of a charge",
  security,
  request: { params: AccountParams, headers: IdempotencyHeaders, body: jsonBody(RefundBody) },
  responses: {
    ...moneyErrors,
    201: json(Refund, "The refund"),
    404: problemDoc("account_not_found, charge_not_found"),
    409: problemDoc("currency_mismatch, refund_exceeds_charge, balance_limit_exceeded, idempotency_key_expired"),
  },
});

export const listEntriesRoute = createRoute({
  method: "get",
  path: "/v1/accounts/{account}/entries",
  summary: "List ledger entries, oldest first",
  security,
  request: { params: AccountParams, query: ListEntriesQuery },
  responses: { ...common, 200: json(EntryList, "One page of entries") },
});

export const getChargeRoute = createRoute({
  method: "get",
  path: "/v1/accounts/{account}/charges/{id}",
  summary: "Read a charge as it is now",
  security,
  request: { params: ChargeParams, query: NoQuery },
  responses: {
    ...common,
    200: json(Charge, "The charge"),
    404: problemDoc("account_not_found, charge_not_found"),
  },
});

export const lookupIdempotencyKeyRoute = createRoute({
  method: "get",
  path: "/v1/accounts/{account}/idempotency-keys/{key}",
  summary: "Look up what a money-moving request with this Idempotency-Key did",
  description:
    "For reconciliation: whether a POST with this key landed on this account, and its outcome. Read-only: it records nothing, so the key stays unused if it was.",
  security,
  request: { params: IdempotencyKeyParams, query: NoQuery },
  responses: {
    ...common,
    200: json(IdempotencyKeyLookup, "The key's recorded response, its ledger entry, or both"),
    400: problemDoc("invalid_request"),
    404: problemDoc("account_not_found, idempotency_key_not_found"),
  },
});
