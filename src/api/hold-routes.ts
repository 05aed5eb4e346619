import { BODY_ERRORS, COMMON, REPLAYED } from "./route-responses.ts";
import type { RouteDef } from "./routes.ts";
import {
  AccountParams,
  CaptureBody,
  Entry,
  Hold,
  HoldBody,
  HoldListSchema,
  HoldParams,
  ListHoldsQuery,
  NoQuery,
  VoidBody,
} from "./schemas.ts";

/** The routes of holds: placed, captured, voided (each keyed, recorded and replayed), listed and read. */

const KEYED_ERRORS = {
  400: {
    description: "Invalid input",
    problems: ["invalid_request", "invalid_json", "idempotency_key_missing", "idempotency_key_invalid"],
  },
  422: { description: "The Idempotency-Key was used with a different request", problems: ["idempotency_key_reused"] },
} as const satisfies Readonly<Record<number, RouteDef["responses"][number]>>;

/** What a capture or a void of a hold that is no longer held answers: recorded, final. */
const NOT_HELD = {
  description: "The hold is no longer held (or the key's decision has expired): recorded, final",
  problems: ["hold_captured", "hold_voided", "hold_expired", "idempotency_key_expired"],
  headers: REPLAYED,
} as const;

const NO_HOLD = {
  description: "No such account or hold",
  problems: ["account_not_found", "hold_not_found"],
  headers: REPLAYED,
} as const;

export const placeHoldRoute = {
  method: "post" as const,
  path: "/v1/accounts/{account}/holds",
  operationId: "createHold",
  tags: ["Holds"],
  summary: "Set funds aside until captured, voided or expired",
  description:
    "Places a hold: its amount is no longer available to charges and holds, though the balance does not move (the account shows `held` and `available`). Funds it cannot cover are declined exactly as a charge is (402, recorded, final). It expires after `expires_in` seconds, and its funds go back. Placing it appends no entry. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer (the hold as placed) and sets nothing more aside.",
  params: AccountParams,
  body: HoldBody,
  idempotencyKey: "required" as const,
  responses: {
    ...COMMON,
    ...BODY_ERRORS,
    ...KEYED_ERRORS,
    201: { description: "The hold, held", schema: Hold, headers: ["Location", ...REPLAYED] },
    402: { description: "Declined", problems: ["insufficient_funds"], headers: REPLAYED },
    409: {
      description: "A decline, or the key's decision has expired",
      problems: ["currency_mismatch", "idempotency_key_expired"],
      headers: REPLAYED,
    },
  },
} as const satisfies RouteDef;

export const captureHoldRoute = {
  method: "post" as const,
  path: "/v1/accounts/{account}/holds/{hold}/captures",
  operationId: "captureHold",
  tags: ["Holds"],
  summary: "Capture all or part of a hold",
  description:
    "Takes at most the held amount (all of it when `amount` is omitted) as one ledger entry of type `capture` that names the hold, and releases the rest. A hold no longer held answers 409 with a code for its state, recorded like any decision. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer and captures nothing more.",
  params: HoldParams,
  body: CaptureBody,
  idempotencyKey: "required" as const,
  responses: {
    ...COMMON,
    ...BODY_ERRORS,
    ...KEYED_ERRORS,
    201: { description: "The capture's ledger entry", schema: Entry, headers: ["Location", ...REPLAYED] },
    404: NO_HOLD,
    409: { ...NOT_HELD, problems: ["capture_exceeds_hold", ...NOT_HELD.problems] },
  },
} as const satisfies RouteDef;

export const voidHoldRoute = {
  method: "post" as const,
  path: "/v1/accounts/{account}/holds/{hold}/voids",
  operationId: "voidHold",
  tags: ["Holds"],
  summary: "Release a hold",
  description:
    "Releases all of a held hold; it appends no entry. The body is a JSON object, `{}`, reserved for options. A hold no longer held answers 409 with a code for its state, recorded like any decision. Needs an Idempotency-Key: a retry with the same key and body replays the recorded answer.",
  params: HoldParams,
  body: VoidBody,
  idempotencyKey: "required" as const,
  responses: {
    ...COMMON,
    ...BODY_ERRORS,
    ...KEYED_ERRORS,
    200: { description: "The hold, now voided", schema: Hold, headers: REPLAYED },
    404: NO_HOLD,
    409: NOT_HELD,
  },
} as const satisfies RouteDef;

export const listHoldsRoute = {
  method: "get",
  path: "/v1/accounts/{account}/holds",
  operationId: "listHolds",
  tags: ["Holds"],
  summary: "List holds, oldest first",
  description:
    "Every hold of the account, each as it is now. Page on with `starting_after` set to the last hold's id while `has_more` is true.",
  params: AccountParams,
  query: ListHoldsQuery,
  idempotencyKey: "none" as const,
  responses: { ...COMMON, 200: { description: "One page of holds", schema: HoldListSchema } },
} as const satisfies RouteDef;

export const getHoldRoute = {
  method: "get",
  path: "/v1/accounts/{account}/holds/{hold}",
  operationId: "getHold",
  tags: ["Holds"],
  summary: "Read a hold as it is now",
  description:
    "The hold with its current state. At `expires` the account's alarm expires a held hold; a request decided or read after `expires` finds it expired even before that.",
  params: HoldParams,
  query: NoQuery,
  idempotencyKey: "none" as const,
  responses: {
    ...COMMON,
    200: { description: "The hold", schema: Hold },
    404: { description: "No such account or hold", problems: ["account_not_found", "hold_not_found"] },
  },
} as const satisfies RouteDef;

export const HOLD_ROUTES: readonly RouteDef[] = [
  placeHoldRoute,
  listHoldsRoute,
  getHoldRoute,
  captureHoldRoute,
  voidHoldRoute,
];
