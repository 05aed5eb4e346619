/**
 * The `msg` of the structured log lines that tools read back (the benchmark
 * counts requests and sweep runs by them), named once.
 */

/** One line per API request (src/http/pipeline.ts). */
export const REQUEST_LOG_MSG = "request";
/** One line per alarm run of an account object: the expiry sweep and event publication. */
export const ALARM_LOG_MSG = "alarm";
