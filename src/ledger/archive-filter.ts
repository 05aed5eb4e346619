import { appendSegment, encodeGolombSet, golombSetContains, segments } from "../lib/golomb-set.ts";
import { hash64 } from "../lib/hash64.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The filter of archived keys that carry no trustworthy time (period-archive.ts
 * sorts them out): which period decided such a key, in about 10 to 11 bits
 * a key.
 *
 * Keys go into generations; generation g has 2^(6+g) buckets and takes
 * about 1,024 keys a bucket (2^(16+g) keys) before the next one starts, so a
 * new key is checked with one row read per generation, in one statement,
 * whatever the number of periods. A key's 64-bit hash picks its bucket (high
 * bits) and its value (low bits). Each bucket row is a run of segments, one
 * per period that put keys in it: a Golomb-coded set of those keys' values,
 * each cut to just enough bits that a key never archived matches the
 * segment with probability at most 2^-SEGMENT_MATCH_BITS (0.39%). A match
 * names its period, the one archived object to read.
 */

const BASE_BUCKET_BITS = 6;
const KEYS_PER_BUCKET = 1_024;
/** A segment's values keep log2(its keys) + this many bits: its false-match rate is at most 2^-this. */
const SEGMENT_MATCH_BITS = 8;
/** Bucket bits stay within the 32 bits of a hash half. */
export const MAX_FILTER_GENERATIONS = 32 - BASE_BUCKET_BITS + 1;
/** A segment's tag packs its period id and its values' width: tag = period * TAG_WIDTHS + width. */
const TAG_WIDTHS = 64;

export function generationCapacity(generation: number): number {
  return KEYS_PER_BUCKET * 2 ** (BASE_BUCKET_BITS + generation);
}

function bucketOf(hash: readonly [number, number], generation: number): number {
  return hash[0] >>> (32 - (BASE_BUCKET_BITS + generation));
}

function valueOf(hash: readonly [number, number], width: number): number {
  return hash[1] >>> (32 - width);
}

function widthFor(count: number): number {
  const ceilLog2 = count <= 1 ? 0 : 32 - Math.clz32(count - 1);
  return Math.min(32, ceilLog2 + SEGMENT_MATCH_BITS);
}

/**
 * Adds one period's keys to a generation: one segment tagged with the
 * period in each bucket its keys fall in. Run once per period inside one
 * transaction; a bucket that already has this period's segment (a repeated
 * run) is left as it is.
 */
export function addToFilter(sql: CountedSql, generation: number, periodId: number, keys: readonly string[]): void {
  if (generation < 0 || generation >= MAX_FILTER_GENERATIONS) {
    throw new Error(`invariant: filter generation ${generation} is out of range`);
  }
  const buckets = new Map<number, (readonly [number, number])[]>();
  for (const key of keys) {
    const hash = hash64(key);
    const bucket = bucketOf(hash, generation);
    const hashes = buckets.get(bucket);
    if (hashes === undefined) buckets.set(bucket, [hash]);
    else hashes.push(hash);
  }
  for (const [bucket, hashes] of buckets) {
    const row = sql.first<{ data: ArrayBuffer }>(
      "SELECT data FROM key_filter WHERE generation = ? AND bucket = ?",
      generation,
      bucket,
    );
    const data = row === undefined ? null : new Uint8Array(row.data);
    if (data !== null && [...segments(data)].some((segment) => Math.floor(segment.tag / TAG_WIDTHS) === periodId)) {
      continue;
    }
    const width = widthFor(hashes.length);
    const set = encodeGolombSet(
      hashes.map((hash) => valueOf(hash, width)),
      width,
    );
    const merged = appendSegment(data, periodId * TAG_WIDTHS + width, set);
    sql.run(
      "INSERT INTO key_filter (generation, bucket, data) VALUES (?, ?, ?) ON CONFLICT (generation, bucket) DO UPDATE SET data = excluded.data",
      generation,
      bucket,
      merged.buffer.slice(merged.byteOffset, merged.byteOffset + merged.byteLength) as ArrayBuffer,
    );
  }
}

const queries = new Map<number, string>();

/** One statement reading a key's bucket in each generation in use. */
function lookupQuery(generations: number): string {
  let query = queries.get(generations);
  if (query === undefined) {
    const terms = Array.from({ length: generations }, (_, g) => `(generation = ${g} AND bucket = ?)`).join(" OR ");
    query = `SELECT data FROM key_filter WHERE ${terms}`;
    queries.set(generations, query);
  }
  return query;
}

/** The periods the filter says may hold `key` (a false match names a period that does not); empty when none. */
export function filterCandidates(sql: CountedSql, key: string, generations: number): number[] {
  if (generations === 0) return [];
  const hash = hash64(key);
  const buckets = Array.from({ length: generations }, (_, g) => bucketOf(hash, g));
  const periods: number[] = [];
  for (const row of sql.rows<{ data: ArrayBuffer }>(lookupQuery(generations), ...buckets)) {
    for (const { tag, set } of segments(new Uint8Array(row.data))) {
      if (golombSetContains(set, valueOf(hash, tag % TAG_WIDTHS))) periods.push(Math.floor(tag / TAG_WIDTHS));
    }
  }
  return periods;
}
