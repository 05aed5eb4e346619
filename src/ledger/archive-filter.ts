import { appendSegment, encodeGolombSet, segmentTags, segmentTagsContaining } from "../lib/golomb-set.ts";
import { hash64 } from "../lib/hash64.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The filter of archived keys that carry no trustworthy time (period-archive.ts
 * sorts them out): where such a key was decided, in about 12 bits a key.
 *
 * Keys go into generations; generation g has 2^(10+g) buckets and holds
 * about 1,024 keys a bucket (so 2^(20+g) keys) before the next one starts.
 * A key's 64-bit hash picks its bucket (high bits) and its 20-bit value (low
 * bits). Each bucket row is a run of segments, one per period that put keys
 * in it, each a Golomb-coded set of values tagged with the period's id: a hit
 * names the period to read, and a new key is checked with one row read per
 * generation, in one statement, whatever the number of periods. A key not
 * archived is a false hit with probability (keys in its buckets) / 2^20,
 * about 0.1% per full generation.
 */

const BASE_BUCKET_BITS = 10;
const KEYS_PER_BUCKET = 1_024;
const VALUE_BITS = 20;
/** Bucket bits stay within the 32 bits of a hash half. */
export const MAX_FILTER_GENERATIONS = 32 - BASE_BUCKET_BITS + 1;

export function generationCapacity(generation: number): number {
  return KEYS_PER_BUCKET * 2 ** (BASE_BUCKET_BITS + generation);
}

function place(hash: readonly [number, number], generation: number): { bucket: number; value: number } {
  return { bucket: hash[0] >>> (32 - (BASE_BUCKET_BITS + generation)), value: hash[1] >>> (32 - VALUE_BITS) };
}

/**
 * Adds one period's keys to a generation: one segment tagged `periodId` in
 * each bucket its keys fall in. Run once per period inside one transaction;
 * a bucket that already has this period's segment (a repeated run) is left.
 */
export function addToFilter(sql: CountedSql, generation: number, periodId: number, keys: readonly string[]): void {
  if (generation < 0 || generation >= MAX_FILTER_GENERATIONS) {
    throw new Error(`invariant: filter generation ${generation} is out of range`);
  }
  const buckets = new Map<number, number[]>();
  for (const key of keys) {
    const { bucket, value } = place(hash64(key), generation);
    const values = buckets.get(bucket);
    if (values === undefined) buckets.set(bucket, [value]);
    else values.push(value);
  }
  for (const [bucket, values] of buckets) {
    const row = sql.first<{ data: ArrayBuffer }>(
      "SELECT data FROM key_filter WHERE generation = ? AND bucket = ?",
      generation,
      bucket,
    );
    const data = row === undefined ? null : new Uint8Array(row.data);
    if (data !== null && segmentTags(data).includes(periodId)) continue;
    const merged = appendSegment(data, periodId, encodeGolombSet(values, VALUE_BITS));
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
    query = `SELECT generation, data FROM key_filter WHERE ${terms}`;
    queries.set(generations, query);
  }
  return query;
}

/** The periods the filter says may hold `key` (a false hit names a period that does not); empty when none. */
export function filterCandidates(sql: CountedSql, key: string, generations: number): number[] {
  if (generations === 0) return [];
  const hash = hash64(key);
  const buckets = Array.from({ length: generations }, (_, g) => place(hash, g).bucket);
  const periods: number[] = [];
  for (const row of sql.rows<{ generation: number; data: ArrayBuffer }>(lookupQuery(generations), ...buckets)) {
    periods.push(...segmentTagsContaining(new Uint8Array(row.data), place(hash, row.generation).value));
  }
  return periods;
}
