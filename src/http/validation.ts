import type { z } from "@hono/zod-openapi";
import { problem, type Problem } from "../domain/problems.ts";

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Validates with a route's schema and names every failing field. */
export function validate<S extends z.ZodType>(schema: S, data: unknown): Validated<z.output<S>> {
  const unsafe = unsafeTextErrors(data, []);
  const result = schema.safeParse(data);
  if (result.success && unsafe.length === 0) return { ok: true, value: result.data };
  const errors = [...unsafe, ...(result.success ? [] : result.error.issues.flatMap(fieldErrors))];
  // One error a field: later ones (e.g. zod's own safe-integer bound) only restate the first.
  return { ok: false, errors: errors.filter((error, i) => errors.findIndex((e) => e.field === error.field) === i) };
}

/**
 * Text that would not survive storage as sent: a "__proto__" key, which Zod
 * drops from records, and lone surrogates, which SQLite stores as U+FFFD. Both
 * are refused, so what is confirmed is exactly what is stored.
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
  return [{ field: at.length === 0 ? "body" : at.join("."), message: issue.message }];
}

export function invalidRequest(errors: readonly FieldError[]): Problem {
  const fields = errors.map((error) => error.field).join(", ");
  return problem("invalid_request", `Invalid fields: ${fields}.`, { errors });
}
