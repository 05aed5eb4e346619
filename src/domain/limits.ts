/**
 * Every bound OnceLedger enforces, named once. Money is in integer minor
 * units (cents for USD); every sum stays far below 2^53, where SQLite and
 * JavaScript numbers would silently round.
 */

/** Largest request body, counted in bytes as they arrive. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Deepest JSON nesting a body may have. */
export const MAX_JSON_DEPTH = 16;
/** Field errors one 400 lists at most; a body with more bad fields is told about the first ones. */
export const MAX_LISTED_ERRORS = 50;

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** Longest X-Request-Id taken from a caller; a longer or unprintable one is replaced by a generated id. */
export const MAX_REQUEST_ID_LENGTH = 128;
/** Hex characters of an Idempotency-Key's SHA-256 that logs show instead of the key. */
export const IDEMPOTENCY_KEY_HASH_HEX_LENGTH = 12;

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
/** Valid API keys a Worker instance remembers, so it need not hash them on every request. */
export const MAX_CACHED_API_KEYS = 1000;
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
export const EXPIRY_SWEEP_BATCH_SIZE = 100;
/** A hold's `expires_in`: at least a minute, at most 30 days, 7 days (a card authorization's usual life) when omitted. */
export const HOLD_MIN_EXPIRES_IN_SECONDS = 60;
export const HOLD_MAX_EXPIRES_IN_SECONDS = 30 * 86_400;
export const HOLD_DEFAULT_EXPIRES_IN_SECONDS = 7 * 86_400;
/** Pending transfers one alarm run delivers, all at once; the next run takes the rest. */
export const TRANSFER_DELIVERIES_PER_ALARM = 100;
/** After a delivery that got no final answer, the next waits this long, doubling per attempt up to the most. */
export const TRANSFER_RETRY_BASE_MS = 1_000;
export const TRANSFER_RETRY_MAX_MS = 60_000;
/** Holds one expiry step releases (a group commit's, or an alarm run's); the next step takes the rest. */
export const HOLD_EXPIRY_BATCH_SIZE = 100;
/** Hold changes (each with its hold) one restore step writes at most, in one transaction; `npm run restore` sends 500. */
export const MAX_RESTORE_HOLD_CHANGES_PER_STEP = 1000;
/** Transfers, or refused transfer legs, one restore step writes at most, in one transaction; `npm run restore` sends 500. */
export const MAX_RESTORE_TRANSFERS_PER_STEP = 1000;
/** Entries a ledger audit reads per query. */
export const AUDIT_PAGE_SIZE = 1000;

/** Operations in one batch request. */
export const MAX_BATCH_OPERATIONS = 1000;
/** Largest batch request body, counted in bytes as they arrive. */
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;

/** Operations one account object decides in one storage transaction (group commit) before starting another. */
export const MAX_GROUP_OPERATIONS = 1000;
/** Writes that may wait for an account object's next commit; more are refused as overloaded. */
export const MAX_PENDING_WRITES = 5000;
/** Operations those waiting writes may hold (a batch holds one per operation); more are refused as overloaded. */
export const MAX_PENDING_OPERATIONS = 10_000;
/**
 * Bytes those waiting writes may hold, each request counted as the UTF-8
 * length of its JSON; a write that would take them over is refused as
 * overloaded. Room for several of the largest batches (a 1 MiB body and
 * the fields the Worker adds to each operation).
 */
export const MAX_PENDING_WRITE_BYTES = 8 * 1024 * 1024;

/** Messages (events, results) one queue send carries at most, under the platform's own limits of 100 and 256 KB. */
export const MAX_MESSAGES_PER_SEND = 100;
/** UTF-8 bytes of message bodies one send carries at most: under the platform's 256 KB, leaving room for its own metadata on each message. */
export const MAX_SEND_BATCH_BYTES = 200 * 1024;
/** Largest command message: the money route's body and room for the envelope around it. */
export const MAX_COMMAND_MESSAGE_BYTES = MAX_BODY_BYTES + 1024;
/** Backoff for a command the ledger could not decide (object unavailable or overloaded, account not open yet): doubling from the base, capped. */
export const COMMAND_RETRY_BASE_DELAY_SECONDS = 2;
export const COMMAND_RETRY_MAX_DELAY_SECONDS = 300;
/**
 * Redeliveries of a command before the platform would dead-letter it raw: the consumer dead-letters
 * it itself, with its reason, on the delivery after the last retry. Must equal `max_retries` in
 * wrangler.toml (a test checks). A command held back by quota is sent again as a new message, so
 * waiting for quota spends none of these.
 */
export const COMMAND_MAX_RETRIES = 10;
/** Sends one alarm run makes before it hands the rest to the next run. */
export const MAX_EVENT_SENDS_PER_ALARM = 10;
/** How long new events wait before the alarm publishes them, so that one send carries many. */
export const EVENT_PUBLISH_DELAY_MS = 200;
/** How long a failed publication waits before the alarm tries again. */
export const EVENT_RETRY_DELAY_MS = 5_000;
/**
 * An alarm run under way for longer than this no longer holds the next run back: workerd can cancel
 * a running handler at a timer it awaits (a test running the alarm by hand while the runtime runs it
 * too), and such a run never ends. Well above one run's work: a sweep, a few sends and one archive step.
 */
export const ALARM_RUN_STALE_MS = 30_000;

/** Attempts the Worker makes at one call into an account object. */
export const OBJECT_CALL_MAX_ATTEMPTS = 3;
export const OBJECT_CALL_BACKOFF_MS = 25;
/** Seconds a client is told to wait when an account object is overloaded. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;
/** Seconds a tenant over its quota is told to wait: the rate limiter's period (docs/operations.md configures 10). */
export const RATE_LIMITED_RETRY_AFTER_SECONDS = 10;

/** Origins CORS_ALLOWED_ORIGINS may list. */
export const MAX_CORS_ORIGINS = 20;

/** Longest ledger entry id accepted anywhere (ids we mint are 35 characters). */
export const MAX_ENTRY_ID_LENGTH = 64;

/** 10^k, written as such. */
function tenTo(value: number): string {
  return `10^${Math.round(Math.log10(value))}`;
}

/** The limits as docs/api.md lists them; the table there is generated from this list. */
export const DOCUMENTED_LIMITS: ReadonlyArray<readonly [what: string, limit: string]> = [
  ["body", `${MAX_BODY_BYTES / 1024} KiB (${MAX_BODY_BYTES} bytes), counted as the bytes arrive`],
  ["batch body", `${MAX_BATCH_BODY_BYTES / 1024 / 1024} MiB (${MAX_BATCH_BODY_BYTES} bytes)`],
  ["operations in a batch", `1 to ${MAX_BATCH_OPERATIONS}`],
  ["JSON nesting", `${MAX_JSON_DEPTH} levels`],
  ["field errors listed in one 400", `${MAX_LISTED_ERRORS}`],
  ["amount", `integer ${MIN_AMOUNT_MINOR} to ${tenTo(MAX_AMOUNT_MINOR)}`],
  ["balance", `at most ${tenTo(MAX_BALANCE_MINOR)}; at least \`-overdraft_limit\` for charges`],
  ["`overdraft_limit`", `0 to ${tenTo(MAX_OVERDRAFT_LIMIT_MINOR)}`],
  ["currency", "three upper-case letters"],
  ["account name", `1 to ${MAX_ACCOUNT_NAME_LENGTH} of \`A-Z a-z 0-9 _ -\``],
  ["tenant id", `1 to ${MAX_TENANT_ID_LENGTH} of \`a-z 0-9 _ -\``],
  ["`Idempotency-Key`", `1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters of \`0x21\`-\`0x7E\`, not \`.\` or \`..\``],
  [
    "`X-Request-Id` (echoed as `Request-Id`)",
    `1 to ${MAX_REQUEST_ID_LENGTH} characters of \`0x21\`-\`0x7E\`, else one is generated`,
  ],
  ["API key", `at most ${MAX_API_KEY_LENGTH} characters`],
  ["entry and charge ids", `1 to ${MAX_ENTRY_ID_LENGTH} visible ASCII characters`],
  ["`description`", `${MAX_DESCRIPTION_LENGTH} characters (Unicode code points)`],
  [
    "`metadata`",
    `${MAX_METADATA_PAIRS} string pairs; keys 1 to ${MAX_METADATA_KEY_LENGTH} characters, values up to ${MAX_METADATA_VALUE_LENGTH}`,
  ],
  ["page size", `1 to ${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}`],
  ["CORS origins", `${MAX_CORS_ORIGINS}`],
  [
    "idempotency retention",
    `${MIN_IDEMPOTENCY_TTL_SECONDS} s to ${MAX_IDEMPOTENCY_TTL_SECONDS / 86_400} days, default ${DEFAULT_IDEMPOTENCY_TTL_SECONDS / 3_600} h`,
  ],
  ["expiry sweep", `${EXPIRY_SWEEP_BATCH_SIZE} records per alarm run`],
  [
    "hold `expires_in`",
    `${HOLD_MIN_EXPIRES_IN_SECONDS} s to ${HOLD_MAX_EXPIRES_IN_SECONDS / 86_400} days, default ${HOLD_DEFAULT_EXPIRES_IN_SECONDS / 86_400} days`,
  ],
  ["hold expiry", `${HOLD_EXPIRY_BATCH_SIZE} holds per step (a commit or an alarm run)`],
  ["transfer deliveries", `${TRANSFER_DELIVERIES_PER_ALARM} per alarm run`],
  [
    "transfer delivery retries",
    `${TRANSFER_RETRY_BASE_MS / 1000} s after the first, doubling, at most ${TRANSFER_RETRY_MAX_MS / 1000} s apart`,
  ],
  ["Worker-to-object attempts", `${OBJECT_CALL_MAX_ATTEMPTS}`],
  ["operations decided in one commit (group commit)", `${MAX_GROUP_OPERATIONS}`],
  [
    "writes waiting for an account's next commit",
    `${MAX_PENDING_WRITES} writes, ${MAX_PENDING_OPERATIONS} operations and ${MAX_PENDING_WRITE_BYTES / 1024 / 1024} MiB (${MAX_PENDING_WRITE_BYTES} bytes) of requests as UTF-8 JSON, then \`503 overloaded\``,
  ],
  ["command message (queue)", `${MAX_COMMAND_MESSAGE_BYTES} bytes of JSON text`],
  [
    "command retry delay (queue)",
    `${COMMAND_RETRY_BASE_DELAY_SECONDS} s, doubling per attempt, at most ${COMMAND_RETRY_MAX_DELAY_SECONDS} s`,
  ],
  ["command retries (queue)", `${COMMAND_MAX_RETRIES}, then dead-lettered with its reason`],
];

/**
 * The dead-letter store (src/dead-letters/). A letter's `original` is at most MAX_COMMAND_MESSAGE_BYTES
 * (the consumer cuts it there); its `errors`, as JSON, at most this many UTF-8 bytes, whole errors
 * kept from the first. So a letter is at most about 50 KB, and a full store about 5 GB, half of an
 * object's 10 GB.
 */
export const MAX_DEAD_LETTER_ERRORS_BYTES = 32 * 1024;
/** Letters the dead-letter store keeps at once; past it a new letter is only sent to the dead-letter queue (4 days). */
export const MAX_STORED_DEAD_LETTERS = 100_000;
/** Of those, letters one tenant may hold (letters of no known tenant count as one tenant), so none crowds out the rest. */
export const MAX_STORED_DEAD_LETTERS_PER_TENANT = 10_000;
/** Longest dead-letter id (a queue message id; the platform's are 32 hex characters) an operator route accepts. */
export const MAX_DEAD_LETTER_ID_LENGTH = 128;

/**
 * Periods (docs/storage.md). The automatic policy closes the open period once its oldest entry
 * is this old (the account's opening for its first period), or once it holds this many entries;
 * settings PERIOD_CLOSE_AFTER_SECONDS and PERIOD_CLOSE_AT_ENTRIES override them.
 */
export const DEFAULT_PERIOD_CLOSE_AFTER_SECONDS = 86_400;
export const DEFAULT_PERIOD_CLOSE_AT_ENTRIES = 1_000_000;
/** The policy's bounds: a period shorter than the key-time window would blur which period a timed key is in. */
export const MIN_PERIOD_CLOSE_AFTER_SECONDS = 3_600;
export const MIN_PERIOD_CLOSE_AT_ENTRIES = 1_000;
export const MAX_PERIOD_CLOSE_AT_ENTRIES = 10_000_000;
/** One archived object holds at most this many entries, or keys, and at most this many bytes of JSON lines. */
export const ARCHIVE_ROWS_PER_OBJECT = 10_000;
export const ARCHIVE_OBJECT_MAX_BYTES = 8_000_000;
/**
 * An archive step's work between two yields to the object's other requests: rows read and
 * written as lines, index entries of `keys` walked (or keys sorted by the filter), and bytes
 * hashed, put or read back. A charge that arrives during a slice waits for it on the object's one
 * thread: at 500 rows, 500 keys and 256 KiB a close of 100,000 entries kept charges' p99 at 3.6-7.8
 * times its value without one (the bench), at these sizes under 2 times.
 */
export const ARCHIVE_ROWS_PER_SLICE = 50;
export const ARCHIVE_KEYS_WALKED_PER_SLICE = 50;
export const ARCHIVE_BYTES_PER_SLICE = 32 * 1024;
/** A period of at most this many entries and keys is archived without yielding: a step of it is a few slices' work. */
export const ARCHIVE_SLICED_FROM_ROWS = 2_500;
/** Rows of an archived period deleted from the object per alarm step. */
export const PRUNE_ROWS_PER_STEP = 10_000;
/** Keys of a closing period sorted per alarm step into timed ones and the rest, which are staged for the locator. */
export const FILTER_KEYS_PER_STEP = 5_000;
/**
 * The locator of archived untimed keys (src/ledger/key-locator.ts). A run's bucket holds about
 * LOCATOR_KEYS_PER_BUCKET hashes, each cut so a key never archived matches it with probability
 * about 2^-LOCATOR_MATCH_BITS (0.1%; the largest run 2^-LOCATOR_MATCH_BITS_LARGEST); a bucket is one row of at most about 700 bytes, in a table
 * with a rowid, so SQLite's 4 KB pages stay nearly full (rows of a kilobyte or more in a table
 * without one spilled to overflow pages: 4.8 bytes a key instead of 1.4, measured).
 * LOCATOR_BUCKETS_PER_OBJECT buckets make one R2 object (about 100 KB). The two smallest
 * runs merge while the larger holds under LOCATOR_MERGE_RATIO times the smaller's keys, so a
 * lookup reads at most about log8(keys / smallest period) + 1 runs.
 */
export const LOCATOR_KEYS_PER_BUCKET = 512;
export const LOCATOR_MATCH_BITS = 10;
/** The run that holds most keys (most of the bytes) keeps fewer bits: about 0.39% false matches. */
export const LOCATOR_MATCH_BITS_LARGEST = 8;
export const LOCATOR_BUCKETS_PER_OBJECT = 16;
export const LOCATOR_MERGE_RATIO = 8;
/** 2^28 buckets: a run of up to about 137 billion keys (a bucket row's id is its run's id x 2^28 + its bucket). */
export const LOCATOR_MAX_BUCKET_BITS = 28;
/** Staged hashes, or a retired run's bucket rows, deleted per alarm step. */
export const LOCATOR_ROWS_PER_STEP = 10_000;
/**
 * A key whose embedded time (UUIDv7, ULID) is at most this long before its first decision, and not
 * after it, is found by time once archived; any other key, by the filter.
 */
export const KEY_TIME_WINDOW_MS = 5 * 60_000;
/** Archived entries kept in the object's memory after an R2 read (a refund of an archived charge, a page). */
export const ARCHIVE_CACHE_OBJECTS = 4;
/** How long the periods' job waits after a failed step (an R2 error) before the alarm tries again. */
export const ARCHIVE_RETRY_DELAY_MS = 10_000;
