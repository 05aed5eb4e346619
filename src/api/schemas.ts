import { z } from "@hono/zod-openapi";
import {
  DEFAULT_PAGE_SIZE,
  MAX_ACCOUNT_NAME_LENGTH,
  MAX_AMOUNT_MINOR,
  MAX_DESCRIPTION_LENGTH,
  MAX_ENTRY_ID_LENGTH,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_PAIRS,
  MAX_METADATA_VALUE_LENGTH,
  MAX_OVERDRAFT_LIMIT_MINOR,
  MAX_PAGE_SIZE,
  MIN_AMOUNT_MINOR,
} from "../domain/limits.ts";
import { keyInvalidReason } from "../domain/idempotency-key.ts";
import { codePointLength } from "../domain/text.ts";

/**
 * The request and response schemas. The routes validate with these and the
 * OpenAPI document is generated from these: one definition for both.
 */

const ACCOUNT_NAME = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ACCOUNT_NAME_LENGTH}}$`);

const AccountName = z
  .string()
  .regex(ACCOUNT_NAME, `must be 1 to ${MAX_ACCOUNT_NAME_LENGTH} characters of A-Z, a-z, 0-9, _ or -`)
  .openapi({ example: "customer_42" });

export const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, "must be a three-letter upper-case currency code")
  .openapi({ example: "USD" });

// Bounds before .int(), so a huge number is reported against our limit, not the safe-integer one.
const AmountMinor = z
  .number()
  .min(MIN_AMOUNT_MINOR)
  .max(MAX_AMOUNT_MINOR)
  .int()
  .openapi({ description: "Integer amount in minor units (e.g. cents).", example: 5000 });

const EntryId = z
  .string()
  .regex(
    new RegExp(`^[\\x21-\\x7e]{1,${MAX_ENTRY_ID_LENGTH}}$`),
    `must be 1 to ${MAX_ENTRY_ID_LENGTH} visible ASCII characters`,
  );

const Description = z
  .string()
  .refine((text) => codePointLength(text) <= MAX_DESCRIPTION_LENGTH, {
    error: `must be at most ${MAX_DESCRIPTION_LENGTH} characters`,
  })
  .openapi({ maxLength: MAX_DESCRIPTION_LENGTH });

const Metadata = z
  .record(z.string(), z.string())
  .superRefine((metadata, ctx) => {
    const keys = Object.keys(metadata);
    if (keys.length > MAX_METADATA_PAIRS) {
      ctx.addIssue({ code: "custom", message: `must have at most ${MAX_METADATA_PAIRS} keys` });
    }
    for (const key of keys) {
      const keyLength = codePointLength(key);
      if (keyLength === 0 || keyLength > MAX_METADATA_KEY_LENGTH) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `key must be 1 to ${MAX_METADATA_KEY_LENGTH} characters`,
        });
      }
      if (codePointLength(metadata[key] as string) > MAX_METADATA_VALUE_LENGTH) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `value must be at most ${MAX_METADATA_VALUE_LENGTH} characters`,
        });
      }
    }
  })
  .openapi({
    description: `Up to ${MAX_METADATA_PAIRS} string pairs; keys up to ${MAX_METADATA_KEY_LENGTH} characters, values up to ${MAX_METADATA_VALUE_LENGTH}.`,
    example: { order: "A-1001" },
  });

export const OpenAccountBody = z
  .strictObject({
    currency: Currency,
    overdraft_limit: z.number().min(0).max(MAX_OVERDRAFT_LIMIT_MINOR).int().optional().openapi({
      description:
        "How far below zero charges may take the balance, in minor units. Default 0; kept when omitted on an existing account.",
    }),
  })
  .openapi("OpenAccountRequest");

export const MoneyBody = z
  .strictObject({
    amount: AmountMinor,
    currency: Currency,
    description: Description.optional(),
    metadata: Metadata.optional(),
  })
  .openapi("MoneyRequest");

export const RefundBody = z
  .strictObject({
    charge: EntryId.openapi({
      description: "The id of the charge to refund.",
      example: "ch_0123456789abcdef0123456789abcdef",
    }),
    amount: AmountMinor.optional().openapi({ description: "Defaults to the unrefunded rest of the charge." }),
    currency: Currency.optional().openapi({ description: "If given, must be the account's currency." }),
    description: Description.optional(),
    metadata: Metadata.optional(),
  })
  .openapi("RefundRequest");

export const AccountParams = z.object({
  account: AccountName.openapi({ param: { name: "account", in: "path" } }),
});

export const ChargeParams = AccountParams.extend({
  id: EntryId.openapi({ param: { name: "id", in: "path" } }),
});

/**
 * A path segment, percent-decoded strictly. Hono's own decoding keeps a
 * malformed escape as typed (`%ZZ%41` would read as `%ZZA`), so a client's
 * encoding mistake could name some other key; here it is refused instead.
 */
const PercentEncodedSegment = z.string().transform((segment, ctx) => {
  try {
    return decodeURIComponent(segment);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be percent-encoded UTF-8 (write % as %25)" });
    return z.NEVER;
  }
});

export const IdempotencyKeyParams = AccountParams.extend({
  key: PercentEncodedSegment.pipe(
    z.string().superRefine((key, ctx) => {
      const reason = keyInvalidReason(key);
      if (reason !== null) ctx.addIssue({ code: "custom", message: reason });
    }),
  ).openapi({
    param: { name: "key", in: "path" },
    type: "string",
    minLength: 1,
    maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
    description:
      "The Idempotency-Key, percent-encoded (`/` as `%2F`, `%` as `%25`): visible ASCII (0x21-0x7E), never `.` or `..`.",
    example: "order-1001",
  }),
});

const PageSize = z
  .string()
  .regex(/^\d{1,4}$/, `must be an integer from 1 to ${MAX_PAGE_SIZE}`)
  .transform(Number)
  .pipe(z.int().min(1, `must be at least 1`).max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`));

// Strict, as Stripe is: a misspelt parameter is an error, not silently ignored.
export const NoQuery = z.strictObject({});

// Strict, as Stripe is: a misspelt parameter is an error, not silently ignored.
export const ListEntriesQuery = z.strictObject({
  limit: PageSize.optional().openapi({
    param: { name: "limit", in: "query" },
    type: "integer",
    minimum: 1,
    maximum: MAX_PAGE_SIZE,
    default: DEFAULT_PAGE_SIZE,
  }),
  starting_after: EntryId.optional().openapi({
    param: { name: "starting_after", in: "query" },
    description: "An entry id: the page starts after it.",
  }),
});

export type OpenAccountInput = z.infer<typeof OpenAccountBody>;
export type MoneyInput = z.infer<typeof MoneyBody>;
export type RefundInput = z.infer<typeof RefundBody>;

const Created = z
  .string()
  .openapi({ description: "RFC 3339 UTC timestamp with milliseconds.", example: "2026-11-26T16:03:36.123Z" });
const SignedMinor = z.int().openapi({ description: "Signed integer in minor units." });

export const Account = z
  .object({
    id: AccountName,
    currency: Currency,
    balance: SignedMinor,
    overdraft_limit: z.int(),
    entry_count: z.int(),
    created: Created,
  })
  .openapi("Account");

export const Entry = z
  .object({
    id: z.string(),
    seq: z.int().openapi({ description: "Per-account, gapless, from 1." }),
    type: z.enum(["credit", "charge", "refund"]),
    amount: SignedMinor.openapi({ description: "Credits and refunds positive, charges negative." }),
    currency: Currency,
    balance_after: SignedMinor,
    created: Created,
    idempotency_key: z.string(),
    charge: z.string().nullable().openapi({ description: "For a refund, the charge it refunds." }),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
  })
  .openapi("Entry");

export const Charge = z
  .object({
    id: z.string(),
    amount: z.int().openapi({ description: "Positive; the ledger entry holds -amount." }),
    currency: Currency,
    amount_refunded: z.int(),
    balance_after: SignedMinor,
    created: Created,
    idempotency_key: z.string(),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
  })
  .openapi("Charge");

export const Refund = z
  .object({
    id: z.string(),
    charge: z.string(),
    amount: z.int(),
    currency: Currency,
    balance_after: SignedMinor,
    created: Created,
    idempotency_key: z.string(),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
  })
  .openapi("Refund");

export const EntryList = z.object({ data: z.array(Entry), has_more: z.boolean() }).openapi("EntryList");

export const IdempotencyKeyLookup = z
  .object({
    key: z.string(),
    state: z.enum(["recorded", "expired"]).openapi({
      description:
        "recorded: a live record holds the response. expired: the record is gone, but the key created a ledger entry.",
    }),
    created: Created.nullable().openapi({ description: "When the record was made; null when expired." }),
    expires: Created.nullable().openapi({ description: "When the record expires; null when expired." }),
    response: z
      .object({
        status: z.int(),
        body: z.record(z.string(), z.unknown()).openapi({
          description: "The recorded response body, parsed: the Entry, Charge or Refund, or the Problem of a decline.",
        }),
      })
      .nullable()
      .openapi({ description: "The recorded response; null when expired." }),
    // A union rather than .nullable(): the generator renders a nullable reference as an allOf no null can satisfy.
    entry: z
      .union([Entry, z.null()])
      .openapi({ description: "The entry the key created; null if none (e.g. a decline)." }),
  })
  .openapi("IdempotencyKeyLookup");

export const ProblemDocument = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().openapi({ description: "Stable machine-readable code." }),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    entry: z.string().optional().openapi({ description: "With idempotency_key_expired: the entry the key created." }),
  })
  .openapi("Problem");

export type AccountView = z.infer<typeof Account>;
export type EntryView = z.infer<typeof Entry>;
export type ChargeView = z.infer<typeof Charge>;
export type RefundView = z.infer<typeof Refund>;
export type IdempotencyKeyLookupView = z.infer<typeof IdempotencyKeyLookup>;
