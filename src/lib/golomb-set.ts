/**
 * Golomb-Rice coded sets (GCS, as in BIP 158) of integers below 2^rangeBits,
 * and a container of tagged ones.
 *
 * A set is a varint count, a byte holding the Rice parameter P, then for each
 * value in ascending order its distance from the previous one (from 0 for the
 * first): the quotient by 2^P in unary (that many 1 bits, then a 0) and the
 * remainder in P bits, most significant bit first, the last byte padded with
 * zero bits. It is exact: a value is found if and only if it was stored. A
 * set of hashes truncated to rangeBits is what turns it into a filter.
 *
 * A container is a run of segments, each a varint tag, a varint byte length
 * and that many bytes of one set.
 */
import { readVarint, varintLength, writeVarint } from "./varint.ts";

const MAX_RANGE_BITS = 32;

/** Encodes the distinct values, which must be integers in [0, 2^rangeBits) with rangeBits from 1 to 32. */
export function encodeGolombSet(values: readonly number[], rangeBits: number): Uint8Array {
  if (!Number.isInteger(rangeBits) || rangeBits < 1 || rangeBits > MAX_RANGE_BITS) {
    throw new RangeError(`golomb set: rangeBits ${rangeBits} is not an integer from 1 to ${MAX_RANGE_BITS}`);
  }
  const range = 2 ** rangeBits;
  for (const value of values) {
    if (!Number.isInteger(value) || value < 0 || value >= range) {
      throw new RangeError(`golomb set: ${value} is not an integer in [0, 2^${rangeBits})`);
    }
  }
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const parameter = riceParameter(sorted.length, rangeBits);
  const divisor = 2 ** parameter;
  // Sized exactly up front, so the last byte always holds a bit the decoder reads.
  let bits = 0;
  let previous = 0;
  for (const value of sorted) {
    bits += Math.floor((value - previous) / divisor) + 1 + parameter;
    previous = value;
  }
  const header = varintLength(sorted.length) + 1;
  const out = new Uint8Array(header + Math.ceil(bits / 8));
  out[writeVarint(out, 0, sorted.length)] = parameter;
  const writer = new BitWriter(out, header);
  previous = 0;
  for (const value of sorted) {
    const delta = value - previous;
    writer.ones(Math.floor(delta / divisor));
    writer.zero();
    writer.uint(delta % divisor, parameter);
    previous = value;
  }
  return out;
}

/** Whether the set holds `value`, reading only as far as the first member not below it. */
export function golombSetContains(data: Uint8Array, value: number): boolean {
  for (const member of members(data)) if (member >= value) return member === value;
  return false;
}

/** The set's values in ascending order. */
export function decodeGolombSet(data: Uint8Array): number[] {
  return [...members(data)];
}

/** A copy of `data` (null for none yet) with one segment more: `set` tagged with a non-negative safe integer. */
export function appendSegment(data: Uint8Array | null, tag: number, set: Uint8Array): Uint8Array {
  const before = data ?? new Uint8Array(0);
  const out = new Uint8Array(before.length + varintLength(tag) + varintLength(set.length) + set.length);
  out.set(before);
  out.set(set, writeVarint(out, writeVarint(out, before.length, tag), set.length));
  return out;
}

/** The tags of the segments, in stored order. */
export function segmentTags(data: Uint8Array): number[] {
  return Array.from(segments(data), (segment) => segment.tag);
}

/** The tags of the segments whose set holds `value`, in stored order. */
export function segmentTagsContaining(data: Uint8Array, value: number): number[] {
  const tags: number[] = [];
  for (const { tag, set } of segments(data)) if (golombSetContains(set, value)) tags.push(tag);
  return tags;
}

/**
 * floor(log2(2^rangeBits / count)), at least 0: the mean distance between
 * random values is then 1 to 2 times 2^P, and a value costs about
 * log2(2^rangeBits / count) + 1.5 bits. In integers, 2^P <= 2^rangeBits / count
 * exactly when P <= rangeBits - ceil(log2(count)).
 */
function riceParameter(count: number, rangeBits: number): number {
  const ceilLog2 = count <= 1 ? 0 : 32 - Math.clz32(count - 1);
  return Math.max(0, rangeBits - ceilLog2);
}

/** Decodes lazily, so a lookup stops early; throws a RangeError on data cut short or a parameter above 32. */
function* members(data: Uint8Array): Generator<number, void, undefined> {
  const { value: count, next } = readVarint(data, 0);
  const parameter = data[next];
  if (parameter === undefined || parameter > MAX_RANGE_BITS) throw new RangeError("golomb set: bad Rice parameter");
  const divisor = 2 ** parameter;
  const reader = new BitReader(data, next + 1);
  let value = 0;
  for (let i = 0; i < count; i += 1) {
    let quotient = 0;
    while (reader.bit() === 1) quotient += 1;
    value += quotient * divisor + reader.uint(parameter);
    yield value;
  }
}

export function* segments(data: Uint8Array): Generator<{ tag: number; set: Uint8Array }, void, undefined> {
  let at = 0;
  while (at < data.length) {
    const tag = readVarint(data, at);
    const length = readVarint(data, tag.next);
    const end = length.next + length.value;
    if (end > data.length) throw new RangeError("golomb segments: a segment is cut short");
    yield { tag: tag.value, set: data.subarray(length.next, end) };
    at = end;
  }
}

/** Writes into zeroed bytes, so a 0 bit is only a step. */
class BitWriter {
  private readonly bytes: Uint8Array;
  private byte: number;
  private mask = 0x80;

  constructor(bytes: Uint8Array, byte: number) {
    this.bytes = bytes;
    this.byte = byte;
  }

  ones(count: number): void {
    for (let i = 0; i < count; i += 1) {
      this.bytes[this.byte] = (this.bytes[this.byte] as number) | this.mask;
      this.step();
    }
  }

  zero(): void {
    this.step();
  }

  /** `width` is at most 32, and `value` below 2^width. */
  uint(value: number, width: number): void {
    for (let bit = width - 1; bit >= 0; bit -= 1) {
      if ((value >>> bit) & 1) this.bytes[this.byte] = (this.bytes[this.byte] as number) | this.mask;
      this.step();
    }
  }

  private step(): void {
    this.mask >>>= 1;
    if (this.mask === 0) {
      this.mask = 0x80;
      this.byte += 1;
    }
  }
}

class BitReader {
  private readonly bytes: Uint8Array;
  private byte: number;
  private mask = 0x80;

  constructor(bytes: Uint8Array, byte: number) {
    this.bytes = bytes;
    this.byte = byte;
  }

  bit(): number {
    const current = this.bytes[this.byte];
    if (current === undefined) throw new RangeError("golomb set: cut short");
    const bit = current & this.mask ? 1 : 0;
    this.mask >>>= 1;
    if (this.mask === 0) {
      this.mask = 0x80;
      this.byte += 1;
    }
    return bit;
  }

  /** `width` bits as an unsigned integer; multiplication, not shifts, so 32 bits stay unsigned. */
  uint(width: number): number {
    let value = 0;
    for (let i = 0; i < width; i += 1) value = value * 2 + this.bit();
    return value;
  }
}
