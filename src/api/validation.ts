import type * as z from "zod/mini";
import type { FieldError } from "../domain/field-error.ts";
import { MAX_LISTED_ERRORS } from "../domain/limits.ts";
import { err, ok, type Result } from "../lib/result.ts";

/** Validates with a route's schema and names every failing field, in words of our own. */
export function validate<S extends z.ZodMiniType>(schema: S, data: unknown): Result<z.output<S>, FieldError[]> {
  const unsafe = isSafeText(data) ? [] : unsafeTextErrors(data, []);
  // With each issue's input, a missing field (undefined) is told from one of the wrong type.
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success && unsafe.length === 0) return ok(result.data);
  const errors = [...unsafe, ...(result.success ? [] : result.error.issues.flatMap(fieldErrors))];
  // One error a field (later ones, e.g. the safe-integer bound, only restate the first), found in
  // linear time, and at most MAX_LISTED_ERRORS of them: a body of thousands of bad fields costs little.
  const seen = new Set<string>();
  const listed: FieldError[] = [];
  for (const error of errors) {
    if (seen.has(error.field)) continue;
    seen.add(error.field);
    listed.push(error);
    if (listed.length === MAX_LISTED_ERRORS) break;
  }
  return err(listed);
}

/**
 * Whether unsafeTextErrors below finds nothing, without building a path or
 * an array: the common case, checked first, since a batch walks a thousand
 * operations twice (its envelope, then each operation on its own).
 */
function isSafeText(data: unknown): boolean {
  if (typeof data === "string") return data.isWellFormed();
  if (data === null || typeof data !== "object") return true;
  if (Array.isArray(data)) {
    for (const value of data as unknown[]) if (!isSafeText(value)) return false;
    return true;
  }
  for (const key in data) {
    if (!Object.hasOwn(data, key)) continue;
    if (key === "__proto__" || !key.isWellFormed() || !isSafeText((data as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/**
 * Text that would not survive storage as sent: a "__proto__" key, which the
 * schemas drop from records, and lone surrogates, which SQLite stores as
 * U+FFFD. Both are refused, so what is confirmed is exactly what is stored.
 */
function unsafeTextErrors(data: unknown, at: readonly string[]): FieldError[] {
  const field = (key?: string) => (key === undefined ? at : [...at, key]).join(".") || "body";
  if (typeof data === "string") {
    return data.isWellFormed() ? [] : [{ field: field(), message: "must be well-formed Unicode (no lone surrogates)" }];
  }
  if (data === null || typeof data !== "object") return [];
  return Object.entries(data).flatMap(([key, value]) => {
    if (key === "__proto__") return [{ field: field(key), message: "reserved key" }];
    // Named by its parent: echoing a lone surrogate back would be no help.
    if (!key.isWellFormed()) return [{ field: field(), message: "has a key that is not well-formed Unicode" }];
    return unsafeTextErrors(value, [...at, key]);
  });
}

function fieldErrors(issue: z.core.$ZodIssue): FieldError[] {
  const at = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({ field: [...at, key].join("."), message: "unknown field" }));
  }
  return [{ field: at.length === 0 ? "body" : at.join("."), message: issueMessage(issue) }];
}

/** What zod/mini says when a schema gave no message of its own (it ships no locale). */
const DEFAULT_MESSAGE = "Invalid input";

const TYPE_NAMES: Readonly<Record<string, string>> = {
  int: "an integer",
  number: "a number",
  string: "a string",
  object: "a JSON object",
  array: "a list",
  boolean: "true or false",
};

/** A schema's own message where it gave one, else a plain one from the issue's kind. */
function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return "is required";
      // A schema's own wording (e.g. for amounts) says more than the type's name.
      if (issue.message !== DEFAULT_MESSAGE) return issue.message;
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case "too_small":
      return `must be at least ${String(issue.minimum)}`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(", ")}`;
    default:
      return issue.message;
  }
}
