import type { Handler } from "hono";
import { DEV_KEY_ALLOWED } from "../../domain/dev-key.ts";
import { MAX_COMMAND_MESSAGE_BYTES } from "../../domain/limits.ts";
import type { AppEnv } from "../pipeline.ts";
import { readJsonMediaBody } from "../request-body.ts";
import { failureResponse } from "../respond.ts";

/** Where a developer puts a command message on the local queue, as a producer of theirs would. */
export const DEV_COMMANDS_PATH = "/v1/dev/commands";

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * `POST /v1/dev/commands`: sends the body, as JSON text and unchecked (the
 * consumer checks it, as it would a producer's), to the commands queue.
 * Only where the development key is allowed; anywhere else the route does
 * not exist.
 */
export const sendDevCommand: Handler<AppEnv> = async (c) => {
  const commands = c.env.COMMANDS as Queue | undefined;
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
  await commands.send(text, { contentType: "text" });
  return new Response(JSON.stringify({ queued: true }), {
    status: 202,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
};
