import type { Context, Handler } from "hono";
import { BackupQuery, MAX_RESTORE_BODY_BYTES, OperatorAccountParams } from "../../api/account-backup-query.ts";
import { validate } from "../../api/validation.ts";
import type { BackupPageRequest, RestoreStep } from "../../contract/backup-records.ts";
import { failure, type Outcome } from "../../contract/outcome.ts";
import { RESTORE_STEPS, type BackupPart } from "../../domain/backups.ts";
import { logError, logInfo } from "../../observability/log.ts";
import { accountStubs, callAccount, type AccountStub } from "../../transport/account-client.ts";
import { placeTenant } from "../../transport/tenant-placement.ts";
import type { AppEnv } from "../pipeline.ts";
import { failureResponse, outcomeResponse, REQUEST_ID_HEADER } from "../respond.ts";

/**
 * The operator's routes into one account object, for `npm run backup` and
 * `npm run restore` (docs/operations.md, "Back up and restore an account"):
 * a backup's reads of what the tenants' API does not show, and a restore's
 * steps into an object that holds no account. Only a key in OPERATOR_KEYS
 * opens them (the app authenticates every `/v1/operator/` path so), and the
 * operator names the tenant in the path. They are not in the OpenAPI
 * document, and count against no tenant's quota.
 */

const ACCOUNT_PATH = "/v1/operator/tenants/:tenant/accounts/:account";

/** The routes, as [method, path in Hono's form, handler]. */
export function operatorAccountRoutes(): ReadonlyArray<
  readonly [method: string, path: string, handler: Handler<AppEnv>]
> {
  return [
    ["GET", `${ACCOUNT_PATH}/backup/:part`, readBackup],
    ["POST", `${ACCOUNT_PATH}/restore`, restoreStep],
  ];
}

/**
 * `GET .../backup/{part}?after=&through=&limit=`: one page of `state` (the
 * cut: account, head, event cursor, holds, where the backup's entries
 * start), `changes` (the settings history with each change's place among
 * the entries), `keys` (the key rows, whole), `decisions` (kept before
 * schema 7), `holds` (every change of a hold's state, with its hold),
 * `transfers` (every transfer out, as it stood at the cut) or `refusals`
 * (the legs refused before the account was opened).
 */
const readBackup: Handler<AppEnv> = (c) =>
  answer(c, "backup", async (target) => {
    const query = validate(BackupQuery, singleValued(c));
    if (!query.ok) return failure({ code: "invalid_request", errors: query.error });
    const part = target.part ?? "state";
    const request: BackupPageRequest = {
      part,
      after: query.value.after,
      through: query.value.through,
      limit: query.value.limit ?? 100,
    };
    const afterName = AFTER_NAMES[part];
    if (afterName !== undefined && request.after !== undefined && !/^\d{1,16}$/.test(request.after)) {
      return failure({ code: "invalid_request", errors: [{ field: "after", message: `must be a ${afterName}` }] });
    }
    return callObject(c, target, (stub) => stub.readBackup(request));
  });

/** What `after` is in each part that pages by a number. */
const AFTER_NAMES: Partial<Record<BackupPart, string>> = {
  keys: "pos",
  changes: "version",
  holds: "hold change's seq",
  transfers: "transfer's seq",
};

/** `POST .../restore` with one RestoreStep as its JSON body (what `npm run restore` sends). */
const restoreStep: Handler<AppEnv> = (c) =>
  answer(c, "restore", async (target) => {
    const text = await c.req.text();
    if (new TextEncoder().encode(text).length > MAX_RESTORE_BODY_BYTES) {
      return failure({ code: "payload_too_large", limitBytes: MAX_RESTORE_BODY_BYTES });
    }
    let step: unknown;
    try {
      step = JSON.parse(text);
    } catch (error) {
      return failure({ code: "invalid_json", reason: String(error) });
    }
    const name = (step as { step?: unknown } | null)?.step;
    if (typeof step !== "object" || step === null || !(RESTORE_STEPS as readonly unknown[]).includes(name)) {
      return failure({
        code: "invalid_request",
        errors: [{ field: "step", message: `must be one of ${RESTORE_STEPS.join(", ")}` }],
      });
    }
    return callObject(c, target, (stub) => stub.restore(step as RestoreStep));
  });

interface Target {
  readonly tenant: string;
  readonly account: string;
  readonly part?: BackupPageRequest["part"] | undefined;
}

/** Calls the account's object where its tenant's accounts live, without pinning a tenant that has none yet. */
async function callObject(
  c: Context<AppEnv>,
  target: Target,
  call: (stub: AccountStub) => Promise<Outcome>,
): Promise<Outcome> {
  const placed = await placeTenant(c.env, target.tenant, false);
  if (!placed.ok) {
    logError("jurisdictionMismatch", { request_id: c.get("requestId"), tenant: target.tenant, ...placed.error });
    return failure({ code: "internal_error", cause: "jurisdiction_mismatch" });
  }
  return callAccount(accountStubs(c.env.ACCOUNTS, target.tenant, target.account, placed.value), call, undefined, {
    context: { request_id: c.get("requestId") },
  });
}

/** Checks the path, runs the action, logs one `operator` line and answers. */
async function answer(
  c: Context<AppEnv>,
  action: "backup" | "restore",
  act: (target: Target) => Promise<Outcome>,
): Promise<Response> {
  // Only the operator's authentication sets `operator`: a tenant's key never reaches an account this way.
  const operator = c.get("operator") as string | undefined;
  if (operator === undefined) return failureResponse({ code: "unauthorized", invalidToken: true, operator: true });
  const params = validate(OperatorAccountParams, c.req.param());
  let outcome: Outcome;
  if (!params.ok) {
    outcome = failure({ code: "invalid_request", errors: params.error });
  } else {
    try {
      outcome = await act(params.value);
    } catch (error) {
      logError("unhandledError", { request_id: c.get("requestId"), error: String(error), stack: null });
      outcome = failure({ code: "internal_error", cause: "unhandled" });
    }
  }
  logInfo("operator", {
    request_id: c.get("requestId"),
    operator,
    key_id: c.get("keyId"),
    action,
    tenant: c.req.param("tenant") ?? null,
    account: c.req.param("account") ?? null,
    status: outcome.status,
    code: outcome.facts?.code ?? null,
  });
  return outcomeResponse(outcome, { [REQUEST_ID_HEADER]: c.get("requestId") });
}

/** The query, a parameter given twice as its list of values, so it fails validation instead of meaning its first. */
function singleValued(c: Context<AppEnv>): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(c.req.queries())) {
    query[name] = values.length === 1 ? (values[0] ?? "") : values;
  }
  return query;
}
