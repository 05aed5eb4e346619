import { canonicalJson } from "../lib/canonical-json.ts";
import { sha256Hex } from "../lib/sha256.ts";

/**
 * What makes two requests "the same request" under one Idempotency-Key:
 * the method, the route with its account name, and the canonical body.
 * The query string does not count.
 */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return sha256Hex(`${method.toUpperCase()}\n${path}\n${canonicalJson(body)}`);
}

/**
 * A short digest of each top-level field of a body (FNV-1a, 64 bits, over the
 * field's canonical JSON), stored beside a recorded response so a reused key
 * can be told which fields differ from the original request without storing
 * the request itself. For diagnosis only: the fingerprint above decides.
 */
export function fieldDigests(body: unknown): Record<string, string> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return {};
  return Object.fromEntries(
    Object.keys(body).map((field) => [field, fnv1a64(canonicalJson((body as Record<string, unknown>)[field]))]),
  );
}

/** The top-level fields whose digests differ, sorted; a field present on one side only differs. */
export function differingFields(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): string[] {
  const fields = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...fields].filter((field) => a[field] !== b[field]).sort();
}

const FNV_OFFSET_HIGH = 0xcbf29ce4;
const FNV_OFFSET_LOW = 0x84222325;

/** FNV-1a over UTF-16 code units, 64 bits in two 32-bit halves (the prime is 2^40 + 0x1b3). */
function fnv1a64(text: string): string {
  let high = FNV_OFFSET_HIGH;
  let low = FNV_OFFSET_LOW;
  for (let i = 0; i < text.length; i += 1) {
    low = (low ^ text.charCodeAt(i)) >>> 0;
    // Multiply (high, low) by 0x100000001b3: low * 0x1b3, plus the low word shifted into the high one.
    const lowProduct = low * 0x1b3;
    const carry = Math.floor(lowProduct / 0x100000000);
    high = (Math.imul(high, 0x1b3) + Math.imul(low, 0x100) + carry) >>> 0;
    low = lowProduct >>> 0;
  }
  return high.toString(16).padStart(8, "0") + low.toString(16).padStart(8, "0");
}
