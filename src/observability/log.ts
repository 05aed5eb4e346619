/**
 * The one way OnceLedger writes a log line: one JSON object, its `msg`
 * naming the line's kind. Every kind is named here, once, so the tools that
 * read lines back (the benchmark counts requests and alarm runs by them) and
 * an operator searching the logs find them in one place.
 */
import {
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  MAX_CORS_ORIGINS,
  MAX_IDEMPOTENCY_TTL_SECONDS,
  MIN_IDEMPOTENCY_TTL_SECONDS,
} from "../domain/limits.ts";

export const LOG_LINES = {
  /** One per API request (src/http/pipeline.ts). */
  request: "request",
  /** One per alarm run of an account object: the expiry sweep, event publication, directory listing. */
  alarm: "alarm",
  /** One per queue message the consumer handled, with what it did (`action`). */
  command: "command",
  /** One per operator request (the dead-letter and account backup routes), with what it did (`action`) and who (`operator`, `key_id`). */
  operator: "operator",
  misconfigured: "OnceLedger is misconfigured",
  apiKeysUnusable: "OnceLedger is misconfigured: API_KEYS is unusable",
  corsOff: "CORS is off",
  jurisdictionMismatch: "tenant jurisdiction mismatch",
  cannotPlaceTenant: "cannot place tenant",
  unhandledError: "unhandled error",
  escapedRouter: "request escaped the router",
  objectCallFailed: "account object call failed",
  directoryCallFailed: "directory call failed",
  commandFailed: "command failed",
  commandsUnbound: "COMMANDS is unbound: commands over quota spend their retries",
  resultSendFailed: "result send failed",
  requeueSendFailed: "requeue send failed",
  deadLetterSendFailed: "dead-letter send failed",
  deadLetterStoreFailed: "dead-letter store failed",
  deadLetterNotStored: "dead letter not stored: the store is full",
  deadLetterStoreCallFailed: "dead-letter store call failed",
  replayFailed: "dead-letter replay failed",
  incompatibleWorker: "refused a call from an incompatible Worker",
  directoryListingFailed: "directory listing failed",
  eventsHeld: "events held: tenant unknown",
  eventPublicationFailed: "event publication failed",
  archiveUnbound: "archive bucket not bound: closed periods wait",
  archiveObjectMismatch: "archived object does not match its digest: writing it again",
  archiveStepFailed: "archive step failed: retried by the next alarm",
  transferDeliveryFailed: "transfer leg not delivered: the transfer stays pending and is tried again",
  transferSettleFailed: "transfer not settled: the transfer stays pending and is tried again",
  alarmRunSuperseded:
    "alarm run superseded: it was under way too long and a later run took over; it recorded nothing more",
  restoreRefused: "restore step refused",
} as const;

export type LogLine = keyof typeof LOG_LINES;
type Fields = Readonly<Record<string, unknown>>;

/**
 * What an operator does about a setting the Worker cannot use. A fault line
 * that names one (its `reason` starts with the setting's name, or its kind
 * is about one) also carries `setting` and this `fix`, so the one line says
 * what is wrong and how to put it right. `npm run settings -- check` prints
 * the same fixes before a deploy.
 */
export const SETTING_FIXES = {
  API_KEYS:
    "set the API_KEYS secret to a JSON object of tenant id to lists of lower-case SHA-256 hex key digests: edit it with `npm run settings -- keys`, check a copy with `npm run settings -- check`",
  TENANT_JURISDICTIONS:
    'set TENANT_JURISDICTIONS to a JSON object of tenant id to "eu", "fedramp", "fedramp-high" or "us" that keeps every pinned tenant where it is, or delete it if no tenant is pinned; check a copy with `npm run settings -- check`',
  IDEMPOTENCY_TTL_SECONDS: `set IDEMPOTENCY_TTL_SECONDS to whole seconds from ${MIN_IDEMPOTENCY_TTL_SECONDS} to ${MAX_IDEMPOTENCY_TTL_SECONDS}, or delete it for the default ${DEFAULT_IDEMPOTENCY_TTL_SECONDS}`,
  CORS_ALLOWED_ORIGINS: `set CORS_ALLOWED_ORIGINS to at most ${MAX_CORS_ORIGINS} comma-separated origins like https://admin.example.com, or delete it`,
  OPERATOR_KEYS:
    "set the OPERATOR_KEYS secret to a JSON object of operator name to lists of lower-case SHA-256 hex key digests, none of them in API_KEYS, or delete it for no operator; check a copy with `npm run settings -- check`",
} as const;

type Setting = keyof typeof SETTING_FIXES;

/** The setting a fault line is about, if any. */
function settingOf(line: LogLine, fields: Fields): Setting | undefined {
  if (line === "apiKeysUnusable") return "API_KEYS";
  const named = typeof fields.reason === "string" ? /^[A-Z][A-Z0-9_]*/.exec(fields.reason)?.[0] : undefined;
  return named !== undefined && Object.hasOwn(SETTING_FIXES, named) ? (named as Setting) : undefined;
}

/** A line about what happened as it should. */
export function logInfo(line: LogLine, fields: Fields = {}): void {
  console.log(JSON.stringify({ msg: LOG_LINES[line], ...fields }));
}

/** A line about a fault: something an operator may have to act on. */
export function logError(line: LogLine, fields: Fields = {}): void {
  const setting = settingOf(line, fields);
  const fix = setting === undefined ? {} : { setting, fix: SETTING_FIXES[setting] };
  console.error(JSON.stringify({ msg: LOG_LINES[line], ...fields, ...fix }));
}
