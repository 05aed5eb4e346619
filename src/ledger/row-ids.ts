/**
 * Ids of rows the API names (entries, holds) from schema 7 on: a prefix, 12
 * hex of a random tag and the row's seq in 20 hex. The seq inside makes a
 * row found without an index of its own; the tag keeps ids unguessable from
 * their seq.
 */
const TAG_HEX = 12;
const SEQ_HEX = 20;
const ROW_ID = /^([a-z]{2})_([0-9a-f]{12})([0-9a-f]{20})$/;

export function formatRowId(prefix: string, tag: number, seq: number): string {
  return `${prefix}_${hexPadded(tag, TAG_HEX)}${hexPadded(seq, SEQ_HEX)}`;
}

/** The prefix, tag and seq an id of this form carries; null for any other string. */
export function parseRowId(id: string): { prefix: string; tag: number; seq: number } | null {
  const match = ROW_ID.exec(id);
  if (match === null) return null;
  const seq = Number.parseInt(match[3] as string, 16);
  if (!Number.isSafeInteger(seq) || seq < 1) return null;
  return { prefix: match[1] as string, tag: Number.parseInt(match[2] as string, 16), seq };
}

/**
 * A non-negative safe integer as lower-case hex, zero-padded to `width`. Above
 * 2^31 it is written in two halves: the runtime writes a small integer in
 * hex quickly and a larger one (a tag is 48 bits) slowly, as a double.
 */
function hexPadded(value: number, width: number): string {
  if (value < 0x80000000) return value.toString(16).padStart(width, "0");
  const high = Math.floor(value / 0x1000000);
  const low = value - high * 0x1000000;
  return `${high.toString(16)}${low.toString(16).padStart(6, "0")}`.padStart(width, "0");
}

/** Random bytes drawn a few hundred tags at a time: a batch's entries need not call the runtime each. */
const tagBytes = new Uint8Array((TAG_HEX / 2) * 256);
let tagBytesAt = tagBytes.length;

export function randomTag(): number {
  if (tagBytesAt + TAG_HEX / 2 > tagBytes.length) {
    crypto.getRandomValues(tagBytes);
    tagBytesAt = 0;
  }
  let tag = 0;
  for (let i = 0; i < TAG_HEX / 2; i += 1) tag = tag * 256 + (tagBytes[tagBytesAt + i] as number);
  tagBytesAt += TAG_HEX / 2;
  return tag;
}
