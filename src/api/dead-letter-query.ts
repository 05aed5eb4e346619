import * as z from "zod/mini";
import { DEAD_LETTER_REASONS } from "../domain/dead-letters.ts";
import { MAX_DEAD_LETTER_ID_LENGTH, MAX_TENANT_ID_LENGTH, TENANT_ID_PATTERN } from "../domain/limits.ts";
import { PageSize } from "./schemas.ts";

/**
 * What the operator's dead-letter routes take (src/http/routes/operator-dead-letters.ts).
 * They are not in the OpenAPI document, which describes the tenants' API.
 */

const LetterId = z
  .string()
  .check(
    z.regex(
      new RegExp(`^[\\x21-\\x7e]{1,${MAX_DEAD_LETTER_ID_LENGTH}}$`),
      `must be a dead letter's id: 1 to ${MAX_DEAD_LETTER_ID_LENGTH} visible ASCII characters`,
    ),
  );

const Flag = z.pipe(
  z.enum(["true", "false"]),
  z.transform((value) => value === "true"),
);

export const DeadLetterParams = z.strictObject({ id: LetterId });

/** `tenant` and `no_tenant=true` exclude each other (the route says so). */
export const DeadLetterListQuery = z.strictObject({
  tenant: z.optional(
    z.string().check(z.regex(TENANT_ID_PATTERN, `must be 1 to ${MAX_TENANT_ID_LENGTH} characters of a-z, 0-9, _ or -`)),
  ),
  /** Only the letters of no known tenant. */
  no_tenant: z.optional(Flag),
  reason: z.optional(z.enum(DEAD_LETTER_REASONS)),
  replayed: z.optional(Flag),
  limit: z.optional(PageSize),
  starting_after: z.optional(LetterId),
});
