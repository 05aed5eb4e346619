/**
 * The creation time, in Unix milliseconds, that a key carries if it is a
 * UUIDv7 (RFC 9562: its first 48 bits) or a ULID (its first ten Crockford
 * base32 characters), and null for any other key.
 *
 * The time may be false: it is whatever the client's clock said, and means
 * nothing when a key only looks like one of these. Callers may use it to
 * decide where to look first, never as a fact about when anything happened.
 */

// Version nibble 7, variant bits 10 (the first hex digit of the fourth group is 8 to b).
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
// Crockford's alphabet leaves out I, L, O and U; a first character above 7 would not fit 128 bits.
const ULID = /^[0-7][0-9a-hjkmnp-tv-z]{25}$/i;
const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

export function embeddedTimeMs(key: string): number | null {
  if (UUID_V7.test(key)) return Number.parseInt(key.slice(0, 8) + key.slice(9, 13), 16);
  if (!ULID.test(key)) return null;
  let ms = 0;
  // Ten characters of five bits, the first at most 7: 48 bits, exact in a double.
  for (const char of key.slice(0, 10).toLowerCase()) ms = ms * 32 + CROCKFORD.indexOf(char);
  return ms;
}
