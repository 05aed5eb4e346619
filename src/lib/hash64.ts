/**
 * A 64-bit hash of a string's UTF-8 bytes: MurmurHash3_x86_32 computed twice
 * in one pass, with seed HIGH_SEED for the high half and LOW_SEED for the low
 * half, so each half is checkable against any MurmurHash3 implementation.
 *
 * Not cryptographic: anyone can craft inputs that collide, so it may only
 * spread or summarise values, never vouch for them. Its output is stored, so
 * it must never change: the unit tests pin known outputs.
 */
const HIGH_SEED = 0x9747b28c;
const LOW_SEED = 0x5bd1e995;

const encoder = new TextEncoder();
// Reused so that hashing a short string allocates nothing; a longer one gets its own buffer.
const scratch = new Uint8Array(1024);

export function hash64(text: string): readonly [high: number, low: number] {
  let bytes: Uint8Array;
  let length: number;
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  if (text.length * 3 <= scratch.length) {
    bytes = scratch;
    length = encoder.encodeInto(text, scratch).written;
  } else {
    bytes = encoder.encode(text);
    length = bytes.length;
  }
  let high = HIGH_SEED;
  let low = LOW_SEED;
  const blocksEnd = length & ~3;
  for (let i = 0; i < blocksEnd; i += 4) {
    // The block's mixing does not depend on the seed, so both halves share it.
    const k = mixBlock(
      (bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24),
    );
    high = stepState(high, k);
    low = stepState(low, k);
  }
  const rest = length & 3;
  if (rest > 0) {
    let tail = bytes[blocksEnd] as number;
    if (rest > 1) tail |= (bytes[blocksEnd + 1] as number) << 8;
    if (rest > 2) tail |= (bytes[blocksEnd + 2] as number) << 16;
    const k = mixBlock(tail);
    high ^= k;
    low ^= k;
  }
  return [finalMix(high ^ length), finalMix(low ^ length)];
}

function mixBlock(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

function stepState(h: number, k: number): number {
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
