import type * as z from "zod/mini";
import type { FieldError } from "../domain/field-error.ts";
import { err, ok, type Result } from "../domain/result.ts";

/** Validates with a route's schema and names every failing field, in words of our own. */
export function validate<S extends z.ZodMiniType>(schema: S, data: unknown): Result<z.output<S>, FieldError[]> {
  const unsafe = unsafeTextErrors(data, []);
  const result = schema.safeParse(data);
  if (result.success && unsafe.length === 0) return ok(result.data);
  const errors = [...unsafe, ...(result.success ? [] : result.error.issues.flatMap(fieldErrors))];
  // One error a field: later ones (e.g. the safe-integer bound) only restate the first.
  const seen = new Set<string>();
  return err(
    errors.filter((error) => {
      if (seen.has(error.field)) return false;
      seen.add(error.field);
      return true;
    }),
  );
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
