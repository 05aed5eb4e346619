import { err, ok, type Result } from "../lib/result.ts";

/**
 * An If-Match header (RFC 9110): `*`, or a list of entity-tags. An account's
 * ETag is its version as a strong tag, `"3"`; If-Match compares strongly, so
 * a weak tag, or one that is not a version, matches nothing.
 */
export type IfMatch = { readonly any: true } | { readonly any: false; readonly versions: readonly number[] };

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;
const VERSION = /^[1-9]\d{0,14}$/;

/** Null when there is no header; an error (why) when it is not a valid If-Match. */
export function parseIfMatch(header: string | null): Result<IfMatch | null, string> {
  if (header === null) return ok(null);
  const value = header.trim();
  if (value === "*") return ok({ any: true });
  const versions: number[] = [];
  for (const part of value.split(",")) {
    const tag = ENTITY_TAG.exec(part.trim());
    if (tag === null) return err('must be * or a list of entity-tags like "3"');
    const [, weak, opaque] = tag;
    if (weak === undefined && opaque !== undefined && VERSION.test(opaque)) versions.push(Number(opaque));
  }
  return ok({ any: false, versions });
}

/** Whether an account at `version` (null: it does not exist) satisfies the condition. */
export function ifMatchHolds(condition: IfMatch, version: number | null): boolean {
  if (version === null) return false;
  return condition.any || condition.versions.includes(version);
}

export function etagOf(version: number): string {
  return `"${version}"`;
}
