import type { z } from "@hono/zod-openapi";
import { problem, type Problem } from "../domain/problems";

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Validates with a route's schema and names every failing field. */
export function validate<S extends z.ZodType>(schema: S, data: unknown): Validated<z.output<S>> {
  const result = schema.safeParse(data);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, errors: result.error.issues.flatMap(fieldErrors) };
}

function fieldErrors(issue: z.core.$ZodIssue): FieldError[] {
  const at = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({ field: [...at, key].join("."), message: "unknown field" }));
  }
  return [{ field: at.length === 0 ? "body" : at.join("."), message: issue.message }];
}

export function invalidRequest(errors: readonly FieldError[]): Problem {
  const fields = [...new Set(errors.map((error) => error.field))].join(", ");
  return problem("invalid_request", `Invalid fields: ${fields}.`, { errors });
}
