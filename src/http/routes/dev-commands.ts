import { optionalBindings } from "../../config/optional-bindings.ts";
import { MAX_JSON_DEPTH } from "../../domain/limits.ts";
import type { Handler } from "hono";
import { DEV_KEY_ALLOWED } from "../../config/dev-key.ts";
import { MAX_COMMAND_MESSAGE_BYTES } from "../../domain/limits.ts";
import { parseStrictJson } from "../../lib/strict-json.ts";
import { overQuota } from "../../transport/quota.ts";
import type { AppEnv } from "../pipeline.ts";
import { readJsonMediaBody } from "../request-body.ts";
import { failureResponse } from "../respond.ts";

/** Where a developer puts a command message on the local queue, as a producer of theirs would. */
export const DEV_COMMANDS_PATH = "/v1/dev/commands";

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * `POST /v1/dev/commands`: sends the body, as JSON text and otherwise
 * unchecked (the consumer checks it, as it would a producer's), to the
 * commands queue, for the caller's own tenant only: a body that is JSON and
 * names another `tenant` is refused (400 invalid_request, field `tenant`),
 * since the queue acts for whichever tenant a message names. It counts once
 * against the tenant's quota, like any request. Only where the development
 * key is allowed; anywhere else the route does not exist.
 */
export const sendDevCommand: Handler<AppEnv> = async (c) => {
  const commands = optionalBindings(c.env).COMMANDS;
  if (c.env.ALLOW_DEV_KEY !== DEV_KEY_ALLOWED || commands === undefined) {
    return failureResponse({ code: "not_found", method: c.req.method, path: DEV_COMMANDS_PATH });
  }
  const read = await readJsonMediaBody(c.req.raw, MAX_COMMAND_MESSAGE_BYTES);
  if (!read.ok) return failureResponse(read.error);
  let text: string;
  try {
    text = UTF8.decode(read.value);
  } catch {
    return failureResponse({ code: "invalid_json", reason: "the body is not UTF-8" });
  }
  const tenant = c.get("tenant");
  const named = namedTenant(text);
  if (named !== undefined && named !== tenant) {
    return failureResponse({
      code: "invalid_request",
      errors: [{ field: "tenant", message: `must be ${JSON.stringify(tenant)}, the tenant of the API key` }],
    });
  }
  if (await overQuota(c.env.RATE_LIMITER, tenant, 1)) return failureResponse({ code: "rate_limited" });
  await commands.send(text, { contentType: "text" });
  return new Response(JSON.stringify({ queued: true }), {
    status: 202,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
};

/**
 * The `tenant` member of a message, read by the consumer's own JSON rules,
 * when it has one (whatever its type); undefined when it has none, or is not
 * JSON the consumer would read (it dead-letters such a message, deciding
 * nothing for any tenant).
 */
function namedTenant(text: string): unknown {
  const parsed = parseStrictJson(text, MAX_JSON_DEPTH);
  if (!parsed.ok) return undefined;
  const message = parsed.value;
  if (message === null || typeof message !== "object" || Array.isArray(message)) return undefined;
  return Object.hasOwn(message, "tenant") ? (message as Record<string, unknown>).tenant : undefined;
}
