import * as z from "zod/mini";
import {
  MONEY_OPERATIONS,
  type BatchOperation,
  type CaptureInput,
  type HoldInput,
  type TransferInput,
  type MoneyInput,
  type OpenAccountInput,
  type RefundInput,
} from "../domain/commands.ts";
import { ENTRY_TYPES } from "../domain/entry-types.ts";
import { IDEMPOTENCY_KEY_HEADER_PATTERNS, parseLookupKey } from "../domain/idempotency-key.ts";
import {
  MAX_ACCOUNT_NAME_LENGTH,
  MAX_AMOUNT_MINOR,
  MAX_DESCRIPTION_LENGTH,
  MAX_ENTRY_ID_LENGTH,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_PAIRS,
  MAX_METADATA_VALUE_LENGTH,
  MAX_OVERDRAFT_LIMIT_MINOR,
  MAX_BATCH_OPERATIONS,
  MAX_PAGE_SIZE,
  DEFAULT_PAGE_SIZE,
  MIN_AMOUNT_MINOR,
  HOLD_DEFAULT_EXPIRES_IN_SECONDS,
  HOLD_MAX_EXPIRES_IN_SECONDS,
  HOLD_MIN_EXPIRES_IN_SECONDS,
  MAX_TENANT_ID_LENGTH,
  TENANT_ID_PATTERN,
} from "../domain/limits.ts";
import type { ProblemDocument } from "../domain/problems.ts";
import { codePointLength } from "../lib/text.ts";
import type {
  AccountChangeList,
  AccountList,
  AccountView,
  BatchResponse,
  ChargeView,
  EntryList,
  EntryView,
  HoldList,
  HoldView,
  IdempotencyKeyLookupView,
  TransferView,
  PeriodListView,
  PeriodView,
  RefundView,
} from "../domain/views.ts";

/**
 * The request and response schemas (zod/mini). The Worker validates with
 * these, and the OpenAPI document is generated from these at build time:
 * one definition for both. Each schema is checked at compile time against
 * the domain type it describes (bottom of this file). Documentation lives in
 * the global registry; JSON Schema keywords there (maxLength, pattern...)
 * state what a custom check enforces, so the document is as strict as the
 * server, and `jsonSchema` replaces what zod would write.
 */

function doc<S extends z.ZodMiniType>(schema: S, meta: z.core.GlobalMeta): S {
  z.globalRegistry.add(schema, meta);
  return schema;
}

export const ACCOUNT_NAME_PATTERN = `^[A-Za-z0-9_-]{1,${MAX_ACCOUNT_NAME_LENGTH}}$`;
const ENTRY_ID_PATTERN = `^[\\x21-\\x7e]{1,${MAX_ENTRY_ID_LENGTH}}$`;
const CURRENCY_PATTERN = "^[A-Z]{3}$";

const AccountName = doc(
  z
    .string()
    .check(
      z.regex(
        new RegExp(ACCOUNT_NAME_PATTERN),
        `must be 1 to ${MAX_ACCOUNT_NAME_LENGTH} characters of A-Z, a-z, 0-9, _ or -`,
      ),
    ),
  { example: "customer_42" },
);

export const Currency = doc(
  z.string().check(z.regex(new RegExp(CURRENCY_PATTERN), "must be a three-letter upper-case currency code")),
  { description: "ISO 4217 code, upper case.", example: "USD" },
);

/** What a newcomer needs to hear about money: it is whole minor units. */
export const AMOUNT_MESSAGE = "must be an integer amount in minor units, e.g. 1050 for 10.50";

// Bounds before the integer check, so a huge number is reported against our limit, not the safe-integer one.
const AmountMinor = doc(
  z
    .number({ error: AMOUNT_MESSAGE })
    .check(z.minimum(MIN_AMOUNT_MINOR), z.maximum(MAX_AMOUNT_MINOR), z.int({ error: AMOUNT_MESSAGE })),
  {
    type: "integer",
    description: "Integer amount in minor units (e.g. cents).",
    example: 5000,
  },
);

const EntryId = doc(
  z
    .string()
    .check(z.regex(new RegExp(ENTRY_ID_PATTERN), `must be 1 to ${MAX_ENTRY_ID_LENGTH} visible ASCII characters`)),
  {},
);

const Description = doc(
  z.string().check(
    z.refine((text) => codePointLength(text) <= MAX_DESCRIPTION_LENGTH, {
      error: `must be at most ${MAX_DESCRIPTION_LENGTH} characters`,
    }),
  ),
  { maxLength: MAX_DESCRIPTION_LENGTH, description: "Free text, counted in Unicode code points." },
);

const Metadata = doc(
  z.record(z.string(), z.string()).check(
    z.superRefine((metadata, ctx) => {
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
    }),
  ),
  {
    description: `Up to ${MAX_METADATA_PAIRS} string pairs; keys 1 to ${MAX_METADATA_KEY_LENGTH} characters, values up to ${MAX_METADATA_VALUE_LENGTH} (Unicode code points). A key may not be \`__proto__\`.`,
    maxProperties: MAX_METADATA_PAIRS,
    propertyNames: { minLength: 1, maxLength: MAX_METADATA_KEY_LENGTH, not: { const: "__proto__" } },
    additionalProperties: { type: "string", maxLength: MAX_METADATA_VALUE_LENGTH },
    example: { order: "A-1001" },
  },
);

export const OpenAccountBody = doc(
  z.strictObject({
    currency: Currency,
    overdraft_limit: z.optional(
      doc(
        z
          .number({ error: AMOUNT_MESSAGE })
          .check(z.minimum(0), z.maximum(MAX_OVERDRAFT_LIMIT_MINOR), z.int({ error: AMOUNT_MESSAGE })),
        {
          type: "integer",
          description:
            "How far below zero charges may take the balance, in minor units. Default 0; kept when omitted on an existing account.",
        },
      ),
    ),
  }),
  { id: "OpenAccountRequest" },
);

export const MoneyBody = doc(
  z.strictObject({
    amount: AmountMinor,
    currency: Currency,
    description: z.optional(Description),
    metadata: z.optional(Metadata),
  }),
  { id: "MoneyRequest" },
);

export const RefundBody = doc(
  z.strictObject({
    charge: doc(EntryId.clone(), {
      description: "The id of the charge to refund.",
      example: "ch_0123456789abcdef0123456789abcdef",
    }),
    amount: z.optional(doc(AmountMinor.clone(), { description: "Defaults to the unrefunded rest of the charge." })),
    currency: z.optional(doc(Currency.clone(), { description: "If given, must be the account's currency." })),
    description: z.optional(Description),
    metadata: z.optional(Metadata),
  }),
  { id: "RefundRequest" },
);

export const TransferBody = doc(
  z.strictObject({
    to: doc(AccountName.clone(), { description: "The account the money goes to: the tenant's, in the same currency." }),
    amount: AmountMinor,
    currency: Currency,
    description: z.optional(Description),
    metadata: z.optional(Metadata),
  }),
  { id: "TransferRequest" },
);

export const HoldBody = doc(
  z.strictObject({
    amount: AmountMinor,
    currency: Currency,
    expires_in: z.optional(
      doc(
        z
          .number({ error: "must be a whole number of seconds" })
          .check(
            z.minimum(HOLD_MIN_EXPIRES_IN_SECONDS),
            z.maximum(HOLD_MAX_EXPIRES_IN_SECONDS),
            z.int({ error: "must be a whole number of seconds" }),
          ),
        {
          type: "integer",
          description: `Seconds until the hold expires and its funds go back: ${HOLD_MIN_EXPIRES_IN_SECONDS} to ${HOLD_MAX_EXPIRES_IN_SECONDS}, default ${HOLD_DEFAULT_EXPIRES_IN_SECONDS} (7 days).`,
        },
      ),
    ),
    description: z.optional(Description),
    metadata: z.optional(Metadata),
  }),
  { id: "HoldRequest" },
);

export const CaptureBody = doc(
  z.strictObject({
    amount: z.optional(doc(AmountMinor.clone(), { description: "At most the held amount; all of it when omitted." })),
  }),
  { id: "CaptureRequest" },
);

export const VoidBody = doc(z.strictObject({}), {
  id: "VoidRequest",
  description: "Options of the void: none yet, so `{}`. Reserved: an unknown field is refused.",
  example: {},
});

/** The body each entry type's route takes. */
export const MONEY_BODIES = {
  credit: MoneyBody,
  charge: MoneyBody,
  refund: RefundBody,
  transfer: TransferBody,
} as const;

const BatchIdempotencyKey = doc(z.string(), {
  description: `The operation's Idempotency-Key, with the header's rules and forms: 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters, bare or as an RFC 9651 string (\`k1\` and \`"k1"\` are one key).`,
  anyOf: [{ pattern: IDEMPOTENCY_KEY_HEADER_PATTERNS.bare }, { pattern: IDEMPOTENCY_KEY_HEADER_PATTERNS.quoted }],
  example: "order-1001",
});

/**
 * One operation of a batch, for the document and the client's types: the
 * single route's body plus `type` and `idempotency_key`. The server checks
 * each operation on its own (a bad one gets its own 400 and the others run),
 * with the single route's schema and the header's key rules.
 */
export const BatchOperationSchema = doc(
  z.union([
    z.strictObject({
      ...MoneyBody.def.shape,
      type: z.literal("credit"),
      idempotency_key: BatchIdempotencyKey,
    }),
    z.strictObject({
      ...MoneyBody.def.shape,
      type: z.literal("charge"),
      idempotency_key: BatchIdempotencyKey,
    }),
    z.strictObject({
      ...RefundBody.def.shape,
      type: z.literal("refund"),
      idempotency_key: BatchIdempotencyKey,
    }),
    z.strictObject({
      ...TransferBody.def.shape,
      type: z.literal("transfer"),
      idempotency_key: BatchIdempotencyKey,
    }),
  ]),
  { id: "BatchOperation" },
);

/** The batch's envelope; its operations are checked one by one. */
export const BatchBody = doc(
  z.strictObject({
    operations: doc(
      z
        .array(z.unknown())
        .check(
          z.minLength(1, "must list at least one operation"),
          z.maxLength(MAX_BATCH_OPERATIONS, `must list at most ${MAX_BATCH_OPERATIONS} operations`),
        ),
      {
        jsonSchema: {
          type: "array",
          minItems: 1,
          maxItems: MAX_BATCH_OPERATIONS,
          items: { $ref: "#/components/schemas/BatchOperation" },
          description: "Applied in order, in one transaction.",
        },
      },
    ),
  }),
  { id: "BatchRequest" },
);

/**
 * A money command sent over the commands queue: the single route's account,
 * operation (the route), Idempotency-Key and body, and the tenant it acts
 * for. The key and body are then checked exactly as the route checks them.
 */
export const CommandMessageEnvelope = z.strictObject({
  tenant: z
    .string()
    .check(z.regex(TENANT_ID_PATTERN, `must be 1 to ${MAX_TENANT_ID_LENGTH} characters of a-z, 0-9, _ or -`)),
  account: AccountName,
  operation: z.enum(MONEY_OPERATIONS),
  idempotency_key: z.string(),
  request: z.record(z.string(), z.unknown()),
});

export const AccountParams = z.strictObject({ account: AccountName });
export const NoParams = z.strictObject({});

/** Closing a period takes no options yet: `{}`, so that options can be added without a new route. */
export const ClosePeriodBody = doc(z.strictObject({}), {
  id: "ClosePeriodRequest",
  description: "Options of the close: none yet, so `{}`. Reserved: an unknown field is refused.",
  example: {},
});

export const ChargeParams = z.strictObject({
  account: AccountName,
  id: doc(EntryId.clone(), {
    description: "A charge id.",
    // URLs resolve `.` and `..` as path segments, so no request can name them here.
    pattern: `^(?!\\.{1,2}$)[\\x21-\\x7e]{1,${MAX_ENTRY_ID_LENGTH}}$`,
  }),
});

export const TransferParams = z.strictObject({
  account: AccountName,
  transfer: doc(EntryId.clone(), {
    description: "A transfer id.",
    pattern: `^(?!\\.{1,2}$)[\\x21-\\x7e]{1,${MAX_ENTRY_ID_LENGTH}}$`,
  }),
});

export const HoldParams = z.strictObject({
  account: AccountName,
  hold: doc(EntryId.clone(), {
    description: "A hold id.",
    pattern: `^(?!\\.{1,2}$)[\\x21-\\x7e]{1,${MAX_ENTRY_ID_LENGTH}}$`,
  }),
});

/** The largest period id the API reads: 15 digits, well inside the safe integers. */
const MAX_PERIOD_ID = 999_999_999_999_999;

export const PeriodParams = z.strictObject({
  account: AccountName,
  id: doc(
    z.pipe(
      z.string().check(z.regex(/^[1-9]\d{0,14}$/, "must be a period id: a positive integer, without leading zeros")),
      z.transform(Number),
    ),
    {
      jsonSchema: {
        type: "integer",
        minimum: 1,
        maximum: MAX_PERIOD_ID,
        description: "A period id: periods are numbered 1, 2, 3... in the order they were closed.",
        example: 1,
      },
    },
  ),
});

/**
 * A path segment, percent-decoded strictly. Hono's own decoding keeps a
 * malformed escape as typed (`%ZZ%41` would read as `%ZZA`), so a client's
 * encoding mistake could name some other key; here it is refused instead.
 */
const PercentEncodedSegment = z.pipe(
  z.string(),
  z.transform((segment: string, ctx) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      ctx.issues.push({ code: "custom", message: "must be percent-encoded UTF-8 (write % as %25)", input: segment });
      return z.NEVER;
    }
  }),
);

export const IdempotencyKeyParams = z.strictObject({
  account: AccountName,
  key: doc(
    z.pipe(
      PercentEncodedSegment,
      // Then read as the Idempotency-Key header is: `"order-1001"` is the key order-1001.
      z.transform((segment: string, ctx) => {
        const key = parseLookupKey(segment);
        if (key.ok) return key.value;
        ctx.issues.push({ code: "custom", message: key.error, input: segment });
        return z.NEVER;
      }),
    ),
    {
      type: "string",
      minLength: 1,
      maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
      pattern: `^(?!\\.{1,2}$)[\\x21-\\x7e]{1,${MAX_IDEMPOTENCY_KEY_LENGTH}}$`,
      description:
        "The Idempotency-Key: visible ASCII (0x21-0x7E), never `.` or `..`. Percent-encode it in the path as any path parameter (`/` as `%2F`, `%` as `%25`); the server decodes it strictly and refuses a malformed escape.",
      example: "order-1001",
    },
  ),
});

/** `limit` of every listing, the operator's dead letters too (src/api/dead-letter-query.ts). */
export const PageSize = doc(
  z.pipe(
    z.string().check(z.regex(/^\d{1,4}$/, `must be an integer from 1 to ${MAX_PAGE_SIZE}`)),
    z.pipe(
      z.transform(Number),
      z.int().check(z.minimum(1, "must be at least 1"), z.maximum(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`)),
    ),
  ),
  { jsonSchema: { type: "integer", minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE } },
);

// Strict, as Stripe is: a misspelt parameter is an error, not silently ignored.
export const NoQuery = z.strictObject({});

export const ListEntriesQuery = z.strictObject({
  limit: z.optional(PageSize),
  starting_after: z.optional(doc(EntryId.clone(), { description: "An entry id: the page starts after it." })),
});

export const ListHoldsQuery = z.strictObject({
  limit: z.optional(PageSize),
  starting_after: z.optional(doc(EntryId.clone(), { description: "A hold id: the page starts after it." })),
});

export const ListAccountsQuery = z.strictObject({
  limit: z.optional(PageSize),
  starting_after: z.optional(doc(AccountName.clone(), { description: "An account id: the page starts after it." })),
});

const VersionCursor = doc(
  z.pipe(z.string().check(z.regex(/^\d{1,15}$/, "must be a version number")), z.transform(Number)),
  { jsonSchema: { type: "integer", minimum: 0, description: "A version: the page starts after it." } },
);

export const ListChangesQuery = z.strictObject({
  limit: z.optional(PageSize),
  starting_after: z.optional(VersionCursor),
});

const PeriodCursor = doc(z.pipe(z.string().check(z.regex(/^\d{1,15}$/, "must be a period id")), z.transform(Number)), {
  jsonSchema: {
    type: "integer",
    minimum: 0,
    maximum: MAX_PERIOD_ID,
    description: "A period id: the page starts after it.",
  },
});

export const ListPeriodsQuery = z.strictObject({
  limit: z.optional(PageSize),
  starting_after: z.optional(PeriodCursor),
});

const Timestamp = doc(z.string(), {
  format: "date-time",
  description: "RFC 3339 UTC timestamp with milliseconds.",
  example: "2026-11-26T16:03:36.123Z",
});
const SignedMinor = doc(z.int(), { description: "Signed integer in minor units." });
const Count = z.int();
const MetadataOut = doc(z.record(z.string(), z.string()), { maxProperties: MAX_METADATA_PAIRS });

export const Account = doc(
  z.object({
    id: AccountName,
    currency: Currency,
    balance: SignedMinor,
    held: doc(Count.clone(), {
      description: "What held holds set aside: not available to charges and holds, though the balance has not moved.",
    }),
    available: doc(SignedMinor.clone(), {
      description: "What a charge or a hold may take now: balance + overdraft_limit - held.",
    }),
    overdraft_limit: Count,
    entry_count: Count,
    version: doc(z.int(), {
      description: 'Its settings\' version: 1 when opened, one more on each real change; the ETag is "<version>".',
    }),
    created: Timestamp,
    storage_bytes: doc(z.int(), {
      description:
        "Bytes the account's object stores now (its SQLite database), which count against an object's 10 GB. Pages its closed periods free when they leave for the archive are reused, so it grows no further while its load is steady.",
    }),
  }),
  { id: "Account" },
);

const KeyId = doc(z.nullable(z.string()), {
  description:
    'Who made it: the API key\'s id (the first 8 hex characters of the SHA-256 of the key, as `npm run mint-key` prints), or `"queue"` for a command from the commands queue; null for records older than key ids.',
  example: "3f9a0c12",
});

const SettingValue = z.union([z.string(), z.int()]);

export const AccountChange = doc(
  z.object({
    version: doc(z.int(), { description: "The version this change produced." }),
    field: doc(z.string(), { description: "The setting: `currency` (set once, when opened) or `overdraft_limit`." }),
    old: doc(z.nullable(SettingValue), { description: "The value before; null when the account was opened." }),
    new: SettingValue,
    created: Timestamp,
    idempotency_key: doc(z.nullable(z.string()), {
      description: "The Idempotency-Key of the request that made the change, if it sent one.",
    }),
    key_id: KeyId,
  }),
  { id: "AccountChange" },
);

export const AccountListSchema = doc(z.object({ data: z.array(Account), has_more: z.boolean() }), {
  id: "AccountList",
});

export const AccountChangeListSchema = doc(z.object({ data: z.array(AccountChange), has_more: z.boolean() }), {
  id: "AccountChangeList",
});

export const Entry = doc(
  z.object({
    id: z.string(),
    seq: doc(z.int(), { description: "Per-account, gapless, from 1." }),
    type: doc(z.enum(ENTRY_TYPES), {
      description: "More types may be added under /v1: a client must accept a type it does not know.",
    }),
    amount: doc(z.int(), { description: "Credits and refunds positive, charges and captures negative." }),
    currency: Currency,
    balance_after: SignedMinor,
    created: Timestamp,
    idempotency_key: z.string(),
    charge: doc(z.nullable(z.string()), { description: "For a refund, the charge (or capture) it refunds." }),
    description: z.nullable(z.string()),
    metadata: MetadataOut,
    key_id: KeyId,
    hold: z.optional(doc(z.string(), { description: "Only on a capture: the hold it captured." })),
    transfer: z.optional(
      doc(z.string(), { description: "Only on a transfer's legs (`transfer_out`, `transfer_in`): the transfer." }),
    ),
  }),
  { id: "Entry" },
);

export const Hold = doc(
  z.object({
    id: z.string(),
    amount: Count,
    currency: Currency,
    state: doc(z.enum(["held", "captured", "voided", "expired"]), {
      description: "`held` until captured, voided or expired; each of those is final.",
    }),
    captured: doc(Count.clone(), { description: "What its capture took; 0 unless captured. The rest went back." }),
    capture: doc(z.nullable(z.string()), { description: "The capture's entry, once captured." }),
    expires: Timestamp,
    created: Timestamp,
    resolved: doc(z.nullable(Timestamp.clone()), { description: "When it left `held`; null while held." }),
    idempotency_key: z.string(),
    description: z.nullable(z.string()),
    metadata: MetadataOut,
  }),
  { id: "Hold" },
);

export const Transfer = doc(
  z.object({
    id: z.string(),
    from: AccountName,
    to: AccountName,
    amount: Count,
    currency: Currency,
    state: doc(z.enum(["pending", "posted", "voided"]), {
      description: "`pending` until the destination answers for good; then `posted` or `voided`, each final.",
    }),
    reason: doc(z.nullable(z.string()), {
      description:
        "Why it was voided: the problem code the destination answered (e.g. `account_not_found`); null unless voided.",
    }),
    created: Timestamp,
    resolved: doc(z.nullable(Timestamp.clone()), { description: "When it left `pending`; null while pending." }),
    idempotency_key: z.string(),
    description: z.nullable(z.string()),
    metadata: MetadataOut,
  }),
  { id: "Transfer" },
);

export const HoldListSchema = doc(z.object({ data: z.array(Hold), has_more: z.boolean() }), { id: "HoldList" });

export const Charge = doc(
  z.object({
    id: z.string(),
    amount: doc(z.int(), { description: "Positive; the ledger entry holds -amount." }),
    currency: Currency,
    amount_refunded: Count,
    balance_after: SignedMinor,
    created: Timestamp,
    idempotency_key: z.string(),
    description: z.nullable(z.string()),
    metadata: MetadataOut,
  }),
  { id: "Charge" },
);

export const Refund = doc(
  z.object({
    id: z.string(),
    charge: z.string(),
    amount: Count,
    currency: Currency,
    balance_after: SignedMinor,
    created: Timestamp,
    idempotency_key: z.string(),
    description: z.nullable(z.string()),
    metadata: MetadataOut,
  }),
  { id: "Refund" },
);

export const EntryListSchema = doc(z.object({ data: z.array(Entry), has_more: z.boolean() }), { id: "EntryList" });

const Sha256Hex = doc(z.string().check(z.regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits")), {
  description: "A SHA-256 digest, as 64 lowercase hex digits.",
  example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
});

export const PeriodObject = doc(
  z.object({
    name: doc(z.string(), {
      description:
        "The object's key in the archive bucket: `<tenant>/<account>/periods/<id, 10 digits>/<kind>-<n, 6 digits>.jsonl`.",
      example: "acme/customer_42/periods/0000000001/entries-000000.jsonl",
    }),
    kind: doc(z.enum(["entries", "keys"]), {
      description:
        "entries: the period's entries in seq order, one JSON line each, exactly as `GET .../entries` shows them. keys: the keys decided in the period, sorted by key, one JSON line `{key, status, code, entry, decided}` each.",
    }),
    bytes: doc(z.int(), { description: "The object's size in bytes." }),
    sha256: doc(Sha256Hex.clone(), { description: "The SHA-256 of the object's bytes, as 64 lowercase hex digits." }),
  }),
  { id: "PeriodObject" },
);

export const Period = doc(
  z.object({
    id: doc(z.int(), { description: "1, 2, 3... in the order the periods were closed." }),
    first_seq: doc(z.int(), { description: "The seq of its first entry: one after the previous period's last." }),
    last_seq: doc(z.int(), { description: "The seq of its last entry: the latest entry when it was closed." }),
    opening_balance: doc(z.int(), {
      description: "The balance before its first entry (the previous period's closing balance; 0 for the first).",
    }),
    closing_balance: doc(z.int(), { description: "The balance after its last entry." }),
    entry_count: doc(z.int(), { description: "Its entries: last_seq - first_seq + 1." }),
    key_count: doc(z.int(), {
      description: "The Idempotency-Keys decided while it was open, declines and other requests included.",
    }),
    sha256: doc(z.nullable(Sha256Hex.clone()), {
      description:
        "SHA-256, as 64 lowercase hex digits, of `previous_sha256`, then `\n`, then each of its entries in seq order as its JSON exactly as `GET .../entries` serializes it, each followed by `\n`; null while closing.",
    }),
    previous_sha256: doc(
      z.nullable(z.string().check(z.regex(/^(?:[0-9a-f]{64})?$/, "must be empty or 64 lowercase hex digits"))),
      {
        description: "The previous period's `sha256`; the empty string for period 1; null while closing.",
      },
    ),
    objects: doc(z.array(PeriodObject), {
      description: "The archived objects that hold its entries and its keys' decisions; empty while closing.",
    }),
    state: doc(z.enum(["closing", "archived"]), {
      description:
        "closing: closed, and being written to the archive. archived: its objects are written and verified, and `sha256` is set.",
    }),
    created: doc(Timestamp.clone(), { description: "When it was closed." }),
  }),
  { id: "Period" },
);

export const PeriodListSchema = doc(z.object({ data: z.array(Period), has_more: z.boolean() }), {
  id: "PeriodList",
});

export const IdempotencyKeyLookup = doc(
  z.object({
    key: z.string(),
    state: doc(z.enum(["recorded", "expired"]), {
      description:
        "recorded: the response is still stored and a retry replays it. expired: only the decision is kept (for ever); a retry gets 409 idempotency_key_expired.",
    }),
    created: doc(z.nullable(Timestamp), { description: "When the record was made; null when expired." }),
    expires: doc(z.nullable(Timestamp), { description: "When the record expires; null when expired." }),
    response: doc(
      z.nullable(
        z.object({
          status: z.int(),
          body: doc(z.record(z.string(), z.unknown()), {
            description:
              "The recorded response body, parsed: the Entry, Charge or Refund, or the Problem of a decline.",
          }),
        }),
      ),
      { description: "The recorded response; null when expired." },
    ),
    original_status: doc(z.int(), { description: "The status the key's request was answered with." }),
    request_id: doc(z.nullable(z.string()), {
      description:
        "The Request-Id of the request that produced the recorded response, as its response header said; null once expired, or for records older than request ids.",
    }),
    original_code: doc(z.nullable(z.string()), {
      description: "The problem code of a decline; null when the request succeeded.",
    }),
    entry: doc(z.nullable(Entry), { description: "The entry the key created; null if none (e.g. a decline)." }),
  }),
  { id: "IdempotencyKeyLookup" },
);

export const BatchResponseSchema = doc(
  z.object({
    results: z.array(
      z.object({
        status: doc(z.int(), { description: "What the single route would have answered." }),
        replayed: doc(z.boolean(), {
          description: "Whether this is the recorded outcome of an earlier request with the same key.",
        }),
        body: doc(z.record(z.string(), z.unknown()), {
          description: "The single route's body: the Entry, Charge or Refund, or a Problem.",
        }),
      }),
    ),
  }),
  { id: "BatchResponse" },
);

export const ProblemSchema = doc(
  z.looseObject({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: doc(z.string(), { description: "Stable machine-readable code." }),
    errors: z.optional(z.array(z.object({ field: z.string(), message: z.string() }))),
    entry: z.optional(
      doc(z.nullable(z.string()), {
        description: "With idempotency_key_expired: the entry the key created, or null if it moved no money.",
      }),
    ),
    original_status: z.optional(
      doc(z.int(), { description: "With idempotency_key_expired: the status the key's request was answered with." }),
    ),
    original_code: z.optional(
      doc(z.nullable(z.string()), {
        description: "With idempotency_key_expired: the problem code of the decline, or null if it succeeded.",
      }),
    ),
    current_version: z.optional(
      doc(z.nullable(z.int()), {
        description: "With precondition_failed: the account's version now, or null if it does not exist.",
      }),
    ),
    fields: z.optional(
      doc(z.array(z.string()), {
        description: "With idempotency_key_reused: the top-level fields that differ from the original request.",
      }),
    ),
    amount_refundable: z.optional(doc(z.int(), { description: "With refund_exceeds_charge: what is left to refund." })),
  }),
  { id: "Problem" },
);

/** Whether two types are assignable to each other (readonly aside): a schema and the domain type it describes. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

true satisfies Same<z.output<typeof OpenAccountBody>, OpenAccountInput>;
true satisfies Same<z.output<typeof MoneyBody>, MoneyInput>;
true satisfies Same<z.output<typeof RefundBody>, RefundInput>;
true satisfies Same<z.output<typeof Account>, AccountView>;
true satisfies Same<z.output<typeof AccountListSchema>, AccountList>;
true satisfies Same<z.output<typeof AccountChangeListSchema>, AccountChangeList>;
true satisfies Same<z.output<typeof Entry>, EntryView>;
true satisfies Same<z.output<typeof Charge>, ChargeView>;
true satisfies Same<z.output<typeof Refund>, RefundView>;
true satisfies Same<z.output<typeof EntryListSchema>, EntryList>;
true satisfies Same<z.output<typeof HoldBody>, HoldInput>;
true satisfies Same<z.output<typeof TransferBody>, TransferInput>;
true satisfies Same<z.output<typeof Transfer>, TransferView>;
true satisfies Same<z.output<typeof CaptureBody>, Omit<CaptureInput, "hold">>;
true satisfies Same<z.output<typeof Hold>, HoldView>;
true satisfies Same<z.output<typeof HoldListSchema>, HoldList>;
true satisfies Same<z.output<typeof IdempotencyKeyLookup>, IdempotencyKeyLookupView>;
true satisfies Same<z.output<typeof Period>, PeriodView>;
true satisfies Same<z.output<typeof PeriodListSchema>, PeriodListView>;
true satisfies Same<z.output<typeof ProblemSchema>, ProblemDocument>;
true satisfies Same<z.output<typeof BatchOperationSchema>, BatchOperation>;
true satisfies Same<z.output<typeof BatchResponseSchema>, BatchResponse>;
