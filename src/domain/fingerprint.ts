import { canonicalJson } from "./canonical-json.ts";
import { bytesToHex } from "./hex.ts";

/**
 * What makes two requests "the same request" under one Idempotency-Key:
 * the method, the route with its account name, and the canonical body.
 * The query string does not count.
 */
export async function requestFingerprint(method: string, path: string, body: unknown): Promise<string> {
  return bytesToHex(await sha256(`${method.toUpperCase()}\n${path}\n${canonicalJson(body)}`));
}

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}
