/**
 * Unsigned LEB128 of non-negative safe integers: seven bits a byte, the low
 * ones first, the high bit set on every byte but the last.
 */

// 2^53 - 1 needs ceil(53 / 7) bytes.
const MAX_BYTES = 8;

export function varintLength(value: number): number {
  checkValue(value);
  let length = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) length += 1;
  return length;
}

/** Writes `value` at `offset` and returns the offset after it; the caller sized `target` with varintLength. */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  checkValue(value);
  let at = offset;
  let rest = value;
  // Division, not shifts: bitwise operators would cut the value to 32 bits.
  while (rest >= 0x80) {
    target[at] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
    at += 1;
  }
  target[at] = rest;
  return at + 1;
}

/** Reads the varint at `offset`; throws a RangeError if it is cut short or above 2^53 - 1. */
export function readVarint(data: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let at = offset; at < offset + MAX_BYTES; at += 1) {
    const byte = data[at];
    if (byte === undefined) throw new RangeError("varint: cut short");
    value += (byte & 0x7f) * scale;
    if (value > Number.MAX_SAFE_INTEGER) throw new RangeError("varint: above 2^53 - 1");
    if (byte < 0x80) return { value, next: at + 1 };
    scale *= 0x80;
  }
  throw new RangeError("varint: longer than any safe integer needs");
}

function checkValue(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`varint: ${value} is not a non-negative safe integer`);
  }
}
