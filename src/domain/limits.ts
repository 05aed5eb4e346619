/**
 * Every bound OnceLedger enforces, named once. Money is in integer minor
 * units (cents for USD); every sum stays far below 2^53, where SQLite and
 * JavaScript numbers would silently round.
 */

/** Largest request body, counted in bytes as they arrive. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Deepest JSON nesting a body may have. */
export const MAX_JSON_DEPTH = 16;

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export const MIN_AMOUNT_MINOR = 1;
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;
export const MAX_OVERDRAFT_LIMIT_MINOR = 1_000_000_000_000;
/** No credit or refund may take a balance above this. */
export const MAX_BALANCE_MINOR = 1_000_000_000_000_000;

export const MAX_ACCOUNT_NAME_LENGTH = 64;
export const MAX_TENANT_ID_LENGTH = 64;
export const TENANT_ID_PATTERN = new RegExp(`^[a-z0-9_-]{1,${MAX_TENANT_ID_LENGTH}}$`);
/** Longest bearer token worth hashing; minted keys are 47 characters. */
export const MAX_API_KEY_LENGTH = 256;
export const MAX_DESCRIPTION_LENGTH = 500;
export const MAX_METADATA_PAIRS = 20;
export const MAX_METADATA_KEY_LENGTH = 40;
export const MAX_METADATA_VALUE_LENGTH = 500;

export const DEFAULT_PAGE_SIZE = 10;
export const MAX_PAGE_SIZE = 100;

export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86_400;
export const MIN_IDEMPOTENCY_TTL_SECONDS = 60;
export const MAX_IDEMPOTENCY_TTL_SECONDS = 30 * 86_400;
/** Idempotency records one alarm run deletes at most; it re-arms for the rest. */
export const EXPIRY_SWEEP_BATCH_SIZE = 500;
/** Entries a ledger audit reads per query. */
export const AUDIT_PAGE_SIZE = 1000;

/** Attempts the Worker makes at one call into an account object. */
export const OBJECT_CALL_MAX_ATTEMPTS = 3;
export const OBJECT_CALL_BACKOFF_MS = 25;
/** Seconds a client is told to wait when an account object is overloaded. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;

/** Origins CORS_ALLOWED_ORIGINS may list. */
export const MAX_CORS_ORIGINS = 20;

/** Longest ledger entry id accepted anywhere (ids we mint are 35 characters). */
export const MAX_ENTRY_ID_LENGTH = 64;
