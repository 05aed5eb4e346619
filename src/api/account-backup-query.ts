import * as z from "zod/mini";
import { BACKUP_PARTS } from "../domain/backups.ts";
import { MAX_IDEMPOTENCY_KEY_LENGTH, MAX_TENANT_ID_LENGTH, TENANT_ID_PATTERN } from "../domain/limits.ts";
import { ACCOUNT_NAME_PATTERN } from "./schemas.ts";

/**
 * What the operator's backup and restore routes take
 * (src/http/routes/operator-accounts.ts). They are not in the OpenAPI
 * document, which describes the tenants' API.
 */

/** The most rows one backup page holds. */
export const MAX_BACKUP_PAGE_SIZE = 1000;

/** The largest restore step body taken: a chunk of rows as `npm run restore` sends them, with room to spare. */
export const MAX_RESTORE_BODY_BYTES = 32 * 1024 * 1024;

export const OperatorAccountParams = z.strictObject({
  tenant: z
    .string()
    .check(z.regex(TENANT_ID_PATTERN, `must be 1 to ${MAX_TENANT_ID_LENGTH} characters of a-z, 0-9, _ or -`)),
  account: z.string().check(z.regex(new RegExp(ACCOUNT_NAME_PATTERN), "must be an account name")),
  part: z.optional(z.enum(BACKUP_PARTS)),
});

const Count = z.pipe(
  z.string().check(z.regex(/^\d{1,16}$/, "must be a whole number")),
  z.pipe(z.transform(Number), z.int().check(z.minimum(0, "must be at least 0"))),
);

export const BackupQuery = z.strictObject({
  /** keys: a pos; changes: a version; decisions: a key; holds: a hold change's seq; transfers: a seq; refusals: a leg key. */
  after: z.optional(
    z.string().check(z.maxLength(MAX_IDEMPOTENCY_KEY_LENGTH, "must be a pos, a version, a key or a seq")),
  ),
  through: z.optional(Count),
  limit: z.optional(
    z.pipe(
      Count,
      z
        .int()
        .check(
          z.minimum(1, "must be at least 1"),
          z.maximum(MAX_BACKUP_PAGE_SIZE, `must be at most ${MAX_BACKUP_PAGE_SIZE}`),
        ),
    ),
  ),
});
