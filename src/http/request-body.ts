import { MAX_BODY_BYTES } from "../domain/limits.ts";
import { isJsonMediaType } from "../domain/media-type.ts";
import { problem, type Problem } from "../domain/problems.ts";
import { parseStrictJson } from "./strict-json.ts";

/**
 * Reading a request body, in the order the API checks it: size (413),
 * media type (415); then, once the caller has checked the Idempotency-Key,
 * JSON syntax (400 invalid_json).
 */

export type BodyRead = { ok: true; bytes: Uint8Array } | { ok: false; problem: Problem };

/** The body's bytes, once its size and media type have passed. */
export async function readJsonMediaBody(request: Request): Promise<BodyRead> {
  const read = await readBoundedBody(request);
  if (!read.ok) return read;
  const mediaProblem = checkJsonContentType(request.headers.get("content-type"));
  return mediaProblem === null ? read : { ok: false, problem: mediaProblem };
}

/** Reads at most MAX_BODY_BYTES, counting bytes as they arrive: a chunked body has no Content-Length. */
async function readBoundedBody(request: Request): Promise<BodyRead> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) return tooLarge();
  if (request.body === null) return { ok: true, bytes: new Uint8Array(0) };
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel();
      return tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, bytes };
}

function tooLarge(): BodyRead {
  return { ok: false, problem: problem("payload_too_large", `The body may be at most ${MAX_BODY_BYTES} bytes.`) };
}

function checkJsonContentType(header: string | null): Problem | null {
  if (isJsonMediaType(header)) return null;
  return problem("unsupported_media_type", "Send the body as JSON with Content-Type: application/json.");
}

export type JsonBody = { ok: true; value: unknown } | { ok: false; problem: Problem };

export function decodeJsonBody(bytes: Uint8Array): JsonBody {
  if (bytes.byteLength === 0) return invalidJson("the body is empty");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return invalidJson("the body is not UTF-8");
  }
  const parsed = parseStrictJson(text);
  return parsed.ok ? parsed : invalidJson(parsed.reason);
}

function invalidJson(reason: string): JsonBody {
  return { ok: false, problem: problem("invalid_json", `The body is not valid JSON: ${reason}.`) };
}
