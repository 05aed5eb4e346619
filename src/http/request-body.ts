import { MAX_JSON_DEPTH } from "../domain/limits.ts";
import { MAX_BODY_BYTES } from "../domain/limits.ts";
import { isJsonMediaType } from "../lib/media-type.ts";
import type { FailureOf } from "../domain/problems.ts";
import { err, ok, type Result } from "../lib/result.ts";
import { parseStrictJson } from "../lib/strict-json.ts";

/** Reading a request body: its size (413), its media type (415), its JSON (400 invalid_json). */

export type BodyRead = Result<Uint8Array, FailureOf<"payload_too_large" | "unsupported_media_type">>;

/** The body's bytes, once its size and media type have passed. */
export async function readJsonMediaBody(request: Request, limitBytes = MAX_BODY_BYTES): Promise<BodyRead> {
  const read = await readBoundedBody(request, limitBytes);
  if (!read.ok) return read;
  if (!isJsonMediaType(request.headers.get("content-type"))) return err({ code: "unsupported_media_type" });
  return read;
}

/** Reads at most `limitBytes`, counting bytes as they arrive: a chunked body has no Content-Length. */
async function readBoundedBody(request: Request, limitBytes: number): Promise<BodyRead> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limitBytes) return tooLarge(limitBytes);
  if (request.body === null) return ok(new Uint8Array(0));
  // A declared length within the limit is what the runtime delivers: read it whole.
  if (declared !== null && /^\d+$/.test(declared)) return ok(new Uint8Array(await request.arrayBuffer()));
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limitBytes) {
      await reader.cancel();
      return tooLarge(limitBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return ok(chunks[0] as Uint8Array);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return ok(bytes);
}

function tooLarge(limitBytes: number): BodyRead {
  return err({ code: "payload_too_large", limitBytes });
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function decodeJsonBody(bytes: Uint8Array): Result<unknown, FailureOf<"invalid_json">> {
  if (bytes.byteLength === 0) return invalidJson("the body is empty");
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return invalidJson("the body is not UTF-8");
  }
  const parsed = parseStrictJson(text, MAX_JSON_DEPTH);
  return parsed.ok ? parsed : invalidJson(parsed.error);
}

function invalidJson(reason: string): Result<never, FailureOf<"invalid_json">> {
  return err({ code: "invalid_json", reason });
}
