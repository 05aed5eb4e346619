/**
 * The id an API key is known by in logs, metrics and the ledger: the first
 * hex characters of its SHA-256 digest. It names the key without revealing
 * it, and an operator finds it in API_KEYS by the digest's prefix.
 */
export const KEY_ID_HEX_LENGTH = 8;

/** What entries and changes record when money was moved by a queue command, which carries no API key. */
export const QUEUE_KEY_ID = "queue";

export function keyIdOf(digestHex: string): string {
  return digestHex.slice(0, KEY_ID_HEX_LENGTH);
}
