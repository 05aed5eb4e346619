import { MAX_IDEMPOTENCY_KEY_LENGTH } from "./limits.ts";
import type { FailureOf } from "./problems.ts";
import { err, ok, type Result } from "../lib/result.ts";

export type KeyParse = Result<string, FailureOf<"idempotency_key_missing" | "idempotency_key_invalid">>;

const KEY_CHARS = /^[\x21-\x7e]+$/;

/**
 * The header's two forms as JSON Schema patterns, for the OpenAPI document:
 * a bare key, and a quoted RFC 9651 string without parameters (the parser
 * also takes and ignores parameters). A unit test checks that the parser
 * accepts what these match.
 */
export const IDEMPOTENCY_KEY_HEADER_PATTERNS = {
  bare: `^(?!\\.{1,2}$)[\\x21\\x23-\\x2B\\x2D-\\x7E]{1,${MAX_IDEMPOTENCY_KEY_LENGTH}}$`,
  quoted: `^"(?!\\.{1,2}")(?:[\\x21\\x23-\\x5B\\x5D-\\x7E]|\\\\["\\\\]){1,${MAX_IDEMPOTENCY_KEY_LENGTH}}"$`,
} as const;

const BARE_FORBIDDEN = /[",]/;
const DOT_SEGMENTS = new Set([".", ".."]);
const HTTP_WHITESPACE_AROUND = /^[ \t]+|[ \t]+$/g;

/**
 * Reads an Idempotency-Key header. A value starting with `"` is an RFC 9651
 * sf-string Item (its parameters are parsed and ignored); any other value is
 * the key as it stands (Stripe's bare form). So `"abc"` and `abc` are one key.
 */
export function parseIdempotencyKey(header: string | null): KeyParse {
  if (header === null) return err({ code: "idempotency_key_missing" });
  // Only HTTP's own whitespace: String.prototype.trim would also strip a form
  // feed or a no-break space, making "\fabc" the key "abc" and replaying its response.
  const value = header.replace(HTTP_WHITESPACE_AROUND, "");
  let key: string | undefined;
  if (value.startsWith('"')) {
    key = parseStructuredStringItem(value);
  } else if (!BARE_FORBIDDEN.test(value)) {
    key = value;
  }
  if (key === undefined) return invalid("it is neither a bare key nor a single RFC 9651 string item");
  const reason = keyInvalidReason(key);
  return reason === null ? ok(key) : invalid(reason);
}

/**
 * Reads a key named in the lookup path, already percent-decoded, as the
 * header reads it: a segment that is one RFC 9651 string item is the key it
 * holds (its parameters ignored), so `"abc"` and `abc` name one key there too.
 * Any other segment is the key as it stands, `"` and `,` included (a path has
 * no list to guard against, and such keys have always been looked up this
 * way). So a key that itself starts with `"` is named by its quoted form, as
 * in the header. Returns the key, or why it cannot be one.
 */
export function parseLookupKey(segment: string): Result<string, string> {
  const key = (segment.startsWith('"') ? parseStructuredStringItem(segment) : undefined) ?? segment;
  const reason = keyInvalidReason(key);
  return reason === null ? ok(key) : err(reason);
}

/**
 * Why `key` cannot be an Idempotency-Key, or null if it can. The one rule for
 * a key, however it arrives: in the header or named in a lookup's path.
 */
export function keyInvalidReason(key: string): string | null {
  if (key.length === 0) return "it is empty";
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) return `it is longer than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`;
  if (!KEY_CHARS.test(key)) return "it may contain only visible ASCII characters (0x21-0x7E)";
  // URLs resolve these as path segments, so the key-lookup endpoint could never name them.
  if (DOT_SEGMENTS.has(key)) return '"." and ".." are reserved';
  return null;
}

function invalid(reason: string): KeyParse {
  return err({ code: "idempotency_key_invalid", reason });
}

/** Returns the string's content, or undefined if `input` is not one sf-string Item. */
function parseStructuredStringItem(input: string): string | undefined {
  const cursor = { input, at: 0 };
  const content = readString(cursor);
  if (content === undefined) return undefined;
  if (!readParameters(cursor)) return undefined;
  return cursor.at === input.length ? content : undefined;
}

interface Cursor {
  readonly input: string;
  at: number;
}

function readString(cursor: Cursor): string | undefined {
  const { input } = cursor;
  if (input[cursor.at] !== '"') return undefined;
  cursor.at += 1;
  let out = "";
  while (cursor.at < input.length) {
    const ch = input[cursor.at] as string;
    cursor.at += 1;
    if (ch === "\\") {
      const next = input[cursor.at];
      if (next !== '"' && next !== "\\") return undefined;
      out += next;
      cursor.at += 1;
    } else if (ch === '"') {
      return out;
    } else {
      const code = ch.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) return undefined;
      out += ch;
    }
  }
  return undefined;
}

const PARAM_KEY = /^[a-z*][a-z0-9_\-.*]*/;
const BARE_ITEM_TOKEN =
  /^(?:[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*|-?\d{1,15}(?:\.\d{1,3})?|\?[01]|@-?\d{1,15}|:[A-Za-z0-9+/=]*:)/;

function readParameters(cursor: Cursor): boolean {
  const { input } = cursor;
  while (input[cursor.at] === ";") {
    cursor.at += 1;
    while (input[cursor.at] === " ") cursor.at += 1;
    const key = PARAM_KEY.exec(input.slice(cursor.at));
    if (key === null) return false;
    cursor.at += key[0].length;
    if (input[cursor.at] !== "=") continue;
    cursor.at += 1;
    if (!readBareItem(cursor)) return false;
  }
  return true;
}

function readBareItem(cursor: Cursor): boolean {
  const { input } = cursor;
  if (input[cursor.at] === '"') return readString(cursor) !== undefined;
  if (input.startsWith('%"', cursor.at)) {
    cursor.at += 1;
    return readString(cursor) !== undefined;
  }
  const item = BARE_ITEM_TOKEN.exec(input.slice(cursor.at));
  if (item === null) return false;
  cursor.at += item[0].length;
  return true;
}
