import { MAX_REQUEST_ID_LENGTH } from "../domain/limits.ts";

/**
 * The Request-Id a response carries and every log line about it names: the
 * caller's X-Request-Id when it is 1 to MAX_REQUEST_ID_LENGTH visible ASCII
 * characters (so it is safe in a header and a log), otherwise a fresh one.
 */
const VISIBLE_ASCII = new RegExp(`^[\\x21-\\x7e]{1,${MAX_REQUEST_ID_LENGTH}}$`);

export function requestIdFrom(header: string | null, generate: () => string = () => crypto.randomUUID()): string {
  return header !== null && VISIBLE_ASCII.test(header) ? header : generate();
}
