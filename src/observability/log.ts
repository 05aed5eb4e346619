/**
 * The one way OnceLedger writes a log line: one JSON object, its `msg`
 * naming the line's kind. Every kind is named here, once, so the tools that
 * read lines back (the benchmark counts requests and alarm runs by them) and
 * an operator searching the logs find them in one place.
 */
export const LOG_LINES = {
  /** One per API request (src/http/pipeline.ts). */
  request: "request",
  /** One per alarm run of an account object: the expiry sweep, event publication, directory listing. */
  alarm: "alarm",
  /** One per queue message the consumer handled, with what it did (`action`). */
  command: "command",
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
  incompatibleWorker: "refused a call from an incompatible Worker",
  directoryListingFailed: "directory listing failed",
  eventsHeld: "events held: tenant unknown",
  eventPublicationFailed: "event publication failed",
} as const;

export type LogLine = keyof typeof LOG_LINES;
type Fields = Readonly<Record<string, unknown>>;

/** A line about what happened as it should. */
export function logInfo(line: LogLine, fields: Fields = {}): void {
  console.log(JSON.stringify({ msg: LOG_LINES[line], ...fields }));
}

/** A line about a fault: something an operator may have to act on. */
export function logError(line: LogLine, fields: Fields = {}): void {
  console.error(JSON.stringify({ msg: LOG_LINES[line], ...fields }));
}
