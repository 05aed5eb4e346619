import type { Context, Handler, Input, Next } from "hono";
import { DeadLetterListQuery, DeadLetterParams } from "../../api/dead-letter-query.ts";
import { validate } from "../../api/validation.ts";
import { failure, type Outcome } from "../../contract/outcome.ts";
import type { FieldError } from "../../domain/field-error.ts";
import { DEFAULT_PAGE_SIZE } from "../../domain/limits.ts";
import type { Failure } from "../../domain/problems.ts";
import { logError, logInfo } from "../../observability/log.ts";
import { deadLetterStore } from "../../transport/dead-letter-client.ts";
import { authenticateOperator } from "../authenticate-operator.ts";
import type { AppContext, AppEnv } from "../pipeline.ts";
import { failureResponse, outcomeResponse, REQUEST_ID_HEADER } from "../respond.ts";

/**
 * The operator's routes: the dead letters the commands queue's consumer
 * kept (src/dead-letters/), listed, inspected, replayed and discarded
 * (docs/operations.md, "Dead letters"). Only a key in OPERATOR_KEYS opens
 * them, never a tenant's. They act for no tenant, count against no quota and
 * are not in the OpenAPI document, which describes the tenants' API.
 */

/** Every operator route starts here; the app authenticates it as the operator's, not a tenant's. */
export const OPERATOR_PATH_PREFIX = "/v1/operator/";

const DEAD_LETTERS_PATH = "/v1/operator/dead-letters";
const DEAD_LETTER_PATH = `${DEAD_LETTERS_PATH}/:id`;

export function isOperatorPath(path: string): boolean {
  return path.startsWith(OPERATOR_PATH_PREFIX);
}

/** Authenticates an operator request with OPERATOR_KEYS: the operator's part of the app's `/v1` middleware. */
export async function authenticateOperatorRequest<P extends string, I extends Input>(
  c: Context<AppEnv, P, I>,
  next: Next,
): Promise<Response | undefined> {
  const auth = authenticateOperator(c.req.header("authorization") ?? null, c.env.OPERATOR_KEYS, c.env.API_KEYS);
  if (!auth.ok) {
    if (auth.error.code === "internal_error") {
      logError("misconfigured", { reason: auth.error.reason ?? null, request_id: c.get("requestId") });
    }
    return failureResponse(auth.error);
  }
  c.set("operator", auth.value.operator);
  c.set("keyId", auth.value.keyId);
  await next();
  return undefined;
}

/** The routes, as [method, path in Hono's form, handler]. */
export function operatorRoutes(): ReadonlyArray<readonly [method: string, path: string, handler: Handler<AppEnv>]> {
  return [
    ["GET", DEAD_LETTERS_PATH, listDeadLetters],
    ["GET", DEAD_LETTER_PATH, getDeadLetter],
    ["DELETE", DEAD_LETTER_PATH, discardDeadLetter],
    ["POST", `${DEAD_LETTER_PATH}/replays`, replayDeadLetter],
  ];
}

/** `GET /v1/operator/dead-letters`: oldest first, filtered by `tenant` or `no_tenant`, `reason` and `replayed`. */
const listDeadLetters: Handler<AppEnv> = (c) =>
  answer(c, "list", null, async () => {
    const query = validate(DeadLetterListQuery, singleValued(c));
    if (!query.ok) return failure({ code: "invalid_request", errors: query.error });
    const { tenant, no_tenant: noTenant, reason, replayed, limit, starting_after: startingAfter } = query.value;
    if (tenant !== undefined && noTenant === true) {
      return invalid({ field: "no_tenant", message: "must not be given with tenant" });
    }
    const listed = await deadLetterStore(c.env).list({
      tenant: noTenant === true ? null : tenant,
      reason,
      replayed,
      limit: limit ?? DEFAULT_PAGE_SIZE,
      startingAfter,
    });
    if (!listed.ok) return invalid({ field: "starting_after", message: "no such dead letter" });
    return json(200, listed.body);
  });

/** `GET /v1/operator/dead-letters/{id}`. */
const getDeadLetter: Handler<AppEnv> = (c) =>
  answer(c, "get", c.req.param("id") ?? null, async () => {
    const id = letterId(c);
    if (!id.ok) return id.outcome;
    const letter = await deadLetterStore(c.env).get(id.value);
    return letter === null ? failure({ code: "dead_letter_not_found", id: id.value }) : json(200, letter);
  });

/**
 * `POST /v1/operator/dead-letters/{id}/replays` (no body): sends the letter's
 * original to the commands queue again, where it is decided like any other
 * message. 202 when it was sent now, 200 (nothing sent) when it had been.
 */
const replayDeadLetter: Handler<AppEnv> = (c) =>
  answer(c, "replay", c.req.param("id") ?? null, async () => {
    const id = letterId(c);
    if (!id.ok) return id.outcome;
    const replay = await deadLetterStore(c.env).replay(id.value, c.get("operator"));
    switch (replay.kind) {
      case "replayed":
        return json(202, replay.body);
      case "already_replayed":
        return json(200, replay.body);
      case "not_replayable":
        return failure({ code: "dead_letter_not_replayable", id: id.value, reason: replay.reason });
      case "not_found":
        return failure({ code: "dead_letter_not_found", id: id.value });
      case "send_failed":
        logError("replayFailed", { request_id: c.get("requestId"), dead_letter_id: id.value, error: replay.error });
        return failure({ code: "internal_error", cause: "unhandled" });
    }
  });

/** `DELETE /v1/operator/dead-letters/{id}`: forgets the letter for good (204). */
const discardDeadLetter: Handler<AppEnv> = (c) =>
  answer(c, "discard", c.req.param("id") ?? null, async () => {
    const id = letterId(c);
    if (!id.ok) return id.outcome;
    const discarded = await deadLetterStore(c.env).discard(id.value);
    return discarded
      ? { status: 204, body: "", replayed: false }
      : failure({ code: "dead_letter_not_found", id: id.value });
  });

/** Runs the route's action, turning a failed store call into a logged 500, logs one `operator` line, and answers. */
async function answer(
  c: AppContext,
  action: string,
  deadLetterId: string | null,
  act: () => Promise<Outcome>,
): Promise<Response> {
  let outcome: Outcome;
  try {
    outcome = await act();
  } catch (error) {
    logError("deadLetterStoreCallFailed", { request_id: c.get("requestId"), error: String(error) });
    outcome = failure({ code: "internal_error", cause: "unhandled" });
  }
  logInfo("operator", {
    request_id: c.get("requestId"),
    operator: c.get("operator"),
    key_id: c.get("keyId"),
    action,
    dead_letter_id: deadLetterId,
    status: outcome.status,
    code: outcome.facts?.code ?? null,
  });
  const headers = { [REQUEST_ID_HEADER]: c.get("requestId") };
  if (outcome.status === 204)
    return new Response(null, { status: 204, headers: { ...headers, "cache-control": "no-store" } });
  return outcomeResponse(outcome, headers);
}

/** A success, its body the store's JSON text as it answered it. */
function json(status: 200 | 202, body: string): Outcome {
  return { status, body, replayed: false, facts: { code: null } };
}

function invalid(error: FieldError): Outcome {
  return failure({ code: "invalid_request", errors: [error] } satisfies Failure);
}

function letterId(c: Context<AppEnv>): { ok: true; value: string } | { ok: false; outcome: Outcome } {
  const params = validate(DeadLetterParams, { id: c.req.param("id") });
  return params.ok
    ? { ok: true, value: params.value.id }
    : { ok: false, outcome: failure({ code: "invalid_request", errors: params.error }) };
}

/** The query, a parameter given twice as its list of values, so it fails validation instead of meaning its first. */
function singleValued(c: AppContext): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(c.req.queries())) {
    query[name] = values.length === 1 ? (values[0] ?? "") : values;
  }
  return query;
}
