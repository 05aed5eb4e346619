import type { z } from "@hono/zod-openapi";
import { problem, type Problem } from "../domain/problems";

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Validates with a route's schema and names every failing field. */
export function validate<S extends z.ZodType>(schema: S, data: unknown): Validated<z.output<S>> {
  const reserved = reservedKeyErrors(data, []);
  const result = schema.safeParse(data);
  if (result.success && reserved.length === 0) return { ok: true, value: result.data };
  return { ok: false, errors: [...reserved, ...(result.success ? [] : result.error.issues.flatMap(fieldErrors))] };
}

/** Zod silently drops a "__proto__" key from records; refuse it rather than store less than was sent. */
function reservedKeyErrors(data: unknown, at: readonly string[]): FieldError[] {
  if (data === null || typeof data !== "object") return [];
  return Object.entries(data).flatMap(([key, value]) =>
    key === "__proto__"
      ? [{ field: [...at, key].join("."), message: "reserved key" }]
      : reservedKeyErrors(value, [...at, key]),
  );
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
